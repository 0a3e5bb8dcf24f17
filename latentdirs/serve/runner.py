"""The job queue: jobs wait in the database, an :class:`~.executor.Executor` runs them, their output becomes
progress, and a stop or restart of the server loses nothing.

A job runs as ``python -m latentdirs --threads N <command> <options> --out <data>/jobs/<id>``; its output
goes to ``<data>/logs/<id>.log`` and, parsed (:mod:`.joblog`), into the job's progress. Stopping the server
interrupts running jobs the way Ctrl-C does (they save a checkpoint) and puts them back in the queue; on
start, jobs the database still shows running (the server was killed) are stopped if their process is
still alive and queued again. A queued job that has a checkpoint starts with ``--resume``
(:func:`~.jobspec.resume_wanted`), so it continues where it stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .errors import ApiError
from .executor import Executor
from .joblog import error_line, parse_progress
from .jobsdb import JobStore
from .jobspec import JobArgv, build_argv, resume_wanted
from .registry import Registry
from .settings import ServeSettings

log = logging.getLogger("latentdirs.serve")
PROGRESS_WRITE_S = 0.5  # progress reaches the database at most this often per job (and at the end)


def job_environment(settings: ServeSettings) -> dict[str, str]:
    """The environment of job processes: this latentdirs first on the path, a progress line a second, one
    thread per library."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["LATENTDIRS_PROGRESS_INTERVAL"] = str(settings.progress_interval_s)
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = str(settings.job_threads)
    return env


class JobRunner:
    """Queues, starts, cancels and resumes jobs (see the module docstring)."""

    def __init__(self, settings: ServeSettings, store: JobStore, executor: Executor, registry: Registry) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self.registry = registry
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._progress: dict[str, tuple[dict[str, Any], float]] = {}

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop starting jobs; interrupt running ones (each saves its checkpoint) and leave them queued."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.executor.stop_all(self.settings.stop_timeout_s)

    def _recover(self) -> None:
        for job in self.store.list(("running", "cancelling")):
            if job["pid"]:
                _stop_leftover(job["pid"], self.settings.job_dir(job["id"]), self.settings.stop_timeout_s)
            if job["state"] == "running":
                self.store.update(job["id"], state="queued", pid=None)
                log.info("job %s was running when the server stopped: queued again", job["id"])
            else:
                self.store.update(job["id"], state="cancelled", pid=None, finished=time.time())

    # -- requests ------------------------------------------------------------------------------------
    def submit(self, command: str, options: dict[str, Any]) -> dict[str, Any]:
        job_id = secrets.token_hex(6)
        argv = build_argv(command, options, self.registry, self.settings.job_dir(job_id))
        job = self.store.add(job_id, command, options, argv.__dict__)
        self._notify()
        return job

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id)
        if job["state"] == "queued" and self.store.update(job_id, only_if=("queued",), state="cancelled",
                                                          finished=time.time()):
            return self._job(job_id)
        if job["state"] == "running" and self.store.update(job_id, only_if=("running",), state="cancelling"):
            self.executor.interrupt(job_id)
            return self._job(job_id)
        if job["state"] == "cancelling":
            return job
        raise ApiError(409, f"job {job_id} is {job['state']}; only queued or running jobs can be cancelled")

    def resume(self, job_id: str) -> dict[str, Any]:
        """Queue a cancelled or failed job again (it continues from its checkpoint when it has one)."""
        job = self._job(job_id)
        if not self.store.update(job_id, only_if=("cancelled", "failed"), state="queued", finished=None, error=None,
                                 returncode=None):
            raise ApiError(409, f"job {job_id} is {job['state']}; only cancelled or failed jobs can be resumed")
        self._notify()
        return self._job(job_id)

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.store.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r}")
        return job

    # -- the loop ------------------------------------------------------------------------------------
    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._wake.wait(timeout=1.0)
                if self._stopping:
                    return
            try:
                self._dispatch()
            except Exception:  # a broken job must not stop the queue
                log.exception("starting a job failed")

    def _dispatch(self) -> None:
        while self.executor.free_slots() > 0:
            job = self.store.next_queued()
            if job is None:
                return
            self._launch(job)

    def _launch(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        out = self.settings.job_dir(job_id)
        resume = resume_wanted(job["command"], out)
        argv = [sys.executable, "-m", "latentdirs", "--threads", str(self.settings.job_threads),
                *JobArgv(**job["argv"]).argv(out, resume)]
        if not self.store.update(job_id, only_if=("queued",), state="running", attempts=job["attempts"] + 1,
                                 started=job["started"] or time.time(), returncode=None):
            return  # cancelled meanwhile
        log_path = self.settings.job_log(job_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(f"[latentdirs serve] attempt {job['attempts'] + 1}: {shlex.join(argv[1:])}\n")
        try:
            pid = self.executor.start(job_id, argv, log_path, self._on_line, self._on_exit)
        except OSError as exc:
            self.store.update(job_id, state="failed", error=f"could not start the job: {exc}", finished=time.time())
            return
        self.store.update(job_id, only_if=("running", "cancelling"), pid=pid)
        log.info("job %s started (pid %d%s)", job_id, pid, ", resuming" if resume else "")

    def _on_line(self, job_id: str, line: str) -> None:
        progress = parse_progress(line)
        if progress is None:
            return
        _, last = self._progress.get(job_id, (None, 0.0))
        now = time.monotonic()
        if now - last >= PROGRESS_WRITE_S or progress["step"] >= progress["total"]:
            self.store.update(job_id, progress=progress)
            self._progress[job_id] = (progress, now)
        else:
            self._progress[job_id] = (progress, last)

    def _on_exit(self, job_id: str, code: int) -> None:
        pending = self._progress.pop(job_id, None)
        if pending is not None:
            self.store.update(job_id, progress=pending[0])
        job = self._job(job_id)
        finished = {"pid": None, "returncode": code, "finished": time.time()}
        if code == 0:
            self.store.update(job_id, state="done", error=None, **finished)
        elif job["state"] == "cancelling":
            self.store.update(job_id, state="cancelled", **finished)
        elif self._stopping:
            self.store.update(job_id, state="queued", pid=None, returncode=code)
        else:
            self.store.update(job_id, state="failed", error=self._failure(job_id, code), **finished)
        log.info("job %s exited with status %d", job_id, code)
        self._notify()

    def _failure(self, job_id: str, code: int) -> str:
        """The job's ``error:`` line, or its last line of output."""
        lines = tail_lines(self.settings.job_log(job_id))
        message = error_line(lines)
        if message:
            return message
        last = next((line for line in reversed(lines) if line.strip()), "")
        return f"exited with status {code}" + (f": {last.strip()[:300]}" if last else "")


def tail_lines(path: Path, size: int = 64 << 10) -> list[str]:
    """The lines of the last ``size`` bytes of a file (none when it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _stop_leftover(pid: int, job_dir: Path, timeout_s: float) -> None:
    """Stop a job process left running by a server that was killed: only when ``/proc`` shows it is that job's
    command (a recycled process id is left alone); SIGINT to its group first, SIGKILL after ``timeout_s``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return
    if "latentdirs" not in command or str(job_dir) not in command:
        return
    log.info("stopping process %d left running by the previous server", pid)
    for signum, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
