"""Resampling and modulated convolution against independent NumPy/SciPy and per-sample oracles."""

import inspect

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d, correlate2d

from latentdirs.gan import Generator
from latentdirs.gan.generator import MAPPING_DEFAULTS, SYNTHESIS_DEFAULTS
from latentdirs.gan.layers import SynthesisLayer, modulated_conv2d
from latentdirs.gan.mapping import MappingNetwork
from latentdirs.gan.resample import conv2d_resample, downsample2d, setup_filter, upfirdn2d, upsample2d
from latentdirs.gan.synthesis import SynthesisBlock, SynthesisNetwork


def upfirdn_numpy(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero-stuff, pad/crop, true 2-D convolution with gain·f (outer product if 1-D), decimate."""
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    u = np.pad(u, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    u = u[:, :, max(-py0, 0): u.shape[2] - max(-py1, 0), max(-px0, 0): u.shape[3] - max(-px1, 0)]
    f2 = gain * (f if f.ndim == 2 else np.outer(f, f))
    out = np.array([[convolve2d(u[i, j], f2, mode="valid") for j in range(c)] for i in range(n)])
    return out[:, :, ::down, ::down]


def test_setup_filter_is_normalised_outer_product():
    f = setup_filter([1, 3, 3, 1])
    np.testing.assert_allclose(f.numpy(), np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64)
    assert setup_filter(list(range(1, 9))).shape == (8,)  # long filters stay separable


@pytest.mark.parametrize("up,down,pad,gain", [(1, 1, (1, 2, 0, 1), 1.0), (2, 1, (2, 1, 2, 1), 4.0),
                                              (1, 2, (1, 1, 1, 1), 1.0), (2, 1, (-1, 3, 0, -2), 2.0),
                                              (3, 2, (1, 0, 2, 1), 9.0)])
@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 3, 4, 4, 3, 2, 1], [[1, 2, 0], [3, -1, 1], [0, 5, 2]]])
def test_upfirdn2d_matches_numpy(up, down, pad, gain, taps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    f = setup_filter(taps) if np.ndim(taps) == 1 else torch.tensor(taps, dtype=torch.float32)
    ours = upfirdn2d(torch.from_numpy(x).float(), f, up=up, down=down, padding=pad, gain=gain)
    ref = upfirdn_numpy(x, f.double().numpy(), up, down, pad, gain)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)


def test_up_and_down_sample_sizes_and_constants():
    f = setup_filter()
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape[-1] == 16 and down.shape[-1] == 4
    np.testing.assert_allclose(up[..., 2:-2, 2:-2].numpy(), 1.0, atol=1e-6)  # interior keeps a constant
    np.testing.assert_allclose(down[..., 1:-1, 1:-1].numpy(), 1.0, atol=1e-6)


@pytest.mark.parametrize("k,groups", [(3, 1), (3, 2), (1, 1), (1, 2)])
def test_conv_up2_matches_upsample_then_true_convolution(k, groups):
    """Up path = FIR up-sampling (gain 4) with padding p + (4+1)//2, p + 1, then a true k×k convolution."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 5, 5))
    w = rng.standard_normal((6, 4 // groups, k, k))
    f = setup_filter()
    p = k // 2
    ours = conv2d_resample(torch.from_numpy(x).float(), torch.from_numpy(w).float(), f, up=2, padding=p, groups=groups)
    u = upfirdn_numpy(x, f.double().numpy(), up=2, pad=(p + 2, p + 1, p + 2, p + 1), gain=4.0)
    ref = np.zeros((1, 6, 10, 10))
    per_out = 6 // groups
    for o in range(6):
        g = o // per_out
        for i in range(4 // groups):
            ref[0, o] += convolve2d(u[0, g * (4 // groups) + i], w[o, i], mode="valid")
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("k", [3, 1])
def test_conv_down2_matches_correlation_then_fir_decimation(k):
    """Down path = correlation of the zero-padded input, then FIR filtering and decimation."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 8, 8))
    w = rng.standard_normal((2, 3, k, k))
    f = setup_filter()
    ours = conv2d_resample(torch.from_numpy(x).float(), torch.from_numpy(w).float(), f, down=2, padding=k // 2)
    pad = k // 2 + 1  # the conv's own padding plus the filter's (4 - 2 + 1) // 2, both on the input
    full = np.array([[sum(correlate2d(np.pad(x[0, i], pad), w[o, i], mode="valid") for i in range(3))
                      for o in range(2)]])
    ref = upfirdn_numpy(full, f.double().numpy(), down=2)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("up,demodulate", [(1, True), (2, True), (1, False)])
def test_modulated_conv_fused_unfused_and_per_sample_oracle(up, demodulate):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 6, 6, generator=gen)
    weight = torch.randn(5, 4, 3, 3, generator=gen)
    styles = torch.randn(3, 4, generator=gen)
    noise = torch.randn(6 * up, 6 * up, generator=gen)
    f = setup_filter()
    fused = modulated_conv2d(x, weight, styles, noise=noise, up=up, padding=1, resample_filter=f,
                             demodulate=demodulate, fused=True)
    unfused = modulated_conv2d(x, weight, styles, noise=noise, up=up, padding=1, resample_filter=f,
                               demodulate=demodulate, fused=False)
    oracle = []
    for n in range(3):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        oracle.append(conv2d_resample(x[n: n + 1], w, f, up=up, padding=1)[0] + noise)
    oracle = torch.stack(oracle)
    torch.testing.assert_close(fused, oracle, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(unfused, oracle, atol=1e-4, rtol=1e-4)


def test_w_avg_tracking_truncation_and_noise_modes():
    torch.manual_seed(0)
    G = Generator(8, 0, 8, 8, 3, mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    z = torch.randn(5, 8)
    before = G.mapping.w_avg.clone()
    G.train()
    w = G.mapping(z)[:, 0]
    torch.testing.assert_close(G.mapping.w_avg, w.mean(0).lerp(before, 0.995).detach())
    G.eval()
    w_avg = G.mapping.w_avg.clone()
    ws = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(ws[:, :2], w_avg + 0.5 * (G.w_to_ws(G.z_to_w(z))[:, :2] - w_avg))
    torch.testing.assert_close(ws[:, 2:], G.w_to_ws(G.z_to_w(z))[:, 2:])
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(3))
        b = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(3))
        for layer in G.modules():
            if hasattr(layer, "noise_strength"):
                layer.noise_strength.fill_(1.0)
        c = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(4))
        d = G.synthesis(ws, noise_mode="none")
    torch.testing.assert_close(a, b)
    assert (c - d).abs().max() > 1e-3


def test_default_tables_match_the_constructors():
    """``Generator.full_config`` fills in these defaults; they must be the modules' own."""
    for name, default in MAPPING_DEFAULTS.items():
        assert inspect.signature(MappingNetwork).parameters[name].default == default, name
    for name, default in SYNTHESIS_DEFAULTS.items():
        found = [inspect.signature(cls).parameters[name].default for cls in (SynthesisNetwork, SynthesisBlock,
                 SynthesisLayer) if name in inspect.signature(cls).parameters]
        assert found, name
        assert (list(found[0]) if name == "resample_filter" else found[0]) == default, name


@torch.no_grad()
def test_float16_blocks_run_in_half_and_stay_close():
    """``num_fp16_res`` highest resolutions run in float16 unless forced to fp32 (default: fp16 on CUDA only)."""
    torch.manual_seed(0)
    G = Generator(32, 0, 32, 32, 3, synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=2,
                                                          conv_clamp=256, fp16_channels_last=True)).eval()
    dtypes = {}
    for res, block in G.synthesis.blocks():
        block.register_forward_hook(lambda m, i, o, res=res: dtypes.__setitem__(res, o[0].dtype))
    z = torch.randn(4, 32)
    full = G(z)
    assert set(dtypes.values()) == {torch.float32}  # CPU default: fp32 everywhere
    half = G(z, force_fp32=False)
    assert dtypes == {4: torch.float32, 8: torch.float32, 16: torch.float16, 32: torch.float16}
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 1e-2 * full.abs().max()
