"""Bundle a trained dSprites generator and its factor classifier into ``pretrained/`` with a manifest.

Picks the snapshot of a ``train-gan`` run with the best re-render IoU (or the latest), re-exports it in
latentdirs' generator format, copies the factor classifier, measures (a) the classifier on fresh
real images and (b) the generator's samples (mean IoU, shape proportions vs the dataset's 1/3 each),
and writes ``pretrained/MANIFEST.json`` with sha256, commands, steps, seeds, wall times, hardware and
the measured numbers. Numbers are measured here, never typed in.

\b
Example:
  python scripts/bundle_pretrained.py --run runs/dsprites_g --classifier runs/dsprites_clf \
      --train-command "latentdirs train-gan ..." --classifier-command "latentdirs train-factor-classifier ..."
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
import torch

from latentdirs import __version__
from latentdirs.data import get_dataset
from latentdirs.errors import UserError
from latentdirs.factors import load_factor_classifier, rerender_quality, save_factor_classifier, shapes_balanced
from latentdirs.gan import load_generator, save_generator
from latentdirs.gan.training import QualityProbe
from latentdirs.io import read_json, sha256_file, write_json

ROOT = Path(__file__).resolve().parents[1]


def hardware() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} cores shared with other jobs, torch "
            f"{torch.__version__} CPU, {torch.get_num_threads()} thread(s) here; {platform.platform()}")


GOAL = {"mean_iou_at_least": 0.75, "shape_within_points": 10, "shapes_read_by": "re-render (shape_by_rerender)"}
SHAPE_WITHIN = GOAL["shape_within_points"] / 100
REAL_SEED = 987_654


def real_image_quality(classifier, dataset, n: int) -> dict:
    """The measure on ``n`` fresh real images (a seed the classifier never trained with), with per-factor accuracy."""
    factors, images = dataset.sample(n, np.random.RandomState(REAL_SEED))
    real = rerender_quality(classifier, dataset, images)
    return {**real.summary(), "factor_accuracy": {
        n: round(float(a), 4) for n, a in zip(dataset.factor_names, (real.factors == factors).mean(0), strict=True)}}


def generator_quality(probe: QualityProbe, G, n: int) -> dict:
    """The manifest's ``quality`` entry of a generator: ``n`` samples at ψ = 1 and 0.7 (latent seed 0), goal."""
    quality = probe.measure(G, n, seed=0)
    truncated = probe.measure(G, n, seed=0, truncation_psi=0.7)
    reached = (quality["mean"] >= GOAL["mean_iou_at_least"]
               and shapes_balanced(quality, within=SHAPE_WITHIN))
    print("generator:", quality["mean"], "shapes by re-render", quality.get("shape_by_rerender"),
          "goal reached" if reached else "goal NOT reached", "coverage TV:", quality["coverage"]["tv_to_real"])
    return {"psi_1": quality, "psi_0.7": truncated, "sample_seed": 0, "dataset_shape_proportions": [1 / 3] * 3,
            "goal": GOAL, "goal_reached": reached}


