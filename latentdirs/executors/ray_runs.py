"""The ``ray`` executor: each job a Ray actor holding the job's CPUs and GPUs on some node of a cluster, its
stages run there as the same ``python -m latentdirs …`` subprocesses as locally.

Why an actor and not a plain task: a graceful stop needs a second call into the running job (SIGINT to its
command, which then saves a checkpoint); ``ray.cancel`` on a task ends the task without passing the signal
on. The actor (:class:`RunProcess`, ``max_concurrency=2``) starts a stage's command, hands its output back
in batches (:meth:`RunProcess.read`) and signals it (:meth:`RunProcess.signal`); it is killed when the job
ends, which returns its resources to the cluster. Ray schedules the actor like a task
(``num_cpus``/``num_gpus`` from the job; a GPU job's command sees its GPUs through the
``CUDA_VISIBLE_DEVICES`` Ray sets) and kills it, and with it the command, when the driver dies (a command
whose worker process dies otherwise is killed too, on Linux): the run folder keeps its last periodic
checkpoint, and the next ``study run`` (or server start) resumes it.

The commands start in the same directory as locally (``cwd``, default this process's: with a shared file
system every node sees it) with the job's environment on top of the worker's, and this latentdirs first on
``PYTHONPATH`` (set for the driver's Ray job when it connects: a node that does not see that folder uses
the latentdirs installed beside its Ray).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError
from .base import Command, Job, PoolExecutor, Resources, Stage, package_root
from .local import reap

INSTALL = "--executor ray needs Ray: pip install 'latentdirs[ray]'"
READ_WAIT_S = 1.0  # how long one read() waits for output in the actor
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`UserError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL) from None
    return ray


def runtime_env() -> dict[str, Any]:
    """The Ray job's runtime environment: this latentdirs first on the workers' ``PYTHONPATH``."""
    return {"env_vars": {"PYTHONPATH": f"{package_root()}{os.pathsep}${{PYTHONPATH}}"}}


class RayExecutor(PoolExecutor):
    """At most ``workers`` jobs in flight (default: the cluster's CPUs), each a Ray actor (see the module
    docstring). Connects to ``address`` (``auto``, ``local``, ``HOST:PORT``, ``ray://HOST:PORT``; None: a
    cluster started on this machine, else a new local instance) unless Ray is already initialised in this
    process; shuts Ray down on :meth:`close` only when it started it."""

    def __init__(self, workers: int | None = None, address: str | None = None, cwd: str | Path | None = None) -> None:
        self.ray = ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _check_reachable(address)
            try:
                ray.init(address=address, runtime_env=runtime_env(), logging_level=logging.WARNING,
                         log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                raise UserError(f"could not connect to Ray{f' at {address}' if address else ''}: "
                                f"{_first_line(exc)}") from None
        self.cwd = str(Path(cwd if cwd is not None else os.getcwd()).resolve())
        self._actor_class = ray.remote(RunProcess)
        self._actors: dict[str, Any] = {}
        super().__init__(workers or max(1, int(ray.cluster_resources().get("CPU", 1))))

    def check(self, resources: Resources) -> None:
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        if not any(r.get("CPU", 0) >= resources.cpus and r.get("GPU", 0) >= resources.gpus for r in nodes):
            largest = max(((r.get("CPU", 0), r.get("GPU", 0)) for r in nodes), default=(0, 0))
            raise UserError(f"no node of the Ray cluster has {resources.cpus:g} CPUs and {resources.gpus:g} GPUs "
                            f"for one run (the largest has {largest[0]:g} and {largest[1]:g}); ask for less or "
                            "add a node that has them")

    def close(self) -> None:
        super().close()
        if self._owns_ray:
            self.ray.shutdown()

    def _start(self, job: Job, stage: Stage, cancelled: Callable[[], bool]) -> Command | None:
        ray = self.ray
        with self._lock:
            actor = self._actors.get(job.id)
            if actor is None:  # one actor per job: its stages run in turn on the resources it holds
                actor = self._actors[job.id] = self._actor_class.options(
                    num_cpus=job.resources.cpus, num_gpus=job.resources.gpus, max_concurrency=2, max_restarts=0,
                    max_task_retries=0).remote()
        started = actor.start.remote(list(stage.argv), dict(job.env), self.cwd)
        while not ray.wait([started], timeout=0.5)[0]:  # queued until the cluster has the resources
            if cancelled():
                return None
        reply = ray.get(started)
        if "error" in reply:
            raise OSError(reply["error"])
        return _ActorCommand(ray, actor, reply["python"])

    def _job_done(self, job: Job) -> None:
        with self._lock:
            actor = self._actors.pop(job.id, None)
        if actor is not None:
            self.ray.kill(actor, no_restart=True)


class _ActorCommand(Command):
    """A stage's command running in a :class:`RunProcess` actor, seen from the driver."""

    def __init__(self, ray: Any, actor: Any, python: str) -> None:
        self.ray, self.actor, self.python = ray, actor, python
        self.pid = None  # on another machine, or one Ray owns: it is stopped through the actor
        self._result: tuple[int, float | None] | None = None

    def lines(self) -> Iterator[bytes]:
        while self._result is None:
            lines, done = self.ray.get(self.actor.read.remote(READ_WAIT_S))
            yield from lines
            if done is not None:
                self._result = done[0], done[1]

    def result(self) -> tuple[int, float | None]:
        assert self._result is not None, "result() before lines() ended"
        return self._result

    def signal(self, force: bool) -> None:
        self.actor.signal.remote(force)  # not awaited: this may run in a signal handler


