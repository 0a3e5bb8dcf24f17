"""``latentdirs serve``'s API through FastAPI's TestClient: every endpoint, its errors (one clear message, nothing
written), edits with the CLI's pixels, jobs with the CLI's results, and a restart in the middle of a job."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_support import exit_code
from fastapi.testclient import TestClient
from PIL import Image
from serve_support import LOCAL, TINY_DISCOVER, cli_options, client, make_models, tree, wait_for

from latentdirs.pretrained import manifest
from latentdirs.serve.app import create_app
from latentdirs.serve.jobsdb import JobStore
from latentdirs.serve.settings import ServeSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, str, Path]:
    """(models folder, tiny generator file, its direction file from `discover` with TINY_DISCOVER)."""
    folder = tmp_path_factory.mktemp("serve") / "models"
    generator, directions = make_models(folder)
    return folder, generator, directions


def one_error(response, status: int) -> str:
    """The response is ``status`` with one ``{"error": <one line>}`` and no traceback; its message."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert "\n" not in body["error"] and "Traceback" not in body["error"] and body["error"]
    return body["error"]


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def cli_edit(tmp_path: Path, generator: str, directions: Path, *args: str) -> np.ndarray:
    out = tmp_path / f"edit{len(list(tmp_path.glob('edit*.png')))}.png"
    assert exit_code(["edit", "--generator", generator, "--directions", str(directions), "--device", "cpu", *args,
                "--out", str(out)]) == 0
    return np.asarray(Image.open(out))


# -- models and editing -----------------------------------------------------------------------------------------
def test_generators_and_direction_sets_are_listed_by_name(models, tmp_path):
    folder, _, _ = models
    with client(tmp_path / "data", folder) as c:
        generators = {g["name"]: g["origin"] for g in c.get("/api/generators").json()["generators"]}
        bundled = {name: "bundled" for name, entry in manifest()["models"].items() if entry["kind"] == "generator"}
        assert "dsprites_generator" in bundled and "ellipses_generator" in bundled
        assert generators == {**bundled, "models/tiny0": "models"}  # every bundled one; weights file not listed
        info = c.get("/api/generators/info", params={"name": "models/tiny0"}).json()
        assert (info["z_dim"], info["num_ws"], info["resolution"], info["channels"]) == (8, 6, 16, 1)
        sets = c.get("/api/directions", params={"generator": "models/tiny0"}).json()["direction_sets"]
        assert [s["name"] for s in sets] == ["models/tiny0_dirs.safetensors"]
        assert [d["index"] for d in sets[0]["directions"]] == [0, 1, 2]
        assert all(d["score_name"] == "variance share" and 0 < d["score"] < 1 for d in sets[0]["directions"])
        assert c.get("/api/directions", params={"generator": "dsprites_generator"}).json()["direction_sets"] == []
        assert "no generator named 'nope'" in one_error(c.get("/api/generators/info", params={"name": "nope"}), 404)


@pytest.mark.parametrize(("direction", "strength", "args", "body"), [
    (1, 2.0, [], {}),
    (0, -1.5, ["--layers", "0-2"], {"layers": "0-2"}),
    (2, 0.0, [], {}),
    (1, 1.0, ["--trunc", "0.7"], {"trunc": 0.7}),
    (2, 0.5, ["--units", "raw"], {"units": "raw"}),
])
def test_render_gives_the_pixels_of_latentdirs_edit(models, tmp_path, direction, strength, args, body):
    folder, generator, directions = models
    expected = cli_edit(tmp_path, generator, directions, "--seed", "5", "-d", str(direction), "-s", str(strength),
                        *args)
    with client(tmp_path / "data", folder) as c:
        request = {"generator": "models/tiny0", "directions": "models/tiny0_dirs.safetensors", "seeds": [5],
                   "strengths": {str(direction): strength}, **body}
        response = c.post("/api/render", json=request)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert np.array_equal(png(response.content), expected)
        renderer = c.app.state.renderer
        hits = renderer.codes.hits
        assert np.array_equal(png(c.post("/api/render", json=request).content), expected)
        assert renderer.codes.hits == hits + 1  # the mapped code of seed 5 came from the cache


