"""Array metrics against disentanglement_lib's own numbers (../shared/fixtures/metrics, see its README).

MIG, SAP, modularity and the unsupervised scores must agree to 1e-6 (they agree bit for bit or to
rounding), explicitness to 1e-3. Where disentanglement_lib gives no number because of a dead code
dim (explicitness raises, total correlation is NaN) we compare with the fixture's
``variant_constant_dims_dropped``, which is what our functions compute by design. DCI: the
per-factor GBT fits here (cheap factors only; the full DCI is in test_metrics_dci_fixtures.py).
"""

import json

import numpy as np
import pytest

import latentdirs.metrics as M
from latentdirs.metrics.dci import fit_gbt_factor, gbt_random_states
from latentdirs.metrics.discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from latentdirs.metrics.mig import mig_per_factor

CASES = ["permuted_noisy_dead", "rotated_mixed", "discrete_noise"]
TOL = 1e-6


@pytest.fixture(scope="module")
def expected(shared_fixtures):
    return json.loads((shared_fixtures / "metrics" / "expected.json").read_text())


def load_case(shared_fixtures, case):
    data = np.load(shared_fixtures / "metrics" / f"{case}.npz")
    return data["codes_train"], data["factors_train"], data["codes_test"], data["factors_test"]


@pytest.mark.parametrize("case", CASES)
def test_suite_matches_disentanglement_lib(shared_fixtures, expected, case):
    arrays = load_case(shared_fixtures, case)
    want = expected[case]
    got = M.compute_metrics(*arrays, metrics=["mig", "sap", "modularity", "explicitness", "unsupervised"],
                            details=True)
    assert got["mig"] == pytest.approx(want["mig"]["discrete_mig"], abs=TOL)
    assert got["sap"] == pytest.approx(want["sap"]["SAP_score"], abs=TOL)
    assert got["modularity"] == pytest.approx(want["modularity"]["modularity_score"], abs=TOL)
    details = got["details"]
    np.testing.assert_allclose(details["mutual_info_matrix"], want["mig"]["mutual_info_matrix_DxK"], atol=TOL)
    np.testing.assert_allclose(details["factor_entropy"], want["mig"]["factor_entropy"], atol=TOL)
    np.testing.assert_allclose(details["mig_per_factor"], want["mig"]["per_factor_normalized_gap"], atol=TOL)
    np.testing.assert_allclose(details["sap_score_matrix"], want["sap"]["score_matrix_DxK"], atol=TOL)

    modularity = want["modularity"]
    explicit = modularity if modularity["explicitness_score_train"] is not None else \
        modularity["variant_constant_dims_dropped"]
    assert got["explicitness_train"] == pytest.approx(explicit["explicitness_score_train"], abs=1e-3)
    assert got["explicitness_test"] == pytest.approx(explicit["explicitness_score_test"], abs=1e-3)
    if "explicitness_per_factor_train" in modularity:
        np.testing.assert_allclose(details["explicitness_per_factor_train"],
                                   modularity["explicitness_per_factor_train"], atol=1e-3)
        np.testing.assert_allclose(details["explicitness_per_factor_test"],
                                   modularity["explicitness_per_factor_test"], atol=1e-3)

    unsupervised = want["unsupervised"]
    for key, value in got["unsupervised"].items():
        reference = unsupervised[key]
        if reference is None:  # NaN in disentanglement_lib because of the dead dim
            reference = unsupervised["variant_constant_dims_dropped"][key]
        assert value == pytest.approx(reference, abs=TOL, rel=1e-9), key


@pytest.mark.parametrize("case", CASES)
def test_single_metric_functions_agree(shared_fixtures, expected, case):
    codes_train, factors_train, codes_test, factors_test = load_case(shared_fixtures, case)
    want = expected[case]
    assert M.mig(codes_train, factors_train) == pytest.approx(want["mig"]["discrete_mig"], abs=TOL)
    assert M.modularity(codes_train, factors_train) == pytest.approx(want["modularity"]["modularity_score"], abs=TOL)
    assert M.sap(codes_train, factors_train, codes_test, factors_test, n_jobs=2) == pytest.approx(
        want["sap"]["SAP_score"], abs=TOL)
    scores = M.unsupervised(codes_train).scores()
    assert scores["mutual_info_score"] == pytest.approx(want["unsupervised"]["mutual_info_score"], abs=TOL)
    labels = histogram_discretize(codes_train, 20)
    assert [len(np.unique(labels[:, d])) for d in range(labels.shape[1])] == \
        want["mig"]["num_distinct_bins_per_code"]
    gaps = mig_per_factor(discrete_mutual_info(labels, factors_train), discrete_entropy(factors_train))
    np.testing.assert_allclose(gaps, want["mig"]["per_factor_normalized_gap"], atol=TOL)


# Cheap factors whose GBT fit is checked alone: it starts from the random state that the shared
# state would have after the earlier factors' trees, so this also checks that precomputation.
GBT_FACTORS = {"permuted_noisy_dead": 1, "rotated_mixed": 2, "discrete_noise": 0}


@pytest.mark.parametrize("case", CASES)
def test_dci_single_factor_fit_matches(shared_fixtures, expected, case):
    codes_train, factors_train, codes_test, factors_test = load_case(shared_fixtures, case)
    want = expected[case]["dci"]
    k = GBT_FACTORS[case]
    states = gbt_random_states(factors_train, 0)
    importance, acc_train, acc_test = fit_gbt_factor(
        codes_train, factors_train[:, k], codes_test, factors_test[:, k], states[k]
    )
    np.testing.assert_allclose(importance, np.array(want["importance_matrix_DxK"])[:, k], atol=TOL)
    assert acc_train == pytest.approx(want["informativeness_train_per_factor"][k], abs=TOL)
    assert acc_test == pytest.approx(want["informativeness_test_per_factor"][k], abs=TOL)
    assert states[k].get_state()[2] == states[k + 1].get_state()[2]  # the fit used exactly the predicted draws
    np.testing.assert_array_equal(states[k].get_state()[1], states[k + 1].get_state()[1])
