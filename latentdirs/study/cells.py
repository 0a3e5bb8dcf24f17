"""The cells of a study (setting × seed), their command lines, the checks made before any starts, and
whether each is finished.

A cell is the ordinary run folder ``OUT/<setting>/seed_<k>/`` of the base command, evaluated in place.
Beside it the study keeps ``seed_<k>.log`` (every command's output) and ``seed_<k>.status.json``, written
atomically after each stage with the stage's command line and times. A cell is finished when its status
records both stages with the command lines the spec gives now and its evaluation file is readable; a stage
recorded with another command line means the spec changed under a finished cell, which is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from ..io import write_json
from .argv import option_argv
from .kinds import KINDS, Kind, click_command
from .spec import StudySpec

STATUS_FORMAT = "latentdirs-study-cell"
STAGES = ("run", "evaluate")
CELL_TOKEN = "<cell>"  # the cell folder in recorded command lines (a study folder may move)
RUN_OUTPUTS = {"train-vae": "model.safetensors", "discover": "directions.safetensors"}


@dataclass(frozen=True)
class Cell:
    setting: str
    seed: int
    folder: Path
    argv: dict[str, tuple[str, ...]]  # stage → latentdirs arguments (command first; no --resume)

    @property
    def key(self) -> str:
        return f"{self.setting}/seed_{self.seed}"

    @property
    def status_path(self) -> Path:
        return self.folder.parent / f"{self.folder.name}.status.json"

    @property
    def log_path(self) -> Path:
        return self.folder.parent / f"{self.folder.name}.log"

    def identity(self, stage: str) -> list[str]:
        """The stage's command line with the cell folder written as ``<cell>``."""
        return [arg.replace(str(self.folder), CELL_TOKEN) for arg in self.argv[stage]]


def plan_cells(spec: StudySpec, out: Path, source: str = "study spec") -> list[Cell]:
    """Every cell's command lines, settings in the spec's order, seeds within (nothing checked or written;
    ``source`` names the spec in errors)."""
    kind = KINDS[spec.command]
    run_command, eval_command = click_command(kind.command), click_command(kind.evaluation)
    eval_options = {**kind.eval_defaults, **spec.evaluate}
    eval_argv = option_argv(eval_command, eval_options, f"{source}: evaluate")
    cells = []
    for setting in spec.settings:
        options = spec.setting_options(setting)
        run_argv = option_argv(run_command, options, f"{source}: setting {setting!r}")
        for seed in spec.seeds:
            folder = out / setting / f"seed_{seed}"
            cells.append(Cell(setting, seed, folder, {
                "run": (kind.command, *run_argv, *kind.run_args(folder, seed)),
                "evaluate": (kind.evaluation, *kind.eval_args(folder, options, eval_options), *eval_argv),
            }))
    return cells


def check_cells(spec: StudySpec, cells: list[Cell], source: str) -> None:
    """Check every option of every cell with the commands' own parsers and checks; the first mistake is one
    :class:`UserError` naming the spec and the setting."""
    kind = KINDS[spec.command]
    _check_reserved(spec, kind, source)
    checked: set[tuple[str, str]] = set()
    eval_params: dict[str, Any] = {}
    for cell in cells:
        for stage in STAGES:
            name, *args = cell.argv[stage]
            where = f"{source}: setting {cell.setting!r}" if stage == "run" else f"{source}: evaluate"
            params = _parse(click_command(name), args, where)
            if (cell.setting, stage) not in checked:  # the commands' deeper checks, once per setting
                checked.add((cell.setting, stage))
                try:
                    kind.check_run(params) if stage == "run" else kind.check_eval(params)
                except UserError as exc:
                    raise UserError(f"{where}: {exc}") from None
            if stage == "evaluate":
                eval_params = params
    if spec.metrics is not None:
        known = kind.metric_names(eval_params)
        for metric in spec.metrics:
            root = metric.split(".")[0]
            if known is not None and metric not in known and not any(root == k or root.startswith(f"{k}_")
                                                                     for k in known):
                raise UserError(f"{source}: metric {metric!r} is not one the evaluation writes; "
                                f"it writes {', '.join(known)} (dotted names reach inside: dci.disentanglement, "
                                "local_mig.0.1)")


