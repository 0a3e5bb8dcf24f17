"""``latentdirs pretrain-gan``: the renderer warm start of a StyleGAN2 generator (logic in gan.training)."""

from __future__ import annotations

from typing import Any

import click

from .. import validation as v
from ._options import BATCH, LR, SAMPLES, SEED, THREADS, BoundedFloat, BoundedInt, device_option

_KIMG = BoundedFloat(v.KIMG)
_WIDTH = BoundedInt(v.LATENT_WIDTH)

#: CLI option → config field, for options whose names differ
_RENAMES = {"ema": "ema_kimg", "arch": "g_architecture", "map_layers": "mapping_layers"}


@click.command("pretrain-gan", context_settings={"max_content_width": 110})
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to create (or resume).")
@click.option("--dataset", default=None, help="dsprites | threedots | ellipses | 3dshapes | mpi3d  [default: dsprites]")
@click.option("--dataset-path", default=None, help="Dataset file (3dshapes .h5, mpi3d .npz, original dsprites .npz).")
@click.option("--resolution", type=BoundedInt(v.RESOLUTION), default=None,
              help="Image size (≤ the dataset's; area-downsampled)  [64]")
@click.option("--kimg", type=_KIMG, default=None, help="Train until this many thousand rendered images  [50]")
@click.option("--batch", type=BATCH, default=None, help="[32]")
@click.option("--z-dim", type=_WIDTH, default=None, help="≥ the number of factors  [64]")
@click.option("--w-dim", type=_WIDTH, default=None, help="[64]")
@click.option("--map-layers", type=BoundedInt(v.MAPPING_LAYERS), default=None, help="Mapping network layers  [2]")
@click.option("--channel-base", type=BoundedInt(v.CHANNEL_BASE), default=None,
              help="Channels = min(base // res, max)  [2048]")
@click.option("--channel-max", type=BoundedInt(v.CHANNEL_MAX), default=None, help="[64]")
@click.option("--arch", type=click.Choice(["orig", "skip", "resnet"]), default=None, help="Generator  [skip]")
@click.option("--lr", type=LR, default=None,
              help="Adam lr of the synthesis network; the mapping's is lr / 0.01 (betas 0.9 / 0.99)  [0.02]")
@click.option("--ema", type=BoundedFloat(v.KIMG_OR_ZERO), default=None, help="G_ema half-life in kimg  [batch·10/32]")
@click.option("--seed", type=SEED, default=None, help="[0]")
@click.option("--snapshot-kimg", type=_KIMG, default=None, help="Checkpoint + generator snapshot every N kimg  [5]")
@click.option("--sample-kimg", type=_KIMG, default=None, help="Sample grid every N kimg  [5]")
@click.option("--quality-kimg", type=_KIMG, default=None, help="Quality signal every N kimg  [5]")
@click.option("--quality-samples", type=SAMPLES, default=None, help="Samples scored by the quality signal  [256]")
@click.option("--classifier", default=None,
              help="Factor classifier for the quality signal: a path stem, 'auto' (bundled one) or 'none'  [auto]")
@device_option(default=None, help="auto | cpu | cuda | cuda:N | mps  [auto]")
@click.option("--threads", type=THREADS, default=None, help="torch CPU threads (1 is fastest on a busy machine).")
@click.option("--max-minutes", type=BoundedFloat(v.MINUTES), default=None,
              help="Stop (checkpoint, snapshot) after this much wall time; continue later with --resume.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(out: str, threads: int | None, max_minutes: float | None, resume: bool, quiet: bool,
            **options: Any) -> None:
    """Train a StyleGAN2 generator to draw the dataset's renders of latent-coded factors (no discriminator).

    Each latent z ~ N(0, I) codes one factor per coordinate (as the mapping network sees it, after its
    normalization: a Student-t CDF makes every factor's values exactly uniform); G(z) is trained to the
    dataset's image of those factors by the mean squared pixel error. Its checkpoint starts an adversarial
    run: train-gan --init-from OUT (G and G_ema copied, D fresh; give train-gan the same network flags).
    The run directory gets config.json, checkpoint.pt, metrics.json (the mean absolute error on 64 fixed
    latents, the quality signal), summary.json, samples/targets.png (what the grid should become),
    samples/fakesNNNNNN.png and snapshots/network-snapshot-NNNNNN.{json,safetensors}. --resume continues
    bit for bit; only --kimg, the intervals, --classifier, --device and --lr may change (a lower --lr
    polishes a run whose loss has flattened: the new rate applies from the resume point, Adam's moments carry
    over, and config.json's lr_schedule records where).

    \b
    Examples:
      latentdirs pretrain-gan --dataset ellipses --out runs/pre --channel-base 1024 --batch 16 --kimg 25 \\
          --threads 1 --max-minutes 15
      latentdirs pretrain-gan --out runs/pre --resume --kimg 50      # continue / extend
      latentdirs pretrain-gan --out runs/pre --resume --kimg 80 --lr 0.005   # then polish at a lower rate
      latentdirs train-gan --dataset ellipses --out runs/g --init-from runs/pre --channel-base 1024 \\
          --batch 16 --style-mixing 0 --gamma 0.1 --g-lr 0.0005 --d-lr 0.0005 --kimg 10
    """
    import torch

    from ..gan.training.config import resolve_run_config
    from ..gan.training.renderer_warmstart import PRETRAIN_CONTROLS, PretrainConfig, pretrain_gan, summary_line

    if threads is not None:
        torch.set_num_threads(threads)
    given = {_RENAMES.get(k, k): value for k, value in options.items() if value is not None}
    cfg = resolve_run_config(PretrainConfig, "pretrain-gan", out, given, resume, PRETRAIN_CONTROLS)
    click.echo(summary_line(pretrain_gan(cfg, out, resume=resume, progress=not quiet, max_minutes=max_minutes)))
