"""Sampling labelled codes from a ground-truth dataset through a representation function.

A representation function (``encode_fn``) maps images ``[n, C, H, W]`` (float32 in [0, 1]) to codes
``[n, D]``. Factor draws follow disentanglement_lib's ``generate_batch_factor_code``: batches of 16,
each drawing every factor column in order from the one ``numpy.random.RandomState`` — so for a given
seed the sampled factors are those disentanglement_lib would use on a dataset with the same factor
sizes. Images are rendered and encoded in larger chunks (``encode_batch_size``), which does not
change which points are drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.base import GroundTruthData
from ..errors import UserError
from ._random import as_random_state

EncodeFn = Callable[[np.ndarray], np.ndarray]
ENCODE_BATCH_SIZE = 512


def encode(
    dataset: GroundTruthData, encode_fn: EncodeFn, factors: np.ndarray, batch_size: int = ENCODE_BATCH_SIZE
) -> np.ndarray:
    """Codes ``[n, D]`` (float64) of the images of ``factors`` ``[n, K]``, rendered and encoded in chunks."""
    chunks = []
    for start in range(0, factors.shape[0], batch_size):
        batch = factors[start : start + batch_size]
        codes = np.asarray(encode_fn(dataset.observations_from_factors(batch)))
        if codes.ndim != 2 or codes.shape[0] != batch.shape[0]:
            raise UserError(
                f"the representation function returned shape {list(codes.shape)} for {batch.shape[0]} images; "
                "expected [n_images, D]"
            )
        if not np.isfinite(codes).all():
            raise UserError("the representation function returned NaN/inf codes")
        chunks.append(codes.astype(np.float64, copy=False))
    if not chunks:
        raise UserError("no points to encode (asked for 0 samples)")
    return np.concatenate(chunks, axis=0)


def sample_factors_batched(
    dataset: GroundTruthData, num: int, random_state: np.random.RandomState, batch_size: int = 16
) -> np.ndarray:
    """``num`` factor rows drawn in batches of ``batch_size`` as disentanglement_lib does."""
    if num < 1:
        raise UserError(f"number of points must be positive, got {num}")
    batches = [
        dataset.sample_factors(min(batch_size, num - start), random_state) for start in range(0, num, batch_size)
    ]
    return np.concatenate(batches, axis=0)


@dataclass(frozen=True)
class LabelledCodes:
    """Codes and factors of a training and a test split (samples first)."""

    codes_train: np.ndarray
    factors_train: np.ndarray
    codes_test: np.ndarray | None
    factors_test: np.ndarray | None


def sample_labelled_codes(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    num_train: int = 10000,
    num_test: int = 5000,
    random_state: int | np.random.RandomState = 0,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> LabelledCodes:
    """Draw ``num_train`` then ``num_test`` labelled points (disentanglement_lib's order) and encode them.

    With ``num_test=0`` the test split is ``None``.
    """
    rng = as_random_state(random_state)
    factors_train = sample_factors_batched(dataset, num_train, rng)
    factors_test = sample_factors_batched(dataset, num_test, rng) if num_test else None
    return LabelledCodes(
        codes_train=encode(dataset, encode_fn, factors_train, encode_batch_size),
        factors_train=factors_train,
        codes_test=encode(dataset, encode_fn, factors_test, encode_batch_size) if num_test else None,
        factors_test=factors_test,
    )