def test_a_grid_holds_each_seeds_image_and_strengths_add_up(models, tmp_path):
    folder, generator, directions = models
    with client(tmp_path / "data", folder) as c:
        base = {"generator": "models/tiny0", "directions": "models/tiny0_dirs.safetensors"}
        grid = c.post("/api/render", json={**base, "seeds": [5, 6, 7], "strengths": {"1": 2}, "columns": 3})
        grid = png(grid.content)
        assert grid.shape == (2 + 16 + 2, 2 + 3 * 18)
        for k, seed in enumerate((5, 6, 7)):
            alone = cli_edit(tmp_path, generator, directions, "--seed", str(seed), "-d", "1", "-s", "2")
            assert np.array_equal(grid[2:18, 2 + 18 * k : 18 + 18 * k], alone)
        both = png(c.post("/api/render", json={**base, "seeds": [5], "strengths": {"0": 1.5, "1": -2}}).content)
        one = png(c.post("/api/render", json={**base, "seeds": [5], "strengths": {"1": -2}}).content)
        assert not np.array_equal(both, one)
        latent_w = c.app.state.renderer.handle("models/tiny0", 1.0).module.mapping(
            c.app.state.renderer.handle("models/tiny0", 1.0).module.z_from_seeds([5]), None)[:, 0]
        from_latent = c.post("/api/render", json={**base, "latent": latent_w.tolist(), "strengths": {"1": -2}})
        assert np.array_equal(png(from_latent.content), one)  # the seed's w given as a latent: the same image


def test_render_errors_are_one_clear_message_and_write_nothing(models, tmp_path):
    folder, _, _ = models
    data = tmp_path / "data"
    base = {"generator": "models/tiny0", "directions": "models/tiny0_dirs.safetensors", "seeds": [1]}
    with client(data, folder) as c:
        before = tree(data)
        cases = [
            ({**base, "generator": "nope"}, 404, "no generator named 'nope'"),
            ({**base, "directions": "nope"}, 404, "no direction set named 'nope'"),
            ({**base, "generator": "dsprites_generator"}, 422, "made for another generator"),
            ({**base, "strengths": {"7": 1}}, 422, "direction 7 does not exist"),
            ({**base, "layers": "3-9"}, 422, "layer 9 does not exist"),
            ({**base, "seeds": [-1]}, 422, "field 'seeds.0'"),
            ({**base, "latent": [[0.0] * 8]}, 422, "exactly one of them"),
            ({**base, "seeds": [], "latent": [[0.0] * 5]}, 422, "expected w [1, 8]"),
            ({**base, "colour": "red"}, 422, "field 'colour'"),
            ({**base, "noise_mode": "loud"}, 422, "field 'noise_mode'"),
            ({**base, "strengths": {"0": "lots"}}, 422, "field 'strengths.0'"),
        ]
        for body, status, message in cases:
            assert message in one_error(c.post("/api/render", json=body), status), body
        assert "malformed JSON" in one_error(c.post("/api/render", content=b'{"generator": ',
                                                    headers={"Content-Type": "application/json"}), 400)
        assert "as JSON" in one_error(c.post("/api/render", data={"generator": "models/tiny0"}), 415)
        assert "no such endpoint" in one_error(c.get("/api/nothing"), 404)
        assert tree(data) == before


