"""The job queue: jobs wait in the database, an executor (:mod:`latentdirs.executors`: this machine's process
pool or a Ray cluster) runs them, their output becomes progress, and a stop or restart of the server loses
nothing.

A job runs as ``python -m latentdirs --threads N <command> <options> --out <data>/jobs/<id>``; its output
goes to ``<data>/logs/<id>.log`` and, parsed (:mod:`.joblog`), into the job's progress. Stopping the server
interrupts running jobs the way Ctrl-C does (they save a checkpoint) and puts them back in the queue; on
start, jobs the database still shows running (the server was killed) are stopped if their process is
still alive (on a Ray cluster the driver's death ended them) and queued again. A queued job that has a
checkpoint starts with ``--resume`` (:func:`~.jobspec.resume_wanted`), so it continues where it stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import signal
import threading
import time
from pathlib import Path
from typing import Any

from ..executors.base import Executor, Job, JobFinished, Progress, Resources, Stage, StageFinished, StageStarted
from .errors import ApiError
from .joblog import error_line, parse_progress
from .jobsdb import JobStore
from .jobspec import JobArgv, build_argv, resume_wanted
from .registry import Registry
from .settings import ServeSettings

log = logging.getLogger("latentdirs.serve")
PROGRESS_WRITE_S = 0.5  # progress reaches the database at most this often per job (and at the end)


def job_environment(settings: ServeSettings) -> dict[str, str]:
    """What job processes get on top of the executor's environment: a progress line a second, unbuffered
    output, ``--job-threads`` threads per library."""
    return {"LATENTDIRS_PROGRESS_INTERVAL": str(settings.progress_interval_s), "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": str(settings.job_threads)}


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
        self._events: threading.Thread | None = None
        self._closed = threading.Event()
        self._progress: dict[str, tuple[dict[str, Any], float]] = {}
        self._returncodes: dict[str, int] = {}

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._events = threading.Thread(target=self._follow, name="job-events", daemon=True)
        self._thread.start()
        self._events.start()

    def stop(self) -> None:
        """Stop starting jobs; interrupt running ones (each saves its checkpoint) and leave them queued; those
        still running after ``stop_timeout_s`` are killed."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        for force, wait_s in ((False, self.settings.stop_timeout_s), (True, 5.0)):
            self.executor.stop(force=force)
            deadline = time.monotonic() + wait_s
            while self.executor.free_slots() < self.executor.workers and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.executor.free_slots() >= self.executor.workers:
                break
        self.executor.close()
        self._closed.set()
        if self._events is not None:
            self._events.join()

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
            self.executor.cancel(job_id)
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
        argv = ("-m", "latentdirs", "--threads", str(self.settings.job_threads),
                *JobArgv(**job["argv"]).argv(out, resume))
        if not self.store.update(job_id, only_if=("queued",), state="running", attempts=job["attempts"] + 1,
                                 started=job["started"] or time.time(), returncode=None):
            return  # cancelled meanwhile
        log_path = self.settings.job_log(job_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(f"[latentdirs serve] attempt {job['attempts'] + 1}: {shlex.join(argv)}\n")
        resources = Resources(cpus=self.settings.job_threads, gpus=self.settings.job_gpus)
        self.executor.submit(Job(job_id, (Stage(job["command"], argv),), log_path, job_environment(self.settings),
                                 resources))
        log.info("job %s submitted%s", job_id, " (resuming)" if resume else "")

    def _follow(self) -> None:
        """Turn the executor's events into job states, until the executor is closed and its events are read."""
        while True:
            events = self.executor.wait(timeout=0.2)
            if not events and self._closed.is_set():
                return
            for event in events:
                try:
                    self._on_event(event)
                except Exception:  # a failed database write must not stop the others
                    log.exception("handling %s failed", event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, StageStarted):
            self.store.update(event.job, only_if=("running", "cancelling"), pid=event.pid)
            log.info("job %s started%s", event.job, f" (pid {event.pid})" if event.pid is not None else "")
        elif isinstance(event, Progress):
            self._on_line(event.job, event.line)
        elif isinstance(event, StageFinished):
            self._returncodes[event.job] = event.returncode
        elif isinstance(event, JobFinished):
            code = self._returncodes.pop(event.job, None)
            self._on_exit(event.job, code if code is not None else 130 if event.stopped else 1)

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
