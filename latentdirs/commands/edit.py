"""``latentdirs edit``: move one image along a direction (one strength, or a traversal strip)."""

from __future__ import annotations

import click

from ..validation import Bounds
from ._choices import UNITS
from ._options import (
    INDEX,
    SEED,
    STRENGTH,
    TRAVERSE,
    TRUNC,
    BoundedInt,
    generator_inputs,
    generator_options,
    overwrite_option,
)


@click.command("edit")
@generator_options
@click.option("--directions", "directions_path", required=True, help="Direction file (directions.safetensors).")
@click.option("--seed", type=SEED, default=None, help="Image seed (z as `latentdirs generate` draws it).")
@click.option("--latent", type=click.Path(dir_okay=False), default=None,
              help="A .npy code of the directions' space instead of a seed: z [1, z_dim], w [1, w_dim] "
                   "or W+ [1, num_ws, w_dim].")
@click.option("--direction", "-d", "direction", type=INDEX, required=True, help="Direction index k.")
@click.option("--strength", "-s", type=STRENGTH, default=None, help="Shift strength (0 reproduces the original).")
@click.option("--traverse", type=TRAVERSE, default=None, help="START:STOP:COUNT strengths for a strip, e.g. -3:3:7.")
@click.option("--units", type=click.Choice(UNITS), default="sigma", show_default=True,
              help="sigma: strength in σ of the sampled codes along the direction; raw: multiples of the "
                   "direction vector as stored.")
@click.option("--layers", default=None, help="Apply a W direction to these W+ layers only (e.g. 0-5).")
@click.option("--trunc", type=TRUNC, default=None,
              help="Truncation ψ for --seed (default: the directions' ψ, at which their σ was measured; at another "
                   "ψ the codes spread ψ/ψ_directions as much, so one σ is relatively larger or smaller).")
@click.option("--scale", default=1, show_default=True, type=BoundedInt(Bounds(1, 16, integer=True)),
              help="Enlarge output pixels by this factor.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@overwrite_option
def command(generator_path, device, class_index, directions_path, seed, latent, direction, strength, traverse,
            units, layers, trunc, scale, out, overwrite) -> None:
    """Edit an image with one direction: a single strength, or a traversal strip with --traverse.

    \b
    Examples:
      latentdirs edit --generator G.pkl --directions runs/d/directions.safetensors --seed 7 -d 3 -s 2 --out a.png
      latentdirs edit --generator G.pkl --directions runs/d/directions.safetensors --seed 7 -d 3 \\
          --traverse -3:3:7 --layers 0-5 --out strip.png
      latentdirs edit --generator G.pkl --directions D.safetensors --latent w.npy -d 0 -s -1.5 --out b.png
    """
    from ..directions.editing import edit_images, save_png
    from ..directions.options import open_generator
    from ..io import check_outputs

    check_outputs([out], [directions_path, latent, *generator_inputs(generator_path)], kind="png",
                  overwrite=overwrite)
    images, count = edit_images(
        lambda psi: open_generator(generator_path, device, psi, class_index), directions_path, seed=seed,
        latent=latent, direction=direction, strength=strength, traverse=traverse, units=units, layers=layers,
        truncation_psi=trunc)
    save_png(out, images, nrow=count, scale=scale)
    click.echo(f"wrote {out} ({count} image{'s' if count > 1 else ''})")
