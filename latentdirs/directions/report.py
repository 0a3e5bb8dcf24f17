"""Pictures and the HTML report of a direction set.

For each direction, a traversal grid: rows are sample codes, columns strengths (``-r … r`` by default,
in σ units, see :mod:`.editing`); written as ``traversals/direction_XX.png``. ``report.html`` holds one row
per direction — its traversal grid embedded as a base64 PNG (the file opens in a browser without a
server or other files) and its scores — under a header with the run's provenance and summary scores.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import image_grid, save_image_grid, write_text
from ..seeding import torch_generator
from .dirfile import DirectionSet
from .editing import direction_vector, to_unit_range, traverse
from .spaces import SpaceRenderer


def symmetric_strengths(extent: float, steps: int) -> list[float]:
    """``steps`` strengths evenly from ``-extent`` to ``+extent`` (``[0]`` for a single step)."""
    return [float(s) for s in np.linspace(-extent, extent, steps)] if steps > 1 else [0.0]


#: the report's columns unless told otherwise: 7 strengths from −3σ to +3σ
DEFAULT_STRENGTHS = tuple(symmetric_strengths(3.0, 7))


def traversal_grids(renderer: SpaceRenderer, dset: DirectionSet, strengths: Sequence[float], *, samples: int = 4,
                    seed: int = 0) -> np.ndarray:
    """``[K, samples, len(strengths), C, H, W]`` images in [0, 1]: each direction at each strength (σ units)."""
    batch = renderer.sample(samples, torch_generator(seed, renderer.handle.device))
    grids = []
    for k in range(dset.num_directions):
        grids.append(to_unit_range(traverse(renderer, batch, direction_vector(dset, k), strengths)))
    return np.stack(grids)


def save_traversal_pngs(folder: str | os.PathLike, grids: np.ndarray) -> list[Path]:
    paths = []
    for k, grid in enumerate(grids):
        samples, steps = grid.shape[:2]
        flat = grid.reshape(samples * steps, *grid.shape[2:])
        paths.append(save_image_grid(Path(folder) / f"direction_{k:02d}.png", flat, nrow=steps,
                                     scale=_scale_for(grid.shape[-1])))
    return paths


def _scale_for(resolution: int) -> int:
    return max(1, 96 // resolution)


def _png_base64(grid: np.ndarray) -> str:
    from PIL import Image

    samples, steps = grid.shape[:2]
    picture = Image.fromarray(image_grid(grid.reshape(samples * steps, *grid.shape[2:]), nrow=steps))
    scale = _scale_for(grid.shape[-1])
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def per_direction_scores(dset: DirectionSet) -> dict[str, list[float]]:
    """Scores every direction set has: scale (σ), share of variance, eigenvalue (closed form)."""
    scores: dict[str, list[float]] = {"scale σ": dset.scales.tolist()}
    if dset.total_variance:
        scores["variance share"] = (dset.scales.double() ** 2 / dset.total_variance).tolist()
    if dset.random_stdevs is not None:
        scores["σ / random σ"] = (dset.scales / dset.random_stdevs.mean().clamp_min(1e-12)).tolist()
    if dset.eigenvalues is not None:
        scores["eigenvalue"] = dset.eigenvalues.tolist()
    return scores


def write_report(path: str | os.PathLike, dset: DirectionSet, grids: np.ndarray, *,
                 scores: dict[str, list[float]] | None = None, summary: dict[str, Any] | None = None,
                 notes: list[str] | None = None, strengths: Sequence[float] = DEFAULT_STRENGTHS,
                 matrix: tuple[list[list[float]], list[str]] | None = None) -> Path:
    """Write the self-contained HTML report (see the module docstring)."""
    columns = {**per_direction_scores(dset), **(scores or {})}
    meta = dset.metadata()
    generator = meta["generator"]
    header = {
        "method": meta["method"], "space": str(dset.space), "directions": dset.num_directions,
        "parameterization": meta["parameterization"], "training steps": meta["steps"], "seed": meta["seed"],
        "losses": ", ".join(loss.get("spec", loss.get("name", "")) for loss in meta["losses"]) or "—",
        "generator": f"{generator.get('source') or '?'} (weights {str(generator.get('fingerprint'))[:12]}…)",
        "latentdirs": meta["latentdirs_version"],
    }
    rows = []
    for k in range(dset.num_directions):
        cells = "".join(f"<td>{_fmt(values[k])}</td>" for values in columns.values())
        rows.append(f'<tr><td>{k}</td>{cells}<td><img alt="direction {k}" '
                    f'src="data:image/png;base64,{_png_base64(grids[k])}"></td></tr>')
    head = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    info = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in header.items())
    summary_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in (summary or {}).items())
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in (notes or []))
    matrix_html = _matrix_table(*matrix) if matrix is not None else ""
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>latentdirs directions — {html.escape(meta['method'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }}
img {{ image-rendering: pixelated; display: block; }}
</style></head><body>
<h1>Latent directions: {html.escape(meta['method'])}</h1>
<table>{info}</table>
{f'<h2>Scores</h2><table>{summary_rows}</table>' if summary_rows else ''}
{f'<ul>{note_items}</ul>' if note_items else ''}
{matrix_html}
<p>Each strip: rows are random samples; columns move along the direction from {min(strengths):g}σ to
{max(strengths):g}σ (σ: standard deviation of sampled codes along the direction).</p>
<table><tr><th>direction</th>{head}<th>traversal</th></tr>
{''.join(rows)}
</table></body></html>
"""
    write_text(path, document)
    return Path(path)


def _matrix_table(values: list[list[float]], factor_names: list[str]) -> str:
    """The directions × factors effect matrix as a shaded table (darker: larger effect)."""
    array = np.asarray(values, dtype=np.float64)
    top = array.max() if array.size and array.max() > 0 else 1.0
    head = "".join(f"<th>{html.escape(name)}</th>" for name in factor_names)
    rows = []
    for k, row in enumerate(array):
        cells = "".join(f'<td style="background: rgba(40, 90, 200, {v / top:.2f})">{v:.3g}</td>' for v in row)
        rows.append(f"<tr><th>{k}</th>{cells}</tr>")
    return ("<h2>Directions × factors (change of each factor from −r to +r along each direction, "
            "relative to its change between two random samples)</h2>"
            f"<table><tr><th>direction</th>{head}</tr>{''.join(rows)}</table>")


def render_report(out: str | os.PathLike, renderer: SpaceRenderer, dset: DirectionSet, *, samples: int = 4,
                  strengths: Sequence[float] = DEFAULT_STRENGTHS, seed: int = 0, **report_fields) -> Path:
    """Traversal PNGs into ``out/traversals`` and ``out/report.html``; columns at ``strengths`` (σ units)."""
    out = Path(out)
    with torch.no_grad():
        grids = traversal_grids(renderer, dset, strengths, samples=samples, seed=seed)
    save_traversal_pngs(out / "traversals", grids)
    return write_report(out / "report.html", dset, grids, strengths=strengths, **report_fields)
