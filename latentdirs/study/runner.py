"""``study run``: check the whole spec, then run every unfinished cell (run, then evaluation) on an executor
(:mod:`latentdirs.executors`: this machine's process pool, or a Ray cluster), with an overall bar (cells, ETA)
and one progress line per run in flight.

Ctrl-C (SIGINT) or SIGTERM: no new cell starts and each running command gets one SIGINT, so it saves its
checkpoint and stops; the study then exits with status 130 (``interrupted: …``). A second one stops the
runs at once (their last periodic checkpoints stay). Running the same command again runs only the cells
that are not finished, continuing the interrupted ones from their checkpoints.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..executors import create
from ..executors.base import Executor, Job, JobFinished, Progress, Resources, Stage, StageFinished, StageStarted
from ..interrupt import Interrupted
from ..io import write_json
from ..progress import INTERVAL_VARIABLE, progress_bar
from .cells import (
    STAGES,
    Cell,
    add_spent,
    changed_stages,
    check_cells,
    is_finished,
    plan_cells,
    record_stage,
    stage_done,
)
from .kinds import KINDS, Kind
from .lock import StudyLock
from .results import STUDY_FILE, STUDY_FORMAT
from .spec import StudySpec, load_spec


def run_environment(threads: int) -> dict[str, str]:
    """What every run's environment gets on top of the executor's: ``threads`` threads for every numerical
    library, unbuffered output, frequent progress lines."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1", INTERVAL_VARIABLE: "5"}


@dataclass
class StudyOutcome:
    total: int
    already: int  # finished before this call
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "key (stage): its error line; log: path"
    cpu_seconds: float = 0.0


def prepare(spec_path: str | Path, out: str | Path) -> tuple[StudySpec, list[Cell]]:
    """The checked spec and its cells; a UserError (nothing written) for any mistake or a conflict with
    the cells already in ``out``."""
    spec = load_spec(spec_path)
    out = Path(out)
    source = f"study spec {spec_path}"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; expected a folder for the study")
    if out.is_dir() and any(out.iterdir()) and not (out / STUDY_FILE).is_file():
        raise UserError(f"--out {out} is not empty and holds no study ({STUDY_FILE}); choose a new or empty folder")
    cells = plan_cells(spec, out, source)
    check_cells(spec, cells, source)
    for cell in cells:
        changed = changed_stages(cell)
        if changed:
            raise UserError(f"cell {cell.key} in {out} was finished with other options ({changed[0]}: "
                            f"{cell.status_path} records its command line); choose another --out, or delete "
                            f"{cell.folder} and {cell.status_path} to run it again")
    return spec, cells


def run_study(spec_path: str | Path, out: str | Path, workers: int | None = None, executor: str = "local",
              address: str | None = None) -> StudyOutcome:
    """Run the study of ``spec_path`` into ``out`` (see the module docstring) on the executor named ``executor``
    (``local`` or ``ray``, at ``address``) with ``workers`` runs at once (None: the executor's default)."""
    spec, cells = prepare(spec_path, out)
    out, kind = Path(out), KINDS[spec.command]
    todo = [cell for cell in cells if not is_finished(cell, kind)]
    outcome = StudyOutcome(total=len(cells), already=len(cells) - len(todo))
    record = {"format": STUDY_FORMAT, "spec_file": str(spec_path), "spec": spec.to_dict()}
    if not todo:
        with StudyLock(out):
            write_json(out / STUDY_FILE, record)
        return outcome
    resources = spec.resources or Resources()
    prefix = ("-m", "latentdirs", "--threads", str(resources.threads))
    jobs = {cell.key: (cell, _job(cell, prefix, kind, resources)) for cell in todo}
    # the executor first (a cluster that cannot be reached, or too small, is an error before anything is written)
    with create(executor, min(workers, len(todo)) if workers else None, address=address) as runs:
        runs.check(resources)
        with StudyLock(out) as lock:
            runs.pass_fds = (lock.fd,)
            write_json(out / STUDY_FILE, record)
            with _stop_on_signals(runs) as stopping:
                for _, job in jobs.values():
                    runs.submit(job)
                _follow(runs, jobs, outcome, spec.name, stopping)
        if stopping.is_set():
            raise Interrupted(f"stopped; {outcome.already + len(outcome.finished)} of {outcome.total} cells finished, "
                              "the runs in flight saved checkpoints; run the same command again to continue")
    if outcome.failed:
        raise UserError(f"{len(outcome.failed)} of {len(todo)} cells failed: {' | '.join(outcome.failed)} "
                        "(run the same command again to retry them)")
    return outcome


