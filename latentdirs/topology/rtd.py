"""Representation Topology Divergence (RTD) between two point clouds, differentiable.

Barannikov, Trofimov, Balabin, Burnaev et al., "Representation Topology Divergence: A Method for
Comparing Neural Network Representations", ICML 2022; the min/max form and its use as a loss follow
Trofimov et al., "Learning Topology-Preserving Data Representations" (RTD-AE, ICLR 2023) and
Balabin, Voronkova et al., "Disentanglement Learning via Topology" (TopDis, ICML 2024).

Two clouds with the same ``N`` points give distance matrices ``A`` and ``B`` (``N×N``), each
divided by its own ``quantile`` (0.9) of all ``N²`` entries (the quantile is a constant, no
gradient). With ``Z`` the ``N×N`` zero matrix, the R-cross matrices on ``2N`` vertices are::

    M_min(A→B) = [[Z, Aᵀ], [A, min(A, B)]]        M_max(A→B) = [[Z, max(A, B)ᵀ], [max(A, B), B]]

(vertices ``0..N−1`` are the zero copy). Their Vietoris–Rips H1 barcodes measure how much the
topology of one cloud disagrees with the other; H0 is trivial. With bars ``(b_k, d_k)`` sorted by
length and the ``card`` longest kept::

    RTD(A→B) = Σ_k (d_k − b_k)^p  over the bars of M_min(A→B)  +  the same over M_max(A→B)
    RTD_sym(A, B) = ½ [RTD(A→B) + RTD(B→A)]                   (four PH computations)

Each bar's endpoints are read from the torch matrices at its birth edge and at the longest edge of
its death triangle, so gradients flow into ``A`` and ``B``.

``variant="official"`` reproduces the released TopDis/RTD-AE code, which reads the min-mode deaths
and the max-mode births from a copy of the R-cross matrix whose mixed block (``min(·,·)`` resp.
``max(·,·)``) is replaced by the *second* argument's distances ``B`` (its "immovable" option).
The pairs are the same; only those endpoints differ: where the death edge of a min-mode bar lies
in the ``min`` block, the official value is ``B[e] ≥ min(A, B)[e]``, and a max-mode birth edge in
the ``max`` block reads ``B[e] ≤ max(A, B)[e]``. So official ≥ exact, and it is not symmetric in
its arguments. How much lower exact is depends on the clouds (``scripts/compare_rtd_readouts.py``):
3–4 % on average on the VAE ``topdis`` term's clouds (dSprites batches of 64 decoded before/after a
latent shift, 53–59 points in 4096 dimensions; up to 9 % on single batches), 2.6 % on one dSprites batch
whose ``posX`` moved (``scripts/bench_topdis.py``), 7 / 12 / 22 % on random clouds of 56 points in 300
dimensions with y = x + 0.2·noise, x + 0.5·noise, or independent. A weight tuned on one read-out (the
TopDis paper's γ: official) does not carry over to the other. In min-mode the difference arises exactly when
a death triangle's longest edge is tied between a cross edge ``A[e]`` and the min-block edge with
``min(A, B)[e] = A[e]``: which of the two is read decides the value. giotto-ph reports the oldest
of tied edges in Ripser's reverse-colexicographic order, which is also the first maximum
``np.argmax`` finds over the triangle's vertices listed in decreasing order, as the released code
does; tests check the official values against a plain reduction with that rule.

Normalization as in the released code: the quantile of all ``N²`` entries (diagonal zeros
included, linear interpolation). Where it is 0 the released code divides by 1e-5; here by the
largest distance instead (by 1 when all are 0: RTD is then 0 with a zero gradient, never NaN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from .persistence import PersistencePairs, check_distance_matrix, submit_h1_pairs

MODES = ("symmetric", "forward", "backward")
VARIANTS = ("exact", "official")
FILTRATIONS = ("minmax", "min")


def pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``[N, N]`` between the rows of ``points`` (``[N, ...]``, flattened).

    Computed from coordinate differences (no Gram-matrix cancellation); the gradient of a zero
    distance is 0.
    """
    flat = points.reshape(points.shape[0], -1)
    return torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")


def _assemble(cross, lower):
    """``[[0, crossᵀ], [cross, lower]]`` for torch tensors or numpy arrays."""
    if isinstance(cross, torch.Tensor):
        zero = torch.zeros_like(cross)
        return torch.cat([torch.cat([zero, cross.T], 1), torch.cat([cross, lower], 1)], 0)
    zero = np.zeros_like(cross)
    return np.block([[zero, cross.T], [cross, lower]])


