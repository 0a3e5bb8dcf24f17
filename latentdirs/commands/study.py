"""``latentdirs study run|report``: seeds × settings sweeps with a statistics report (logic in latentdirs.study)."""

from __future__ import annotations

import os

import click

from ._options import COUNT, check_executor, executor_options


@click.group("study")
def command() -> None:
    """Run a study (named settings × seeds of train-vae or discover, each evaluated) and report it.

    \b
    Examples:
      latentdirs study run scripts/studies/topdis_cpu.yaml --out runs/studies/topdis_cpu --workers 2
      latentdirs study run scripts/studies/topdis_cpu.yaml --out /shared/studies/topdis --executor ray --address auto
      latentdirs study report runs/studies/topdis_cpu
    """


@command.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Study folder: one run folder per cell (OUT/<setting>/seed_<k>/), logs and statuses beside them.")
@click.option("--workers", type=COUNT, default=None,
              help="Runs at once  [default: the number of CPU cores; with --executor ray, the cluster's CPUs]")
@executor_options
def run(spec: str, out: str, workers: int | None, executor: str, address: str | None) -> None:
    """Run every unfinished cell of SPEC (a JSON or YAML study spec) into OUT, then print how to report it.

    The whole spec is checked first (every cell's options by the commands' own parsers); a mistake is one
    error line and nothing starts. Each cell is an ordinary run folder, evaluated in place. Run the same
    command again after Ctrl-C, a crash or on another machine: only unfinished cells run, interrupted ones
    continue from their checkpoints. With --executor ray each cell is a Ray actor asking for the spec's
    resources (default 1 CPU); the run folders are the same as with the local executor.

    \b
    Spec (YAML; JSON the same as an object):
      command: train-vae                         # or discover
      options: {steps: 2000, objective: "beta-vae:beta=4"}
      settings: {plain: {}, topdis: {reg: ["topdis:gamma=5"]}}
      seeds: 5                                   # or a list: [0, 1, 2]
      baseline: plain                            # or {setting: its baseline}
      evaluate: {metrics: "mig,dci"}             # evaluate / evaluate-directions options
      resources: {cpus: 1, gpus: 0}              # per run: its threads; what a Ray cluster reserves
    """
    from ..study.runner import run_study

    check_executor(executor, address)
    if executor == "local":
        workers = workers or os.cpu_count() or 1
    outcome = run_study(spec, out, workers, executor=executor, address=address)
    done = outcome.already + len(outcome.finished)
    click.echo(f"{done} of {outcome.total} cells finished ({outcome.already} before this run; "
               f"{outcome.cpu_seconds / 3600:.2f} CPU-hours now); report: latentdirs study report {out}")


@command.command("report")
@click.argument("study_folder", metavar="OUT", type=click.Path(file_okay=False))
def report(study_folder: str) -> None:
    """Tables (setting, n, mean ± std, median, test against the baseline), one PNG per metric and an HTML page
    with all of it, in OUT/report/; every number recomputed from the run folders."""
    from ..study.report import write_report

    result = write_report(study_folder)
    click.echo(result.markdown)
    click.echo(f"wrote {', '.join(str(path) for path in result.files[:4])} and {len(result.files) - 4} PNG files")
