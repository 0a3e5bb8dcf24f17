"""Optimal-transport kernels: cost matrices, the entropic Gromov-Wasserstein solver, the Gromov-Monge gap.

Tensors in, differentiable values out; nothing here knows about VAEs or GANs.

    from latentdirs.ot import gromov_monge_gap
    result = gromov_monge_gap(x, y, cost="cosine", eps0=0.05)   # x [n, dx] ↦ y [n, dy]
    result.gap.backward()                                       # plan held fixed (envelope theorem)
"""

from .costs import COST_NAMES, CostMatrix, cost_matrix
from .gmg import GapResult, distortion, gromov_monge_gap, gromov_monge_gap_from_costs, map_distortion
from .gromov import EntropicGromovSolver, GromovProblem, GromovResult, gw_value

__all__ = [
    "COST_NAMES", "CostMatrix", "EntropicGromovSolver", "GapResult", "GromovProblem", "GromovResult",
    "cost_matrix", "distortion", "gromov_monge_gap", "gromov_monge_gap_from_costs", "gw_value", "map_distortion",
]
