"""Images per second of ``train-vae`` in one process and under ``torchrun`` with 2 gloo processes (one thread each),
and the wall time of a tiny ``study run`` with 1 and 2 workers (the local executor).

Runs the real command (β-VAE, procedural dSprites) for ``--steps`` steps at the global ``--batch-size``: once as a
plain process, once as ``torchrun --standalone --nproc_per_node N`` for each N of ``--processes``, alternating
``--repeats`` times, and reads each run's training-loop time from its ``summary.json`` (``train_seconds``:
sampling, rendering, the steps, logging; not the start-up). Prints images/s (median over repeats), the ratio to one
process, the machine, and the load average before and after each run (the machine may be shared: a load above
its core count means the processes waited for a core; then N processes also get a larger share of the machine
than one, which flatters the ratio), and the CPU seconds the whole command used (start-up included).

The study (``--study-steps``): 2 settings (β-VAE β = 1, 4) × 2 seeds of ``train-vae`` at batch 64, each cell
evaluated with MIG, run from scratch by ``latentdirs study run --workers W`` for W = 1 and 2, alternating
``--repeats`` times; its wall time (start-ups, runs and evaluations: what a user waits for) and the ratio
1 worker / 2 workers.

Usage: python scripts/bench_scale.py [--quick] [--steps N] [--batch-size B] [--processes 2] [--repeats R]
                                     [--study-steps N] [--parts train,study]
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
import time
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


def bench_train(steps: int, repeats: int, batch_size: int, processes: str) -> None:
    counts = [1, *(int(n) for n in processes.split(","))]
    print(f"train-vae β-VAE, global batch {batch_size}, {steps} steps, one torch thread per process")
    rates: dict[int, list[float]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for n in counts:
                before = os.getloadavg()[0]
                rate, cpu = train(n, steps, batch_size, Path(tmp) / f"run_{n}_{repeat}")
                after = os.getloadavg()[0]
                rates[n].append(rate)
                print(f"  {n} process{'es' if n > 1 else ''}: {rate:7.1f} images/s, {cpu:5.1f} CPU s in all  "
                      f"(load average {before:.2f} → {after:.2f})", flush=True)
    base = statistics.median(rates[1])
    print("median images/s, ratio to one process:")
    for n in counts:
        rate = statistics.median(rates[n])
        print(f"  {n}: {rate:7.1f}  {rate / base:.2f}×")


def study_spec(folder: Path, steps: int) -> Path:
    """The tiny study: 2 settings × 2 seeds of ``train-vae`` (batch 64, ``steps`` steps), each evaluated with MIG."""
    spec = {"name": "bench", "command": "train-vae",
            "options": {"steps": steps, "batch-size": 64, "checkpoint-every": steps, "log-every": steps,
                        "device": "cpu"},
            "settings": {"beta1": {}, "beta4": {"objective": "beta-vae:beta=4"}}, "seeds": [0, 1],
            "baseline": "beta1", "evaluate": {"metrics": "mig", "num-train": 1000, "num-test": 500, "device": "cpu"}}
    path = folder / "bench_study.json"
    path.write_text(json.dumps(spec))
    return path


def run_study(spec: Path, workers: int, out: Path) -> tuple[float, float]:
    """Wall seconds of ``study run --workers workers`` from scratch, and the CPU seconds of it and its runs."""
    command = [sys.executable, "-m", "latentdirs", "study", "run", str(spec), "--out", str(out), "--workers",
               str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def bench_study(steps: int, repeats: int) -> None:
    print(f"study: 2 settings × 2 seeds of train-vae (β-VAE, batch 64, {steps} steps), each evaluated with MIG; "
          "local executor, one torch thread per run")
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        spec = study_spec(Path(tmp), steps)
        for repeat in range(repeats):
            for workers in times:
                before = os.getloadavg()[0]
                seconds, cpu = run_study(spec, workers, Path(tmp) / f"study_{workers}_{repeat}")
                after = os.getloadavg()[0]
                times[workers].append(seconds)
                print(f"  {workers} worker{'s' if workers > 1 else ''}: {seconds:6.1f} s wall, {cpu:6.1f} CPU s "
                      f"in all  (load average {before:.2f} → {after:.2f})", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"median study wall time: 1 worker {one:.1f} s, 2 workers {two:.1f} s; "
          f"1 worker / 2 workers: {one / two:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 steps, one repeat")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--processes", default="2", help="comma-separated process counts besides 1")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--study-steps", type=int, default=40, help="train-vae steps of each study cell")
    parser.add_argument("--parts", default="train,study", help="what to measure: train, study or both")
    args = parser.parse_args()
    steps, repeats = (20, 1) if args.quick else (args.steps, args.repeats)
    study_steps = 10 if args.quick else args.study_steps
    parts = set(args.parts.split(","))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPU cores visible")
    if "train" in parts:
        bench_train(steps, repeats, args.batch_size, args.processes)
    if "study" in parts:
        bench_study(study_steps, repeats)


if __name__ == "__main__":
    main()
