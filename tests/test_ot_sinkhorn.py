"""The GW solver's inner problem (:mod:`latentdirs.ot.sinkhorn`): the over-relaxation's rules, and solves of
transports with known answers — POT's log-domain Sinkhorn on a sharp kernel, an exact two-block plan."""

import numpy as np
import ot
import pytest
import torch

from latentdirs.ot.sinkhorn import KernelSinkhorn, Overrelaxation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_overrelaxation_parameter_follows_young():
    relaxation = Overrelaxation(window=4)
    for k in range(5):  # plain sweeps; the error shrinks by 0.81 per check after a transient: θ = 0.9 per sweep
        assert relaxation.omega == 1.0
        relaxation.observe(10.0 if k == 0 else 0.81**k, sweep=2 * k)
    omega = 2 / (1 + np.sqrt(1 - 0.9))
    assert relaxation.omega == pytest.approx(omega)
    rho = omega - 1  # relaxed at the optimum, the rate is ω* − 1: Young's relation gives back θ = 0.9
    for k in range(1, 5):  # checks 3 sweeps apart this time: the rate is per sweep, not per check
        relaxation.observe(0.5 * rho ** (3 * k), sweep=8 + 3 * k)
    assert relaxation.omega == pytest.approx(omega)
    for k in range(4):  # a relaxed window without progress: plain sweeps for the rest of the solve
        relaxation.observe(1.0, sweep=21 + k)
    assert relaxation.omega == 1.0
    for k in range(1, 9):
        relaxation.observe(0.9**k, sweep=25 + k)
    assert relaxation.omega == 1.0
    old, plain = torch.tensor([2.0]), torch.tensor([8.0])
    assert float(relaxation.apply(old.clone(), plain.clone())) == 8.0
    relaxation.omega = 1.5
    assert float(relaxation.apply(old.clone(), plain.clone())) == pytest.approx(2.0 ** (1 - 1.5) * 8.0**1.5)


def test_next_check_comes_when_the_observed_rate_reaches_the_tolerance():
    relaxation = Overrelaxation()
    assert relaxation.sweeps_to_tolerance(default=2, most=8) == 2  # no checks yet
    for sweep, error in ((1, 400.0), (2, 100.0)):
        relaxation.observe(error, sweep)
        assert relaxation.sweeps_to_tolerance(default=2, most=8) == 2  # the first check is a transient
    relaxation.observe(25.0, 4)  # error / tol quartered in 2 sweeps: ½ per sweep, 25 → below 1 in 5 sweeps
    assert relaxation.sweeps_to_tolerance(default=2, most=8) == 5
    assert relaxation.sweeps_to_tolerance(default=2, most=3) == 3
    relaxation.observe(1.01, 9)  # almost there: one more sweep
    assert relaxation.sweeps_to_tolerance(default=2, most=8) == 1
    relaxation.observe(3.0, 10)  # the error grew: no rate to go by
    assert relaxation.sweeps_to_tolerance(default=2, most=8) == 2


def test_projected_sweeps_use_the_window_after_its_transient():
    """What decides the switch to Newton steps: the sweeps this window's rate needs to reach the tolerance."""
    relaxation = Overrelaxation()
    for sweep, error in ((1, 900.0), (3, 100.0), (5, 50.0)):
        relaxation.observe(error, sweep)
        assert relaxation.projected_sweeps() == 0.0  # fewer than three checks after the transient
    relaxation.observe(25.0, 7)  # 100 → 25 in 4 sweeps: ½ per 2 sweeps; 25 → 1 takes 2·log2(25) sweeps
    assert relaxation.projected_sweeps() == pytest.approx(2 * np.log2(25))
    relaxation.observe(40.0, 9)  # up from the last check, still below the window's second (100): a slower rate
    assert relaxation.projected_sweeps() == pytest.approx(6 * np.log(40) / np.log(100 / 40))
    relaxation.observe(120.0, 11)  # above the second check: no projection (the window's end judges it)
    assert relaxation.projected_sweeps() == 0.0


