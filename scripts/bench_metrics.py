"""Wall time of the whole metric suite, ours against a plain loop that mirrors disentanglement_lib.

Codes of a partly disentangled synthetic representation (dSprites factor sizes by default) on
``--num-train`` / ``--num-test`` points are scored by MIG, SAP, DCI, modularity, explicitness, IRS
and the unsupervised scores three ways, in the same run:

- reference: the sequential algorithm of disentanglement_lib, written out below (one discretisation
  per metric, ``sklearn.metrics.mutual_info_score`` per pair, one SVM per code/factor pair, one
  ``GradientBoostingClassifier()`` per factor after ``np.random.seed(seed)``, …);
- ours, exact: ``compute_metrics(..., dci_estimator="gbt")`` — the same numbers (max abs difference
  printed), shared discretisation/MI and every fit parallel over factors;
- ours, fast: ``dci_estimator="hist_gbt"`` — its difference from the exact numbers printed.

BLAS/OpenMP are held to one thread on both sides (ours parallelises over factors instead), so the
ratios measure the algorithm and the factor-level parallelism, not thread oversubscription.

    python scripts/bench_metrics.py            # 10000/5000 points: several minutes on few cores
    python scripts/bench_metrics.py --quick    # 2000/1000 points, smaller factors: about a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import scipy.linalg
import scipy.stats
import sklearn
from sklearn import ensemble, linear_model, preprocessing, svm
from sklearn import metrics as skmetrics
from threadpoolctl import threadpool_limits

from latentdirs.metrics import compute_metrics
from latentdirs.metrics.report import flatten


# -- the reference: disentanglement_lib's algorithm, sequential, arrays [dims, samples] -----------
def ref_discretize(target: np.ndarray, num_bins: int = 20) -> np.ndarray:
    out = np.zeros_like(target)
    for i in range(target.shape[0]):
        out[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return out


def ref_mutual_info(mus: np.ndarray, ys: np.ndarray) -> np.ndarray:
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = skmetrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def ref_entropy(ys: np.ndarray) -> np.ndarray:
    return np.array([skmetrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])


def ref_mig(mus, ys):
    m = ref_mutual_info(ref_discretize(mus), ys)
    sorted_m = np.sort(m, axis=0)[::-1]
    return float(np.mean((sorted_m[0, :] - sorted_m[1, :]) / ref_entropy(ys)))


def ref_sap(mus, ys, mus_test, ys_test):
    scores = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced", random_state=0)
            classifier.fit(mus[i, :, None], ys[j, :])
            scores[i, j] = np.mean(classifier.predict(mus_test[i, :, None]) == ys_test[j, :])
    ranked = np.sort(scores, axis=0)
    return float(np.mean(ranked[-1, :] - ranked[-2, :]))


def ref_dci(mus, ys, mus_test, ys_test, seed):
    np.random.seed(seed)
    importance = np.zeros([mus.shape[0], ys.shape[0]])
    train_acc, test_acc = [], []
    for k in range(ys.shape[0]):
        model = ensemble.GradientBoostingClassifier()
        model.fit(mus.T, ys[k, :])
        importance[:, k] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(mus.T) == ys[k, :]))
        test_acc.append(np.mean(model.predict(mus_test.T) == ys_test[k, :]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    return {
        "disentanglement": float(np.sum(per_code * importance.sum(axis=1) / importance.sum())),
        "completeness": float(np.sum(per_factor * importance.sum(axis=0) / importance.sum())),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
    }


def ref_modularity(mus, ys):
    squared = np.square(ref_mutual_info(ref_discretize(mus), ys))
    largest = np.max(squared, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1.0 - (np.sum(squared, axis=1) - largest) / (largest * (squared.shape[1] - 1.0))
    score[largest == 0.0] = 0.0
    return float(np.mean(score))


def ref_explicitness(mus, ys, mus_test, ys_test):
    mean, std = np.mean(mus, axis=1), np.std(mus, axis=1)
    train, test = (mus - mean[:, None]) / std[:, None], (mus_test - mean[:, None]) / std[:, None]
    scores = []
    for k in range(ys.shape[0]):
        clf = linear_model.LogisticRegression().fit(train.T, ys[k, :])
        binarizer = preprocessing.MultiLabelBinarizer()
        scores.append((
            skmetrics.roc_auc_score(binarizer.fit_transform(ys[k, :, None]), clf.predict_proba(train.T)),
            skmetrics.roc_auc_score(binarizer.fit_transform(ys_test[k, :, None]), clf.predict_proba(test.T)),
        ))
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def ref_irs(mus, ys, quantile=0.99):
    ys_discrete = ref_discretize(ys)
    latents = mus[mus.var(axis=1) > 0.0, :].T
    factors = ys_discrete.T
    max_dev = np.max(np.abs(latents - latents.mean(axis=0)), axis=0)
    cum = np.zeros([latents.shape[1], factors.shape[1]])
    for i in range(factors.shape[1]):
        values = np.unique(factors[:, i])
        for value in values:
            match = factors[:, i] == value
            cum[:, i] += np.quantile(np.abs(latents[match, :] - np.mean(latents[match, :], axis=0)), quantile, axis=0)
        cum[:, i] /= values.shape[0]
    return float(np.average((1.0 - cum / max_dev[:, None]).max(axis=1), weights=max_dev))


def ref_unsupervised(mus):
    cov = np.cov(mus)
    total_correlation = 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])
    root = scipy.linalg.sqrtm(cov * np.expand_dims(np.diag(cov), axis=1))
    wasserstein = float(2 * np.trace(cov) - 2 * np.real(np.trace(root)))
    discrete = ref_discretize(mus)
    mi = ref_mutual_info(discrete, discrete)
    np.fill_diagonal(mi, 0)
    return {
        "gaussian_total_correlation": float(total_correlation),
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": wasserstein / float(np.sum(np.diag(cov))),
        "mutual_info_score": float(np.sum(mi) / (mi.shape[0] ** 2 - mi.shape[0])),
    }


def reference_suite(codes_train, factors_train, codes_test, factors_test, seed):
    """Every metric as disentanglement_lib computes it, one after the other; returns (results, seconds)."""
    mus, ys, mus_test, ys_test = codes_train.T, factors_train.T, codes_test.T, factors_test.T
    steps = {
        "mig": lambda: ref_mig(mus, ys),
        "sap": lambda: ref_sap(mus, ys, mus_test, ys_test),
        "dci": lambda: ref_dci(mus, ys, mus_test, ys_test, seed),
        "modularity": lambda: ref_modularity(mus, ys),
        "explicitness": lambda: ref_explicitness(mus, ys, mus_test, ys_test),
        "irs": lambda: ref_irs(mus, ys),
        "unsupervised": lambda: ref_unsupervised(mus),
    }
    results, seconds = {}, {}
    for name, step in steps.items():
        start = time.perf_counter()
        value = step()
        seconds[name] = time.perf_counter() - start
        if name == "explicitness":
            results["explicitness_train"], results["explicitness_test"] = value
        else:
            results[name] = value
    return results, seconds


# -- data and timing ------------------------------------------------------------------------------
def synthetic_codes(sizes: list[int], num: int, dims: int, rs: np.random.RandomState, mixing: np.ndarray):
    """Factors [num, K] and codes [num, dims]: a smooth, slightly mixed, noisy map of the factors."""
    factors = np.stack([rs.randint(size, size=num) for size in sizes], axis=1)
    unit = (factors + 0.5) / np.array(sizes) - 0.5
    codes = np.tanh(2.0 * unit @ mixing) + 0.05 * rs.randn(num, dims)
    codes[:, -1] = 0.01 * rs.randn(num)  # a collapsed dim, as in real VAEs
    return factors, codes


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def max_abs_difference(a: dict, b: dict) -> tuple[float, str]:
    left, right = dict(flatten(a)), dict(flatten(b))
    worst = max(left, key=lambda key: abs(left[key] - right[key]))
    return abs(left[worst] - right[worst]), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2000/1000 points, factor sizes 3,6,10,8,8, 8 dims")
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--factor-sizes", default="3,6,40,32,32", help="comma-separated (default: dSprites)")
    parser.add_argument("--dims", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=-1, help="worker threads of ours (-1: all CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.num_train, args.num_test, args.factor_sizes, args.dims = 2000, 1000, "3,6,10,8,8", 8
    sizes = [int(size) for size in args.factor_sizes.split(",")]

    rs = np.random.RandomState(args.seed)
    mixing = np.eye(len(sizes), args.dims) * 2.0 + 0.3 * rs.randn(len(sizes), args.dims)
    factors_train, codes_train = synthetic_codes(sizes, args.num_train, args.dims, rs, mixing)
    factors_test, codes_test = synthetic_codes(sizes, args.num_test, args.dims, rs, mixing)
    arrays = (codes_train, factors_train, codes_test, factors_test)

    print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"numpy {np.__version__} · scikit-learn {sklearn.__version__} · python {platform.python_version()}")
    print(f"points {args.num_train}/{args.num_test} · dims {args.dims} · factor sizes {sizes} · "
          f"n_jobs {args.n_jobs}")

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        (reference, per_metric), t_reference = timed(lambda: reference_suite(*arrays, args.seed))
    exact, t_exact = timed(lambda: compute_metrics(*arrays, dci_estimator="gbt", random_state=args.seed,
                                                   n_jobs=args.n_jobs))
    fast, t_fast = timed(lambda: compute_metrics(*arrays, dci_estimator="hist_gbt", random_state=args.seed,
                                                 n_jobs=args.n_jobs))

    print("reference per metric: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in per_metric.items()))
    print(f"{'suite':<22} {'seconds':>9} {'ratio':>8}  difference")
    print(f"{'reference (loop)':<22} {t_reference:>9.2f} {1.0:>8.2f}")
    exact_diff, exact_key = max_abs_difference(exact, reference)
    print(f"{'ours, exact':<22} {t_exact:>9.2f} {t_reference / t_exact:>8.2f}  max |ours − reference| = "
          f"{exact_diff:.3g} ({exact_key})")
    fast_diff, fast_key = max_abs_difference(fast, exact)
    print(f"{'ours, fast DCI':<22} {t_fast:>9.2f} {t_reference / t_fast:>8.2f}  max |fast − exact| = "
          f"{fast_diff:.3g} ({fast_key})")
    for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"):
        print(f"  dci.{key:<22} exact {exact['dci'][key]:.4f}  fast {fast['dci'][key]:.4f}")


if __name__ == "__main__":
    main()
