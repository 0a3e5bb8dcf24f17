"""Files: atomic writes, checked reads, hashes and image grids.

Every writer goes through a temporary file in the destination folder followed by
``os.replace``, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .validation import check_fits, npy_header

if TYPE_CHECKING:
    import numpy as np


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``. A file-system failure
    (folder not writable, disk full, ``path`` is a folder) becomes a :class:`UserError` naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except (FileExistsError, NotADirectoryError) as exc:  # some folder of the path is a file
        raise UserError(f"cannot write {path}: a file stands where one of its folders should be") from exc
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc} (expected a writable folder)") from exc
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a finished file gets the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as indented JSON, always valid: a NaN or ±inf number (which ``json`` would write as the bare
    ``NaN``/``Infinity`` no JSON reader accepts) is written as ``null``."""
    text = json.dumps(_finite_or_null(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    write_text(path, text + "\n")


def _finite_or_null(obj: Any) -> Any:
    """``obj`` with every non-finite float (also numpy scalars and arrays inside it) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_null(value) for value in obj]
    if type(obj).__module__ == "numpy":
        return _finite_or_null(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{what} {path} is not valid JSON ({exc})") from None


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise a one-line UserError when it is not a readable file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} not found: {path}")
    if not path.is_file():
        raise UserError(f"{what} {path} is not a file")
    return path


def file_format(path: str | os.PathLike) -> str | None:
    """The ``format`` a latentdirs file declares: a JSON object's ``"format"``, a safetensors header's
    ``format`` (or the ``format`` inside its ``latentdirs`` JSON entry); None when it declares none or is
    not readable as either."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            return data.get("format") if isinstance(data, dict) else None
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "np") as handle:
                meta = handle.metadata() or {}
            if "format" in meta:
                return meta["format"]
            return json.loads(meta["latentdirs"]).get("format") if "latentdirs" in meta else None
    except Exception:  # unreadable or another kind of file: it declares no latentdirs format
        return None
    return None


#: the first bytes of the kinds of file :func:`file_kind` tells apart
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\x93NUMPY", "npy"), (b"PK\x03\x04", "zip"), (b"\x80", "pickle"))


def file_kind(path: str | os.PathLike) -> str | None:
    """What an existing file is, for deciding whether an output may replace it: the latentdirs ``format`` it
    declares (:func:`file_format`), else ``png``, ``npy``, ``zip`` (``.npz``, PyTorch files), ``pickle``,
    ``html``, ``safetensors``, ``json``, ``other``; None for an empty file (nothing to lose)."""
    path = Path(path)
    declared = file_format(path)
    if declared:
        return declared
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.lstrip()[:14].lower() == b"<!doctype html" or head.lstrip()[:5].lower() == b"<html":
        return "html"
    if len(head) >= 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        return "safetensors"
    if head.lstrip()[:1] not in (b"{", b"[") or path.stat().st_size > 1 << 26:
        return "other"
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return "json"
    except (UnicodeDecodeError, ValueError):
        return "other"


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (after resolving links; hard links too)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_inputs(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike | None],
                  flag: str = "--out") -> None:
    """A one-line UserError when one of ``outputs`` is one of ``inputs`` (the same file after resolving links)."""
    sources = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    for path in map(Path, outputs):
        if any(_same_file(path, source) for source in sources):
            raise UserError(f"{flag} {path} is one of this command's inputs; refusing to replace it "
                            "(choose another output path)")


def check_outputs(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike | None] = (), *, kind: str,
                  overwrite: bool = False, flag: str = "--out") -> None:
    """Before any work, a one-line UserError when an output of a command would destroy something:

    - it is one of the command's ``inputs`` (:func:`refuse_inputs`), with or without ``--overwrite``;
    - it exists and is a file of another kind than the ``kind`` about to be written (:func:`file_kind`: e.g. a
      direction file, a generator or an array where a PNG goes), unless ``overwrite``;
    - it is a folder, or cannot be written (:func:`check_writable`).

    An existing output of the same kind (an earlier run's) is replaced, as before.
    """
    refuse_inputs(outputs, inputs, flag)
    for path in map(Path, outputs):
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder (expected a file path for {flag})")
        if path.exists() and not overwrite:
            existing = file_kind(path)
            if existing not in (None, kind):
                raise UserError(f"{flag} {path} exists and is {_kind_text(existing)}; refusing to replace it with "
                                f"{_kind_text(kind)} (choose another path, or pass --overwrite)")
        check_writable(path)


