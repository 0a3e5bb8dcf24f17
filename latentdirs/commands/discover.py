"""``latentdirs discover``: find latent directions of a pretrained generator."""

from __future__ import annotations

from pathlib import Path

import click

from ._choices import LEARNED_PARAMETERIZATIONS, SPACES
from ._options import (
    BATCH,
    COUNT,
    EVERY_OR_END,
    GRID,
    LR,
    SEED,
    SHIFT_RANGE,
    SPAN,
    SPREAD_SAMPLES,
    STEPS,
    TRUNC,
    generator_inputs,
    generator_options,
)


@click.command("discover")
@generator_options
@click.option("--method", default="reconstructor", show_default=True,
              help="reconstructor, topdis or gmg (learned; any `latentdirs losses --domain directions` term, "
                   "with name:key=value options), or ganspace / sefa (closed form), or random (orthonormal random "
                   "directions of the seed: the chance baseline).")
@click.option("--reg", "regs", multiple=True, help="Extra loss term, name:key=value,… (repeatable).")
@click.option("--num-directions", "-k", default=10, show_default=True, type=COUNT, help="Number of directions K.")
@click.option("--space", type=click.Choice(SPACES), default="w", show_default=True,
              help="Latent space of the directions.")
@click.option("--layers", default="all", show_default=True,
              help="W+ layers a W shift is applied to: all, 0-5 (inclusive), 3, 0-3,8.")
@click.option("--parameterization", type=click.Choice(LEARNED_PARAMETERIZATIONS),
              default="orthonormal", show_default=True, help="How the direction matrix is parameterized.")
@click.option("--steps", default=1000, show_default=True, type=STEPS, help="Training steps (learned methods).")
@click.option("--batch-size", default=32, show_default=True, type=BATCH)
@click.option("--lr", default=1e-4, show_default=True, type=LR, help="Adam learning rate of the directions.")
@click.option("--shift-range", default="0.5:6", show_default=True, type=SHIFT_RANGE,
              help="|ε| range of the sampled shifts, MIN:MAX.")
@click.option("--trunc", default=1.0, show_default=True, type=TRUNC, help="Truncation ψ of the sampled codes.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--checkpoint-every", default=500, show_default=True, type=EVERY_OR_END,
              help="Steps between checkpoints (0: only at end).")
@click.option("--pca-samples", default=20000, show_default=True, type=SPREAD_SAMPLES,
              help="ganspace, and topdis's principal subspace: number of sampled codes.")
@click.option("--sefa-torgb/--no-sefa-torgb", default=True, show_default=True,
              help="sefa: include the ToRGB style affines of the chosen layers (all resolutions; the reference "
                   "code takes only the final ToRGB, at the last W+ index).")
@click.option("--stats-samples", default=4096, show_default=True, type=SPREAD_SAMPLES,
              help="Sampled codes for the per-direction scales (σ).")
@click.option("--grid-samples", default=4, show_default=True, type=GRID,
              help="Rows (samples) of each traversal grid.")
@click.option("--grid-steps", default=7, show_default=True, type=GRID,
              help="Columns (strengths) of each traversal grid.")
@click.option("--grid-range", default=3.0, show_default=True, type=SPAN,
              help="Traversal grids span ±this many σ.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(generator_path, device, class_index, method, regs, num_directions, space, layers, parameterization, steps,
            batch_size, lr, shift_range, trunc, seed, checkpoint_every, pca_samples, sefa_torgb, stats_samples,
            grid_samples, grid_steps, grid_range, out, resume, quiet) -> None:
    """Discover K latent directions of a generator and write directions, traversal grids and a report.

    Writes OUT/directions.safetensors, OUT/traversals/direction_XX.png, OUT/report.html (open it in a
    browser), OUT/config.json, OUT/metrics.json and OUT/checkpoint.pt.

    \b
    Examples:
      latentdirs discover --generator ffhq.pkl --method reconstructor -k 32 --steps 20000 --out runs/rec
      latentdirs discover --generator G.safetensors --method topdis --reg reconstructor:weight=1 \\
          --space w --layers 0-5 --steps 5000 --out runs/topdis
      latentdirs discover --generator G.safetensors --method ganspace -k 20 --out runs/pca
      latentdirs discover --generator G.safetensors --method sefa --layers 0-3 -k 10 --out runs/sefa
      latentdirs discover --generator G.safetensors --method random -k 10 --seed 3 --out runs/random
      latentdirs discover --generator G.safetensors --method reconstructor --steps 40000 --out runs/rec --resume
    """
    from ..directions.discovery import CHECKPOINT_FILE, DIRECTIONS_FILE, run_discovery
    from ..directions.options import discovery_config, open_generator
    from ..directions.report import symmetric_strengths
    from ..io import refuse_inputs

    refuse_inputs([Path(out) / name for name in ("config.json", "metrics.json", DIRECTIONS_FILE, CHECKPOINT_FILE,
                                                 "report.html")], generator_inputs(generator_path))
    config = discovery_config(click.get_current_context().params)
    handle = open_generator(generator_path, device, trunc, class_index)
    dset = run_discovery(handle, config, out, resume=resume, progress=not quiet,
                         report={"samples": grid_samples, "seed": seed,
                                 "strengths": symmetric_strengths(grid_range, grid_steps)})
    if dset is None:  # a torchrun rank other than 0: rank 0 writes and reports
        return
    click.echo(f"{dset.num_directions} directions in {dset.space} → {out}/{DIRECTIONS_FILE}; report: {out}/report.html")
