"""Factor classifiers for ground-truth datasets, and the re-render quality measure built on them.

A :class:`FactorClassifier` reads every factor of an image of a procedural dataset; it serves as the
FID-free quality signal of generators trained on those datasets (:func:`rerender_quality`) and as the
ground-truth reader for the evaluation of latent directions (:func:`factor_probabilities`).
"""

from .model import FactorClassifier
from .predict import factor_probabilities, predict_factors
from .quality import (
    RerenderQuality,
    binary_iou,
    classifier_input,
    colour_quality,
    coverage_gaps,
    factor_proportions,
    fitted_colour_quality,
    is_binary_dataset,
    is_layered,
    rerender_quality,
    rerender_shapes,
    resolve_metric,
    shapes_balanced,
    total_variation,
)
from .store import classifier_paths, load_factor_classifier, save_factor_classifier
from .train import build_factor_classifier, train_factor_classifier

__all__ = [
    "FactorClassifier", "RerenderQuality", "binary_iou", "build_factor_classifier", "classifier_input",
    "classifier_paths", "colour_quality", "fitted_colour_quality", "is_layered",
    "coverage_gaps", "factor_probabilities", "factor_proportions", "is_binary_dataset", "load_factor_classifier",
    "predict_factors", "rerender_quality", "rerender_shapes", "resolve_metric", "save_factor_classifier",
    "shapes_balanced",
    "total_variation", "train_factor_classifier",
]
