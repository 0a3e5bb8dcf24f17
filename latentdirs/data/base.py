"""The interface every ground-truth dataset implements (procedural or file-backed).

Conventions: factors are integer indices ``[N, K]`` (int64), one column per factor, each in
``0 … factor_sizes[k] − 1``; observations are NCHW, float32 in [0, 1] (or uint8 0…255 when asked).
All sampling takes an explicit ``numpy.random.RandomState``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from ..errors import UserError


def composite(alpha: np.ndarray, objects: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """An object of one colour over a plain background: ``x = b + α · (o − b)`` per channel, for coverage
    ``α [N, H, W]`` and colours ``o``, ``b [N, C]``; returns ``[N, C, H, W]``."""
    return backgrounds[:, :, None, None] + alpha[:, None] * (objects - backgrounds)[:, :, None, None]


class GroundTruthData(ABC):
    """A dataset whose images are a function of known discrete factors of variation."""

    name: str = ""
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    observation_shape: tuple[int, int, int] = (1, 64, 64)  # C, H, W

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def num_observations(self) -> int:
        """Number of distinct factor combinations."""
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    # -- factors ---------------------------------------------------------------------------
    def sample_factors(self, n: int, random_state: np.random.RandomState) -> np.ndarray:
        """``n`` factor combinations, each factor uniform over its values: ``[n, K]`` int64."""
        columns = [random_state.randint(size, size=n) for size in self.factor_sizes]
        return np.stack(columns, axis=1).astype(np.int64) if columns else np.zeros((n, 0), np.int64)

    def check_factors(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise UserError(
                f"{self.name}: factors must have shape [N, {self.num_factors}] "
                f"({', '.join(self.factor_names)}), got {list(factors.shape)}"
            )
        if not np.issubdtype(factors.dtype, np.integer):
            raise UserError(f"{self.name}: factors must be integer indices, got {factors.dtype}")
        sizes = np.asarray(self.factor_sizes)
        if factors.size and ((factors < 0).any() or (factors >= sizes).any()):
            raise UserError(f"{self.name}: factor indices out of range; sizes are {list(self.factor_sizes)}")
        return factors.astype(np.int64)

    def index_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """Row-major flat index of each factor combination (first factor slowest)."""
        factors = self.check_factors(factors)
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes).astype(np.int64)

    def factors_from_index(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        if index.size and ((index < 0).any() or (index >= self.num_observations).any()):
            raise UserError(f"{self.name}: index out of range 0…{self.num_observations - 1}")
        return np.stack(np.unravel_index(index, self.factor_sizes), axis=-1).astype(np.int64)

    # -- observations ----------------------------------------------------------------------
    @abstractmethod
    def _render(self, factors: np.ndarray) -> np.ndarray:
        """Images for checked factors: ``[N, C, H, W]`` float32 in [0, 1]."""

    def observations_from_factors(self, factors: np.ndarray, dtype: str = "float32") -> np.ndarray:
        """Images for ``factors`` ``[N, K]``: NCHW float32 in [0, 1], or uint8 with ``dtype="uint8"``."""
        images = self._render(self.check_factors(factors))
        if dtype == "uint8":
            return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
        if dtype != "float32":
            raise UserError(f"dtype must be float32 or uint8, got {dtype!r}")
        return images

    def sample(self, n: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """``(factors [n, K], images [n, C, H, W])`` for ``n`` random combinations."""
        factors = self.sample_factors(n, random_state)
        return factors, self.observations_from_factors(factors)

    def sample_observations(self, n: int, random_state: np.random.RandomState) -> np.ndarray:
        return self.sample(n, random_state)[1]

    def torch_dataset(self) -> torch.utils.data.Dataset:
        """A map-style torch Dataset over every combination: item ``i`` → (image tensor, factors)."""
        return _IndexedView(self)


class _IndexedView(torch.utils.data.Dataset):
    def __init__(self, data: GroundTruthData) -> None:
        self.data = data

    def __len__(self) -> int:
        return self.data.num_observations

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        factors = self.data.factors_from_index(np.array([index]))
        image = self.data.observations_from_factors(factors)[0]
        return torch.from_numpy(image), torch.from_numpy(factors[0])
