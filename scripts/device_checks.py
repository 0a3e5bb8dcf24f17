"""GPU figures and a GPU-trained dSprites generator in one call of the device tool.

The benchmarks' CUDA rows (TopDis step, entropic GW vs POT, Jacobian L1) and a ``train-gan`` run on the GPU,
sized to fit one device command (at most 10 minutes) with the output it may send back (at most 8 files, each
under 16 MiB). Two steps:

1. Here, once: ``python scripts/device_checks.py wheels`` downloads the dependencies the device image lacks
   (POT, giotto-ph, ripser, persim, lpips, …) as CPython 3.12 wheels into ``.whl/`` (git-ignored).
2. On the device (the tool's ``run``, carrying ``.whl``)::

       python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
       PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 python3 scripts/device_checks.py run --out $OUT

   ``$OUT`` receives ``env.txt``, ``bench.txt`` (all three benchmarks), ``train_gan.log``, ``run.tgz`` (the
   run's config, metrics and sample grids) and ``snapshot_<kimg>.tgz`` for the best snapshots by the quality
   signal logged during training (shape proportions within 10 points of 1/3 first, then mean IoU). Unpack
   them into one run directory and bundle the best with ``scripts/bundle_pretrained.py --train-hardware …``.

Without a GPU the same command checks the script itself, e.g.
``python scripts/device_checks.py run --out /tmp/dc --device cpu --quick --train-minutes 0.5``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the device image lacks (its python3 has torch, numpy, scipy, click, tqdm, safetensors, h5py, …)
WHEELS = ("pot", "giotto-ph", "ripser", "persim", "hopcroftkarp", "deprecated", "lpips")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "any")
#: a generator of a few MB (channels 128 at 64×64) at the rates of the bundled CPU run's family; the
#: discriminator at half the channel base (on CPU, G and D both doubled collapsed twice; G doubled alone did not)
GAN_ARGS = ("--dataset", "dsprites", "--resolution", "64", "--channel-base", "8192", "--channel-max", "128",
            "--d-channel-base", "4096", "--batch", "64", "--style-mixing", "0", "--gamma", "0.1",
            "--g-lr", "0.0025", "--d-lr", "0.001", "--seed", "1", "--kimg", "100000")
#: ``--quick``: a tiny network, to check the script without a GPU
GAN_QUICK_ARGS = ("--dataset", "dsprites", "--resolution", "64", "--channel-base", "256", "--channel-max", "16",
                  "--batch", "8", "--style-mixing", "0", "--seed", "1", "--kimg", "100000")
FILES_BACK = 8  # the device tool returns at most this many files


def download_wheels(dest: Path) -> None:
    """CPython 3.12 manylinux wheels of :data:`WHEELS` into ``dest``, from the package index pip is set up with."""
    dest.mkdir(exist_ok=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    for name in WHEELS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), name],
                       check=True)
    print("\n".join(sorted(p.name for p in dest.glob("*.whl"))))


def run_logged(command: list[str], log, timeout_s: float) -> None:
    """Run ``command`` from the repository root, its output appended to ``log``. Past ``timeout_s`` it gets
    SIGINT (latentdirs' training commands then save what they have, as on Ctrl-C), 60 s later SIGKILL."""
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.write(f"(stopped after {timeout_s:.0f} s)\n")
    log.flush()


def environment(out: Path) -> None:
    import torch

    lines = [f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.cuda.is_available()}"]
    if torch.cuda.is_available():
        lines.append(torch.cuda.get_device_name(0))
    smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True) if _has("nvidia-smi") else None
    lines.append(smi.stdout if smi is not None else "(no nvidia-smi)")
    (out / "env.txt").write_text("\n".join(lines) + "\n")


def _has(program: str) -> bool:
    return any((Path(d) / program).is_file() for d in os.environ.get("PATH", "").split(os.pathsep))


def benchmarks(out: Path, device: str, quick: bool) -> None:
    python = sys.executable
    quick_flag = ["--quick"] if quick else []
    with open(out / "bench.txt", "w") as log:
        run_logged([python, "scripts/bench_topdis.py", *quick_flag], log, 150)
        run_logged([python, "scripts/bench_gmg.py", *(quick_flag or ["--sizes", "64", "128", "256", "512"])], log, 150)
        run_logged([python, "scripts/bench_jacobian.py", "--device", device, *quick_flag], log, 90)


def snapshot_order(metrics: list[dict]) -> list[float]:
    """kimg of the logged quality records, best first: shapes within 10 points of 1/3, then mean IoU."""
    from latentdirs.factors import shapes_balanced

    scored = []
    for record in metrics:
        quality = record.get("quality")
        if quality:
            scored.append((shapes_balanced(quality), quality["mean"], record["kimg"]))
    return [kimg for *_, kimg in sorted(scored, reverse=True)]


def train(out: Path, device: str, minutes: float, keep: int, quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="device_checks_") as tmp:
        _train_and_pack(Path(tmp) / "gan", out, device, minutes, keep, quick)


def _train_and_pack(run: Path, out: Path, device: str, minutes: float, keep: int, quick: bool) -> None:
    interval = "0.2" if quick else "10"
    command = [sys.executable, "-m", "latentdirs", "train-gan", "--out", str(run),
               *(GAN_QUICK_ARGS if quick else GAN_ARGS), "--device", device,
               "--max-minutes", str(minutes), "--snapshot-kimg", interval, "--sample-kimg", interval,
               "--quality-kimg", interval, "--quiet"]
    with open(out / "train_gan.log", "w") as log:
        run_logged(command, log, 60 * minutes + 120)
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        return
    with tarfile.open(out / "run.tgz", "w:gz") as tar:
        for path in [run / "config.json", metrics_path, *sorted((run / "samples").glob("*.png"))[-3:]]:
            tar.add(path, arcname=str(path.relative_to(run.parent)))
    snapshots = {json.loads(p.read_text()).get("provenance", {}).get("kimg"): p
                 for p in (run / "snapshots").glob("network-snapshot-*.json")}
    best = [k for k in snapshot_order(json.loads(metrics_path.read_text())) if k in snapshots][:keep]
    for kimg in best:
        path = snapshots[kimg]
        with tarfile.open(out / f"snapshot_{path.stem.rsplit('-', 1)[1]}.tgz", "w:gz") as tar:
            for part in (path, path.with_suffix(".safetensors")):
                tar.add(part, arcname=str(part.relative_to(run.parent)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    wheels = sub.add_parser("wheels", help="download the wheels the device lacks into .whl/ (run here)")
    wheels.add_argument("--dest", type=Path, default=ROOT / ".whl")
    checks = sub.add_parser("run", help="benchmarks + GPU generator training (run on the device)")
    checks.add_argument("--out", type=Path, required=True, help="the device tool's $OUT")
    checks.add_argument("--device", default="cuda")
    checks.add_argument("--train-minutes", type=float, default=5.0, help="0: no training")
    checks.add_argument("--no-bench", action="store_true", help="skip the benchmarks")
    checks.add_argument("--quick", action="store_true", help="the benchmarks' --quick and a tiny GAN")
    args = parser.parse_args()
    if args.what == "wheels":
        download_wheels(args.dest)
        return
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    environment(args.out)
    if not args.no_bench:
        benchmarks(args.out, args.device, args.quick)
    if args.train_minutes > 0:
        train(args.out, args.device, args.train_minutes, FILES_BACK - 4, args.quick)
    print(f"done in {time.perf_counter() - start:.0f} s:", ", ".join(sorted(p.name for p in args.out.iterdir())))


if __name__ == "__main__":
    main()
