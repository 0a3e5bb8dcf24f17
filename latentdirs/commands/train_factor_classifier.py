"""``latentdirs train-factor-classifier``: train the factor classifier of a ground-truth dataset."""

from __future__ import annotations

import click

from .. import validation as v
from ._options import BATCH, EVERY, LR, SAMPLES, SEED, STEPS, THREADS, BoundedFloat, BoundedInt, device_option


@click.command("train-factor-classifier")
@click.option("--dataset", default="dsprites", show_default=True, help="Dataset name (see latentdirs.data).")
@click.option("--dataset-path", default=None, help="File of a file-backed dataset (3dshapes, mpi3d, dsprites .npz).")
@click.option("--steps", type=STEPS, default=4000, show_default=True, help="Training steps (fresh samples each).")
@click.option("--batch-size", type=BATCH, default=64, show_default=True)
@click.option("--lr", type=LR, default=2e-3, show_default=True, help="Adam learning rate (cosine decay to 0).")
@click.option("--width", type=BoundedInt(v.WIDTH), default=32, show_default=True,
              help="Channels of the first conv layers.")
@click.option("--noise", type=BoundedFloat(v.PIXEL_NOISE), default=0.05, show_default=True,
              help="Max std of the pixel-noise augmentation.")
@click.option("--saturation-jitter", type=BoundedFloat(v.SATURATION_JITTER), default=0.0, show_default=True,
              help="RGB datasets whose factors do not include saturation: desaturate each training image by a "
                   "factor uniform in [1 - J, 1], so that paler drawings are not read as another factor.")
@click.option("--eval-samples", type=SAMPLES, default=2000, show_default=True,
              help="Held-out rendered images for the reported accuracy and re-render score.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@device_option()
@click.option("--threads", type=THREADS, default=None, help="torch CPU threads (1 is fastest on a busy machine).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output stem: writes OUT.safetensors and OUT.json.")
@click.option("--checkpoint-every", type=EVERY, default=500, show_default=True,
              help="Save the training state to OUT.ckpt.pt every N steps (removed once OUT is written).")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt.pt (same settings), bit for bit.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT of another kind (never the dataset file).")
def command(dataset: str, dataset_path: str | None, steps: int, batch_size: int, lr: float, width: int, noise: float,
            saturation_jitter: float, eval_samples: int, seed: int, device: str, threads: int | None, out: str,
            checkpoint_every: int, resume: bool, overwrite: bool) -> None:
    """Train a CNN that reads every factor of a dataset's images, and measure it on fresh images.

    The held-out score is the re-render quality of real images: predicted factors are rendered
    again and compared with the image (IoU of binarized images for dSprites). It should be close to 1;
    the same measure scores generators trained on the dataset (train-gan).

    \b
    Examples:
      latentdirs train-factor-classifier --dataset dsprites --steps 4000 --out pretrained/dsprites_factor_classifier
      latentdirs train-factor-classifier --dataset threedots --steps 2000 --out runs/threedots_classifier
      latentdirs train-factor-classifier --dataset threedots --steps 2000 --out runs/threedots_classifier --resume
    """
    import numpy as np
    import torch

    from ..data import get_dataset
    from ..errors import UserError
    from ..factors import (
        build_factor_classifier,
        classifier_paths,
        rerender_quality,
        save_factor_classifier,
        train_factor_classifier,
    )
    from ..factors.store import FORMAT
    from ..io import check_outputs, refuse_inputs
    from ..runlock import output_lock

    if threads is not None:
        torch.set_num_threads(threads)
    outputs = classifier_paths(out)
    stem = outputs[0].with_suffix("")
    checkpoint = outputs[0].with_suffix(".ckpt.pt")
    check_outputs(outputs, [dataset_path], kind=FORMAT, overwrite=overwrite)
    refuse_inputs([checkpoint, f"{stem}.lock"], [dataset_path])
    click.get_current_context().with_resource(output_lock(stem, "factor classifier"))  # until the last write
    data = get_dataset(dataset, dataset_path)
    weights = v.model_bytes(lambda: build_factor_classifier(data, width, seed=seed))
    activations = 4 * batch_size * width * int(np.prod(data.observation_shape[1:]))  # the first layers', about
    v.check_fits(4 * weights + 4 * activations, f"a factor classifier of width {width} trained in batches of "
                 f"{batch_size}", hint="lower --width / --batch-size")
    v.check_fits(8 * eval_samples * int(np.prod(data.observation_shape)), f"{eval_samples} held-out images",
                 hint="lower --eval-samples")
    if resume and not checkpoint.exists():
        raise UserError(f"nothing to resume: {checkpoint} does not exist")
    model, info = train_factor_classifier(data, steps=steps, seed=seed, device=device, batch_size=batch_size, lr=lr,
                                          width=width, noise=noise, saturation_jitter=saturation_jitter,
                                          checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
    save_factor_classifier(out, model, info)  # kept even if the held-out measure below is interrupted
    checkpoint.unlink(missing_ok=True)  # the classifier is saved: the training state is no longer needed
    factors, images = data.sample(eval_samples, np.random.RandomState(seed + 10_007))
    quality = rerender_quality(model, data, images)
    accuracy = (quality.factors == factors).mean(axis=0)
    info["heldout"] = {
        "num_images": eval_samples, "seed": seed + 10_007, "metric": quality.metric, "mean": round(quality.mean, 4),
        "accuracy": {name: round(float(a), 4) for name, a in zip(data.factor_names, accuracy, strict=True)},
    }
    if quality.metric in ("iou", "colour"):
        info["heldout"][f"fraction_{quality.metric}_below_0.9"] = round(float((quality.per_image < 0.9).mean()), 4)
    weights, config = save_factor_classifier(out, model, info)  # again, with the held-out scores
    click.echo(f"held-out re-render {quality.metric}: {quality.mean:.4f} on {eval_samples} images; "
               f"accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in info["heldout"]["accuracy"].items()))
    click.echo(f"wrote {weights} and {config}")
