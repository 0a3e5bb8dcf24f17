"""Mutual Information Gap (MIG).

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational Autoencoders",
NeurIPS 2018 (arXiv 1802.04942); estimator of disentanglement_lib (Locatello et al., ICML 2019).

    MIG = (1/K) Σ_k [ I(z_(1); v_k) − I(z_(2); v_k) ] / H(v_k)

where z_(1), z_(2) are the code dims with the largest and second largest mutual information with
factor v_k. Codes are discretised into ``num_bins`` equal-width bins per dim (20 by default); factors
are used as given (integer values, not discretised). Mutual information and entropy are plug-in
estimates in nats (see :mod:`latentdirs.metrics.discrete`).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ._arrays import check_labelled
from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize


def mig_per_factor(mutual_info: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """Normalised gap ``[K]`` from a mutual-information matrix ``[D, K]`` and factor entropies ``[K]``.

    A factor with zero entropy (a single value) has no defined gap: NaN. With one code dim the
    second largest mutual information is taken as 0.
    """
    ranked = np.sort(mutual_info, axis=0)[::-1]
    second = ranked[1] if ranked.shape[0] > 1 else np.zeros(ranked.shape[1])
    gap = ranked[0] - second
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(entropy > 0, gap / np.where(entropy > 0, entropy, 1.0), np.nan)


def mig_from_mutual_info(mutual_info: np.ndarray, entropy: np.ndarray) -> float:
    """MIG: mean of :func:`mig_per_factor` over the factors that vary (NaN when none does)."""
    per_factor = mig_per_factor(mutual_info, entropy)
    varying = ~np.isnan(per_factor)
    return float(np.mean(per_factor[varying])) if varying.any() else float("nan")


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Mutual Information Gap of codes ``[N, D]`` w.r.t. integer factors ``[N, K]``.

    Defaults as disentanglement_lib's ``mig.gin``: 20 equal-width histogram bins per code dim.
    Equals ``mig._compute_mig`` of disentanglement_lib on the transposed arrays; a factor that
    takes a single value is left out of the mean (disentanglement_lib would return NaN).
    """
    if num_bins < 1:
        raise UserError(f"num_bins must be >= 1, got {num_bins}")
    codes, factors = check_labelled(codes, factors)
    mutual_info = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return mig_from_mutual_info(mutual_info, discrete_entropy(factors))
