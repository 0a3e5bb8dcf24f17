"""MPI3D from its ``.npz`` files (mpi3d_toy, mpi3d_realistic, mpi3d_real, mpi3d_complex).

Gondal et al., "On the Transfer of Inductive Bias from Simulation to the Real World: a New
Disentanglement Dataset", NeurIPS 2019 (arXiv 1906.03292; https://github.com/rr-learning/disentanglement_dataset).
Format: ``images`` uint8 ``[N, 64, 64, 3]``, no labels; row ``i`` holds combination ``i`` in row-major
order over the seven factors (the last varies fastest):

================  ====  ==========================================================
factor            size  meaning
================  ====  ==========================================================
object_color      6     colour of the object (4 in mpi3d_complex)
object_shape      6     shape of the object (4 in mpi3d_complex)
object_size       2     small, large
camera_height     3     top, center, bottom
background_color  3     colour of the background
horizontal_axis   40    rotation of the robot arm's first degree of freedom
vertical_axis     40    rotation of the robot arm's second degree of freedom
================  ====  ==========================================================

N = 1,036,800 for the 6×6×2×3×3×40×40 files and 460,800 for mpi3d_complex (4×4×2×3×3×40×40); the
sizes are chosen from N, or given explicitly. The files are 12.7 GB (5.7 GB) of pixels: an archive
stored uncompressed (as distributed, ``numpy.savez``) is memory-mapped, a compressed one is inflated
into memory on first use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .file_backed import FileBackedData
from .npz import NpzArchive

FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
MPI3D_SIZES = (6, 6, 2, 3, 3, 40, 40)
MPI3D_COMPLEX_SIZES = (4, 4, 2, 3, 3, 40, 40)
_BLOCK_ROWS = 8192


class MPI3D(FileBackedData):
    """MPI3D read from an ``.npz`` with ``images`` ``[N, 64, 64, 3]``; images NCHW with 3 channels."""

    name = "mpi3d"
    factor_names = FACTOR_NAMES
    observation_shape = (3, 64, 64)

    def __init__(self, path: str | Path, factor_sizes: tuple[int, ...] | None = None) -> None:
        archive = NpzArchive(path, "MPI3D file")
        self.path = archive.path
        what = f"MPI3D file {self.path}"
        archive.require("images", "[N, 64, 64, 3] uint8")
        shape, dtype = archive.header("images")
        if len(shape) != 4 or shape[1:] != (64, 64, 3) or dtype != np.uint8:
            raise UserError(f"{what}: 'images' is {dtype} {list(shape)}; expected uint8 [N, 64, 64, 3]")
        count = shape[0]
        if factor_sizes is None:
            by_count = {int(np.prod(sizes)): sizes for sizes in (MPI3D_SIZES, MPI3D_COMPLEX_SIZES)}
            if count not in by_count:
                raise UserError(
                    f"{what}: 'images' holds {count} images; expected 1036800 (6×6×2×3×3×40×40: mpi3d_toy, "
                    "mpi3d_realistic, mpi3d_real) or 460800 (4×4×2×3×3×40×40: mpi3d_complex)"
                )
            factor_sizes = by_count[count]
        factor_sizes = tuple(int(size) for size in factor_sizes)
        if len(factor_sizes) != 7 or min(factor_sizes) < 1 or int(np.prod(factor_sizes)) != count:
            raise UserError(f"{what}: {count} images do not fit the factor sizes {list(factor_sizes)} (7 factors)")
        self.factor_sizes = factor_sizes
        self._archive = archive
        self._images: np.ndarray | None = None

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._images is None:
            mapped = self._archive.memmap("images")
            if mapped is None:
                mapped = self._archive.read("images", _BLOCK_ROWS)
            self._images = mapped
        return np.ascontiguousarray(np.asarray(self._images[rows]).transpose(0, 3, 1, 2))

    def _release(self) -> None:
        self._images = None
