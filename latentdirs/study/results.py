"""The numbers of a study, read from its run folders every time (never from a cache): for each finished cell,
the evaluation file's numbers (see :mod:`latentdirs.study.kinds`), plus what each cell cost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io import read_json
from .cells import Cell, is_finished, plan_cells, read_status
from .kinds import KINDS
from .spec import StudySpec, spec_from_dict

STUDY_FILE = "study.json"
STUDY_FORMAT = "latentdirs-study"


@dataclass(frozen=True)
class CellValues:
    setting: str
    seed: int
    values: dict[str, float]  # metric → value
    seconds: float  # wall clock of every attempt at its stages (interrupted ones included)
    cpu_seconds: float  # CPU time of the same (0 where it could not be measured)
    labels: tuple[str, ...] = ()  # a name per unit of the result (a direction's main factor), where there is one


@dataclass(frozen=True)
class StudyResults:
    spec: StudySpec
    cells: list[Cell]
    finished: list[CellValues]
    missing: list[str]  # keys of the cells not finished
    metrics: list[str]  # the spec's, else every metric some finished cell has, in first-seen order

    def values(self, metric: str, setting: str) -> dict[int, float]:
        """seed → value of ``metric`` for the finished cells of ``setting`` that have it."""
        return {cell.seed: cell.values[metric] for cell in self.finished
                if cell.setting == setting and metric in cell.values}


def load_study(out: str | Path) -> tuple[StudySpec, dict[str, Any]]:
    """The spec a study folder was run with (its ``study.json``) and that file's contents."""
    path = Path(out) / STUDY_FILE
    if not Path(out).is_dir():
        raise UserError(f"study folder not found: {out}")
    if not path.is_file():
        raise UserError(f"{out} is not a study folder (no {STUDY_FILE}); `latentdirs study run` makes one")
    record = read_json(path, "study file")
    if not isinstance(record, dict) or record.get("format") != STUDY_FORMAT:
        raise UserError(f"{path} is not a latentdirs study file")
    return spec_from_dict(record.get("spec"), str(path)), record


def collect(out: str | Path) -> StudyResults:
    """Read every cell of the study in ``out``."""
    spec, _ = load_study(out)
    kind = KINDS[spec.command]
    cells = plan_cells(spec, Path(out))
    finished, missing, seen = [], [], {}
    for cell in cells:
        if not is_finished(cell, kind):
            missing.append(cell.key)
            continue
        record = json.loads((cell.folder / kind.results_file).read_text())
        values = kind.results(record)
        seen.update(dict.fromkeys(values))
        spent = read_status(cell).get("spent") or {}
        finished.append(CellValues(cell.setting, cell.seed, values, float(spent.get("seconds", 0.0)),
                                   float(spent.get("cpu_seconds", 0.0)), kind.labels(record)))
    metrics = list(spec.metrics) if spec.metrics is not None else list(seen)
    unknown = [metric for metric in metrics if metric not in seen]
    if finished and unknown:  # a misspelt metric would otherwise be a table of empty rows
        raise UserError(f"{out}: no finished cell has the metric(s) {', '.join(unknown)} that the spec names; they "
                        f"have {', '.join(seen)} (correct the spec's metrics and run `latentdirs study run` again: "
                        f"finished cells are kept)")
    return StudyResults(spec, cells, finished, missing, metrics)
