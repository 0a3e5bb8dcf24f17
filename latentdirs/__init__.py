"""latentdirs: disentangled representations — regularized VAEs and GAN latent-direction discovery.

Public API (imported lazily, so ``import latentdirs`` stays cheap):
``load_generator``, ``save_generator`` (StyleGAN2 files), ``get_dataset`` (ground-truth datasets),
``losses`` (the loss registry), ``UserError``; kernels and metrics live in their subpackages.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "load_generator": "latentdirs.gan",
    "save_generator": "latentdirs.gan",
    "get_dataset": "latentdirs.data",
    "UserError": "latentdirs.errors",
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'latentdirs' has no attribute {name!r}")


__all__ = ["__version__", *_PUBLIC]
