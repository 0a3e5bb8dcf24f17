"""Where job processes run. :class:`Executor` is the interface the runner uses; :class:`LocalExecutor`
runs them on this machine, each in its own process group (so Ctrl-C in the server's terminal reaches the
server only, and the server forwards one SIGINT: the command finishes its step, saves its checkpoint and
exits with status 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

LineCallback = Callable[[str, str], None]  # (job id, output line)
ExitCallback = Callable[[str, int], None]  # (job id, return code)


class Executor:
    """Runs job command lines: ``start`` one, ``interrupt`` it (a graceful stop), ``stop_all`` on shutdown."""

    def free_slots(self) -> int:
        raise NotImplementedError

    def start(self, job_id: str, argv: list[str], log_path: Path, on_line: LineCallback, on_exit: ExitCallback) -> int:
        """Start ``argv``; its output is appended to ``log_path`` and passed line by line to ``on_line``; ``on_exit``
        gets the return code. Returns the process id."""
        raise NotImplementedError

    def interrupt(self, job_id: str) -> bool:
        """Ask a running job to stop after saving its checkpoint; False when it is not running here."""
        raise NotImplementedError

    def stop_all(self, timeout_s: float) -> None:
        """Interrupt every job, wait up to ``timeout_s`` for them to exit, kill what is left."""
        raise NotImplementedError


class LocalExecutor(Executor):
    """At most ``workers`` job processes at once on this machine, started with ``env``."""

    def __init__(self, workers: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.workers = workers
        self.env = env
        self.cwd = cwd
        self._running: dict[str, tuple[subprocess.Popen, threading.Thread]] = {}
        self._lock = threading.Lock()

    def free_slots(self) -> int:
        with self._lock:
            return self.workers - len(self._running)

    def start(self, job_id: str, argv: list[str], log_path: Path, on_line: LineCallback, on_exit: ExitCallback) -> int:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", bufsize=1, start_new_session=True, env=self.env,
                                   cwd=self.cwd)
        thread = threading.Thread(target=self._follow, args=(job_id, process, log_path, on_line, on_exit),
                                  name=f"job-{job_id}", daemon=True)
        with self._lock:
            self._running[job_id] = (process, thread)
        thread.start()
        return process.pid

    def _follow(self, job_id: str, process: subprocess.Popen, log_path: Path, on_line: LineCallback,
                on_exit: ExitCallback) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            for line in process.stdout:  # type: ignore[union-attr]
                log.write(line)
                log.flush()
                on_line(job_id, line.rstrip("\n"))
        code = process.wait()
        with self._lock:
            self._running.pop(job_id, None)
        on_exit(job_id, code)

    def interrupt(self, job_id: str) -> bool:
        return self._signal(job_id, signal.SIGINT)

    def _signal(self, job_id: str, signum: int) -> bool:
        with self._lock:
            entry = self._running.get(job_id)
        if entry is None:
            return False
        try:
            os.killpg(entry[0].pid, signum)
        except ProcessLookupError:
            return False
        return True

    def stop_all(self, timeout_s: float) -> None:
        with self._lock:
            running = dict(self._running)
        for job_id in running:
            self.interrupt(job_id)
        deadline = time.monotonic() + timeout_s
        for job_id, (_, thread) in running.items():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._signal(job_id, signal.SIGKILL)
                thread.join(5)
