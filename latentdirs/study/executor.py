"""Executors: run jobs (a list of command lines, one after the other) and report what happens as events.

The interface is what a study needs and what another back end (a Ray cluster, a web service's job pool) can
give: :meth:`Executor.submit` a :class:`Job`, :meth:`Executor.wait` for the events since the last call
(:class:`StageStarted`, :class:`Progress`, :class:`StageFinished`, :class:`JobFinished` — exactly one
``JobFinished`` per submitted job, whatever happens), :meth:`Executor.stop` to ask running jobs to stop
gracefully (their commands get SIGINT: latentdirs' training loops save a checkpoint and exit) and drop the
queued ones, and :meth:`Executor.close`.

:class:`LocalExecutor` runs jobs in a pool of ``workers`` threads, each stage a subprocess in its own
session (so a Ctrl-C at the terminal reaches only the study, which passes exactly one SIGINT on), its output
appended to the job's log. Progress is read from the subprocess's progress lines (``latentdirs.progress``
writes whole lines when its output is a pipe; ``LATENTDIRS_PROGRESS_INTERVAL`` sets how often).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

#: ``… 350/1000 [00:10<00:20, …]``: the position of a tqdm bar in one of its lines
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]  # the whole command line


@dataclass(frozen=True)
class Job:
    id: str
    stages: tuple[Stage, ...]
    log: Path  # the stages' output is appended here
    env: dict[str, str] = field(default_factory=dict)  # added to the executor's environment


@dataclass(frozen=True)
class StageStarted:
    job: str
    stage: str


@dataclass(frozen=True)
class Progress:
    job: str
    stage: str
    done: int
    total: int


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
    stopped: bool  # stopped (or never started) because of :meth:`Executor.stop`


Event = StageStarted | Progress | StageFinished | JobFinished


class Executor(ABC):
    """Runs jobs; see the module docstring."""

    @abstractmethod
    def submit(self, job: Job) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Event]:
        """The events since the last call; blocks up to ``timeout`` seconds for the first one."""

    @abstractmethod
    def stop(self, force: bool = False) -> None:
        """Ask running jobs to stop after saving (``force``: once more, at once) and drop queued jobs."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """A pool of ``workers`` threads running jobs' stages as subprocesses on this machine.

    ``env``: the environment of every command (default: this process's); ``pass_fds``: descriptors the
    commands inherit (a study passes its lock, so runs it leaves behind keep the study folder locked).
    """

    def __init__(self, workers: int, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 pass_fds: tuple[int, ...] = ()) -> None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.pass_fds = pass_fds
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._events: queue.Queue[Event] = queue.Queue()
        self._running: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"study-worker-{i}")
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
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

    def stop(self, force: bool = False) -> None:
        with self._lock:
            self._stopping = True
            running = list(self._running.values())
        for process in running:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGINT) if force else process.send_signal(signal.SIGINT)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    # -- the workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            ok, stopped = True, False
            for stage in job.stages:
                with self._lock:
                    stopped = self._stopping
                if stopped:
                    ok = False
                    break
                finished = self._run(job, stage)
                if finished.returncode != 0:
                    ok = False
                    with self._lock:
                        stopped = self._stopping
                    break
            self._events.put(JobFinished(job.id, ok, stopped))

    def _run(self, job: Job, stage: Stage) -> StageFinished:
        self._events.put(StageStarted(job.id, stage.name))
        job.log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        message = None
        with open(job.log, "ab") as log:
            log.write(f"$ {' '.join(stage.argv)}\n".encode())
            log.flush()
            with self._lock:  # a stop between the check in _work and here must still reach this process
                if self._stopping:
                    return self._finished(job, stage, 130, 0.0, None, "stopped before it started")
                process = subprocess.Popen(stage.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env={**self.env, **job.env}, cwd=self.cwd,
                                           pass_fds=self.pass_fds, start_new_session=True)
                self._running[job.id] = process
            for line in process.stdout:
                log.write(line)
                log.flush()
                if line.startswith((b"error: ", b"interrupted: ")):
                    message = line.decode(errors="replace").strip()
                elif match := PROGRESS.search(line):
                    self._events.put(Progress(job.id, stage.name, int(match[1]), int(match[2])))
            returncode, cpu = _reap(process)
            with self._lock:
                self._running.pop(job.id, None)
            log.write(f"[exit {returncode}]\n".encode())
        return self._finished(job, stage, returncode, time.perf_counter() - started, cpu, message)

    def _finished(self, job: Job, stage: Stage, returncode: int, seconds: float, cpu: float | None,
                  message: str | None) -> StageFinished:
        event = StageFinished(job.id, stage.name, returncode, seconds, cpu, message)
        self._events.put(event)
        return event


def _reap(process: subprocess.Popen) -> tuple[int, float | None]:
    """Wait for ``process``: its exit status (negative: killed by that signal) and its CPU seconds."""
    if not hasattr(os, "wait4"):
        return process.wait(), None
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    process.stdout.close()
    return process.returncode, usage.ru_utime + usage.ru_stime
