"""The executor interface, its jobs and events, and :class:`PoolExecutor`, which runs jobs stage after stage.

:meth:`Executor.submit` a :class:`Job`; :meth:`Executor.wait` returns the events since the last call
(:class:`StageStarted`, :class:`Progress`, :class:`StageFinished`, :class:`JobFinished` — exactly one
``JobFinished`` per submitted job, whatever happens); :meth:`Executor.cancel` stops one job,
:meth:`Executor.stop` every job: gracefully (the running command gets one SIGINT: latentdirs' training loops
finish their step, save a checkpoint and exit with status 130; no further stage starts; a queued job never
starts) or with ``force`` (its process group is killed at once: the last periodic checkpoint stays).

:class:`PoolExecutor` is the part every back end shares: ``workers`` threads take jobs in order, run their
stages one after the other, append each command's output to the job's log, read progress from the
commands' progress lines (``latentdirs.progress`` writes whole lines when its output is a pipe;
``LATENTDIRS_PROGRESS_INTERVAL`` sets how often) and their last ``error: …`` / ``interrupted: …`` line. A
back end only says how a stage's command starts, where, and how it is signalled (:class:`Command`).
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: ``… 350/1000 [00:10<00:20, …]``: the position of a tqdm bar in one of its lines
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")
#: the lines a latentdirs command ends with when it fails or is stopped
MESSAGE_PREFIXES = (b"error: ", b"interrupted: ")


def package_root() -> str:
    """The folder holding this ``latentdirs`` (put first on the runs' ``PYTHONPATH``: they execute the same
    code as the process that started them, wherever it was started from)."""
    return str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Resources:
    """What one command of a job asks for: CPUs (its torch threads) and GPUs (Ray may give fractions)."""

    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def threads(self) -> int:
        """Torch threads of a command with ``cpus`` CPUs (at least one)."""
        return max(1, int(self.cpus))


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]  # the command line after the interpreter: ("-m", "latentdirs", …)


@dataclass(frozen=True)
class Job:
    id: str
    stages: tuple[Stage, ...]
    log: Path  # the stages' output is appended here
    env: dict[str, str] = field(default_factory=dict)  # added to the commands' environment
    resources: Resources = Resources()


@dataclass(frozen=True)
class StageStarted:
    job: str
    stage: str
    pid: int | None  # the command's process id when it runs on this machine (None on a cluster)


@dataclass(frozen=True)
class Progress:
    job: str
    stage: str
    done: int
    total: int
    line: str  # the whole progress line (loss, ETA, …)


@dataclass(frozen=True)
class StageFinished:
    job: str
    stage: str
    returncode: int
    seconds: float  # wall clock
    cpu_seconds: float | None  # user + system time of the command and the processes it waited for
    message: str | None  # its last ``error: …`` / ``interrupted: …`` line, if any


@dataclass(frozen=True)
class JobFinished:
    job: str
    ok: bool  # every stage ran and exited 0
    stopped: bool  # stopped (or never started) because of cancel() / stop()


Event = StageStarted | Progress | StageFinished | JobFinished


class Executor(ABC):
    """Runs jobs; see the module docstring."""

    workers: int  # jobs run at once
    #: descriptors the commands inherit where they run on this machine (a study passes its lock, so that runs
    #: left behind by a study process that died keep the folder locked); executors running them elsewhere ignore it
    pass_fds: tuple[int, ...] = ()

    @abstractmethod
    def submit(self, job: Job) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Event]:
        """The events since the last call; blocks up to ``timeout`` seconds for the first one."""

    @abstractmethod
    def cancel(self, job_id: str, force: bool = False) -> bool:
        """Stop a job (see the module docstring); False when it is not queued or running here."""

    @abstractmethod
    def stop(self, force: bool = False) -> None:
        """Cancel every job, queued and running."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more jobs would start at once (``workers`` less those queued or running)."""

    def check(self, resources: Resources) -> None:  # noqa: B027 — most executors have nothing to check
        """A :class:`~latentdirs.errors.UserError` when no machine of this executor can ever give ``resources``."""

    @abstractmethod
    def close(self) -> None:
        """Wait for the submitted jobs to finish (after :meth:`stop`: to stop) and release the workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Command(ABC):
    """One stage's command once started, wherever it runs."""

    pid: int | None = None  # its process id when it runs on this machine
    python: str = "python"  # the interpreter it runs with (the log shows it)

    @abstractmethod
    def lines(self) -> Iterator[bytes]:
        """Its output (stdout and stderr), line by line, until it exits."""

    @abstractmethod
    def result(self) -> tuple[int, float | None]:
        """After :meth:`lines`: its exit status (negative: killed by that signal) and its CPU seconds."""

    @abstractmethod
    def signal(self, force: bool) -> None:
        """SIGINT to the command (it saves and stops), or with ``force`` SIGKILL to its whole process group."""