class RunProcess:
    """Lives in a Ray worker (the job's actor): runs one stage's command at a time as a subprocess of the
    worker and keeps its output until :meth:`read` hands it over."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lines: list[bytes] = []
        self._done: tuple[int, float | None] | None = None
        self._changed = threading.Condition()

    def start(self, argv: list[str], env: dict[str, str], cwd: str) -> dict[str, Any]:
        """Start ``python ARGV`` in ``cwd``; ``{"python": the interpreter}`` or ``{"error": why not}``.

        The command is started, followed and reaped by a thread of its own, which it outlives only if this
        worker dies: then it is killed too (Linux: the parent-death signal of the thread that started it), so
        that no orphan goes on writing into a run folder that the next ``study run`` resumes."""
        reply: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._run, args=(argv, {**os.environ, **env}, cwd, reply), daemon=True).start()
        return reply.get()

    def _run(self, argv: list[str], env: dict[str, str], cwd: str, reply: queue.Queue) -> None:
        try:
            process = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True,
                                       preexec_fn=_child_setup(os.getpid()))
        except OSError as exc:
            reply.put({"error": f"cannot run {sys.executable} in {cwd} on {os.uname().nodename}: "
                                f"{exc.strerror or exc}"})
            return
        with self._changed:
            self._process, self._lines, self._done = process, [], None
        reply.put({"python": sys.executable})
        for line in process.stdout:  # type: ignore[union-attr]
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        done = reap(process)
        with self._changed:
            self._done = done
            self._changed.notify_all()

    def read(self, wait_s: float) -> tuple[list[bytes], tuple[int, float | None] | None]:
        """The output lines since the last call (waiting up to ``wait_s`` for one) and, once the command has
        exited and every line was handed over, its exit status and CPU seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._lines or self._done is not None, timeout=wait_s)
            lines, self._lines = self._lines, []
            return lines, self._done

    def signal(self, force: bool) -> None:
        """SIGINT to the command, or with ``force`` SIGKILL to its process group."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL) if force else process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


def _check_reachable(address: str | None) -> None:
    """A :class:`UserError` at once when nothing listens at ``HOST:PORT`` (Ray itself retries for minutes)."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise UserError(f"could not connect to Ray at {address}: {exc.strerror or exc}") from None


def _child_setup(parent: int) -> Callable[[], None]:
    """What the command's process does between fork and exec: unblock every signal (Ray's worker threads block
    SIGINT, and a child inherits the mask: the command could not be stopped gracefully) and, on Linux, ask for
    SIGKILL when the thread that started it ends (it ends after reaping the command, or with the worker)."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: nothing is loaded after the fork
    except (OSError, AttributeError):
        prctl = None

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the worker died before the request took effect
                os._exit(137)

    return setup


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