def _job(cell: Cell, prefix: tuple[str, ...], kind: Kind, resources: Resources) -> Job:
    stages = []
    if not stage_done(cell, "run", kind):
        stages.append(Stage("run", (*prefix, *cell.argv["run"], *kind.resume_args(cell.folder))))
    stages.append(Stage("evaluate", (*prefix, *cell.argv["evaluate"])))
    return Job(cell.key, tuple(stages), cell.log_path, run_environment(resources.threads), resources)


@contextmanager
def _stop_on_signals(executor: Executor) -> Iterator[threading.Event]:
    """SIGINT / SIGTERM stop the executor gracefully, a second one at once (handlers only in the main thread)."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def handle(signum: int, frame: object) -> None:
        force = stopping.is_set()
        stopping.set()
        tqdm.write("stopping the runs in flight at once" if force else
                   "stopping: the runs in flight save a checkpoint and stop (again to stop them at once)",
                   file=sys.stderr)
        executor.stop(force=force)

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _follow(executor: Executor, jobs: dict[str, tuple[Cell, Job]], outcome: StudyOutcome, name: str,
            stopping: threading.Event) -> None:
    """Turn the executor's events into bars, lines and status files until every job has finished."""
    on_terminal = sys.stderr.isatty()  # bars stacked by position there; off a terminal each writes its own lines
    overall = progress_bar(total=len(jobs), desc=f"study {name}", position=0 if on_terminal else None,
                           bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} cells "
                                      "[{elapsed}<{remaining}]")
    bars: dict[str, tqdm] = {}
    fraction: dict[str, float] = {}
    free_slots = list(range(1, len(jobs) + 1))
    slot_of: dict[str, int] = {}
    pending = set(jobs)
    with overall:
        while pending:
            for event in executor.wait(timeout=0.5):
                cell, job = jobs[event.job]
                index = {stage.name: i for i, stage in enumerate(job.stages)}
                if isinstance(event, StageStarted):
                    if event.job not in slot_of:
                        slot_of[event.job] = free_slots.pop(0)
                    bars[event.job] = progress_bar(desc=f"{event.job} {event.stage}", leave=False,
                                                   position=slot_of[event.job] if on_terminal else None)
                    fraction[event.job] = index[event.stage] / len(job.stages)
                elif isinstance(event, Progress):
                    bar = bars[event.job]
                    bar.total, bar.n = event.total, event.done
                    bar.refresh()
                    fraction[event.job] = (index[event.stage] + event.done / max(event.total, 1)) / len(job.stages)
                elif isinstance(event, StageFinished):
                    bars.pop(event.job).close()
                    _stage_finished(cell, event, outcome, stopping.is_set())
                elif isinstance(event, JobFinished):
                    pending.discard(event.job)
                    fraction.pop(event.job, None)
                    if event.job in slot_of:
                        free_slots.insert(0, slot_of.pop(event.job))
                    if event.ok:
                        outcome.finished.append(event.job)
            overall.n = len(outcome.finished) + len(outcome.failed) + sum(fraction.values())
            overall.refresh()


def _stage_finished(cell: Cell, event: StageFinished, outcome: StudyOutcome, stopping: bool) -> None:
    cpu = f", CPU {event.cpu_seconds:.0f} s" if event.cpu_seconds is not None else ""
    outcome.cpu_seconds += event.cpu_seconds or 0.0
    add_spent(cell, event.seconds, event.cpu_seconds)
    if event.returncode == 0:
        record_stage(cell, event.stage, event.seconds, event.cpu_seconds)
        tqdm.write(f"{cell.key}: {event.stage} done in {event.seconds:.0f} s{cpu}"
                   + (" — cell finished" if event.stage == STAGES[-1] else ""), file=sys.stderr)
        return
    what = event.message or f"exit status {event.returncode}"
    if not (stopping and event.returncode == 130):
        outcome.failed.append(f"{cell.key} ({event.stage}): {what}; log: {cell.log_path}")
    tqdm.write(f"{cell.key}: {event.stage} stopped ({what}); log: {cell.log_path}", file=sys.stderr)
