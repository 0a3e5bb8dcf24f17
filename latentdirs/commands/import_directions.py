"""``latentdirs import``: turn GANSpace / InterFaceGAN / SeFa directions into a latentdirs direction file."""

from __future__ import annotations

from pathlib import Path

import click

from ._choices import EXCHANGE_FORMATS, SPACES
from ._options import SEED, SPREAD_SAMPLES, TRUNC, generator_inputs, generator_options, overwrite_option


@click.command("import")
@click.argument("sources", nargs=-1, required=True, metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(EXCHANGE_FORMATS), required=True, help="Format of FILE.")
@generator_options
@click.option("--space", type=click.Choice(SPACES), default="w", show_default=True,
              help="Latent space the directions belong to.")
@click.option("--layers", default=None,
              help="W+ layers the directions act on (default: all; SeFa files carry their own).")
@click.option("--trunc", default=1.0, show_default=True, type=TRUNC, help="Truncation ψ of the sampled codes.")
@click.option("--stats-samples", default=4096, show_default=True, type=SPREAD_SAMPLES,
              help="Sampled codes for scales the file does not carry.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output direction file (.safetensors).")
@overwrite_option
def command(sources, fmt, generator_path, device, class_index, space, layers, trunc, stats_samples, seed, out,
            overwrite) -> None:
    """Import directions made by another tool, for the generator they belong to.

    FILE is a GANSpace .npz, a SeFa-style .npz, or InterFaceGAN boundary .npy files (or a folder of them).

    \b
    Examples:
      latentdirs import ganspace_ffhq.npz --format ganspace --generator ffhq.pkl --out ffhq_pca.safetensors
      latentdirs import boundaries/ --format interfacegan --generator ffhq.pkl --space w --out ifg.safetensors
      latentdirs import smile.npy age.npy --format interfacegan --generator ffhq.pkl --out attrs.safetensors
    """
    from ..directions.dirfile import FORMAT, save_directions
    from ..directions.importing import directions_from_file
    from ..directions.options import open_generator
    from ..errors import UserError
    from ..io import check_outputs

    files = [path for source in map(Path, sources)
             for path in (sorted(source.glob("*.npy")) if source.is_dir() else [source])]
    for index, path in enumerate(files):
        if any(path.resolve() == other.resolve() for other in files[:index]):
            raise UserError(f"{path} is given twice (each direction file or boundary may be imported once)")
    check_outputs([out], [*files, *generator_inputs(generator_path)], kind=FORMAT, overwrite=overwrite)
    handle = open_generator(generator_path, device, trunc, class_index)
    source = list(sources) if len(sources) > 1 else sources[0]
    dset = directions_from_file(handle, fmt, source, space=space, layers=layers, seed=seed,
                                stats_samples=stats_samples)
    save_directions(out, dset)
    click.echo(f"imported {dset.num_directions} {fmt} directions in {dset.space} → {out}")
