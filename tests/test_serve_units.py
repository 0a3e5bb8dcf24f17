"""The service's small parts on their own: progress lines, job argv, resume policy, direction labels, hosts."""

from __future__ import annotations

import io

import pytest
import torch

from latentdirs.directions.dirfile import DirectionSet
from latentdirs.directions.spaces import LatentSpace
from latentdirs.progress import progress_bar
from latentdirs.serve.api_models import describe_set
from latentdirs.serve.auth import host_name
from latentdirs.serve.errors import ApiError
from latentdirs.serve.joblog import error_line, parse_progress
from latentdirs.serve.jobspec import build_argv, resume_wanted
from latentdirs.serve.registry import Entry, Registry


def _lines(desc: str, postfix: str, monkeypatch) -> list[str]:
    """The lines a command's progress bar writes off a terminal (as a job's output holds them)."""
    monkeypatch.setenv("LATENTDIRS_PROGRESS_INTERVAL", "0")
    out = io.StringIO()
    bar = progress_bar(total=40, initial=10, desc=desc, file=out, mininterval=0)
    for _ in range(5):
        bar.update(1)
        bar.set_postfix_str(postfix, refresh=False)
    bar.close()
    return out.getvalue().splitlines()


def test_progress_is_read_from_the_commands_bar_lines(monkeypatch):
    lines = _lines("discover reconstructor", "loss=2.22, accuracy=0.375", monkeypatch)
    last = parse_progress(lines[-1])
    assert (last["stage"], last["step"], last["total"]) == ("discover reconstructor", 15, 40)
    assert last["loss"] == 2.22 and last["values"] == {"loss": 2.22, "accuracy": 0.375}
    assert last["elapsed_s"] == 0 and last["eta_s"] is not None
    first = parse_progress(lines[0])
    assert first["step"] == 10 and first["eta_s"] is None and "loss" not in first  # "[00:00<?, ?it/s]"
    vae = parse_progress(_lines("train-vae", "loss=123.4 recon=100 reg/topdis=-1.5e-03", monkeypatch)[-1])
    assert vae["values"] == {"loss": 123.4, "recon": 100.0, "reg/topdis": -0.0015}
    assert parse_progress("3 directions in w → out/directions.safetensors") is None
    assert error_line(["x", "error: first", "y", "error: --steps: bad", "z"]) == "--steps: bad"
    assert error_line(["interrupted: stopped"]) is None


def test_job_argv_from_json_options(tmp_path):
    registry = Registry(None, tmp_path / "uploads")
    job = build_argv("discover", {"generator": "dsprites_generator", "num-directions": 4, "reg": ["a:x=1", "b"],
                                  "sefa_torgb": False, "trunc": 0.7, "class_index": None}, registry, tmp_path / "o")
    assert job.options[0].startswith("--generator=") and job.options[0].endswith("dsprites_generator.json")
    assert job.options[1:] == ["--num-directions=4", "--reg=a:x=1", "--reg=b", "--no-sefa-torgb", "--trunc=0.7"]
    assert job.argv(tmp_path / "o", resume=True)[-3:] == [f"--out={tmp_path / 'o'}", "--resume", "--"]
    with pytest.raises(ApiError, match="set by the server"):
        build_argv("discover", {"generator": "dsprites_generator", "out": "x"}, registry, tmp_path)
    with pytest.raises(ApiError, match="bad option name"):
        build_argv("discover", {"generator": "dsprites_generator", "--out": "x"}, registry, tmp_path)


def test_resume_policy(tmp_path):
    out = tmp_path / "run"
    assert not resume_wanted("discover", out) and not resume_wanted("train-vae", out)
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert not resume_wanted("discover", out)  # no checkpoint yet: start again (the folder's settings match)
    assert resume_wanted("train-vae", out)  # train-vae --resume also starts a run that has no checkpoint
    (out / "checkpoint.pt").write_bytes(b"")
    assert resume_wanted("discover", out) and not resume_wanted("evaluate-directions", out)


def test_direction_labels_and_scores(tmp_path):
    dset = DirectionSet(directions=torch.eye(3, 4), scales=torch.tensor([1.0, 2.0, 0.5]), mean=torch.zeros(4),
                        space=LatentSpace("w"), generator={"fingerprint": "f", "truncation_psi": 0.7}, method="sefa",
                        total_variance=10.0)
    entry = Entry("models/d.safetensors", "models", tmp_path / "d.safetensors")
    plain = describe_set(entry, dset, None)
    assert [d["label"] for d in plain["directions"]] == ["0", "1", "2"]
    assert [d["score"] for d in plain["directions"]] == pytest.approx([0.1, 0.4, 0.025])
    assert plain["truncation_psi"] == 0.7 and plain["generator_fingerprint"] == "f"
    evaluated = describe_set(entry, dset, {"per_direction": {"main factor": ["shape", "posX", "—"],
                                                             "RCA": [0.9, 0.5, 0.1]}})
    assert [d["label"] for d in evaluated["directions"]] == ["0 · shape", "1 · posX", "2 · —"]
    assert evaluated["directions"][0]["scores"]["RCA"] == 0.9


def test_host_names():
    assert host_name("127.0.0.1:8765") == "127.0.0.1"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("LOCALHOST") == "localhost"
    assert host_name("evil.example:80") == "evil.example"
