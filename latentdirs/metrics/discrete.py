"""Histogram discretisation and plug-in (discrete) mutual information, as disentanglement_lib uses them.

Discretisation (``histogram_discretize``): per code dim, ``num_bins`` equal-width bins between the
sample minimum and maximum (the edges of ``numpy.histogram``), labels ``1 … num_bins`` from
``numpy.digitize`` over the first ``num_bins`` edges: a value on an interior edge goes to the upper
bin and the maximum lands in the last bin; a constant dim falls into a single bin.

Mutual information (``mutual_info``): the plug-in estimate in nats from the contingency table
``n_ab`` (marginals ``n_a``, ``n_b``) of two label vectors of length N,

    I(A; B) = Σ_ab (n_ab / N) · log(N · n_ab / (n_a · n_b)),

evaluated term by term in the same order and with the same rounding rules as
``sklearn.metrics.mutual_info_score`` (terms below machine epsilon set to 0, result clipped at 0),
so the numbers agree bit for bit. The entropy of a factor is ``I(y; y)``.
"""

from __future__ import annotations

import math

import numpy as np


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin labels ``[N, D]`` (int64, ``1 … num_bins``) of codes ``[N, D]``, equal-width bins per dim."""
    labels = np.empty(codes.shape, dtype=np.int64)
    for dim in range(codes.shape[1]):
        column = codes[:, dim]
        edges = np.histogram_bin_edges(column, bins=num_bins)
        labels[:, dim] = np.digitize(column, edges[:-1])
    return labels


def dense_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary labels ``[N]`` to ``0 … L−1`` in sorted order; returns (indices, L)."""
    values, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(values.size)


def mutual_info(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> float:
    """Plug-in mutual information (nats) of two dense label vectors from :func:`dense_labels`.

    ``a`` plays the role of ``labels_true`` of ``sklearn.metrics.mutual_info_score`` (rows of the
    contingency table) and ``b`` of ``labels_pred``.
    """
    (index_a, size_a), (index_b, size_b) = a, b
    if size_a == 1 or size_b == 1:
        return 0.0
    n = index_a.size
    table = np.bincount(index_a * size_b + index_b, minlength=size_a * size_b).reshape(size_a, size_b)
    rows, cols = np.nonzero(table)
    counts = table[rows, cols]
    row_sums = table.sum(axis=1)
    col_sums = table.sum(axis=0)
    probabilities = counts / n
    log_outer = -np.log(row_sums[rows] * col_sums[cols]) + math.log(row_sums.sum()) + math.log(col_sums.sum())
    terms = probabilities * (np.log(counts) - math.log(n)) + probabilities * log_outer
    terms = np.where(np.abs(terms) < np.finfo(terms.dtype).eps, 0.0, terms)
    return float(max(terms.sum(), 0.0))


def discrete_mutual_info(code_labels: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Matrix ``[D, K]``: entry (i, j) is the mutual information of factor j and discretised code i."""
    codes_dense = [dense_labels(code_labels[:, i]) for i in range(code_labels.shape[1])]
    factors_dense = [dense_labels(factors[:, j]) for j in range(factors.shape[1])]
    matrix = np.zeros((len(codes_dense), len(factors_dense)))
    for i, code in enumerate(codes_dense):
        for j, factor in enumerate(factors_dense):
            matrix[i, j] = mutual_info(factor, code)
    return matrix


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy ``[K]`` (nats) of each factor column, ``H(y) = I(y; y)``."""
    dense = [dense_labels(factors[:, j]) for j in range(factors.shape[1])]
    return np.array([mutual_info(column, column) for column in dense])
