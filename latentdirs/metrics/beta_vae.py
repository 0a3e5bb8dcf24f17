"""β-VAE disentanglement score (linear classifier on paired differences).

Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework",
ICLR 2017; protocol and defaults of disentanglement_lib (``beta_vae.py``, ``beta_vae_sklearn``).

A training point: pick a factor k uniformly; draw two batches of ``batch_size`` (64) factor rows and
copy factor k of the first batch into the second; encode both; the feature vector is the mean over
the batch of |z¹ − z²| (per code dim) and the label is k. ``num_train`` (10 000) points train a
``LogisticRegression()`` (scikit-learn defaults), ``num_eval`` (5 000) fresh points test it; the
score is its accuracy (``eval_accuracy``; ``train_accuracy`` on the training points). Draws follow
disentanglement_lib's order from one ``numpy.random.RandomState``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..data.base import GroundTruthData
from ..errors import UserError
from ._parallel import quiet_fits
from ._random import as_random_state
from .sampling import ENCODE_BATCH_SIZE, EncodeFn, encode


def beta_vae_score(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    random_state: int | np.random.RandomState = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> dict[str, float]:
    """β-VAE score: ``{"train_accuracy", "eval_accuracy"}`` (see the module docstring)."""
    if min(batch_size, num_train, num_eval) < 1:
        raise UserError("beta_vae_score needs batch_size, num_train and num_eval >= 1")
    rng = as_random_state(random_state)
    chunk = max(1, encode_batch_size // (2 * batch_size))
    train_points, train_labels = _points(dataset, encode_fn, rng, batch_size, num_train, chunk)
    if np.unique(train_labels).size < 2:
        raise UserError("beta_vae_score needs at least two factors and enough training points to see two of them")
    with quiet_fits():
        model = LogisticRegression().fit(train_points, train_labels)
    eval_points, eval_labels = _points(dataset, encode_fn, rng, batch_size, num_eval, chunk)
    return {
        "train_accuracy": float(np.mean(model.predict(train_points) == train_labels)),
        "eval_accuracy": float(np.mean(model.predict(eval_points) == eval_labels)),
    }


def _points(
    dataset: GroundTruthData, encode_fn: EncodeFn, rng: np.random.RandomState, batch_size: int, num: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[num, D]`` and labels ``[num]``; rows of pair p are ``2p`` (first) and ``2p+1`` (second)."""
    num_factors = dataset.num_factors
    labels = np.empty(num, dtype=np.int64)
    pairs = np.empty((num, 2, batch_size, num_factors), dtype=np.int64)
    for point in range(num):
        labels[point] = rng.randint(num_factors)
        first = dataset.sample_factors(batch_size, rng)
        second = dataset.sample_factors(batch_size, rng)
        second[:, labels[point]] = first[:, labels[point]]
        pairs[point, 0], pairs[point, 1] = first, second
    features = []
    for start in range(0, num, chunk):
        stop = min(start + chunk, num)
        codes = encode(dataset, encode_fn, pairs[start:stop].reshape(-1, num_factors), 2 * chunk * batch_size)
        codes = codes.reshape(stop - start, 2, batch_size, -1)
        features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
    return np.concatenate(features, axis=0), labels
