"""The random-orthonormal baseline of ``discover --method random``: orthonormal, seeded, uniformly drawn."""

import pytest
import torch
from directions_support import tiny_generator_file

from latentdirs.cli import main
from latentdirs.directions.closed_form import random_directions
from latentdirs.directions.dirfile import load_directions
from latentdirs.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_orthonormal_and_seeded():
    a = random_directions(16, 5, seed=3)
    assert a.shape == (5, 16) and a.dtype == torch.float32
    assert torch.allclose(a @ a.T, torch.eye(5), atol=1e-6)
    assert torch.equal(a, random_directions(16, 5, seed=3))
    assert not torch.allclose(a, random_directions(16, 5, seed=4))
    with pytest.raises(UserError, match="cannot have 17"):
        random_directions(16, 17, seed=0)


def test_uniform_on_the_sphere():
    """Haar-uniform: every direction's expected outer product is I/d and its entries average 0 (QR alone,
    without the sign correction of R's diagonal, skews the signs of the entries)."""
    d, draws = 4, 3000
    samples = torch.stack([random_directions(d, 2, seed=s).double() for s in range(draws)])  # [draws, 2, d]
    for k in range(2):
        outer = torch.einsum("ni,nj->ij", samples[:, k], samples[:, k]) / draws
        assert torch.allclose(outer, torch.eye(d, dtype=torch.float64) / d, atol=0.02)
        assert samples[:, k].mean(dim=0).abs().max() < 0.04  # standard error ≈ 0.5/√3000 ≈ 0.009


def test_discover_random_cli(tmp_path, capsys):
    g0 = tiny_generator_file(tmp_path, 0)
    for seed in (1, 1, 2):
        out = tmp_path / f"r{seed}"
        argv = ["discover", "--generator", g0, "--method", "random", "-k", "3", "--seed", str(seed),
                "--stats-samples", "64", "--grid-samples", "1", "--grid-steps", "2", "--out", str(out),
                "--device", "cpu", "--quiet"]
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0, capsys.readouterr().err
    one, again, two = (load_directions(tmp_path / f"r{s}" / "directions.safetensors") for s in (1, 1, 2))
    assert one.method == "random" and one.num_directions == 3
    assert torch.equal(one.directions, again.directions) and not torch.equal(one.directions, two.directions)
    assert torch.allclose(one.directions @ one.directions.T, torch.eye(3), atol=1e-6)
