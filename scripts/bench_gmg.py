"""Benchmark: our entropic Gromov-Wasserstein solver against POT's on the same inputs.

For each size n: points x [n, 32] (a Gaussian mixture) and y = tanh(x W) [n, 8], scaled squared-Euclidean
costs, ε = eps0 · mean(C_X) · mean(C_Y) (POT gets epsilon = 2ε: it has no ½ in its objective). POT runs
``ot.gromov.entropic_gromov_wasserstein`` with its defaults (numpy, float64, tol 1e-9); ours runs with its
defaults in float64 on the CPU, in float32 on the CPU, and on the GPU when one is available. Printed: wall
time, speed-up over POT (same run), max |plan − plan_POT| / max plan_POT, relative value difference,
outer iterations, torch operations that do work (kernel launches on a GPU, where they bound the time at
small n) and read-backs (device synchronisations), convergence. Times are medians of ``--repeats`` rounds
after an untimed one; within a round all runs alternate, so that other load on the machine hits POT and
ours alike. Also: POT on torch tensors (what a torch training loop would call), POT's
forward + backward through ``entropic_gromov_wasserstein2`` (small n only: it backpropagates through every
iteration), and our full GMG forward + backward (plan fixed, envelope gradient).

Examples:
    python scripts/bench_gmg.py --quick
    python scripts/bench_gmg.py --sizes 64 128 256 512 --threads 4
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import ot
import torch
from _timing import alternating
from torch.utils._python_dispatch import TorchDispatchMode

from latentdirs.ot.costs import cost_matrix
from latentdirs.ot.gmg import gromov_monge_gap
from latentdirs.ot.gromov import EntropicGromovSolver, GromovProblem


def make_points(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(4, 32, generator=g, dtype=torch.float64)
    x = centres[torch.randint(0, 4, (n,), generator=g)] + torch.randn(n, 32, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(32, 8, generator=g, dtype=torch.float64) / 6.0)
    return x, y


class OperationCount(TorchDispatchMode):
    """Counts the torch operations that do work (views left out: each other one is a kernel launch on a GPU)
    and the read-backs to Python (each a device synchronisation on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.operations = self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        # under inference mode a read-back arrives as aten.item or aten.is_nonzero (not decomposed first)
        if func.overloadpacket in (torch.ops.aten._local_scalar_dense, torch.ops.aten.item, torch.ops.aten.is_nonzero):
            self.reads += 1
        elif not func.is_view and func.overloadpacket is not torch.ops.aten._unsafe_view:
            self.operations += 1
        return func(*args, **(kwargs or {}))


def counted(fn: Callable[[], object]) -> OperationCount:
    """The operations and read-backs of one call of ``fn``."""
    with OperationCount() as count:
        fn()
    return count


def no_sync() -> None:
    """CPU work is finished when its call returns."""


def contestants(x: torch.Tensor, y: torch.Tensor, eps: float, eps0: float,
                devices: list[str]) -> dict[str, tuple[Callable[[], object], Callable[[], None]]]:
    """The timed runs for one problem: POT (numpy and torch backends), our solver per device and dtype, and
    our GMG forward + backward, each as ``(fn, sync)``."""
    cx, cy = cost_matrix(x, "scaled_sqeuclidean").dense[0], cost_matrix(y, "scaled_sqeuclidean").dense[0]
    runs = {
        "POT (numpy64)": (partial(ot.gromov.entropic_gromov_wasserstein, cx.numpy(), cy.numpy(), epsilon=2 * eps,
                                  log=True), no_sync),
        "POT (torch64)": (partial(ot.gromov.entropic_gromov_wasserstein, cx, cy, epsilon=2 * eps), no_sync),
    }
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else no_sync
        for dtype in (torch.float64, torch.float32):
            if device == "cuda" and dtype == torch.float64:
                continue
            problem = GromovProblem.create(
                cost_matrix(x.to(device, dtype), "scaled_sqeuclidean"),
                cost_matrix(y.to(device, dtype), "scaled_sqeuclidean"),
            )
            runs[f"ours {device} {str(dtype)[-7:]}"] = (partial(EntropicGromovSolver().solve, problem, eps), sync)
        source, target = x.to(device, torch.float32), y.to(device, torch.float32).requires_grad_(True)
        runs[f"GMG fwd+bwd {device}"] = (partial(gmg_step, source, target, eps0), sync)
    return runs


def gmg_step(source: torch.Tensor, target: torch.Tensor, eps0: float) -> torch.Tensor:
    """One GMG forward + backward (float32, the GMG defaults: identity init, tol 1e-6)."""
    gap = gromov_monge_gap(source, target, cost="scaled_sqeuclidean", eps0=eps0).gap
    gap.backward()
    return gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--eps0", type=float, default=0.1, help="ε relative to mean(C_X)·mean(C_Y)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median), each running POT and ours once")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="sizes 64 and 128, one repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pot-backward-max", type=int, default=0,
                        help="largest n for POT's torch forward+backward (off by default: autograd through all its "
                             "iterations takes minutes)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [64, 128], 1
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, POT {ot.__version__}, threads {torch.get_num_threads()}, eps0 {args.eps0}, "
          f"devices {devices}")
    header = (f"{'n':>5} {'run':<14} {'time s':>9} {'speed-up':>9} {'plan err':>9} {'value err':>9} {'iters':>6} "
              f"{'ops':>6} {'reads':>6} conv")
    print(header)
    for n in args.sizes:
        x, y = make_points(n, args.seed + n)
        eps = float(GromovProblem.create(cost_matrix(x, "scaled_sqeuclidean"), cost_matrix(y, "scaled_sqeuclidean"))
                    .relative_epsilon(args.eps0)[0])
        runs = contestants(x, y, eps, args.eps0, devices)
        measured = alternating(runs, args.repeats)

        pot_time, (pot_plan, pot_log) = measured.pop("POT (numpy64)")
        pot_value = float(pot_log["gw_dist"])
        print(f"{n:>5} {'POT (numpy64)':<14} {pot_time:>9.3f} {1.0:>9.1f} {'-':>9} {'-':>9} {'-':>6} {'-':>6} "
              f"{'-':>6} -")
        seconds, torch_plan = measured.pop("POT (torch64)")
        torch_err = np.abs(torch_plan.numpy() - pot_plan).max() / pot_plan.max()
        print(f"{n:>5} {'POT (torch64)':<14} {seconds:>9.3f} {pot_time / seconds:>9.1f} {torch_err:>9.1e} {'-':>9} "
              f"{'-':>6} {'-':>6} {'-':>6} -")
        for label, (seconds, result) in measured.items():
            if label.startswith("ours"):
                plan = result.plan[0].double().cpu().numpy()
                plan_err = np.abs(plan - pot_plan).max() / pot_plan.max()
                value_err = abs(2 * float(result.value[0]) - pot_value) / abs(pot_value)
                count = counted(runs[label][0])
                print(f"{n:>5} {label:<14} {seconds:>9.3f} {pot_time / seconds:>9.1f} {plan_err:>9.1e} "
                      f"{value_err:>9.1e} {result.iterations:>6} {count.operations:>6} {count.reads:>6} "
                      f"{bool(result.converged.all())}")
        pot_backward = None
        if n <= args.pot_backward_max:
            xs, ys = x.clone(), y.clone().requires_grad_(True)
            start = time.perf_counter()
            cost_x = cost_matrix(xs, "scaled_sqeuclidean").dense[0]
            cost_y = cost_matrix(ys, "scaled_sqeuclidean").dense[0]
            ot.gromov.entropic_gromov_wasserstein2(cost_x, cost_y, epsilon=2 * eps).backward()
            pot_backward = time.perf_counter() - start
            print(f"{n:>5} {'POT fwd+bwd':<14} {pot_backward:>9.3f} {pot_time / pot_backward:>9.1f} {'-':>9} {'-':>9} "
                  f"{'-':>6} {'-':>6} {'-':>6} (torch backend, float64, autograd through the iterations)")
        for label, (seconds, _) in measured.items():
            if label.startswith("GMG"):
                versus = f", {pot_backward / seconds:.0f}× faster than POT fwd+bwd" if pot_backward else ""
                count = counted(runs[label][0])
                print(f"{n:>5} {label:<14} {seconds:>9.3f} {pot_time / seconds:>9.1f} {'-':>9} {'-':>9} {'-':>6} "
                      f"{count.operations:>6} {count.reads:>6} (float32, identity init, tol 1e-6{versus})")


if __name__ == "__main__":
    main()
