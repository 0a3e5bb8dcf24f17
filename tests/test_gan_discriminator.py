"""StyleGAN2 discriminator: official names/shapes, resampling and minibatch-std against NumPy/SciPy oracles."""

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d, correlate2d

from latentdirs.errors import UserError
from latentdirs.gan.discriminator import Discriminator, MinibatchStdLayer
from latentdirs.gan.layers import Conv2dLayer
from latentdirs.gan.resample import downsample2d, setup_filter


def _filter_np() -> np.ndarray:
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float64)
    return f / f.sum()


def test_state_dict_names_and_shapes_match_the_official_layout():
    D = Discriminator(c_dim=0, img_resolution=32, img_channels=3, channel_base=256, channel_max=16)
    # channels: min(256 // res, 16) → 32: 8, 16: 16, 8: 16, 4: 16
    shapes = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    expected = {
        "b32.resample_filter": (4, 4), "b32.fromrgb.weight": (8, 3, 1, 1), "b32.fromrgb.bias": (8,),
        "b32.fromrgb.resample_filter": (4, 4), "b32.conv0.weight": (8, 8, 3, 3), "b32.conv0.bias": (8,),
        "b32.conv1.weight": (16, 8, 3, 3), "b32.conv1.bias": (16,), "b32.skip.weight": (16, 8, 1, 1),
        "b16.conv0.weight": (16, 16, 3, 3), "b16.conv1.weight": (16, 16, 3, 3), "b16.skip.weight": (16, 16, 1, 1),
        "b8.conv1.weight": (16, 16, 3, 3),
        "b4.conv.weight": (16, 17, 3, 3), "b4.conv.bias": (16,), "b4.fc.weight": (16, 256), "b4.fc.bias": (16,),
        "b4.out.weight": (1, 16), "b4.out.bias": (1,),
    }
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert "b32.skip.bias" not in shapes and "b16.fromrgb.weight" not in shapes
    assert not any(k.startswith("b4.mbstd") for k in shapes)
    assert torch.allclose(D.state_dict()["b32.resample_filter"], torch.from_numpy(_filter_np()).float())
    # filter buffers: each of 3 blocks + its conv0/conv1/skip, the first block's fromrgb, the epilogue conv
    assert sum(k.endswith("resample_filter") for k in shapes) == 3 * 4 + 1 + 1


def test_skip_and_orig_and_conditional_layouts():
    skip = Discriminator(0, 16, 1, architecture="skip", channel_base=64, channel_max=8).state_dict()
    assert "b16.fromrgb.weight" in skip and "b8.fromrgb.weight" in skip and "b4.fromrgb.weight" in skip
    assert not any(".skip." in k for k in skip)
    orig = Discriminator(0, 16, 1, architecture="orig", channel_base=64, channel_max=8).state_dict()
    assert "b16.fromrgb.weight" in orig and "b8.fromrgb.weight" not in orig
    cond = Discriminator(5, 16, 1, channel_base=64, channel_max=8)
    names = cond.state_dict()
    assert names["mapping.embed.weight"].shape == (8, 5) and "mapping.fc7.weight" in names
    assert names["b4.out.weight"].shape == (8, 8)  # cmap_dim defaults to the 4×4 channels
    out = cond(torch.randn(4, 1, 16, 16), torch.eye(5)[:4])
    assert out.shape == (4, 1)


def test_downsample2d_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 8, 8))
    ours = downsample2d(torch.from_numpy(x).float(), setup_filter([1, 3, 3, 1])).numpy()
    for n in range(2):
        for c in range(3):
            full = convolve2d(np.pad(x[n, c], 1), _filter_np(), mode="valid")  # pad 1 each side, 4×4 filter
            np.testing.assert_allclose(ours[n, c], full[::2, ::2], atol=1e-5)


def test_strided_3x3_and_1x1_convolutions_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 2, 8, 8))
    for kernel, bias in ((3, True), (1, False)):
        torch.manual_seed(0)
        layer = Conv2dLayer(2, 3, kernel, bias=bias, activation="lrelu", down=2)
        with torch.no_grad():
            if bias:
                layer.bias.normal_()
        ours = layer(torch.from_numpy(x).float(), gain=0.5).detach().numpy()
        w = layer.weight.detach().double().numpy() / np.sqrt(2 * kernel**2)
        pad = 2 if kernel == 3 else 1  # padding for the 4-tap filter (+1 for the 3×3 kernel)
        filtered = np.stack([convolve2d(np.pad(x[0, i], pad), _filter_np(), mode="valid") for i in range(2)])
        if kernel == 1:
            filtered = filtered[:, ::2, ::2]
        expect = np.zeros_like(ours[0], dtype=np.float64)
        for o in range(3):
            acc = sum(correlate2d(filtered[i], w[o, i], mode="valid") for i in range(2))
            acc = acc[::2, ::2] if kernel == 3 else acc
            if bias:
                acc = acc + layer.bias[o].item()
            expect[o] = np.where(acc > 0, acc, 0.2 * acc) * np.sqrt(2) * 0.5
        np.testing.assert_allclose(ours[0], expect, atol=1e-5)


def test_minibatch_std_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4, 3, 3))
    out = MinibatchStdLayer(group_size=4)(torch.from_numpy(x).float()).numpy()
    assert out.shape == (8, 5, 3, 3)
    np.testing.assert_allclose(out[:, :4], x, atol=1e-6)
    for i in range(8):
        members = x[i % 2::2]  # groups interleave: sample i is in group i mod (N / G)
        expect = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[i, 4], expect, rtol=1e-5)
    with pytest.raises(UserError, match="divide"):
        MinibatchStdLayer(group_size=4)(torch.zeros(6, 4, 3, 3))


def test_forward_gradient_and_bad_input():
    D = Discriminator(0, 16, 1, channel_base=64, channel_max=8)
    x = torch.randn(4, 1, 16, 16, requires_grad=True)
    logits = D(x)
    assert logits.shape == (4, 1)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    with pytest.raises(UserError, match="expects images"):
        D(torch.zeros(4, 3, 16, 16))
    with pytest.raises(UserError, match="power of two"):
        Discriminator(0, 24, 1)