def _sharp_transport() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """A 40×50 transport with ε ≪ the cost's scale (1-D points in [0, 1], squared distances, ε = 2e-3) and
    uneven weights: ``cost, a, b, ε``."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(40, 1, generator=g, dtype=torch.float64), torch.rand(50, 1, generator=g, dtype=torch.float64)
    a = torch.rand(40, generator=g, dtype=torch.float64) + 0.5
    b = torch.rand(50, generator=g, dtype=torch.float64) + 0.5
    return (x - y.T).square(), a / a.sum(), b / b.sum(), 2e-3


def _inner_solve(inner: KernelSinkhorn, log_kernel: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                 epsilon: float, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The GW solver's inner Sinkhorn on ``log_kernel = −cost/ε`` from zero potentials: ``(plan [n, m], error)``."""
    n, m = log_kernel.shape
    plan, _, _, error = inner.solve(
        lambda f, g: (f + g) / epsilon + log_kernel, torch.tensor(epsilon, dtype=torch.float64).reshape(1, 1, 1),
        a[None, :, None], b[None, :, None], torch.zeros(1, n, 1, dtype=torch.float64),
        torch.zeros(1, 1, m, dtype=torch.float64), torch.tensor([tol], dtype=torch.float64))
    return plan[0], error[0]


def test_overrelaxed_sinkhorn_matches_pot_on_a_slow_problem(monkeypatch):
    """A sharp kernel (ε ≪ cost scale) needs many plain sweeps: the relaxed inner solve (Newton steps off)
    engages ω > 1 and still lands on POT's log-domain Sinkhorn plan."""
    cost, a, b, eps = _sharp_transport()
    omegas = []
    observe = Overrelaxation.observe

    def recording(self, error, sweep):
        observe(self, error, sweep)
        omegas.append(self.omega)

    monkeypatch.setattr(Overrelaxation, "observe", recording)
    inner = KernelSinkhorn(max_sweeps=100_000, newton_after=float("inf"))
    plan, error = _inner_solve(inner, -cost / eps, a, b, eps, tol=1e-11)
    reference = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), eps, method="sinkhorn_log", numItermax=1_000_000,
                            stopThr=1e-14)
    assert max(omegas) > 1.5 and float(error) < 1e-11
    np.testing.assert_allclose(plan.numpy(), reference, atol=1e-9 * reference.max())


def test_rows_are_exact_when_a_relaxed_inner_solve_runs_out_of_sweeps():
    """The slow problem above cut off at 60 sweeps, while ω > 1: the last row update is plain, so the plan's
    rows sum to ``a`` (a relaxed last update left them off by up to 12 %; in a GW solve at ε0 = 3e-4 in
    float32 that compounded into plans of mass 1.5)."""
    cost, a, b, eps = _sharp_transport()
    inner = KernelSinkhorn(max_sweeps=60, newton_after=float("inf"))
    plan, error = _inner_solve(inner, -cost / eps, a, b, eps, tol=1e-11)
    assert float(error) > 1e-6  # cut off, not converged
    torch.testing.assert_close(plan.sum(1), a, atol=1e-12, rtol=0)


def _two_block_transport() -> tuple[torch.Tensor, torch.Tensor]:
    """Log-kernel ``−(x_i − y_j)²/ε`` of points in two clusters 0.8 apart (ε = 0.04: between the clusters the
    kernel is e^{−16}…e^{−25}) and the known entropic plan ``diag(e^f) K diag(e^g)`` for random ``f, g``, so its
    marginals define the problem and its solution is known exactly."""
    g = torch.Generator().manual_seed(5)
    x = torch.cat([0.1 * torch.rand(10, generator=g), 0.9 + 0.1 * torch.rand(14, generator=g)]).double()
    y = torch.cat([0.1 * torch.rand(16, generator=g), 0.9 + 0.1 * torch.rand(12, generator=g)]).double()
    log_kernel = -(x[:, None] - y[None, :]).square() / 0.04
    f, h = torch.randn(24, generator=g, dtype=torch.float64), torch.randn(28, generator=g, dtype=torch.float64)
    plan = (f[:, None] + log_kernel + h[None, :]).exp()
    return log_kernel, plan / plan.sum()


@pytest.mark.parametrize("newton", [True, False])
def test_newton_steps_finish_what_sinkhorn_cannot(newton):
    """Mass must cross between two weakly coupled blocks: relaxed sweeps stall near 2.5e-9 (5 000 of them),
    Newton steps on the dual reach 1e-12 and the known plan."""
    log_kernel, known = _two_block_transport()
    inner = KernelSinkhorn(max_sweeps=5000, newton_after=None if newton else float("inf"))
    plan, error = _inner_solve(inner, log_kernel, known.sum(1), known.sum(0), 1.0, tol=1e-12)
    if newton:
        assert float(error) < 1e-12
        torch.testing.assert_close(plan, known, atol=1e-10 * float(known.max()), rtol=0)
    else:
        assert float(error) > 1e-10
