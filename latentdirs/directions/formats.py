"""Exchange formats of other direction tools: GANSpace, InterFaceGAN and SeFa.

- **GANSpace** (Härkönen et al., NeurIPS 2020; ``decomposition.py`` of harskish/ganspace): one
  ``.npz`` with ``lat_comp [K, 1, d]`` (unit rows), ``lat_mean [1, d]``, ``lat_stdev [K]`` (std of the
  sampled codes along each component — the unit of an edit ``w + σ·lat_stdev_k·lat_comp_k``), and the
  activation-space arrays ``act_comp``, ``act_mean``, ``act_stdev``, which equal the latent ones when
  the decomposition is done on W itself (``samples_are_latents``), plus ``var_ratio [K]`` and
  ``random_stdevs [K]``. Written without pickled objects (``allow_pickle=False`` reads it). The W+ layers
  are carried as GANSpace's saved edits carry them: ``edit_start [K]`` and ``edit_end [K]`` (end exclusive;
  the fields of its named edits, which its viewer applies as ``for l in range(edit_start, edit_end): z[l] +=
  delta``, and the ``layer_start``/``layer_end`` of its notebooks' ``create_strip``), with ``latent_space``
  (``"W"``/``"Z"``, its ``latent_space_name()``). A layer set that is not one run (``0-3,8``) goes to the
  sidecar (:mod:`.sidecar`) with a warning.
- **InterFaceGAN** (Shen et al., CVPR 2020): one ``.npy`` per direction, a unit-norm boundary normal of
  shape ``[1, d]`` (float32). Exported as ``boundary_00.npy``, ``boundary_01.npy``, … in a folder (indices
  zero-padded to the width of the largest, so names sort in direction order; ``boundary_<number>.npy`` files
  of an earlier export into the folder are removed); imported from a folder (all ``*.npy`` in name order,
  numbers within names compared as numbers: ``boundary_2`` before ``boundary_10``) or a list of files.
  A boundary has no place for W+ layers (InterFaceGAN edits every layer): a layer range goes to the folder's
  ``latentdirs.json`` with a warning; ``centred`` writes that sidecar too, with each boundary's offset and σ
  and the ``--start_distance``/``--end_distance`` that sweep ``offset ± 3σ`` (see :mod:`.sidecar`).
- **SeFa** (Shen & Zhou, CVPR 2021) style: one ``.npz`` with ``boundaries [K, d]`` (unit rows, as
  ``factorize_weight`` returns them), ``values [K]`` and ``layers`` (the W+ indices the directions act
  on: SeFa edits ``temp_code[:, layers, :] += boundary * distance``), ``space``. ``values`` are the
  eigenvalues for closed-form SeFa directions, otherwise the variance of the sampled codes along each
  direction; ``values_kind`` says which. Z directions are refused: SeFa edits W+ codes, and with
  ``layers = []`` its edit changes nothing.

Importing yields the directions (rows), their scales, the mean code, and the space and layers where the file
records them (checked against ``--space``/``--layers`` by :mod:`.importing`). Formats store unit directions,
so a free-norm (``linear``) direction set round-trips up to its norms.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LatentdirsWarning, UserError
from ..io import atomic_path, read_npy, require_file
from ..validation import npz_headers
from .dirfile import DirectionSet
from .sidecar import (
    SIDECAR_NAME,
    SWEEP_SIGMAS,
    offsets_and_sigmas,
    one_sided_share,
    read_sidecar,
    sidecar_path,
    sidecar_record,
    write_sidecar,
)
from .spaces import format_layers

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
    space: str | None = None  # the latent space the file records (z, w, w+), if it records one


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
def _one_run(layers: tuple[int, ...]) -> bool:
    return layers == tuple(range(layers[0], layers[-1] + 1))


def _lost_layers_warning(dset: DirectionSet, tool: str, sidecar: Path) -> None:
    warnings.warn(f"{tool} cannot hold the W+ layer set {format_layers(dset.space.layers)} of these directions: "
                  f"{tool} will edit every layer; the layers are in {sidecar}", LatentdirsWarning, stacklevel=3)


def export_ganspace(dset: DirectionSet, path: str | os.PathLike, num_ws: int | None = None) -> list[Path]:
    unit = _unit_rows(dset.directions.numpy())
    k, d = unit.shape
    comp = unit.reshape(k, 1, d)
    mean = dset.mean.numpy().reshape(1, d).astype(np.float32)
    stdev = dset.scales.numpy().astype(np.float32)
    total = dset.total_variance
    var_ratio = (stdev.astype(np.float64) ** 2 / total).astype(np.float32) if total else np.full(k, np.nan, np.float32)
    random = dset.random_stdevs.numpy() if dset.random_stdevs is not None else np.full(k, np.nan, np.float32)
    layers = dset.space.layers
    extra: dict[str, np.ndarray] = {"latent_space": np.array("Z" if dset.space.kind == "z" else "W")}
    if layers is not None and _one_run(layers):
        extra.update(edit_start=np.full(k, layers[0], np.int64), edit_end=np.full(k, layers[-1] + 1, np.int64))
    elif layers is None and num_ws:
        extra.update(edit_start=np.zeros(k, np.int64), edit_end=np.full(k, int(num_ws), np.int64))
    written = [_savez(path, act_comp=comp, act_mean=mean, act_stdev=stdev, lat_comp=comp, lat_mean=mean,
                      lat_stdev=stdev, var_ratio=var_ratio, random_stdevs=random.astype(np.float32), **extra)]
    if layers is not None and not _one_run(layers):
        sidecar = sidecar_path(path, "ganspace")
        written.append(write_sidecar(sidecar, sidecar_record(dset, "ganspace", [written[0].name])))
        _lost_layers_warning(dset, "GANSpace", sidecar)
    return written


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
    space = None
    if "latent_space" in arrays:
        space = {"Z": "z", "W": "w"}.get(str(arrays["latent_space"]).upper())
        if space is None:
            raise UserError(f"{path}: latent_space must be 'W' or 'Z', got {str(arrays['latent_space'])!r}")
    layers = _ganspace_layers(arrays, k, path)
    sidecar = read_sidecar(sidecar_path(path, "ganspace"))
    if sidecar is not None and layers is None:
        space, layers = _sidecar_space(sidecar)
    return ImportedDirections(comp, scales=stdev, mean=mean, source_format="ganspace", space=space, layers=layers)


def _ganspace_layers(arrays: dict[str, np.ndarray], k: int, path: str | os.PathLike) -> tuple[int, ...] | None:
    """The W+ layers of GANSpace's ``edit_start``/``edit_end`` (end exclusive; one range for all directions)."""
    if "edit_start" not in arrays and "edit_end" not in arrays:
        return None
    try:
        start = arrays["edit_start"].reshape(-1).astype(np.int64)
        end = arrays["edit_end"].reshape(-1).astype(np.int64)
    except (KeyError, ValueError, TypeError):
        raise UserError(f"{path}: edit_start and edit_end must both be integer arrays") from None
    if start.shape != (k,) or end.shape != (k,):
        raise UserError(f"{path}: edit_start and edit_end must hold one value per component ({k})")
    if len(set(start.tolist())) > 1 or len(set(end.tolist())) > 1:
        raise UserError(f"{path}: the components edit different layer ranges; a latentdirs direction set has one "
                        "(import them in groups of one range)")
    if end[0] < 0:  # GANSpace's notebooks read a negative end as "up to the last layer"
        return None
    if not 0 <= start[0] < end[0]:
        raise UserError(f"{path}: edit_start {start[0]} / edit_end {end[0]} is not a layer range (end exclusive)")
    return tuple(range(int(start[0]), int(end[0])))


