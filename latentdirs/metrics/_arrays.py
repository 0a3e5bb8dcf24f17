"""Input checks shared by the array-level metrics: samples-first codes ``[N, D]`` and factors ``[N, K]``.

Every problem becomes a :class:`~latentdirs.errors.UserError` naming the array, what it was and what
was expected, so that the CLI reports it as one line.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def check_codes(codes: np.ndarray, name: str = "codes", min_samples: int = 2) -> np.ndarray:
    """``codes`` as a finite float64 array ``[N, D]`` with ``N >= min_samples`` and ``D >= 1``."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise UserError(f"{name} must be a 2-D array [N samples, D dims], got shape {list(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            or array.dtype == np.bool_):
        raise UserError(f"{name} must hold numbers, got dtype {array.dtype}")
    n, d = array.shape
    if n < min_samples or d < 1:
        raise UserError(f"{name} must have at least {min_samples} samples and 1 dim, got shape {list(array.shape)}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise UserError(f"{name} contains {bad} NaN/inf value(s); codes must be finite")
    return array


def _factor_array(factors: np.ndarray, num_samples: int, name: str) -> np.ndarray:
    array = np.asarray(factors)
    if array.ndim != 2:
        raise UserError(f"{name} must be a 2-D array [N samples, K factors], got shape {list(array.shape)}")
    if array.shape[1] < 1:
        raise UserError(f"{name} must have at least one factor column, got shape {list(array.shape)}")
    if array.shape[0] != num_samples:
        raise UserError(f"{name} has {array.shape[0]} rows but the codes have {num_samples}; one row per sample")
    return array


def check_real_factors(factors: np.ndarray, num_samples: int, name: str = "factors") -> np.ndarray:
    """``factors`` as a finite float64 array ``[N, K]`` of continuous values, with ``N == num_samples``."""
    array = _factor_array(factors, num_samples, name)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise UserError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise UserError(f"{name} contains NaN/inf values; factor values must be finite")
    return array


def check_factors(factors: np.ndarray, num_samples: int, name: str = "factors") -> np.ndarray:
    """``factors`` as an int64 array ``[N, K]`` of integer values, with ``N == num_samples``."""
    array = _factor_array(factors, num_samples, name)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.int64, copy=False)
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"{name} must hold integer factor values, got dtype {array.dtype}")
    if not np.isfinite(array).all() or (array != np.round(array)).any():
        raise UserError(f"{name} must hold integer factor values (class indices); found non-integers or NaN")
    return array.astype(np.int64)


def check_labelled(codes: np.ndarray, factors: np.ndarray, split: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check one (codes, factors) pair; ``split`` ("train"/"test") only names the arrays in messages."""
    suffix = f"_{split}" if split else ""
    codes = check_codes(codes, f"codes{suffix}")
    return codes, check_factors(factors, codes.shape[0], f"factors{suffix}")


def check_train_test(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check both splits and that they agree on the number of code dims and factors."""
    codes_train, factors_train = check_labelled(codes_train, factors_train, "train")
    codes_test, factors_test = check_labelled(codes_test, factors_test, "test")
    if codes_test.shape[1] != codes_train.shape[1]:
        raise UserError(f"codes_test has {codes_test.shape[1]} dims but codes_train has {codes_train.shape[1]}")
    if factors_test.shape[1] != factors_train.shape[1]:
        raise UserError(
            f"factors_test has {factors_test.shape[1]} factors but factors_train has {factors_train.shape[1]}"
        )
    return codes_train, factors_train, codes_test, factors_test


def constant_dims(codes: np.ndarray) -> np.ndarray:
    """Boolean mask ``[D]`` of dims whose value never changes over the samples (dead dims)."""
    return (codes == codes[:1]).all(axis=0)
