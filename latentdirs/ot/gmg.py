r"""Distortion (DST) and Gromov-Monge gap (GMG) of a map, from samples before and after it.

For a reference batch ``x_1..x_n`` and its images ``y_i = T(x_i)`` under a map ``T`` (encoder x→z, decoder
z→x, or shift coefficients → images), with intra-domain costs ``c_X``, ``c_Y`` (:mod:`latentdirs.ot.costs`):

.. math::
    \mathrm{DST}(T) = \tfrac12 \operatorname{mean}_{i,j} \big(c_X(x_i, x_j) - c_Y(y_i, y_j)\big)^2, \qquad
    \mathrm{GMG}_\varepsilon(T) = \mathrm{DST}(T) - \mathrm{GW}_\varepsilon(\hat\rho_n, T\sharp\hat\rho_n),

where ``GW_ε`` is the transport term ``½ Σ L T T`` of the entropic Gromov-Wasserstein plan between the two
uniform empirical measures (:mod:`latentdirs.ot.gromov`, same ½ convention, so that DST is GW's objective
at the coupling ``i ↦ i``). DST is zero iff ``T`` preserves the costs on the batch; GMG is zero (up to the
entropic bias) iff ``T`` moves the batch with the least distortion any map could achieve, e.g. for a
permuted isometry GMG = DST. ε is relative by default: ``ε = eps0 · mean(C_X) · mean(C_Y)``.

Gradients: the plan is solved without autograd and held fixed (envelope theorem); ``gw`` is differentiable
in both point clouds through the costs, ε is treated as a constant.

Reference: Uscidda, Eyring, Roth, Theis, Akata, Cuturi, "Disentangled Representation Learning with the
Gromov-Monge Gap", ICLR 2025 (arXiv 2407.07829).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..errors import UserError
from .costs import CostMatrix, cost_matrix
from .gromov import EntropicGromovSolver, GromovProblem, GromovResult, gw_value

DEFAULT_SOLVER = EntropicGromovSolver(init="identity", max_iter=200, tol=1e-6, inner_iter=200)


@dataclass(frozen=True)
class GapResult:
    """``gap``, ``distortion``, ``gw``: ``[P]`` (scalars for unbatched inputs), differentiable in the points;
    ``solution``: the entropic GW solve (plan, convergence)."""

    gap: Tensor
    distortion: Tensor
    gw: Tensor
    solution: GromovResult


def distortion(cx: Tensor | CostMatrix, cy: Tensor | CostMatrix) -> Tensor:
    """``½ · mean_ij (C_X,ij − C_Y,ij)²`` over the last two dimensions (costs of paired samples)."""
    cx = cx.dense if isinstance(cx, CostMatrix) else cx
    cy = cy.dense if isinstance(cy, CostMatrix) else cy
    if cx.shape != cy.shape:
        raise UserError(f"distortion needs paired samples: cost shapes {tuple(cx.shape)} and {tuple(cy.shape)} differ")
    return 0.5 * (cx - cy).square().mean(dim=(-1, -2))


def gromov_monge_gap_from_costs(
    cx: CostMatrix,
    cy: CostMatrix,
    eps0: float = 0.1,
    epsilon: float | Tensor | None = None,
    solver: EntropicGromovSolver = DEFAULT_SOLVER,
    warm_start: GromovResult | None = None,
) -> GapResult:
    """GMG for paired cost matrices ``[P, n, n]`` (``C_X`` of the reference points, ``C_Y`` of their images)."""
    if cx.dense.shape != cy.dense.shape:
        raise UserError(f"GMG needs paired samples: cost shapes {tuple(cx.dense.shape)} and {tuple(cy.dense.shape)}")
    problem = GromovProblem.create(cx, cy)
    eps = problem.relative_epsilon(eps0) if epsilon is None else epsilon
    solution = solver.solve(problem, eps, warm_start=warm_start)
    dst = distortion(cx, cy)
    gw = gw_value(cx, cy, solution.plan)
    return GapResult(dst - gw, dst, gw, solution)


def gromov_monge_gap(
    source: Tensor,
    target: Tensor,
    cost: str = "cosine",
    target_cost: str | None = None,
    eps0: float = 0.1,
    epsilon: float | Tensor | None = None,
    solver: EntropicGromovSolver = DEFAULT_SOLVER,
    warm_start: GromovResult | None = None,
) -> GapResult:
    """GMG of the map ``source_i ↦ target_i``; ``source [(P,) n, d_x]``, ``target [(P,) n, d_y]``.

    ``cost`` is used on both sides unless ``target_cost`` is given. Returns scalars for unbatched inputs.
    """
    cx, cy = _paired_costs(source, target, cost, target_cost)
    result = gromov_monge_gap_from_costs(cx, cy, eps0=eps0, epsilon=epsilon, solver=solver, warm_start=warm_start)
    if source.dim() == 2:
        return GapResult(result.gap[0], result.distortion[0], result.gw[0], result.solution)
    return result


def map_distortion(source: Tensor, target: Tensor, cost: str = "cosine", target_cost: str | None = None) -> Tensor:
    """DST of the map ``source_i ↦ target_i`` (shapes as in :func:`gromov_monge_gap`)."""
    cx, cy = _paired_costs(source, target, cost, target_cost)
    dst = distortion(cx, cy)
    return dst[0] if source.dim() == 2 else dst


def _paired_costs(source: Tensor, target: Tensor, cost: str, target_cost: str | None) -> tuple[CostMatrix, CostMatrix]:
    if source.dim() != target.dim() or source.shape[:-1] != target.shape[:-1]:
        raise UserError(
            f"source and target must hold the same samples: shapes {tuple(source.shape)} and {tuple(target.shape)}"
        )
    if source.shape[-2] < 2:
        raise UserError(f"need at least 2 samples, got {source.shape[-2]}")
    target = target.to(source.dtype)
    return cost_matrix(source, cost), cost_matrix(target, target_cost or cost)
