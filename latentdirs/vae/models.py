"""The disentanglement_lib convolutional encoder and decoder, and the VAE that holds them.

Architecture of Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations" (ICML 2019; ``conv_encoder`` / ``deconv_decoder`` of
disentanglement_lib), itself row 3 of Table 1 in Higgins et al., "β-VAE" (ICLR 2017), for 64×64 inputs:

    encoder  C×64×64 → conv 32 k4 s2 → 32×32×32 → conv 32 k4 s2 → 32×16×16
             → conv 64 k2 s2 → 64×8×8 → conv 64 k2 s2 → 64×4×4 → fc 256 → (μ, log σ²) ∈ R^D each
    decoder  z ∈ R^D → fc 256 → fc 1024 → 64×4×4 → deconv 64 k4 s2 → 8×8 → deconv 32 → 16×16
             → deconv 32 → 32×32 → deconv C → C×64×64 (logits)

ReLU after every layer except the heads and the last deconvolution. TensorFlow's ``padding="same"``
pads a stride-2 convolution by ``max((out−1)·2 + k − in, 0)`` in total, split evenly here
(k4: 1 each side, k2: none); its transposed "same" convolution doubles the size, which is
``ConvTranspose2d(k=4, s=2, padding=1)``. The flatten/reshape use PyTorch's C×H×W order (TF used
H×W×C; this only permutes the weights of the adjacent dense layers).

Images are NCHW floats in [0, 1]; the decoder returns logits, the picture is ``sigmoid(logits)``
for both the Bernoulli and the Gaussian reconstruction loss (as in disentanglement_lib).

Initialization as TensorFlow 1's layers (no initializer is passed in disentanglement_lib, so
``tf.get_variable``'s defaults apply): Glorot-uniform weights, U(±√(6 / (fan_in + fan_out))) with the
kernel's receptive field counted in both fans, and zero biases (:func:`glorot_init_`). PyTorch's own
default, U(±1/√fan_in) for weights and biases, is 2–3× off per layer and starts biases away from 0.
"""

from __future__ import annotations

import torch
from torch import nn


def glorot_init_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases for every linear and (transposed) convolution layer of
    ``module``, in place (TensorFlow 1's defaults; the sum fan_in + fan_out is the same for a transposed
    convolution in either layout). Returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class Encoder(nn.Module):
    """x ``[B, C, 64, 64]`` in [0, 1] → (μ ``[B, D]``, log σ² ``[B, D]``) of a diagonal Gaussian q(z|x)."""

    def __init__(self, latent_dim: int = 10, channels: int = 1) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.channels = channels
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=2, stride=2, padding=0), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=2, stride=2, padding=0), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
        )
        self.mean = nn.Linear(256, latent_dim)
        self.logvar = nn.Linear(256, latent_dim)
        glorot_init_(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.features(x)
        return self.mean(hidden), self.logvar(hidden)


class Decoder(nn.Module):
    """z ``[B, D]`` → logits ``[B, C, 64, 64]``; the first layer is ``fc_in`` (latent → 256)."""

    def __init__(self, latent_dim: int = 10, channels: int = 1) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.channels = channels
        self.fc_in = nn.Linear(latent_dim, 256)
        self.fc_hidden = nn.Linear(256, 64 * 4 * 4)
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(64, 64, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, kernel_size=4, stride=2, padding=1),
        )
        glorot_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.fc_hidden(torch.relu(self.fc_in(z))))
        return self.deconvs(hidden.view(-1, 64, 4, 4))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """z = μ + exp(½ log σ²) ⊙ ε, ε ~ N(0, I) drawn from ``generator`` (differentiable in μ, log σ²)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """An encoder and an optional decoder (``decoder=None``: decoder-free training of the encoder)."""

    def __init__(self, encoder: Encoder, decoder: Decoder | None) -> None:
        super().__init__()
        if decoder is not None and decoder.latent_dim != encoder.latent_dim:
            raise ValueError(f"encoder latent_dim {encoder.latent_dim} != decoder latent_dim {decoder.latent_dim}")
        self.encoder = encoder
        self.decoder = decoder

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    @classmethod
    def build(cls, latent_dim: int = 10, channels: int = 1, with_decoder: bool = True) -> VAE:
        decoder = Decoder(latent_dim, channels) if with_decoder else None
        return cls(Encoder(latent_dim, channels), decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise RuntimeError("this VAE has no decoder (trained decoder-free)")
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(μ, log σ², z, logits or None) for a batch, z sampled with ``generator``."""
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar, generator)
        logits = self.decoder(z) if self.decoder is not None else None
        return mu, logvar, z, logits
