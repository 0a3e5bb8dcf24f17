"""One PNG per metric: a box per setting with every seed's value drawn over it (one colour per seed, the same
in every setting, so paired runs can be followed across boxes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_path


def metric_plot(path: Path, metric: str, settings: list[str], values: list[dict[int, float]],
                baselines: dict[str, str]) -> Path:
    """Draw ``values`` (per setting: seed → value) of ``metric`` into the PNG ``path`` (atomically)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    seeds = sorted({seed for per_setting in values for seed in per_setting})
    colours = {seed: matplotlib.colormaps["tab10"](i % 10) for i, seed in enumerate(seeds)}
    figure = Figure(figsize=(max(4.0, 1.1 * len(settings) + 1.5), 3.6), dpi=110)
    axes = figure.subplots()
    positions = np.arange(1, len(settings) + 1)
    filled = [(pos, list(v.values())) for pos, v in zip(positions, values, strict=True) if v]
    if filled:
        axes.boxplot([v for _, v in filled], positions=[p for p, _ in filled], widths=0.5, showfliers=False,
                     medianprops={"color": "black"}, boxprops={"color": "0.45"}, whiskerprops={"color": "0.45"},
                     capprops={"color": "0.45"})
    for pos, per_setting in zip(positions, values, strict=True):
        for seed, value in per_setting.items():
            offset = 0.25 * (seeds.index(seed) / max(len(seeds) - 1, 1) - 0.5)  # spread seeds, same place per seed
            axes.scatter(pos + offset, value, s=22, color=colours[seed], zorder=3, edgecolors="black",
                         linewidths=0.4, label=f"seed {seed}")
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique and len(unique) <= 12:
        axes.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5),
                    frameon=False)
    labels = [f"{name}\n(baseline)" if name in set(baselines.values()) else name for name in settings]
    axes.set_xticks(positions, labels, rotation=20 if len(settings) > 3 else 0, ha="right" if len(settings) > 3
                    else "center", fontsize=8)
    axes.set_xlim(0.4, len(settings) + 0.6)
    axes.set_ylabel(metric)
    axes.set_title(metric, fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
