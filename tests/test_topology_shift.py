"""The TopDis quantile shift: keeps the Gaussian law, stays finite, differentiable."""

import numpy as np
import pytest
import torch
from scipy import stats

from latentdirs.errors import UserError
from latentdirs.topology import quantile_shift, shift_latents

MEAN, STD, SHIFT = 1.5, 2.0, 0.125


@pytest.mark.parametrize("sign", [1, -1])
def test_shift_keeps_the_gaussian_law(sign):
    gen = torch.Generator().manual_seed(0 if sign > 0 else 1)
    values = MEAN + STD * torch.randn(40_000, generator=gen, dtype=torch.float64)
    result = quantile_shift(values, SHIFT, sign)
    shifted = result.shifted.numpy()
    # about a fraction C of the points is dropped (those whose quantile would leave (0, 1))
    assert result.keep.sum().item() == pytest.approx((1 - SHIFT) * len(values), abs=4 * np.sqrt(len(values)))
    # the shifted points follow N(m, s²) restricted to quantiles (C, 1) resp. (0, 1 − C) ...
    low, high = (SHIFT, 1.0) if sign > 0 else (0.0, 1.0 - SHIFT)

    def truncated_cdf(t):
        return np.clip((stats.norm.cdf(t, MEAN, STD) - low) / (high - low), 0.0, 1.0)

    assert stats.kstest(shifted, truncated_cdf).pvalue > 1e-3
    # ... i.e. the same law as the unshifted points lying in that region (two-sample test)
    fresh = MEAN + STD * torch.randn(40_000, generator=gen, dtype=torch.float64).numpy()
    quantiles = stats.norm.cdf(fresh, MEAN, STD)
    region = fresh[(quantiles > low) & (quantiles < high)]
    assert stats.ks_2samp(shifted, region).pvalue > 1e-3
    # and every kept point moved by exactly C in the batch's quantile space
    values_np = values.numpy()
    m, s = values_np.mean(), values_np.std(ddof=1)
    u_before = stats.norm.cdf((values_np[result.keep.numpy()] - m) / s)
    u_after = stats.norm.cdf((shifted - m) / s)
    np.testing.assert_allclose(u_after - u_before, sign * SHIFT, atol=1e-9)


def test_the_law_test_has_power():
    # the KS test above can fail: a uniform batch, shifted the same way, is not a truncated Gaussian
    values = torch.rand(40_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    shifted = quantile_shift(values, SHIFT, 1).shifted.numpy()
    m, s = 0.5, np.sqrt(1 / 12)

    def truncated_cdf(t):
        return np.clip((stats.norm.cdf(t, m, s) - SHIFT) / (1 - SHIFT), 0.0, 1.0)

    assert stats.kstest(shifted, truncated_cdf).pvalue < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_values_stay_finite(dtype):
    big = torch.finfo(dtype).max / 4
    cases = [
        torch.tensor([-big, big, 0.0, 1.0], dtype=dtype),
        torch.tensor([0.0, 0.0, 0.0, 1e-30], dtype=dtype),
        torch.tensor([5.0, 5.0, 5.0, 5.0], dtype=dtype),  # zero spread
        torch.cat([torch.zeros(100, dtype=dtype), torch.tensor([1e6], dtype=dtype)]),  # one far outlier
        torch.tensor([-40.0, 40.0] * 8, dtype=dtype),
    ]
    for values in cases:
        for sign in (1, -1):
            values = values.clone().requires_grad_(True)
            result = quantile_shift(values, SHIFT, sign)
            assert torch.isfinite(result.shifted).all()
            if result.shifted.numel():
                (grad,) = torch.autograd.grad(result.shifted.sum(), values)
                assert torch.isfinite(grad).all()


def test_shift_gradient_matches_finite_differences():
    values = torch.randn(12, generator=torch.Generator().manual_seed(5), dtype=torch.float64, requires_grad=True)
    keep = quantile_shift(values, SHIFT, 1).keep
    assert torch.autograd.gradcheck(lambda v: quantile_shift(v, SHIFT, 1).shifted, (values,))
    assert torch.equal(quantile_shift(values + 1e-7, SHIFT, 1).keep, keep)


def test_shift_latents_changes_one_coordinate():
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(6), requires_grad=True)
    result = shift_latents(z, 2, SHIFT, -1)
    kept, moved = result.kept, result.shifted
    assert torch.equal(kept, z[result.keep])
    assert kept.shape == moved.shape and 0 < kept.shape[0] <= 64
    others = [0, 1, 3, 4]
    assert torch.equal(kept[:, others], moved[:, others])
    assert (moved[:, 2] < kept[:, 2]).all()
    moved.sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad[:, 2].abs().sum() > 0


def test_bad_input():
    with pytest.raises(UserError, match="at least 2"):
        quantile_shift(torch.zeros(1), SHIFT, 1)
    with pytest.raises(UserError, match="shift"):
        quantile_shift(torch.zeros(4), 1.5, 1)
    with pytest.raises(UserError, match="sign"):
        quantile_shift(torch.zeros(4), SHIFT, 0)
    with pytest.raises(UserError, match="NaN"):
        quantile_shift(torch.tensor([0.0, float("nan"), 1.0]), SHIFT, 1)
    with pytest.raises(UserError, match="out of range"):
        shift_latents(torch.zeros(4, 3), 3, SHIFT, 1)
