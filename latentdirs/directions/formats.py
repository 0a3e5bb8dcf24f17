"""Exchange formats of other direction tools: GANSpace, InterFaceGAN and SeFa.

- **GANSpace** (Härkönen et al., NeurIPS 2020; ``decomposition.py`` of harskish/ganspace): one
  ``.npz`` with ``lat_comp [K, 1, d]`` (unit rows), ``lat_mean [1, d]``, ``lat_stdev [K]`` (std of the
  sampled codes along each component — the unit of an edit ``w + σ·lat_stdev_k·lat_comp_k``), and the
  activation-space arrays ``act_comp``, ``act_mean``, ``act_stdev``, which equal the latent ones when
  the decomposition is done on W itself (``samples_are_latents``), plus ``var_ratio [K]`` and
  ``random_stdevs [K]``. Written without pickled objects (``allow_pickle=False`` reads it).
- **InterFaceGAN** (Shen et al., CVPR 2020): one ``.npy`` per direction, a unit-norm boundary normal of
  shape ``[1, d]`` (float32). Exported as ``boundary_00.npy``, ``boundary_01.npy``, … in a folder (indices
  zero-padded to the width of the largest, so names sort in direction order; ``boundary_<number>.npy`` files
  of an earlier export into the folder are removed); imported from a folder (all ``*.npy`` in name order,
  numbers within names compared as numbers: ``boundary_2`` before ``boundary_10``) or a list of files.
- **SeFa** (Shen & Zhou, CVPR 2021) style: one ``.npz`` with ``boundaries [K, d]`` (unit rows, as
  ``factorize_weight`` returns them), ``values [K]`` and ``layers`` (the W+ indices the directions act
  on). ``values`` are the eigenvalues for closed-form SeFa directions, otherwise the variance of the
  sampled codes along each direction; ``values_kind`` says which.

Importing yields the directions (rows), their scales and the mean code where the format has them.
Formats store unit directions, so a free-norm (``linear``) direction set round-trips up to its norms.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_path, read_npy, require_file
from ..validation import npz_headers
from .dirfile import DirectionSet

FORMATS = ("ganspace", "interfacegan", "sefa")


@dataclass
class ImportedDirections:
    """What a foreign file holds: ``directions [K, d]`` and, where present, scales, mean, eigenvalues, layers."""

    directions: np.ndarray
    scales: np.ndarray | None = None
    mean: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    layers: tuple[int, ...] | None = None
    source_format: str = ""


def _unit_rows(directions: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UserError("cannot export a zero direction (it has no unit vector)")
    return (directions / norms).astype(np.float32)


def _savez(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise UserError(f"output {path} must end in .npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _load_npz(path: str | os.PathLike, what: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = require_file(path, f"{what} file")
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head == b"\x93NUMPY":
        raise UserError(f"{path} is a single .npy array, not a {what} .npz archive (expected arrays "
                        f"{', '.join(required)})")
    if not head.startswith(b"PK\x03\x04"):
        raise UserError(f"{path} is not a readable {what} .npz file (no .npy array or .npz archive)")
    npz_headers(path, what)  # every array's declared size, checked before any is read
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        reason = "no .npy array or .npz archive" if "pickle" in str(exc) else str(exc)[:160]  # never advise unpickling
        raise UserError(f"{path} is not a readable {what} .npz file ({reason})") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise UserError(f"{path} is not a {what} file: it lacks {', '.join(missing)} (has {', '.join(arrays)})")
    return arrays


def _check_matrix(matrix: np.ndarray, path: Path | str, what: str) -> np.ndarray:
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise UserError(f"{path}: {what} must be a [K, d] matrix, got shape {list(matrix.shape)}")
    if not np.issubdtype(matrix.dtype, np.floating) or not np.isfinite(matrix).all():
        raise UserError(f"{path}: {what} must hold finite floating-point values")
    return matrix.astype(np.float32)


# -- GANSpace -----------------------------------------------------------------------------------
def export_ganspace(dset: DirectionSet, path: str | os.PathLike) -> Path:
    unit = _unit_rows(dset.directions.numpy())
    k, d = unit.shape
    comp = unit.reshape(k, 1, d)
    mean = dset.mean.numpy().reshape(1, d).astype(np.float32)
    stdev = dset.scales.numpy().astype(np.float32)
    total = dset.total_variance
    var_ratio = (stdev.astype(np.float64) ** 2 / total).astype(np.float32) if total else np.full(k, np.nan, np.float32)
    random = dset.random_stdevs.numpy() if dset.random_stdevs is not None else np.full(k, np.nan, np.float32)
    return _savez(path, act_comp=comp, act_mean=mean, act_stdev=stdev, lat_comp=comp, lat_mean=mean,
                  lat_stdev=stdev, var_ratio=var_ratio, random_stdevs=random.astype(np.float32))


def import_ganspace(path: str | os.PathLike) -> ImportedDirections:
    arrays = _load_npz(path, "GANSpace", ("lat_comp", "lat_mean", "lat_stdev"))
    comp = arrays["lat_comp"]
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0, :]
    if comp.ndim != 2:
        shape = list(arrays["lat_comp"].shape)
        raise UserError(f"{path}: lat_comp must have shape [K, 1, d] (W/Z components), got {shape}"
                        " — components of a W+ or activation layout cannot be imported")
    comp = _check_matrix(comp, path, "lat_comp")
    k, d = comp.shape
    mean = arrays["lat_mean"].reshape(-1).astype(np.float32)
    stdev = arrays["lat_stdev"].reshape(-1).astype(np.float32)
    if mean.shape != (d,) or stdev.shape != (k,):
        raise UserError(f"{path}: lat_mean must hold {d} values and lat_stdev {k}, "
                        f"got {list(arrays['lat_mean'].shape)} and {list(arrays['lat_stdev'].shape)}")
    return ImportedDirections(comp, scales=stdev, mean=mean, source_format="ganspace")


# -- InterFaceGAN -------------------------------------------------------------------------------
_BOUNDARY_NAME = re.compile(r"boundary_\d+\.npy")


def export_interfacegan(dset: DirectionSet, folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"InterFaceGAN export writes one .npy per direction into a folder; {folder} is a file")
    unit = _unit_rows(dset.directions.numpy())
    width = max(2, len(str(len(unit) - 1)))
    written = []
    for k, row in enumerate(unit):
        path = folder / f"boundary_{k:0{width}d}.npy"
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, row.reshape(1, -1))
        written.append(path)
    for stale in set(folder.glob("boundary_*.npy")) - set(written):  # an earlier export's, or other widths
        if _BOUNDARY_NAME.fullmatch(stale.name):
            stale.unlink()
    return written


def _natural_key(path: Path) -> list[int | str]:
    """Sort key comparing the digit runs of a file name as numbers: ``boundary_2`` < ``boundary_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def import_interfacegan(paths: list[str | os.PathLike] | str | os.PathLike) -> ImportedDirections:
    if isinstance(paths, (str, os.PathLike)):
        source = Path(paths)
        if source.is_dir():
            paths = sorted(source.glob("*.npy"), key=_natural_key)
            if not paths:
                raise UserError(f"no .npy boundary files in {source}")
        else:
            paths = [source]
    rows = []
    for path in paths:
        array = read_npy(path, "InterFaceGAN boundary")
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 1:
            raise UserError(f"{path}: an InterFaceGAN boundary must have shape [1, d], got {list(array.shape)}")
        rows.append(array)
    if len({row.shape[0] for row in rows}) != 1:
        raise UserError(f"InterFaceGAN boundaries of different dimensions: {sorted({row.shape[0] for row in rows})}")
    matrix = _check_matrix(np.stack(rows), paths[0], "boundary")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UserError("an InterFaceGAN boundary is the zero vector")
    return ImportedDirections(matrix / norms, source_format="interfacegan")


