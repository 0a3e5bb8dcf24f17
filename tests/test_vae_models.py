"""The disentanglement_lib architecture: shapes, parameter count, TF "same" padding, reconstruction losses."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentdirs.vae import VAE, Decoder, Encoder, bernoulli_reconstruction, gaussian_reconstruction, reparameterize


def tf_same_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow's padding="same": total pad max((ceil(n/s) − 1)·s + k − n, 0), the extra pixel at the end."""
    k, n = weight.shape[-1], x.shape[-1]
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    before = total // 2
    return F.conv2d(F.pad(x, (before, total - before, before, total - before)), weight, stride=stride)


@pytest.mark.parametrize("channels", [1, 3])
def test_encoder_decoder_shapes(channels):
    torch.manual_seed(0)
    encoder, decoder = Encoder(10, channels), Decoder(10, channels)
    sizes = []
    for layer in list(encoder.features) + list(decoder.deconvs):
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            layer.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
    x = torch.rand(5, channels, 64, 64)
    mu, logvar = encoder(x)
    logits = decoder(mu)
    assert mu.shape == logvar.shape == (5, 10)
    assert logits.shape == (5, channels, 64, 64)
    assert sizes == [(32, 32, 32), (32, 16, 16), (64, 8, 8), (64, 4, 4),
                     (64, 8, 8), (32, 16, 16), (32, 32, 32), (channels, 64, 64)]
    assert isinstance(decoder.fc_in, nn.Linear) and (decoder.fc_in.in_features, decoder.fc_in.out_features) == (10, 256)


def test_parameter_count_matches_the_layer_list():
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    dense = lambda nin, nout: nin * nout + nout  # noqa: E731
    encoder = conv(1, 32, 4) + conv(32, 32, 4) + conv(32, 64, 2) + conv(64, 64, 2)
    encoder += dense(1024, 256) + 2 * dense(256, 10)
    decoder = dense(10, 256) + dense(256, 1024) + conv(64, 64, 4) + conv(64, 32, 4) + conv(32, 32, 4) + conv(32, 1, 4)
    model = VAE.build(10, 1)
    assert sum(p.numel() for p in model.encoder.parameters()) == encoder
    assert sum(p.numel() for p in model.decoder.parameters()) == decoder


def test_initialization_is_tensorflows_glorot_uniform_with_zero_biases():
    """TF kernels: conv [k, k, in, out], transposed conv [k, k, out, in], dense [in, out]; Glorot's limit
    √(6 / (fan_in + fan_out)) with fan_in = k²·shape[-2], fan_out = k²·shape[-1] (TF1's defaults)."""
    torch.manual_seed(2)
    model = VAE.build(10, 1)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)]
    tf_kernels = [(4, 4, 1, 32), (4, 4, 32, 32), (2, 2, 32, 64), (2, 2, 64, 64), (1024, 256), (256, 10), (256, 10),
                  (10, 256), (256, 1024), (4, 4, 64, 64), (4, 4, 32, 64), (4, 4, 32, 32), (4, 4, 1, 32)]
    assert len(layers) == len(tf_kernels)
    for layer, kernel in zip(layers, tf_kernels, strict=True):
        field = int(np.prod(kernel[:-2]))
        limit = np.sqrt(6.0 / (field * kernel[-2] + field * kernel[-1]))
        weight = layer.weight.detach().numpy()
        assert weight.size == np.prod(kernel)
        assert np.abs(weight).max() <= limit and np.abs(weight).max() > 0.97 * limit
        assert weight.std() == pytest.approx(limit / np.sqrt(3.0), rel=0.1)
        assert not layer.bias.detach().any()


def test_encoder_convolutions_equal_tensorflow_same_padding():
    torch.manual_seed(1)
    encoder = Encoder(10, 1)
    x = torch.rand(2, 1, 64, 64)
    for layer in encoder.features:
        if isinstance(layer, nn.Conv2d):
            expected = tf_same_conv(x, layer.weight, 2) + layer.bias[None, :, None, None]
            torch.testing.assert_close(layer(x), expected)
            x = torch.relu(expected)


def test_transposed_convolutions_are_the_adjoint_of_tensorflow_same_convolutions():
    # TF's conv2d_transpose(padding="same") is the gradient (adjoint) of conv2d(padding="same").
    torch.manual_seed(2)
    decoder = Decoder(10, 3)
    for layer in decoder.deconvs:
        if isinstance(layer, nn.ConvTranspose2d):
            cin, cout = layer.in_channels, layer.out_channels
            y, x = torch.randn(2, cin, 8, 8, dtype=torch.float64), torch.randn(2, cout, 16, 16, dtype=torch.float64)
            weight = layer.weight.detach().double()
            up = F.conv_transpose2d(y, weight, stride=2, padding=layer.padding)
            assert up.shape == x.shape
            down = tf_same_conv(x, weight, 2)
            torch.testing.assert_close((up * x).sum(), (y * down).sum())


def test_decoder_free_vae():
    model = VAE.build(4, 1, with_decoder=False)
    mu, logvar, z, logits = model(torch.rand(3, 1, 64, 64), torch.Generator().manual_seed(0))
    assert logits is None and z.shape == (3, 4)
    with pytest.raises(RuntimeError, match="no decoder"):
        model.decode(z)


def test_reparameterize_uses_the_generator_and_the_variance():
    mu, logvar = torch.zeros(20000, 1), torch.full((20000, 1), np.log(4.0))
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert abs(a.std().item() - 2.0) < 0.05


def test_reconstruction_losses_against_numpy():
    rng = np.random.RandomState(0)
    logits = rng.randn(3, 2, 4, 4)
    x = rng.rand(3, 2, 4, 4)
    p = 1 / (1 + np.exp(-logits))
    bernoulli = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(1).mean()
    gaussian = ((x - p) ** 2).reshape(3, -1).sum(1).mean()
    t = lambda a: torch.tensor(a)  # noqa: E731
    assert bernoulli_reconstruction(t(logits), t(x)).item() == pytest.approx(bernoulli, rel=1e-10)
    assert gaussian_reconstruction(t(logits), t(x)).item() == pytest.approx(gaussian, rel=1e-10)
