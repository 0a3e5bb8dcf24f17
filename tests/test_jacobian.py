"""Jacobian L1 and Hessian penalty: exact vs autograd, finite differences, subsets, the registry terms."""

import warnings

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from latentdirs.cli import cli
from latentdirs.errors import UserError
from latentdirs.losses import jacobian, registry
from latentdirs.losses.jacobian import (
    hessian_penalty,
    jacobian_columns_exact,
    jacobian_columns_finite_difference,
    jacobian_l1,
)
from latentdirs.losses.registry import LossContext
from latentdirs.vae.models import Decoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class SmallDecoder(nn.Module):
    """z [B, 4] → logits [B, 1, 8, 8]: linear + transposed convolutions (``smooth``: Softplus, else ReLU)."""

    def __init__(self, smooth: bool = True, batchnorm: bool = False) -> None:
        super().__init__()
        act = nn.Softplus() if smooth else nn.ReLU()
        self.fc_in = nn.Linear(4, 32)
        self.net = nn.Sequential(
            act, nn.Unflatten(1, (8, 2, 2)),
            nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.BatchNorm2d(4) if batchnorm else nn.Identity(), act,
            nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc_in(z))


def _setup(smooth=True, seed=0):
    torch.manual_seed(seed)
    decoder = SmallDecoder(smooth).double()
    z = torch.randn(5, 4, dtype=torch.float64)
    return decoder, z, (lambda v: torch.sigmoid(decoder(v)))


def _reference_l1(picture, z):
    """Σ_b Σ |J_b| / B with J_b from torch.autograd.functional.jacobian (create_graph for its gradient)."""
    total = 0.0
    for b in range(z.shape[0]):
        jac = torch.autograd.functional.jacobian(picture, z[b : b + 1], create_graph=True)  # [1,1,8,8,1,4]
        total = total + jac.abs().sum()
    return total / z.shape[0]


def test_exact_columns_and_l1_equal_autograd_jacobian_with_gradients():
    decoder, z, picture = _setup(smooth=False)
    columns = torch.arange(4)
    jac = jacobian_columns_exact(picture, z, columns)  # [4, B, 1, 8, 8]
    full = torch.autograd.functional.jacobian(picture, z)  # [B, 1, 8, 8, B, 4]
    for b in range(5):
        torch.testing.assert_close(jac[:, b], full[b, ..., b, :].permute(3, 0, 1, 2))
    ours = jacobian_l1(picture, z, "exact")
    reference = _reference_l1(picture, z)
    torch.testing.assert_close(ours, reference)
    grads = torch.autograd.grad(ours, list(decoder.parameters()))
    reference_grads = torch.autograd.grad(reference, list(decoder.parameters()))
    for mine, theirs in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("method", ["exact", "finite_difference", "hessian"])
