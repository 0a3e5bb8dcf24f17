"""Bundle a trained ``train-vae`` run into ``pretrained/NAME/`` and record it in ``pretrained/MANIFEST.json``.

Copies what :func:`latentdirs.vae.runs.load_trained` needs (``config.json``, ``model.safetensors``) plus the
run's ``summary.json`` and pictures, measures the disentanglement metrics of the bundled weights on fresh
samples (numbers measured here, never typed in) and adds or replaces the model's entry in the manifest
(sha256 of every file, training command, steps, seed, wall time, hardware, metrics). Other entries stay.

A cell of a ``latentdirs study`` (``OUT/<setting>/seed_<k>``) is bundled with ``--study SPEC``: the entry then
names the spec, setting and seed (and ``--selection``, how the cell was chosen), and ``--metrics-from-run`` takes
the numbers the study's ``evaluate`` measured on these weights (the run's ``metrics.json``) instead of measuring
again.

Examples:
  python scripts/bundle_vae.py --run runs/topdis_vae --name dsprites_topdis_vae \\
      --command "latentdirs train-vae --objective beta-vae --beta 4 --reg topdis:gamma=5 ..."
  python scripts/bundle_vae.py --run runs/studies/topdis_cpu/beta-vae+topdis/seed_1 \\
      --study scripts/studies/topdis_cpu.yaml --selection "highest MIG of the setting's seeds" \\
      --metrics-from-run --command "latentdirs study run scripts/studies/topdis_cpu.yaml ..."
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from latentdirs import __version__
from latentdirs.io import read_json, sha256_file, write_json
from latentdirs.metrics.suite import evaluate_representation
from latentdirs.vae.runs import load_trained

ROOT = Path(__file__).resolve().parents[1]
FILES = ("config.json", "model.safetensors", "summary.json", "traversals.png", "reconstructions.png")
METRICS = ["mig", "sap", "dci", "modularity", "factor_vae"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="train-vae run directory")
    parser.add_argument("--name", default="dsprites_topdis_vae", help="bundle name (folder in pretrained/)")
    parser.add_argument("--command", required=True, help="the command that trained the run (for the manifest)")
    parser.add_argument("--out", default=str(ROOT / "pretrained"))
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--note", default="")
    parser.add_argument("--study", help="the study spec whose cell --run is")
    parser.add_argument("--selection", default="", help="how the cell was chosen (with --study)")
    parser.add_argument("--metrics-from-run", action="store_true",
                        help="record the run's metrics.json (its evaluate) instead of measuring again")
    args = parser.parse_args()
    torch.set_num_threads(1)

    run, out = Path(args.run), Path(args.out)
    missing = [name for name in FILES if not (run / name).is_file()]
    if missing:
        raise SystemExit(f"error: {run} lacks {', '.join(missing)}; expected a finished train-vae run")
    target = out / args.name
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(run / name, target / name)

    trained = load_trained(target)
    if args.metrics_from_run:
        evaluated = read_json(run / "metrics.json", "the run's evaluate output")
        quality = {"metrics": evaluated["results"], "protocol": evaluated["protocol"],
                   "source": f"evaluate of the run ({run.name}/metrics.json, {evaluated.get('seconds')} s)"}
    else:
        start = time.perf_counter()
        metrics = evaluate_representation(trained.dataset, trained.encode_mean, METRICS, args.num_train,
                                          args.num_test, random_state=0, dci_estimator="hist_gbt")
        print(f"metrics ({time.perf_counter() - start:.0f} s):", {k: v for k, v in metrics.items() if k != "details"})
        quality = {"metrics": metrics, "protocol": {"metrics": METRICS, "num_train": args.num_train,
                                                    "num_test": args.num_test, "seed": 0, "dci_estimator": "hist_gbt"}}
    summary = read_json(run / "summary.json", "run summary")
    config = trained.config
    manifest_path = out / "MANIFEST.json"
    manifest = read_json(manifest_path, "pretrained manifest") if manifest_path.is_file() else {"models": {}}
    manifest["latentdirs_version"] = __version__
    manifest["models"][args.name] = {
        "kind": "vae", "dataset": config.get("dataset"), "stem": args.name,
        "files": {f"{args.name}/{name}": sha256_file(target / name) for name in FILES},
        "command": args.command, "steps": config.get("steps"), "seed": config.get("seed"),
        "wall_time_s": summary.get("train_seconds"), "hardware": summary.get("machine"),
        "quality": quality,
        "note": args.note,
    }
    if args.study:
        manifest["models"][args.name]["study"] = {"spec": args.study, "setting": run.parent.name,
                                                  "seed": int(run.name.removeprefix("seed_")),
                                                  "selection": args.selection}
    write_json(manifest_path, manifest)
    print(f"wrote {target} and {manifest_path}")


if __name__ == "__main__":
    main()
