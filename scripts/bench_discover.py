"""Direction discovery speed: training steps/s per method, against a plain render step.

For a StyleGAN2 generator with random weights, each learned method (``reconstructor``, ``topdis``,
``gmg``) runs full training steps of ``latentdirs discover`` (batch 32 by default). The reference,
measured in the same run, is the unavoidable part of every shift-based step: render ``G(w)`` and
``G(w + δ)`` and backpropagate into ``δ`` (``ratio`` = method step time / reference step time).
Closed-form methods (``ganspace``, ``sefa``) are timed once per call. Methods whose kernels are not
installed are reported as unavailable. CPU always; CUDA too when available.

    python scripts/bench_discover.py            # 64×64 generator, w_dim 256
    python scripts/bench_discover.py --quick    # 32×32 generator, w_dim 64, fewer steps
"""

from __future__ import annotations

import argparse
import platform
import time
from functools import partial

import torch

from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.spaces import LatentSpace, SpaceRenderer
from latentdirs.directions.trainer import DirectionTrainer, DiscoveryConfig, discover_closed_form
from latentdirs.errors import UserError
from latentdirs.gan import Generator

LEARNED = ("reconstructor", "topdis", "gmg")
CLOSED_FORM = ("ganspace", "sefa")


def make_generator(quick: bool) -> Generator:
    torch.manual_seed(0)
    if quick:
        return Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3,
                         mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 2048, "channel_max": 64})
    return Generator(z_dim=256, c_dim=0, w_dim=256, img_resolution=64, img_channels=3,
                     mapping_kwargs={"num_layers": 4}, synthesis_kwargs={"channel_base": 8192, "channel_max": 256})


def timed(step, repeats: int, device: torch.device) -> float:
    """Seconds per call of ``step`` (after one warm-up call)."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def reference_step(handle: GeneratorHandle, batch: int, generator: torch.Generator):
    renderer = SpaceRenderer(handle, LatentSpace("w"))

    def step() -> None:
        codes = renderer.sample(batch, generator)
        with torch.no_grad():
            renderer.render(codes)
        delta = torch.randn(batch, renderer.dim, generator=generator, device=generator.device).to(handle.device)
        delta.requires_grad_(True)
        renderer.render(codes, delta).square().mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small generator, fewer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per method (default 5, quick 3)")
    parser.add_argument("--num-directions", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.steps or (3 if args.quick else 5)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"latentdirs bench_discover: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, batch {args.batch_size}, K={args.num_directions}")
    for device in devices:
        handle = GeneratorHandle(make_generator(args.quick), device=device)
        c, res, _ = handle.image_shape
        print(f"\n[{device}] generator {res}x{res}x{c}, w_dim {handle.w_dim}, num_ws {handle.num_ws}")
        reference = timed(reference_step(handle, args.batch_size, torch.Generator(device).manual_seed(0)), repeats,
                          device)
        print(f"{'method':<16}{'s/step':>10}{'steps/s':>10}{'ratio':>8}")
        print(f"{'reference':<16}{reference:>10.4f}{1 / reference:>10.2f}{1.0:>8.2f}")
        for method in LEARNED:
            config = DiscoveryConfig(method=method, num_directions=args.num_directions, batch_size=args.batch_size,
                                     steps=repeats + 1, stats_samples=256)
            try:
                seconds = timed(DirectionTrainer(handle, config).train_step, repeats, device)
            except (UserError, ImportError) as exc:
                print(f"{method:<16}{'unavailable':>10}  ({str(exc).splitlines()[0][:80]})")
                continue
            print(f"{method:<16}{seconds:>10.4f}{1 / seconds:>10.2f}{seconds / reference:>8.2f}")
        for method in CLOSED_FORM:
            config = DiscoveryConfig(method=method, num_directions=args.num_directions, pca_samples=4096,
                                     stats_samples=1024)
            seconds = timed(partial(discover_closed_form, handle, config), 1, device)
            print(f"{method:<16}{seconds:>10.4f}{'(once)':>10}{seconds / reference:>8.2f}")


if __name__ == "__main__":
    main()
