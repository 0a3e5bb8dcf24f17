"""Modularity and explicitness.

Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS 2018
(arXiv 1802.05312); estimators of disentanglement_lib.

Modularity, from the mutual-information matrix ``m [D, K]`` (codes discretised into 20 equal-width
bins, plug-in MI in nats, factors as given):

    δ_i = (Σ_k m_ik² − max_k m_ik²) / (max_k m_ik² · (K − 1)),   modularity = mean_i (1 − δ_i)

A code whose mutual information with every factor is 0 (e.g. a dead dim) scores 0 and stays in the
mean, as in disentanglement_lib.

Explicitness: codes standardised with the training mean and standard deviation (ddof=0); per factor
a ``LogisticRegression()`` with scikit-learn's defaults (lbfgs, multinomial, C=1, 100 iterations) is
fitted on all codes, and scored by the macro ROC-AUC of its class probabilities against one-hot
labels, on the training and on the test set; the score is the mean over factors. Dead code dims
(zero training std, for which disentanglement_lib divides 0 by 0 and fails) are left out. Note that
disentanglement_lib was written for scikit-learn ≤ 0.21, whose default was liblinear one-vs-rest:
explicitness depends on the scikit-learn version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from ..errors import UserError
from ._arrays import check_labelled, check_train_test, constant_dims
from ._parallel import run_jobs
from .discrete import discrete_mutual_info, histogram_discretize


def modularity_from_mutual_info(mutual_info: np.ndarray) -> float:
    """Modularity from a mutual-information matrix ``[D, K]`` (see the module docstring)."""
    squared = np.square(mutual_info)
    largest = squared.max(axis=1)
    num_factors = squared.shape[1]
    per_code = np.zeros(squared.shape[0])
    alive = largest > 0
    if num_factors == 1:
        per_code[alive] = 1.0
    else:
        delta = (squared[alive].sum(axis=1) - largest[alive]) / (largest[alive] * (num_factors - 1.0))
        per_code[alive] = 1.0 - delta
    return float(np.mean(per_code))


def modularity(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Modularity of codes ``[N, D]`` w.r.t. integer factors ``[N, K]`` (20 histogram bins by default)."""
    if num_bins < 1:
        raise UserError(f"num_bins must be >= 1, got {num_bins}")
    codes, factors = check_labelled(codes, factors)
    return modularity_from_mutual_info(discrete_mutual_info(histogram_discretize(codes, num_bins), factors))


@dataclass(frozen=True)
class Explicitness:
    """Explicitness (mean macro ROC-AUC over factors) on both splits, and per factor."""

    train: float
    test: float
    per_factor_train: np.ndarray
    per_factor_test: np.ndarray


def standardize(codes_train: np.ndarray, codes_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both splits with the training mean/std (ddof=0), dropping dead training dims."""
    keep = ~constant_dims(codes_train)
    train, test = codes_train[:, keep], codes_test[:, keep]
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (test - mean) / std


def explicitness_per_factor(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Macro ROC-AUC (train, test) of a default ``LogisticRegression`` predicting one factor.

    Classes are those seen in training; a class absent from a split (no positive or no negative
    sample) is left out of that split's average. A factor with one training value, or codes with no
    live dim, give the chance level 0.5.
    """
    classes = np.unique(y_train)
    if classes.size < 2 or x_train.shape[1] == 0:
        return 0.5, 0.5
    model = LogisticRegression().fit(x_train, y_train)
    return _macro_auc(y_train, model.predict_proba(x_train), model.classes_), _macro_auc(
        y_test, model.predict_proba(x_test), model.classes_
    )


def _macro_auc(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    scores = []
    for column, value in enumerate(classes):
        positive = labels == value
        if positive.any() and not positive.all():
            scores.append(roc_auc_score(positive.astype(np.int64), probabilities[:, column]))
    return float(np.mean(scores)) if scores else 0.5


def explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_jobs: int | None = None,
) -> Explicitness:
    """Explicitness of codes w.r.t. integer factors (see the module docstring); parallel over factors."""
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    x_train, x_test = standardize(codes_train, codes_test)
    jobs = [
        partial(explicitness_per_factor, x_train, factors_train[:, k], x_test, factors_test[:, k])
        for k in range(factors_train.shape[1])
    ]
    return explicitness_from_scores(run_jobs(jobs, n_jobs))


def explicitness_from_scores(scores: list[tuple[float, float]]) -> Explicitness:
    per_factor = np.array(scores, dtype=np.float64).reshape(-1, 2)
    return Explicitness(
        train=float(per_factor[:, 0].mean()),
        test=float(per_factor[:, 1].mean()),
        per_factor_train=per_factor[:, 0],
        per_factor_test=per_factor[:, 1],
    )
