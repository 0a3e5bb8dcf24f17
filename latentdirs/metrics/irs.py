"""IRS: Interventional Robustness Score.

Suter, Miladinović, Schölkopf & Bauer, "Robustly Disentangled Causal Mechanisms: Validating Deep
Representations for Interventional Robustness", ICML 2019 (arXiv 1811.00007); estimator of
disentanglement_lib (``irs.py``, ``irs.gin``).

Factors are discretised into 20 equal-width histogram bins (as disentanglement_lib's gin config
does; factors with at most 20 values keep one bin per value); dead code dims are dropped. For code
dim j and factor k, with groups g of samples sharing the value of (discretised) factor k:

    EMPD_jk = mean_g quantile_q( |z_j − mean_g z_j| over group g ),   q = 0.99
    IRS_jk  = 1 − EMPD_jk / max_n |z_nj − mean z_j|
    IRS     = Σ_j w_j max_k IRS_jk / Σ_j w_j,   w_j = max_n |z_nj − mean z_j|
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ._arrays import check_labelled, constant_dims
from .discrete import histogram_discretize


@dataclass(frozen=True)
class IRSResult:
    score: float
    num_active_dims: int  # non-constant codes (disentanglement_lib's field of that name sums code values)
    per_code: np.ndarray  # [active D]: max_k IRS_jk
    matrix: np.ndarray  # [active D, K]


def irs(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99, num_bins: int = 20) -> IRSResult:
    """IRS of codes ``[N, D]`` w.r.t. integer factors ``[N, K]`` (see the module docstring)."""
    if not 0.0 <= diff_quantile <= 1.0:
        raise UserError(f"diff_quantile must lie in [0, 1], got {diff_quantile}")
    codes, factors = check_labelled(codes, factors)
    latents = codes[:, ~constant_dims(codes)]
    if latents.shape[1] == 0:
        return IRSResult(0.0, 0, np.zeros(0), np.zeros((0, factors.shape[1])))
    groups = histogram_discretize(factors.astype(np.float64), num_bins)
    max_deviation = np.max(np.abs(latents - latents.mean(axis=0)), axis=0)
    deviations = np.zeros((latents.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        values = np.unique(groups[:, k])
        for value in values:
            members = latents[groups[:, k] == value]
            spread = np.abs(members - members.mean(axis=0))
            deviations[:, k] += np.quantile(spread, q=diff_quantile, axis=0)
        deviations[:, k] /= values.size
    matrix = 1.0 - deviations / max_deviation[:, None]
    per_code = matrix.max(axis=1)
    return IRSResult(float(np.average(per_code, weights=max_deviation)), latents.shape[1], per_code, matrix)
