"""SAP score (Separated Attribute Predictability).

Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", ICLR 2018 (arXiv 1711.00848), Sec. 3; estimator of disentanglement_lib.

Score matrix ``S [D, K]``: for discrete factors (default) ``S_ik`` is the test accuracy of a linear
SVM ``LinearSVC(C=0.01, class_weight="balanced")`` fitted on the single code dim i to predict factor
k; for continuous factors (any real values; no test split needed) it is the squared correlation
cov(z_i, v_k)² / (var z_i · var v_k) on the training set (0 where var z_i ≤ 1e-12). Then

    SAP = (1/K) Σ_k [ S_(1)k − S_(2)k ]   (largest minus second largest entry of column k).

The one-feature SVM fits are deterministic (``dual="auto"``, scikit-learn's default since 1.5, picks
the primal solver), so no global random state is read; ``random_state=0`` makes that explicit.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.svm import LinearSVC

from ..errors import UserError
from ._arrays import check_codes, check_real_factors, check_train_test
from ._parallel import run_jobs


def sap_column(codes_train: np.ndarray, y_train: np.ndarray, codes_test: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Column ``[D]`` of the discrete score matrix for one factor: accuracy of a 1-D SVM per code dim."""
    column = np.zeros(codes_train.shape[1])
    if np.unique(y_train).size < 2:
        return (y_test == y_train[0]).mean() + column
    for i in range(codes_train.shape[1]):
        classifier = LinearSVC(C=0.01, class_weight="balanced", dual="auto", random_state=0)
        classifier.fit(codes_train[:, i : i + 1], y_train)
        column[i] = np.mean(classifier.predict(codes_test[:, i : i + 1]) == y_test)
    return column


def continuous_score_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Squared correlations ``[D, K]`` of each code dim with each factor (0 for dims of variance ≤ 1e-12)."""
    centered_codes = codes - codes.mean(axis=0)
    centered_factors = factors - factors.mean(axis=0)
    denominator = codes.shape[0] - 1
    covariance = centered_codes.T @ centered_factors / denominator
    var_codes = (centered_codes**2).sum(axis=0) / denominator
    var_factors = (centered_factors**2).sum(axis=0) / denominator
    scores = np.zeros_like(covariance)
    live = var_codes > 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = covariance[live] ** 2 / (var_codes[live, None] * var_factors[None, :])
    scores[live] = np.where(var_factors[None, :] > 0, ratio, 0.0)
    return scores


def sap_from_score_matrix(scores: np.ndarray) -> float:
    """Mean over factors of the gap between the two largest entries of each column of ``[D, K]``."""
    ranked = np.sort(scores, axis=0)
    second = ranked[-2] if ranked.shape[0] > 1 else np.zeros(ranked.shape[1])
    return float(np.mean(ranked[-1] - second))


def sap_score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    continuous_factors: bool = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Score matrix ``[D, K]`` of SAP (see the module docstring); SVM fits run in parallel over factors.

    Discrete factors need the test split; continuous ones use the training split alone."""
    if continuous_factors:
        codes_train = check_codes(codes_train, "codes_train")
        factors_train = check_real_factors(factors_train, len(codes_train), "factors_train")
        return continuous_score_matrix(codes_train, factors_train)
    if codes_test is None or factors_test is None:
        raise UserError("sap with discrete factors needs a test split (codes_test and factors_test)")
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    jobs = [
        partial(sap_column, codes_train, factors_train[:, k], codes_test, factors_test[:, k])
        for k in range(factors_train.shape[1])
    ]
    return np.stack(run_jobs(jobs, n_jobs), axis=1)


def sap(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    continuous_factors: bool = False,
    n_jobs: int | None = None,
) -> float:
    """SAP score of codes ``[N, D]`` w.r.t. integer factors ``[N, K]`` (defaults of disentanglement_lib).

    With ``continuous_factors=True`` the factors may be any real values and only the training split is
    used (squared correlations).
    """
    return sap_from_score_matrix(
        sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors, n_jobs)
    )