def _sidecar_space(record: dict) -> tuple[str, tuple[int, ...] | None]:
    layers = record["space"].get("layers")
    return record["space"]["kind"], tuple(int(i) for i in layers) if layers is not None else None


# -- InterFaceGAN -------------------------------------------------------------------------------
_BOUNDARY_NAME = re.compile(r"boundary_\d+\.npy")


def export_interfacegan(dset: DirectionSet, folder: str | os.PathLike, centred: bool = False) -> list[Path]:
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
    sidecar = sidecar_path(folder, "interfacegan")
    if centred or dset.space.layers is not None:
        record = sidecar_record(dset, "interfacegan", [p.name for p in written])
        written.append(write_sidecar(sidecar, record))
        if dset.space.layers is not None:
            _lost_layers_warning(dset, "InterFaceGAN", sidecar)
    elif sidecar.is_file():  # an earlier export's: it would describe other boundaries
        sidecar.unlink()
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
    folders = {Path(p).parent for p in paths}
    sidecar = read_sidecar(sidecar_path(folders.pop(), "interfacegan")) if len(folders) == 1 else None
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
    space, layers = _sidecar_space(sidecar) if sidecar is not None else (None, None)
    return ImportedDirections(matrix / norms, source_format="interfacegan", space=space, layers=layers)