# -- SeFa ---------------------------------------------------------------------------------------
def export_sefa(dset: DirectionSet, path: str | os.PathLike, num_ws: int | None = None) -> Path:
    unit = _unit_rows(dset.directions.numpy())
    if dset.eigenvalues is not None:
        values, kind = dset.eigenvalues.numpy().astype(np.float32), "eigenvalue"
    else:
        values, kind = (dset.scales.numpy().astype(np.float64) ** 2).astype(np.float32), "variance"
    if dset.space.layers is not None:
        layers = np.asarray(dset.space.layers, np.int64)
    elif dset.space.kind == "w" and num_ws is not None:
        layers = np.arange(num_ws, dtype=np.int64)
    else:
        layers = np.zeros(0, np.int64)
    return _savez(path, boundaries=unit, values=values, layers=layers, values_kind=np.array(kind),
                  space=np.array(dset.space.kind))


def import_sefa(path: str | os.PathLike) -> ImportedDirections:
    arrays = _load_npz(path, "SeFa", ("boundaries",))
    matrix = _check_matrix(arrays["boundaries"], path, "boundaries")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UserError(f"{path}: a SeFa boundary is the zero vector")
    values = arrays.get("values")
    if values is not None and values.reshape(-1).shape != (matrix.shape[0],):
        raise UserError(f"{path}: values must hold one number per boundary ({matrix.shape[0]}), "
                        f"got {list(values.shape)}")
    kind = str(arrays["values_kind"]) if "values_kind" in arrays else "eigenvalue"
    eigenvalues = values.reshape(-1).astype(np.float32) if values is not None and kind == "eigenvalue" else None
    scales = np.sqrt(values.reshape(-1)).astype(np.float32) if values is not None and kind == "variance" else None
    layers = arrays.get("layers")
    chosen = tuple(int(i) for i in layers.reshape(-1)) if layers is not None and layers.size else None
    return ImportedDirections(matrix / norms, scales=scales, eigenvalues=eigenvalues, layers=chosen,
                              source_format="sefa")


def export_directions(dset: DirectionSet, fmt: str, out: str | os.PathLike, num_ws: int | None = None) -> list[Path]:
    """Write ``dset`` in ``fmt`` (ganspace / interfacegan / sefa); returns the written paths."""
    if fmt == "ganspace":
        return [export_ganspace(dset, out)]
    if fmt == "interfacegan":
        return export_interfacegan(dset, out)
    if fmt == "sefa":
        return [export_sefa(dset, out, num_ws)]
    raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def import_directions(fmt: str, source: str | os.PathLike | list) -> ImportedDirections:
    """Read a foreign direction file (or InterFaceGAN folder / file list) in ``fmt``."""
    if fmt == "ganspace":
        return import_ganspace(source)
    if fmt == "interfacegan":
        return import_interfacegan(source)
    if fmt == "sefa":
        return import_sefa(source)
    raise UserError(f"unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}")
