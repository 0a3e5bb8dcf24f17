"""Sampling-based metrics on a tiny ground-truth dataset whose images hold the factors exactly.

Each protocol is also run as a plain per-sample loop written from disentanglement_lib's / JL1-VAE's
description, which must draw the same random numbers and give the same result.
"""

import numpy as np
import pytest

import latentdirs.metrics as M
from latentdirs.data import get_dataset
from latentdirs.data.base import GroundTruthData
from latentdirs.errors import UserError
from latentdirs.metrics.local import local_radii, sample_local_factors, unordered_factors


class PixelFactors(GroundTruthData):
    """Image = one row of K pixels, pixel k = factor k / (size_k − 1)."""

    name = "pixels"
    factor_names = ("a", "b", "c", "d")
    factor_sizes = (3, 4, 10, 12)
    observation_shape = (1, 1, 4)

    def _render(self, factors):
        scale = np.array(self.factor_sizes, dtype=np.float32) - 1
        return (factors / scale).astype(np.float32).reshape(-1, 1, 1, 4)


DATA = PixelFactors()
PERM = np.array([4, 1, 5, 0])  # factor k → code dim PERM[k]; dims 2 and 3 are weak noise
HASH = np.random.RandomState(0).randn(4, 5) * 1000.0


def perfect_encoder(images):
    pixels = images.reshape(len(images), -1).astype(np.float64)
    codes = np.zeros((len(images), 6))
    codes[:, PERM] = pixels * [2.0, -1.0, 0.5, 3.0]
    codes[:, [2, 3]] = 0.001 * np.sin(pixels @ HASH[:, :2])  # std < 0.05: pruned by the FactorVAE score
    return codes


def noise_encoder(images):
    """Per image, a pseudo-random hash of all its pixels: no single factor is readable from a code."""
    return np.sin(images.reshape(len(images), -1).astype(np.float64) @ HASH)


def test_labelled_codes_follow_disentanglement_lib_draws():
    sample = M.sample_labelled_codes(DATA, perfect_encoder, num_train=37, num_test=20, random_state=3)
    rs = np.random.RandomState(3)
    expected = []
    for total in (37, 20):
        drawn = 0
        while drawn < total:  # generate_batch_factor_code: batches of 16 from one RandomState
            expected.append(DATA.sample(min(16, total - drawn), rs)[0])
            drawn += len(expected[-1])
    expected = np.concatenate(expected)
    np.testing.assert_array_equal(np.concatenate([sample.factors_train, sample.factors_test]), expected)
    np.testing.assert_array_equal(sample.codes_test, perfect_encoder(DATA.observations_from_factors(expected[37:])))


def reference_factor_vae(encode, seed, batch_size, num_train, num_eval, num_variance):
    rs = np.random.RandomState(seed)
    global_var = np.var(encode(DATA.sample_observations(num_variance, rs)), axis=0, ddof=1)
    active = np.sqrt(global_var) >= 0.05

    def votes(num):
        table = np.zeros((DATA.num_factors, global_var.shape[0]), np.int64)
        for _ in range(num):
            k = rs.randint(DATA.num_factors)
            factors = DATA.sample_factors(batch_size, rs)
            factors[:, k] = factors[0, k]
            local = np.var(encode(DATA.observations_from_factors(factors)), axis=0, ddof=1)
            table[k, np.argmin(local[active] / global_var[active])] += 1
        return table

    train = votes(num_train)
    classifier = np.argmax(train, axis=0)
    evaluation = votes(num_eval)
    columns = np.arange(train.shape[1])
    return train[classifier, columns].sum() / train.sum(), evaluation[classifier, columns].sum() / evaluation.sum()


@pytest.mark.parametrize("encoder", [perfect_encoder, noise_encoder])
def test_factor_vae_score_equals_the_reference_loop(encoder):
    kwargs = dict(batch_size=16, num_train=60, num_eval=40, num_variance_estimate=300)
    got = M.factor_vae_score(DATA, encoder, random_state=5, encode_batch_size=100, **kwargs)
    train, evaluation = reference_factor_vae(encoder, 5, 16, 60, 40, 300)
    assert got["train_accuracy"] == pytest.approx(train, abs=1e-12)
    assert got["eval_accuracy"] == pytest.approx(evaluation, abs=1e-12)


def test_factor_vae_score_bands():
    perfect = M.factor_vae_score(DATA, perfect_encoder, 0, num_train=200, num_eval=100, num_variance_estimate=1000)
    assert perfect == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 4}
    noise = M.factor_vae_score(DATA, noise_encoder, 0, num_train=200, num_eval=100, num_variance_estimate=1000)
    assert noise["eval_accuracy"] < 0.6
    dead = M.factor_vae_score(DATA, lambda x: np.zeros((len(x), 3)), 0, num_train=5, num_eval=5,
                              num_variance_estimate=50)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_beta_vae_score_matches_reference_features_and_bands():
    got = M.beta_vae_score(DATA, perfect_encoder, random_state=2, batch_size=8, num_train=300, num_eval=100)
    assert got["eval_accuracy"] > 0.95
    noise = M.beta_vae_score(DATA, noise_encoder, random_state=2, batch_size=8, num_train=300, num_eval=100)
    assert noise["eval_accuracy"] < 0.5

    from latentdirs.metrics.beta_vae import _points

    rs_ours, rs_ref = np.random.RandomState(9), np.random.RandomState(9)
    features, labels = _points(DATA, perfect_encoder, rs_ours, batch_size=8, num=30, chunk=4)
    for i in range(30):  # disentanglement_lib's _generate_training_sample, one point at a time
        k = rs_ref.randint(DATA.num_factors)
        first, second = DATA.sample_factors(8, rs_ref), DATA.sample_factors(8, rs_ref)
        second[:, k] = first[:, k]
        z1 = perfect_encoder(DATA.observations_from_factors(first))
        z2 = perfect_encoder(DATA.observations_from_factors(second))
        assert labels[i] == k
        np.testing.assert_allclose(features[i], np.mean(np.abs(z1 - z2), axis=0), rtol=0, atol=1e-15)


