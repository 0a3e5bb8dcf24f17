"""``latentdirs train-vae`` end to end on a tiny dataset, and bad input → one ``error:`` line, exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from latentdirs.cli import main
from latentdirs.data.base import GroundTruthData
from latentdirs.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Bars(GroundTruthData):
    name = "bars"
    factor_names = ("position",)
    factor_sizes = (16,)
    observation_shape = (1, 64, 64)

    def _render(self, factors: np.ndarray) -> np.ndarray:
        images = np.zeros((len(factors), 1, 64, 64), np.float32)
        for i, (position,) in enumerate(factors):
            images[i, 0, :, 4 * position : 4 * position + 4] = 1.0
        return images


@pytest.fixture
def bars(monkeypatch):
    monkeypatch.setattr("latentdirs.vae.trainer.load_dataset", lambda config: Bars())


TINY = ["--steps", "2", "--batch-size", "4", "--latent-dim", "3", "--device", "cpu", "--quiet"]


def run_cli(args, capsys) -> tuple[int, str, str]:
    try:
        main(["train-vae", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(args, capsys) -> str:
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def test_help_has_examples(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "Examples:" in out and "--resume" in out and "--reg" in out


def test_global_threads_option(capsys):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        main(["--threads", "1", "losses"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "beta-vae" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--threads", "0", "losses"])
    assert "--threads" in capsys.readouterr().err


def test_train_then_resume_and_extend(tmp_path, bars, capsys):
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(["--out", str(out_dir), "--beta", "4", *TINY], capsys)
    assert code == 0 and "traversals.png" in out
    assert (out_dir / "model.safetensors").is_file()
    code, out, err = run_cli(["--out", str(out_dir), "--resume", "--steps", "3", "--quiet"], capsys)
    assert code == 0 and "trained 3 steps" in out and "resuming" in err


def test_config_file_and_rerun_from_a_saved_config(tmp_path, bars, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"objective": {"name": "annealed-vae", "c_max": 5}, "steps": 1, "batch_size": 4,
                                  "latent_dim": 3, "device": "cpu", "regularizers": []}))
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(["--out", str(first), "--config", str(config), "--steps", "2", "--quiet"], capsys)[0] == 0
    saved = json.loads((first / "config.json").read_text())
    assert saved["objective"] == {"name": "annealed-vae", "gamma": 1000.0, "c_max": 5.0, "iteration_threshold": 100000}
    assert saved["steps"] == 2  # the command line overrides the file
    rerun = ["--out", str(second), "--config", str(first / "config.json"), "--quiet"]
    assert run_cli(rerun, capsys)[0] == 0
    assert json.loads((second / "config.json").read_text()) == saved
    assert (first / "log.csv").read_text() == (second / "log.csv").read_text()


@pytest.mark.parametrize("args, message", [
    (["--reg", "topdis:gamma"], "bad loss spec"),
    (["--reg", "nope:1"], "unknown regularizer for vae 'nope'"),
    (["--objective", "nope:1"], "unknown objective for vae 'nope'"),
    (["--reg", "no-such-regularizer"], "unknown regularizer for vae 'no-such-regularizer'"),
    (["--objective", "nope"], "unknown objective for vae 'nope'"),
    (["--objective", "beta-vae:gama=3"], "unknown parameter(s) gama"),
    (["--objective", "beta-vae:beta=much"], "not a valid float"),
    (["--objective", "dip-vae-i", "--beta", "3"], "has no beta or gamma"),
    (["--batch-size", "1"], "batch_size must be"),
    (["--device", "tpu"], "unknown device"),
    # the term would first act at step 1000: its settings are checked against the model before step 0
    (["--reg", "jacobian_l1:subset=4,delay=1000"], "subset must be between 1 and the latent size 3, got 4"),
])
def test_bad_options(tmp_path, bars, capsys, args, message):
    line = error_line(["--out", str(tmp_path / "x"), *TINY, *args], capsys)
    assert message in line
    assert not (tmp_path / "x").exists()


def test_bad_config_files(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in error_line(["--out", str(tmp_path / "x"), "--config", str(broken)], capsys)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"objective": {"name": "beta-vae"}, "stepz": 3}')
    assert "unknown option(s) stepz" in error_line(["--out", str(tmp_path / "x"), "--config", str(unknown)], capsys)
    missing = tmp_path / "missing.json"
    assert "not found" in error_line(["--out", str(tmp_path / "x"), "--config", str(missing)], capsys)


def test_out_that_holds_a_run(tmp_path, bars, capsys):
    out_dir = str(tmp_path / "run")
    assert run_cli(["--out", out_dir, *TINY], capsys)[0] == 0
    assert "holds a different run" in error_line(["--out", out_dir, *TINY, "--beta", "8"], capsys)
    assert "already holds this run" in error_line(["--out", out_dir, *TINY], capsys)
    assert "other options" in error_line(["--out", out_dir, "--resume", "--beta", "8"], capsys)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "not empty" in error_line(["--out", str(tmp_path / "other"), *TINY], capsys)
    assert run_cli(["--out", out_dir, *TINY, "--beta", "8", "--overwrite"], capsys)[0] == 0


def test_overwrite_keeps_the_old_run_until_the_new_one_starts(tmp_path, bars, capsys, monkeypatch):
    out_dir = tmp_path / "run"
    assert run_cli(["--out", str(out_dir), *TINY], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()}
    assert "no CUDA device" in error_line(["--out", str(out_dir), *TINY, "--device", "cuda:99", "--overwrite"], capsys)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before

    def unreadable(config):
        raise UserError("3dshapes file d.h5 is not a readable HDF5 file")

    monkeypatch.setattr("latentdirs.vae.trainer.load_dataset", unreadable)
    assert "not a readable HDF5" in error_line(["--out", str(out_dir), *TINY, "--overwrite"], capsys)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before
    foreign = tmp_path / "discover_run"  # another command's run folder: never cleared, never resumed
    foreign.mkdir()
    (foreign / "config.json").write_text('{"discovery": {"method": "sefa"}, "generator": "g.json"}')
    for extra in (["--overwrite"], ["--resume"]):
        assert "holds no train-vae run" in error_line(["--out", str(foreign), *TINY, *extra], capsys)
        assert (foreign / "config.json").is_file()


def test_corrupt_checkpoint_on_resume(tmp_path, bars, capsys):
    out_dir = tmp_path / "run"
    assert run_cli(["--out", str(out_dir), *TINY], capsys)[0] == 0
    (out_dir / "checkpoints" / "last.pt").write_bytes(b"\x00garbage")
    assert "corrupt" in error_line(["--out", str(out_dir), "--resume", "--steps", "3"], capsys)


def test_unknown_dataset_and_missing_file(tmp_path, capsys):
    assert "no-such-data" in error_line(["--out", str(tmp_path / "x"), *TINY, "--dataset", "no-such-data"], capsys)
    line = error_line(["--out", str(tmp_path / "y"), *TINY, "--dataset", "3dshapes", "--data-path",
                       str(tmp_path / "missing.h5")], capsys)
    assert "missing.h5" in line


def test_bad_input_from_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "latentdirs", "train-vae", "--out", str(tmp_path / "x"),
                           "--reg", "topdis:k"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: bad loss spec")


def test_resume_needs_a_run_to_continue(tmp_path, bars, capsys):
    """A mistyped --out with --resume started a fresh (300 000-step) run; now it is one error line."""
    for folder in (tmp_path / "typo", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        line = error_line(["--out", str(folder), "--resume", *TINY], capsys)
        assert "holds no train-vae run to continue" in line and "leave out --resume" in line
    assert not (tmp_path / "typo").exists() and not any((tmp_path / "empty").iterdir())
    started = tmp_path / "started"  # stopped before its first checkpoint: config.json only → starts at step 0
    assert run_cli(["--out", str(started), *TINY], capsys)[0] == 0
    for name in ("checkpoints", "log.csv", "model.safetensors"):
        path = started / name
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    code, _, err = run_cli(["--out", str(started), "--resume", "--quiet"], capsys)
    assert code == 0 and "starting at step 0" in err


def test_a_run_folder_is_used_by_one_process_at_a_time(tmp_path, bars, capsys):
    """Two `train-vae --out X --resume` at once both trained and interleaved log.csv; the second now stops."""
    out_dir = tmp_path / "run"
    assert run_cli(["--out", str(out_dir), *TINY], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()}
    holder = subprocess.Popen(  # another process holding the run folder (the lock alone: no torch, starts fast)
        [sys.executable, "-c", "import sys, time; from latentdirs.runlock import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)", str(out_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = error_line(["--out", str(out_dir), "--resume", "--steps", "4", "--quiet"], capsys)
        assert "is in use by another latentdirs process" in line
    finally:
        holder.kill()
        holder.wait()
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before
    code, out, _ = run_cli(["--out", str(out_dir), "--resume", "--steps", "4", "--quiet"], capsys)  # lock gone
    assert code == 0 and "trained 4 steps" in out


def test_identical_runs_write_identical_weights(tmp_path, bars, capsys):
    for name in ("a", "b"):
        assert run_cli(["--out", str(tmp_path / name), *TINY], capsys)[0] == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
