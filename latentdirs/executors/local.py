"""The ``local`` executor: each stage a subprocess of this machine, in its own session (so a Ctrl-C at the
terminal reaches only the process that started it, which passes exactly one SIGINT on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .base import Command, Job, PoolExecutor, Stage, with_package_path


class LocalExecutor(PoolExecutor):
    """At most ``workers`` jobs at once, their commands run by this Python interpreter.

    ``env``: the commands' environment before each job's own (default: this process's), with this
    latentdirs first on ``PYTHONPATH``; ``cwd``: where they start; ``pass_fds``: descriptors they inherit
    (see :attr:`~.base.Executor.pass_fds`). A job's :class:`~.base.Resources` reserve nothing here: its CPUs
    are its commands' ``--threads``."""

    def __init__(self, workers: int, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.env = with_package_path(dict(os.environ if env is None else env))
        self.cwd = cwd
        self.pass_fds = pass_fds
        super().__init__(workers)

    def _start(self, job: Job, stage: Stage, cancelled: Callable[[], bool]) -> Command | None:
        if cancelled():
            return None
        process = subprocess.Popen([sys.executable, *stage.argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**self.env, **job.env}, cwd=self.cwd,
                                   pass_fds=self.pass_fds, start_new_session=True)
        return Subprocess(process)


class Subprocess(Command):
    """A command run by :class:`LocalExecutor` (the Ray executor's workers use it too)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pid = process.pid
        self.python = sys.executable

    def lines(self) -> Iterator[bytes]:
        yield from self.process.stdout  # type: ignore[misc]

    def result(self) -> tuple[int, float | None]:
        return reap(self.process)

    def signal(self, force: bool) -> None:
        if self.process.returncode is not None:  # reaped (not poll(): that could reap it before reap() does)
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL) if force else self.process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


def reap(process: subprocess.Popen) -> tuple[int, float | None]:
    """Wait for ``process``: its exit status (negative: killed by that signal) and its CPU seconds."""
    if not hasattr(os, "wait4"):
        return process.wait(), None
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    process.stdout.close()
    return process.returncode, usage.ru_utime + usage.ru_stime