def remeasure(out: Path, samples: int, real_samples: int) -> None:
    """Measure the bundled generator and classifier again (after a change of the measure) and update only
    the ``quality`` entries of ``MANIFEST.json``; weights, hashes and provenance stay."""
    manifest_path = out / "MANIFEST.json"
    manifest = read_json(manifest_path, "pretrained manifest")
    dataset = get_dataset("dsprites")
    classifier = load_factor_classifier(out / "dsprites_factor_classifier")
    real = real_image_quality(classifier, dataset, real_samples)
    print("real images:", real["mean"], real["factor_accuracy"])
    models = manifest["models"]
    models["dsprites_factor_classifier"]["quality"].update({"real_images": real, "real_seed": REAL_SEED})
    G = load_generator(out / "dsprites_generator.json").eval()
    models["dsprites_generator"]["quality"].update(generator_quality(QualityProbe(classifier, dataset), G, samples))
    write_json(manifest_path, manifest)
    print(f"updated {manifest_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remeasure", action="store_true",
                        help="only measure the bundled models in --out again and update their manifest quality")
    parser.add_argument("--run", action="append", help="train-gan run directory (repeatable)")
    parser.add_argument("--classifier", help="factor classifier stem (train-factor-classifier --out)")
    parser.add_argument("--out", default=str(ROOT / "pretrained"))
    parser.add_argument("--select", choices=["best", "latest"], default="best")
    parser.add_argument("--select-samples", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--real-samples", type=int, default=2000)
    parser.add_argument("--train-command", action="append", help="one per --run, same order")
    parser.add_argument("--classifier-command")
    parser.add_argument("--note", default="")
    parser.add_argument("--train-hardware", default=None,
                        help="where the generator was trained, when not here (e.g. a GPU machine)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.remeasure:
        try:
            remeasure(Path(args.out), args.samples, args.real_samples)
        except UserError as exc:
            raise SystemExit(f"error: {exc}") from None
        return
    if not (args.run and args.classifier and args.train_command and args.classifier_command):
        raise SystemExit("give --run, --classifier, --train-command and --classifier-command (or --remeasure)")

    if len(args.run) != len(args.train_command):
        raise SystemExit("give one --train-command per --run")
    out = Path(args.out)
    dataset = get_dataset("dsprites")
    classifier = load_factor_classifier(args.classifier)
    classifier_info = read_json(Path(args.classifier).with_suffix(".json"), "classifier config")["info"]
    probe = QualityProbe(classifier, dataset)

    # (a) the measure on real images
    real_summary = real_image_quality(classifier, dataset, args.real_samples)
    print("real images:", real_summary["mean"], real_summary["factor_accuracy"])

    # (b) choose the snapshot (over every run given)
    scored = []
    for index, run_dir in enumerate(args.run):
        snapshots = sorted((Path(run_dir) / "snapshots").glob("network-snapshot-*.json"))
        if not snapshots:
            raise SystemExit(f"no snapshots in {Path(run_dir) / 'snapshots'}")
        for path in snapshots if args.select == "best" else snapshots[-1:]:
            measured = probe.measure(load_generator(path).eval(), args.select_samples, seed=1)
            score, shapes = measured["mean"], measured.get("shape_by_rerender")
            balanced = shapes_balanced(measured, within=SHAPE_WITHIN)
            scored.append((balanced, score, str(path), index))
            coverage = measured["coverage"]
            print(f"{path}: mean IoU {score:.4f}, shapes {[round(p, 3) for p in shapes]}, worst coverage TV "
                  f"{coverage['worst_tv']:.2f} ({coverage['worst_factor']}) ({args.select_samples} samples)")
    _, best_score, best_name, run_index = max(scored)  # shapes within ±10 points first, then IoU
    best, run = Path(best_name), Path(args.run[run_index])
    G = load_generator(best).eval()
    provenance = dict(G.source.get("provenance", {}))

    # (c) final measurement on fresh latents (seed 0, different from the selection's seed 1)
    quality = generator_quality(probe, G, args.samples)

    out.mkdir(parents=True, exist_ok=True)
    gen_json = save_generator(G, out / "dsprites_generator", provenance={
        **provenance, "selected_snapshot": best.name, "selection": f"{args.select} of {len(scored)} snapshots of "
        f"{len(args.run)} run(s) on {args.select_samples} samples (latent seed 1): shape proportions within "
        f"10 points of 1/3 first, then mean IoU"})
    cls_weights, cls_json = save_factor_classifier(out / "dsprites_factor_classifier", classifier, classifier_info)
    run_config = read_json(run / "config.json", "run config")
    manifest_path = out / "MANIFEST.json"  # other bundled models (e.g. the VAE) keep their entries
    manifest = read_json(manifest_path, "pretrained manifest") if manifest_path.is_file() else {"models": {}}
    manifest["latentdirs_version"] = __version__
    manifest["models"].update({
        "dsprites_generator": {
            "kind": "generator", "dataset": "dsprites", "stem": "dsprites_generator",
            "files": {p.name: sha256_file(p) for p in (gen_json.with_suffix(".safetensors"), gen_json)},
            "command": args.train_command[run_index], "training": run_config,
            "kimg": provenance.get("kimg"), "steps": provenance.get("batch_idx"), "seed": run_config["seed"],
            "wall_time_s": provenance.get("wall_time_s"), "hardware": args.train_hardware or hardware(),
            "snapshot": best.name, "selection_scores": {
                f"run{i}/{Path(p).name}": round(v, 4) for _, v, p, i in sorted(scored, key=lambda t: t[2])},
            "quality": quality,
            "note": args.note,
        },
        "dsprites_factor_classifier": {
            "kind": "factor_classifier", "dataset": "dsprites", "stem": "dsprites_factor_classifier",
            "files": {p.name: sha256_file(p) for p in (cls_weights, cls_json)},
            "command": args.classifier_command, "steps": classifier_info.get("steps"),
            "seed": classifier_info.get("seed"), "wall_time_s": classifier_info.get("wall_time_s"),
            "hardware": hardware(),
            "quality": {"real_images": real_summary, "real_seed": REAL_SEED},
        },
    })
    write_json(manifest_path, manifest)
    print(f"wrote {out / 'MANIFEST.json'}")


if __name__ == "__main__":
    main()
