"""``latentdirs pretrain-gan``: the renderer warm start of a StyleGAN2 generator (logic in gan.training)."""

from __future__ import annotations

from typing import Any

import click

from ._gan_training import dataset_and_generator_options, resume_options, run_control_options, train
from ._options import LR


@click.command("pretrain-gan", context_settings={"max_content_width": 110})
@dataset_and_generator_options(kimg_help="Train until this many thousand rendered images  [50]", batch_help="[32]",
                               z_help="≥ the number of factors  [64]")
@click.option("--lr", type=LR, default=None,
              help="Adam lr of the synthesis network; the mapping's is lr / 0.01 (betas 0.9 / 0.99)  [0.02]")
@run_control_options(snapshot_default=5)
@resume_options
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
    from ..gan.training.renderer_warmstart import PretrainConfig, pretrain_gan, summary_line

    train(PretrainConfig, "pretrain-gan", pretrain_gan, summary_line, out, threads, max_minutes, resume, quiet, options)
