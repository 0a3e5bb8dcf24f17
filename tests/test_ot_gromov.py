"""Entropic GW solver against POT (entropic and exact GW), in float64 and float32; costs; conventions."""

import functools
import itertools
from pathlib import Path

import numpy as np
import ot
import pytest
import torch

from latentdirs.errors import UserError
from latentdirs.ot.costs import COST_NAMES, CostMatrix, cost_matrix
from latentdirs.ot.gromov import EntropicGromovSolver, GromovProblem, gw_value

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _points(seed: int, n: int, dx: int = 3, dy: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dx, generator=g, dtype=torch.float64)
    y = torch.tanh(x[:, :dy] + 0.5 * torch.randn(n, dy, generator=g, dtype=torch.float64))
    return x, y


def _pot_entropic(cx: torch.Tensor, cy: torch.Tensor, eps_pot: float) -> tuple[np.ndarray, float]:
    plan, log = ot.gromov.entropic_gromov_wasserstein(
        cx.double().numpy(), cy.double().numpy(), epsilon=eps_pot, log=True, max_iter=2000, tol=1e-11,
        numItermax=5000, stopThr=1e-12,
    )
    return plan, float(log["gw_dist"])


@pytest.mark.parametrize("cost", COST_NAMES)
def test_cost_factors_reproduce_dense_matrix(cost):
    x, _ = _points(0, 15, dx=4)
    c = cost_matrix(x, cost)
    assert c.dense.shape == (1, 15, 15)
    torch.testing.assert_close(c.left @ c.right.transpose(-1, -2), c.dense, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(c.dense, c.dense.transpose(-1, -2))
    assert float(c.dense.diagonal(dim1=-2, dim2=-1).abs().max()) < 1e-10
    brute = {
        "sqeuclidean": torch.cdist(x, x) ** 2,
        "scaled_sqeuclidean": torch.cdist(x, x) ** 2 / (torch.cdist(x, x) ** 2).mean(),
        "cosine": 1 - torch.nn.functional.cosine_similarity(x[:, None], x[None], dim=-1),
    }[cost]
    torch.testing.assert_close(c.dense[0], brute, atol=1e-10, rtol=1e-10)


def test_scaled_cost_ignores_global_scale():
    x, _ = _points(1, 10)
    scaled = cost_matrix(3.7 * x, "scaled_sqeuclidean").dense
    torch.testing.assert_close(scaled, cost_matrix(x, "scaled_sqeuclidean").dense)


def test_gw_value_matches_four_index_sum():
    x, y = _points(2, 6)
    cx, cy = cost_matrix(x, "sqeuclidean").dense[0], cost_matrix(y, "sqeuclidean").dense[0]
    plan = torch.rand(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    plan /= plan.sum()
    brute = 0.5 * sum(
        (cx[i, k] - cy[j, l]) ** 2 * plan[i, j] * plan[k, l] for i, j, k, l in itertools.product(range(6), repeat=4)
    )
    torch.testing.assert_close(gw_value(cx, cy, plan), brute)
    # with the coupling i -> i the value is the distortion ½ mean (cx - cy)²
    torch.testing.assert_close(gw_value(cx, cy, torch.eye(6, dtype=torch.float64) / 6), 0.5 * (cx - cy).pow(2).mean())


@functools.cache
def _pot_reference(seed: int) -> tuple[np.ndarray, float]:
    x, y = _points(seed, n=24)
    cx, cy = cost_matrix(x, "sqeuclidean").dense[0], cost_matrix(y, "sqeuclidean").dense[0]
    eps = float(GromovProblem.create(cx, cy).relative_epsilon(0.3)[0])
    return _pot_entropic(cx, cy, 2 * eps)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_plan_and_value_match_pot_entropic(dtype):
    """Batched solve of 3 problems; each matches POT run with epsilon_POT = 2ε (POT value = 2 × ours)."""
    pairs = [_points(seed, n=24) for seed in range(3)]
    cx = torch.stack([cost_matrix(x, "sqeuclidean").dense[0] for x, _ in pairs])
    cy = torch.stack([cost_matrix(y, "sqeuclidean").dense[0] for _, y in pairs])
    problem = GromovProblem.create(cx.to(dtype), cy.to(dtype))
    eps = GromovProblem.create(cx, cy).relative_epsilon(0.3)
    result = EntropicGromovSolver().solve(problem, eps.to(dtype))
    assert bool(result.converged.all())
    plan_tol, value_rtol = (1e-6, 1e-7) if dtype == torch.float64 else (1e-3, 5e-5)
    for k in range(3):
        pot_plan, pot_value = _pot_reference(k)
        plan_error = np.abs(result.plan[k].double().numpy() - pot_plan).max() / pot_plan.max()
        assert plan_error < plan_tol, plan_error
        assert abs(2 * float(result.value[k]) - pot_value) < value_rtol * abs(pot_value) + 1e-9
    # marginals
    torch.testing.assert_close(result.plan.sum(-1), problem.a, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.plan.sum(-2), problem.b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cost, ratio", [("sqeuclidean", 0.1), ("cosine", 0.01)])
def test_product_init_follows_pots_iterates_to_its_minimum(cost, ratio):
    """A problem on which a one-sweep first inner solve ended in another local minimum (plan 78 % / 124 %
    away from POT's, value 0.5 % / 10 % worse)."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    y = torch.tanh(x[:, :3] @ torch.randn(3, 3, generator=gen, dtype=torch.float64))
    y = y + 0.3 * torch.randn(16, 3, generator=gen, dtype=torch.float64)
    problem = GromovProblem.create(cost_matrix(x, cost), cost_matrix(y, cost))
    eps = float(problem.relative_epsilon(0.1)[0])
    ours = EntropicGromovSolver(tol=1e-10, inner_ratio=ratio).solve(problem, eps).plan[0].numpy()
    pot = ot.gromov.entropic_gromov_wasserstein(problem.cx.dense[0].numpy(), problem.cy.dense[0].numpy(),
                                                epsilon=2 * eps, tol=1e-11)
    assert np.abs(ours - pot).max() < 1e-6 * pot.max()


def test_pot_epsilon_is_twice_ours():
    """The ½ convention: our ε reproduces POT's plan at epsilon=2ε and differs from POT's at epsilon=ε."""
    x, y = _points(4, 20)
    cx, cy = cost_matrix(x, "sqeuclidean").dense[0], cost_matrix(y, "sqeuclidean").dense[0]
    problem = GromovProblem.create(cx, cy)
    eps = float(problem.relative_epsilon(0.3)[0])
    ours = EntropicGromovSolver().solve(problem, eps).plan[0].numpy()
    doubled, _ = _pot_entropic(cx, cy, 2 * eps)
    same, _ = _pot_entropic(cx, cy, eps)
    assert np.abs(ours - doubled).max() < 1e-8
    assert np.abs(ours - same).max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_small_epsilon_limit_matches_exact_gw(dtype):
    """At small ε (annealed from a large one) the plan and value approach POT's exact (CG) GW."""
    for seed in (0, 2):
        g = torch.Generator().manual_seed(seed)
        n = 20
        x = torch.randn(n, 2, generator=g, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
        y = torch.cat([x, torch.zeros(n, 1, dtype=torch.float64)], 1) @ rotation
        y = (y + 0.05 * torch.randn(n, 3, generator=g, dtype=torch.float64))[torch.randperm(n, generator=g)]
        cx, cy = cost_matrix(x, "sqeuclidean").dense[0], cost_matrix(y, "sqeuclidean").dense[0]
        exact_plan, log = ot.gromov.gromov_wasserstein(cx.numpy(), cy.numpy(), log=True)
        problem = GromovProblem.create(cx.to(dtype), cy.to(dtype))
        eps = GromovProblem.create(cx, cy).relative_epsilon(1e-3).to(dtype)
        result = EntropicGromovSolver(anneal_from=100, tol=1e-6).solve(problem, eps)
        assert bool(result.converged.all())
        assert abs(2 * float(result.value[0]) - log["gw_dist"]) < 1e-3 * log["gw_dist"]
        assert np.abs(result.plan[0].double().numpy() - exact_plan).max() < 1e-3 * exact_plan.max()


def test_float32_small_epsilon_stays_a_coupling():
    """Where POT's float32 solver returns an all-zero plan, the log-domain solver returns a valid coupling."""
    x, y = _points(5, 32)
    cx, cy = cost_matrix(x.float(), "sqeuclidean"), cost_matrix(y.float(), "sqeuclidean")
    problem = GromovProblem.create(cx, cy)
    eps = problem.relative_epsilon(1e-3)
    with pytest.warns(UserWarning):
        pot_plan = ot.gromov.entropic_gromov_wasserstein(
            cx.dense[0].numpy(), cy.dense[0].numpy(), epsilon=2 * float(eps), max_iter=20
        )
    assert not np.isfinite(pot_plan).all() or abs(pot_plan.sum() - 1) > 1e-3  # POT fails here
    result = EntropicGromovSolver(anneal_from=100, max_iter=300, tol=1e-5).solve(problem, eps)
    assert torch.isfinite(result.plan).all() and bool((result.plan >= 0).all())
    torch.testing.assert_close(result.plan.sum(-1), problem.a, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.plan.sum(-2), problem.b, atol=1e-4, rtol=0)
    reference = EntropicGromovSolver(anneal_from=100, max_iter=300, tol=1e-6).solve(
        GromovProblem.create(cost_matrix(x, "sqeuclidean"), cost_matrix(y, "sqeuclidean")), eps.double()
    )
    assert abs(float(result.value[0]) - float(reference.value[0])) < 1e-3 * float(reference.value[0])


@pytest.mark.parametrize("dx, dy", [(3, 2), (2, 3), (3, 30)])  # the plan meets X's factor, Y's, or X's (Y dense)
def test_low_rank_and_dense_paths_agree(dx, dy):
    x, y = _points(6, 40, dx=dx, dy=2)
    if dy > 2:
        y = torch.cat([y, 0.3 * torch.randn(40, dy - 2, generator=torch.Generator().manual_seed(7), dtype=y.dtype)], 1)
    problem = GromovProblem.create(cost_matrix(x, "cosine"), cost_matrix(y, "sqeuclidean"))
    assert problem.cx.low_rank_pays() and problem.cy.low_rank_pays() == (dy < 10)
    eps = problem.relative_epsilon(0.1)
    low = EntropicGromovSolver(low_rank=True).solve(problem, eps)
    dense = EntropicGromovSolver(low_rank=False).solve(problem, eps)
    torch.testing.assert_close(low.plan, dense.plan, atol=1e-9, rtol=1e-6)
    torch.testing.assert_close(low.value, dense.value)


def test_warm_start_and_identity_init():
    x, y = _points(7, 30)
    problem = GromovProblem.create(cost_matrix(x, "sqeuclidean"), cost_matrix(y, "sqeuclidean"))
    eps = problem.relative_epsilon(0.2)
    cold = EntropicGromovSolver().solve(problem, eps)
    warm = EntropicGromovSolver().solve(problem, eps, warm_start=cold)
    assert warm.iterations <= 2 < cold.iterations
    torch.testing.assert_close(warm.plan, cold.plan, atol=1e-9, rtol=1e-6)
    identity = GromovProblem.create(problem.cx, problem.cy).initial_plan("identity")
    torch.testing.assert_close(identity[0], torch.eye(30, dtype=torch.float64) / 30)
    assert EntropicGromovSolver(init="identity").solve(problem, eps).converged.all()


def test_bad_inputs_are_user_errors():
    x, y = _points(8, 5)
    cx = cost_matrix(x, "sqeuclidean")
    with pytest.raises(UserError, match="symmetric"):
        GromovProblem.create(torch.rand(5, 5, dtype=torch.float64), cx)
    with pytest.raises(UserError, match="square"):
        GromovProblem.create(torch.rand(5, 4), torch.rand(5, 5))
    with pytest.raises(UserError, match="positive"):
        EntropicGromovSolver().solve(GromovProblem.create(cx, cx), 0.0)
    with pytest.raises(UserError, match="identity"):
        GromovProblem.create(cx, cost_matrix(y[:4], "sqeuclidean")).initial_plan("identity")
    with pytest.raises(UserError, match="unknown cost"):
        cost_matrix(x, "manhattan")
    with pytest.raises(UserError, match="weights"):
        GromovProblem.create(cx, cx, a=torch.ones(5, dtype=torch.float64))
    with pytest.raises(UserError, match="positive"):  # a zero weight sent the solve to NaN (its potential −∞)
        GromovProblem.create(cx, cx, b=torch.tensor([0.25, 0.25, 0.25, 0.25, 0.0], dtype=torch.float64))
    with pytest.raises(UserError, match="newton_steps"):
        EntropicGromovSolver(newton_steps=0)
    with pytest.raises(UserError, match="newton_after"):
        EntropicGromovSolver(newton_after=float("nan"))


def test_float32_precise_when_one_cost_is_tiny():
    """Nearly parallel images (cosine costs ~1e-6 against ~1 on the other side): float32 follows float64."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = 1.0 + 1e-3 * torch.tanh(x @ torch.randn(5, 50, generator=g, dtype=torch.float64))
    results = []
    for dtype in (torch.float64, torch.float32):
        problem = GromovProblem.create(cost_matrix(x.to(dtype), "cosine"), cost_matrix(y.to(dtype), "cosine"))
        assert float(problem.cy.dense.mean()) < 1e-5
        results.append(EntropicGromovSolver(tol=1e-6).solve(problem, problem.relative_epsilon(0.1)))
    assert bool(results[0].converged.all() & results[1].converged.all())
    assert float((results[1].plan.double() - results[0].plan).abs().max()) < 1e-3 * float(results[0].plan.max())


def _spread_points(n: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points in R⁵ and ``m`` in R³ three times as spread and shifted: unscaled squared distances
    averaging ~10 and ~50, so a small ε0 gives exponent ranges of 10³–10⁴."""
    g = torch.Generator().manual_seed(n * 7 + m)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    return x, torch.randn(m, 3, generator=g, dtype=torch.float64) * 3 + 1


@pytest.mark.parametrize(("n", "m"), [(16, 16), (64, 16), (16, 90)])
def test_tiny_epsilon_plans_are_couplings_and_their_errors_true(n, m):
    """ε0 = 1e-3 and 3e-4 in float32, product init: the first kernels have columns that underflow entirely
    (ranges of 10³–10⁴ in the exponent). Such solves used to report convergence with a marginal error of 0
    for a plan of mass 1/16, or return plans with rows off by up to 4; now the rows are exact, the reported
    marginal error is the plan's column error, and a solve that says it converged has met the tolerance."""
    x, y = _spread_points(n, m)
    for eps0, cost in itertools.product((1e-3, 3e-4), ("sqeuclidean", "cosine")):
        problem = GromovProblem.create(cost_matrix(x.float(), cost), cost_matrix(y.float(), cost))
        result = EntropicGromovSolver(max_iter=100, tol=1e-4, inner_iter=50).solve(
            problem, problem.relative_epsilon(eps0))
        plan = result.plan[0].double()
        assert bool(torch.isfinite(plan).all())
        assert float((plan.sum(1) - 1 / n).abs().sum()) < 1e-6
        columns = float((plan.sum(0) - 1 / m).abs().sum())
        assert float(result.marginal_error[0]) == pytest.approx(columns, rel=0.02, abs=1e-6)
        if bool(result.converged[0]):
            assert columns < 1.01e-4


@pytest.mark.parametrize(("dtype", "eps0"), [(torch.float32, 1e-2), (torch.float64, 1e-3)])
def test_scalings_stay_below_the_overflow_limit(dtype, eps0):
    """Long inner solves (1000 sweeps) on kernels that need scalings beyond the float range: without a bound
    Newton steps and sweeps pushed ``v`` to 1e38 (float32) / 1e307 (float64), ``K v`` overflowed and every
    later step was NaN. The scalings now stop at √(float max)/max(n, m) and the next outer step absorbs them."""
    x, y = _spread_points(64, 90)
    problem = GromovProblem.create(cost_matrix(x.to(dtype), "sqeuclidean"), cost_matrix(y.to(dtype), "sqeuclidean"))
    result = EntropicGromovSolver(max_iter=100, tol=1e-4, inner_iter=1000).solve(
        problem, problem.relative_epsilon(eps0))
    plan = result.plan[0].double()
    assert bool(torch.isfinite(plan).all()) and bool(torch.isfinite(result.f).all() & torch.isfinite(result.g).all())
    assert float((plan.sum(1) - 1 / 64).abs().sum()) < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sharp_problems_end_with_couplings_and_their_true_errors(dtype):
    """ε0 = 3e-4 with unscaled squared-Euclidean costs, 150 × 90 points: the inner solves need scalings of
    e^±300, absorbed into the potentials mid-solve. Whether the outer mirror descent converges within a number
    of steps is not a property of such a problem but of the rounding: in float64 (one thread, no vector units)
    a 1-ulp change of one coordinate took it from 75 steps to more than 300, or to 58 or 72; the CPU's vector
    units change it as much (AVX-512 / AVX2 / none: float32 > 300 / 256 / 65 steps, float64 > 300 / 161 / 75),
    so "it converged" failed on other machines. Asserted is what every solve guarantees: a finite plan with
    exact rows, finite potentials, the plan's own marginal error reported, and a claimed convergence that has
    met the tolerance."""
    x, y = _spread_points(150, 90)
    problem = GromovProblem.create(cost_matrix(x.to(dtype), "sqeuclidean"), cost_matrix(y.to(dtype), "sqeuclidean"))
    tol = 1e-4 if dtype == torch.float32 else 1e-7
    result = EntropicGromovSolver(max_iter=100, tol=tol, inner_iter=1000).solve(
        problem, problem.relative_epsilon(3e-4))
    plan = result.plan[0].double()
    assert bool(torch.isfinite(plan).all()) and bool((plan >= 0).all())
    assert bool(torch.isfinite(result.f).all() & torch.isfinite(result.g).all())
    rows, columns = float((plan.sum(1) - 1 / 150).abs().sum()), float((plan.sum(0) - 1 / 90).abs().sum())
    assert rows < 1e-6
    assert float(result.marginal_error[0]) == pytest.approx(rows + columns, rel=1e-3, abs=1e-6)
    if bool(result.converged[0]):
        assert columns < 1.01 * tol and float(result.error[0]) < tol


@pytest.mark.parametrize(("seed", "cost"), [(0, "sqeuclidean"), (0, "cosine"), (3, "sqeuclidean")])
def test_uneven_weights_at_small_epsilon_in_float32(seed, cost):
    """Weights spread over e^±16 (log-normal, σ = 8), ε0 = 1e-3, float32: these solves ended in NaN plans or
    with rows off; now they converge to plans with the given marginals."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(40, 3, generator=g, dtype=torch.float64), torch.randn(30, 2, generator=g, dtype=torch.float64)
    a = torch.exp(8.0 * torch.randn(40, generator=g, dtype=torch.float64))
    b = torch.exp(8.0 * torch.randn(30, generator=g, dtype=torch.float64))
    a, b = a / a.sum(), b / b.sum()
    problem = GromovProblem.create(cost_matrix(x.float(), cost), cost_matrix(y.float(), cost), a=a.float(), b=b.float())
    result = EntropicGromovSolver(max_iter=200, tol=1e-4, inner_iter=200).solve(problem, problem.relative_epsilon(1e-3))
    plan = result.plan[0].double()
    assert bool(result.converged[0]) and bool(torch.isfinite(plan).all())
    assert float((plan.sum(1) - a).abs().sum()) < 1e-5 and float((plan.sum(0) - b).abs().sum()) < 2e-4


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_small_epsilon_problems_converge_to_a_stationary_plan(seed):
    """ε0 = 0.03 on 24 points: the inner Sinkhorn used to stall with a marginal error of 1e-8–1e-7 and the
    solve ran out of its 200 steps unconverged; it now converges, and the plan is a stationary point of the
    entropic GW objective checked from the four-index sum: ``Σ_kl (C_X,ik − C_Y,jl)² T_kl + ε log T_ij`` is
    ``α_i + β_j`` (its double-centred part vanishes). Float32 converges to the same plan."""
    x, y = _points(seed, 24)
    plans = []
    for dtype in (torch.float32, torch.float64):
        problem = GromovProblem.create(cost_matrix(x.to(dtype), "sqeuclidean"), cost_matrix(y.to(dtype), "sqeuclidean"))
        epsilon = problem.relative_epsilon(0.03)
        result = EntropicGromovSolver(max_iter=200, inner_iter=200).solve(problem, epsilon)
        assert bool(result.converged.all()) and result.iterations < 100
        plans.append(result.plan[0].double())
    plan, cx, cy = plans[1].numpy(), problem.cx.dense[0].numpy(), problem.cy.dense[0].numpy()  # float64
    linear = np.einsum("ikjl,kl->ij", (cx[:, :, None, None] - cy[None, None, :, :]) ** 2, plan)
    first_order = linear + float(epsilon) * np.log(plan)
    residual = (first_order - first_order.mean(1, keepdims=True) - first_order.mean(0, keepdims=True)
                + first_order.mean())
    assert np.abs(residual).max() < 1e-6 * float(epsilon)
    np.testing.assert_allclose(plan.sum(1), np.full(24, 1 / 24), atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), np.full(24, 1 / 24), atol=1e-9)
    torch.testing.assert_close(plans[0], plans[1], atol=1e-4 * float(plans[1].max()), rtol=0)


def test_stalling_problems_solved_as_one_batch_match_their_single_solves():
    """Newton steps act on the whole batch (per-problem step lengths): four ε0 = 0.03 problems, three of
    which stall alone, solved together end where each ends alone."""
    pairs = [_points(seed, 24) for seed in range(4)]
    cx = torch.stack([cost_matrix(x, "sqeuclidean").dense[0] for x, _ in pairs])
    cy = torch.stack([cost_matrix(y, "sqeuclidean").dense[0] for _, y in pairs])
    batch = GromovProblem.create(cx, cy)
    epsilon = batch.relative_epsilon(0.03)
    solver = EntropicGromovSolver(max_iter=200, inner_iter=200)
    together = solver.solve(batch, epsilon)
    assert bool(together.converged.all())
    for k in range(4):
        alone = solver.solve(GromovProblem.create(cx[k], cy[k]), epsilon[k])
        torch.testing.assert_close(together.plan[k], alone.plan[0], atol=1e-6 * float(alone.plan.max()), rtol=0)


def test_relaxation_survives_a_kernel_at_float32_limits():
    """A GMG problem met in training (cosine costs of latents, mean 0.97, and of nearly equal decoded images,
    mean 7e-6; float32, ε = 3.6e-7): the kernel has underflowed columns and the scalings reach 1e±36, where a
    relaxed update overflowed into NaN plans. The solver must fall back to plain sweeps and stay finite."""
    data = np.load(Path(__file__).parent / "data" / "gmg_underflow_problem.npz")
    tensor = {k: torch.from_numpy(data[k])[None] for k in data.files}
    problem = GromovProblem.create(CostMatrix(tensor["cx"], tensor["cx_left"], tensor["cx_right"]),
                                   CostMatrix(tensor["cy"]))
    solver = EntropicGromovSolver(max_iter=100, tol=1e-5, inner_iter=50, init="identity")
    result = solver.solve(problem, tensor["epsilon"][0])
    assert bool(torch.isfinite(result.plan).all()) and bool(torch.isfinite(result.value).all())
    torch.testing.assert_close(result.plan.sum(-1), problem.a, atol=1e-4, rtol=0)
