"""``latentdirs generate``: render a grid of images from a generator for a list of seeds."""

from __future__ import annotations

import math

import click

from ..errors import UserError
from ._options import (
    BATCH,
    GRID,
    INDEX,
    NUM_WS,
    SEED,
    TRUNC,
    AliasedOption,
    Spec,
    device_option,
    generator_inputs,
    overwrite_option,
)

MAX_SEEDS = 4096  # one grid: beyond this the PNG is unusable (and a typo such as 0-100000 would run for hours)


def parse_seeds(text: str) -> list[int]:
    """``"0-7"`` → 0…7, ``"1,5,9"`` → [1, 5, 9]; ranges and lists combine (``"0-2,10"``); at most
    :data:`MAX_SEEDS` seeds."""
    ranges: list[range] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                start, stop = int(lo), int(hi)
                if stop < start:
                    raise ValueError
                ranges.append(range(start, stop + 1))
            else:
                ranges.append(range(int(part), int(part) + 1))
        except ValueError:
            raise UserError(f"bad seed list {text!r}: expected ranges and numbers like 0-7 or 1,5,9") from None
    if any(r.start < 0 or r.stop > 2**32 for r in ranges):
        raise UserError(f"seeds must be in [0, 2^32), got {text!r}")
    count = sum(len(r) for r in ranges)
    if count > MAX_SEEDS:
        raise UserError(f"{count} seeds in {text!r}: one grid holds at most {MAX_SEEDS}; render in parts")
    return [seed for r in ranges for seed in r]


@click.command("generate")
@click.option("--generator", "generator_path", required=True, type=click.Path(dir_okay=False),
              help="Generator file: StyleGAN2-ADA .pkl, rosinality .pt, or latentdirs NAME.json/.safetensors.")
@click.option("--seeds", default="0-7", show_default=True, type=Spec("SEEDS", parse_seeds),
              help="Seeds: ranges and lists, e.g. 0-7 or 1,5,9.")
@click.option("--trunc", "psi", type=TRUNC, default=1.0, show_default=True, help="Truncation psi (1 = none).")
@click.option("--trunc-cutoff", type=NUM_WS, default=None, help="Truncate only the first N ws (default: all).")
@click.option("--noise-mode", type=click.Choice(["const", "none", "random"]), default="const", show_default=True)
@click.option("--class-index", "--class-idx", "class_idx", cls=AliasedOption, aliases=("--class-idx",), type=INDEX,
              default=None, help="Class label for conditional generators.")
@click.option("--out", default="grid.png", show_default=True, type=click.Path(dir_okay=False), help="PNG grid.")
@click.option("--nrow", type=GRID, default=None, help="Images per row (default: about the square root).")
@click.option("--batch-size", type=BATCH, default=8, show_default=True)
@device_option()
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the noise for --noise-mode random.")
@overwrite_option
def command(generator_path: str, seeds: str, psi: float, trunc_cutoff: int | None, noise_mode: str,
            class_idx: int | None, out: str, nrow: int | None, batch_size: int, device: str, seed: int,
            overwrite: bool) -> None:
    """Render one image per seed into a PNG grid.

    Each z is drawn as stylegan2-ada-pytorch's generate.py does,
    np.random.RandomState(seed).randn(1, z_dim), so the same seed gives the same image as the
    official script (with --noise-mode const). Images are mapped from [-1, 1] to [0, 1] and clipped.

    \b
    Examples:
      latentdirs generate --generator ffhq.pkl --seeds 0-7 --trunc 0.7 --out grid.png
      latentdirs generate --generator generators/ffhq256.json --seeds 1,5,9 --noise-mode none
    """
    import numpy as np
    import torch

    from ..gan import load_generator
    from ..io import check_outputs, save_image_grid
    from ..progress import progress_bar
    from ..seeding import resolve_device, torch_generator
    from ..validation import all_finite, check_fits, require_finite_weights

    seed_list = parse_seeds(seeds)
    check_outputs([out], generator_inputs(generator_path), kind="png", overwrite=overwrite)
    dev = resolve_device(device)
    generator = require_finite_weights(load_generator(generator_path, device=dev), f"generator {generator_path}")
    pixels = len(seed_list) * generator.img_channels * generator.img_resolution**2
    check_fits(2 * 4 * pixels, f"{len(seed_list)} images of {generator.img_resolution}x{generator.img_resolution}",
               hint="render fewer seeds at once")
    c = None
    if generator.c_dim > 0:
        if class_idx is None or not 0 <= class_idx < generator.c_dim:
            raise UserError(f"this generator is conditional: give --class-index in [0, {generator.c_dim})")
        c = torch.zeros([1, generator.c_dim], device=dev)
        c[0, class_idx] = 1
    elif class_idx is not None:
        click.echo("note: --class-index ignored, the generator is unconditional")
    if trunc_cutoff is not None and not 0 < trunc_cutoff <= generator.num_ws:
        raise UserError(f"--trunc-cutoff must be in [1, {generator.num_ws}]")
    noise = torch_generator(seed, dev)
    images = []
    with torch.no_grad():
        for start in progress_bar(range(0, len(seed_list), batch_size), desc="generate", unit="batch", leave=False):
            chunk = seed_list[start:start + batch_size]
            z = generator.z_from_seeds(chunk)
            labels = None if c is None else c.repeat(len(chunk), 1)
            img = generator(z, labels, truncation_psi=psi, truncation_cutoff=trunc_cutoff, noise_mode=noise_mode,
                            noise_generator=noise)
            if not all_finite(img):
                raise UserError(f"generator {generator_path} made NaN or infinite pixels (seeds {chunk[0]}…"
                                f"{chunk[-1]}, psi {psi}); no image written")
            images.append(((img.float() + 1) / 2).clamp(0, 1).cpu().numpy())
    grid = np.concatenate(images)
    path = save_image_grid(out, grid, nrow=nrow or math.ceil(math.sqrt(len(seed_list))))
    click.echo(f"wrote {path}: {len(seed_list)} image(s) {generator.img_resolution}x{generator.img_resolution}, "
               f"seeds {seeds}, psi {psi}, noise {noise_mode}")
