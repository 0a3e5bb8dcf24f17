"""A job's results: its files (listed, then served by their listed name only) and direction exports.

A download names a file relative to the job's folder; it is served only when that exact name is in the
folder's listing (regular files, no symbolic links), so no ``..``, absolute path or link leads outside.
Exports are made on request with :func:`latentdirs.directions.formats.export_directions` into a
temporary folder (the job's folder stays as the command left it).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

from ..directions.dirfile import load_directions
from ..directions.formats import FORMATS, export_directions
from .errors import ApiError

INLINE_SUFFIXES = (".html", ".png", ".json", ".csv", ".txt")
#: what a served file may load: its own inline styles and embedded images, nothing else
FILE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def job_files(folder: Path) -> dict[str, Path]:
    """``{relative name: path}`` of the regular files under ``folder`` (symbolic links skipped)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not (Path(root) / d).is_symlink())
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_symlink() and path.is_file() and not name.startswith("."):
                found[path.relative_to(folder).as_posix()] = path
    return found


def listed_file(folder: Path, name: str, job_id: str) -> Path:
    """The file ``name`` of the job's listing; 404 for anything not listed."""
    files = job_files(folder)
    if name not in files:
        raise ApiError(404, f"job {job_id} has no file {name!r}")
    return files[name]


def export_file(directions: Path, fmt: str, stem: str) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the direction file in format ``fmt``: an ``.npz`` (ganspace, sefa) or a ``.zip``
    of InterFaceGAN's ``boundary_XX.npy`` files."""
    if fmt not in FORMATS:
        raise ApiError(404, f"no export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    dset = load_directions(directions)
    num_ws = dset.generator.get("num_ws")
    with tempfile.TemporaryDirectory(prefix="latentdirs-export-") as tmp:
        target = Path(tmp) / (fmt if fmt == "interfacegan" else f"{fmt}.npz")
        paths = export_directions(dset, fmt, target, num_ws=int(num_ws) if num_ws else None)
        if fmt != "interfacegan":
            return f"{stem}_{fmt}.npz", paths[0].read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, f"{stem}_interfacegan/{path.name}")
        return f"{stem}_interfacegan.zip", buffer.getvalue()
