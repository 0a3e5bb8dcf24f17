"""Ground-truth datasets: procedural renderers and loaders of the original files."""

from .base import GroundTruthData

__all__ = ["GroundTruthData"]
