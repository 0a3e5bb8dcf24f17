"""What an exchange format cannot hold, in a JSON file beside the export (``latentdirs.json``).

- The **W+ layers** the directions act on, when the format has no field for them (InterFaceGAN boundaries;
  GANSpace's ``edit_start``/``edit_end`` hold one run of layers, not a set like ``0-3,8``). The tool then
  edits every layer, so the export also prints a ``warning:``.
- Per direction, the **offset** ``m_k = ⟨mean code, n_k⟩`` and the **σ** ``σ_k`` of the sampled codes
  along the unit direction ``n_k``, with the distances of a sweep over ``m_k ± 3σ_k``. InterFaceGAN's
  ``linear_interpolate`` moves a code ``x`` ``[1, d]`` to ``x + (t − ⟨x, n⟩)·n`` for ``t`` from
  ``start_distance`` to ``end_distance`` (−3…3 by default): distances from the hyperplane ``⟨x, n⟩ = 0``
  through the origin. Codes in W have a mean (the bundled generator's six SeFa directions: ``m_k`` from
  −0.22 to +4.47, ``σ_k`` 0.69–1.24; the default sweep lies on one side of 89 % of codes along the first),
  so the default sweep misses many samples; the sidecar's
  ``start_distance``/``end_distance`` centre it on the codes (Shen et al., CVPR 2020, train boundaries with an
  offset and drop it when they save the normal).

The record: ``{"format": "latentdirs-export-sidecar", "format_version": 1, "tool", "files", "space": {kind,
layers}, "tool_edits_layers": "all", "truncation_psi", "sweep_sigmas", "directions": [{"file",
"offset", "sigma", "start_distance", "end_distance"}, …]}``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..io import read_json, write_json
from .dirfile import DirectionSet

SIDECAR_FORMAT = "latentdirs-export-sidecar"
SIDECAR_VERSION = 1
SIDECAR_NAME = "latentdirs.json"
SWEEP_SIGMAS = 3.0


def sidecar_path(out: str | os.PathLike, fmt: str) -> Path:
    """``OUT/latentdirs.json`` beside InterFaceGAN's boundaries; ``OUT.latentdirs.json`` beside an ``.npz``."""
    out = Path(out)
    return out / SIDECAR_NAME if fmt == "interfacegan" else out.with_name(out.stem + "." + SIDECAR_NAME)


def offsets_and_sigmas(dset: DirectionSet) -> tuple[np.ndarray, np.ndarray]:
    """``(m [K], σ [K])``: the mean code's projection on each unit direction and the codes' σ along it."""
    unit = dset.unit_directions().double()
    return (unit @ dset.mean.double()).numpy(), dset.scales.double().numpy()


def one_sided_share(offsets: np.ndarray, sigmas: np.ndarray, start: float = -3.0, end: float = 3.0) -> np.ndarray:
    """Per direction, the share of codes (projections ~ N(m, σ²)) that lie outside InterFaceGAN's sweep
    ``[start, end]``: the sweep then moves them only one way (``P(t < start) + P(t > end)``)."""
    sigmas = np.maximum(sigmas, 1e-12)
    below = np.array([0.5 * math.erfc(-(start - m) / (s * math.sqrt(2))) for m, s in zip(offsets, sigmas, strict=True)])
    above = np.array([0.5 * math.erfc((end - m) / (s * math.sqrt(2))) for m, s in zip(offsets, sigmas, strict=True)])
    return below + above


def sidecar_record(dset: DirectionSet, fmt: str, files: list[str]) -> dict[str, Any]:
    """The sidecar of an export of ``dset`` in ``fmt`` (``files``: one per direction, or the one archive); the tool
    edits every W+ layer (``tool_edits_layers``), the directions' own layers are ``space.layers``."""
    offsets, sigmas = offsets_and_sigmas(dset)
    per_file = len(files) == len(offsets)
    directions = [
        {"file": files[k] if per_file else files[0], "index": k, "offset": round(float(m), 6),
         "sigma": round(float(s), 6), "start_distance": round(float(m - SWEEP_SIGMAS * s), 6),
         "end_distance": round(float(m + SWEEP_SIGMAS * s), 6)}
        for k, (m, s) in enumerate(zip(offsets, sigmas, strict=True))
    ]
    return {"format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION, "tool": fmt, "files": files,
            "space": dset.space.describe(), "tool_edits_layers": "all",
            "truncation_psi": float(dset.generator.get("truncation_psi", 1.0)), "sweep_sigmas": SWEEP_SIGMAS,
            "directions": directions}


def write_sidecar(path: Path, record: dict[str, Any]) -> Path:
    write_json(path, record)
    return path


def read_sidecar(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar at ``path`` (None when there is none); a UserError for a file that is not one."""
    path = Path(path)
    if not path.is_file():
        return None
    record = read_json(path, "export sidecar")
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
        raise UserError(f"{path} is not a latentdirs export sidecar (expected format {SIDECAR_FORMAT})")
    space = record.get("space")
    if not isinstance(space, dict) or space.get("kind") not in ("z", "w", "w+"):
        raise UserError(f"{path}: the sidecar names no latent space (expected space.kind z, w or w+)")
    return record
