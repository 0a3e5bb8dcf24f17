"""Properties of the array metrics: a perfect (permuted, rescaled) code scores near the top, pure
noise near the bottom; a dead code dim is handled; bad input gives a clear UserError; the parallel
and sequential paths and the reference loop agree; the closed-form pieces match independent oracles.
"""

import importlib
import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import sklearn.metrics
from sklearn.ensemble import GradientBoostingClassifier

import latentdirs.metrics as M
from latentdirs.errors import UserError
from latentdirs.metrics.discrete import histogram_discretize
from latentdirs.metrics.report import flatten
from latentdirs.metrics.unsupervised import gaussian_total_correlation, gaussian_wasserstein_correlation

dci_module = importlib.import_module("latentdirs.metrics.dci")  # the package exports the function
SIZES = [2, 3, 4, 6]
NUM_TRAIN, NUM_TEST, DIMS = 500, 250, 6


def draw_factors(rs, n):
    return np.stack([rs.randint(size, size=n) for size in SIZES], axis=1)


def perfect_codes(factors, rs, perm):
    """Factor k drives code dim perm[k] (monotone, rescaled, tiny noise); other dims are weak noise."""
    codes = 0.01 * rs.randn(len(factors), DIMS)
    for k, size in enumerate(SIZES):
        codes[:, perm[k]] = (-1) ** k * (k + 1.5) * (factors[:, k] + 0.5) / size + 0.005 * rs.randn(len(factors))
    return codes


@pytest.fixture(scope="module")
def splits():
    rs = np.random.RandomState(7)
    perm = rs.permutation(DIMS)
    factors_train, factors_test = draw_factors(rs, NUM_TRAIN), draw_factors(rs, NUM_TEST)
    perfect = (perfect_codes(factors_train, rs, perm), factors_train, perfect_codes(factors_test, rs, perm),
               factors_test)
    noise = (rs.randn(NUM_TRAIN, DIMS), factors_train, rs.randn(NUM_TEST, DIMS), factors_test)
    return {"perfect": perfect, "noise": noise}


@pytest.fixture(scope="module")
def scores(splits):
    return {name: M.compute_metrics(*arrays, details=True) for name, arrays in splits.items()}


def test_perfect_code_scores_near_the_top(scores):
    got = scores["perfect"]
    assert got["mig"] > 0.9
    assert got["sap"] > 0.3  # one-feature linear SVMs cannot isolate middle classes: SAP < 1 by design
    assert got["dci"]["disentanglement"] > 0.95 and got["dci"]["completeness"] > 0.95
    assert got["dci"]["informativeness_test"] > 0.95
    assert got["modularity"] > 0.9
    assert got["explicitness_test"] > 0.97
    assert got["irs"] > 0.9
    assert got["unsupervised"]["gaussian_total_correlation"] < 0.05


def test_noise_scores_near_the_bottom(scores):
    got = scores["noise"]
    assert got["mig"] < 0.05
    assert got["sap"] < 0.05
    assert got["dci"]["disentanglement"] < 0.15 and got["dci"]["completeness"] < 0.15
    assert got["dci"]["informativeness_test"] < 0.5
    assert abs(got["explicitness_test"] - 0.5) < 0.06  # chance-level AUC
    assert got["irs"] < 0.5
    assert got["unsupervised"]["gaussian_total_correlation"] < 0.05
    # Modularity is known to stay high for noise (every code is weakly tied to every factor alike).
    assert got["modularity"] > 0.5


def test_dead_dimension_is_handled(splits, scores):
    codes_train, factors_train, codes_test, factors_test = splits["perfect"]
    dead_train = np.insert(codes_train, 2, 0.25, axis=1)
    dead_test = np.insert(codes_test, 2, 0.25, axis=1)
    got = M.compute_metrics(dead_train, factors_train, dead_test, factors_test, details=True)
    base = scores["perfect"]
    assert got["mig"] == base["mig"]
    assert got["modularity"] == pytest.approx(base["modularity"] * DIMS / (DIMS + 1), abs=1e-12)
    assert got["explicitness_test"] == base["explicitness_test"]  # the dead dim is left out
    assert got["unsupervised"]["gaussian_total_correlation"] == pytest.approx(
        base["unsupervised"]["gaussian_total_correlation"], abs=1e-12)
    assert np.all(np.array(got["details"]["dci_importance_matrix"])[2] == 0.0)
    assert got["dci"]["disentanglement"] > 0.95
    for key, value in flatten(got):
        assert math.isfinite(value), key
    all_dead = M.compute_metrics(np.zeros((50, 3)), factors_train[:50], np.zeros((20, 3)), factors_test[:20])
    assert all_dead["mig"] == 0.0 and all_dead["dci"]["disentanglement"] >= 0.0
    assert all_dead["explicitness_test"] == 0.5 and all_dead["irs"] == 0.0