# -- safety: names, uploads, access ------------------------------------------------------------------------------
def test_path_traversal_is_refused_everywhere(models, tmp_path):
    folder, _, _ = models
    data = tmp_path / "data"
    with client(data, folder) as c:
        job = c.app.state.store.add("0123456789ab", "discover", {}, {"command": "discover", "options": [],
                                                                    "arguments": []})
        job_dir = data / "jobs" / job["id"]
        job_dir.mkdir(parents=True)
        (job_dir / "report.html").write_text("<p>report</p>")
        (data / "secret.txt").write_text("TOP-SECRET-CONTENT")
        (job_dir / "link.txt").symlink_to(data / "secret.txt")
        before = tree(data)
        assert c.get(f"/api/jobs/{job['id']}/files/report.html").text == "<p>report</p>"
        for name in ("..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "%2Fetc%2Fpasswd", "link.txt",
                     "..%5C..%5Csecret.txt", "report.html%00"):
            response = c.get(f"/api/jobs/{job['id']}/files/{name}")
            assert "has no file" in one_error(response, 404), name
        for job_id in ("..%2F..%2Fsecret.txt", "..", "0123456789ab%2F..", "%2E%2E"):
            response = c.get(f"/api/jobs/{job_id}/files/report.html")
            assert 400 <= response.status_code < 500 and "TOP-SECRET" not in response.text, job_id
        for name in ("../models/tiny0", "/etc/passwd", "models/../models/tiny0", str(folder / "tiny0.json")):
            one_error(c.get("/api/generators/info", params={"name": name}), 404)
            one_error(c.post("/api/render", json={"generator": name, "seeds": [0]}), 404)
            one_error(c.post("/api/jobs", json={"command": "discover", "options": {"generator": name}}), 404)
        one_error(c.post("/api/render", json={"generator": "models/tiny0", "seeds": [0],
                                              "directions": "models/../models/tiny0_dirs.safetensors"}), 404)
        one_error(c.post("/api/jobs", json={"command": "evaluate-directions", "options": {
            "generator": "models/tiny0", "directions": str(folder / "tiny0_dirs.safetensors")}}), 404)
        for name in ("..%2Fevil.pkl", "%2E%2E", ".hidden.pkl", "evil.sh"):
            response = c.put(f"/api/uploads/{name}", content=b"data")
            assert response.status_code in (404, 405, 422), (name, response.status_code)
        one_error(c.get("/static/..%2Fapp.py"), 404)
        assert tree(data) == before
        assert [j["id"] for j in c.get("/api/jobs").json()["jobs"]] == ["0123456789ab"]


