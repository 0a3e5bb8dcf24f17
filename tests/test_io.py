"""Atomic writes, checked reads and image grids."""

import numpy as np
import pytest
import torch

from latentdirs import io
from latentdirs.errors import UserError


def test_atomic_write_leaves_no_temp_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_written_files_get_the_umask_permissions(tmp_path):
    import os

    previous = os.umask(0o027)
    try:
        io.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640  # 0666 & ~0027, not mkstemp's 0600


def test_click_usage_errors_are_one_line(capsys):
    from latentdirs.cli import main

    for argv, message in ((["train-vae", "--nope"], "No such option '--nope'"),
                          (["export", "d.safetensors", "--format", "x", "--out", "o"], "Invalid value for '--format'"),
                          (["losses", "--domain", "nope"], "Invalid value for '--domain'"),
                          (["nope"], "No such command")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert "--help')" in err


def test_outputs_replace_only_files_of_their_own_kind(tmp_path):
    from safetensors.numpy import save_file

    io.write_json(tmp_path / "c.json", {"format": "kind-a"})
    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "w.safetensors"), metadata={"format": "kind-b"})
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty").touch()
    assert io.file_format(tmp_path / "c.json") == "kind-a" and io.file_format(tmp_path / "w.safetensors") == "kind-b"
    assert io.file_format(tmp_path / "notes.txt") is None
    io.check_outputs([tmp_path / "c.json", tmp_path / "new.json", tmp_path / "empty"], kind="kind-a")  # same kind, new
    for path, message in ((tmp_path / "w.safetensors", "exists and is a kind-b file"),
                          (tmp_path / "notes.txt", "exists and is a file of another kind"),
                          (tmp_path / "folder", "it is a folder")):
        with pytest.raises(UserError, match=message):
            io.check_outputs([path], kind="kind-a")
    io.check_outputs([tmp_path / "notes.txt"], kind="png", overwrite=True)  # --overwrite: another kind may go
    with pytest.raises(UserError, match="it is a folder"):
        io.check_outputs([tmp_path / "folder"], kind="png", overwrite=True)  # never a folder


def test_file_kinds_tell_outputs_apart(tmp_path):
    from PIL import Image
    from safetensors.numpy import save_file

    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "a.png")
    np.save(tmp_path / "a.npy", np.zeros(3))
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    io.write_json(tmp_path / "a.json", {"mig": None})
    (tmp_path / "a.html").write_text("<!DOCTYPE html><html></html>")
    torch.save({"x": torch.zeros(1)}, tmp_path / "a.pt")
    kinds = {p.name: io.file_kind(p) for p in sorted(tmp_path.iterdir())}
    assert kinds == {"a.html": "html", "a.json": "json", "a.npy": "npy", "a.npz": "zip", "a.png": "png", "a.pt": "zip",
                     "plain.safetensors": "safetensors"}


def test_an_output_is_never_one_of_the_inputs(tmp_path):
    source = tmp_path / "in.npy"
    np.save(source, np.zeros(3))
    (tmp_path / "link.npy").symlink_to(source)
    os_link = tmp_path / "hard.npy"
    os_link.hardlink_to(source)
    for output in (source, tmp_path / "link.npy", os_link, tmp_path / "sub" / ".." / "in.npy"):
        with pytest.raises(UserError, match="is one of this command's inputs"):
            io.check_outputs([output], [source], kind="npy", overwrite=True)
    io.check_outputs([tmp_path / "other.npy"], [source, None, tmp_path / "missing.npy"], kind="npy")


def test_check_writable_fails_before_the_work(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    io.check_writable(tmp_path / "new" / "deeper" / "out.json")  # folders to be made: fine
    for path, message in ((tmp_path / "afile" / "out.json", "a file stands where"), (tmp_path, "it is a folder")):
        with pytest.raises(UserError, match=message):
            io.check_writable(path)
    monkeypatch.setattr(io.os, "access", lambda *_args: False)  # a read-only folder (root ignores permissions)
    with pytest.raises(UserError, match="is not writable"):
        io.check_writable(tmp_path / "out.json")


def test_unwritable_destinations_are_one_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="a file stands where one of its folders should be"):
        io.write_text(tmp_path / "afile" / "b.txt", "y")
    with pytest.raises(UserError, match="a file stands where"):
        io.write_text(tmp_path / "afile" / "sub" / "b.txt", "y")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep").write_text("k")
    with pytest.raises(UserError, match=r"cannot write .*folder"):  # the destination is a folder
        io.write_text(tmp_path / "folder", "y")
    assert (tmp_path / "folder" / "keep").read_text() == "k" and (tmp_path / "afile").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]  # no temporary file left


