r"""Geometry-preserving regularizers ``gmg`` and ``dst`` (Uscidda et al., ICLR 2025, arXiv 2407.07829).

For a map ``T`` applied to a batch ``r_1..r_B`` (kernels in :mod:`latentdirs.ot.gmg`):

    DST(T) = ½ · mean_{i,j} (c_X(r_i, r_j) − c_Y(T r_i, T r_j))²
    GMG(T) = DST(T) − GW_ε(r, T♯r)      (entropic GW with the same ½, plan held fixed in the gradient)

``where=encoder``: ``T: x ↦ μ(x)`` (or the sampled ``z``), images flattened; ``where=decoder``:
``T: z ↦ sigmoid(decode(z))`` on the detached codes (``z`` or ``μ``), so only the decoder learns from
it. ``cost``: ``sqeuclidean``, ``scaled_sqeuclidean`` (divided by its mean: a global scale is free) or
``cosine`` (angles; the paper's best on the decoder), the same on both sides. ε is relative:
``ε = eps0 · mean(C_X) · mean(C_Y)``. The weight ramps linearly from 0 over ``ramp_steps`` after
``delay`` steps.

Choosing eps0: the GW plan depends only on how the costs vary around their means, while ε scales with
the means themselves, and cosine costs of images and codes sit near 1 with a spread of 0.2–0.3. With
eps0 = 0.05 the plan of the bundled dSprites VAE's decoder (64 codes drawn from N(0, I), cosine) is the
product coupling (sharpness 0.01) and GMG = −0.039 < 0: the term then matches moments instead of measuring
distortion. Over 128 such batches the default eps0 = 0.005 gives sharpness 0.72–0.81 and GMG +0.0051 on average
(tol 1e-4: a median of 45 outer steps, 123 of 128 solves converged within 100; GMG forward + backward median
28–31 ms on one CPU thread). Logged ``gw_sharpness`` = KL(plan ‖ product) / log B, from 0 (the product coupling:
lower eps0) to 1 (a permutation), shows where a run stands.

Annealing (``anneal``, default 10): the GW solve starts at 10ε and shrinks ε by 0.7 per outer step, reaching ε
after 7 steps. GW is not convex, and at such small ε the plain iteration from the identity coupling (``anneal=1``,
ott's and POT's) often stops in a poorer local minimum: on the same 128 batches its entropic GW cost was higher
than the annealed solve's in 116, its GMG lower on average (+0.0037, 10 batches negative against 1), and it
converged less often (114) in more steps (median 52).

The direction search's ``dir-gmg`` uses the same settings (:data:`SOLVER_PARAMS`). On 64 of its problems on the
bundled dSprites generator (``scripts/gmg_solver_check.py``) its former eps0 = 0.1 without annealing gave a negative
gap in 61 (sharpness 0.52), these settings in none below −1e-6 but one (sharpness 0.83); see its docstring.

Decoder-free training (``train-vae --no-decoder``): the objective ``decoder-free-gmg`` (:mod:`.decoder_free`),
β·KL + λ·GMG of x ↦ z on the *sampled* codes. ``gmg:where=encoder`` on μ (``code=auto``) with a scale-free cost
cannot oppose a prior-matching term without a reconstruction: the prior shrinks μ's scale at no cost to the gap.

Reuse outside the VAE (e.g. a GAN direction search, map: shift coefficients → images): call
:func:`map_regularizer` with the two point clouds, or subclass :class:`MapRegularizer` and override
:meth:`MapRegularizer.map_points`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..ot.costs import COST_NAMES
from ..ot.gmg import gromov_monge_gap, map_distortion
from ..ot.gromov import EntropicGromovSolver
from .registry import LossContext, LossTerm, Param, register
from .schedules import ramp_weight


def map_regularizer(
    source: Tensor,
    target: Tensor,
    kind: str = "gmg",
    cost: str = "cosine",
    eps0: float = 0.005,
    solver: EntropicGromovSolver | None = None,
) -> dict[str, Tensor]:
    """``{"value", "dst"(, "gw", "gw_sharpness", "gw_iterations", "gw_converged")}`` for ``source_i ↦ target_i``.

    ``source [B, d_x]``, ``target [B, d_y]`` (flatten images first); ``value`` is the differentiable DST
    (``kind="dst"``) or GMG (``kind="gmg"``); the other entries are detached diagnostics.
    """
    source, target = source.flatten(1), target.flatten(1)
    if kind == "dst":
        dst = map_distortion(source, target, cost)
        return {"value": dst, "dst": dst.detach()}
    result = gromov_monge_gap(source, target, cost=cost, eps0=eps0, solver=solver or solver_from_settings())
    return {
        "value": result.gap,
        "dst": result.distortion.detach(),
        "gw": result.gw.detach(),
        "gw_sharpness": gw_sharpness(result.solution.kl, source.shape[0]).mean(),
        "gw_iterations": torch.tensor(float(result.solution.iterations)),
        "gw_converged": result.solution.converged.float().mean(),
    }


def gw_sharpness(kl: Tensor, points: int) -> Tensor:
    """``KL(plan ‖ a bᵀ) / log n`` for uniform weights: 0 for the product coupling, 1 for a permutation."""
    return kl.detach() / max(math.log(points), 1e-12)


SOLVER_PARAMS = {
    "eps0": Param(0.005, "entropic regularization relative to mean(C_X)·mean(C_Y); lower it when the "
                  "logged gw_sharpness is near 0", above=0),
    "iterations": Param(100, "maximum outer GW iterations per step", minimum=1),
    "tol": Param(1e-4, "GW stopping tolerance (plan change and marginal error)", above=0),
    "init": Param("identity", "initial GW coupling", ("identity", "product")),
    "anneal": Param(10.0, "ε-annealing: the GW solve starts at anneal·ε, ×0.7 per outer step (1: off); "
                    "finds lower GW costs at small eps0", minimum=1),
}
"""The GW solver settings every GMG term shares (``gmg`` here, ``dir-gmg`` of the direction search): one
measured default (see the module docstring), one set of names."""


def solver_from_settings(hp: Mapping[str, Any] | None = None) -> EntropicGromovSolver:
    """The GW solver for a term's :data:`SOLVER_PARAMS` ``iterations``, ``tol``, ``init``, ``anneal`` (default:
    their defaults)."""
    hp = hp or {name: param.default for name, param in SOLVER_PARAMS.items()}
    return EntropicGromovSolver(max_iter=hp["iterations"], tol=hp["tol"], init=hp["init"], inner_iter=50,
                                anneal_from=hp["anneal"])


_COMMON = {
    "weight": Param(1.0, "weight λ of the term (next to a VAE's summed 64×64 log-likelihood λ = 1 is a no-op: "
                         "gradient share 4e-5; study 2 uses 100)", minimum=0),
    "delay": Param(0, "steps before the term is switched on", minimum=0),
    "ramp_steps": Param(0, "steps over which λ ramps linearly from 0 after the delay (0: no ramp)", minimum=0),
    "where": Param("decoder", "the map regularized: encoder (x→μ or z) or decoder (z→sigmoid(decode(z)))",
                   ("encoder", "decoder")),
    "code": Param("auto", "codes used: mu, z (sampled), auto = mu for the encoder, z for the decoder",
                  ("auto", "mu", "z")),
    "cost": Param("cosine", "intra-domain cost on both sides", COST_NAMES),
}


class MapRegularizer(LossTerm):
    """Base of ``dst`` and ``gmg``: the map's points from the context, then :func:`map_regularizer`."""

    kind = "gmg"
    domains = frozenset({"vae"})
    needs = frozenset({"x", "mu", "step"})

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        code = self.hp["code"]
        if code == "auto":
            code = "mu" if self.hp["where"] == "encoder" else "z"
        self.code = code
        fields = {"x", code, "step"} if self.hp["where"] == "encoder" else {code, "decode", "step"}
        self.needs = frozenset(fields)

    def map_points(self, ctx: LossContext) -> tuple[Tensor, Tensor]:
        """(reference points, their images) of the regularized map, ``[B, ·]`` each."""
        codes = getattr(ctx, self.code)
        if self.hp["where"] == "encoder":
            return ctx.x.flatten(1), codes
        codes = codes.detach()
        return codes, torch.sigmoid(ctx.decode(codes)).flatten(1)

    gw_solver: EntropicGromovSolver | None = None

    def forward(self, ctx: LossContext) -> dict[str, Tensor]:
        weight = ramp_weight(self.hp["weight"], int(ctx.step), self.hp["delay"], self.hp["ramp_steps"])
        if weight == 0.0:
            return {"loss": ctx.mu.new_zeros(()), "weight": torch.tensor(0.0)}
        source, target = self.map_points(ctx)
        out = map_regularizer(source, target, self.kind, self.hp["cost"], self.hp.get("eps0", 0.0), self.gw_solver)
        value = out.pop("value")
        return {"loss": weight * value, self.kind: value.detach(), "weight": torch.tensor(weight), **out}


@register
class Distortion(MapRegularizer):
    """DST: λ · ½ mean_ij (c_X(r_i, r_j) − c_Y(T r_i, T r_j))² — the distortion baseline of the GMG paper.

    Uscidda et al., "Disentangled Representation Learning with the Gromov-Monge Gap", ICLR 2025, Eq. (DST).
    """

    name = "dst"
    kind = "dst"
    params = dict(_COMMON)


@register
class GromovMongeGap(MapRegularizer):
    """GMG: λ · (DST(T) − GW_ε(r, T♯r)), entropic GW plan solved without gradient and held fixed.

    Uscidda et al., "Disentangled Representation Learning with the Gromov-Monge Gap", ICLR 2025. The GW
    plan starts from the map's own coupling (``init=identity``) or from the product coupling; ε =
    eps0 · mean(C_X) · mean(C_Y) (see the module docstring on choosing eps0), reached from ``anneal``·ε by
    ×0.7 per outer step; at most ``iterations`` outer solver steps, tolerance ``tol``.
    """

    name = "gmg"
    kind = "gmg"
    params = {**_COMMON, **SOLVER_PARAMS}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.gw_solver = solver_from_settings(self.hp)
