"""Every metric at once, sharing work: one discretisation and one mutual-information matrix for MIG,
modularity and the unsupervised MI score; every per-factor fit (DCI trees, SAP SVMs, explicitness
regressions) in one thread pool, most expensive first. The numbers are those of the single-metric
functions.

``compute_metrics`` works on arrays from any model; ``evaluate_representation`` samples a
ground-truth dataset through a representation function first (what ``latentdirs evaluate`` and the
VAE trainer's periodic evaluation call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from ..data.base import GroundTruthData
from ..errors import UserError
from ._arrays import check_labelled, check_train_test
from ._parallel import run_jobs
from .beta_vae import beta_vae_score
from .dci import ESTIMATORS, dci_from_fits, dci_jobs, largest_first
from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .factor_vae import factor_vae_score
from .irs import irs
from .local import local_scores
from .mig import mig_from_mutual_info, mig_per_factor
from .modularity import explicitness_from_scores, explicitness_per_factor, modularity_from_mutual_info, standardize
from .sampling import EncodeFn, sample_labelled_codes
from .sap import continuous_score_matrix, sap_column, sap_from_score_matrix
from .unsupervised import unsupervised_from_labels

ARRAY_METRICS = ("mig", "sap", "dci", "modularity", "explicitness", "irs", "unsupervised")
NEEDS_TEST = ("sap", "dci", "explicitness")
SAMPLING_METRICS = ("factor_vae", "beta_vae", "local")
ALL_METRICS = ARRAY_METRICS + SAMPLING_METRICS
DEFAULT_EVALUATE_METRICS = ARRAY_METRICS + ("factor_vae",)


def parse_metrics(spec: str | Sequence[str], allowed: Sequence[str] = ALL_METRICS) -> tuple[str, ...]:
    """Metric names from ``"mig,dci"`` or a list; ``"all"`` means every allowed metric."""
    names = [name.strip().lower() for name in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [name for name in names if name]
    if names == ["all"]:
        return tuple(allowed)
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise UserError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(allowed)}")
    return tuple(dict.fromkeys(names))


def compute_metrics(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    metrics: Sequence[str] = ARRAY_METRICS,
    num_bins: int = 20,
    dci_estimator: str = "gbt",
    continuous_factors: bool = False,
    random_state: int = 0,
    n_jobs: int | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Array metrics of codes ``[N, D]`` w.r.t. integer factors ``[N, K]`` as one JSON-ready dict.

    Keys: ``mig``, ``sap``, ``dci`` ({disentanglement, completeness, informativeness_train,
    informativeness_test}), ``modularity``, ``explicitness_train``, ``explicitness_test``, ``irs``,
    ``unsupervised`` ({gaussian_total_correlation, gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm, mutual_info_score}) — those of ``metrics``. With
    ``details`` also ``details`` (MI matrix, factor entropies, per-factor MIG gaps, SAP score matrix,
    DCI importance matrix and per-factor accuracies, explicitness per factor, IRS per code).
    ``dci_estimator="hist_gbt"`` is the fast DCI (different numbers); ``random_state`` seeds DCI.
    ``num_bins``: equal-width histogram bins of the codes (MIG, modularity, MI score) and of the factors
    (IRS) — disentanglement_lib's single ``discretizer.num_bins`` binding, 20 in its configs.
    """
    metrics = parse_metrics(metrics, ARRAY_METRICS)
    if num_bins < 1:
        raise UserError(f"num_bins must be >= 1, got {num_bins}")
    if dci_estimator not in ESTIMATORS:
        raise UserError(f"unknown DCI estimator {dci_estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    needs_test = [name for name in metrics if name in NEEDS_TEST]
    if needs_test and (codes_test is None or factors_test is None):
        raise UserError(f"{', '.join(needs_test)} need a test split (test codes and test factors)")
    if needs_test:
        codes_train, factors_train, codes_test, factors_test = check_train_test(
            codes_train, factors_train, codes_test, factors_test
        )
    else:
        codes_train, factors_train = check_labelled(codes_train, factors_train, "train")

    results: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    labels = histogram_discretize(codes_train, num_bins)
    if "mig" in metrics or "modularity" in metrics:
        mutual_info = discrete_mutual_info(labels, factors_train)
        entropy = discrete_entropy(factors_train)
        extra.update(mutual_info_matrix=mutual_info, factor_entropy=entropy)
        if "mig" in metrics:
            results["mig"] = mig_from_mutual_info(mutual_info, entropy)
            extra["mig_per_factor"] = mig_per_factor(mutual_info, entropy)
        if "modularity" in metrics:
            results["modularity"] = modularity_from_mutual_info(mutual_info)

    jobs: dict[str, list[Callable[[], Any]]] = {}
    num_factors = factors_train.shape[1]
    if "dci" in metrics:
        dci_fit_jobs, dci_finish = dci_jobs(
            codes_train, factors_train, codes_test, factors_test, random_state, dci_estimator
        )
        jobs["dci"] = dci_fit_jobs
    if "sap" in metrics and not continuous_factors:
        jobs["sap"] = [
            partial(sap_column, codes_train, factors_train[:, k], codes_test, factors_test[:, k])
            for k in range(num_factors)
        ]
    if "explicitness" in metrics:
        x_train, x_test = standardize(codes_train, codes_test)
        jobs["explicitness"] = [
            partial(explicitness_per_factor, x_train, factors_train[:, k], x_test, factors_test[:, k])
            for k in range(num_factors)
        ]
    if "irs" in metrics:
        jobs["irs"] = [lambda: irs(codes_train, factors_train, num_bins=num_bins)]
    if "unsupervised" in metrics:
        jobs["unsupervised"] = [lambda: unsupervised_from_labels(codes_train, labels)]
    done = _run_grouped(jobs, largest_first(factors_train) if "dci" in jobs else None, n_jobs)

    if "sap" in metrics:
        scores = (
            continuous_score_matrix(codes_train, factors_train.astype(np.float64))
            if continuous_factors
            else np.stack(done["sap"], axis=1)
        )
        results["sap"] = sap_from_score_matrix(scores)
        extra["sap_score_matrix"] = scores
    if "dci" in metrics:
        dci_result = dci_from_fits(dci_finish(done["dci"]))
        results["dci"] = dci_result.scores()
        extra.update(
            dci_importance_matrix=dci_result.importance_matrix,
            dci_accuracy_train=dci_result.accuracy_train,
            dci_accuracy_test=dci_result.accuracy_test,
        )
    if "explicitness" in metrics:
        explicit = explicitness_from_scores(done["explicitness"])
        results["explicitness_train"], results["explicitness_test"] = explicit.train, explicit.test
        extra.update(explicitness_per_factor_train=explicit.per_factor_train,
                     explicitness_per_factor_test=explicit.per_factor_test)
    if "irs" in metrics:
        irs_result = done["irs"][0]
        results["irs"] = irs_result.score
        extra.update(irs_num_active_dims=irs_result.num_active_dims, irs_per_code=irs_result.per_code)
    if "unsupervised" in metrics:
        results["unsupervised"] = done["unsupervised"][0].scores()
    if details:
        results["details"] = {key: np.asarray(value).tolist() for key, value in extra.items()}
    return order_results(results)


_OUTPUT_ORDER = ("mig", "sap", "dci", "modularity", "explicitness_train", "explicitness_test", "irs", "unsupervised")


def order_results(results: dict[str, Any]) -> dict[str, Any]:
    """The result keys in a fixed order (metrics as listed in the docs, then anything else)."""
    known = {key: results[key] for key in _OUTPUT_ORDER if key in results}
    return {**known, **{key: value for key, value in results.items() if key not in known}}


def _run_grouped(
    jobs: dict[str, list[Callable[[], Any]]], dci_order: list[int] | None, n_jobs: int | None
) -> dict[str, list[Any]]:
    """Run every job in one pool (DCI fits first, largest factor first); results regrouped by metric."""
    schedule: list[tuple[str, int]] = []
    if dci_order is not None:
        schedule += [("dci", k) for k in dci_order]
    for name, group in jobs.items():
        if name != "dci":
            schedule += [(name, k) for k in range(len(group))]
    outputs = run_jobs([jobs[name][k] for name, k in schedule], n_jobs)
    grouped: dict[str, list[Any]] = {name: [None] * len(group) for name, group in jobs.items()}
    for (name, k), output in zip(schedule, outputs, strict=True):
        grouped[name][k] = output
    return grouped


def evaluate_representation(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    metrics: Sequence[str] = DEFAULT_EVALUATE_METRICS,
    num_train: int = 10000,
    num_test: int = 5000,
    random_state: int = 0,
    dci_estimator: str = "gbt",
    n_jobs: int | None = None,
    details: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a representation function (images ``[n, C, H, W]`` → codes ``[n, D]``) on a dataset.

    Array metrics use ``num_train`` then ``num_test`` points drawn from
    ``numpy.random.RandomState(random_state)`` as disentanglement_lib draws them; ``factor_vae``,
    ``beta_vae`` and ``local`` each start from their own ``RandomState(random_state)`` with their
    published protocols (see their modules), sized by the same two numbers: ``num_train`` training and
    ``num_test`` evaluation votes / points (each a batch of 64 images, pairs of them for ``beta_vae``), and
    ``num_train`` points per ``local`` cluster. The defaults, 10 000 and 5 000, are the protocols' own.
    Returns the keys of :func:`compute_metrics` plus ``factor_vae``, ``beta_vae`` ({train_accuracy, eval_accuracy, …}),
    ``local_mig`` and ``local_modularity`` ({proportion: score}) as asked. ``progress``, when given,
    is called with the name of each stage (see :func:`evaluation_stages`) before it starts.
    """
    metrics = parse_metrics(metrics, ALL_METRICS)
    report = progress or (lambda stage: None)
    results: dict[str, Any] = {}
    array_metrics = [name for name in metrics if name in ARRAY_METRICS]
    if array_metrics:
        report("arrays")
        needs_test = any(name in NEEDS_TEST for name in array_metrics)
        sample = sample_labelled_codes(dataset, encode_fn, num_train, num_test if needs_test else 0, random_state)
        results.update(
            compute_metrics(
                sample.codes_train,
                sample.factors_train,
                sample.codes_test,
                sample.factors_test,
                metrics=array_metrics,
                dci_estimator=dci_estimator,
                random_state=random_state,
                n_jobs=n_jobs,
                details=details,
            )
        )
    if "factor_vae" in metrics:
        report("factor_vae")
        results["factor_vae"] = factor_vae_score(dataset, encode_fn, random_state, num_train=num_train,
                                                 num_eval=num_test)
    if "beta_vae" in metrics:
        report("beta_vae")
        results["beta_vae"] = beta_vae_score(dataset, encode_fn, random_state, num_train=num_train, num_eval=num_test)
    if "local" in metrics:
        report("local")
        results.update(local_scores(dataset, encode_fn, num_points=num_train, random_state=random_state))
    return results


def evaluation_stages(metrics: Sequence[str]) -> list[str]:
    """Stages :func:`evaluate_representation` goes through for these metrics, in order."""
    metrics = parse_metrics(metrics, ALL_METRICS)
    stages = ["arrays"] if any(name in ARRAY_METRICS for name in metrics) else []
    return stages + [name for name in SAMPLING_METRICS if name in metrics]