def _check_reserved(spec: StudySpec, kind: Kind, source: str) -> None:
    groups = [("options", spec.options, kind.reserved)]
    groups += [(f"setting {name!r}", options, kind.reserved) for name, options in spec.settings.items()]
    groups += [("evaluate", spec.evaluate, kind.eval_reserved)]
    for where, options, reserved in groups:
        for name in options:
            if name in (*reserved, "help"):
                raise UserError(f"{source}: {where}: option {name} is set by the study (seeds, cell folders, "
                                "resuming and progress are its job)")


def _parse(command: click.Command, args: list[str], where: str) -> dict[str, Any]:
    """``command``'s parsed parameters for ``args``: the CLI's own parser and its message, on one line."""
    try:
        with command.make_context(command.name, list(args)) as ctx:
            return dict(ctx.params)
    except click.UsageError as exc:
        message = " ".join(exc.format_message().split())
        raise UserError(f"{where}: {message} (see 'latentdirs {command.name} --help')") from None


# -- status ---------------------------------------------------------------------------------------
def read_status(cell: Cell) -> dict[str, Any]:
    """The cell's status (an empty one when it has none or it is unreadable)."""
    try:
        status = json.loads(cell.status_path.read_text())
    except (OSError, ValueError):
        return {"stages": {}}
    if not isinstance(status, dict) or status.get("format") != STATUS_FORMAT or not isinstance(
            status.get("stages"), dict):
        return {"stages": {}}
    return status


def stage_done(cell: Cell, stage: str, kind: Kind, status: dict[str, Any] | None = None) -> bool:
    """Whether ``stage`` finished with the command line the spec gives now and left its output."""
    status = read_status(cell) if status is None else status
    record = status["stages"].get(stage)
    if not isinstance(record, dict) or record.get("argv") != cell.identity(stage):
        return False
    output = RUN_OUTPUTS[kind.command] if stage == "run" else kind.results_file
    return (cell.folder / output).is_file()


def is_finished(cell: Cell, kind: Kind) -> bool:
    """Both stages done and the evaluation file readable as a JSON object."""
    status = read_status(cell)
    if not all(stage_done(cell, stage, kind, status) for stage in STAGES):
        return False
    try:
        return isinstance(json.loads((cell.folder / kind.results_file).read_text()), dict)
    except (OSError, ValueError):
        return False


def changed_stages(cell: Cell) -> list[str]:
    """Stages this cell finished with another command line than the spec gives now."""
    status = read_status(cell)
    return [stage for stage, record in status["stages"].items()
            if stage in STAGES and isinstance(record, dict) and record.get("argv") != cell.identity(stage)]


def record_stage(cell: Cell, stage: str, seconds: float, cpu_seconds: float | None) -> None:
    """Add a finished stage to the cell's status (atomically); a new run drops the evaluation of an old one."""
    status = read_status(cell)
    if stage == "run":
        status["stages"].pop("evaluate", None)
    status["stages"][stage] = {"argv": cell.identity(stage), "seconds": round(seconds, 3),
                               "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 3),
                               "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write_status(cell, status)


def add_spent(cell: Cell, seconds: float, cpu_seconds: float | None) -> None:
    """Count one attempt at a stage (finished, failed or stopped) in the cell's total cost."""
    status = read_status(cell)
    spent = status.get("spent") if isinstance(status.get("spent"), dict) else {}
    status["spent"] = {"attempts": int(spent.get("attempts", 0)) + 1,
                       "seconds": round(float(spent.get("seconds", 0.0)) + seconds, 3),
                       "cpu_seconds": round(float(spent.get("cpu_seconds", 0.0)) + (cpu_seconds or 0.0), 3)}
    _write_status(cell, status)


def _write_status(cell: Cell, status: dict[str, Any]) -> None:
    write_json(cell.status_path, {"format": STATUS_FORMAT, "setting": cell.setting, "seed": cell.seed,
                                  "stages": status["stages"], "spent": status.get("spent", {})})
