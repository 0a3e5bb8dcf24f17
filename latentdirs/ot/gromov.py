r"""Entropic Gromov-Wasserstein: problem, log-domain solver and result, batched over problems.

Problem (square loss, the ½ convention used throughout latentdirs): for symmetric costs
``C_X [n, n]``, ``C_Y [m, m]`` and weights ``a ∈ Δ_n``, ``b ∈ Δ_m``

.. math::
    \mathrm{GW}_\varepsilon = \min_{T \in U(a, b)}
        \tfrac12 \sum_{i,j,k,l} (C_{X,ik} - C_{Y,jl})^2 T_{ij} T_{kl} + \varepsilon \mathrm{KL}(T \| a b^\top).

With uniform weights and ``n = m`` the identity coupling ``T = I/n`` gives ``½·mean_ik (C_X − C_Y)²``, the
distortion of the map ``i ↦ i`` (see :mod:`latentdirs.ot.gmg`). POT's ``ot.gromov.entropic_gromov_wasserstein``
minimises ``Σ L T T − ε_POT H(T)`` without the ½, so the same plan is obtained with ``ε_POT = 2ε`` and POT's
``gw_dist`` is twice our :attr:`GromovResult.value` (checked in ``tests/test_ot_gromov.py``).

Solver (Peyré, Cuturi, Solomon, "Gromov-Wasserstein averaging of kernel and distance matrices", ICML 2016,
Prop. 1-2; the projected mirror-descent step with step size 1/ε): repeat

.. math::
    G^{(k)} = \mathcal{L} \otimes T^{(k)} = (C_X^{\odot 2} a)\mathbf 1^\top + \mathbf 1 (C_Y^{\odot 2} b)^\top
              - 2\, C_X T^{(k)} C_Y, \qquad
    T^{(k+1)} = \arg\min_{T \in U(a,b)} \langle G^{(k)}, T\rangle + \varepsilon\,\mathrm{KL}(T \,\|\, a b^\top),

each inner problem solved by Sinkhorn in the log domain with absorption (Schmitzer, "Stabilized sparse scaling
algorithms for entropy regularized transport problems", 2019; :mod:`latentdirs.ot.sinkhorn`): the dual
potentials ``f, g`` carry over from one outer step to the next (and from a previous solve, for warm starts);
each outer step forms ``(f_i + g_j − G_ij)/ε`` with one batched matrix product (through the cost factors when
they pay), takes one exponential after subtracting each row's maximum (the stabilised kernel, entries in [0, 1],
so float32 is safe at small ε), does the exact row update and runs cheap matrix-vector scaling sweeps in the
kernel (over-relaxed when they converge slowly, ω chosen from the observed rate; replaced by a few Newton steps
on the dual when even that rate would need hundreds of sweeps — at small ε the kernel can couple blocks of
points so weakly that sweeps gain < 1 % in 10⁴), which are then absorbed back into ``f, g``. Two guards keep
tiny ε (exponent ranges of 10³–10⁴) in float range: a kernel column that underflowed entirely — no scaling can
give it mass — is caught at the first check and revived by log-domain sweeps, and the scalings stop at
``√(float max)/max(n, m)``, so that ``K v`` and the plan stay finite (a solve that needs more stops short,
reports its true error, and the next outer step absorbs it); slow solves absorb scalings beyond ``e^{±τ}``
into the potentials as they go, recomputing the kernel (:meth:`.sinkhorn.KernelSinkhorn.solve`). In
practice ``G`` is evaluated from centred costs ``C − mean(C)`` and without its row constant (absorbed exactly
by the row update): same plans, and float32 stays precise when one cost is nearly constant or much smaller
than the other. The inner solve is inexact: sweeps stop once
the marginal error falls below a tenth of the last plan change ``‖ΔT‖₁`` (never below ``tol``), so early
steps are cheap and late ones exact; the first one, which has no last change to go by, is solved to ``tol``
(a loose first step sent product-initialised problems into another local minimum than POT's). Even so,
GW is not convex and a loose solve can still end elsewhere: with ``init="product"``, ε0 = 0.1 and
cosine costs, 1 of 8 random 16-point problems ended in a minimum 10 % worse than POT's; with
``inner_ratio=0.01`` all 48 tested (ε0 0.05–0.3, both inits) ended in POT's, at 10–70 % more time.
The loop stops when, in every problem of the batch, the plan moved less than ``tol`` (Frobenius norm, POT's
criterion) and the marginal error is below ``tol``. Optional ε-annealing (``anneal_from``: start at that
multiple of ε, shrink geometrically) avoids the oscillations and poor local minima of the plain iteration at
very small ε; it is off by default so that the iterates follow POT's. At such ε (``ε0 ≲ 0.01``) the problem has
many local minima and which one the iteration reaches depends on the inexact inner solves: plain and
over-relaxed sweeps (or POT) can end in different ones, with values a few percent apart either way.

Cost per outer iteration, for ``P`` problems: ``O(P·(n²m + nm²))`` for dense costs, ``O(P·nm·min(r_X, r_Y))``
when the costs come with rank-``r`` factors (squared Euclidean and cosine: ``r = d + 2``) —
used automatically when ``2r < n`` — plus ``O(P·nm)`` per Sinkhorn sweep. Memory ``O(P·(n² + m² + nm))``.

Gradients: the solve runs without autograd. :func:`gw_value` evaluates the transport term at a fixed plan
and is differentiable in the costs; by the envelope theorem its gradient is the gradient of the entropic
GW value (ε held constant), so there is never any backpropagation through the iterations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..errors import UserError
from .costs import CostMatrix
from .sinkhorn import KernelSinkhorn, safe_log

Init = Literal["product", "identity"]


def _as_cost_matrix(c: Tensor | CostMatrix, what: str) -> CostMatrix:
    if isinstance(c, CostMatrix):
        dense = c.dense
    elif isinstance(c, Tensor):
        dense, c = c, CostMatrix(c)
    else:
        raise UserError(f"{what}: expected a tensor [n, n] / [P, n, n] or a CostMatrix, got {type(c).__name__}")
    if not dense.is_floating_point() or dense.dim() not in (2, 3) or dense.shape[-1] != dense.shape[-2]:
        raise UserError(f"{what}: expected square float cost matrices [n, n] or [P, n, n], got {tuple(dense.shape)}")
    if dense.dim() == 2:
        c = CostMatrix(
            dense.unsqueeze(0),
            None if c.left is None else c.left.unsqueeze(0),
            None if c.right is None else c.right.unsqueeze(0),
        )
    return c


def _weights(w: Tensor | None, batch: int, size: int, like: Tensor, what: str) -> Tensor:
    if w is None:
        return torch.full((batch, size), 1.0 / size, dtype=like.dtype, device=like.device)
    if w.dim() == 1:
        w = w.unsqueeze(0).expand(batch, -1)
    if w.shape != (batch, size):
        raise UserError(f"{what}: expected weights of shape [{size}] or [{batch}, {size}], got {tuple(w.shape)}")
    if not bool((w > 0).all()) or not torch.allclose(w.sum(-1), torch.ones_like(w[:, 0]), atol=1e-5):
        raise UserError(f"{what}: weights must be positive and sum to 1 (drop the points of weight 0: their "
                        f"potentials would be −∞)")
    return w.to(dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class GromovProblem:
    """A batch of ``P`` quadratic (square-loss) GW problems: costs ``cx [P, n, n]``, ``cy [P, m, m]``,
    weights ``a [P, n]``, ``b [P, m]`` (positive; uniform by default). Build it with :meth:`create`."""

    cx: CostMatrix
    cy: CostMatrix
    a: Tensor
    b: Tensor

    @classmethod
    def create(
        cls,
        cx: Tensor | CostMatrix,
        cy: Tensor | CostMatrix,
        a: Tensor | None = None,
        b: Tensor | None = None,
    ) -> GromovProblem:
        cx, cy = _as_cost_matrix(cx, "cost cx"), _as_cost_matrix(cy, "cost cy")
        if cx.dense.shape[0] != cy.dense.shape[0]:
            raise UserError(f"cx and cy hold different numbers of problems: {cx.dense.shape[0]} vs {cy.dense.shape[0]}")
        if cx.dense.dtype != cy.dense.dtype or cx.dense.device != cy.dense.device:
            raise UserError("cx and cy must share dtype and device")
        for c, what in ((cx, "cx"), (cy, "cy")):
            d = c.dense.detach()
            if not torch.allclose(d, d.transpose(-1, -2), rtol=1e-4, atol=1e-6 * float(d.abs().max().clamp_min(1))):
                raise UserError(f"cost {what} must be symmetric")
        batch, n, m = cx.dense.shape[0], cx.dense.shape[-1], cy.dense.shape[-1]
        return cls(cx, cy, _weights(a, batch, n, cx.dense, "a"), _weights(b, batch, m, cx.dense, "b"))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(P, n, m)``."""
        return self.cx.dense.shape[0], self.cx.dense.shape[-1], self.cy.dense.shape[-1]

    def relative_epsilon(self, eps0: float) -> Tensor:
        """``ε = eps0 · mean(C_X) · mean(C_Y)`` per problem (plain means over all matrix entries), ``[P]``."""
        return eps0 * self.cx.dense.detach().mean(dim=(-1, -2)) * self.cy.dense.detach().mean(dim=(-1, -2))

    def initial_plan(self, init: Init) -> Tensor:
        """``a bᵀ`` (``product``) or ``diag(a)`` (``identity``, needs ``n = m``: the coupling ``i ↦ i``)."""
        if init == "product":
            return self.a[:, :, None] * self.b[:, None, :]
        if init == "identity":
            _, n, m = self.shape
            if n != m:
                raise UserError(f"init='identity' needs as many points on both sides, got {n} and {m}")
            return torch.diag_embed(self.a)
        raise UserError(f"unknown init {init!r}; expected 'product' or 'identity'")

    def column_constant(self) -> Tensor:
        r"""``(B^{⊙2} b)_j − 2δ (B b)_j`` with ``B = C_Y − μ_Y``, ``δ = μ_X − μ_Y``: the column part of ``L ⊗ T``
        (its row part is absorbed exactly by the solver's row update), ``[P, 1, m]``."""
        mean_x = self.cx.dense.mean(dim=(-1, -2))[:, None, None]
        centred_y = self.cy.dense - self.cy.dense.mean(dim=(-1, -2))[:, None, None]
        weighted = centred_y @ self.b.unsqueeze(-1)
        squared = centred_y.square() @ self.b.unsqueeze(-1)
        delta = mean_x - self.cy.dense.mean(dim=(-1, -2))[:, None, None]
        return (squared - 2.0 * delta * weighted).transpose(-1, -2)


