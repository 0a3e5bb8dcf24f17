"""Full DCI (all four numbers and the importance matrix) against disentanglement_lib's fixtures.

Slow: disentanglement_lib's own computation of these took 40–170 s per case and ours fits the same
trees (in parallel over factors, so the time depends on the cores). The smallest case always runs;
the two larger ones (minutes on one core) run when ``LATENTDIRS_SLOW_TESTS=1``. Every case's cheap
factors are also checked alone in test_metrics_fixtures.py.
"""

import json
import os

import numpy as np
import pytest

import latentdirs.metrics as M

pytestmark = pytest.mark.slow
LARGE = pytest.mark.skipif(os.environ.get("LATENTDIRS_SLOW_TESTS") != "1",
                           reason="minutes of GBT fitting; set LATENTDIRS_SLOW_TESTS=1 to run")


@pytest.mark.parametrize("case", ["discrete_noise", pytest.param("rotated_mixed", marks=LARGE),
                                  pytest.param("permuted_noisy_dead", marks=LARGE)])
def test_dci_matches_disentanglement_lib(shared_fixtures, case):
    want = json.loads((shared_fixtures / "metrics" / "expected.json").read_text())[case]["dci"]
    data = np.load(shared_fixtures / "metrics" / f"{case}.npz")
    got = M.dci(data["codes_train"], data["factors_train"], data["codes_test"], data["factors_test"], random_state=0)
    for key, value in got.scores().items():
        assert value == pytest.approx(want[key], abs=1e-6), key
    np.testing.assert_allclose(got.importance_matrix, want["importance_matrix_DxK"], atol=1e-6)
    np.testing.assert_allclose(got.accuracy_train, want["informativeness_train_per_factor"], atol=1e-6)
    np.testing.assert_allclose(got.accuracy_test, want["informativeness_test_per_factor"], atol=1e-6)
