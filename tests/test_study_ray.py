"""``study run --executor ray`` on a local Ray instance with 2 CPUs: the same run folders and report as the local
executor; a study whose driver is killed mid-run (a crash: Ray then ends the cell's actor and its command) is
resumed by the next ``study run``, and the cell equals an uninterrupted run bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from test_study_run import EVALUATE, TINY, report_files, study, write_spec

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _normal(value, out: Path):
    """``value`` as it must be equal whichever executor made it: timings dropped, the study folder as <out>,
    tensors as (dtype, shape, bytes)."""
    if isinstance(value, dict):
        return {key: _normal(item, out) for key, item in value.items()
                if not (str(key).endswith("seconds") or key == "elapsed")}
    if isinstance(value, list | tuple):
        return [_normal(item, out) for item in value]
    if isinstance(value, torch.Tensor):
        return str(value.dtype), tuple(value.shape), value.contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    if isinstance(value, str):
        return value.replace(str(out), "<out>")
    return value


def run_folders(out: Path) -> dict[str, object]:
    """Every file of the cells' run folders, read as what it holds: safetensors as metadata and tensor bytes
    (safetensors writes its metadata in an order that varies between processes), checkpoints loaded, JSON
    parsed without timings, text with the study folder written <out>, the rest as bytes."""
    contents: dict[str, object] = {}
    for path in sorted(out.glob("*/seed_*/**/*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(out))
        if path.suffix == ".safetensors":
            with safe_open(str(path), "pt") as handle:
                contents[name] = (handle.metadata(), {key: _normal(handle.get_tensor(key), out)
                                                      for key in sorted(handle.keys())})  # noqa: SIM118
        elif path.suffix == ".pt":
            contents[name] = _normal(torch.load(path, map_location="cpu", weights_only=True), out)
        elif path.suffix == ".json":
            contents[name] = _normal(json.loads(path.read_text()), out)
        elif path.suffix == ".txt":
            contents[name] = _normal(path.read_text(), out)
        else:
            contents[name] = path.read_bytes()
    return contents


def stage_argvs(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): {stage: record["argv"] for stage, record in
                                      json.loads(p.read_text())["stages"].items()}
            for p in sorted(out.glob("*/seed_*.status.json"))}


def test_ray_study_gives_the_run_folders_and_report_of_the_local_executor(ray_instance, tmp_path, capsys):
    spec = write_spec(tmp_path, steps=6, checkpoint_every=3)
    outs = {name: tmp_path / name for name in ("local", "ray")}
    for name, out in outs.items():
        code, text = study(["run", str(spec), "--out", str(out), "--workers", "2", "--executor", name], capsys)
        assert code == 0 and "4 of 4 cells finished (0 before this run" in text, text
        code, text = study(["report", str(out)], capsys)
        assert code == 0, text
    local, ray = (run_folders(out) for out in outs.values())
    assert len(local) == 4 * 9 and local.keys() == ray.keys()  # 4 cells × (weights, checkpoint, config, …)
    assert [name for name in local if local[name] != ray[name]] == []
    assert stage_argvs(outs["local"]) == stage_argvs(outs["ray"])
    assert report_files(outs["local"]) == report_files(outs["ray"])
    log = (outs["ray"] / "plain" / "seed_0.log").read_text()
    assert log.count("[exit 0]") == 2 and "trained 6 steps" in log


def _processes_of(folder: Path) -> list[int]:
    """Processes whose command line names ``folder`` (the cell's command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"{folder} " in command or command.rstrip().endswith(str(folder)):
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the run's process in /proc (Linux)")
def test_killed_ray_driver_is_resumed_by_the_next_study_run(ray_instance, tmp_path, capsys):
    spec = {"name": "crash", "command": "train-vae", "options": {**TINY, "steps": 300, "checkpoint-every": 10},
            "settings": {"plain": {}}, "seeds": [0], "baseline": "plain", "evaluate": EVALUATE}
    path, out = tmp_path / "spec.json", tmp_path / "study"
    path.write_text(json.dumps(spec))
    cell = out / "plain" / "seed_0"
    address = ray_instance.get_runtime_context().gcs_address  # the test's instance, joined by a second driver
    driver = subprocess.Popen([sys.executable, "-m", "latentdirs", "study", "run", str(path), "--out", str(out),
                               "--executor", "ray", "--address", address], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (cell / "checkpoints" / "last.pt").is_file() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (cell / "checkpoints" / "last.pt").is_file(), driver.communicate()[0]
    driver.send_signal(signal.SIGKILL)  # a crash: nothing is stopped gracefully
    driver.communicate()
    deadline = time.monotonic() + 60
    while _processes_of(cell) and time.monotonic() < deadline:  # Ray ends the run with its driver
        time.sleep(0.2)
    assert _processes_of(cell) == []
    assert not (cell / "summary.json").exists()  # it stopped before its end

    code, text = study(["run", str(path), "--out", str(out), "--executor", "ray"], capsys)
    assert code == 0 and "1 of 1 cells finished (0 before this run" in text, text
    log = (out / "plain" / "seed_0.log").read_text()
    assert "resuming" in log and "trained 300 steps" in log, log

    # the resumed cell equals the same run made without interruption
    reference = tmp_path / "reference"
    argv = json.loads((out / "plain" / "seed_0.status.json").read_text())["stages"]["run"]["argv"]
    argv = [str(reference) if a == "<cell>" else a for a in argv]
    subprocess.run([sys.executable, "-m", "latentdirs", "--threads", "1", *argv, "--quiet"], cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
    resumed, uninterrupted = (run_folders_weights(folder) for folder in (cell, reference))
    assert resumed.keys() == uninterrupted.keys() and len(resumed) > 10
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)  # bit for bit


def run_folders_weights(folder: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)

