"""Vietoris–Rips persistent homology in dimension 1, with the simplices behind every bar.

For a finite metric (distance matrix ``D``, ``N×N``) the Vietoris–Rips filtration adds the edge
``{u, v}`` at time ``D[u, v]`` and every clique as soon as all its edges are present. Each finite
H1 bar ``[b, d)`` is created by a *birth edge* ``e_b`` (``b = D[e_b]``) and destroyed by a triangle
whose longest edge ``e_d`` gives its time (``d = D[e_d]``). Knowing the two edges is what makes a
barcode differentiable: a bar's length ``D[e_d] − D[e_b]`` can be read from a torch matrix
(Barannikov et al., "Manifold Topology Divergence", ICML 2022; Trofimov et al., "Learning
Topology-Preserving Data Representations", ICLR 2023).

The pairs come from giotto-ph (``ripser_parallel(..., return_generators=True)``; Pérez, Hauke,
Lupo, Caorsi & Dassatti, "giotto-ph: A Python Library for High-Performance Computation of
Persistent Homology of Vietoris–Rips Filtrations", 2021), which reports, for each finite bar in
dimension ``k ≥ 1``, the two vertices of the birth edge and the two of the death edge. giotto-ph
filters in float32; here the bars are re-read from the float64 matrix at those edges.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


@dataclass(frozen=True)
class PersistencePairs:
    """The finite H1 bars of a Vietoris–Rips filtration, longest first.

    ``bars[k] = (birth, death)`` with ``birth = D[birth_edges[k, 0], birth_edges[k, 1]]`` and
    ``death = D[death_edges[k, 0], death_edges[k, 1]]`` (``death_edges[k]`` is the longest edge of
    the triangle that kills the cycle). Zero-length bars are not listed.
    """

    bars: np.ndarray  # [K, 2] float64
    birth_edges: np.ndarray  # [K, 2] int64
    death_edges: np.ndarray  # [K, 2] int64

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def lengths(self) -> np.ndarray:
        """``death − birth`` of every bar, ``[K]``."""
        return self.bars[:, 1] - self.bars[:, 0]


def check_distance_matrix(matrix: np.ndarray, what: str = "distance matrix") -> np.ndarray:
    """``matrix`` as a float64 square, finite, non-negative, symmetric array with zero diagonal.

    The diagonal is ignored (set to 0: every vertex is present from time 0); asymmetry beyond
    rounding, NaN/inf or negative entries raise a UserError.
    """
    array = np.array(matrix, dtype=np.float64, copy=True)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise UserError(f"{what}: expected a square matrix [N, N], got shape {tuple(array.shape)}")
    if array.shape[0] == 0:
        raise UserError(f"{what}: expected at least one point, got an empty matrix")
    if not np.isfinite(array).all():
        raise UserError(f"{what}: contains NaN or inf values; expected finite distances")
    np.fill_diagonal(array, 0.0)
    if (array < 0).any():
        raise UserError(f"{what}: contains negative entries; expected distances >= 0")
    scale = max(float(np.abs(array).max()), 1e-300)
    if np.abs(array - array.T).max() > 1e-5 * scale:
        raise UserError(f"{what}: is not symmetric; expected a distance matrix with D[i, j] == D[j, i]")
    return array


def _h1_pairs_checked(dist: np.ndarray, n_threads: int) -> PersistencePairs:
    """H1 pairs of an already validated float64 distance matrix."""
    from gph import ripser_parallel  # imported lazily: the loss registry imports this package

    n = dist.shape[0]
    empty = PersistencePairs(np.zeros((0, 2)), np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64))
    if n < 3:
        return empty
    result = ripser_parallel(dist, maxdim=1, metric="precomputed", n_threads=n_threads, return_generators=True)
    gens = result["gens"][1]
    edges = np.asarray(gens[0] if len(gens) else np.zeros((0, 4)), dtype=np.int64).reshape(-1, 4)
    if len(edges) == 0:
        return empty
    birth_edges, death_edges = edges[:, :2], edges[:, 2:]
    births = dist[birth_edges[:, 0], birth_edges[:, 1]]
    deaths = dist[death_edges[:, 0], death_edges[:, 1]]
    lengths = deaths - births
    keep = lengths > 0
    order = np.argsort(-lengths[keep], kind="stable")
    return PersistencePairs(
        bars=np.stack([births, deaths], axis=1)[keep][order],
        birth_edges=birth_edges[keep][order],
        death_edges=death_edges[keep][order],
    )


def h1_pairs(matrix: np.ndarray, n_threads: int = 1) -> PersistencePairs:
    """Finite H1 bars of the Vietoris–Rips filtration of ``matrix`` with their birth/death edges.

    ``matrix``: ``[N, N]`` symmetric non-negative distances (diagonal ignored); any array-like,
    including a CPU torch tensor. ``n_threads``: giotto-ph's own threads for the reduction.
    """
    return _h1_pairs_checked(check_distance_matrix(matrix), n_threads)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_INTERVAL_S = 0.5


def _die_with_parent(parent: int, forked_by_main_thread: bool) -> None:
    """Worker initializer: end this worker as soon as ``parent`` (the process whose pool it serves) is gone.

    A worker blocks reading its task queue, whose write end it inherited itself, so a parent killed by
    SIGKILL (no ``atexit``, no pool shutdown) left both workers of a ``discover --method topdis`` run alive
    for good (about 500 MB each). Two guards: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, the kernel's signal when
    the forking thread ends (set only when that thread is the main one, which ends with the process), and a
    daemon thread that exits once ``getppid()`` is no longer ``parent`` (the worker was re-parented).
    """
    if forked_by_main_thread:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl (not glibc/musl Linux): the watcher alone
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_INTERVAL_S)
        if os.getppid() != parent:
            os._exit(1)


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """A process-wide pool of ``workers`` forked processes (Linux), else None (compute in this process).

    Processes, not threads: giotto-ph holds the GIL while it reduces, so threads ran one after another
    (four 112-point PH: 31.4 ms sequential, 33.0 ms on two threads). Forked, as PyTorch's DataLoader
    workers are: spawned or forkserver workers would re-run the caller's ``__main__`` script, and the
    children only ever run giotto-ph on arrays they receive (never torch, never CUDA). The workers end
    with this process, however it ends (:func:`_die_with_parent`).
    """
    if not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return None  # daemonic processes (e.g. multiprocessing.Pool workers) may not have children
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            context = multiprocessing.get_context("fork")
            main_thread = threading.current_thread() is threading.main_thread()
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                                       initargs=(os.getpid(), main_thread))
            pool.submit(int)  # the first task forks every worker, here: in the thread the initializer was told of
            _POOLS[workers] = pool
        return pool


def _done(value: PersistencePairs) -> Future[PersistencePairs]:
    future: Future[PersistencePairs] = Future()
    future.set_result(value)
    return future


def default_workers(jobs: int) -> int:
    """Processes used for ``jobs`` independent PH computations: one per job, at most the CPU count."""
    return max(1, min(jobs, os.cpu_count() or 1))


def submit_h1_pairs(matrices: Sequence[np.ndarray], workers: int | None = None, n_threads: int = 1,
                    checked: bool = False) -> list[Future[PersistencePairs]]:
    """Start :func:`h1_pairs` of several matrices in worker processes; returns their futures.

    The caller can do other work (e.g. queue GPU kernels) before collecting ``f.result()``.
    ``workers=None`` uses one process per matrix up to the CPU count; ``workers=1`` (or a single CPU)
    computes in this process, before returning. ``checked=True`` skips validation (the matrices are
    already clean float64 arrays).
    """
    arrays = list(matrices) if checked else [check_distance_matrix(m) for m in matrices]
    workers = default_workers(len(arrays)) if workers is None else int(workers)
    if workers < 1:
        raise UserError(f"workers must be >= 1, got {workers}")
    pool = _pool(workers) if workers > 1 and len(arrays) > 1 else None
    if pool is not None:
        try:
            return [pool.submit(_h1_pairs_checked, a, n_threads) for a in arrays]
        except (BrokenProcessPool, OSError):  # a worker died (e.g. killed) or none could start: compute here
            with _POOLS_LOCK:
                _POOLS.pop(workers, None)
    return [_done(_h1_pairs_checked(a, n_threads)) for a in arrays]


def h1_pairs_many(matrices: Sequence[np.ndarray], workers: int | None = None,
                  n_threads: int = 1) -> list[PersistencePairs]:
    """:func:`h1_pairs` of several matrices, computed concurrently in ``workers`` processes."""
    return [f.result() for f in submit_h1_pairs(matrices, workers, n_threads)]
