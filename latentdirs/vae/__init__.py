"""Regularized VAEs: the disentanglement_lib architecture, its trainer and run directories.

The objectives (β-VAE, AnnealedVAE, β-TCVAE, FactorVAE, DIP-VAE-I/II) live in the loss registry
(:mod:`latentdirs.losses.vae_objectives`); :mod:`.trainer` composes one with any regularizers.
"""

from .models import VAE, Decoder, Encoder, reparameterize
from .reconstruction import RECONSTRUCTIONS, bernoulli_reconstruction, gaussian_reconstruction

__all__ = [
    "VAE", "Decoder", "Encoder", "reparameterize",
    "RECONSTRUCTIONS", "bernoulli_reconstruction", "gaussian_reconstruction",
]
