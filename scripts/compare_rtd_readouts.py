"""How much lower the exact RTD read-out is than the released code's (``variant="official"``).

Two kinds of clouds, each pair compared with the symmetric min/max RTD (card 50, p = 1, 0.9-quantile scaling):

1. random: 56 points in 300 dimensions, x ~ N(0, I) and y = x + σ·N(0, I) for σ = 0.2, 0.5, and y independent;
2. the VAE ``topdis`` term's clouds: dSprites batches of 64 encoded and sampled, one latent (picked with the
   decoder-norm sampler) shifted by C = 1/8 in quantile space, both batches decoded to sigmoid pictures (the
   kept 53–59 points in 4096 dimensions), with the bundled TopDis VAE and with a freshly initialised one.

Printed: exact/official, its mean and range over the pairs (official ≥ exact always).

    python scripts/compare_rtd_readouts.py              # 10 random pairs per σ, 20 batches per VAE (a minute)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np
import torch

from latentdirs.data import get_dataset
from latentdirs.pretrained import bundled_path
from latentdirs.topology import rtd, shift_latents
from latentdirs.vae.models import VAE, reparameterize
from latentdirs.vae.runs import load_trained


def random_clouds(noise: float | None, pairs: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for seed in range(pairs):
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(56, 300, generator=generator, dtype=torch.float64)
        y = torch.randn(56, 300, generator=generator, dtype=torch.float64)
        yield x, (y if noise is None else x + noise * y)


@torch.no_grad()
def vae_clouds(model: VAE, batches: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    data = get_dataset("dsprites")
    random_state, generator = np.random.RandomState(0), torch.Generator().manual_seed(0)
    for _ in range(batches):
        mu, logvar = model.encode(torch.from_numpy(data.sample_observations(64, random_state)).float())
        z = reparameterize(mu, logvar, generator)
        weights = model.decoder.fc_in.weight.norm(dim=0).double()
        dim = int(torch.multinomial(weights, 1, generator=generator))
        sign = 1 if torch.randint(2, (1,), generator=generator).item() else -1
        moved = shift_latents(z, dim, 0.125, sign)
        yield (torch.sigmoid(model.decode(moved.kept)).flatten(1).double(),
               torch.sigmoid(model.decode(moved.shifted)).flatten(1).double())


def report(label: str, clouds: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> None:
    ratios, points, dims = [], [], set()
    for x, y in clouds:
        ratios.append(rtd(x, y, workers=1).item() / rtd(x, y, variant="official", workers=1).item())
        points.append(x.shape[0])
        dims.add(x.shape[1])
    r = np.array(ratios)
    print(f"  {label:40s} exact/official {r.mean():.3f} (range {r.min():.3f}-{r.max():.3f}) over {len(r)} pairs "
          f"of {min(points)}-{max(points)} points in {'/'.join(map(str, sorted(dims)))} dimensions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="random pairs per noise level")
    parser.add_argument("--batches", type=int, default=20, help="dSprites batches per VAE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for noise in (0.2, 0.5, None):
        report(f"random, y = x + {noise}·noise" if noise else "random, y independent", random_clouds(noise, args.pairs))
    report("VAE term, bundled dsprites_topdis_vae", vae_clouds(load_trained(bundled_path("dsprites_topdis_vae")).model,
                                                             args.batches))
    torch.manual_seed(0)
    report("VAE term, fresh VAE (seed 0)", vae_clouds(VAE.build(10).eval(), args.batches))


if __name__ == "__main__":
    main()
