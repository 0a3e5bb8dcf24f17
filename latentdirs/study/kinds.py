"""What a study runs for each base command: the run, its evaluation, where the numbers land, and the checks
made (with the commands' own functions) before anything starts.

=============  ========================================  ===============================================
base command   evaluation of a cell                     numbers the report reads
=============  ========================================  ===============================================
``train-vae``  ``evaluate --run CELL`` (``--n-jobs 1``)   ``CELL/metrics.json`` ``results`` (flattened:
                                                         ``mig``, ``dci.disentanglement``, …)
``discover``   ``evaluate-directions CELL/directions…``   ``CELL/evaluation.json`` ``summary`` (RCA,
               (``--generator`` etc. from the run)       ground-truth D / C / gap, LPIPS), and each
                                                         direction's main factor (``ground_truth``)
=============  ========================================  ===============================================
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import click

from ..errors import UserError


def click_command(name: str) -> click.Command:
    """The CLI's own click command ``name`` (its module in :mod:`latentdirs.commands`)."""
    return importlib.import_module(f"latentdirs.commands.{name.replace('-', '_')}").command


def numbers(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested dict, named by their path (``dci.disentanglement``); a null (a metric
    that could not be computed) and booleans are left out."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(numbers(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


class Kind:
    """One base command of a study (see the module docstring); subclasses fill in the details."""

    command: str
    evaluation: str
    #: options of the base command / of the evaluation that the study sets itself
    reserved: tuple[str, ...]
    eval_reserved: tuple[str, ...]
    #: the evaluation's file in the cell folder
    results_file: str
    #: evaluation options the study gives unless the spec does
    eval_defaults: dict[str, Any] = {}

    def run_args(self, folder: Path, seed: int) -> list[str]:
        return ["--seed", str(seed), "--out", str(folder)]

    def resume_args(self, folder: Path) -> list[str]:
        """What to add to the run's command line to continue an unfinished cell."""
        raise NotImplementedError

    def eval_args(self, folder: Path, run_options: dict[str, Any], eval_options: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def check_run(self, params: dict[str, Any]) -> None:
        """The base command's own checks beyond its option parser (its parsed ``params``); nothing written."""

    def check_eval(self, params: dict[str, Any]) -> None:
        """The evaluation's own checks beyond its option parser."""

    def metric_names(self, eval_params: dict[str, Any]) -> tuple[str, ...] | None:
        """Top-level names a metric may start with, given the evaluation's parsed options (None: any)."""
        return None

    def results(self, record: dict[str, Any]) -> dict[str, float]:
        """The numbers of an evaluation file's contents."""
        raise NotImplementedError

    def labels(self, record: dict[str, Any]) -> tuple[str, ...]:
        """A name per unit of the result (a direction's main factor), where the evaluation gives one."""
        return ()


class VaeKind(Kind):
    command = "train-vae"
    evaluation = "evaluate"
    reserved = ("out", "seed", "resume", "overwrite", "quiet")
    eval_reserved = ("run", "out", "json")
    results_file = "metrics.json"
    eval_defaults = {"n-jobs": 1}  # one worker, one thread: sklearn's fits would otherwise take every core

    def resume_args(self, folder: Path) -> list[str]:
        from ..vae.runs import RunDir

        return ["--resume"] if RunDir(folder).holds_run() else []  # --resume without a run is an error

    def eval_args(self, folder: Path, run_options: dict[str, Any], eval_options: dict[str, Any]) -> list[str]:
        return ["--run", str(folder)]

    def check_run(self, params: dict[str, Any]) -> None:
        from ..vae.launch import check_options, given_options

        check_options(given_options(params), params["beta"], params["config_file"])

    def check_eval(self, params: dict[str, Any]) -> None:
        self.metric_names(params)

    def metric_names(self, eval_params: dict[str, Any]) -> tuple[str, ...]:
        from ..metrics import ALL_METRICS, parse_metrics

        return parse_metrics(eval_params["metric_spec"], ALL_METRICS)

    def results(self, record: dict[str, Any]) -> dict[str, float]:
        return numbers(record.get("results") or {})


class DirectionsKind(Kind):
    command = "discover"
    evaluation = "evaluate-directions"
    reserved = ("out", "seed", "resume", "quiet")
    eval_reserved = ("out", "quiet")
    results_file = "evaluation.json"
    inherited = ("generator", "device", "class-index")  # evaluated with the run's generator unless told otherwise

    def resume_args(self, folder: Path) -> list[str]:
        from ..directions.discovery import CHECKPOINT_FILE

        return ["--resume"] if (folder / CHECKPOINT_FILE).is_file() else []  # closed-form runs keep none

    def eval_args(self, folder: Path, run_options: dict[str, Any], eval_options: dict[str, Any]) -> list[str]:
        from ..directions.discovery import DIRECTIONS_FILE

        args = [str(folder / DIRECTIONS_FILE)]
        for name in self.inherited:
            if name in run_options and name not in eval_options:
                args += [f"--{name}", str(run_options[name])]
        return args

    def check_run(self, params: dict[str, Any]) -> None:
        from ..directions.objectives import DOMAIN
        from ..directions.options import discovery_config
        from ..directions.trainer import CLOSED_FORM_METHODS, resolve_term_name
        from ..io import require_file
        from ..losses.registry import get, parse_spec, resolve_params

        config = discovery_config(params)
        terms = config.regs if config.method in CLOSED_FORM_METHODS else [config.method, *config.regs]
        for spec in terms:
            name, values = parse_spec(spec, resolve_term_name)
            resolve_params(get(resolve_term_name(name), domain=DOMAIN), values)
        require_file(params["generator_path"], "generator file")

    def check_eval(self, params: dict[str, Any]) -> None:
        from ..directions.editing import parse_traverse

        if len(parse_traverse(params["traverse"])) < 2:
            raise UserError(f"--traverse {params['traverse']}: give at least 2 strengths")

    def metric_names(self, eval_params: dict[str, Any]) -> tuple[str, ...]:
        from ..directions.evaluation import SUMMARY_KEYS

        return SUMMARY_KEYS

    def results(self, record: dict[str, Any]) -> dict[str, float]:
        return numbers(record.get("summary") or {})

    def labels(self, record: dict[str, Any]) -> tuple[str, ...]:
        """The factor each direction changes most, read by the factor classifier (none without one)."""
        return tuple(str(name) for name in (record.get("ground_truth") or {}).get("main_factor") or ())


KINDS: dict[str, Kind] = {kind.command: kind for kind in (VaeKind(), DirectionsKind())}
