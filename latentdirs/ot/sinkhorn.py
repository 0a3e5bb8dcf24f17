r"""The inner problem of the entropic GW solver: entropic OT in a stabilised kernel, warm-started.

Each outer step of :class:`~latentdirs.ot.gromov.EntropicGromovSolver` hands over ``scaled = (f + g − C)/ε`` for
its linearised cost ``C`` and current potentials ``f, g``; :class:`KernelSinkhorn` returns the plan
``T = diag(u) K diag(v)`` with ``K = exp(scaled − row max)`` and the potentials with the scalings absorbed.
Sinkhorn sweeps ``v = b / Kᵀu``, ``u = a / Kv`` (Cuturi, "Sinkhorn distances", NIPS 2013) in the kernel, with
the scalings absorbed into the log domain at the end of each solve, and within one when they grow large
(Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport problems", SIAM J. Sci.
Comput. 2019), made robust where plain sweeps fail:

- :class:`Overrelaxation` — adaptive over-relaxed sweeps when the plain ones converge slowly;
- :func:`newton_scalings` — Newton steps on the dual when even those would need hundreds of sweeps;
- :func:`log_domain_sweeps` — for kernels whose columns underflowed entirely, which no scaling can revive;
- :func:`scaling_limit` — the bound that keeps ``K v`` and the plan finite at tiny ε.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: ``(f, g) ↦ (f + g − cost)/ε`` for the potentials ``f [P, n, 1]``, ``g [P, 1, m]``: a fresh buffer each call
Linearised = Callable[[Tensor, Tensor], Tensor]

#: scalings beyond ``e^{±τ}``, τ = this fraction of ln(float max), are absorbed into the potentials (looked for
#: once per window of checks after the first, i.e. only in slow solves), at most ``MAX_ABSORPTIONS`` times a solve
ABSORB_FRACTION = 0.25
MAX_ABSORPTIONS = 8


@dataclass(frozen=True)
class KernelSinkhorn:
    """Settings of the inner solve: at most ``max_sweeps`` sweeps each time the kernel is formed (a revival or
    an absorption forms it again, see :meth:`solve`); the marginal error is checked after the first sweep, then
    every ``check_every`` until a rate is known (see :meth:`_sweeps`); Newton steps (at most ``newton_steps``)
    take over when the projected sweeps exceed ``newton_after`` (``None``: :func:`newton_worth`)."""

    max_sweeps: int = 1000
    check_every: int = 2
    newton_after: float | None = None
    newton_steps: int = 8

    def solve(
        self, linearised: Linearised, e: Tensor, a_col: Tensor, b_col: Tensor, f: Tensor, g: Tensor, tol: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Entropic OT for one linearised cost, warm-started from the potentials ``f [P, n, 1]``, ``g [P, 1, m]``;
        ``linearised(f, g)`` gives ``(f + g − cost)/ε`` (a buffer the solve overwrites). Weights come as columns
        ``a_col [P, n, 1]``, ``b_col [P, m, 1]``; ``tol [P]``. Returns the plan, the potentials with the scalings
        absorbed, and the plan's marginal error (:func:`marginal_error`, measured on the returned plan).

        Two cases restart the sweeps from the log domain. A kernel column that underflowed entirely (at small ε,
        potentials far from the cost's) can get no mass from any scaling, and its clamped sum would hide it from
        the error: found at the first check, it is revived by :func:`log_domain_sweeps` (once per solve). And
        scalings beyond ``e^{±τ}`` (τ = ``ABSORB_FRACTION`` · ln(float max): 22 in float32, 177 in float64),
        looked for once per window of checks after the first (so only in slow solves), are absorbed into
        ``f, g`` and the kernel is recomputed, which brings back entries that underflowed where the plan needs
        mass (Schmitzer 2019, Algorithm 2; at most ``MAX_ABSORPTIONS`` times). Without it, sharp GW problems
        (ε0 = 3e-4, unscaled squared-Euclidean costs, 16–150 × 90 points) ended their 100 outer steps with
        column errors of 1e-3–1e-1 and scalings of e^±300 (float64), which neither sweeps nor Newton steps
        could reduce.
        """
        scaled = linearised(f, g)
        revive, absorptions = True, 0
        while True:
            status, plan, f, g, error = self._sweeps(
                scaled, e, a_col, b_col, f, g, tol, revive, absorb=absorptions < MAX_ABSORPTIONS)
            if plan is not None:  # done
                return plan, f, g, error
            scaled = linearised(f, g)
            if status == "dead columns":
                f, g = log_domain_sweeps(scaled, e, a_col, b_col, f, g)
                revive = False
            else:  # "absorbed"
                absorptions += 1

    def _sweeps(
        self, scaled: Tensor, e: Tensor, a_col: Tensor, b_col: Tensor, f: Tensor, g: Tensor, tol: Tensor,
        revive: bool, absorb: bool,
    ) -> tuple[str, Tensor | None, Tensor, Tensor, Tensor]:
        """Sinkhorn sweeps in the kernel of ``scaled = (f + g − cost)/ε`` (overwritten).

        The stabilised kernel ``K = exp(scaled − max_j scaled)`` (entries in [0, 1], one per row equal to 1)
        and the exact row update ``u = a / K1`` come from a single exponential; matrix-vector sweeps in ``K``
        (over-relaxed once they prove slow, see :class:`Overrelaxation`) follow until the marginal error
        ``‖T1 − a‖₁ + ‖Tᵀ1 − b‖₁`` of ``T = diag(u) K diag(v)`` is below ``tol`` [P] or the sweeps run out;
        a last plain row update (never a relaxed one) makes the rows exact either way; the scalings and the
        row maxima are absorbed into ``f, g``. Each check reads one number back, the worst ``error / tol``
        (after a window of checks, with ``absorb``, also whether a scaling left ``e^{±τ}``), which also drives
        the over-relaxation, the sweeps to the next check (see :meth:`Overrelaxation.sweeps_to_tolerance`)
        and, when the projected sweeps exceed ``newton_after``, the switch to :func:`newton_scalings`, which
        ends the solve. Returns ``(status, plan, f, g, error)``: ``"done"`` with the plan and its own marginal
        error (:func:`marginal_error`); ``"dead columns"``
        (with ``revive``: a column of ``K`` underflowed to zero; ``f, g`` unchanged) or ``"absorbed"`` (scalings
        beyond ``e^{±τ}``, folded into the returned ``f, g``), both with no plan.
        """
        row_max = scaled.amax(dim=-1, keepdim=True)
        kernel = scaled.sub_(row_max).exp_()

        def absorbed(u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:  # f, g with the scalings and row maxima
            return f + e * (torch.log(u) - row_max), g + e * torch.log(v).transpose(-1, -2)

        kernel_t = kernel.transpose(-1, -2)
        limit = scaling_limit(kernel)
        floor = 1.0 / limit
        bound = math.exp(ABSORB_FRACTION * math.log(torch.finfo(kernel.dtype).max))
        u = a_col / kernel.sum(dim=-1, keepdim=True)
        v = torch.ones_like(b_col)
        error = torch.full_like(tol, float("inf"))
        relaxation = Overrelaxation(limit=limit)
        next_check = 1
        newton_after = self.newton_after if self.newton_after is not None else newton_worth(*kernel.shape[-2:])
        for sweep in range(1, self.max_sweeps + 1):
            column_sums = torch.bmm(kernel_t, u).clamp_min_(floor)
            v = relaxation.apply(v, b_col / column_sums)
            kernel_v = torch.bmm(kernel, v).clamp_min_(floor)
            if sweep == next_check or sweep == self.max_sweeps:
                # ‖diag(u) K v − a‖₁: the columns are exact unless relaxed
                error = torch.linalg.vector_norm(torch.addcmul(a_col, u, kernel_v, value=-1.0), 1, dim=(-1, -2))
                if relaxation.omega != 1.0:
                    residual = torch.addcmul(b_col, v, column_sums, value=-1.0)
                    error = error + torch.linalg.vector_norm(residual, 1, dim=(-1, -2))
                ratio = (error / tol).amax()  # NaN when a scaling overflowed
                look_for_dead_columns = revive and sweep == 1
                if look_for_dead_columns:  # a column sum clamped to the floor: the column underflowed
                    ratio = ratio / (column_sums.amin() > floor)  # inf (NaN) then
                if absorb and relaxation.windows > 0 and len(relaxation.checks) % relaxation.window == 0:
                    # a slow solve, once a window: are the scalings still in range?
                    low, high = torch.aminmax(torch.cat([u.reshape(-1), v.reshape(-1)]))
                    outside = (high > bound) | (low < 1.0 / bound)
                    worst, far = torch.stack([ratio, outside.to(ratio.dtype)]).tolist()
                else:
                    worst, far = float(ratio), 0.0
                if look_for_dead_columns and not math.isfinite(worst):
                    return "dead columns", None, f, g, error
                if worst < 1.0:
                    u = a_col / kernel_v
                    break
                if relaxation.omega != 1.0 and not math.isfinite(worst):  # scalings at float limits: plain again
                    relaxation.give_up()
                    u, v = a_col / kernel.sum(dim=-1, keepdim=True), torch.ones_like(b_col)
                    next_check = sweep + self.check_every
                    continue
                if far:
                    return ("absorbed", None, *absorbed(u, v), error)
                relaxation.observe(worst, sweep)
                if relaxation.windows > 0 and relaxation.projected_sweeps() > newton_after:
                    u, v, error = newton_scalings(kernel, u, v, a_col, b_col, tol, self.newton_steps, limit)
                    u = a_col / torch.bmm(kernel, v).clamp_min_(floor)
                    break
                next_check = sweep + relaxation.sweeps_to_tolerance(self.check_every, 4 * self.check_every)
            u = a_col / kernel_v if sweep == self.max_sweeps else relaxation.apply(u, a_col / kernel_v)
        plan = kernel.mul_(u).mul_(v.transpose(-1, -2))
        return ("done", plan, *absorbed(u, v), marginal_error(plan, a_col, b_col))


class Overrelaxation:
    r"""Adaptive over-relaxation of Sinkhorn's scaling updates, ``u ← u^{1−ω} (a / Kv)^ω`` (likewise ``v``).

    ``ω = 1`` is plain Sinkhorn, whose local convergence is linear with some rate ``θ`` per sweep; the
    relaxed iteration converges for ``ω ∈ (0, 2)``, fastest at Young's SOR optimum ``ω* = 2 / (1 + √(1 − θ))``
    (Thibault, Chizat, Dossal, Papadakis, "Overrelaxed Sinkhorn-Knopp algorithm for regularized optimal
    transport", Algorithms 2021; Lehmann, von Renesse, Sambale, Uschmajew, "A note on overrelaxation in the
    Sinkhorn algorithm", Optim. Lett. 2022). ``θ`` is estimated at no cost from the marginal errors: over a
    window of ``window`` checks at a fixed ω (its first check, a transient, left out) the observed rate ``ρ``
    per sweep gives, by Young's relation ``ρ + ω − 1 = ω √(θ ρ)``, ``θ = (ρ + ω − 1)² / (ρ ω²)`` (``θ = ρ`` at
    ω = 1); ω is then set to ``ω*`` (at most ``max_omega``), window after window. A relaxed window without
    progress (a stagnating or diverging solve), or scalings that leave the floating-point range (a kernel
    with underflowed columns), send ω back to 1 for the rest of the solve (restarting its scalings in the
    second case). Inner solves shorter than one window (the common, warm-started case) stay plain.
    """

    def __init__(self, window: int = 8, max_omega: float = 1.9, limit: float = math.inf) -> None:
        self.window = window
        self.max_omega = max_omega
        self.limit = limit
        self.omega = 1.0
        self.checks: list[tuple[int, float]] = []  # (sweep, error) since the last window ended
        self.gave_up = False
        self.windows = 0  # windows completed

    def apply(self, old: Tensor, plain: Tensor) -> Tensor:
        """The new scaling from the previous one and the plain Sinkhorn update (``old`` may be overwritten),
        kept in ``[tiny, limit]`` like the plain scalings, so that no 0, inf or NaN can enter the potentials."""
        if self.omega == 1.0:
            return plain
        finfo = torch.finfo(old.dtype)
        return old.mul_(plain.div_(old).pow_(self.omega)).clamp_(finfo.tiny, min(self.limit, 1.0 / finfo.tiny))

    def give_up(self) -> None:
        """Plain sweeps for the rest of the solve."""
        self.omega, self.gave_up = 1.0, True

    def observe(self, error: float, sweep: int) -> None:
        """Record the (worst) marginal error of a check after ``sweep`` sweeps, in any fixed unit (the solver
        passes error / tolerance); at the end of a window, choose the next ω."""
        self.checks.append((sweep, error))
        if self.gave_up or len(self.checks) <= self.window:
            return
        (first_sweep, first), (last_sweep, _) = self.checks[1], self.checks[-1]
        rho = (error / first) ** (1.0 / (last_sweep - first_sweep)) if first > 0 else 0.0
        if rho < 1.0:
            theta = min((rho + self.omega - 1.0) ** 2 / (rho * self.omega**2), 1.0) if rho > 0 else 0.0
            self.omega = min(2.0 / (1.0 + math.sqrt(1.0 - theta)), self.max_omega)
        elif self.omega != 1.0:  # a relaxed window without progress
            self.give_up()
        self.checks = [(sweep, error)]
        self.windows += 1

    def projected_sweeps(self) -> float:
        """Sweeps that this window's rate (from its second check, the first being a transient, to its last;
        at least three checks) needs to bring the last error below 1; ``0`` while there is no such rate or the
        error has not fallen over it (a transient after ω changed: the window's end judges it)."""
        if len(self.checks) < 4:
            return 0.0
        sweeps = sweeps_to_one(self.checks[1], self.checks[-1])
        return 0.0 if sweeps is None else sweeps

    def sweeps_to_tolerance(self, default: int, most: int) -> int:
        """Sweeps until the next check: the number that brings the last recorded error (in units of the
        tolerance, > 1) below 1 at the rate of the last two checks of this window (its transient first check
        left out), between 1 and ``most``; ``default`` until the window has such a rate or when the error did
        not fall."""
        sweeps = sweeps_to_one(*self.checks[-2:]) if len(self.checks) >= 3 else None
        return default if sweeps is None else min(max(math.ceil(sweeps), 1), most)


def sweeps_to_one(earlier: tuple[int, float], later: tuple[int, float]) -> float | None:
    """Sweeps that the rate between two checks ``(sweep, error)`` needs to bring the later error below 1
    (negative when it already is); ``None`` when the error did not fall."""
    (sweep_0, error_0), (sweep_1, error_1) = earlier, later
    if not 0 < error_1 < error_0:
        return None
    rate = math.log(error_1 / error_0) / (sweep_1 - sweep_0)  # < 0: log-error change per sweep
    return -math.log(error_1) / rate


def newton_scalings(
    kernel: Tensor, u: Tensor, v: Tensor, a_col: Tensor, b_col: Tensor, tol: Tensor, steps: int, limit: float
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Newton steps on the dual of entropic OT in the log-scalings, for kernels where Sinkhorn crawls.

    With ``T = diag(u) K diag(v)``, ``p = T1``, ``q = Tᵀ1``, the dual
    ``φ(α, β) = ⟨α, a⟩ + ⟨β, b⟩ − Σ_ij u_i e^{α_i} K_ij v_j e^{β_j}`` (at α = β = 0) has gradient
    ``(a − p, b − q)`` and Hessian ``−[[diag p, T], [Tᵀ, diag q]]``; the Newton step solves

    .. math:: (\mathrm{diag}\, q - T^\top \mathrm{diag}(1/p)\, T)\, δβ = (b - q) - T^\top \frac{a - p}{p}, \qquad
              δα = \frac{(a - p) - T δβ}{p}

    (Schur complement, positive semi-definite with null vector ``1``: ``mean(q)/m · 11ᵀ`` is added, which leaves
    the solution unchanged because the right side sums to 0), then ``u ← u e^{t δα}``, ``v ← v e^{t δβ}`` with
    ``t`` halved until φ rises by Armijo's rule. Brauer, Clason, Lorenz, Wirth, "A Sinkhorn-Newton method for
    entropic optimal transport", arXiv 1710.06635, 2017 (there with conjugate gradients; here a Cholesky solve in
    float64, ``O(nm² + m³)`` per step). Sinkhorn's slow mode — mass that must move between weakly coupled blocks
    of the kernel, at rates like 1 − 10⁻⁵ per sweep — is one direction of this system, so a few steps finish
    what 10⁵ sweeps would not. At most ``steps`` steps, stopping once ``‖T1 − a‖₁ + ‖Tᵀ1 − b‖₁ < tol`` [P]
    (or when it is not finite). Returns ``u, v`` and that error (before the last step when the steps run out);
    one read-back per step and per step-length trial.
    """
    tiny = torch.finfo(u.dtype).tiny
    a64, b64 = a_col.double(), b_col.double()
    error = torch.full_like(tol, float("inf"))
    for _ in range(steps):
        plan = (kernel * u * v.transpose(-1, -2)).double()
        p, q = plan.sum(-1, keepdim=True), plan.sum(-2).unsqueeze(-1)
        res_a, res_b = a64 - p, b64 - q
        error = (res_a.abs().sum((-1, -2)) + res_b.abs().sum((-1, -2))).to(tol.dtype)
        worst = float((error / tol).max())
        if worst < 1.0 or not math.isfinite(worst):  # done, or a plan past the float range: no step to take
            break
        p = p.clamp_min(torch.finfo(torch.float64).tiny)
        schur = torch.diag_embed(q.squeeze(-1)) - plan.transpose(-1, -2) @ (plan / p)
        schur += q.mean(dim=(-1, -2), keepdim=True) / q.shape[-2]
        chol, info = torch.linalg.cholesky_ex(schur)
        d_beta = torch.cholesky_solve(res_b - plan.transpose(-1, -2) @ (res_a / p), chol)
        d_alpha = (res_a - plan @ d_beta) / p
        solved = (info == 0)[:, None, None] & torch.isfinite(d_alpha).all(-2, keepdim=True)
        d_alpha, d_beta = d_alpha.where(solved, 0.0), d_beta.where(solved, 0.0)
        slope = (res_a * d_alpha).sum((-1, -2)) + (res_b * d_beta).sum((-1, -2))  # ≥ 0: ascent direction
        mass, linear = p.sum((-1, -2)), (a64 * d_alpha).sum((-1, -2)) + (b64 * d_beta).sum((-1, -2))
        t = torch.ones_like(mass)
        for _ in range(10):
            grow_a, grow_b = (t[:, None, None] * d_alpha).exp(), (t[:, None, None] * d_beta).exp()
            trial = (grow_a.transpose(-1, -2) @ plan @ grow_b).reshape(-1)
            gain = t * linear - (trial - mass)
            accept = gain >= 1e-4 * t * slope - 1e-14 * mass
            if bool(accept.all()):
                break
            t = torch.where(accept, t, 0.5 * t)
        keep = accept[:, None, None]  # a problem without an ascent step after 10 halvings stays where it is
        u = (u * grow_a.where(keep, 1.0).to(u.dtype)).clamp_(tiny, limit)
        v = (v * grow_b.where(keep, 1.0).to(v.dtype)).clamp_(tiny, limit)
    return u, v, error


def log_domain_sweeps(
    scaled: Tensor, e: Tensor, a_col: Tensor, b_col: Tensor, f: Tensor, g: Tensor, most: int = 50
) -> tuple[Tensor, Tensor]:
    """Sinkhorn sweeps in the log domain on ``scaled = (f + g − cost)/ε`` (updated in place), column then row
    ``logsumexp`` updates, until every column's mass is within a factor 2 of ``b`` or ``most`` sweeps; weights
    as columns ``a_col [P, n, 1]``, ``b_col [P, m, 1]``; returns the updated ``f [P, n, 1]``, ``g [P, 1, m]``.
    Two exponential passes a sweep: only for kernels whose columns underflowed, where no scaling of the
    exponentiated kernel can help (Schmitzer 2019, log-domain updates)."""
    log_a, log_b = safe_log(a_col), safe_log(b_col).transpose(-1, -2)
    column_mass = torch.logsumexp(scaled, dim=-2, keepdim=True)
    for _ in range(most):
        column = log_b - column_mass
        scaled += column
        row = log_a - torch.logsumexp(scaled, dim=-1, keepdim=True)
        scaled += row
        f, g = f + e * row, g + e * column
        column_mass = torch.logsumexp(scaled, dim=-2, keepdim=True)  # the stop test's and the next update's
        if not bool(((column_mass - log_b).abs() > math.log(2.0)).any()):
            break
    return f, g


def marginal_error(plan: Tensor, a_col: Tensor, b_col: Tensor) -> Tensor:
    """``‖T1 − a‖₁ + ‖Tᵀ1 − b‖₁`` [P] of the plan a solve returns, measured on it: the checks inside a solve
    measure the scalings before its last row update (and Newton steps before their last step), which can
    differ from the returned plan's error by an order of magnitude when a solve is cut off (0.45 reported for
    a plan whose columns were off by 0.031). Plain sweeps' rows are exact after that update and its column
    error is at most the row error it removed, so a converged solve still reports below its tolerance."""
    rows = torch.linalg.vector_norm(plan.sum(-1) - a_col.squeeze(-1), 1, dim=-1)
    return rows + torch.linalg.vector_norm(plan.sum(-2) - b_col.squeeze(-1), 1, dim=-1)


def scaling_limit(kernel: Tensor) -> float:
    """The largest scaling the inner solve lets ``u, v`` reach, ``√(float max) / max(n, m)``: a plan entry
    ``u_i K_ij v_j`` and a product ``K v`` then stay finite (``K ≤ 1``). A solve that would need more (a kernel
    whose entries underflowed where the plan needs mass) stops short with an honest error, and the next outer
    step starts from potentials that absorbed the progress."""
    return torch.finfo(kernel.dtype).max ** 0.5 / max(kernel.shape[-2:])


def newton_worth(n: int, m: int) -> float:
    """Sweeps that four Newton steps cost, ``4·max(32, m/2 + m²/6n)``: one step is ``nm² + m³/3`` float64
    multiply-adds and ~30 small operations, a sweep ``2nm`` and ~6 (one CPU thread, n = m = 32…512: a step took
    27–65 sweeps up to n = 128, 86–157 at 256, 118–296 at 512), and a stalled solve needs about four."""
    return 4.0 * max(32.0, m / 2 + m * m / (6 * n))


def safe_log(w: Tensor) -> Tensor:
    return torch.log(w.clamp_min(torch.finfo(w.dtype).tiny))
