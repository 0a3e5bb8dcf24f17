"""Images per second of a β-VAE training step (forward + backward + Adam) at batch 64.

For each device (CPU, and CUDA when available) it times, on procedural dSprites:
  forward    encoder + decoder without gradients (the reference the others are divided by)
  step       forward, Bernoulli reconstruction + β·KL, backward, Adam step on a fixed batch, with the
             model laid out as the trainer places it (channels-last weights on the CPU) and, for the
             ratio, with plain contiguous weights
  trainer    the trainer's full step: sampling and rendering the batch, the loss context, logging
and prints the machine it ran on. Usage: python scripts/bench_train.py [--quick] [--device cpu|cuda|all] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from latentdirs.data import get_dataset
from latentdirs.losses import LossContext, build
from latentdirs.vae import VAE, bernoulli_reconstruction, reparameterize
from latentdirs.vae.config import TrainConfig
from latentdirs.vae.machine import describe_machine
from latentdirs.vae.runs import RunDir, place_model
from latentdirs.vae.trainer import Trainer


def timed(fn: Callable[[], None], repeats: int, warmup: int, device: torch.device) -> float:
    """Median seconds per call of ``fn``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_device(device: torch.device, batch: int, repeats: int, warmup: int) -> dict[str, float]:
    torch.manual_seed(0)
    dataset = get_dataset("dsprites")
    x = torch.from_numpy(dataset.sample_observations(batch, np.random.RandomState(0))).to(device)
    model = place_model(VAE.build(10, 1), device)
    contiguous = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    objective = build("beta-vae:beta=4").to(device)
    noise = torch.Generator(device=device).manual_seed(0)

    @torch.no_grad()
    def forward() -> None:
        model.decoder(model.encoder(x)[0])

    def step_of(vae: VAE) -> Callable[[], None]:
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-4)

        def step() -> None:
            mu, logvar = vae.encoder(x)
            logits = vae.decoder(reparameterize(mu, logvar, noise))
            ctx = LossContext(mu=mu, logvar=logvar, recon=bernoulli_reconstruction(logits, x))
            optimizer.zero_grad(set_to_none=True)
            objective(ctx)["loss"].backward()
            optimizer.step()

        return step

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig.from_dict({"objective": "beta-vae:beta=4", "batch_size": batch, "device": str(device)})
        trainer = Trainer(config, RunDir(tmp), dataset=dataset, progress=False)
        counter = iter(range(10**9))
        seconds = {
            "forward": timed(forward, repeats, warmup, device),
            "step": timed(step_of(model), repeats, warmup, device),
            "step_contiguous": timed(step_of(contiguous), repeats, warmup, device),
            "trainer": timed(lambda: trainer.train_step(next(counter)), repeats, warmup, device),
        }
    return {name: batch / s for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (a rough number in seconds)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats, warmup = (3, 1) if args.quick else (20, 3)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        elif args.device == "cuda":
            raise SystemExit("error: --device cuda but no CUDA device is available")
    print(f"machine: {describe_machine()}")
    print(f"batch {args.batch_size}, median of {repeats} timed calls after {warmup} warm-up")
    results = {}
    for device in devices:
        rates = bench_device(device, args.batch_size, repeats, warmup)
        results[device.type] = rates
        print(f"{device.type:>4}: forward {rates['forward']:9.1f} img/s | step {rates['step']:9.1f} img/s "
              f"({rates['step'] / rates['forward']:.2f}× forward; {rates['step'] / rates['step_contiguous']:.2f}× "
              f"the contiguous layout) | trainer {rates['trainer']:9.1f} img/s "
              f"({rates['trainer'] / rates['step']:.2f}× step)")
    if "cuda" in results and "cpu" in results:
        print(f"cuda/cpu: step {results['cuda']['step'] / results['cpu']['step']:.1f}×, "
              f"trainer {results['cuda']['trainer'] / results['cpu']['trainer']:.1f}×")


if __name__ == "__main__":
    main()
