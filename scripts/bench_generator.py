"""Images/s of latentdirs' StyleGAN2 generator (random weights) at 256² and 1024².

For each configuration and device: eager PyTorch, and ``torch.compile`` where it works (a failure is
caught and reported); on CUDA also the float16 blocks (``num_fp16_res=4``, the reference default) next
to forced fp32. Ratios are against eager fp32 on the same device and batch size, measured in this run.

    python scripts/bench_generator.py            # full: batches 1 and 4 on CPU, 1/8/32 on GPU
    python scripts/bench_generator.py --quick    # one batch size, few iterations, compile at 256² only on CPU

Configurations: 256² is stylegan2-ada-pytorch's ``paper256`` generator (channel_base 16384), 1024² the
StyleGAN2 config-f one (channel_base 32768); both z = w = 512, 8 mapping layers, conv_clamp 256.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentdirs.gan import Generator  # noqa: E402

CONFIGS = {
    256: dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, mapping_kwargs={"num_layers": 8},
              synthesis_kwargs={"channel_base": 16384, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}),
    1024: dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3, mapping_kwargs={"num_layers": 8},
               synthesis_kwargs={"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(fn, z: torch.Tensor, warmup: int, iters: int) -> float:
    device = z.device
    with torch.inference_mode():
        for _ in range(warmup):
            fn(z)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(iters):
            fn(z)
        synchronize(device)
    return z.shape[0] * iters / (time.perf_counter() - start)


def bench_device(device: torch.device, args: argparse.Namespace) -> list[tuple]:
    rows = []
    cuda = device.type == "cuda"
    batches = ([8] if args.quick else [1, 8, 32]) if cuda else ([1] if args.quick else [1, 4])
    warmup, iters = (1, 1) if args.quick else ((3, 20) if cuda else (1, 4))
    for res in args.resolutions:
        torch.manual_seed(0)
        G = Generator(**CONFIGS[res]).eval().requires_grad_(False).to(device)
        modes = {"eager fp32": lambda z, G=G: G(z, force_fp32=True)}
        if cuda:
            modes["eager fp16"] = lambda z, G=G: G(z, force_fp32=False)
        if not args.no_compile and (cuda or not args.quick or res == 256):
            compiled = torch.compile(G)
            modes["compile fp32"] = lambda z, c=compiled: c(z, force_fp32=True)
        for batch in batches:
            z = torch.randn(batch, 512, device=device, generator=torch.Generator(device).manual_seed(1))
            base = None
            for mode, fn in modes.items():
                try:
                    rate = images_per_second(fn, z, warmup, iters)
                except Exception as exc:  # torch.compile needs a working compiler toolchain
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
                    print(f"  {res}² {device.type} {mode} batch {batch}: failed ({type(exc).__name__}: {first})")
                    continue
                base = base or rate
                rows.append((res, device.type, mode, batch, rate, rate / base))
                print(f"  {res}² {device.type} {mode:13s} batch {batch:3d}: {rate:9.2f} img/s  "
                      f"({1000 / rate:8.1f} ms/img, x{rate / base:.2f} vs eager fp32)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one batch size, few iterations")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 1024], choices=sorted(CONFIGS))
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        sys.exit("no CUDA device available")
    print(f"torch {torch.__version__}, python {platform.python_version()}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))
    rows = []
    for device in devices:
        rows += bench_device(device, args)
    print("\n| resolution | device | mode | batch | img/s | vs eager fp32 |\n|---|---|---|---|---|---|")
    for res, dev, mode, batch, rate, ratio in rows:
        print(f"| {res}² | {dev} | {mode} | {batch} | {rate:.2f} | x{ratio:.2f} |")


if __name__ == "__main__":
    main()
