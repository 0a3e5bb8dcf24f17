"""``latentdirs export``: write a direction file in another tool's format."""

from __future__ import annotations

from pathlib import Path

import click

from ._choices import EXCHANGE_FORMATS
from ._options import overwrite_option


@click.command("export")
@click.argument("directions_path", metavar="DIRECTIONS")
@click.option("--format", "fmt", type=click.Choice(EXCHANGE_FORMATS), required=True,
              help="ganspace: one .npz (lat_comp [K,1,d], lat_mean, lat_stdev, act_*, var_ratio, random_stdevs); "
                   "interfacegan: a folder of boundary_XX.npy [1, d] unit vectors; sefa: one .npz "
                   "(boundaries [K, d], values, layers).")
@click.option("--out", required=True, type=click.Path(), help="Output .npz (ganspace, sefa) or folder (interfacegan).")
@click.option("--centred", is_flag=True,
              help="interfacegan: also write OUT/latentdirs.json with each boundary's offset and σ along the codes "
                   "and the --start_distance/--end_distance that sweep offset ± 3σ (InterFaceGAN's own -3…3 is "
                   "measured from the origin, and W codes are not centred there).")
@overwrite_option
def command(directions_path, fmt, out, centred, overwrite) -> None:
    """Export a latentdirs direction file for GANSpace, InterFaceGAN or SeFa-style tools.

    \b
    Examples:
      latentdirs export runs/d/directions.safetensors --format ganspace --out d_ganspace.npz
      latentdirs export runs/d/directions.safetensors --format interfacegan --out boundaries/ --centred
      latentdirs export runs/d/directions.safetensors --format sefa --out d_sefa.npz
    """
    from ..directions.dirfile import load_directions
    from ..directions.formats import export_directions, export_notes
    from ..directions.sidecar import sidecar_path
    from ..io import check_outputs, refuse_inputs

    if fmt != "interfacegan":
        check_outputs([out], [directions_path], kind="zip", overwrite=overwrite)
    dset = load_directions(directions_path)
    if fmt == "interfacegan":
        width = max(2, len(str(dset.num_directions - 1)))
        check_outputs([Path(out) / f"boundary_{k:0{width}d}.npy" for k in range(dset.num_directions)],
                      [directions_path], kind="npy", overwrite=overwrite)
        refuse_inputs(sorted(Path(out).glob("boundary_*.npy")), [directions_path])  # earlier ones are removed
    # what the format cannot hold goes to a latentdirs.json sidecar (an interfacegan export removes an old one)
    if fmt == "interfacegan" or (fmt == "ganspace" and dset.space.layers is not None):
        check_outputs([sidecar_path(out, fmt)], [directions_path], kind="json", overwrite=overwrite)
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