def r_cross_matrix(a, b, kind: str = "min"):
    """The R-cross matrix ``M_min(A→B)`` or ``M_max(A→B)`` (``2N×2N``), torch or numpy in, same out."""
    if kind == "min":
        low = torch.minimum(a, b) if isinstance(a, torch.Tensor) else np.minimum(a, b)
        return _assemble(a, low)
    if kind == "max":
        high = torch.maximum(a, b) if isinstance(a, torch.Tensor) else np.maximum(a, b)
        return _assemble(high, b)
    raise UserError(f"R-cross kind must be 'min' or 'max', got {kind!r}")


def quantile_scale(dist: np.ndarray, quantile: float | None) -> float:
    """The normalizer of a distance matrix: its ``quantile`` over all ``N²`` entries (linear
    interpolation, as ``numpy.quantile``), falling back to the largest entry when that is 0, and
    to 1 when every distance is 0 (all points equal: RTD is then 0). ``None``: no normalization."""
    if quantile is None:
        return 1.0
    scale = float(np.quantile(dist, quantile))
    if scale <= 0.0:
        scale = float(dist.max())
    return scale if scale > 0.0 else 1.0


def r_cross_barcode(a, b, kind: str = "min", quantile: float | None = None, n_threads: int = 1) -> PersistencePairs:
    """H1 pairs of ``M_kind(A→B)`` for distance matrices ``a``, ``b`` (array-likes ``[N, N]``).

    With ``quantile`` each matrix is first divided by its own quantile (see :func:`quantile_scale`).
    Edge indices refer to the ``2N`` vertices of the R-cross matrix (``0..N−1``: the zero copy).
    """
    a_np, b_np = _checked_pair(a, b)
    a_np = a_np / quantile_scale(a_np, quantile)
    b_np = b_np / quantile_scale(b_np, quantile)
    return submit_h1_pairs([r_cross_matrix(a_np, b_np, kind)], workers=1, n_threads=n_threads, checked=True)[0].result()


@dataclass(frozen=True)
class _Filtration:
    """One of the (up to four) PH computations of an RTD: ``M_kind(first→second)``."""

    kind: str  # "min" | "max"
    forward: bool  # True: first=A, second=B; False: first=B, second=A


def _checked_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a_np = check_distance_matrix(_to_numpy(a), "rtd: first distance matrix")
    b_np = check_distance_matrix(_to_numpy(b), "rtd: second distance matrix")
    if a_np.shape != b_np.shape:
        raise UserError(f"rtd: distance matrices must have the same shape, got {a_np.shape} and {b_np.shape}")
    return a_np, b_np


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _check_options(card: int | None, p: float, variant: str, quantile: float | None, mode: str,
                   filtration: str) -> None:
    if card is not None and int(card) < 1:
        raise UserError(f"rtd: card must be >= 1 (or None for all bars), got {card}")
    if not p > 0:
        raise UserError(f"rtd: p must be > 0, got {p}")
    if variant not in VARIANTS:
        raise UserError(f"rtd: variant must be one of {list(VARIANTS)}, got {variant!r}")
    if mode not in MODES:
        raise UserError(f"rtd: mode must be one of {list(MODES)}, got {mode!r}")
    if filtration not in FILTRATIONS:
        raise UserError(f"rtd: filtration must be one of {list(FILTRATIONS)}, got {filtration!r}")
    if quantile is not None and not 0.0 < quantile <= 1.0:
        raise UserError(f"rtd: quantile must be in (0, 1] (or None for no normalization), got {quantile}")


