"""StyleGAN2 in plain PyTorch, weight-compatible with stylegan2-ada-pytorch, and safe loaders.

``load_generator(path)`` reads StyleGAN2-ADA pickles, rosinality checkpoints and our own
safetensors + JSON files without executing anything stored in them; ``save_generator`` writes ours.
"""

from .generator import Generator
from .loaders import detect_format, generator_fingerprint, load_generator, save_generator

__all__ = ["Generator", "detect_format", "generator_fingerprint", "load_generator", "save_generator"]