class _Touch:
    """A pickle that, if it were ever unpickled, would create a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_uploads_are_size_limited_checked_and_atomic(models, tmp_path):
    _, _, directions = models
    data = tmp_path / "data"
    with client(data, None, max_upload_bytes=32 << 10) as c:
        payload = directions.read_bytes()
        response = c.put("/api/uploads/mine.safetensors", content=payload)
        assert response.status_code == 201 and response.json()["name"] == "uploads/mine.safetensors"
        names = [s["name"] for s in c.get("/api/directions").json()["direction_sets"]]
        assert names == ["uploads/mine.safetensors"]
        assert "exists already" in one_error(c.put("/api/uploads/mine.safetensors", content=payload), 409)
        before = tree(data)
        assert "at most 32768" in one_error(c.put("/api/uploads/big.safetensors", content=b"x" * 40000), 413)
        chunks = (b"x" * 8192 for _ in range(6))  # no Content-Length: counted while streaming
        assert "larger than 32768" in one_error(c.put("/api/uploads/big2.safetensors", content=chunks), 413)
        assert "not a usable generator" in one_error(c.put("/api/uploads/junk.pkl", content=b"\x80\x04junk"), 422)
        marker = tmp_path / "pwned"
        evil = pickle.dumps({"G_ema": _Touch(marker)}, protocol=4)
        assert "not a usable generator" in one_error(c.put("/api/uploads/evil.pkl", content=evil), 422)
        assert not marker.exists()  # nothing in the file ran
        assert "not a usable directions" in one_error(c.put("/api/uploads/d.safetensors", content=b"\x08" * 64), 422)
        assert "empty upload" in one_error(c.put("/api/uploads/e.pkl", content=b""), 422)
        assert "bad upload name" in one_error(c.put("/api/uploads/run.exe", content=b"x"), 422)
        assert tree(data) == before


def test_token_is_checked_on_every_request_when_one_is_set(models, tmp_path):
    folder, _, _ = models
    data = tmp_path / "data"
    app = create_app(ServeSettings(data_dir=data, models_dir=folder, token="s3cret-token"))
    with TestClient(app, base_url="http://203.0.113.5:8765") as c:
        before = tree(data)
        for method, path in (("GET", "/"), ("GET", "/api/generators"), ("GET", "/api/jobs"),
                             ("GET", "/static/editor.js"), ("POST", "/api/jobs"), ("PUT", "/api/uploads/a.pkl")):
            assert "access token" in one_error(c.request(method, path, json={"command": "discover"}), 401)
            assert one_error(c.request(method, path, headers={"Authorization": "Bearer wrong"}), 401) == \
                "wrong access token"
        assert one_error(c.get("/api/jobs?token=wrong"), 401) == "wrong access token"
        assert c.get("/api/generators", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/api/jobs").status_code == 401  # a bearer header sets no cookie
        response = c.get("/?token=s3cret-token", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=strict" in response.headers["set-cookie"]
        assert c.get("/").headers["content-type"].startswith("text/html")  # the cookie now opens everything
        assert c.get("/api/jobs").json() == {"jobs": []}
        assert tree(data) == before


def test_without_a_token_only_localhost_and_same_site_requests_are_served(tmp_path):
    settings = ServeSettings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings), base_url="http://rebound.example:8765") as c:
        assert "addressed to localhost" in one_error(c.get("/api/generators"), 403)
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        assert c.get("/api/generators").status_code == 200
        assert c.get("/api/generators", headers={"Host": "localhost:8765"}).status_code == 200
        response = c.post("/api/jobs", json={"command": "discover", "options": {"generator": "dsprites_generator"}},
                          headers={"Origin": "https://evil.example"})
        assert "cross-site request" in one_error(response, 403)
        assert c.get("/api/jobs").json() == {"jobs": []}


# -- jobs: options ----------------------------------------------------------------------------------------------
def test_job_options_are_checked_by_the_cli_with_its_messages(models, tmp_path, capsys):
    folder, generator, _ = models
    data = tmp_path / "data"
    same_as_cli = [
        ("discover", {"generator": "models/tiny0", "steps": "many"}, ["--generator", generator, "--steps", "many"]),
        ("discover", {"generator": "models/tiny0", "space": "q"}, ["--generator", generator, "--space", "q"]),
        ("discover", {"generator": "models/tiny0", "grid_range": -1}, ["--generator", generator, "--grid-range", "-1"]),
        ("discover", {"generator": "models/tiny0", "colour": 1}, ["--generator", generator, "--colour", "1"]),
        ("discover", {}, []),
        ("evaluate-directions", {"generator": "models/tiny0"}, ["--generator", generator]),
        ("train-vae", {"seed": -1}, ["--seed", "-1"]),
    ]
    with client(data, folder) as c:
        before = tree(data)
        for command, options, argv in same_as_cli:
            assert exit_code([command, *argv, "--out", str(tmp_path / "never")]) == 2
            printed = capsys.readouterr().err.strip()
            assert printed.startswith("error: ")
            message = one_error(c.post("/api/jobs", json={"command": command, "options": options}), 422)
            assert message == printed[len("error: "):], (options, printed)
        server_side = [
            ({"command": "discover", "options": {"generator": "models/tiny0", "out": "/tmp/x"}}, "set by the server"),
            ({"command": "discover", "options": {"generator": "models/tiny0", "resume": True}}, "set by the server"),
            ({"command": "train-vae", "options": {"config": "/etc/passwd"}}, "names a file on the server"),
            ({"command": "train-vae", "options": {"data_path": "/etc/passwd"}}, "names a file on the server"),
            ({"command": "evaluate-directions", "options": {"generator": "models/tiny0", "classifier": "/tmp/c",
                                                            "directions": "models/tiny0_dirs.safetensors"}},
             "expected auto or none"),
            ({"command": "discover", "options": {"generator": "models/tiny0", "reg": "x"}}, "give a list"),
            ({"command": "discover", "options": {"generator": "models/tiny0", "quiet": True}}, "set by the server"),
            ({"command": "discover", "options": {"generator": "models/tiny0", "sefa_torgb": "yes"}}, "true or false"),
            ({"command": "rm -rf", "options": {}}, "unknown job command"),
            ({"command": "discover", "options": [1]}, "field 'options'"),
        ]
        for body, message in server_side:
            assert message in one_error(c.post("/api/jobs", json=body), 422), body
        assert c.get("/api/jobs").json() == {"jobs": []}
        assert tree(data) == before


def test_commands_page_and_schema(tmp_path):
    with client(tmp_path / "data", None) as c:
        commands = {cmd["command"]: cmd for cmd in c.get("/api/commands").json()["commands"]}
        assert set(commands) == {"discover", "evaluate-directions", "train-vae"}
        keys = {o["key"]: o for o in commands["discover"]["options"]}
        assert keys["num_directions"]["default"] == 10 and keys["reg"]["multiple"] and keys["sefa_torgb"]["switch"]
        assert not {"out", "resume", "quiet"} & set(keys)
        assert "directions" in {o["key"] for o in commands["evaluate-directions"]["options"]}
        assert "config" not in {o["key"] for o in commands["train-vae"]["options"]}
        page = c.get("/")
        assert page.headers["content-type"].startswith("text/html") and "editor.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for name in ("editor.js", "editor.css"):
            assert c.get(f"/static/{name}").status_code == 200
        assert "http" not in c.get("/").text.replace("http-equiv", "")  # nothing from another server (no CDN)
        assert "no static file" in one_error(c.get("/static/app.py"), 404)
        assert "/api/render" in c.get("/openapi.json").json()["paths"]
        assert c.app.state.store.journal_mode() == "wal"


# -- jobs: running ----------------------------------------------------------------------------------------------
def _events(c: TestClient, job_id: str) -> list[tuple[str, dict]]:
    events, name = [], None
    with c.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


@pytest.mark.slow
def test_a_discover_job_gives_the_cli_result(models, tmp_path):
    folder, generator, directions = models
    with client(tmp_path / "data", folder) as c:
        response = c.post("/api/jobs", json={"command": "discover", "options": {"generator": "models/tiny0",
                                                                                 **TINY_DISCOVER}})
        assert response.status_code == 201 and response.json()["state"] == "queued"
        job_id = response.json()["id"]
        events = _events(c, job_id)
        assert events[-1] == ("end", {"state": "done"})
        states = [data["state"] for name, data in events if name == "job"]
        assert "running" in states and states[-1] == "done"
        job = c.get(f"/api/jobs/{job_id}").json()
        assert job["progress"]["step"] == job["progress"]["total"] == TINY_DISCOVER["steps"]
        assert job["progress"]["stage"] == "discover reconstructor" and np.isfinite(job["progress"]["loss"])
        assert job["progress"]["eta_s"] == 0 and job["attempts"] == 1 and job["returncode"] == 0
        files = {f["name"] for f in c.get(f"/api/jobs/{job_id}/files").json()["files"]}
        assert {"directions.safetensors", "report.html", "config.json", "traversals/direction_02.png"} <= files
        downloaded = c.get(job["links"]["directions"])
        assert downloaded.content == directions.read_bytes()  # the CLI's file for the same options, byte for byte
        report = c.get(job["links"]["report"])
        assert report.headers["content-type"].startswith("text/html") and "default-src 'none'" in \
            report.headers["content-security-policy"]
        cli_export = tmp_path / "cli_ganspace.npz"
        assert exit_code(["export", str(directions), "--format", "ganspace", "--out", str(cli_export)]) == 0
        ours = np.load(io.BytesIO(c.get(f"/api/jobs/{job_id}/exports/ganspace").content))
        theirs = np.load(cli_export)
        assert sorted(ours.files) == sorted(theirs.files)
        assert all(np.array_equal(ours[key], theirs[key]) for key in theirs.files)
        with zipfile.ZipFile(io.BytesIO(c.get(f"/api/jobs/{job_id}/exports/interfacegan").content)) as archive:
            assert len([n for n in archive.namelist() if n.endswith(".npy")]) == 3
        assert "boundaries" in np.load(io.BytesIO(c.get(f"/api/jobs/{job_id}/exports/sefa").content)).files
        assert "no export format" in one_error(c.get(f"/api/jobs/{job_id}/exports/zip"), 404)
        assert "discover reconstructor" in c.get(job["links"]["log"]).text
        assert "only queued or running" in one_error(c.post(f"/api/jobs/{job_id}/cancel"), 409)
        names = [s["name"] for s in c.get("/api/directions", params={"generator": "models/tiny0"}).json()[
            "direction_sets"]]
        assert f"jobs/{job_id}" in names
        edit = c.post("/api/render", json={"generator": "models/tiny0", "directions": f"jobs/{job_id}",
                                           "seeds": [1], "strengths": {"0": 1}})
        assert edit.status_code == 200


@pytest.mark.slow
def test_other_job_commands_run_and_report_the_cli_error(models, tmp_path, capsys):
    folder, _, _ = models
    with client(tmp_path / "data", folder) as c:
        evaluate = c.post("/api/jobs", json={"command": "evaluate-directions", "options": {
            "generator": "models/tiny0", "directions": "models/tiny0_dirs.safetensors", "rca": False,
            "lpips": False, "classifier": "none", "traverse": "-1:1:3", "device": "cpu"}}).json()
        train = c.post("/api/jobs", json={"command": "train-vae", "options": {"objective": "no-such-objective",
                                                                             "steps": 2}}).json()
        job = wait_for(c, evaluate["id"])
        assert job["state"] == "done", c.get(f"/api/jobs/{evaluate['id']}/log").text
        files = {f["name"] for f in c.get(f"/api/jobs/{evaluate['id']}/files").json()["files"]}
        assert {"evaluation.json", "report.html"} <= files
        job = wait_for(c, train["id"])
        argv = ["train-vae", "--objective", "no-such-objective", "--steps", "2", "--out", str(tmp_path / "t")]
        assert exit_code(argv) == 2
        assert job["state"] == "failed" and job["error"] == capsys.readouterr().err.strip()[len("error: "):]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_server_stopped_mid_job_finishes_it_after_a_restart_with_the_same_directions(models, tmp_path, executor,
                                                                                     request):
    """On either executor (ray: a local 2-CPU instance; each job a Ray actor) the stop reaches the job as a
    SIGINT, it saves a checkpoint, and the next server resumes it to the uninterrupted run's directions."""
    if executor == "ray":
        request.getfixturevalue("ray_instance")
    folder, generator, _ = models
    options = {**TINY_DISCOVER, "steps": 150, "checkpoint_every": 0}
    data = tmp_path / "data"
    with client(data, folder, executor=executor) as c:
        job_id = c.post("/api/jobs", json={"command": "discover", "options": {"generator": "models/tiny0",
                                                                             **options}}).json()["id"]
        job = wait_for(c, job_id, until=lambda j: j["progress"].get("step", 0) >= 2)
        assert job["state"] == "running" and job["progress"]["step"] < options["steps"]
        assert type(c.app.state.runner.executor).__name__ == {"local": "LocalExecutor", "ray": "RayExecutor"}[executor]
        assert (c.app.state.store.get(job_id)["pid"] is None) == (executor == "ray")  # a Ray actor's child: no pid
    # the server has stopped: the job saved a checkpoint and waits in the queue
    store = JobStore(data / "jobs.sqlite3")
    stopped = store.get(job_id)
    store.close()
    assert stopped["state"] == "queued" and stopped["returncode"] == 130
    assert (data / "jobs" / job_id / "checkpoint.pt").is_file()
    with client(data, folder, executor=executor) as c:
        job = wait_for(c, job_id)
        log = c.get(f"/api/jobs/{job_id}/log").text
        assert job["state"] == "done" and job["attempts"] == 2, log
        attempts = [line for line in log.splitlines() if line.startswith("[latentdirs serve] attempt")]
        assert "--resume" not in attempts[0] and "--resume" in attempts[1]
        resumed = c.get(f"/api/jobs/{job_id}/files/directions.safetensors").content
    straight = tmp_path / "straight"
    assert exit_code(["--threads", "1", "discover", "--generator", generator, *cli_options(options),
                      "--out", str(straight), "--quiet"]) == 0
    assert resumed == (straight / "directions.safetensors").read_bytes()