def _readout(job: _Filtration, a: torch.Tensor, b: torch.Tensor, variant: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch matrices the births and the deaths of ``job``'s bars are read from."""
    first, second = (a, b) if job.forward else (b, a)
    matrix = r_cross_matrix(first, second, job.kind)
    if variant == "exact":
        return matrix, matrix
    if job.kind == "min":  # official: min-mode deaths read with the mixed block replaced by B
        return matrix, _assemble(first, b)
    return _assemble(b, second), matrix  # official: max-mode births likewise


def _bar_sum(pairs: PersistencePairs, births_from: torch.Tensor, deaths_from: torch.Tensor, p: float) -> torch.Tensor:
    if len(pairs) == 0:
        return births_from.new_zeros(())
    births = _entries(births_from, pairs.birth_edges)
    deaths = _entries(deaths_from, pairs.death_edges)
    return ((deaths - births).abs() ** p).sum()


def _entries(matrix: torch.Tensor, edges: np.ndarray) -> torch.Tensor:
    """``matrix[i, j]`` for the rows ``(i, j)`` of ``edges``, read with ``index_select`` on the flattened matrix:
    its backward (``index_add``) sums repeated edges in a fixed order, so gradients are bit-reproducible on
    several CPU threads (advanced indexing's backward is not)."""
    flat_index = torch.as_tensor(edges[:, 0] * matrix.shape[1] + edges[:, 1], device=matrix.device)
    return matrix.reshape(-1).index_select(0, flat_index)


def _longest(pairs: PersistencePairs, card: int | None) -> PersistencePairs:
    if card is None or len(pairs) <= card:
        return pairs
    return PersistencePairs(pairs.bars[:card], pairs.birth_edges[:card], pairs.death_edges[:card])


# (point pairs [P, 2] whose distances the bars read, scale of A, scale of B) → (A, B) divided by the scales
Readout = Callable[[np.ndarray, float, float], tuple[torch.Tensor, torch.Tensor]]


def _rtd(a_np: np.ndarray, b_np: np.ndarray, readout: Readout, card: int | None, p: float, variant: str,
         quantile: float | None, mode: str, filtration: str, workers: int | None, n_threads: int) -> torch.Tensor:
    """RTD of two validated float64 distance matrices; ``readout`` supplies the torch side."""
    scale_a, scale_b = quantile_scale(a_np, quantile), quantile_scale(b_np, quantile)
    a_np, b_np = a_np / scale_a, b_np / scale_b
    kinds = ("min", "max") if filtration == "minmax" else ("min",)
    directions = {"symmetric": (True, False), "forward": (True,), "backward": (False,)}[mode]
    jobs = [_Filtration(kind, forward) for forward in directions for kind in kinds]
    matrices = [r_cross_matrix(*((a_np, b_np) if job.forward else (b_np, a_np)), job.kind) for job in jobs]
    results = [_longest(f.result(), card) for f in submit_h1_pairs(matrices, workers, n_threads, checked=True)]

    n = a_np.shape[0]
    edges = np.concatenate([np.zeros((0, 2), np.int64)] + [e for r in results for e in (r.birth_edges, r.death_edges)])
    points = np.sort(edges % n, axis=1)
    points = np.unique(points[points[:, 0] != points[:, 1]], axis=0)
    a_t, b_t = readout(points, scale_a, scale_b)
    total = (a_t.sum() + b_t.sum()) * 0.0  # keeps the graph when there are no bars
    for job, pairs in zip(jobs, results, strict=True):
        total = total + _bar_sum(pairs, *_readout(job, a_t, b_t, variant), p)
    return total / len(directions)


def rtd_from_distances(
    a: torch.Tensor,
    b: torch.Tensor,
    card: int | None = 50,
    p: float = 1.0,
    variant: str = "exact",
    quantile: float | None = 0.9,
    mode: str = "symmetric",
    filtration: str = "minmax",
    workers: int | None = None,
    n_threads: int = 1,
) -> torch.Tensor:
    """RTD between two clouds given by their distance matrices ``a``, ``b`` (``[N, N]``); a scalar.

    Args:
        card: bars kept per PH computation (the longest); ``None`` keeps all.
        p: exponent of the bar lengths.
        variant: ``"exact"`` (textbook) or ``"official"`` (the released code's readout, see module doc).
        quantile: each matrix is divided by its own quantile (constant); ``None``: no normalization.
        mode: ``"symmetric"`` ½[RTD(A→B) + RTD(B→A)], ``"forward"`` RTD(A→B), ``"backward"`` RTD(B→A).
        filtration: ``"minmax"`` (min- plus max-mode, TopDis/RTD-AE) or ``"min"`` (min-mode only, RTD paper).
        workers: processes for the concurrent PH computations (default: one per computation, ≤ CPUs;
            1: in this process).
        n_threads: giotto-ph's own threads inside each computation.

    Only the upper triangle is used (the matrices must be symmetric; the diagonal is ignored). PH
    runs on CPU (float64 copies); the value and its gradient stay on ``a``'s device and dtype.
    """
    _check_options(card, p, variant, quantile, mode, filtration)
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise UserError("rtd_from_distances: expected two torch tensors [N, N]")
    if a.device != b.device:
        raise UserError(f"rtd: distance matrices are on different devices ({a.device}, {b.device})")
    a_np, b_np = _checked_pair(a, b)

    def dense(_points: np.ndarray, scale_a: float, scale_b: float) -> tuple[torch.Tensor, torch.Tensor]:
        upper_a, upper_b = torch.triu(a, 1) / scale_a, torch.triu(b, 1) / scale_b
        return upper_a + upper_a.T, upper_b + upper_b.T

    return _rtd(a_np, b_np, dense, card, p, variant, quantile, mode, filtration, workers, n_threads)


def _distances_for_ph(points: torch.Tensor) -> np.ndarray:
    """Detached float64 Euclidean distances ``[N, N]`` (Gram form: fast; float64 keeps it accurate)."""
    flat = points.detach().reshape(points.shape[0], -1)
    if flat.device.type != "cuda":
        flat = flat.cpu()
    flat = flat.to(torch.float64)
    squared = (flat * flat).sum(1)
    gram = (squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T).clamp_min(0.0)
    dist = gram.sqrt().cpu().numpy()
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    return dist


def _sparse_distances(points: torch.Tensor, pairs: np.ndarray, scale: float) -> torch.Tensor:
    """``[N, N]`` matrix holding the exact distances of ``pairs`` (both orders) divided by ``scale``,
    zero elsewhere; differentiable in ``points``. Computed from differences, in chunks."""
    flat = points.reshape(points.shape[0], -1)
    index = torch.as_tensor(pairs, device=flat.device).reshape(-1, 2)
    chunk = max(1, (1 << 24) // max(flat.shape[1], 1))
    values = []
    for start in range(0, max(len(index), 1), chunk):
        i, j = index[start:start + chunk, 0], index[start:start + chunk, 1]
        squared = (flat.index_select(0, i) - flat.index_select(0, j)).pow(2).sum(1)  # reproducible backward
        values.append(torch.where(squared > 0, squared.clamp_min(torch.finfo(flat.dtype).tiny).sqrt(), 0.0))
    values = torch.cat(values) / scale
    matrix = flat.new_zeros(flat.shape[0], flat.shape[0])
    matrix = matrix.index_put((index[:, 0], index[:, 1]), values)
    return matrix.index_put((index[:, 1], index[:, 0]), values)


def rtd(
    x: torch.Tensor,
    y: torch.Tensor,
    card: int | None = 50,
    p: float = 1.0,
    variant: str = "exact",
    quantile: float | None = 0.9,
    mode: str = "symmetric",
    filtration: str = "minmax",
    workers: int | None = None,
    n_threads: int = 1,
) -> torch.Tensor:
    """RTD between point clouds ``x`` ``[N, ...]`` and ``y`` ``[N, ...]`` (row ``i`` of both is
    the same sample; trailing dimensions are flattened and may differ between ``x`` and ``y``).

    Euclidean distances; the same value as :func:`rtd_from_distances` on
    :func:`pairwise_distances` (see it for the options), computed faster: PH reads detached float64
    distances, and only the distances the kept bars read are computed differentiably (exactly,
    from coordinate differences). Differentiable in ``x`` and ``y``; any device (PH on CPU).
    """
    _check_options(card, p, variant, quantile, mode, filtration)
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise UserError("rtd: expected two torch tensors [N, ...]")
    if x.ndim < 2 or y.ndim < 2 or x.shape[0] != y.shape[0]:
        raise UserError(f"rtd: expected two clouds [N, ...] with the same N, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise UserError("rtd: the point clouds are empty")
    if x.device != y.device:
        raise UserError(f"rtd: the point clouds are on different devices ({x.device}, {y.device})")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise UserError("rtd: the point clouds contain NaN or inf values")

    def sparse(points: np.ndarray, scale_a: float, scale_b: float) -> tuple[torch.Tensor, torch.Tensor]:
        return _sparse_distances(x, points, scale_a), _sparse_distances(y, points, scale_b)

    return _rtd(_distances_for_ph(x), _distances_for_ph(y), sparse, card, p, variant, quantile, mode, filtration,
                workers, n_threads)
