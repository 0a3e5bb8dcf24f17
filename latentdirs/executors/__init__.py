"""Where runs execute: one interface behind ``study run`` and ``serve``'s job pool.

A :class:`~.base.Job` is one or more stages, each a ``python …`` command line (``-m latentdirs …``), with
its log file, extra environment and :class:`~.base.Resources` (CPUs, GPUs). An :class:`~.base.Executor`
takes jobs (:meth:`~.base.Executor.submit`), reports what happens as events (:meth:`~.base.Executor.wait`),
stops one (:meth:`~.base.Executor.cancel`) or all (:meth:`~.base.Executor.stop`). Two back ends:

- ``local`` (:mod:`.local`): a pool of subprocesses on this machine (the default);
- ``ray`` (:mod:`.ray_runs`): each job a Ray actor with the job's CPUs and GPUs, on any node of a cluster,
  its commands run there as the same subprocesses (Ray is imported only there; ``pip install
  'latentdirs[ray]'``).

The runs write where their command lines say (a shared file system across machines), so a run folder is
the same whichever executor ran it, and resuming it is the command's own ``--resume``. This package knows
nothing of studies or the service.
"""

from __future__ import annotations

from pathlib import Path

from .base import Executor

#: the back ends ``--executor`` offers (copied in latentdirs.commands._choices)
EXECUTORS = ("local", "ray")


def create(name: str, workers: int | None, *, address: str | None = None, cwd: str | Path | None = None) -> Executor:
    """The executor ``name``: ``workers`` jobs at once (``local``: default the CPU count; ``ray``: default the
    cluster's CPUs), commands started in ``cwd`` (default: this process's). ``address`` (``ray`` only):
    ``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT`` (default: a cluster started on this machine,
    else a new local instance); a cluster that cannot be reached is a UserError here, before any job."""
    if name == "local":
        import os

        from .local import LocalExecutor

        return LocalExecutor(workers or os.cpu_count() or 1, cwd=cwd)
    if name == "ray":
        from .ray_runs import RayExecutor

        return RayExecutor(workers, address=address, cwd=cwd)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
