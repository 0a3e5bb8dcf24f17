"""``latentdirs convert``: any supported generator file → latentdirs' safetensors + JSON format."""

from __future__ import annotations

import click

from ._options import generator_inputs, overwrite_option


@click.command("convert")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@overwrite_option
def command(source: str, out: str, overwrite: bool) -> None:
    """Convert a StyleGAN2 generator to OUT.safetensors + OUT.json.

    SOURCE may be a StyleGAN2-ADA pickle (G_ema is taken, else G), a rosinality stylegan2-pytorch
    checkpoint (g_ema and latent_avg), or a latentdirs generator; the format is detected from the
    file's content. Nothing stored in SOURCE is executed. OUT may be given with or without the
    .safetensors/.json suffix.

    \b
    Examples:
      latentdirs convert network-snapshot-025000.pkl generators/ffhq256
      latentdirs convert 550000.pt generators/rosinality-ffhq.safetensors
    """
    from ..gan import generator_fingerprint, load_generator, save_generator
    from ..gan.loaders import native_paths
    from ..gan.loaders.native import FORMAT
    from ..io import check_outputs
    from ..validation import require_finite_weights

    check_outputs(native_paths(out), generator_inputs(source), kind=FORMAT, overwrite=overwrite, flag="OUT")
    generator = load_generator(source)
    require_finite_weights(generator, f"generator {source}")
    config_path = save_generator(generator, out, provenance=generator.source)
    weights_path, _ = native_paths(config_path)
    kw = generator.init_kwargs
    click.echo(f"read {source} ({generator.source.get('format')}): {kw['img_resolution']}x{kw['img_resolution']}, "
               f"{kw['img_channels']} channel(s), z_dim {kw['z_dim']}, w_dim {kw['w_dim']}, num_ws {generator.num_ws}")
    for note in generator.source.get("notes", []):
        click.echo(f"note: {note}")
    click.echo(f"wrote {weights_path} and {config_path} (fingerprint {generator_fingerprint(generator)[:16]}…)")