def test_cpu_chunks_give_the_one_call_value_and_gradients(method, monkeypatch):
    decoder, z, picture = _setup(smooth=True)
    z = torch.randn(15, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def penalty():
        if method == "hessian":  # k=2: 5 rows per sample, the same random directions in both calls
            return hessian_penalty(picture, z, generator=torch.Generator().manual_seed(2), reduction="mean")
        return jacobian_l1(picture, z, method)

    whole = penalty()  # 15·4 (or 15·5) rows ≤ 80: one call
    monkeypatch.setattr(jacobian, "CPU_ROWS_PER_CALL", 12)  # 3 (or 2) samples per call: 5 (or 8) chunks
    chunked = penalty()
    torch.testing.assert_close(chunked, whole)
    for mine, theirs in zip(torch.autograd.grad(chunked, list(decoder.parameters())),
                            torch.autograd.grad(whole, list(decoder.parameters())), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_finite_differences_agree_on_a_smooth_decoder():
    _, z, picture = _setup(smooth=True)
    columns = torch.tensor([0, 2, 3])
    exact = jacobian_columns_exact(picture, z, columns)
    for step, tol in ((1e-3, 2e-3), (1e-6, 2e-6)):
        fd = jacobian_columns_finite_difference(picture, z, columns, step)
        assert float((fd - exact).abs().max().detach()) < tol * float(exact.abs().max().detach())
    fd_value, exact_value = jacobian_l1(picture, z, "finite_difference"), jacobian_l1(picture, z, "exact")
    assert fd_value.item() == pytest.approx(exact_value.item(), rel=1e-3)


def test_random_subset_is_scaled_and_unbiased():
    _, z, picture = _setup()
    full = jacobian_columns_exact(picture, z, torch.arange(4)).abs().sum(dim=(1, 2, 3, 4)) / 5  # per latent
    g = torch.Generator().manual_seed(4)
    chosen = torch.randperm(4, generator=torch.Generator().manual_seed(4))[:2]
    value = jacobian_l1(picture, z, "exact", subset=2, generator=g)
    torch.testing.assert_close(value, full[chosen].sum() * 2)
    # the mean over all 6 pairs of columns is the full sum
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    torch.testing.assert_close(sum(2 * (full[i] + full[j]) for i, j in pairs) / len(pairs), full.sum())
    with pytest.raises(UserError, match="subset"):
        jacobian_l1(picture, z, subset=5)


def test_hessian_penalty_vanishes_for_separable_maps_only():
    z = torch.randn(6, 3, dtype=torch.float64)
    separable = lambda v: torch.stack([torch.sin(v[:, 0]) + v[:, 1] ** 3, torch.exp(v[:, 2])], dim=1)  # noqa: E731
    assert float(hessian_penalty(separable, z, k=4, generator=torch.Generator().manual_seed(0))) < 1e-8
    # g(z) = z0·z1: the second difference along v is exactly 2 v0 v1 (h cancels)
    bilinear = lambda v: (v[:, 0] * v[:, 1]).unsqueeze(1)  # noqa: E731
    g = torch.Generator().manual_seed(1)
    value = hessian_penalty(bilinear, z, k=3, generator=g, reduction="mean")
    signs = torch.randint(0, 2, (3, 6, 3), generator=torch.Generator().manual_seed(1)).double() * 2 - 1
    expected = (2 * signs[..., 0] * signs[..., 1]).var(dim=0, unbiased=True).mean()
    torch.testing.assert_close(value, expected)


def _context(decoder, encoder_param, step=10, total_steps=30, **extra):
    z = encoder_param * torch.randn(4, 4, dtype=torch.float64)
    model = nn.Module()
    model.decoder = decoder
    return LossContext(z=z, decode=decoder, step=step, total_steps=total_steps,
                       generator=torch.Generator().manual_seed(0), model=model, **extra)


@pytest.mark.parametrize("spec", ["jacobian_l1", "jacobian_l1:method=finite_difference,subset=2", "hessian_penalty"])
def test_terms_train_only_the_decoder_and_ramp(spec):
    decoder, _, _ = _setup()
    scale = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    term = registry.build(spec + (",ramp_steps=20,delay=5" if ":" in spec else ":ramp_steps=20,delay=5"))
    assert float(term(_context(decoder, scale, step=2))["loss"]) == 0.0
    out = term(_context(decoder, scale, step=14))
    name = spec.split(":")[0]
    assert out["gamma"].item() == pytest.approx(term.hp["gamma"] * 9 / 20)  # (step − delay) / ramp_steps
    assert out["loss"].item() == pytest.approx(out["gamma"].item() * out[name].item())
    out["loss"].backward()
    assert scale.grad is None  # z is detached: the encoder gets nothing
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in decoder.parameters())


def _jlonevae_l1(decoder, z, h=1e-3):
    """JL1 as travers-rhodes/jlonevae computes it (vae_jacobian.py, compute_generator_jacobian_optimized and
    jacobian_loss_function), restated: the detached codes tiled d + 1 times, block i (i < d) shifted by h along
    latent i, the last block unshifted; one decoder call (its decode ends in a sigmoid); forward differences
    against the last block; Σ |·| over latents, batch and pixels, divided by the batch size."""
    batch, dims = z.shape
    tiled = z.detach().repeat(dims + 1, 1)
    shifts = torch.cat([torch.eye(dims, dtype=z.dtype).repeat_interleave(batch, dim=0), z.new_zeros(batch, dims)])
    pictures = torch.sigmoid(decoder(tiled + h * shifts)).reshape(dims + 1, batch, -1)
    return ((pictures[:-1] - pictures[-1]) / h).abs().sum() / batch


def test_default_gradient_is_the_papers_finite_difference_gradient():
    """On the dlib ReLU decoder the exact Jacobian's gradient is another signal (cosine ≈ 0.07 with this one)."""
    torch.manual_seed(0)
    decoder = Decoder(10).double()
    params = list(decoder.parameters())
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(8, 10, dtype=torch.float64, generator=gen, requires_grad=True)
    model = nn.Module()
    model.decoder = decoder
    term = registry.build("jacobian_l1")
    out = term(LossContext(z=z, decode=decoder, step=899, total_steps=900, model=model, generator=gen))
    assert torch.autograd.grad(out["loss"], z, retain_graph=True, allow_unused=True) == (None,)  # z detached
    ours = torch.cat([g.flatten() for g in torch.autograd.grad(out["loss"] / out["gamma"].item(), params)])
    official = _jlonevae_l1(decoder, z)
    theirs = torch.cat([g.flatten() for g in torch.autograd.grad(official, params)])
    cosine = torch.nn.functional.cosine_similarity(ours, theirs, dim=0).item()
    assert cosine > 0.999, cosine
    assert ours.norm().item() == pytest.approx(theirs.norm().item(), rel=0.03)
    assert out["jacobian_l1"].item() == pytest.approx(official.item(), rel=1e-9)
    # γ ramps from 0 over the first third of the run, as γ · num_batches_seen / annealingBatches (100000 of 300000)
    for step, share in ((0, 0.0), (150, 0.5), (300, 1.0), (899, 1.0)):
        ctx = LossContext(z=z, decode=decoder, step=step, total_steps=900, model=model, generator=gen)
        assert term.weight(ctx) == pytest.approx(0.1 * share)


def test_warns_once_with_training_batchnorm_and_bf16():
    decoder = SmallDecoder(batchnorm=True).double().train()
    term = registry.build("jacobian_l1:method=finite_difference")
    with pytest.warns(UserWarning, match="BatchNorm"):
        term(_context(decoder, torch.tensor(1.0, dtype=torch.float64)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        term(_context(decoder, torch.tensor(1.0, dtype=torch.float64)))
    plain = SmallDecoder().bfloat16()
    ctx = LossContext(z=torch.randn(3, 4).bfloat16(), decode=plain, step=0)
    with pytest.warns(UserWarning, match="bf16"):
        registry.build("jacobian_l1:ramp_steps=0")(ctx)
    with pytest.raises(UserError, match="k=1 must be ≥ 2"):
        registry.build("hessian_penalty:k=1")


@pytest.mark.parametrize("reg", ["jacobian_l1:gamma=0.1", "jacobian_l1:method=finite_difference,subset=3",
                                 "hessian_penalty:gamma=0.5"])
def test_short_dsprites_training_runs(tmp_path, reg):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [
        "train-vae", "--dataset", "dsprites", "--steps", "6", "--batch-size", "8", "--log-every", "2",
        "--device", "cpu", "--quiet", "--out", str(out), "--reg", reg,
    ])
    assert result.exit_code == 0, result.output
    header, *rows = (out / "log.csv").read_text().strip().splitlines()
    name = reg.split(":")[0]
    column = header.split(",").index(f"{name}.{name}")
    values = [float(row.split(",")[column]) for row in rows]
    assert len(values) == 3 and all(v > 0 and v == v for v in values)
