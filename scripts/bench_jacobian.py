"""Benchmark: cost of the Jacobian L1 penalty in a VAE training step, as ratios to the plain step.

One step = encode a batch, sample z, decode, Bernoulli reconstruction + KL, backward, Adam update, with the
disentanglement_lib encoder/decoder of ``latentdirs.vae.models`` (64×64×1, D latents). Variants add γ·JL1
computed by: ``exact`` (vmapped forward-mode JVPs), ``exact k=3`` (3 random latents, scaled), the paper's
``finite differences`` (one decoder call on (D+1)·B inputs), and a ``naive loop`` of D reverse-over-reverse
JVPs (``torch.autograd.functional.jvp`` with create_graph), the straightforward autograd implementation.
Printed: median step time and its ratio to the plain step measured in the same run (goal: exact ≤ 4×); the
variants alternate within each timed round, so that other load on the machine hits them alike.

Examples:
    python scripts/bench_jacobian.py --quick
    python scripts/bench_jacobian.py --batch-size 64 --device cuda
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from _timing import alternating

from latentdirs.losses.jacobian import jacobian_l1
from latentdirs.vae.models import VAE, reparameterize
from latentdirs.vae.runs import place_model


def naive_jacobian_l1(picture: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    total = z.new_zeros(())
    for i in range(z.shape[1]):
        tangent = torch.zeros_like(z)
        tangent[:, i] = 1.0
        _, column = torch.autograd.functional.jvp(picture, z, tangent, create_graph=True)
        total = total + column.abs().sum()
    return total / z.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (median), after 2 warm-up rounds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="batch 16, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.batch_size, args.repeats = 16, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = place_model(VAE.build(args.latent_dim, 1), device)  # as the trainer places it (channels-last on CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = (torch.rand(args.batch_size, 1, 64, 64, device=device) > 0.8).float()
    noise = torch.Generator(device=device).manual_seed(0)
    subset_rng = torch.Generator(device=device).manual_seed(1)

    def picture(codes: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model.decoder(codes))

    penalties: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
        "plain": None,
        "exact (JVP)": lambda z: jacobian_l1(picture, z, "exact"),
        "exact k=3": lambda z: jacobian_l1(picture, z, "exact", subset=3, generator=subset_rng),
        "finite differences": lambda z: jacobian_l1(picture, z, "finite_difference"),
        "naive autograd loop": lambda z: naive_jacobian_l1(picture, z),
    }

    def step(penalty: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        mu, logvar = model.encoder(x)
        z = reparameterize(mu, logvar, noise)
        logits = model.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()
        loss = recon + kl
        if penalty is not None:
            loss = loss + 0.1 * penalty(z.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, latents {args.latent_dim}")
    measured = alternating({name: (partial(step, penalty), sync) for name, penalty in penalties.items()},
                           args.repeats, warmup=2)
    times = {name: seconds for name, (seconds, _) in measured.items()}
    for name, seconds in times.items():
        print(f"{name:<22} {1000 * seconds:>9.1f} ms   {seconds / times['plain']:>6.2f}× plain")


if __name__ == "__main__":
    main()
