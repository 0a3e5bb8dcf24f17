"""From command-line options to a run: merge config file and options, check ``--out``, resume or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io import read_json
from .config import RESUME_MAY_CHANGE, TrainConfig, differences, merge_options
from .runs import RunDir

#: train-vae's parameters that are not options of the run itself
COMMAND_ONLY = frozenset({"out", "beta", "regs", "config_file", "resume", "overwrite", "quiet"})


def given_options(params: dict[str, Any]) -> dict[str, Any]:
    """The run options among ``train-vae``'s parsed parameters: those given (not None), ``--reg`` as
    ``regularizers``."""
    given = {key: value for key, value in params.items() if key not in COMMAND_ONLY and value is not None}
    if params.get("regs"):
        given["regularizers"] = list(params["regs"])
    return given


def _read_base(config_file: str | Path | None) -> tuple[dict[str, Any], str]:
    """The options of ``--config`` (none without one) and how to name their source in messages."""
    if config_file is None:
        return {}, "options"
    base = read_json(config_file, "config file")
    source = f"config file {config_file}"
    if not isinstance(base, dict):
        raise UserError(f"{source}: expected a JSON object of options")
    return base, source


def check_options(options: dict[str, Any], beta: float | None = None,
                  config_file: str | Path | None = None) -> TrainConfig:
    """The config a new run would get from ``options`` (as :func:`given_options` returns them), ``--beta`` and
    ``--config``, checked; nothing is read but the config file."""
    base, source = _read_base(config_file)
    return merge_options(base, options, beta, source)


def saved_config(run: RunDir) -> TrainConfig | None:
    """The config of the train-vae run in ``run``; None when the folder holds none (no ``config.json``, or
    another command's, e.g. a ``discover`` run's)."""
    if not run.holds_run():
        return None
    try:
        return TrainConfig.from_dict(run.read_config(), f"{run.config}")
    except UserError:
        return None


def prepare_run(
    out: str | Path, options: dict[str, Any], beta: float | None = None, config_file: str | Path | None = None,
    resume: bool = False, overwrite: bool = False,
) -> tuple[TrainConfig, RunDir, bool, bool]:
    """(config, run directory, whether to resume, whether to replace the run there) for ``train-vae``; a
    UserError for conflicts. Nothing is removed here: the caller clears the old run (``RunDir.clear``) only
    once the new one has started without error.

    ``options`` holds only the options given on the command line; they override ``config_file``,
    which overrides the defaults. With ``resume`` the saved run's config is the base, and only
    :data:`~latentdirs.vae.config.RESUME_MAY_CHANGE` options may differ from it. ``resume`` on a folder that
    holds no run (missing or empty) is an error, not a fresh start; a run stopped before its first checkpoint
    (``config.json`` only) starts again at step 0.
    """
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other; pass one of them")
    run = RunDir(out)
    if run.path.exists() and not run.path.is_dir():
        raise UserError(f"--out {run.path} is a file; expected a directory for the run")
    base, source = _read_base(config_file)
    saved = saved_config(run)
    if resume and saved is not None:
        config = merge_options(saved.to_dict(), {**base, **options}, beta, source)
        changed = differences(saved.to_dict(), config.to_dict())
        if changed:
            raise UserError(
                f"--resume: {run.path} holds a run with other options ({'; '.join(changed)}); only "
                f"{', '.join(sorted(RESUME_MAY_CHANGE))} may change on resume (or train into another --out)"
            )
        return config, run, True, False
    if resume and saved is None and run.is_free():  # a mistyped --out must not start a fresh 300 000-step run
        raise UserError(f"--resume: {run.path} holds no train-vae run to continue (no config.json or checkpoint); "
                        "check --out, or leave out --resume to start a new run there")
    config = merge_options(base, options, beta, source)
    if saved is not None:
        if overwrite:
            return config, run, False, True
        changed = differences(saved.to_dict(), config.to_dict(), ignore=frozenset())
        if changed:
            raise UserError(
                f"--out {run.path} holds a different run ({'; '.join(changed[:3])}); choose another --out, "
                "or pass --overwrite to replace it"
            )
        raise UserError(f"--out {run.path} already holds this run; pass --resume to continue it "
                        "or --overwrite to start it again")
    if not run.is_free():
        raise UserError(f"--out {run.path} is not empty and holds no train-vae run; choose a new or empty directory")
    return config, run, resume, False
