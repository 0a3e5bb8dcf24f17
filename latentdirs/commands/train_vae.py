"""``latentdirs train-vae``: train a regularized VAE on a ground-truth dataset (logic in latentdirs.vae)."""

from __future__ import annotations

from typing import Any

import click

from .. import validation as v
from ._choices import RECONSTRUCTIONS
from ._options import BATCH, EVERY, LR, SEED, STEPS, AliasedOption, BoundedFloat, BoundedInt, device_option


@click.command("train-vae", context_settings={"max_content_width": 110})
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to create (or resume).")
@click.option("--dataset", default=None, help="dsprites | threedots | 3dshapes | mpi3d  [default: dsprites]")
@click.option("--dataset-path", "--data-path", "data_path", cls=AliasedOption, aliases=("--data-path",), default=None,
              help="Dataset file (3dshapes .h5, mpi3d .npz, original dsprites .npz).")
@click.option("--objective", default=None, metavar="NAME[:k=v,...]",
              help="beta-vae | annealed-vae | beta-tcvae | factor-vae | dip-vae-i | dip-vae-ii, with optional "
                   "parameters  [default: beta-vae]")
@click.option("--beta", type=BoundedFloat(v.WEIGHT), default=None,
              help="Shortcut: the objective's beta (or gamma).")
@click.option("--reg", "regs", multiple=True, metavar="NAME[:k=v,...]",
              help="Add a registered regularizer (repeatable); `latentdirs losses --domain vae` lists them.")
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help='JSON file: {"objective": {...}, "regularizers": [...], any option}; options override it.')
@click.option("--steps", type=STEPS, default=None, help="Training steps  [default: 300000]")
@click.option("--batch-size", type=BATCH, default=None, help="[default: 64]")
@click.option("--lr", type=LR, default=None, help="Adam learning rate  [default: 1e-4]")
@click.option("--latent-dim", type=BoundedInt(v.LATENT_DIM), default=None, help="[default: 10]")
@click.option("--reconstruction", type=click.Choice(RECONSTRUCTIONS), default=None,
              help="Reconstruction loss  [default: bernoulli]")
@click.option("--decoder/--no-decoder", default=None,
              help="--no-decoder: decoder-free training (encoder only, no reconstruction; only terms that need no "
                   "decoder)  [default: --decoder]")
@click.option("--seed", type=SEED, default=None, help="[default: 0]")
@device_option(default=None, help="auto | cpu | cuda | cuda:N | mps  [default: auto]")
@click.option("--checkpoint-every", type=EVERY, default=None, help="Steps between checkpoints  [default: 1000]")
@click.option("--log-every", type=EVERY, default=None, help="Steps per log.csv row (means)  [default: 10]")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint (it must hold one).")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out (removes only the files a run writes).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(out: str, beta: float | None, regs: tuple[str, ...], config_file: str | None, resume: bool,
            overwrite: bool, quiet: bool, **options: Any) -> None:
    """Train a VAE objective plus any registered regularizers, with checkpoints, logs and pictures.

    Uses the disentanglement_lib convolutional encoder/decoder (Adam 1e-4, batch 64). The run
    directory gets config.json, README.txt, checkpoints/, log.csv, model.safetensors, summary.json,
    reconstructions.png and traversals.png. --resume continues bit for bit.

    \b
    Examples:
      latentdirs train-vae --dataset dsprites --objective beta-vae --beta 4 --steps 2000 --out runs/bvae
      latentdirs train-vae --objective factor-vae:gamma=40 --steps 20000 --out runs/fvae --device cuda
      latentdirs train-vae --objective beta-tcvae --beta 6 --reg NAME:k=v --out runs/tc
      latentdirs train-vae --dataset 3dshapes --dataset-path 3dshapes.h5 --objective dip-vae-i --out runs/dip
      latentdirs train-vae --out runs/bvae --resume --steps 4000      # continue / extend a run
      latentdirs train-vae --config runs/bvae/config.json --out runs/bvae2
    """
    from ..distributed import is_main_process
    from ..runlock import run_lock
    from ..vae.launch import given_options, prepare_run
    from ..vae.trainer import Trainer

    if is_main_process():  # one process per run folder, until the command ends (under torchrun: rank 0, for all)
        click.get_current_context().with_resource(run_lock(out))
    given = given_options({**options, "regs": regs})
    config, run, resuming, replace = prepare_run(out, given, beta, config_file, resume=resume, overwrite=overwrite)
    trainer = Trainer(config, run, progress=not quiet, echo=lambda line: click.echo(line, err=True))
    if replace and trainer.world.is_main:  # only now: a start that fails (data file, device) leaves the old run
        run.clear()
    result = trainer.train(resume=resuming)
    if not trainer.world.is_main:  # under torchrun, rank 0 reports
        return
    final = ", ".join(f"{k}={v:.4g}" for k, v in result.summary["final"].items())
    click.echo(f"trained {result.steps} steps into {run.path} ({final})")
    for picture in result.pictures:
        click.echo(f"wrote {picture}")