# -- SeFa ---------------------------------------------------------------------------------------
def export_sefa(dset: DirectionSet, path: str | os.PathLike, num_ws: int | None = None) -> Path:
    if dset.space.kind == "z":
        raise UserError("SeFa edits W+ codes (temp_code[:, layers, :] += boundary * distance); these directions "
                        "live in Z, where SeFa has no place for them (an export with layers=[] would change no "
                        "image) — export them for GANSpace or InterFaceGAN, which edit Z, or discover them in W")
    if dset.space.layers is None and not num_ws:
        raise UserError("the direction file does not record its generator's number of W+ layers, which SeFa's "
                        "layers need; re-import the directions for their generator")
    unit = _unit_rows(dset.directions.numpy())
    if dset.eigenvalues is not None:
        values, kind = dset.eigenvalues.numpy().astype(np.float32), "eigenvalue"
    else:
        values, kind = (dset.scales.numpy().astype(np.float64) ** 2).astype(np.float32), "variance"
    if dset.space.layers is not None:
        layers = np.asarray(dset.space.layers, np.int64)
    else:
        layers = np.arange(int(num_ws), dtype=np.int64)
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
    space = str(arrays["space"]) if "space" in arrays else None
    if space is not None and space not in ("z", "w", "w+"):
        raise UserError(f"{path}: space must be z, w or w+, got {space!r}")
    chosen = None
    if layers is not None:
        if not np.issubdtype(layers.dtype, np.integer) or layers.ndim > 1:
            raise UserError(f"{path}: layers must be a list of W+ indices, got {layers.dtype} {list(layers.shape)}")
        if layers.size == 0 and space in (None, "w", "w+"):
            raise UserError(f"{path} lists no W+ layers (layers = []): SeFa's edit temp_code[:, layers, :] += … "
                            "would change nothing; it holds no W directions to import (Z directions: --space z)")
        chosen = tuple(sorted({int(i) for i in layers.reshape(-1)})) if layers.size else None
    return ImportedDirections(matrix / norms, scales=scales, eigenvalues=eigenvalues, layers=chosen,
                              source_format="sefa", space=space)


def export_directions(dset: DirectionSet, fmt: str, out: str | os.PathLike, num_ws: int | None = None,
                      centred: bool = False) -> list[Path]:
    """Write ``dset`` in ``fmt`` (ganspace / interfacegan / sefa); returns the written paths (the export first, then
    any sidecar). What the format cannot hold goes to the sidecar with a :class:`LatentdirsWarning`; ``centred``
    (InterFaceGAN) writes the sidecar with each boundary's offset, σ and centred sweep distances."""
    if centred and fmt != "interfacegan":
        raise UserError("--centred is for InterFaceGAN exports (GANSpace files carry lat_mean; SeFa edits relative "
                        "to the code)")
    if fmt == "ganspace":
        return export_ganspace(dset, out, num_ws)
    if fmt == "interfacegan":
        return export_interfacegan(dset, out, centred)
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


def export_notes(dset: DirectionSet, fmt: str, paths: list[Path]) -> list[str]:
    """Lines that tell how the target tool reads what was written (the command prints them as ``note:`` lines)."""
    notes = []
    layers = dset.space.layers
    if fmt == "ganspace" and layers is not None and _one_run(layers):
        notes.append(f"W+ layers {format_layers(layers)} written as GANSpace's edit_start {layers[0]} / edit_end "
                     f"{layers[-1] + 1} (end exclusive): its notebooks' create_strip take them as layer_start/"
                     f"layer_end; in its viewer set the layer sliders to {layers[0]}-{layers[-1]}")
    if fmt == "interfacegan":
        offsets, sigmas = offsets_and_sigmas(dset)
        sidecar = [p for p in paths if p.name == SIDECAR_NAME]
        space = "z" if dset.space.kind == "z" else "w"
        if sidecar:
            m, s = float(offsets[0]), float(sigmas[0])
            notes.append(f"centred InterFaceGAN sweep of boundary 0 (offset {m:+.3g}, σ {s:.3g}): python edit.py "
                         f"-m MODEL -b {paths[0]} -s {space} -i CODES.npy -o OUT --start_distance "
                         f"{m - SWEEP_SIGMAS * s:.6g} --end_distance {m + SWEEP_SIGMAS * s:.6g} --steps 7; every "
                         f"boundary's distances are in {sidecar[0]}")
        else:
            share = one_sided_share(offsets, sigmas)
            if share.max() > 0.01:
                notes.append(f"InterFaceGAN sweeps -3…3 from the origin, but the codes project to "
                             f"{offsets.min():+.2f}…{offsets.max():+.2f} (σ {sigmas.min():.2f}–{sigmas.max():.2f}) on "
                             f"these directions: a normal fit puts up to {100 * share.max():.0f} % of codes outside "
                             "the sweep (it moves them one way only); --centred writes each boundary's offset, σ and "
                             "centred distances")
    return notes
