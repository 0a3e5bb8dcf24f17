"""Lazy access to the arrays of a ``.npz`` archive without loading them whole.

An ``.npz`` is a zip of ``.npy`` files. Members stored uncompressed (``numpy.savez``) are
memory-mapped in place; compressed members (``numpy.savez_compressed``) are read row-block by
row-block from the zip stream, so a caller can reduce them (e.g. bit-pack binary images) without ever
holding the inflated array. Every failure becomes a one-line :class:`UserError` naming the file.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from ..errors import UserError
from ..io import require_file

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)


class NpzArchive:
    """The ``.npy`` members of one ``.npz`` file, opened lazily (``what`` names the file in errors)."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = require_file(path, what)
        self.what = what
        try:
            with zipfile.ZipFile(self.path) as archive:
                infos = archive.infolist()
        except _READ_ERRORS as exc:
            raise UserError(f"{what} {self.path} is not a readable .npz archive ({exc})") from None
        self._members = {info.filename[: -len(".npy")]: info for info in infos if info.filename.endswith(".npy")}

    def keys(self) -> list[str]:
        return sorted(self._members)

    def require(self, key: str, expected: str) -> None:
        """UserError unless ``key`` is an array of the archive (``expected`` describes the layout)."""
        if key not in self._members:
            raise UserError(
                f"{self.what} {self.path} has no array {key!r} (expected {key} {expected}); "
                f"it holds {', '.join(self.keys()) or 'no arrays'}"
            )

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` of member ``key``, read from its ``.npy`` header only."""
        with self._open(key) as stream:
            shape, _, dtype, _ = self._read_header(key, stream)
        return shape, dtype

    def read(self, key: str, block_rows: int = 1 << 14) -> np.ndarray:
        """The whole array ``key``, inflated block by block into one preallocated array."""
        shape, dtype = self.header(key)
        out = np.empty(shape, dtype)
        start = 0
        for block in self.iter_rows(key, block_rows):
            if block.shape == shape:  # all rows at once (a small, scalar or Fortran-ordered member)
                return np.require(block, requirements=["C", "W"])
            out[start : start + len(block)] = block
            start += len(block)
        return out

    def memmap(self, key: str) -> np.ndarray | None:
        """A read-only memory map of ``key`` when it is stored uncompressed in C order, else None."""
        info = self._members[key]
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        try:
            with open(self.path, "rb") as raw:
                raw.seek(info.header_offset)
                fields = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
                if fields[0] != b"PK\x03\x04":
                    raise zipfile.BadZipFile("bad local file header")
                name_length, extra_length = fields[-2], fields[-1]
                raw.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
                shape, fortran, dtype, header_end = self._read_header(key, raw)
        except _READ_ERRORS as exc:
            raise UserError(f"{self.what} {self.path}: cannot read {key!r} ({exc})") from None
        if fortran or dtype.hasobject:
            return None
        try:
            return np.memmap(self.path, dtype=dtype, mode="r", offset=header_end, shape=shape)
        except _READ_ERRORS as exc:  # e.g. a truncated file: the array would run past its end
            raise UserError(f"{self.what} {self.path}: cannot map {key!r}, the file looks truncated ({exc})") from None

    def iter_rows(self, key: str, block_rows: int) -> Iterator[np.ndarray]:
        """Blocks of up to ``block_rows`` rows (first axis) of ``key``, in order, C-contiguous."""
        try:
            with self._open(key) as stream:
                shape, fortran, dtype, _ = self._read_header(key, stream)
                if fortran or dtype.hasobject or not shape:
                    yield self._load_whole(key)
                    return
                row_shape = shape[1:]
                row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
                for start in range(0, shape[0], block_rows):
                    rows = min(block_rows, shape[0] - start)
                    buffer = stream.read(rows * row_bytes)
                    if len(buffer) != rows * row_bytes:
                        raise EOFError(f"{key!r} ends after {start} of {shape[0]} rows")
                    yield np.frombuffer(buffer, dtype=dtype).reshape((rows, *row_shape))
        except _READ_ERRORS as exc:
            raise UserError(f"{self.what} {self.path}: cannot read {key!r}, the file looks corrupt ({exc})") from None

    # -- internals -------------------------------------------------------------------------------
    def _open(self, key: str) -> _MemberStream:
        return _MemberStream(self, key)

    def _read_header(self, key: str, stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        try:
            version = npy_format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as exc:
            raise UserError(f"{self.what} {self.path}: {key!r} is not a valid .npy array ({exc})") from None
        return tuple(int(n) for n in shape), bool(fortran), np.dtype(dtype), stream.tell()

    def _load_whole(self, key: str) -> np.ndarray:
        with np.load(self.path, allow_pickle=False) as archive:
            return np.ascontiguousarray(archive[key])


class _MemberStream:
    """Context manager: an open binary stream on one member, closing the zip with it."""

    def __init__(self, archive: NpzArchive, key: str) -> None:
        self.archive, self.key = archive, key

    def __enter__(self) -> IO[bytes]:
        try:
            self._zip = zipfile.ZipFile(self.archive.path)
            self._stream = self._zip.open(self.archive._members[self.key])
        except _READ_ERRORS as exc:
            raise UserError(f"{self.archive.what} {self.archive.path}: cannot open {self.key!r} ({exc})") from None
        return self._stream

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()
        self._zip.close()
