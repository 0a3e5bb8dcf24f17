"""Which GW solver setting gives GMG terms a meaningful gap: ``gw_sharpness`` and the sign of ``dir-gmg``'s gap.

On batches of the bundled dSprites generator (random orthonormal directions in W, the trainer's batches and
Voynov–Babenko shift draws), ``dir-gmg`` builds its GW problems once per batch (``anchors`` problems of
``points`` shift-coefficient vectors each, :meth:`DirectionGMG.map_points`); every solver setting is then
solved on the same problems. Printed per setting: mean and range of the gap (GMG = DST − GW_ε), how many
problems had a negative gap (the plan then costs more than the map's own coupling: too blurred, or a poor local
minimum), mean ``gw_sharpness`` (0: the product coupling, 1: a permutation), how many solves converged, mean
outer steps and the time per solve. The ``gmg`` term of the VAE and ``dir-gmg`` share the default
(``latentdirs.losses.gmg.SOLVER_PARAMS``).

Example (the numbers quoted in the README):
    python scripts/gmg_solver_check.py --batches 16 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch

from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.trainer import DirectionTrainer, DiscoveryConfig
from latentdirs.gan import load_generator
from latentdirs.losses.gmg import gw_sharpness, solver_from_settings
from latentdirs.ot.costs import cost_matrix
from latentdirs.ot.gmg import DEFAULT_SOLVER, gromov_monge_gap

ROOT = Path(__file__).resolve().parent.parent
# (eps0, anneal, init); "former": dir-gmg's solver until now (latentdirs.ot.gmg.DEFAULT_SOLVER: 200 outer steps,
# tol 1e-6, no annealing) at its former eps0 0.1. The shared default is (0.005, 10, identity).
SETTINGS = [(0.1, 1.0, "former"), (0.1, 1.0, "identity"), (0.05, 1.0, "identity"), (0.02, 1.0, "identity"),
            (0.005, 1.0, "identity"), (0.005, 10.0, "identity"), (0.005, 100.0, "identity"), (0.02, 10.0, "identity"),
            (0.1, 1.0, "product"), (0.02, 1.0, "product"), (0.005, 1.0, "product"), (0.005, 10.0, "product"),
            (0.005, 100.0, "product"), (0.001, 100.0, "product")]


def problems(generator_path: Path, batches: int, spec: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` pairs (coefficients, displacements), one fresh set of six random directions each."""
    handle = GeneratorHandle(load_generator(str(generator_path)))
    out = []
    for seed in range(batches):
        config = DiscoveryConfig(method=spec, num_directions=6, batch_size=32, seed=seed, stats_samples=256)
        trainer = DirectionTrainer(handle, config)
        with torch.no_grad():
            directions = trainer.model()
            out.append(trainer.terms[0].map_points(trainer.context(directions)))
    return out


def permutation_gap(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``DST − min_σ ½ mean_ij (C_X,ij − C_Y,σ(i)σ(j))²`` over all permutations σ (n ≤ 8): the gap against the
    best map-like coupling, a lower bound of the unregularized GMG (GW can only be lower still)."""
    cx, cy = cost_matrix(source, "cosine").dense, cost_matrix(target, "cosine").dense
    n = cx.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(n))))
    permuted = cy[:, perms[:, :, None], perms[:, None, :]]  # [P, n!, n, n]
    costs = 0.5 * (cx[:, None] - permuted).square().mean(dim=(-1, -2))
    return costs[:, 0] - costs.min(dim=1).values  # permutation 0 is the identity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", type=Path, default=ROOT / "pretrained" / "dsprites_generator.json")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--spec", default="gmg", help="the dir-gmg term whose points are used (its solver is not)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = problems(args.generator, args.batches, args.spec)
    count = sum(source.shape[0] for source, _ in batch)
    print(f"{count} GW problems ({args.batches} batches of {batch[0][0].shape[0]} anchors × "
          f"{batch[0][0].shape[1]} points, cosine costs), {args.generator.name}")
    reference = np.concatenate([permutation_gap(*pair).numpy() for pair in batch]) if batch[0][0].shape[1] <= 8 \
        else None
    if reference is not None:
        print(f"best-permutation gap (lower bound of the exact GMG): mean {reference.mean():+.5f} "
              f"[{reference.min():+.5f}, {reference.max():+.5f}], {(reference > 1e-6).sum()}/{count} above 1e-6")
    print("eps0, anneal, init      | gap mean [min, max]           | < -1e-6 | below bound | of bound | sharpness "
          "| converged | steps | ms")
    for eps0, anneal, init in SETTINGS:
        label = f"{eps0:g}, {anneal:g}, {init}"
        solver = DEFAULT_SOLVER if init == "former" else solver_from_settings(
            {"iterations": 100, "tol": 1e-4, "init": init, "anneal": anneal})
        gaps, sharp, converged, steps, seconds = [], [], 0, [], 0.0
        for source, displacement in batch:
            started = time.perf_counter()
            result = gromov_monge_gap(source, displacement, cost="cosine", eps0=eps0, solver=solver)
            seconds += time.perf_counter() - started
            gaps += result.gap.tolist()
            sharp += gw_sharpness(result.solution.kl, source.shape[1]).tolist()
            converged += int(result.solution.converged.sum())
            steps.append(result.solution.iterations)
        gaps_array = np.array(gaps)
        below = "-" if reference is None else f"{(gaps_array < reference - 1e-6).sum():3d}/{count}"
        share = "-" if reference is None else f"{gaps_array.sum() / reference.sum():.2f}"
        print(f"{label:23s} | {gaps_array.mean():+.5f} [{gaps_array.min():+.5f}, {gaps_array.max():+.5f}] | "
              f"{(gaps_array < -1e-6).sum():3d}/{count} | {below:>11s} | {share:>8s} | {np.mean(sharp):9.3f} | "
              f"{converged:4d}/{count} | {np.mean(steps):5.1f} | {1000 * seconds / len(batch):.1f}")


if __name__ == "__main__":
    main()
