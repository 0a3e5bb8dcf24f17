"""FactorVAE disentanglement score (majority-vote classifier).

Kim & Mnih, "Disentangling by Factorising", ICML 2018 (arXiv 1802.05983); protocol and defaults of
disentanglement_lib (``factor_vae.py`` with the study's gin settings).

1. Global scale: codes of ``num_variance_estimate`` (10 000) random images, per-dim variance s²_d
   (ddof=1); dims with s_d < ``prune_threshold`` (0.05) are dropped as collapsed.
2. A vote: pick a factor k uniformly, draw ``batch_size`` (64) factor rows with factor k fixed to the
   value of the first row, encode their images, and take d* = argmin_d var_d(batch) / s²_d over the
   kept dims (variance with ddof=1). The vote is the pair (d*, k).
3. ``num_train`` (10 000) votes train the classifier d ↦ the factor with most votes for d;
   ``num_eval`` (5 000) fresh votes are classified. Score = the fraction of votes whose factor is the
   majority factor of their dim (``eval_accuracy``; ``train_accuracy`` on the training votes).

All draws come from one ``numpy.random.RandomState`` in disentanglement_lib's order (global sample,
then per vote: the factor, then the 64 rows); the images of many votes are encoded together.
"""

from __future__ import annotations

import numpy as np

from ..data.base import GroundTruthData
from ..errors import UserError
from ._random import as_random_state
from .sampling import ENCODE_BATCH_SIZE, EncodeFn, encode


def factor_vae_score(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    random_state: int | np.random.RandomState = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> dict[str, float]:
    """FactorVAE score: ``{"train_accuracy", "eval_accuracy", "num_active_dims"}`` (see module docstring).

    ``num_active_dims`` counts the codes kept by the pruning (disentanglement_lib's field of that name is
    ``len(active_dims)``, the length of its boolean mask: always D)."""
    if min(batch_size, num_train, num_eval) < 1 or num_variance_estimate < 2 or batch_size < 2:
        raise UserError("factor_vae_score needs batch_size >= 2, num_train/num_eval >= 1, num_variance_estimate >= 2")
    rng = as_random_state(random_state)
    global_factors = dataset.sample_factors(num_variance_estimate, rng)
    global_variance = np.var(encode(dataset, encode_fn, global_factors, encode_batch_size), axis=0, ddof=1)
    active = np.sqrt(global_variance) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    chunk = max(1, encode_batch_size // batch_size)
    train_votes = _votes(dataset, encode_fn, rng, batch_size, num_train, global_variance, active, chunk)
    majority = np.argmax(train_votes, axis=0)
    eval_votes = _votes(dataset, encode_fn, rng, batch_size, num_eval, global_variance, active, chunk)
    return {
        "train_accuracy": _accuracy(train_votes, majority),
        "eval_accuracy": _accuracy(eval_votes, majority),
        "num_active_dims": int(active.sum()),
    }


def _accuracy(votes: np.ndarray, majority: np.ndarray) -> float:
    return float(np.sum(votes[majority, np.arange(votes.shape[1])]) / np.sum(votes))


def _votes(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    rng: np.random.RandomState,
    batch_size: int,
    num_votes: int,
    global_variance: np.ndarray,
    active: np.ndarray,
    chunk: int,
) -> np.ndarray:
    """Vote counts ``[K, D_active]``: how often fixing factor k made kept dim d the least variable."""
    fixed = np.empty(num_votes, dtype=np.int64)
    batches = np.empty((num_votes, batch_size, dataset.num_factors), dtype=np.int64)
    for vote in range(num_votes):
        fixed[vote] = rng.randint(dataset.num_factors)
        rows = dataset.sample_factors(batch_size, rng)
        rows[:, fixed[vote]] = rows[0, fixed[vote]]
        batches[vote] = rows
    votes = np.zeros((dataset.num_factors, int(active.sum())), dtype=np.int64)
    for start in range(0, num_votes, chunk):
        stop = min(start + chunk, num_votes)
        codes = encode(dataset, encode_fn, batches[start:stop].reshape(-1, dataset.num_factors), chunk * batch_size)
        local_variance = np.var(codes.reshape(stop - start, batch_size, -1), axis=1, ddof=1)
        least = np.argmin(local_variance[:, active] / global_variance[active], axis=1)
        np.add.at(votes, (fixed[start:stop], least), 1)
    return votes
