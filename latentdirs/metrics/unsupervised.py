"""Unsupervised scores of a representation: Gaussian total correlation, Gaussian Wasserstein
correlation (and its normalised form), and the mean pairwise mutual information of the code dims.

Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations", ICML 2019 (arXiv 1811.12359), Sec. 5 / App.; estimators of disentanglement_lib.

With Σ the sample covariance (ddof=1) of the codes and diag(Σ) its diagonal:

    total correlation     TC  = ½ (Σ_i log Σ_ii − log det Σ)       (KL(N(0,Σ) ‖ N(0, diag Σ)))
    Wasserstein corr.     W   = 2 tr Σ − 2 tr (Σ · diag(Σ))^½      (squared W2 to the product of marginals)
    normalised            W_n = W / tr Σ
    mutual-info score         = mean over ordered pairs i ≠ j of I(z_i; z_j), codes discretised
                                into 20 equal-width bins

Dead (constant) code dims are left out of Σ for TC and W: such a dim is independent of the others
and contributes 0 in the limit, whereas disentanglement_lib takes log 0 and returns NaN for TC (its W
stays finite and agrees with ours). tr Σ in W_n includes every dim (dead ones add 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..errors import UserError
from ._arrays import check_codes, constant_dims
from .discrete import dense_labels, histogram_discretize, mutual_info


@dataclass(frozen=True)
class UnsupervisedScores:
    gaussian_total_correlation: float
    gaussian_wasserstein_correlation: float
    gaussian_wasserstein_correlation_norm: float
    mutual_info_score: float

    def scores(self) -> dict[str, float]:
        return dict(self.__dict__)


def gaussian_total_correlation(covariance: np.ndarray) -> float:
    """``½ (Σ log diag Σ − log det Σ)`` of a covariance matrix with positive diagonal."""
    return float(0.5 * (np.sum(np.log(np.diag(covariance))) - np.linalg.slogdet(covariance)[1]))


def gaussian_wasserstein_correlation(covariance: np.ndarray) -> float:
    """``2 tr Σ − 2 tr sqrtm(Σ · diag(Σ)[:, None])`` (real part)."""
    root = scipy.linalg.sqrtm(covariance * np.diag(covariance)[:, None])
    return float(2 * np.trace(covariance) - 2 * np.real(np.trace(root)))


def mutual_info_score(code_labels: np.ndarray) -> float:
    """Mean pairwise mutual information of discretised code dims ``[N, D]`` (0 with a single dim)."""
    dims = code_labels.shape[1]
    if dims < 2:
        return 0.0
    dense = [dense_labels(code_labels[:, i]) for i in range(dims)]
    total = np.zeros((dims, dims))
    for i in range(dims):
        for j in range(dims):
            if i != j:
                total[i, j] = mutual_info(dense[i], dense[j])
    return float(np.sum(total) / (dims**2 - dims))


def unsupervised_from_labels(codes: np.ndarray, code_labels: np.ndarray) -> UnsupervisedScores:
    """The scores from checked codes ``[N, D]`` and their histogram labels (shared with MIG)."""
    covariance = np.atleast_2d(np.cov(codes.T))
    live = ~constant_dims(codes)
    trace = float(np.trace(covariance))
    if live.any():
        live_covariance = covariance[np.ix_(live, live)]
        total_correlation = gaussian_total_correlation(live_covariance)
        wasserstein = gaussian_wasserstein_correlation(live_covariance)
    else:
        total_correlation = wasserstein = 0.0
    return UnsupervisedScores(
        gaussian_total_correlation=total_correlation,
        gaussian_wasserstein_correlation=wasserstein,
        gaussian_wasserstein_correlation_norm=wasserstein / trace if trace > 0 else 0.0,
        mutual_info_score=mutual_info_score(code_labels),
    )


def unsupervised(codes: np.ndarray, num_bins: int = 20) -> UnsupervisedScores:
    """Unsupervised scores of codes ``[N, D]`` (no factors needed); see the module docstring."""
    if num_bins < 1:
        raise UserError(f"num_bins must be >= 1, got {num_bins}")
    codes = check_codes(codes)
    return unsupervised_from_labels(codes, histogram_discretize(codes, num_bins))
