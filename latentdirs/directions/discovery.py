"""A discovery run directory: ``config.json``, ``checkpoint.pt``, ``directions.safetensors``,
``metrics.json`` (the loss history), ``traversals/direction_XX.png`` and ``report.html``.

``run_discovery`` trains (or computes, for closed-form methods) and writes all of them; with
``resume=True`` it continues from ``checkpoint.pt`` (same settings required, ``steps`` may grow).
An interrupted run (Ctrl-C) saves a checkpoint before stopping. Under torchrun (learned methods trained on
every rank, :mod:`latentdirs.directions.trainer`) only rank 0 writes, and the other ranks return None.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .. import distributed
from ..errors import UserError
from ..interrupt import Interrupted, StopRequest
from ..io import write_json
from ..progress import progress_bar
from ..runlock import run_lock
from .dirfile import DirectionSet, save_directions
from .generator import GeneratorHandle
from .report import render_report
from .spaces import SpaceRenderer
from .trainer import CLOSED_FORM_METHODS, DirectionTrainer, DiscoveryConfig, discover_closed_form

DIRECTIONS_FILE = "directions.safetensors"
CHECKPOINT_FILE = "checkpoint.pt"
_SHOWN = ("loss", "/accuracy", "/rtd", "/gap")  # progress-bar entries (the total loss and key diagnostics)


def run_discovery(handle: GeneratorHandle, config: DiscoveryConfig, out: str | os.PathLike, *, resume: bool = False,
                  progress: bool = True, report: dict[str, Any] | None = None) -> DirectionSet | None:
    """Discover directions into the run folder ``out`` (see the module docstring), holding its lock
    (:func:`~latentdirs.runlock.run_lock`: a second process on the same folder is refused; under torchrun rank 0
    holds it for all ranks); None on torchrun ranks other than 0."""
    with run_lock(out) if distributed.is_main_process() else contextlib.nullcontext():
        return _discover(handle, config, Path(out), resume, progress, report)


def _discover(handle: GeneratorHandle, config: DiscoveryConfig, out: Path, resume: bool, progress: bool,
              report: dict[str, Any] | None) -> DirectionSet | None:
    checkpoint = out / CHECKPOINT_FILE
    _check_run_folder(out, config, resume)
    if config.method in CLOSED_FORM_METHODS:
        if resume:
            raise UserError(f"{config.method} is closed-form and has nothing to resume")
        if not distributed.is_main_process():  # nothing to share: rank 0 computes it alone
            return None
        dset = discover_closed_form(handle, config)
        write_json(out / "config.json", {"discovery": config.to_dict(), "generator": handle.describe()})
        history: list[dict[str, float]] = []
    else:
        trainer = DirectionTrainer(handle, config)
        if resume:
            if not checkpoint.is_file():
                raise UserError(f"nothing to resume: {checkpoint} does not exist")
            trainer.load_checkpoint(checkpoint)
        elif checkpoint.exists():
            raise UserError(f"{out} already holds a run ({CHECKPOINT_FILE}); use --resume or another --out")
        main = trainer.world.is_main
        if main:
            write_json(out / "config.json", {"discovery": config.to_dict(), "generator": handle.describe()})
        train_with_checkpoints(trainer, checkpoint, progress and main, f"discover {config.method}")
        if not main:
            return None
        dset = trainer.result()
        history = trainer.history
    save_directions(out / DIRECTIONS_FILE, dset)
    write_json(out / "metrics.json", {"history": history})
    render_report(out, SpaceRenderer(handle, dset.space), dset, **(report or {}))
    return dset


def _check_run_folder(out: Path, config: DiscoveryConfig, resume: bool) -> None:
    """``out`` must be missing, empty, or a previous discovery run: never overwrite another tool's files, nor
    (without ``resume``, which checks its checkpoint itself) a discovery run with other settings."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; expected a folder for the run")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        saved = json.loads((out / "config.json").read_text())["discovery"]
    except (OSError, ValueError, TypeError, KeyError):
        raise UserError(f"--out {out} is not empty and holds no discovery run; choose an empty or new folder") from None
    if resume:
        return
    ours = json.loads(json.dumps(config.training_identity()))  # as config.json holds it (lists, not tuples)
    theirs = {key: saved.get(key) for key in ours} if isinstance(saved, dict) else {}
    changed = [f"{key} {theirs.get(key)!r} → {value!r}" for key, value in ours.items() if theirs.get(key) != value]
    if changed:
        raise UserError(f"--out {out} holds another discovery run ({'; '.join(changed[:3])}); "
                        "choose another --out (or delete that run)")


def train_with_checkpoints(trainer: DirectionTrainer, checkpoint: Path | None, progress: bool, desc: str) -> None:
    """Step ``trainer`` up to ``config.steps``: a checkpoint every ``config.checkpoint_every`` steps and at the
    end, and on Ctrl-C one at the step boundary before stopping (without ``checkpoint``: none, and Ctrl-C stops at
    once)."""
    config = trainer.config
    if trainer.step > config.steps:
        raise UserError(f"the checkpoint is at step {trainer.step}, beyond --steps {config.steps}")
    bar = progress_bar(total=config.steps, initial=trainer.step, desc=desc, disable=not progress)
    with bar, (StopRequest() if checkpoint is not None else contextlib.nullcontext()) as stop:
        while trainer.step < config.steps:
            logs = trainer.train_step()
            bar.update(1)
            bar.set_postfix({k.rsplit("/", 1)[-1]: f"{v:.3g}" for k, v in logs.items() if k.endswith(_SHOWN)},
                            refresh=False)
            stopping = trainer.world.any(stop is not None and stop.requested)  # a Ctrl-C on one rank stops all
            due = bool(config.checkpoint_every) and trainer.step % config.checkpoint_every == 0
            if checkpoint is not None and trainer.world.is_main and (due or stopping):
                trainer.save_checkpoint(checkpoint)
            if stopping and trainer.step < config.steps:
                raise Interrupted.at(f"step {trainer.step} of {config.steps}", checkpoint)
    if checkpoint is not None and trainer.world.is_main:
        trainer.save_checkpoint(checkpoint)
