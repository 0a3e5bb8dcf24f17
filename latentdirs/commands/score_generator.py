"""``latentdirs score-generator``: the FID-free quality of a generator trained on a ground-truth dataset."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._options import SAMPLES, SEED, TRUNC, device_option, generator_inputs, overwrite_option


@click.command("score-generator")
@click.option("--generator", "generator_path", required=True, type=click.Path(dir_okay=False),
              help="Generator file (latentdirs NAME.json/.safetensors, ADA .pkl, rosinality .pt).")
@click.option("--dataset", default="dsprites", show_default=True, help="Dataset the generator was trained on.")
@click.option("--dataset-path", default=None, help="File of a file-backed dataset.")
@click.option("--classifier", default="auto", show_default=True,
              help="Factor classifier path stem, or 'auto' for the bundled one of the dataset.")
@click.option("--num", type=SAMPLES, default=1024, show_default=True, help="Number of samples scored.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sampled latents.")
@click.option("--trunc", "psi", type=TRUNC, default=1.0, show_default=True, help="Truncation psi (1 = none).")
@device_option()
@click.option("--json-out", default=None, type=click.Path(dir_okay=False), help="Also write the scores as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print every score as JSON instead of the summary.")
@click.option("--pairs", default=None, type=click.Path(dir_okay=False),
              help="Also write a PNG of the first 32 samples, each beside the re-render of its predicted factors.")
@click.option("--fit", is_flag=True,
              help="Also score with the geometry fitted between grid values (colour datasets: ellipses).")
@overwrite_option
def command(generator_path: str, dataset: str, dataset_path: str | None, classifier: str, num: int, seed: int,
            psi: float, device: str, json_out: str | None, as_json: bool, pairs: str | None, fit: bool,
            overwrite: bool) -> None:
    """Score samples by re-rendering their predicted factors (mean IoU for dSprites).

    Each sample's factors are read by the factor classifier, rendered again by the dataset and
    compared with the sample. Coverage: per factor, the total variation distance between the
    proportions of its predicted values and those predicted on as many real images (0 = the same
    spread, 1 = disjoint). Prints a summary; --json prints every proportion too. --fit (ellipses) adds
    the score with each sample's geometry fitted within half a grid step of its read factors: a generator
    draws between the grid's values, which the grid score charges like a flaw.

    \b
    Examples:
      latentdirs score-generator --generator pretrained/dsprites_generator.json
      latentdirs score-generator --generator runs/g/snapshots/network-snapshot-000020.json --num 256 --pairs p.png
      latentdirs score-generator --generator g.pkl --dataset threedots --json-out scores.json
      latentdirs score-generator --generator pretrained/ellipses_generator.json --dataset ellipses --fit
    """
    from ..data import get_dataset
    from ..errors import UserError
    from ..factors import classifier_paths
    from ..gan import load_generator
    from ..gan.training import load_quality_probe
    from ..io import check_outputs, save_image_grid, write_json
    from ..seeding import resolve_device
    from ..validation import check_fits, require_finite_weights

    inputs = [dataset_path, *generator_inputs(generator_path)]
    if classifier not in ("auto", "none"):
        inputs += [classifier, *map(str, classifier_paths(classifier))]
    for output, kind in ((json_out, "json"), (pairs, "png")):
        if output:
            check_outputs([output], inputs, kind=kind, overwrite=overwrite, flag="--json-out" if kind == "json" else
                          "--pairs")
    if json_out and pairs and Path(json_out).resolve() == Path(pairs).resolve():
        raise UserError(f"--json-out and --pairs name the same file {json_out}; give two paths")
    dev = resolve_device(device)
    data = get_dataset(dataset, dataset_path)
    probe = load_quality_probe(classifier, data, dev)
    if probe is None:
        raise UserError(f"no bundled factor classifier for dataset {data.name!r}; pass --classifier PATH "
                        f"(train one with latentdirs train-factor-classifier)")
    G = require_finite_weights(load_generator(generator_path).to(dev).eval(), f"generator {generator_path}")
    check_fits(2 * 4 * num * G.img_channels * G.img_resolution**2,
               f"{num} samples of {G.img_resolution}x{G.img_resolution}", device=dev, hint="lower --num")
    if G.img_channels != data.observation_shape[0]:
        raise UserError(f"generator makes {G.img_channels}-channel images; dataset {data.name!r} has "
                        f"{data.observation_shape[0]}")
    images = probe.samples(G, num, seed, truncation_psi=psi)
    scores = probe.score_images(images, fit=fit)
    scores.update(generator=str(generator_path), seed=seed, truncation_psi=psi)
    if json_out:
        write_json(json_out, scores)
    click.echo(json.dumps(scores, indent=2) if as_json else _summary(scores))
    if pairs:
        path = save_image_grid(pairs, probe.rerender_pairs(images[:32]), nrow=16, scale=2)
        click.echo(f"wrote {path}: samples (odd columns) beside the re-renders of their predicted factors",
                   err=True)  # stdout stays the summary or pure JSON


def _summary(scores: dict) -> str:
    """A few lines: the mean score, the spread of each factor with few values, the coverage of every factor."""
    metric, better = {"iou": ("IoU", "higher"), "colour": ("colour score (mask IoU × colour fidelity)", "higher")
                      }.get(scores["metric"], ("absolute pixel error", "lower"))
    lines = [f"{scores['generator']}: {scores['num_images']} samples (seed {scores['seed']}, "
             f"truncation psi {scores['truncation_psi']:g})",
             f"mean {metric} {scores['mean']:.4f} ({better} is better)"]
    if "fitted_mean" in scores:
        lines.append(f"mean {metric}, geometry fitted between grid values {scores['fitted_mean']:.4f}")
    for name, proportions in scores["proportions"].items():
        if 1 < len(proportions) <= 8:
            lines.append(f"{name} proportions: " + " / ".join(f"{100 * p:.1f}" for p in proportions) + " %")
    if scores.get("shape_by_rerender"):
        lines.append("shape by re-render (the shape whose render overlaps most): "
                     + " / ".join(f"{100 * p:.1f}" for p in scores["shape_by_rerender"]) + " %")
    coverage = scores["coverage"]["tv_to_real"]
    if coverage:
        lines.append("coverage, TV to real images (0 = same spread, 1 = disjoint): "
                     + ", ".join(f"{name} {tv:.2f}" for name, tv in coverage.items()))
    return "\n".join(lines)
