"""Run independent per-factor jobs on a thread pool, results in submission order.

The heavy parts (tree building, liblinear, BLAS) release the GIL, so threads give real parallelism
without copying arrays to other processes. Each job is a deterministic function of its inputs (its
own random state is prepared beforehand), so the numbers do not depend on ``n_jobs``.

Parallelism is over factors only: while the jobs run, BLAS and OpenMP inside scikit-learn are held
to one thread each (``threadpoolctl``, a scikit-learn dependency), which avoids oversubscribing the
cores — nested thread pools spin-waiting on a busy machine made single fits several times slower.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ..errors import UserError

T = TypeVar("T")


def resolve_n_jobs(n_jobs: int | None, num_tasks: int) -> int:
    """Worker count: ``None`` or ``-1`` → all CPUs; never more than the number of tasks."""
    if n_jobs is None or n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if n_jobs < 1:
        raise UserError(f"n_jobs must be a positive number of workers or -1 (all CPUs), got {n_jobs}")
    return max(1, min(n_jobs, num_tasks))


def run_jobs(jobs: Sequence[Callable[[], T]], n_jobs: int | None = None) -> list[T]:
    """Call every job (on ``n_jobs`` threads) and return their results in the order given.

    Put the most expensive jobs first: the pool starts them in that order.
    """
    workers = resolve_n_jobs(n_jobs, len(jobs))
    with quiet_fits(), threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            return [_one_openmp_thread(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_one_openmp_thread, job) for job in jobs]
            return [future.result() for future in futures]


def _one_openmp_thread(job: Callable[[], T]) -> T:
    # OpenMP's thread count is per calling thread, so it is limited inside each worker.
    with threadpool_limits(limits=1, user_api="openmp"):
        return job()


@contextlib.contextmanager
def quiet_fits() -> Iterator[None]:
    """Silence sklearn's convergence warnings (the reference fits have the same iteration limits)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