def _kind_text(kind: str) -> str:
    names = {"png": "a PNG image", "npy": "a .npy array", "zip": "a zip archive (.npz, PyTorch file)",
             "pickle": "a pickle", "html": "an HTML page", "safetensors": "a safetensors file", "json": "a JSON file",
             "other": "a file of another kind"}
    return names.get(kind, f"a {kind} file")


def check_writable(path: str | os.PathLike) -> None:
    """A one-line UserError, before any work, when ``path`` clearly cannot be written: a file stands where one
    of its folders should be, the nearest existing folder is not writable, or ``path`` is a folder. (Final
    writes still report their own failures; this only spares a long command finding out at its end.)"""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder (expected a file path)")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write {path}: a file stands where one of its folders should be")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: {existing} is not writable (expected a writable folder)")


def read_npy(path: str | os.PathLike, what: str) -> np.ndarray:
    """The single array of a ``.npy`` file (never unpickled); a one-line UserError for a missing or unreadable
    file, a ``.npz`` archive of several arrays, or a header declaring more than the file holds or memory can take
    (checked before the data is read)."""
    import numpy as np

    path = require_file(path, f"{what} file")
    header = npy_header(path, what)
    check_fits(header.nbytes, f"{what} {path} (shape {header.shape}, {header.dtype})")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is not a readable .npy {what} ({str(exc).strip()[:160]})") from None
    if not isinstance(array, np.ndarray):  # np.load opened a .npz archive
        array.close()
        raise UserError(f"{path} is a .npz archive of arrays; expected one .npy {what}")
    return array


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` into memory, then written through a temporary file and rename.

    Serialized in memory first because torch's zip writer turns a failed write (a full disk) into a
    ``RuntimeError: … unexpected pos …``; written as bytes, the failure is an ``OSError`` that
    :func:`atomic_path` reports as one line ("No space left on device")."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def safetensors_bytes(tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file of ``tensors`` (CPU torch tensors) with ``metadata``, the same bytes for the same input.

    The safetensors library keeps the metadata in a hash map whose order changes from call to call, so two
    identical runs wrote different bytes; the header is written again here as compact JSON with sorted keys
    (padded with spaces to a multiple of 8 bytes, as the format asks). The tensor data are not touched."""
    from safetensors.torch import save

    raw = save(tensors, metadata=dict(metadata) if metadata else None)
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size].decode("utf-8"))
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + raw[8 + size :]


def save_safetensors(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> Path:
    """Write :func:`safetensors_bytes` atomically (a full disk or an unwritable folder: one-line UserError)."""
    write_bytes(path, safetensors_bytes(tensors, metadata))
    return Path(path)


def torch_load(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """Load a file written by :func:`torch_save` (weights-only), with one-line errors."""
    import torch

    path = require_file(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # another file type, or objects beyond plain tensors (never unpickled)
        raise UserError(f"{what} {path} is corrupt or not a latentdirs checkpoint (expected a PyTorch file of "
                        "plain tensors and containers; nothing in it was executed)") from None
    except Exception as exc:  # torch raises many types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{what} {path} is corrupt or not a latentdirs checkpoint ({first[:200]})") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def image_grid(images: np.ndarray, nrow: int, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile images ``[N, C, H, W]`` in [0, 1] into one ``[H', W', C]`` uint8 array, ``nrow`` per row."""
    import numpy as np

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 1|3, H, W], got shape {images.shape}")
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    rows = (n + ncol - 1) // ncol
    grid = np.full((c, rows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value, np.float32)
    for k in range(n):
        r, q = divmod(k, ncol)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top : top + h, left : left + w] = images[k]
    grid = np.clip(grid * 255.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return grid[..., 0] if c == 1 else grid


def save_image_grid(path: str | os.PathLike, images: np.ndarray, nrow: int, scale: int = 1) -> Path:
    """Write ``images`` ``[N, C, H, W]`` in [0, 1] as a PNG grid (atomically); ``scale`` enlarges pixels."""
    from PIL import Image

    grid = image_grid(images, nrow)
    picture = Image.fromarray(grid)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return path
