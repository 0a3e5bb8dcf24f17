"""Training StyleGAN2 generators on ground-truth datasets (``latentdirs train-gan``)."""

from .config import GANTrainConfig
from .loop import GANTrainer, train_gan
from .quality import QualityProbe, generator_samples, load_quality_probe

__all__ = ["GANTrainConfig", "GANTrainer", "QualityProbe", "generator_samples", "load_quality_probe", "train_gan"]
