"""latentdirs: disentangled representations — regularized VAEs and GAN latent-direction discovery."""

__version__ = "0.1.0"