@pytest.mark.parametrize(
    "codes, factors, message",
    [
        (np.zeros(10), np.zeros((10, 2), int), "2-D array"),
        (np.full((10, 3), np.nan), np.zeros((10, 2), int), "NaN"),
        (np.zeros((10, 3)), np.zeros((9, 2), int), "9 rows but the codes have 10"),
        (np.zeros((10, 3)), np.full((10, 2), 0.5), "integer factor values"),
        (np.zeros((1, 3)), np.zeros((1, 2), int), "at least 2 samples"),
        (np.zeros((10, 3)), np.zeros((10, 0), int), "at least one factor"),
        (np.array([["a"] * 3] * 10), np.zeros((10, 2), int), "numbers"),
    ],
)
def test_bad_inputs_give_clear_errors(codes, factors, message):
    with pytest.raises(UserError, match=message):
        M.mig(codes, factors)


def test_bad_splits_and_options(splits):
    codes_train, factors_train, codes_test, factors_test = splits["perfect"]
    with pytest.raises(UserError, match="codes_test has 5 dims but codes_train has 6"):
        M.sap(codes_train, factors_train, codes_test[:, :5], factors_test)
    with pytest.raises(UserError, match="factors_test has 3 factors"):
        M.dci(codes_train, factors_train, codes_test, factors_test[:, :3])
    with pytest.raises(UserError, match="need a test split"):
        M.compute_metrics(codes_train, factors_train, metrics=["mig", "dci"])
    with pytest.raises(UserError, match="unknown metric"):
        M.compute_metrics(codes_train, factors_train, metrics=["mig", "nope"])
    with pytest.raises(UserError, match="unknown DCI estimator"):
        M.dci(codes_train, factors_train, codes_test, factors_test, estimator="forest")
    with pytest.raises(UserError, match="n_jobs"):
        M.sap(codes_train, factors_train, codes_test, factors_test, n_jobs=0)
    assert M.compute_metrics(codes_train, factors_train, metrics="mig")["mig"] > 0.9  # no test split needed


def test_parallel_and_sequential_give_identical_numbers(splits):
    arrays = splits["noise"]
    sequential = M.compute_metrics(*arrays, n_jobs=1, details=True)
    parallel = M.compute_metrics(*arrays, n_jobs=4, details=True)
    assert sequential == parallel
    single = M.dci(*arrays, random_state=3, n_jobs=3)
    assert single.scores() == M.compute_metrics(*arrays, metrics=["dci"], random_state=3)["dci"]


def reference_dci_importance(codes_train, factors_train, seed):
    """disentanglement_lib's loop: default GBTs drawing from numpy's global random state, in factor order."""
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        columns = [np.abs(GradientBoostingClassifier().fit(codes_train, factors_train[:, k]).feature_importances_)
                   for k in range(factors_train.shape[1])]
    finally:
        np.random.set_state(saved)
    return np.stack(columns, axis=1)


def test_dci_equals_the_reference_loop_and_repairs_a_wrong_rng_forecast(splits, monkeypatch):
    codes_train, factors_train, codes_test, factors_test = (a[:200] for a in splits["noise"])
    reference = reference_dci_importance(codes_train, factors_train, seed=5)
    got = M.dci(codes_train, factors_train, codes_test, factors_test, random_state=5, n_jobs=2)
    np.testing.assert_array_equal(got.importance_matrix, reference)

    monkeypatch.setattr(dci_module, "gbt_tree_count", lambda y: 7)
    with pytest.warns(RuntimeWarning, match="refitting the factors sequentially"):
        repaired = M.dci(codes_train, factors_train, codes_test, factors_test, random_state=5, n_jobs=2)
    np.testing.assert_array_equal(repaired.importance_matrix, reference)


def test_fast_dci_is_close_on_a_clear_code(splits, scores):
    fast = M.dci(*splits["perfect"], estimator="hist_gbt")
    exact = scores["perfect"]["dci"]
    assert fast.disentanglement > 0.9 and fast.completeness > 0.9
    assert abs(fast.informativeness_test - exact["informativeness_test"]) < 0.05
    np.testing.assert_allclose(fast.importance_matrix.sum(axis=0), 1.0)


