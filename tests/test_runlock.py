"""One process at a time per run folder: every command that writes a run refuses a folder another one holds."""

import pytest
from directions_support import tiny_generator_file

from latentdirs.cli import main
from latentdirs.errors import UserError
from latentdirs.runlock import output_lock, run_lock


def test_lock_is_exclusive_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "new" / "run"
    with run_lock(folder):
        with pytest.raises(UserError, match="in use by another latentdirs process"):
            with run_lock(folder):
                pass
    assert not (tmp_path / "new").exists()  # created only to be locked, nothing written: removed again
    with run_lock(folder):
        (folder / "log.csv").write_text("x")
    assert (folder / "log.csv").read_text() == "x"  # a folder with files stays
    with run_lock(folder):  # released: the next command gets it
        pass
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        with run_lock(tmp_path / "afile"):
            pass
    with output_lock(tmp_path / "clf"):
        assert (tmp_path / "clf.lock").exists()
        with pytest.raises(UserError, match="in use"):
            with output_lock(tmp_path / "clf"):
                pass
    assert not (tmp_path / "clf.lock").exists()
    with output_lock(tmp_path / "a" / "b" / "clf"):
        pass
    assert not (tmp_path / "a").exists()  # folders made only for the lock file go again


def _commands(tmp_path):
    generator = tiny_generator_file(tmp_path)
    run = str(tmp_path / "run")
    return {
        "train-vae": (run, ["train-vae", "--out", run, "--steps", "2", "--device", "cpu", "--quiet"]),
        "train-gan": (run, ["train-gan", "--out", run, "--resolution", "16", "--kimg", "0.004", "--device", "cpu",
                            "--classifier", "none", "--quiet"]),
        "pretrain-gan": (run, ["pretrain-gan", "--out", run, "--resolution", "16", "--kimg", "0.004", "--device", "cpu",
                               "--classifier", "none", "--quiet"]),
        "discover": (run, ["discover", "--generator", generator, "--method", "sefa", "-k", "2", "--out", run,
                           "--quiet"]),
        "train-factor-classifier": (str(tmp_path / "clf"), ["train-factor-classifier", "--steps", "2",
                                                            "--out", str(tmp_path / "clf")]),
    }


@pytest.mark.parametrize("name", ["train-vae", "train-gan", "pretrain-gan", "discover", "train-factor-classifier"])
def test_commands_refuse_a_run_another_process_holds(tmp_path, capsys, name):
    target, argv = _commands(tmp_path)[name]
    lock = output_lock(target) if name == "train-factor-classifier" else run_lock(target)
    with lock:
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(SystemExit) as exc:
            main(argv)
        after = sorted(p.name for p in tmp_path.iterdir())
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "is in use by another latentdirs process" in err, err
    assert after == before
