"""``latentdirs evaluate``: disentanglement metrics of a trained VAE run on its own dataset."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ._choices import ALL_METRICS, DEFAULT_EVALUATE_METRICS
from ._options import N_JOBS, SEED, SPREAD_SAMPLES, device_option, overwrite_option


@click.command("evaluate")
@click.option("--run", "run_dir", required=True, help="Run directory written by train-vae.")
@click.option("--metrics", "metric_spec", default=",".join(DEFAULT_EVALUATE_METRICS), show_default=True,
              help=f"Comma-separated subset of: {', '.join(ALL_METRICS)} (or 'all').")
@click.option("--num-train", default=10000, show_default=True, type=SPREAD_SAMPLES,
              help="Sampled points that train/score the array metrics.")
@click.option("--num-test", default=5000, show_default=True, type=SPREAD_SAMPLES,
              help="Sampled held-out points (SAP, DCI, explicitness).")
@click.option("--seed", default=0, show_default=True, type=SEED,
              help="numpy RandomState seed of the sampling (and of the DCI trees).")
@click.option("--fast", is_flag=True, help="Fast DCI (histogram GBT): much faster, numbers differ from the reference.")
@device_option(help="auto, cpu, cuda[:N] or mps for the encoder.")
@click.option("--n-jobs", default=-1, show_default=True, type=N_JOBS,
              help="Worker threads for the fits (-1: all CPUs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Where to write the results (default: RUN/metrics.json).")
@overwrite_option
def command(run_dir, metric_spec, num_train, num_test, seed, fast, device, n_jobs, as_json, out_path,
            overwrite) -> None:
    """Evaluate a trained VAE: encode sampled images of its dataset (posterior means) and score them.

    Writes metrics.json into the run, or to --out (atomically): the results, the protocol (metrics, points, seed,
    DCI estimator) and the time taken. Array metrics use --num-train then --num-test points drawn
    as disentanglement_lib draws them; factor_vae, beta_vae and local (local MIG / modularity of
    JL1-VAE, 5 locality proportions × 20 clusters) follow their papers' protocols with --num-train
    training and --num-test evaluation votes (64 images each; beta_vae: pairs) and --num-train points per
    local cluster (the defaults are the protocols' own sizes).

    \b
    Examples:
      latentdirs evaluate --run runs/bvae
      latentdirs evaluate --run runs/bvae --metrics mig,dci --fast --num-train 5000 --num-test 2000
      latentdirs evaluate --run runs/jl1 --metrics local,mig --json
      latentdirs evaluate --run pretrained/dsprites_topdis_vae --out runs/topdis_vae_metrics.json  # bundled
    """
    from ..io import check_outputs, write_json
    from ..metrics import evaluate_representation, parse_metrics
    from ..metrics.report import format_table, json_ready, to_json
    from ..metrics.suite import evaluation_stages
    from ..progress import progress_bar
    from ..vae.runs import RunDir, load_trained
    from ..validation import check_fits

    metrics = parse_metrics(metric_spec, ALL_METRICS)
    target = Path(out_path) if out_path else Path(run_dir) / "metrics.json"
    trained = load_trained(run_dir, device=device)
    run = RunDir(run_dir)
    check_outputs([target], [*run.owned_paths(), run.checkpoint, trained.config.get("data_path")], kind="json",
                  overwrite=overwrite)
    width = int(trained.config["latent_dim"]) + trained.dataset.num_factors  # float64 codes and int64 factors
    check_fits(2 * (num_train + num_test) * width * 8, f"{num_train} + {num_test} sampled points",
               hint="lower --num-train / --num-test")
    estimator = "hist_gbt" if fast else "gbt"
    started = time.perf_counter()
    with progress_bar(total=len(evaluation_stages(metrics)), desc="evaluate", unit="stage", leave=False) as bar:

        def advance(stage: str) -> None:
            if bar.n or stage != evaluation_stages(metrics)[0]:
                bar.update(1)
            bar.set_postfix_str(stage)

        results = evaluate_representation(
            trained.dataset, trained.encode_mean, metrics, num_train, num_test, seed,
            dci_estimator=estimator, n_jobs=n_jobs, details=True, progress=advance,
        )
        bar.update(bar.total - bar.n)
    seconds = time.perf_counter() - started
    details = results.pop("details", None)
    record = {
        "results": results,
        "protocol": {"metrics": list(metrics), "num_train": num_train, "num_test": num_test, "seed": seed,
                     "dci_estimator": estimator, "dataset": trained.config.get("dataset")},
        "seconds": round(seconds, 3),
    }
    if details is not None:
        record["details"] = details
    write_json(target, json_ready(record))
    click.echo(to_json(results) if as_json else format_table(results))
    if not as_json:
        click.echo(f"wrote {target} ({seconds:.1f} s)")