def test_mutual_information_is_sklearns_bit_for_bit():
    rs = np.random.RandomState(1)
    codes = rs.randn(400, 3) * [1.0, 0.0, 5.0] + np.arange(3)
    factors = np.stack([rs.randint(7, size=400), rs.randint(2, size=400) * 3 - 1], axis=1)
    labels = histogram_discretize(codes, 20)
    matrix = M.discrete_mutual_info(labels, factors)
    for i in range(3):
        for j in range(2):
            assert matrix[i, j] == sklearn.metrics.mutual_info_score(factors[:, j], labels[:, i])
    np.testing.assert_array_equal(M.discrete_entropy(factors),
                                  [sklearn.metrics.mutual_info_score(f, f) for f in factors.T])


def test_histogram_bins_follow_numpy_edges():
    column = np.array([[0.0], [0.5], [1.0], [0.05], [0.049999]])
    assert histogram_discretize(column, 20)[:, 0].tolist() == [1, 11, 20, 2, 1]  # on an edge → upper bin
    assert np.unique(histogram_discretize(np.full((5, 1), 3.0), 20)).size == 1


def test_gaussian_scores_match_closed_forms():
    rho = 0.6
    covariance = np.array([[4.0, rho * 2 * 0.5], [rho * 2 * 0.5, 0.25]])
    assert gaussian_total_correlation(covariance) == pytest.approx(-0.5 * math.log(1 - rho**2), rel=1e-12)
    diag_root = np.diag(np.sqrt(np.diag(covariance)))
    middle = scipy.linalg.sqrtm(diag_root @ covariance @ diag_root).real
    w2 = 2 * np.trace(covariance) - 2 * np.trace(middle)  # W2² between N(0,Σ) and N(0, diag Σ)
    assert gaussian_wasserstein_correlation(covariance) == pytest.approx(w2, rel=1e-9)


def test_continuous_sap_is_squared_correlation(splits):
    codes_train, factors_train, codes_test, factors_test = splits["perfect"]
    matrix = M.sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors=True)
    for i in range(DIMS):
        for k in range(len(SIZES)):
            assert matrix[i, k] == pytest.approx(np.corrcoef(codes_train[:, i], factors_train[:, k])[0, 1] ** 2)


def test_continuous_sap_takes_real_valued_factors_and_no_test_split():
    rng = np.random.RandomState(0)
    factors = rng.uniform(-1.0, 2.0, size=(400, 2))  # truly continuous, as disentanglement_lib allows
    codes = np.stack([factors[:, 0] + 0.1 * rng.randn(400), rng.randn(400), factors[:, 1] ** 3], axis=1)
    matrix = M.sap_score_matrix(codes, factors, continuous_factors=True)
    expected = np.array([[np.corrcoef(codes[:, i], factors[:, k])[0, 1] ** 2 for k in range(2)] for i in range(3)])
    assert np.allclose(matrix, expected, rtol=1e-10)
    ranked = np.sort(expected, axis=0)
    assert M.sap(codes, factors, continuous_factors=True) == pytest.approx(np.mean(ranked[-1] - ranked[-2]))
    with pytest.raises(UserError, match="NaN/inf"):
        M.sap(codes, np.where(factors > 1.9, np.nan, factors), continuous_factors=True)
    with pytest.raises(UserError, match="needs a test split"):
        M.sap(codes, (factors > 0).astype(int))


def test_irs_matches_the_definition(splits):
    codes, factors = splits["perfect"][0][:300], splits["perfect"][1][:300]
    codes = np.concatenate([codes, np.ones((300, 1))], axis=1)  # a dead dim, dropped by IRS
    got = M.irs(codes, factors)
    live = codes[:, :-1]
    normaliser = np.abs(live - live.mean(axis=0)).max(axis=0)
    best = np.full(live.shape[1], -np.inf)
    for k in range(factors.shape[1]):
        empd = np.mean([np.quantile(np.abs(live[factors[:, k] == v] - live[factors[:, k] == v].mean(axis=0)),
                                    0.99, axis=0) for v in np.unique(factors[:, k])], axis=0)
        best = np.maximum(best, 1 - empd / normaliser)
    assert got.num_active_dims == DIMS
    assert got.score == pytest.approx(np.sum(best * normaliser) / np.sum(normaliser), rel=1e-12)
    coarse = M.irs(codes, factors, num_bins=3)  # the suite's num_bins reaches IRS's factor bins too
    assert coarse.score != got.score
    assert M.compute_metrics(codes, factors, metrics=["irs"], num_bins=3)["irs"] == pytest.approx(coarse.score, abs=0)


def test_no_warnings_leak_from_fits(splits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.explicitness(*splits["noise"])