@pytest.mark.slow
def test_cancel_a_queued_and_a_running_job_then_resume(models, tmp_path):
    folder, _, _ = models
    options = {"generator": "models/tiny0", **TINY_DISCOVER, "steps": 150, "checkpoint_every": 0}
    with client(tmp_path / "data", folder, workers=1) as c:
        first = c.post("/api/jobs", json={"command": "discover", "options": options}).json()["id"]
        second = c.post("/api/jobs", json={"command": "discover", "options": options}).json()["id"]
        assert c.post(f"/api/jobs/{second}/cancel").json()["state"] == "cancelled"  # still queued: at once
        wait_for(c, first, until=lambda j: j["progress"].get("step", 0) >= 2)
        assert c.post(f"/api/jobs/{first}/cancel").json()["state"] in ("cancelling", "cancelled")
        job = wait_for(c, first)
        assert job["state"] == "cancelled" and job["progress"]["step"] < options["steps"]
        assert c.post(f"/api/jobs/{first}/resume").json()["state"] == "queued"
        job = wait_for(c, first)
        assert job["state"] == "done" and job["attempts"] == 2
        assert "only cancelled or failed" in one_error(c.post(f"/api/jobs/{first}/resume"), 409)
        assert c.get(f"/api/jobs/{second}").json()["state"] == "cancelled"


