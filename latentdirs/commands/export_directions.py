"""``latentdirs export``: write a direction file in another tool's format."""

from __future__ import annotations

import click

from ..directions.dirfile import load_directions
from ..directions.formats import FORMATS, export_directions, export_notes


@click.command("export")
@click.argument("directions_path", metavar="DIRECTIONS")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="ganspace: one .npz (lat_comp [K,1,d], lat_mean, lat_stdev, act_*, var_ratio, random_stdevs); "
                   "interfacegan: a folder of boundary_XX.npy [1, d] unit vectors; sefa: one .npz "
                   "(boundaries [K, d], values, layers).")
@click.option("--out", required=True, type=click.Path(), help="Output .npz (ganspace, sefa) or folder (interfacegan).")
@click.option("--centred", is_flag=True,
              help="interfacegan: also write OUT/latentdirs.json with each boundary's offset and σ along the codes "
                   "and the --start_distance/--end_distance that sweep offset ± 3σ (InterFaceGAN's own -3…3 is "
                   "measured from the origin, and W codes are not centred there).")
def command(directions_path, fmt, out, centred) -> None:
    """Export a latentdirs direction file for GANSpace, InterFaceGAN or SeFa-style tools.

    \b
    Examples:
      latentdirs export runs/d/directions.safetensors --format ganspace --out d_ganspace.npz
      latentdirs export runs/d/directions.safetensors --format interfacegan --out boundaries/ --centred
      latentdirs export runs/d/directions.safetensors --format sefa --out d_sefa.npz
    """
    dset = load_directions(directions_path)
    num_ws = dset.generator.get("num_ws")
    paths = export_directions(dset, fmt, out, num_ws=int(num_ws) if num_ws else None, centred=centred)
    shown = f"{paths[0].parent}/" if fmt == "interfacegan" else ", ".join(str(path) for path in paths)
    click.echo(f"wrote {len(paths)} file{'s' if len(paths) > 1 else ''} ({fmt}): {shown}")
    for note in export_notes(dset, fmt, paths):
        click.echo(f"note: {note}")
    psi = float(dset.generator.get("truncation_psi", 1.0))
    if fmt == "ganspace" and psi != 1.0 and dset.space.kind != "z":
        click.echo(f"note: lat_stdev and lat_mean were measured on ψ = {psi:g} truncated codes (σ is {psi:g}× the "
                   "untruncated one); with truncation in GANSpace as well, σ-unit edits shrink twice")
