"""Cost of TopDis: persistent homology of one RTD, and a VAE training step with and without it.

1. PH of one symmetric min/max RTD (four R-cross matrices) between a batch of procedural dSprites
   images and the same batch with ``posX`` moved by a few pixels: ours (giotto-ph pairs, the four
   computations in concurrent worker processes, plus the differentiable readout) against the reference
   measured in the same run, a plain sequential ripser.py computation of the same four barcodes
   (values only, no pairs). The barcodes are checked equal. Also printed: exact vs official RTD.
2. Time per training step at batch 64 of β-VAE alone and β-VAE + ``topdis`` (same seed, data,
   model), and their ratio (goal on CPU: ≤ 1.5×). On CUDA too when available. Also the floor of any
   TopDis step: the plain step plus one decoder forward and backward of the shifted batch (7/8 of the
   batch on average: the shift drops the codes that would leave the quantile range), which the method
   cannot avoid; what lies above it is the RTD (PH and readout).

    python scripts/bench_topdis.py            # about a minute on a quiet CPU
    python scripts/bench_topdis.py --quick    # a few seconds of timing
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from ripser import ripser

from latentdirs.data import get_dataset
from latentdirs.topology import h1_pairs_many, r_cross_matrix, rtd
from latentdirs.topology.rtd import quantile_scale
from latentdirs.vae.config import TrainConfig
from latentdirs.vae.runs import RunDir
from latentdirs.vae.trainer import Trainer


def seconds_per_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Fastest of ``repeats`` timed calls (the least disturbed by other load; as ``timeit`` advises)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def shifted_batches(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = get_dataset("dsprites")
    factors = data.sample_factors(batch, np.random.RandomState(seed))
    posx = data.factor_names.index("posX")
    moved = factors.copy()
    moved[:, posx] = np.clip(moved[:, posx] + 4, 0, data.factor_sizes[posx] - 1)
    return data.observations_from_factors(factors), data.observations_from_factors(moved)


def r_cross_matrices(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The four R-cross matrices of a symmetric min/max RTD (0.9-quantile normalized)."""
    a = np.linalg.norm(x[:, None] - x[None], axis=-1)
    b = np.linalg.norm(y[:, None] - y[None], axis=-1)
    a, b = a / quantile_scale(a, 0.9), b / quantile_scale(b, 0.9)
    return [r_cross_matrix(a, b, "min"), r_cross_matrix(a, b, "max"), r_cross_matrix(b, a, "min"),
            r_cross_matrix(b, a, "max")]


def bench_ph(batch: int, repeats: int, seed: int) -> None:
    images, moved = shifted_batches(batch, seed)
    x = torch.from_numpy(images.reshape(batch, -1)).double()
    y = torch.from_numpy(moved.reshape(batch, -1)).double()
    matrices = r_cross_matrices(x.numpy(), y.numpy())

    ours = h1_pairs_many(matrices)
    reference = [ripser(m, distance_matrix=True, maxdim=1)["dgms"][1] for m in matrices]
    for pairs, bars in zip(ours, reference, strict=True):
        bars = bars[bars[:, 1] > bars[:, 0]]
        assert np.allclose(np.sort(pairs.lengths), np.sort(bars[:, 1] - bars[:, 0]), atol=1e-6), "barcodes differ"

    t_ripser = seconds_per_call(lambda: [ripser(m, distance_matrix=True, maxdim=1) for m in matrices], repeats)
    t_seq = seconds_per_call(lambda: h1_pairs_many(matrices, workers=1), repeats)
    t_par = seconds_per_call(lambda: h1_pairs_many(matrices, workers=4), repeats)
    xg = x.clone().requires_grad_(True)
    t_rtd = seconds_per_call(lambda: rtd(xg, y).backward(), repeats)
    exact, official = rtd(x, y).item(), rtd(x, y, variant="official").item()
    bars = sum(len(p) for p in ours)
    print(f"\n[PH] batch {batch} (R-cross {2 * batch}x{2 * batch}), 4 barcodes, {bars} H1 bars, best of {repeats}")
    print(f"  ripser.py, sequential (reference)    {1e3 * t_ripser:8.1f} ms   1.00x")
    print(f"  ours, giotto-ph pairs, 1 process      {1e3 * t_seq:8.1f} ms   {t_seq / t_ripser:.2f}x")
    print(f"  ours, giotto-ph pairs, 4 processes    {1e3 * t_par:8.1f} ms   {t_par / t_ripser:.2f}x")
    print(f"  ours, full rtd() + backward          {1e3 * t_rtd:8.1f} ms   {t_rtd / t_ripser:.2f}x")
    print(f"  RTD exact {exact:.4f}, official {official:.4f} (official/exact {official / exact:.3f})")


def decoder_pass(trainer: Trainer, codes: int, device: str) -> Callable[[int], None]:
    """One decoder forward and backward on ``codes`` latent codes (the extra work of a TopDis step)."""
    z = torch.randn(codes, trainer.model.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)

    def run(_step: int) -> None:
        torch.sigmoid(trainer.model.decode(z)).sum().backward()
        trainer.model.zero_grad(set_to_none=True)

    return run


def bench_step(device: str, batch: int, repeats: int, seed: int) -> None:
    """Steps of the two trainers (and the decoder pass) alternate, so that load from elsewhere hits all alike."""
    specs = {"beta-vae": [], "beta-vae + topdis": ["topdis:gamma=5,delay=0"]}  # on from the first step
    times: dict[str, list[float]] = {label: [] for label in [*specs, "decoder pass"]}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {}
        for label, regs in specs.items():
            config = TrainConfig.from_dict(dict(
                dataset="dsprites", objective={"name": "beta-vae", "beta": 4.0}, regularizers=regs,
                steps=10**6, batch_size=batch, seed=seed, device=device, checkpoint_every=10**6))
            trainers[label] = Trainer(config, RunDir(os.path.join(tmp, label)), progress=False, echo=lambda _: None)
        shifted = round(batch * 7 / 8)
        work = {label: trainer.train_step for label, trainer in trainers.items()}
        work["decoder pass"] = decoder_pass(trainers["beta-vae"], shifted, device)
        for step in range(repeats + 2):
            for label, run in work.items():
                start = time.perf_counter()
                run(step)
                if device != "cpu":
                    torch.cuda.synchronize()
                if step >= 2:  # two warm-up steps
                    times[label].append(time.perf_counter() - start)
    base, top, floor = (min(times[label]) for label in ("beta-vae", "beta-vae + topdis", "decoder pass"))
    print(f"\n[train step] {device}, batch {batch}, best of {repeats} alternating steps")
    print(f"  beta-vae (reference)     {1e3 * base:8.1f} ms   1.00x")
    print(f"  beta-vae + topdis        {1e3 * top:8.1f} ms   {top / base:.2f}x   (goal on CPU: <= 1.5x)")
    print(f"  floor: reference + one decoder pass on {shifted} shifted codes  {1e3 * (base + floor):8.1f} ms   "
          f"{(base + floor) / base:.2f}x   (the RTD is the rest: {1e3 * (top - base - floor):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    repeats = 3 if args.quick else 15
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}")
    bench_ph(args.batch, repeats, args.seed)
    bench_step("cpu", args.batch, repeats, args.seed)
    if torch.cuda.is_available():
        bench_step("cuda", args.batch, repeats, args.seed)


if __name__ == "__main__":
    main()