@dataclass(frozen=True)
class GromovResult:
    """Solution of a batch of entropic GW problems (all tensors detached).

    ``plan [P, n, m]``; dual potentials ``f [P, n]``, ``g [P, m]`` of the last linearised cost (``L ⊗ T`` less a
    row constant);
    ``value [P]``: ``½ Σ L T T`` at the plan (POT's ``gw_dist`` / 2); ``kl [P]``: ``KL(T ‖ a bᵀ)``, so the
    entropic objective is ``value + epsilon·kl``; ``converged [P]``; ``iterations`` (outer steps run);
    ``error [P]``: last plan change; ``marginal_error [P]``: the last inner solve's last measured marginal
    error, ``‖T1 − a‖₁`` after a plain column update, ``‖T1 − a‖₁ + ‖Tᵀ1 − b‖₁`` after relaxed sweeps or
    Newton steps.
    """

    plan: Tensor
    f: Tensor
    g: Tensor
    value: Tensor
    kl: Tensor
    epsilon: Tensor
    converged: Tensor
    iterations: int
    error: Tensor
    marginal_error: Tensor

    @property
    def regularized_value(self) -> Tensor:
        return self.value + self.epsilon * self.kl


@dataclass(frozen=True)
class _CentredCosts:
    r"""The centred costs ``A = C_X − μ_X``, ``B = C_Y − μ_Y`` of a problem, each dense or as exact factors
    ``A = L_A R_Aᵀ`` (the cost's factors with one column for ``−μ``), so that the solver's linearised cost

    .. math:: S = F\mathbf 1^\top + \mathbf 1 G^\top + s\, A T B   \quad(F = f/ε,\ G = (g − c)/ε,\ s = 2/ε)

    is written with one batched matrix product ``[left, F, 1] @ [s·right; 1ᵀ; Gᵀ]``, where ``left @ right = A T B``
    is formed through whichever factors pay: ``O(nm·r)`` per side with factors, ``O(n²m)`` / ``O(nm²)`` dense.
    """

    dense_a: Tensor | None
    left_a: Tensor | None
    right_a: Tensor | None
    dense_b: Tensor | None
    left_b: Tensor | None
    right_b: Tensor | None

    @classmethod
    def of(cls, cx: CostMatrix, cy: CostMatrix, low_rank: bool) -> _CentredCosts:
        """Centred costs of batched ``cx``, ``cy``; each side through its factors when ``low_rank`` and they pay."""
        parts: list[Tensor | None] = []
        for cost in (cx, cy):
            mean = cost.dense.mean(dim=(-1, -2))[:, None, None]
            if low_rank and cost.low_rank_pays():
                ones = torch.ones_like(cost.left[..., :1])
                parts += [None, torch.cat([cost.left, -mean * ones], -1), torch.cat([cost.right, ones], -1)]
            else:
                parts += [cost.dense - mean, None, None]
        return cls(*parts)

    def product_factors(self, plan: Tensor) -> tuple[Tensor, Tensor]:
        """``(left, right)`` with ``left @ right = A T B``, the plan multiplied through the cheaper side.

        With factors on both sides the plan meets the factor of smaller rank ``r`` (``O(nm·r)``, the two small
        products ``O((n + m)·r_A·r_B)``); inner dimension of the result: a factor rank, else ``m``. Every
        product with a thin operand keeps the thin one on the left (``(T L_B)ᵀ = L_Bᵀ Tᵀ``; ``A`` is symmetric):
        CPU BLAS is 1.5–4× slower with a wide left and a thin right operand (n = 512, r = 11, one thread:
        476 vs 125 µs).
        """
        factored_a, factored_b = self.left_a is not None, self.left_b is not None
        if factored_a and (not factored_b or self.left_a.shape[-1] <= self.left_b.shape[-1]):
            core = self.right_a.transpose(-1, -2) @ plan  # R_Aᵀ T            [P, r_A, m]
            if factored_b:
                right = (core @ self.left_b) @ self.right_b.transpose(-1, -2)
            else:
                right = core @ self.dense_b
            return self.left_a, right
        if factored_b:
            core_t = self.left_b.transpose(-1, -2) @ plan.transpose(-1, -2)  # (T L_B)ᵀ  [P, r_B, n]
            if factored_a:
                left = self.left_a @ (core_t @ self.right_a).transpose(-1, -2)  # L_A R_Aᵀ T L_B
            else:
                left = (core_t @ self.dense_a).transpose(-1, -2)  # A T L_B
            return left, self.right_b.transpose(-1, -2)
        return self.dense_a @ plan, self.dense_b

    def scaled_cost(
        self, plan: Tensor, row: Tensor, column: Tensor, weight: Tensor, out: Tensor | None = None
    ) -> Tensor:
        """``row 1ᵀ + 1 column + weight · A T B`` ([P, n, 1], [P, 1, m], [P, 1, 1] → [P, n, m]), one product,
        written into ``out`` when given (a buffer of the result's shape: no large allocation per step)."""
        left, right = self.product_factors(plan)
        left = torch.cat([left, row, torch.ones_like(row)], dim=-1)
        right = torch.cat([right * weight, torch.ones_like(column), column], dim=-2)
        return torch.bmm(left, right, out=out)


