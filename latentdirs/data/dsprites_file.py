"""The original dSprites file, ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

Format (https://github.com/deepmind/dsprites-dataset): ``imgs`` uint8 ``[737280, 64, 64]`` holding
0/1 pixels, ``latents_classes`` integer ``[737280, 6]`` with columns color, shape, scale, orientation,
posX, posY (``latents_values`` and the pickled ``metadata`` are not needed and never unpickled). The
color column is constant and is dropped; the factor sizes are read from the classes (3, 6, 40, 32, 32
for the original) and the rows are checked to hold every combination exactly once (the original is
row-major: posY varies fastest, then posX, orientation, scale, shape).

The images are read on first use. The original archive is compressed, so the 3 GB of pixels are
inflated block by block and kept bit-packed (8 pixels per byte, 368 MB); an uncompressed archive
(``numpy.savez``) is memory-mapped instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .dsprites import DSprites
from .file_backed import FileBackedData, row_lookup
from .npz import NpzArchive

_BLOCK_ROWS = 16384


class DSpritesFile(FileBackedData):
    """dSprites read from the original ``.npz`` (factor names as :class:`DSprites`)."""

    name = "dsprites"
    factor_names = DSprites.factor_names
    observation_shape = (1, 64, 64)

    def __init__(self, path: str | Path) -> None:
        archive = NpzArchive(path, "dSprites file")
        self.path = archive.path
        what = f"dSprites file {self.path}"
        archive.require("imgs", "[N, 64, 64] uint8")
        archive.require("latents_classes", "[N, 6] integer")
        shape, dtype = archive.header("imgs")
        if len(shape) != 3 or shape[1:] != (64, 64) or dtype != np.uint8:
            raise UserError(f"{what}: 'imgs' is {dtype} {list(shape)}; expected uint8 [N, 64, 64]")
        class_shape, class_dtype = archive.header("latents_classes")
        if class_shape != (shape[0], 6) or not np.issubdtype(class_dtype, np.integer):
            raise UserError(
                f"{what}: 'latents_classes' is {class_dtype} {list(class_shape)}; expected integer [{shape[0]}, 6]"
            )
        classes = archive.read("latents_classes").astype(np.int64)
        if len(classes) == 0 or (classes[:, 0] != classes[0, 0]).any():
            raise UserError(f"{what}: the color column (0) of 'latents_classes' must be constant and N > 0")
        classes = classes[:, 1:]
        if classes.min() < 0:
            raise UserError(f"{what}: 'latents_classes' holds negative class indices")
        self.factor_sizes = tuple(int(size) for size in classes.max(axis=0) + 1)
        self._row_of_index = row_lookup(classes, self.factor_sizes, what)
        self._archive = archive
        self._images: np.ndarray | None = None  # [N, 64, 64] 0/1 (memmap) or [N, 64, 8] bit-packed
        self._packed = False

    def _load(self) -> None:
        mapped = self._archive.memmap("imgs")
        if mapped is not None:
            self._images, self._packed = mapped, False
            return
        shape, _ = self._archive.header("imgs")
        packed = np.empty((shape[0], 64, 8), dtype=np.uint8)
        start = 0
        for block in self._archive.iter_rows("imgs", _BLOCK_ROWS):
            _check_binary(block, self.path)
            packed[start : start + len(block)] = np.packbits(block, axis=-1)
            start += len(block)
        self._images, self._packed = packed, True

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._images is None:
            self._load()
        if self._packed:
            pixels = np.unpackbits(self._images[rows], axis=-1)
        else:
            pixels = np.asarray(self._images[rows])
            _check_binary(pixels, self.path)
        return (pixels * np.uint8(255))[:, None, :, :]

    def _release(self) -> None:
        self._images, self._packed = None, False


def _check_binary(pixels: np.ndarray, path: Path) -> None:
    if pixels.size and pixels.max() > 1:
        raise UserError(f"dSprites file {path}: 'imgs' holds values up to {pixels.max()}; expected binary 0/1 pixels")
