"""Images per second of ``train-vae`` in one process and under ``torchrun`` with 2 gloo processes (one thread each).

Runs the real command (β-VAE, procedural dSprites) for ``--steps`` steps at the global ``--batch-size``: once as a
plain process, once as ``torchrun --standalone --nproc_per_node N`` for each N of ``--processes``, alternating
``--repeats`` times, and reads each run's training-loop time from its ``summary.json`` (``train_seconds``:
sampling, rendering, the steps, logging; not the start-up). Prints images/s (median over repeats), the ratio to one
process, the machine, and the load average before and after each run (the machine may be shared: a load above
its core count means the processes waited for a core; then N processes also get a larger share of the machine
than one, which flatters the ratio), and the CPU seconds the whole command used (start-up included).

Usage: python scripts/bench_scale.py [--quick] [--steps N] [--batch-size B] [--processes 2] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from latentdirs.vae.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def train(processes: int, steps: int, batch: int, out: Path) -> tuple[float, float]:
    """Images per second of one ``train-vae`` run with ``processes`` processes, and the CPU seconds it used."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    command = [*launcher, "-m", "latentdirs", "--threads", "1", "train-vae", "--steps", str(steps), "--batch-size",
               str(batch), "--log-every", str(steps), "--checkpoint-every", str(steps), "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # torchrun waits for its processes: they count too
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return steps * batch / summary["train_seconds"], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 steps, one repeat")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--processes", default="2", help="comma-separated process counts besides 1")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    steps, repeats = (20, 1) if args.quick else (args.steps, args.repeats)
    counts = [1, *(int(n) for n in args.processes.split(","))]
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPU cores visible; train-vae β-VAE, global batch "
          f"{args.batch_size}, {steps} steps, one torch thread per process")
    rates: dict[int, list[float]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for n in counts:
                before = os.getloadavg()[0]
                rate, cpu = train(n, steps, args.batch_size, Path(tmp) / f"run_{n}_{repeat}")
                after = os.getloadavg()[0]
                rates[n].append(rate)
                print(f"  {n} process{'es' if n > 1 else ''}: {rate:7.1f} images/s, {cpu:5.1f} CPU s in all  "
                      f"(load average {before:.2f} → {after:.2f})", flush=True)
    base = statistics.median(rates[1])
    print("median images/s, ratio to one process:")
    for n in counts:
        rate = statistics.median(rates[n])
        print(f"  {n}: {rate:7.1f}  {rate / base:.2f}×")


if __name__ == "__main__":
    main()