def gw_value(cx: Tensor | CostMatrix, cy: Tensor | CostMatrix, plan: Tensor) -> Tensor:
    r"""``½ Σ_{ijkl} (C_X,ik − C_Y,jl)² T_ij T_kl`` for a fixed plan, differentiable in ``cx``, ``cy``.

    Expanded exactly with the plan's own marginals ``p = T1``, ``q = Tᵀ1``, total mass ``s``, centred costs
    ``A = C_X − μ_X``, ``B = C_Y − μ_Y`` and ``δ = μ_X − μ_Y`` (centring keeps float32 precise):
    ``½ (pᵀA^{⊙2}p + qᵀB^{⊙2}q + δ²s² − 2⟨A T B, T⟩ + 2δ(pᵀAp − qᵀBq))``. Costs ``[P, n, n]``, ``[P, m, m]``
    (tensors or :class:`CostMatrix`, whose factors are used when they pay), plan ``[P, n, m]``; or all
    unbatched. Result ``[P]`` (or a scalar). ``O(n²m + nm²)`` dense, ``O(nm·r + n² + m²)`` with factors.
    """
    unbatched = plan.dim() == 2
    cx = _as_cost_matrix(cx, "cost cx")
    cy = _as_cost_matrix(cy, "cost cy")
    plan = plan.detach().unsqueeze(0) if unbatched else plan.detach()
    p, q, mass = plan.sum(-1), plan.sum(-2), plan.sum(dim=(-1, -2))
    mean_x, mean_y = cx.dense.mean(dim=(-1, -2)), cy.dense.mean(dim=(-1, -2))
    centred = _CentredCosts.of(cx, cy, cx.low_rank_pays() or cy.low_rank_pays())
    a = centred.dense_a if centred.dense_a is not None else cx.dense - mean_x[:, None, None]
    b = centred.dense_b if centred.dense_b is not None else cy.dense - mean_y[:, None, None]
    delta = mean_x - mean_y

    def quadratic(matrix: Tensor, weights: Tensor) -> Tensor:
        return (matrix @ weights.unsqueeze(-1)).squeeze(-1).mul(weights).sum(-1)

    # ⟨A T B, T⟩ = Σ left ⊙ (T rightᵀ) for left @ right = A T B: no [n, m] product is formed with factors
    left, right = centred.product_factors(plan)
    cross = (left * (right @ plan.transpose(-1, -2)).transpose(-1, -2)).sum(dim=(-1, -2))
    value = 0.5 * (
        quadratic(a * a, p) + quadratic(b * b, q) + (delta * mass).square() - 2.0 * cross
        + 2.0 * delta * (quadratic(a, p) - quadratic(b, q))
    )
    return value[0] if unbatched else value