def test_local_sampling_protocol():
    radii = local_radii(DATA.factor_sizes, 0.2, continuity_cutoff=10, unordered_factors=(3,))
    assert radii.tolist() == [0, 0, 2, 0]
    assert unordered_factors(DATA) == () and unordered_factors(get_dataset("dsprites")) == (0,)
    rs = np.random.RandomState(4)
    factors = sample_local_factors(DATA.factor_sizes, local_radii(DATA.factor_sizes, 0.2), 40, rs)
    ref = np.random.RandomState(4)
    centre = [ref.randint(size) for size in DATA.factor_sizes]
    assert (factors[:, :2] == centre[:2]).all()  # sizes below the cutoff are held at the centre
    assert (np.abs(factors[:, 2] - centre[2]) <= 2).all() and (np.abs(factors[:, 3] - centre[3]) <= 2).all()
    assert factors.min() >= 0 and (factors < np.array(DATA.factor_sizes)).all()


def clean_encoder(images):
    """The factor dims of :func:`perfect_encoder` and one dead dim."""
    return np.concatenate([perfect_encoder(images)[:, PERM], np.ones((len(images), 1))], axis=1)


def test_local_scores_bands_and_determinism():
    kwargs = dict(proportions=(0.2, 1.0), num_points=400, num_clusters=3, random_state=1)
    perfect = M.local_scores(DATA, clean_encoder, **kwargs)
    assert set(perfect) == {"local_mig", "local_modularity"} and set(perfect["local_mig"]) == {"0.2", "1"}
    # p = 0.2: at most 5 values per varying factor, each in its own of the 5 bins → the top MI is the
    # factor's entropy (the runner-up is only the plug-in bias of an independent dim).
    assert perfect["local_mig"]["0.2"] > 0.97
    # p = 1: 10 or 12 values share 5 bins, so the top MI falls short of the factor's entropy.
    assert 0.4 < perfect["local_mig"]["1"] < 0.9
    # Two of the five code dims follow the varying factors (≈ 1); the dims of the held factors and the
    # dead dim are constant within a cluster and score 0 → 2/5.
    for value in perfect["local_modularity"].values():
        assert 0.39 < value <= 0.4
    noise = M.local_scores(DATA, noise_encoder, **kwargs)
    assert max(noise["local_mig"].values()) < 0.25  # a hash of ~25 local factor combinations: small, not 0
    assert M.local_scores(DATA, clean_encoder, **kwargs) == perfect
    with pytest.raises(UserError, match="proportions"):
        M.local_scores(DATA, clean_encoder, proportions=(0.0,))


def test_evaluate_representation_runs_every_family():
    stages = []
    results = M.evaluate_representation(
        DATA, clean_encoder, ["mig", "dci", "unsupervised", "factor_vae"], num_train=300, num_test=150,
        random_state=0, dci_estimator="hist_gbt", progress=stages.append,
    )
    assert stages == ["arrays", "factor_vae"]
    assert results["mig"] > 0.9 and results["dci"]["disentanglement"] > 0.8
    assert results["factor_vae"]["eval_accuracy"] == 1.0
    assert set(results) == {"mig", "dci", "unsupervised", "factor_vae"}
    only_mig = M.evaluate_representation(DATA, clean_encoder, "mig", num_train=300)
    sample = M.sample_labelled_codes(DATA, clean_encoder, 300, 0)
    assert only_mig["mig"] == M.mig(sample.codes_train, sample.factors_train)
    with pytest.raises(UserError, match="returned shape"):
        M.evaluate_representation(DATA, lambda x: np.zeros(len(x)), "mig", num_train=50)


@pytest.mark.parametrize("metric, images", [("factor_vae", 10000 + (30 + 12) * 64),  # + the variance estimate
                                            ("beta_vae", (30 + 12) * 2 * 64),
                                            ("local", 5 * 20 * 30)])
def test_sampling_metrics_take_their_size_from_num_train_and_num_test(metric, images):
    """`evaluate --metrics beta_vae|local|all` ignored --num-train: 1.9 M images for beta_vae whatever was asked."""
    seen = []

    def counting_encoder(batch):
        seen.append(len(batch))
        if sum(seen) > images:
            raise AssertionError(f"{metric} encoded more than the {images} images --num-train 30 --num-test 12 ask for")
        return clean_encoder(batch)

    results = M.evaluate_representation(DATA, counting_encoder, [metric], num_train=30, num_test=12)
    assert sum(seen) == images
    assert results  # scored
