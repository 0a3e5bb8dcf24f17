"""Bundled pretrained files: ``pretrained/`` beside the package (source checkouts and editable installs).

``pretrained/MANIFEST.json`` lists every bundled model: its files with their sha256, how it was
trained (command, steps, seed, wall time, hardware) and its measured quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserError
from .io import read_json

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MANIFEST = PRETRAINED_DIR / "MANIFEST.json"


def manifest() -> dict[str, Any]:
    """The parsed manifest (``{"models": {name: entry}}``)."""
    if not MANIFEST.is_file():
        raise UserError(f"no bundled models: {MANIFEST} not found (bundled files live in a source checkout)")
    return read_json(MANIFEST, "pretrained manifest")


def bundled_path(name: str) -> Path:
    """Path of bundled model ``name`` (the stem its files share, e.g. ``pretrained/dsprites_generator``)."""
    models = manifest().get("models", {})
    if name not in models:
        raise UserError(f"no bundled model {name!r}; available: {', '.join(sorted(models)) or 'none'}")
    return PRETRAINED_DIR / models[name]["stem"]


def bundled_factor_classifier(dataset: str) -> Path | None:
    """The bundled factor classifier for ``dataset`` (its path stem), or None when there is none."""
    if not MANIFEST.is_file():
        return None
    for entry in read_json(MANIFEST, "pretrained manifest").get("models", {}).values():
        if entry.get("kind") == "factor_classifier" and entry.get("dataset") == dataset:
            return PRETRAINED_DIR / entry["stem"]
    return None