class PoolExecutor(Executor):
    """``workers`` threads running jobs stage by stage (see the module docstring); subclasses start the commands."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        self.workers = workers
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Lock()
        self._active: set[str] = set()  # submitted, not finished
        self._cancelled: dict[str, bool] = {}  # job → cancel with force
        self._running: dict[str, Command] = {}
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"executor-worker-{i}")
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # -- the interface ---------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            if job.id in self._active:
                raise ValueError(f"job {job.id} is already submitted")
            self._active.add(job.id)
        self._jobs.put(job)

    def wait(self, timeout: float | None = None) -> list[Event]:
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def cancel(self, job_id: str, force: bool = False) -> bool:
        with self._lock:
            if job_id not in self._active:
                return False
            self._cancelled[job_id] = force or self._cancelled.get(job_id, False)
            command = self._running.get(job_id)
        if command is not None:
            command.signal(force)
        return True

    def stop(self, force: bool = False) -> None:
        with self._lock:
            active = list(self._active)
        for job_id in active:
            self.cancel(job_id, force)

    def free_slots(self) -> int:
        with self._lock:
            return self.workers - len(self._active)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    # -- what a back end provides ------------------------------------------------------------------
    @abstractmethod
    def _start(self, job: Job, stage: Stage, cancelled: Callable[[], bool]) -> Command | None:
        """Start ``stage``'s command; None when ``cancelled()`` turned true before it could start."""

    def _job_done(self, job: Job) -> None:
        """Called once a job has run its last stage (a back end frees what it held for the job)."""

    # -- the workers ----------------------------------------------------------------------------
    def _is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            ok = True
            try:
                for stage in job.stages:
                    finished = None if self._is_cancelled(job.id) else self._run(job, stage)
                    if finished is None or finished.returncode != 0:
                        ok = False
                        break
            finally:
                self._job_done(job)
                with self._lock:
                    stopped = self._cancelled.pop(job.id, None) is not None
                    self._active.discard(job.id)
                self._events.put(JobFinished(job.id, ok, stopped))

    def _run(self, job: Job, stage: Stage) -> StageFinished | None:
        """Run one stage to its end; None when it was cancelled before it started."""
        job.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            command = self._start(job, stage, lambda: self._is_cancelled(job.id))
        except Exception as exc:  # the back end could not start it (a cluster gone, say): the job fails
            return self._could_not_start(job, stage, exc)
        if command is None:
            return None
        started = time.perf_counter()
        with self._lock:
            self._running[job.id] = command
            force = self._cancelled.get(job.id)
        if force is not None:  # cancelled while it was starting
            command.signal(force)
        self._events.put(StageStarted(job.id, stage.name, command.pid))
        message, returncode, cpu = None, 1, None
        with open(job.log, "ab") as log:
            log.write(f"$ {command.python} {' '.join(stage.argv)}\n".encode())
            log.flush()
            try:
                for line in command.lines():
                    log.write(line)
                    log.flush()
                    if line.startswith(MESSAGE_PREFIXES):
                        message = line.decode(errors="replace").strip()
                    elif match := PROGRESS.search(line):
                        self._events.put(Progress(job.id, stage.name, int(match[1]), int(match[2]),
                                                  line.decode(errors="replace").rstrip()))
                returncode, cpu = command.result()
            except Exception as exc:  # the command's machine or worker was lost
                message = f"error: lost the run: {_one_line(exc)}"
                log.write(f"{message}\n".encode())
            finally:
                with self._lock:
                    self._running.pop(job.id, None)
            log.write(f"[exit {returncode}]\n".encode())
        event = StageFinished(job.id, stage.name, returncode, time.perf_counter() - started, cpu, message)
        self._events.put(event)
        return event

    def _could_not_start(self, job: Job, stage: Stage, exc: Exception) -> StageFinished:
        message = f"error: could not start the run: {_one_line(exc)}"
        with open(job.log, "ab") as log:
            log.write(f"$ python {' '.join(stage.argv)}\n{message}\n[exit 1]\n".encode())
        self._events.put(StageStarted(job.id, stage.name, None))
        event = StageFinished(job.id, stage.name, 1, 0.0, None, message)
        self._events.put(event)
        return event


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (Ray's errors carry whole tracebacks)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def with_package_path(env: dict[str, str]) -> dict[str, str]:
    """``env`` with :func:`package_root` first on ``PYTHONPATH``."""
    path = os.pathsep.join(p for p in (package_root(), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}
