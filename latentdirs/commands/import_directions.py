"""``latentdirs import``: turn GANSpace / InterFaceGAN / SeFa directions into a latentdirs direction file."""

from __future__ import annotations

import click

from ..directions.dirfile import FORMAT, save_directions
from ..directions.formats import FORMATS
from ..directions.importing import directions_from_file
from ..directions.options import generator_options, open_generator
from ..io import refuse_replacing
from ._options import COUNT, FINITE, SEED


@click.command("import")
@click.argument("sources", nargs=-1, required=True, metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Format of FILE.")
@generator_options
@click.option("--space", type=click.Choice(["z", "w", "w+"]), default="w", show_default=True,
              help="Latent space the directions belong to.")
@click.option("--layers", default=None,
              help="W+ layers the directions act on (default: all; SeFa files carry their own).")
@click.option("--trunc", default=1.0, show_default=True, type=FINITE, help="Truncation ψ of the sampled codes.")
@click.option("--stats-samples", default=4096, show_default=True, type=COUNT,
              help="Sampled codes for scales the file does not carry.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output direction file (.safetensors).")
def command(sources, fmt, generator_path, device, class_index, space, layers, trunc, stats_samples, seed, out) -> None:
    """Import directions made by another tool, for the generator they belong to.

    FILE is a GANSpace .npz, a SeFa-style .npz, or InterFaceGAN boundary .npy files (or a folder of them).

    \b
    Examples:
      latentdirs import ganspace_ffhq.npz --format ganspace --generator ffhq.pkl --out ffhq_pca.safetensors
      latentdirs import boundaries/ --format interfacegan --generator ffhq.pkl --space w --out ifg.safetensors
      latentdirs import smile.npy age.npy --format interfacegan --generator ffhq.pkl --out attrs.safetensors
    """
    refuse_replacing([out], FORMAT, "direction file")
    handle = open_generator(generator_path, device, trunc, class_index)
    source = list(sources) if len(sources) > 1 else sources[0]
    dset = directions_from_file(handle, fmt, source, space=space, layers=layers, seed=seed,
                                stats_samples=stats_samples)
    save_directions(out, dset)
    click.echo(f"imported {dset.num_directions} {fmt} directions in {dset.space} → {out}")
