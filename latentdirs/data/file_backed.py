"""Datasets whose images are stored in a file, one image per factor combination.

A loader reads the file's factor labels once, turns them into integer indices and checks that they
list every combination of the factor grid exactly once; the images themselves stay in the file
(memory-mapped or read on demand) until a batch asks for them. Opened handles are dropped when the
object is pickled (e.g. into DataLoader workers) and reopened on first use.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .base import GroundTruthData


def row_lookup(classes: np.ndarray, factor_sizes: tuple[int, ...], what: str) -> np.ndarray | None:
    """Map row-major combination index → file row from per-row factor indices ``classes [N, K]``.

    Returns None when the file is already in row-major order (row ``i`` holds combination ``i``),
    the layout of the original dSprites, 3dshapes and MPI3D files; otherwise the permutation.
    Raises UserError unless every combination appears exactly once.
    """
    count = int(np.prod(factor_sizes, dtype=np.int64))
    if len(classes) != count:
        raise UserError(
            f"{what}: {len(classes)} images, but the factor grid {'×'.join(map(str, factor_sizes))} has {count} "
            "combinations; expected one image per combination"
        )
    index = np.ravel_multi_index(tuple(classes.T), factor_sizes)
    if np.array_equal(index, np.arange(count)):
        return None
    if not (np.bincount(index, minlength=count) == 1).all():
        raise UserError(f"{what}: the factor labels repeat some combinations and miss others")
    rows = np.empty(count, dtype=np.int64)
    rows[index] = np.arange(count)
    return rows


class FileBackedData(GroundTruthData):
    """Base of the file loaders: subclasses set ``factor_sizes`` and the row lookup, and read rows."""

    path: Path
    _row_of_index: np.ndarray | None = None

    @abstractmethod
    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Stored images of file rows ``rows`` as uint8 ``[B, C, H, W]`` in 0 … 255."""

    @abstractmethod
    def _release(self) -> None:
        """Forget open handles / mapped arrays (they are reopened lazily)."""

    def rows_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """File rows holding the images of ``factors`` ``[N, K]``."""
        index = self.index_from_factors(factors)
        return index if self._row_of_index is None else self._row_of_index[index]

    def observations_from_factors(self, factors: np.ndarray, dtype: str = "float32") -> np.ndarray:
        """Stored images for ``factors``: NCHW float32 in [0, 1], or the stored uint8 with ``dtype="uint8"``."""
        if dtype not in ("float32", "uint8"):
            raise UserError(f"dtype must be float32 or uint8, got {dtype!r}")
        rows = self.rows_from_factors(factors)
        if rows.size == 0:
            images = np.zeros((0, *self.observation_shape), dtype=np.uint8)
        else:
            images = self._read_rows(rows)
        if dtype == "uint8":
            return images
        return images.astype(np.float32) * np.float32(1.0 / 255.0)

    def _render(self, factors: np.ndarray) -> np.ndarray:
        return self.observations_from_factors(factors)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        clone = object.__new__(type(self))
        clone.__dict__.update(state)
        clone._release()
        return clone.__dict__
