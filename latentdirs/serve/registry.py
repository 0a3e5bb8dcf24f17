"""Generators and direction sets by name: a request names a model and never gives a path.

Names:

- bundled generators: their name in ``pretrained/MANIFEST.json`` (``dsprites_generator``);
- files under ``--models`` (searched recursively, hidden entries skipped): ``models/<path relative to it>``,
  a latentdirs generator without its suffix (``models/ffhq`` for ``ffhq.json`` + ``ffhq.safetensors``), a
  StyleGAN2-ADA pickle or rosinality checkpoint with it (``models/ffhq.pkl``), a direction file with it
  (``models/ffhq_dirs.safetensors``);
- uploads: ``uploads/<file name>``; the direction set of a finished discover job: ``jobs/<id>``.

A file is listed by what its content says it is: a latentdirs generator or direction file by the format its
header declares, a pickle or checkpoint when the safe loaders load it (once per version of the file; nothing
in it ever runs). Every
listing is taken from the folders when asked, and a name resolves only through a listing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..io import file_format
from .errors import ApiError

GENERATOR_SUFFIXES = (".pkl", ".pt", ".pth")
MAX_SCAN_FILES = 10000
DIRECTIONS_FORMAT = "latentdirs-directions"
NATIVE_GENERATOR_FORMAT = "latentdirs-stylegan2"


@dataclass(frozen=True)
class Entry:
    """A listed model: its ``name``, where it comes from (``bundled``, ``models``, ``uploads``, ``jobs``) and
    its ``path`` (for a latentdirs generator, its ``.json``)."""

    name: str
    origin: str
    path: Path

    def public(self) -> dict[str, str]:
        return {"name": self.name, "origin": self.origin}


def _walk(folder: Path) -> Iterator[Path]:
    """Regular files under ``folder`` in name order, hidden files and folders skipped, at most MAX_SCAN_FILES."""
    count = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or not path.is_file():
                continue
            count += 1
            if count > MAX_SCAN_FILES:
                return
            yield path


class Registry:
    """The current generators and direction sets (see the module docstring).

    ``job_directions()`` gives ``{job id: direction file}`` of finished discover jobs.
    """

    def __init__(self, models_dir: Path | None, uploads_dir: Path,
                 job_directions: Callable[[], dict[str, Path]] = dict, bundled_dir: Path | None = None) -> None:
        self.models_dir = models_dir
        self.uploads_dir = uploads_dir
        self.job_directions = job_directions
        self.bundled_dir = bundled_dir
        self._kinds: dict[tuple[str, int, int], str | None] = {}
        self._lock = threading.Lock()

    # -- listings ----------------------------------------------------------------------------------
    def generators(self) -> dict[str, Entry]:
        found = {entry.name: entry for entry in self._bundled()}
        for origin, folder in (("models", self.models_dir), ("uploads", self.uploads_dir)):
            for path, kind, name in self._scan(folder):
                if kind == "generator":
                    found[f"{origin}/{name}"] = Entry(f"{origin}/{name}", origin, path)
        return found

    def direction_sets(self) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for origin, folder in (("models", self.models_dir), ("uploads", self.uploads_dir)):
            for path, kind, name in self._scan(folder):
                if kind == "directions":
                    found[f"{origin}/{name}"] = Entry(f"{origin}/{name}", origin, path)
        for job_id, path in sorted(self.job_directions().items()):
            found[f"jobs/{job_id}"] = Entry(f"jobs/{job_id}", "jobs", path)
        return found

    def generator(self, name: str) -> Entry:
        return _lookup(self.generators(), name, "generator")

    def direction_set(self, name: str) -> Entry:
        return _lookup(self.direction_sets(), name, "direction set")

    # -- scanning ----------------------------------------------------------------------------------
    def _bundled(self) -> list[Entry]:
        from ..pretrained import MANIFEST, PRETRAINED_DIR

        folder = self.bundled_dir or PRETRAINED_DIR
        manifest = folder / MANIFEST.name
        if not manifest.is_file():
            return []
        try:
            models = json.loads(manifest.read_text()).get("models", {})
        except (OSError, ValueError):
            return []
        return [Entry(name, "bundled", folder / f"{entry['stem']}.json") for name, entry in sorted(models.items())
                if entry.get("kind") == "generator" and (folder / f"{entry['stem']}.json").is_file()]

    def _scan(self, folder: Path | None) -> list[tuple[Path, str, str]]:
        """``(path, kind, name)`` of the generators and direction files under ``folder``."""
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in _walk(folder):
            kind = self._kind(path)
            if kind is None:
                continue
            relative = path.relative_to(folder).as_posix()
            name = relative[: -len(".json")] if kind == "generator" and path.suffix == ".json" else relative
            found.append((path, kind, name))
        return found

    def _kind(self, path: Path) -> str | None:
        """``generator``, ``directions`` or None, cached by (path, modification time, size)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._kinds:
                return self._kinds[key]
        kind = classify(path)
        with self._lock:
            self._kinds[key] = kind
        return kind


def classify(path: Path) -> str | None:
    """What a file is by its content: a generator (latentdirs ``.json``, a pickle or torch checkpoint), a
    direction file, or None (a latentdirs generator's ``.safetensors`` counts through its ``.json``)."""
    from ..gan.loaders import detect_format, load_generator

    if path.suffix in (".json", ".safetensors"):
        declared = file_format(path)
        if path.suffix == ".json" and declared == NATIVE_GENERATOR_FORMAT:
            return "generator"
        return "directions" if path.suffix == ".safetensors" and declared == DIRECTIONS_FORMAT else None
    if path.suffix in GENERATOR_SUFFIXES:
        try:
            if detect_format(path) == "latentdirs":
                return None
            load_generator(path)  # a checkpoint of another kind has the same first bytes: only what loads is listed
        except Exception:  # whatever a loader raises, the file is not a usable generator
            return None
        return "generator"
    return None


def _lookup(entries: dict[str, Entry], name: str, what: str) -> Entry:
    if name in entries:
        return entries[name]
    shown = ", ".join(sorted(entries)[:20]) or "none"
    raise ApiError(404, f"no {what} named {name!r}; available: {shown}")
