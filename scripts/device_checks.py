"""GPU figures and a GPU-trained dSprites generator in one call of the device tool.

A ``train-gan`` sweep on the GPU first (the generator is what #8 lacks), then the benchmarks' CUDA rows
(TopDis step, entropic GW vs POT, Jacobian L1), all within one deadline that fits one device command (at most
10 minutes) and the output it may send back (at most 8 files, each under 16 MiB). The sweep trains
:data:`GAN_RUNS` concurrently, one process each: the network is small, so one process keeps the GPU mostly
waiting for kernel launches, and several seeds in the same minutes raise the odds that one of them meets
the target (on CPU this family varied widely from seed to seed). Two steps:

1. Here, once: ``python scripts/device_checks.py wheels`` downloads the dependencies the device image lacks
   (POT, giotto-ph, ripser, persim, lpips, …) as CPython 3.12 wheels into ``.whl/`` (git-ignored).
2. On the device (the tool's ``run``, carrying ``.whl``; ``timeout_s`` a little above ``--deadline-s``)::

       python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
       PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 python3 scripts/device_checks.py run --out $OUT

   ``$OUT`` receives ``env.txt``, ``train_gan.log`` (every run's log), ``runs.tgz`` (each run's config,
   metrics and last sample grids), ``snapshot_<run>_<kimg>.tgz`` for the best snapshots of all runs by the
   quality signal logged during training (shape proportions within 10 points of 1/3 first, then mean IoU) and
   ``bench.txt`` (all three benchmarks, in the time left). Unpacked into one folder (``tar xzf`` each), every
   run is a directory ``<run>/`` for ``scripts/bundle_pretrained.py --run <run> --train-hardware …``.

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
#: The sweep: a generator of a few MB (channels 128 at 64×64) at the rates of the bundled CPU run's family, the
#: discriminator at half the channel base (on CPU, G and D both doubled collapsed twice; G doubled alone did
#: not), three seeds: on CPU this family's runs differed more from seed to seed than from setting to setting.
#: StyleGAN2-ADA's automatic 64 px settings (batch 32, both rates 0.002, γ ≈ 0.025) are not in it: on CPU
#: (run Q, bundled sizes) they gave blank images from 20 kimg on, with one brief recovery at 40 kimg.
_FAMILY = ("--dataset", "dsprites", "--resolution", "64", "--channel-base", "8192", "--channel-max", "128",
           "--d-channel-base", "4096", "--batch", "64", "--style-mixing", "0", "--gamma", "0.1", "--g-lr", "0.0025",
           "--d-lr", "0.001", "--kimg", "100000")
GAN_RUNS = {f"base_s{seed}": (*_FAMILY, "--seed", str(seed)) for seed in (1, 2, 3)}
#: ``--quick``: tiny networks, to check the script without a GPU
_TINY = ("--dataset", "dsprites", "--resolution", "64", "--channel-base", "256", "--channel-max", "16",
         "--batch", "8", "--style-mixing", "0", "--kimg", "100000")
GAN_QUICK_RUNS = {f"tiny_s{seed}": (*_TINY, "--seed", str(seed)) for seed in (1, 2)}
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
    """Run ``command`` from the repository root, its output appended to ``log``, stopped as :func:`_finish` says."""
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    _finish(_start(command, log), log, timeout_s)


def run_concurrently(commands: dict[str, list[str]], logs: Path, timeout_s: float) -> None:
    """Start every command at once from the repository root (output in ``logs/<name>.log``) and wait for all;
    each is stopped as :func:`_finish` says, ``timeout_s`` after the start."""
    running = []
    for name, command in commands.items():
        log = open(logs / f"{name}.log", "w")
        running.append((_start(command, log), log))
    deadline = time.monotonic() + timeout_s
    for process, log in running:
        _finish(process, log, deadline - time.monotonic())
        log.close()


def _start(command: list[str], log) -> subprocess.Popen:
    """``command`` from the repository root, output to ``log``, with SIGINT at its default action: a shell that
    starts this script in the background makes it ignore SIGINT, and its children would inherit that, so the
    graceful stop of :func:`_finish` would do nothing."""
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _finish(process: subprocess.Popen, log, timeout_s: float) -> None:
    """Wait for ``process``; past ``timeout_s`` it gets SIGINT (latentdirs' training commands then save what they
    have, as on Ctrl-C), 60 s later SIGKILL."""
    try:
        process.wait(timeout=max(timeout_s, 0.0))
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


#: the benchmarks and their shares of the time left after training
BENCHMARKS = (("bench_topdis.py", 0.4), ("bench_gmg.py", 0.4), ("bench_jacobian.py", 0.2))
MIN_BENCH_S = 60.0


def benchmarks(out: Path, device: str, quick: bool, seconds: float) -> None:
    """The three benchmarks one after another (each alone on the machine), sharing ``seconds``."""
    options = {"bench_topdis.py": [], "bench_jacobian.py": ["--device", device],
               "bench_gmg.py": [] if quick else ["--sizes", "64", "128", "256", "512"]}
    with open(out / "bench.txt", "w") as log:
        if seconds < MIN_BENCH_S:
            log.write(f"benchmarks skipped: {seconds:.0f} s left before the deadline\n")
            return
        for script, share in BENCHMARKS:
            command = [sys.executable, f"scripts/{script}", *options[script], *(["--quick"] if quick else [])]
            run_logged(command, log, share * seconds - 5)


def ranked_snapshots(metrics: dict[str, list[dict]]) -> list[tuple[str, float]]:
    """``(run, kimg)`` of every logged quality record of the runs, best first: shapes within 10 points of 1/3,
    then mean IoU."""
    from latentdirs.factors import shapes_balanced

    scored = [(shapes_balanced(record["quality"]), record["quality"]["mean"], run, record["kimg"])
              for run, records in metrics.items() for record in records if record.get("quality")]
    return [(run, kimg) for *_, run, kimg in sorted(scored, reverse=True)]


def train(out: Path, device: str, minutes: float, keep: int, quick: bool) -> None:
    """The :data:`GAN_RUNS` sweep (``--quick``: :data:`GAN_QUICK_RUNS`), concurrently, for ``minutes`` each."""
    runs = GAN_QUICK_RUNS if quick else GAN_RUNS
    interval = "0.2" if quick else "10"
    threads = max(1, (os.cpu_count() or 1) // (2 * len(runs)))
    with tempfile.TemporaryDirectory(prefix="device_checks_") as tmp:
        root = Path(tmp)
        commands = {name: [sys.executable, "-m", "latentdirs", "train-gan", "--out", str(root / name), *args,
                           "--device", device, "--threads", str(threads), "--max-minutes", str(minutes),
                           "--snapshot-kimg", interval, "--sample-kimg", interval, "--quality-kimg", interval,
                           "--quiet"]
                    for name, args in runs.items()}
        run_concurrently(commands, root, 60 * minutes + 90)
        with open(out / "train_gan.log", "w") as log:
            for name, command in commands.items():
                log.write(f"\n$ {' '.join(command)}\n{(root / f'{name}.log').read_text()}")
        _pack(root, list(runs), out, keep)


def _pack(root: Path, names: list[str], out: Path, keep: int) -> None:
    """``runs.tgz`` (configs, metrics, last sample grids) and the ``keep`` best snapshots of all runs."""
    metrics = {name: json.loads((root / name / "metrics.json").read_text()) for name in names
               if (root / name / "metrics.json").is_file()}
    if not metrics:
        return
    with tarfile.open(out / "runs.tgz", "w:gz") as tar:
        for name in metrics:
            run = root / name
            for path in [run / "config.json", run / "metrics.json", *sorted((run / "samples").glob("*.png"))[-3:]]:
                tar.add(path, arcname=str(path.relative_to(root)))
    snapshots = {(name, json.loads(p.read_text()).get("provenance", {}).get("kimg")): p
                 for name in metrics for p in (root / name / "snapshots").glob("network-snapshot-*.json")}
    best = [key for key in ranked_snapshots(metrics) if key in snapshots][:keep]
    for name, kimg in best:
        path = snapshots[name, kimg]
        with tarfile.open(out / f"snapshot_{name}_{path.stem.rsplit('-', 1)[1]}.tgz", "w:gz") as tar:
            for part in (path, path.with_suffix(".safetensors")):
                tar.add(part, arcname=str(part.relative_to(root)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    wheels = sub.add_parser("wheels", help="download the wheels the device lacks into .whl/ (run here)")
    wheels.add_argument("--dest", type=Path, default=ROOT / ".whl")
    checks = sub.add_parser("run", help="benchmarks + GPU generator training (run on the device)")
    checks.add_argument("--out", type=Path, required=True, help="the device tool's $OUT")
    checks.add_argument("--device", default="cuda")
    checks.add_argument("--train-minutes", type=float, default=5.0, help="minutes each GAN run trains; 0: none")
    checks.add_argument("--deadline-s", type=float, default=540.0,
                        help="seconds from the start by which the benchmarks (run after training) must end")
    checks.add_argument("--no-bench", action="store_true", help="skip the benchmarks")
    checks.add_argument("--quick", action="store_true", help="the benchmarks' --quick and two tiny GANs")
    args = parser.parse_args()
    if args.what == "wheels":
        download_wheels(args.dest)
        return
    start = time.perf_counter()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        checks.error(f"--out {args.out}: cannot create it ({exc.strerror})")
    environment(args.out)
    if args.train_minutes > 0:
        train(args.out, args.device, args.train_minutes, FILES_BACK - 4, args.quick)
    if not args.no_bench:
        benchmarks(args.out, args.device, args.quick, args.deadline_s - (time.perf_counter() - start))
    print(f"done in {time.perf_counter() - start:.0f} s:", ", ".join(sorted(p.name for p in args.out.iterdir())))


if __name__ == "__main__":
    main()
