"""3dshapes from its original file, ``3dshapes.h5``.

Format (Burgess & Kim 2018, https://github.com/deepmind/3d-shapes): ``images`` uint8
``[480000, 64, 64, 3]`` and ``labels`` float ``[480000, 6]``, one column per factor:

============  ====  ===================================
factor        size  label values
============  ====  ===================================
floor_hue     10    hues in [0, 1)
wall_hue      10    hues in [0, 1)
object_hue    10    hues in [0, 1)
scale         8     ``linspace(0.75, 1.25, 8)``
shape         4     0, 1, 2, 3
orientation   15    ``linspace(−30, 30, 15)`` (degrees)
============  ====  ===================================

The float labels become indices by rank: the distinct values of each column (rounded to 6 decimals),
sorted, are the factor's values, so the sizes above are read from the file, and the rows are checked
to hold every combination exactly once (the original is row-major in the order above). Images are
read from the HDF5 file on demand (``preload=True`` reads them all into memory, 5.9 GB for the
original, which is faster for random batches).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import require_file
from .file_backed import FileBackedData, row_lookup

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")


class Shapes3D(FileBackedData):
    """3dshapes read from ``3dshapes.h5``; images NCHW with 3 channels."""

    name = "3dshapes"
    factor_names = FACTOR_NAMES
    observation_shape = (3, 64, 64)

    def __init__(self, path: str | Path, preload: bool = False) -> None:
        self.path = require_file(path, "3dshapes file")
        what = f"3dshapes file {self.path}"
        handle = self._open()
        try:
            images, labels = handle.get("images"), handle.get("labels")
            if images is None or labels is None or not hasattr(images, "shape") or not hasattr(labels, "shape"):
                raise UserError(
                    f"{what}: expected datasets 'images' uint8 [N, 64, 64, 3] and 'labels' float [N, 6]; "
                    f"it holds {', '.join(sorted(handle.keys())) or 'nothing'}"
                )
            if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
                found = f"{images.dtype} {list(images.shape)}"
                raise UserError(f"{what}: 'images' is {found}; expected uint8 [N, 64, 64, 3]")
            if labels.shape != (images.shape[0], 6) or not np.issubdtype(labels.dtype, np.number):
                raise UserError(
                    f"{what}: 'labels' is {labels.dtype} {list(labels.shape)}; expected numbers [{images.shape[0]}, 6]"
                )
            label_values = np.asarray(labels[()], dtype=np.float64)
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{what}: cannot read it ({exc})") from None
        finally:
            handle.close()
        columns, values = [], []
        for k in range(6):
            distinct, inverse = np.unique(np.round(label_values[:, k], 6), return_inverse=True)
            columns.append(inverse.reshape(-1))
            values.append(distinct)
        self.factor_values = tuple(values)  # label value of each index, per factor
        self.factor_sizes = tuple(len(v) for v in values)
        self._row_of_index = row_lookup(np.stack(columns, axis=1), self.factor_sizes, what)
        self.preload = preload
        self._handle = None
        self._images = None  # the h5py dataset, or the whole array when preloaded

    def _open(self):
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise UserError(f"3dshapes file {self.path} is not a readable HDF5 file ({exc})") from None

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._images is None:
            self._handle = self._open()
            self._images = self._handle["images"][()] if self.preload else self._handle["images"]
            if self.preload:
                self._handle.close()
                self._handle = None
        if self.preload:
            batch = self._images[rows]
        else:
            unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing indices
            try:
                batch = self._images[unique][inverse.reshape(-1)]
            except (OSError, ValueError) as exc:
                raise UserError(f"3dshapes file {self.path}: cannot read images ({exc})") from None
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def _release(self) -> None:
        self._handle, self._images = None, None
