"""How far the exact JL1 gradient is from the paper's finite-difference one, on the disentanglement_lib decoder.

For a freshly initialised decoder (``latentdirs.vae.models.Decoder``, 10 latents, float64) and batches of codes
z ~ N(0, I), the gradient with respect to the decoder's weights of JL1 = (1/B) Σ |∂ sigmoid(decode(z)) / ∂z|
computed two ways: ``exact`` (forward-mode JVPs) and ``finite_difference`` (Rhodes & Lee's forward differences
with step h). Printed per h: the cosine between the two gradients and their norms, for the gradients summed over
the batches (one decoder, as in a run) and the mean over single batches; and the same with every ReLU replaced
by a Softplus, where both are gradients of (nearly) the same smooth function.

    python scripts/compare_jl1_gradients.py               # 8 batches of 64, h = 1e-3 and 1e-4 (minutes on a CPU)
    python scripts/compare_jl1_gradients.py --batches 2 --batch-size 8
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from latentdirs.losses.jacobian import jacobian_l1
from latentdirs.vae.models import Decoder


def smooth_copy(decoder: Decoder) -> nn.Module:
    """The same weights with Softplus in place of every ReLU."""

    class Smooth(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = decoder
            self.deconvs = nn.Sequential(*[nn.Softplus() if isinstance(m, nn.ReLU) else m for m in decoder.deconvs])

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            act = nn.functional.softplus
            hidden = act(self.inner.fc_hidden(act(self.inner.fc_in(z))))
            return self.deconvs(hidden.view(-1, 64, 4, 4))

    return Smooth()


def gradient(decoder: nn.Module, z: torch.Tensor, method: str, step: float) -> torch.Tensor:
    value = jacobian_l1(lambda codes: torch.sigmoid(decoder(codes)), z, method, step=step)
    return torch.cat([g.flatten() for g in torch.autograd.grad(value, list(decoder.parameters()))])


def compare(decoder: nn.Module, batches: list[torch.Tensor], steps: tuple[float, ...], label: str) -> None:
    exact = [gradient(decoder, z, "exact", 0.0) for z in batches]
    exact_sum = torch.stack(exact).sum(0)
    for step in steps:
        fd = [gradient(decoder, z, "finite_difference", step) for z in batches]
        fd_sum = torch.stack(fd).sum(0)
        cos_sum = nn.functional.cosine_similarity(exact_sum, fd_sum, dim=0).item()
        per_batch = torch.tensor([nn.functional.cosine_similarity(e, f, dim=0).item()
                                  for e, f in zip(exact, fd, strict=True)])
        print(f"  {label:8s} h={step:g}: summed over {len(batches)} batches cos {cos_sum:.3f}, |exact| "
              f"{exact_sum.norm():.1f}, |fd| {fd_sum.norm():.1f} (ratio {exact_sum.norm() / fd_sum.norm():.3f}); "
              f"single batches cos {per_batch.mean():.3f} ({per_batch.min():.3f}-{per_batch.max():.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    decoder = Decoder(10).double()
    generator = torch.Generator().manual_seed(args.seed + 1)
    batches = [torch.randn(args.batch_size, 10, dtype=torch.float64, generator=generator) for _ in range(args.batches)]
    print(f"dlib decoder (seed {args.seed}, float64), {args.batches} batches of {args.batch_size} codes z ~ N(0, I)")
    compare(decoder, batches, (1e-3, 1e-4), "ReLU")
    compare(smooth_copy(decoder), batches, (1e-3,), "Softplus")


if __name__ == "__main__":
    main()
