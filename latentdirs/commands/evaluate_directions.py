"""``latentdirs evaluate-directions``: score a direction set and add the scores to its report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .. import validation as v
from ._choices import RCA_CHECKPOINT, RECONSTRUCTOR_NETS
from ._options import (
    BATCH,
    COUNT,
    GRID,
    LR,
    SEED,
    SPREAD_SAMPLES,
    STEPS,
    TRAVERSE,
    BoundedInt,
    generator_inputs,
    generator_options,
)


@click.command("evaluate-directions")
@click.argument("directions_path", metavar="DIRECTIONS")
@generator_options
@click.option("--rca/--no-rca", default=True, show_default=True,
              help="Reconstructor classification accuracy of a fresh reconstructor on the frozen directions.")
@click.option("--rca-steps", default=1000, show_default=True, type=STEPS,
              help="Training steps of the fresh reconstructor.")
@click.option("--rca-lr", default=1e-4, show_default=True, type=LR)
@click.option("--rca-batch", default=32, show_default=True, type=BATCH)
@click.option("--rca-eval-batches", default=10, show_default=True, type=COUNT,
              help="Batches the accuracy is measured on.")
@click.option("--rca-net", default="resnet18", show_default=True, type=click.Choice(RECONSTRUCTOR_NETS),
              help="Reconstructor: resnet18 (the paper's, full resolution), lenet (the paper's for MNIST) or small "
                   "(a 0.39 M-parameter CNN on images pooled to 64 px, several times faster on CPU).")
@click.option("--rca-size", default=0, show_default=True, type=BoundedInt(v.IMAGE_SIDE_OR_NONE),
              help="Area-downsample the image pairs to at most this size for the reconstructor (0: the net's default).")
@click.option("--resume", is_flag=True,
              help=f"Continue the reconstructor training from OUT/{RCA_CHECKPOINT} (saved every 100 steps and on "
                   "Ctrl-C; removed once evaluation.json is written).")
@click.option("--lpips/--no-lpips", "use_lpips", default=True, show_default=True,
              help="Perceptual path length, effect size and smoothness along each direction.")
@click.option("--lpips-samples", default=8, show_default=True, type=GRID, help="Codes traversed per direction.")
@click.option("--dataset", default=None,
              help="Procedural dataset the generator was trained on (default: the one its file records).")
@click.option("--dataset-path", default=None, help="File of a file-backed dataset.")
@click.option("--classifier", default="auto", show_default=True,
              help="Factor classifier (path stem, 'auto' for the bundled one of the dataset, 'none' to skip).")
@click.option("--gt-samples", default=32, show_default=True, type=SPREAD_SAMPLES,
              help="Codes traversed per direction for ground truth.")
@click.option("--traverse", default="-3:3:7", show_default=True, type=TRAVERSE,
              help="Strengths (σ) for LPIPS and the report.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for evaluation.json and report.html (default: the direction file's folder).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def command(directions_path, generator_path, device, class_index, rca, rca_steps, rca_lr, rca_batch,
            rca_eval_batches, rca_net, rca_size, resume, use_lpips, lpips_samples, dataset, dataset_path, classifier,
            gt_samples, traverse, seed, out, quiet) -> None:
    """Evaluate directions: RCA, LPIPS smoothness/effect size, ground-truth factors; updates the report.

    Ground truth needs a generator trained on a procedural dataset (dsprites, threedots, ...) and a
    factor classifier for it: each direction gets the factor it changes most, and the directions x
    factors matrix gets DCI-style disentanglement/completeness and a MIG-style gap.

    \b
    Examples:
      latentdirs evaluate-directions runs/d/directions.safetensors --generator G.pkl
      latentdirs evaluate-directions D.safetensors --generator G.pkl --rca-steps 3000 --out runs/d_eval
      latentdirs evaluate-directions D.safetensors --generator G.pkl --out runs/d_eval --resume   # after Ctrl-C
      latentdirs evaluate-directions D.safetensors --generator G.pkl --rca-net small --rca-steps 400   # quick
      latentdirs evaluate-directions D.safetensors --generator G.pkl --no-rca --traverse -2:2:9
      latentdirs evaluate-directions D.safetensors --generator pretrained/dsprites_generator.json \\
          --dataset dsprites --classifier auto
    """
    from ..directions.dirfile import load_directions
    from ..directions.editing import parse_traverse
    from ..directions.evaluation import direction_table, lpips_scores, reconstructor_accuracy, summarise
    from ..directions.groundtruth import classifier_reader, effect_matrix, open_ground_truth, score_effects
    from ..directions.options import open_generator
    from ..directions.report import render_report
    from ..directions.spaces import SpaceRenderer
    from ..errors import UserError
    from ..io import check_outputs, write_json

    folder = Path(out) if out is not None else Path(directions_path).parent
    inputs = [directions_path, dataset_path, *generator_inputs(generator_path)]
    check_outputs([folder / "evaluation.json"], inputs, kind="json")
    check_outputs([folder / "report.html"], inputs, kind="html")
    dset = load_directions(directions_path)
    handle = open_generator(generator_path, device, float(dset.generator.get("truncation_psi", 1.0)), class_index)
    dset.check_generator(handle, f"direction file {directions_path}")
    strengths = parse_traverse(traverse)
    if len(strengths) < 2:
        raise UserError(f"--traverse {traverse}: the scores compare images along a direction; "
                        "give at least 2 strengths")
    out = folder
    probe, truth_note = (open_ground_truth(handle, dataset, dataset_path, classifier, handle.device)  # before RCA's
                         if classifier != "none" else (None, None))  # minutes: a bad --dataset/--classifier stops now
    embedding = None
    if use_lpips:  # its weight files are read (and checked) before any scoring work
        from ..directions.features import LpipsEmbedding

        embedding = LpipsEmbedding()
    config = dset.extra.get("config", {})
    rca_result = None
    checkpoint = out / RCA_CHECKPOINT
    if resume and not rca:
        raise UserError("--resume continues the RCA training; it cannot go with --no-rca")
    if rca:
        rca_result = reconstructor_accuracy(
            handle, dset, steps=rca_steps, batch_size=rca_batch, eval_batches=rca_eval_batches, lr=rca_lr,
            net=rca_net, size=rca_size, shift_min=float(config.get("shift_min", 0.5)),
            shift_max=float(config.get("shift_max", 6.0)), seed=seed, progress=not quiet, checkpoint=checkpoint,
            resume=resume)
    lpips_result = lpips_scores(handle, dset, samples=lpips_samples, strengths=strengths, seed=seed,
                                embedding=embedding, progress=not quiet) if use_lpips else None
    truth, matrix = None, None
    if probe is not None:
        effects, kept = effect_matrix(SpaceRenderer(handle, dset.space), dset, classifier_reader(probe.classifier),
                                      samples=gt_samples, strengths=strengths, seed=seed)
        truth = score_effects(effects, [probe.classifier.factor_names[j] for j in kept])
        matrix = (truth.matrix, truth.factor_names)
    summary, columns, notes = summarise(rca_result, lpips_result, truth)
    if truth_note:
        notes.append(truth_note)
    result = {"directions": str(directions_path), "summary": summary, "per_direction": columns, "notes": notes}
    if truth is not None:
        result["ground_truth"] = dataclasses.asdict(truth)
    if rca_result is not None:
        result["rca"] = {k: v for k, v in dataclasses.asdict(rca_result).items() if k != "history"}
    if lpips_result is not None:
        result["lpips"] = dataclasses.asdict(lpips_result)
    write_json(out / "evaluation.json", result)
    checkpoint.unlink(missing_ok=True)
    render_report(out, SpaceRenderer(handle, dset.space), dset, strengths=strengths, seed=seed,
                  scores=columns, summary=summary, notes=notes, matrix=matrix)
    for note in notes:
        click.echo(f"note: {note}")
    for key, value in summary.items():
        click.echo(f"{key}: {value:.4f}")
    table = direction_table(columns)
    if table:
        click.echo("per direction" + (" (main factor: the ground-truth factor it changes most; its share: that "
                                      "factor's share of the direction's change)" if truth is not None else "") + ":")
    for line in table:
        click.echo(f"  {line}")
    click.echo(f"wrote {out / 'evaluation.json'} and {out / 'report.html'}")