@dataclass(frozen=True)
class EntropicGromovSolver:
    """Log-domain entropic GW solver (see the module docstring for the algorithm and its cost).

    Outer loop: at most ``max_iter`` mirror-descent steps; stop when, in every problem of the batch, the
    plan moved by less than ``tol`` (Frobenius norm) and the marginal error ``‖T1 − a‖₁`` is below
    ``tol`` (``tol=None``: 1e-9 in float64, 1e-6 in lower precision). Inner loop (inexact, warm-started):
    Sinkhorn sweeps until that error is below ``max(tol, inner_ratio · ‖ΔT‖₁)`` (last plan change) or
    ``inner_iter`` sweeps — loose while the plan still moves a lot, tight near the end. The error is checked
    after the first sweep, then every ``inner_check`` sweeps until the last two checks give a rate, then after
    as many sweeps as that rate needs to reach the tolerance (at most ``4 · inner_check``); each check costs a
    few small operations and one read-back, which count on a GPU and at small n. When a window of checks shows
    a rate that would need more than ``newton_after`` further sweeps (``None``: about what four Newton steps
    cost, see :func:`.sinkhorn.newton_worth`; ``inf``: never), up to ``newton_steps`` Newton steps on the dual
    finish the inner solve instead (see :func:`.sinkhorn.newton_scalings`). ``anneal_from``/``anneal_rate``:
    ε-annealing, outer step ``k`` (from 0) uses ``ε·max(1, anneal_from·anneal_rate^k)`` (``anneal_from=1``: off).
    ``init``: initial coupling ``product`` (``a bᵀ``, POT's default) or ``identity`` (``diag(a)``: the coupling
    of a map ``i ↦ i``); a previous :class:`GromovResult` passed as ``warm_start`` to :meth:`solve` replaces it
    (plan and potentials).
    ``low_rank``: apply the costs through their factors (``None``: when that pays, i.e. rank < n/2).
    """

    max_iter: int = 1000
    tol: float | None = None
    inner_iter: int = 1000
    inner_ratio: float = 0.1
    inner_check: int = 2
    init: Init = "product"
    low_rank: bool | None = None
    anneal_from: float = 1.0
    anneal_rate: float = 0.7
    newton_after: float | None = None
    newton_steps: int = 8

    def __post_init__(self) -> None:
        if min(self.max_iter, self.inner_iter, self.inner_check, self.newton_steps) < 1:
            raise UserError("max_iter, inner_iter, inner_check and newton_steps must be at least 1")
        if self.newton_after is not None and not self.newton_after >= 0:
            raise UserError(f"newton_after must be a number of sweeps >= 0 (or None), got {self.newton_after}")
        if self.tol is not None and not self.tol > 0:
            raise UserError(f"tol must be positive, got {self.tol}")
        if self.anneal_from < 1 or not 0 < self.anneal_rate < 1:
            raise UserError("anneal_from must be >= 1 and anneal_rate in (0, 1)")
        if self.init not in ("product", "identity"):
            raise UserError(f"unknown init {self.init!r}; expected 'product' or 'identity'")

    def solve(
        self, problem: GromovProblem, epsilon: float | Tensor, warm_start: GromovResult | None = None
    ) -> GromovResult:
        """Solve every problem of the batch with regularisation ``epsilon`` (a float or one value per problem)."""
        # inference mode, not no_grad: a fifth less dispatch time per operation, which is most of the time at
        # small n; its tensors may not enter autograd, so the result leaves as ordinary tensors
        with torch.inference_mode():
            detached = GromovProblem(problem.cx.detach(), problem.cy.detach(), problem.a.detach(), problem.b.detach())
            result = self._solve(detached, epsilon, warm_start)
        return dataclasses.replace(result, **{
            field.name: getattr(result, field.name).clone()
            for field in dataclasses.fields(result) if isinstance(getattr(result, field.name), Tensor)
        })

    def _solve(self, problem: GromovProblem, epsilon: float | Tensor, warm_start: GromovResult | None) -> GromovResult:
        batch, n, m = problem.shape
        like = problem.cx.dense
        eps = torch.as_tensor(epsilon, dtype=like.dtype, device=like.device).reshape(-1)
        eps = eps.expand(batch).clone() if eps.numel() == 1 else eps
        if eps.shape != (batch,) or not bool((eps > 0).all() & torch.isfinite(eps).all()):
            raise UserError(f"epsilon must be positive and finite: one value or one per problem ({batch})")
        tol = self.tol if self.tol is not None else (1e-9 if like.dtype == torch.float64 else 1e-6)
        low_rank = self.low_rank
        if low_rank is None:
            low_rank = problem.cx.low_rank_pays() or problem.cy.low_rank_pays()

        a, b = problem.a, problem.b
        e = eps[:, None, None]
        if warm_start is not None:
            plan = warm_start.plan.to(like, copy=True)  # overwritten by the solver's buffers
            if plan.shape != (batch, n, m):
                raise UserError(f"warm_start plan has shape {tuple(plan.shape)}, expected {(batch, n, m)}")
            f, g = warm_start.f.to(like)[:, :, None], warm_start.g.to(like)[:, None, :]
        else:
            plan = problem.initial_plan(self.init)
            f, g = torch.zeros_like(a)[:, :, None], torch.zeros_like(b)[:, None, :]

        # L ⊗ T up to a row constant (absorbed exactly by the row update); Peyré et al. 2016, Prop. 1, centred
        column = problem.column_constant()
        linear = _CentredCosts.of(problem.cx, problem.cy, low_rank)
        error = torch.full((batch,), float("inf"), dtype=like.dtype, device=like.device)
        marginal_error, change = error.clone(), torch.zeros_like(error)  # the first inner solve goes to tol
        iterations = 0
        spare = torch.empty_like(plan)  # two [P, n, m] buffers alternate: the plan and the next kernel
        a_col, b_col = a.unsqueeze(-1), b.unsqueeze(-1)
        inner = KernelSinkhorn(self.inner_iter, self.inner_check, self.newton_after, self.newton_steps)
        def linearised(f: Tensor, g: Tensor) -> Tensor:  # (f + g − L⊗T)/ε, written into the spare buffer
            return linear.scaled_cost(plan, f / e_k, (g - column) / e_k, 2.0 / e_k, out=spare)

        for iterations in range(1, self.max_iter + 1):
            scale = max(1.0, self.anneal_from * self.anneal_rate ** (iterations - 1))
            e_k = e if scale == 1.0 else e * scale
            inner_tol = (self.inner_ratio * change).clamp_min_(tol)
            new_plan, f, g, marginal_error = inner.solve(linearised, e_k, a_col, b_col, f, g, inner_tol)
            step = plan.sub_(new_plan)  # the old plan's buffer becomes the step, then the next spare
            error = torch.linalg.vector_norm(step, 2, dim=(-1, -2))  # Frobenius
            change = step.abs_().sum(dim=(-1, -2))  # L1 (vector_norm's ord=1 is 5× slower on the CPU at n = 512)
            plan, spare = new_plan, step
            if scale == 1.0 and float(torch.maximum(error, marginal_error).max()) < tol:  # NaN: go on
                break
        value = gw_value(problem.cx, problem.cy, plan)
        # KL(T ‖ a bᵀ) = Σ T log T − (T1)·log a − (Tᵀ1)·log b
        kl = (torch.xlogy(plan, plan).sum((-1, -2)) - (plan.sum(-1) * safe_log(a)).sum(-1)
              - (plan.sum(-2) * safe_log(b)).sum(-1))
        return GromovResult(
            plan=plan,
            f=f.squeeze(-1),
            g=g.squeeze(-2),
            value=value,
            kl=kl,
            epsilon=eps,
            converged=(error < tol) & (marginal_error < tol),
            iterations=iterations,
            error=error,
            marginal_error=marginal_error,
        )
