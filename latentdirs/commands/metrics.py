"""``latentdirs metrics``: disentanglement metrics of saved codes and factors from any model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import click

from ..errors import UserError
from ._choices import ARRAY_METRICS
from ._options import FRACTION, N_JOBS, NUM_BINS, SEED, overwrite_option

if TYPE_CHECKING:
    import numpy as np


def _split(codes: np.ndarray, factors: np.ndarray, train_fraction: float):
    rows = len(codes)
    cut = int(math.ceil(rows * train_fraction))
    if cut < 2 or rows - cut < 1:
        raise UserError(f"cannot split {rows} rows into train/test with --train-fraction {train_fraction}; "
                        "give more rows or --test-codes/--test-factors")
    return codes[:cut], factors[:cut], codes[cut:], factors[cut:]


@click.command("metrics")
@click.option("--codes", "codes_path", required=True, help="Codes .npy [N, D] (float; samples first).")
@click.option("--factors", "factors_path", required=True, help="Factors .npy [N, K] (integer values).")
@click.option("--test-codes", "test_codes_path", default=None, help="Held-out codes .npy [M, D].")
@click.option("--test-factors", "test_factors_path", default=None, help="Held-out factors .npy [M, K].")
@click.option("--metrics", "metric_spec", default="all", show_default=True,
              help=f"Comma-separated subset of: {', '.join(ARRAY_METRICS)}.")
@click.option("--fast", is_flag=True, help="Fast DCI (histogram GBT): much faster, numbers differ from the reference.")
@click.option("--train-fraction", default=2 / 3, show_default="2/3", type=FRACTION,
              help="Without a test split: share of rows (the first ones) that trains SAP/DCI/explicitness; the rest "
                   "tests them.")
@click.option("--num-bins", default=20, show_default=True, type=NUM_BINS, help="Histogram bins per code dim.")
@click.option("--continuous-factors", is_flag=True, help="SAP with squared correlations instead of SVMs.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Random state of the DCI trees.")
@click.option("--n-jobs", default=-1, show_default=True, type=N_JOBS, help="Worker threads (-1: all CPUs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--details", is_flag=True, help="Add matrices (MI, SAP scores, DCI importances, …) under 'details'.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Also write the JSON to this file (atomically).")
@overwrite_option
def command(codes_path, factors_path, test_codes_path, test_factors_path, metric_spec, fast, train_fraction,
            num_bins, continuous_factors, seed, n_jobs, as_json, details, out, overwrite) -> None:
    """Compute MIG, SAP, DCI, modularity, explicitness, IRS and unsupervised scores of saved codes.

    The numbers equal google-research/disentanglement_lib's for the same arrays (DCI as after
    np.random.seed(--seed); --fast DCI excepted). MIG, modularity, IRS and the unsupervised scores
    use --codes/--factors; SAP, DCI and explicitness train on them and test on
    --test-codes/--test-factors. Without a test split, SAP/DCI/explicitness train on the first --train-fraction
    of the rows and test on the rest, while the other metrics use all rows.

    \b
    Examples:
      latentdirs metrics --codes z.npy --factors y.npy
      latentdirs metrics --codes z_train.npy --factors y_train.npy \\
          --test-codes z_test.npy --test-factors y_test.npy --json
      latentdirs metrics --codes z.npy --factors y.npy --metrics mig,dci --fast
    """
    from ..io import check_outputs, read_npy, write_text
    from ..metrics import compute_metrics, parse_metrics
    from ..metrics._arrays import check_labelled
    from ..metrics.report import format_table, to_json
    from ..metrics.suite import NEEDS_TEST, order_results

    metrics = parse_metrics(metric_spec, ARRAY_METRICS)
    if out:
        check_outputs([out], [codes_path, factors_path, test_codes_path, test_factors_path], kind="json",
                      overwrite=overwrite)
    codes = read_npy(codes_path, "codes")
    factors = read_npy(factors_path, "factors")
    if (test_codes_path is None) != (test_factors_path is None):
        raise UserError("give both --test-codes and --test-factors, or neither")
    common = dict(num_bins=num_bins, dci_estimator="hist_gbt" if fast else "gbt",
                  continuous_factors=continuous_factors, random_state=seed, n_jobs=n_jobs, details=details)
    if test_codes_path is not None:
        test_codes = read_npy(test_codes_path, "test codes")
        test_factors = read_npy(test_factors_path, "test factors")
        results = compute_metrics(codes, factors, test_codes, test_factors, metrics=metrics, **common)
    else:
        codes, factors = check_labelled(codes, factors)
        split = [name for name in metrics if name in NEEDS_TEST]
        whole = [name for name in metrics if name not in NEEDS_TEST]
        results = compute_metrics(codes, factors, metrics=whole, **common) if whole else {}
        if split:
            held = compute_metrics(*_split(codes, factors, train_fraction), metrics=split, **common)
            if details:
                held["details"] = {**results.pop("details", {}), **held["details"]}
            results = order_results({**results, **held})
    text = to_json(results)
    if out:
        write_text(out, text + "\n")
    click.echo(text if as_json else format_table(results))