def test_cli_turns_file_system_errors_into_one_line(tmp_path, capsys, monkeypatch):
    from latentdirs.cli import main

    (tmp_path / "afile").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["train-vae", "--steps", "1", "--out", str(tmp_path / "afile" / "run")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write") and "Traceback" not in err

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "/data/weights.pt")

    monkeypatch.setattr("latentdirs.losses.registry.describe_all", denied)  # any OSError a command lets through
    with pytest.raises(SystemExit) as exc:
        main(["losses"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: /data/weights.pt: Permission denied\n"

    def stopped(*_args, **_kwargs):
        from latentdirs.interrupt import Interrupted

        raise Interrupted("stopped at step 3 of 9; checkpoint saved in r/ck.pt; continue with --resume")

    monkeypatch.setattr("latentdirs.losses.registry.describe_all", stopped)  # a run stopped by Ctrl-C
    with pytest.raises(SystemExit) as exc:
        main(["losses"])
    assert exc.value.code == 130
    assert capsys.readouterr().err == ("interrupted: stopped at step 3 of 9; checkpoint saved in r/ck.pt; "
                                       "continue with --resume\n")


def test_torch_roundtrip_and_corrupt(tmp_path):
    path = tmp_path / "ck.pt"
    io.torch_save(path, {"w": torch.arange(3)})
    assert torch.equal(io.torch_load(path)["w"], torch.arange(3))
    path.write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
        io.torch_load(path)
    path.write_text('{"format": "latentdirs-stylegan2"}')  # a JSON file, or pickled objects: refused, never run
    with pytest.raises(UserError, match=r"not a latentdirs checkpoint \(expected a PyTorch file of plain"):
        io.torch_load(path)
    torch.save({"w": torch.nn.Linear(2, 2)}, path)
    with pytest.raises(UserError, match="nothing in it was executed"):
        io.torch_load(path)
    with pytest.raises(UserError, match="not found"):
        io.torch_load(tmp_path / "missing.pt")


def test_image_grid_layout(tmp_path):
    images = np.zeros((5, 1, 4, 4), np.float32)
    images[1] = 1.0
    grid = io.image_grid(images, nrow=3, padding=1)
    assert grid.shape == (1 + 2 * 5, 1 + 3 * 5)
    assert grid[1:5, 6:10].min() == 255 and grid[1:5, 1:5].max() == 0
    path = io.save_image_grid(tmp_path / "g.png", images, nrow=3, scale=2)
    assert path.exists()


def _disk_full(monkeypatch, tmp_path):
    """Make the next atomic write's temporary file a link to /dev/full: every write to it fails with ENOSPC,
    as on a full disk (the kernel's own error, no mock of the writers)."""
    import os
    import tempfile

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    real_mkstemp = tempfile.mkstemp

    def full_mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        os.unlink(name)
        os.symlink("/dev/full", name)
        return os.open(name, os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", full_mkstemp)


@pytest.mark.parametrize("writer", ["torch_save", "save_safetensors"])
def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, writer):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    tensors = {"w": torch.zeros(4096)}
    _disk_full(monkeypatch, tmp_path)
    with pytest.raises(UserError, match=r"cannot write .*out.bin: No space left on device"):
        if writer == "torch_save":
            io.torch_save(target, tensors)  # torch's own writer raised RuntimeError('… unexpected pos …')
        else:
            io.save_safetensors(target, tensors, {"format": "x"})
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_safetensors_bytes_do_not_depend_on_metadata_order(tmp_path):
    from safetensors import safe_open

    tensors = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.ones(3, dtype=torch.float64)}
    metadata = {f"key{i}": f"value {i} ✓" for i in range(8)}
    written = {io.safetensors_bytes(tensors, dict(reversed(metadata.items()))) for _ in range(20)}
    assert len(written) == 1  # the safetensors library alone gave a different order almost every call
    (raw,) = written
    assert (int.from_bytes(raw[:8], "little") % 8) == 0
    io.save_safetensors(tmp_path / "t.safetensors", tensors, metadata)
    assert (tmp_path / "t.safetensors").read_bytes() == raw
    with safe_open(str(tmp_path / "t.safetensors"), "pt") as handle:
        assert handle.metadata() == metadata
        assert all(torch.equal(handle.get_tensor(name), value) for name, value in tensors.items())


def test_saving_the_same_generator_gives_the_same_bytes(tmp_path):
    """Generator snapshots (two metadata keys) differed in bytes from save to save: half of the time per pair."""
    from directions_support import tiny_generator

    from latentdirs.gan import save_generator

    generator = tiny_generator()
    for i in range(8):
        save_generator(generator, tmp_path / str(i) / "g")
    assert len({(tmp_path / str(i) / "g.safetensors").read_bytes() for i in range(8)}) == 1