@pytest.mark.slow
def test_a_job_left_running_by_a_killed_server_is_stopped_and_run_again(models, tmp_path):
    import subprocess
    import sys

    from latentdirs.serve.jobspec import build_argv
    from latentdirs.serve.registry import Registry

    folder, _, _ = models
    data = tmp_path / "data"
    job_dir = data / "jobs" / "00000000beef"
    argv = build_argv("discover", {"generator": "models/tiny0", "method": "sefa", "num_directions": 2,
                                   "stats_samples": 64, "grid_samples": 1, "grid_steps": 2, "device": "cpu"},
                      Registry(folder, data / "uploads"), job_dir)
    store = JobStore(data / "jobs.sqlite3")
    store.add("00000000beef", "discover", {"generator": "models/tiny0"}, argv.__dict__)
    # what a killed server leaves: the job marked running, its process (here a stand-in) still alive
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "latentdirs", str(job_dir)],
                                start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    store.update("00000000beef", state="running", pid=leftover.pid, attempts=1)
    # a second job claims a process that is not a latentdirs job: it must be left alone
    store.add("00000000cafe", "discover", {}, {"command": "discover", "options": ["--bad"], "arguments": []})
    store.update("00000000cafe", state="cancelling", pid=stranger.pid)
    store.close()
    try:
        with client(data, folder) as c:
            assert leftover.wait(30) != 0  # interrupted (SIGINT) by the new server before it ran the job again
            assert stranger.poll() is None
            assert c.get("/api/jobs/00000000cafe").json()["state"] == "cancelled"
            job = wait_for(c, "00000000beef")
            assert job["state"] == "done" and job["attempts"] == 2, c.get("/api/jobs/00000000beef/log").text
    finally:
        stranger.kill()
        leftover.kill()
        stranger.wait()
