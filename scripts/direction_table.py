"""Ground-truth table of direction-discovery methods on a generator trained on procedural data.

For each method (TopDis, GMG, reconstructor, GANSpace, SeFa; ``a+b`` trains ``a`` with ``b`` added as
a regularizer, e.g. TopDis next to the Voynov–Babenko reconstructor) this runs ``latentdirs discover`` and
``latentdirs evaluate-directions`` (reconstructor accuracy of a fresh reconstructor + the directions ×
factors matrix read by the bundled factor classifier, see ``latentdirs.directions.groundtruth``) and
prints a Markdown table: RCA, DCI-style disentanglement D / completeness C, the MIG-style gap and the
factor each direction changes most. Runs go to ``OUT/<method>``; a method whose evaluation exists is
not run again (delete its folder to redo it). Each CLI call is printed, so any row can be reproduced
by hand.

    python scripts/direction_table.py                                  # bundled dSprites generator
    python scripts/direction_table.py --steps 200 --rca-steps 200      # quicker, noisier
    python scripts/direction_table.py --rca-net small                  # RCA with the small CNN (faster on CPU)
    python scripts/direction_table.py --methods sefa,ganspace --jobs 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

METHODS = ("topdis", "topdis+reconstructor", "gmg", "gmg+reconstructor", "reconstructor", "ganspace", "sefa")
LEARNED = {"topdis", "gmg", "reconstructor"}
CLOSED_FORM = {"ganspace", "sefa"}


def known(method: str) -> bool:
    """A learned method with optional ``+term`` regularizers, or a closed-form one on its own."""
    main, *extra = method.split("+")
    return main in LEARNED or (main in CLOSED_FORM and not extra)


def cli() -> str:
    """The ``latentdirs`` entry point installed beside this interpreter."""
    return str(Path(sys.executable).with_name("latentdirs"))


def run(args: list[str], log: Path) -> float:
    """Run one CLI call (output to ``log``); seconds it took. Exits with its message on failure."""
    print("  $ latentdirs " + " ".join(args), flush=True)
    start = time.perf_counter()
    with open(log, "a") as out:
        code = subprocess.call([cli(), *args, "--quiet"], stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        sys.exit(f"error: `latentdirs {args[0]}` failed (exit {code}); see {log}")
    return time.perf_counter() - start


def method_row(method: str, opts: argparse.Namespace) -> dict:
    """Discover + evaluate one method (skipped when its evaluation.json exists); its table row."""
    out = Path(opts.out) / method
    evaluation = out / "evaluation.json"
    timing = out / "timing.json"
    if not evaluation.exists():
        log = out.with_name(f"{method}.log")  # beside the run: discover wants an empty or own folder
        log.parent.mkdir(parents=True, exist_ok=True)
        main, *extra = method.split("+")
        discover = ["discover", "--generator", opts.generator, "--method", main, "-k", str(opts.k),
                    "--seed", str(opts.seed), "--device", opts.device, "--out", str(out)]
        for term in extra:
            discover += ["--reg", term]
        if main in LEARNED:
            discover += ["--steps", str(opts.steps), "--lr", str(opts.lr)]
        if (out / "checkpoint.pt").exists():
            discover.append("--resume")
        seconds = run(discover, log)
        evaluate = ["evaluate-directions", str(out / "directions.safetensors"), "--generator", opts.generator,
                    "--rca-steps", str(opts.rca_steps), "--rca-net", opts.rca_net, "--no-lpips", "--seed",
                    str(opts.seed), "--device", opts.device]
        if (out / "rca_checkpoint.pt").exists():
            evaluate.append("--resume")
        run(evaluate, log)
        timing.write_text(json.dumps({"discover_s": seconds}))
    result = json.loads(evaluation.read_text())
    summary, truth = result["summary"], result.get("ground_truth", {})
    return {"method": method,
            "discover_s": json.loads(timing.read_text())["discover_s"] if timing.exists() else float("nan"),
            "rca": summary.get("RCA (fresh reconstructor)", float("nan")),
            "chance": summary.get("RCA chance level", float("nan")),
            "D": truth.get("disentanglement", float("nan")), "C": truth.get("completeness", float("nan")),
            "gap": truth.get("gap", float("nan")), "factors": truth.get("main_factor", [])}


def table(rows: list[dict]) -> str:
    lines = ["| method | discover time | RCA (chance) | D | C | gap | factor changed most, per direction |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['discover_s']:.0f} s | {r['rca']:.2f} ({r['chance']:.2f}) | {r['D']:.3f} "
                     f"| {r['C']:.3f} | {r['gap']:.3f} | {', '.join(r['factors'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="pretrained/dsprites_generator.json")
    parser.add_argument("--out", default="runs/direction_table")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("-k", type=int, default=6, help="directions per method")
    parser.add_argument("--steps", type=int, default=600, help="training steps of the learned methods")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate of the learned methods")
    parser.add_argument("--rca-steps", type=int, default=600, help="steps of the fresh reconstructor behind RCA")
    parser.add_argument("--rca-net", default="resnet18", choices=("resnet18", "lenet", "small"),
                        help="network of the fresh reconstructor (evaluate-directions --rca-net)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=2, help="methods run at once (each with one torch thread)")
    opts = parser.parse_args()
    methods = [m.strip() for m in opts.methods.split(",") if m.strip()]
    unknown = sorted(m for m in methods if not known(m))
    if unknown:
        sys.exit(f"error: unknown method(s) {', '.join(unknown)}; expected some of {', '.join(METHODS)}")
    if not Path(opts.generator).exists():
        sys.exit(f"error: generator file {opts.generator} not found")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        rows = list(pool.map(lambda m: method_row(m, opts), methods))
    text = table(rows)
    Path(opts.out, "table.md").write_text(text + "\n")
    print(text)
    print(f"\n(also in {Path(opts.out, 'table.md')}; per-method reports: {opts.out}/<method>/report.html)")


if __name__ == "__main__":
    main()
