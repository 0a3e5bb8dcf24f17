"""Turning metric results into JSON (NaN → null) and into a readable two-column table."""

from __future__ import annotations

import json
import math
from typing import Any


def json_ready(value: Any) -> Any:
    """A copy of nested dicts/lists of numbers with non-finite floats replaced by ``None``."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return json_ready(value.item())
    return value


def to_json(results: dict[str, Any]) -> str:
    """One JSON object (strict: no NaN literals)."""
    return json.dumps(json_ready(results), allow_nan=False)


def flatten(results: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``[("dci.disentanglement", 0.84), …]`` for the scalar entries (``details`` is left out)."""
    rows: list[tuple[str, Any]] = []
    for key, value in results.items():
        if key == "details":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def format_table(results: dict[str, Any]) -> str:
    """Two aligned columns, metric and value (4 decimals; ``-`` for a missing value)."""
    rows = flatten(results)
    width = max([len("metric")] + [len(name) for name, _ in rows])
    lines = [f"{'metric':<{width}}  value"]
    for name, value in rows:
        if isinstance(value, float):
            text = f"{value:.4f}" if math.isfinite(value) else "-"
        else:
            text = str(value)
        lines.append(f"{name:<{width}}  {text}")
    return "\n".join(lines)
