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


def test_torch_roundtrip_and_corrupt(tmp_path):
    path = tmp_path / "ck.pt"
    io.torch_save(path, {"w": torch.arange(3)})
    assert torch.equal(io.torch_load(path)["w"], torch.arange(3))
    path.write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
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
