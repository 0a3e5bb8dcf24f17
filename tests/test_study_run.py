"""``study run`` end to end with real (tiny) runs: every cell runs and is evaluated; a cell whose status is gone,
or a study stopped mid-run, is finished by running the same command again — only the missing cells — and
gives the same report."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from directions_support import tiny_generator_file
from safetensors.torch import load_file

from latentdirs.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = {"batch-size": 4, "latent-dim": 3, "device": "cpu"}
EVALUATE = {"metrics": "mig", "num-train": 64, "num-test": 32, "device": "cpu"}

pytestmark = pytest.mark.slow


def write_spec(folder: Path, steps: int, checkpoint_every: int, name: str = "spec.json") -> Path:
    spec = {"name": "tiny", "command": "train-vae",
            "options": {**TINY, "steps": steps, "checkpoint-every": checkpoint_every},
            "settings": {"plain": {}, "beta4": {"objective": "beta-vae:beta=4"}}, "seeds": [0, 1],
            "baseline": "plain", "evaluate": EVALUATE}
    path = folder / name
    path.write_text(json.dumps(spec))
    return path


def study(argv, capsys) -> tuple[int, str]:
    try:
        main(["study", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def attempts(out: Path) -> dict[str, int]:
    """Cell → number of stage commands it has run."""
    return {f"{p.parent.name}/{p.name.split('.')[0]}": json.loads(p.read_text())["spent"]["attempts"]
            for p in sorted(out.glob("*/seed_*.status.json"))}


def report_files(out: Path) -> tuple[str, str]:
    return (out / "report" / "summary.csv").read_text(), (out / "report" / "values.csv").read_text()


def test_tiny_study_runs_resumes_only_missing_cells_and_reports(tmp_path, capsys):
    spec, out = write_spec(tmp_path, steps=6, checkpoint_every=3), tmp_path / "study"
    code, text = study(["run", str(spec), "--out", str(out), "--workers", "2"], capsys)
    assert code == 0, text
    assert "4 of 4 cells finished (0 before this run" in text
    assert attempts(out) == {f"{s}/seed_{k}": 2 for s in ("beta4", "plain") for k in (0, 1)}
    for setting in ("plain", "beta4"):
        for seed in (0, 1):
            cell = out / setting / f"seed_{seed}"
            config = json.loads((cell / "config.json").read_text())
            assert config["seed"] == seed and config["steps"] == 6  # an ordinary run folder of that cell
            assert (cell / "model.safetensors").is_file() and (cell / "metrics.json").is_file()
    assert json.loads((out / "beta4" / "seed_1" / "config.json").read_text())["objective"]["beta"] == 4.0

    code, text = study(["report", str(out)], capsys)
    assert code == 0, text
    summary, values = report_files(out)
    # the report's numbers are the run folders' numbers
    recomputed = {(s, k): json.loads((out / s / f"seed_{k}" / "metrics.json").read_text())["results"]["mig"]
                  for s in ("plain", "beta4") for k in (0, 1)}
    listed = {(r["setting"], int(r["seed"])): float(r["value"]) for r in csv.DictReader(values.splitlines())
              if r["metric"] == "mig"}
    assert listed == recomputed
    rows = {r["setting"]: r for r in csv.DictReader(summary.splitlines()) if r["metric"] == "mig"}
    assert float(rows["beta4"]["mean"]) == pytest.approx((recomputed["beta4", 0] + recomputed["beta4", 1]) / 2)
    assert rows["beta4"]["test"] == "Wilcoxon signed-rank (paired by seed)" and rows["beta4"]["baseline"] == "plain"

    # nothing left to do: nothing runs
    code, text = study(["run", str(spec), "--out", str(out)], capsys)
    assert code == 0 and "4 of 4 cells finished (4 before this run" in text, text
    # a cell whose completion marker is gone (as after a crash before it was written) runs again, alone
    (out / "beta4" / "seed_0.status.json").unlink()
    (out / "beta4" / "seed_0" / "metrics.json").unlink()
    code, text = study(["run", str(spec), "--out", str(out)], capsys)
    assert code == 0 and "4 of 4 cells finished (3 before this run" in text, text
    assert attempts(out) == {"beta4/seed_0": 2, "beta4/seed_1": 2, "plain/seed_0": 2, "plain/seed_1": 2}
    assert "resuming" in (out / "beta4" / "seed_0.log").read_text()  # from its final checkpoint: no retraining
    code, text = study(["report", str(out)], capsys)
    assert code == 0 and report_files(out) == (summary, values)

    # a changed spec under finished cells is refused before anything runs
    changed = write_spec(tmp_path, steps=8, checkpoint_every=3, name="changed.json")
    code, text = study(["run", str(changed), "--out", str(out)], capsys)
    assert code == 2 and "was finished with other options" in text and text.count("\n") == 1


def test_stopped_study_continues_and_matches_an_uninterrupted_run(tmp_path, capsys):
    spec, out = write_spec(tmp_path, steps=240, checkpoint_every=10), tmp_path / "study"
    process = subprocess.Popen([sys.executable, "-m", "latentdirs", "study", "run", str(spec), "--out", str(out),
                                "--workers", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    first = out / "plain" / "seed_0" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not first.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.is_file(), process.communicate()
    process.send_signal(signal.SIGINT)  # Ctrl-C: the run in flight saves a checkpoint and stops
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted: stopped; 0 of 4 cells finished")
    assert not (out / "plain" / "seed_0" / "summary.json").exists()  # it stopped before its end
    assert not (out / "plain" / "seed_1").exists()  # nothing else started

    code, text = study(["run", str(spec), "--out", str(out), "--workers", "2"], capsys)
    assert code == 0 and "4 of 4 cells finished" in text, text
    log = (out / "plain" / "seed_0.log").read_text()
    assert "[exit 130]" in log and "resuming" in log

    # the interrupted cell equals the same run made without interruption
    reference = tmp_path / "reference"
    argv = json.loads((out / "plain" / "seed_0.status.json").read_text())["stages"]["run"]["argv"]
    argv = [str(reference) if a == "<cell>" else a for a in argv]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "latentdirs", "--threads", "1", *argv, "--quiet"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    resumed, uninterrupted = (load_file(str(folder / "model.safetensors")) for folder in (out / "plain" / "seed_0",
                                                                                       reference))
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)  # bit for bit


def test_discover_study_with_random_baseline(tmp_path, capsys):
    generator = tiny_generator_file(tmp_path, 0)
    spec = {"command": "discover",
            "options": {"generator": generator, "num-directions": 3, "stats-samples": 64, "grid-samples": 1,
                        "grid-steps": 2, "device": "cpu"},
            "settings": {"random": {"method": "random"}, "reconstructor": {"method": "reconstructor", "steps": 4,
                                                                            "batch-size": 4},
                         "sefa": {"method": "sefa"}},
            "seeds": [0, 1], "baseline": "random",
            "evaluate": {"rca-steps": 3, "rca-batch": 4, "rca-eval-batches": 1, "lpips": False,
                         "classifier": "none", "traverse": "-1:1:2"},
            "metrics": ["RCA (fresh reconstructor)"]}
    path = tmp_path / "dirs.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "dirs"
    code, text = study(["run", str(path), "--out", str(out), "--workers", "2"], capsys)
    assert code == 0, text
    evaluation = json.loads((out / "random" / "seed_1" / "evaluation.json").read_text())
    assert 0 <= evaluation["summary"]["RCA (fresh reconstructor)"] <= 1
    code, text = study(["report", str(out)], capsys)
    assert code == 0 and "## RCA (fresh reconstructor)" in text and "| reconstructor | 2 |" in text, text
    # SeFa is closed-form and the evaluation seed fixed: its two cells are one result, and the report says so
    assert "sefa: its 2 values are identical" in text, text
    assert (out / "report" / "RCA_fresh_reconstructor.png").is_file()
