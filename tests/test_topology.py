"""Persistence pairs and differentiable RTD against independent oracles (ripser.py, a plain
boundary-matrix reduction, finite differences) and their defining properties."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from math import comb
from pathlib import Path

import numpy as np
import pytest
import torch
from ripser import ripser
from scipy.spatial.distance import cdist

from latentdirs.errors import UserError
from latentdirs.topology import (
    h1_pairs,
    h1_pairs_many,
    pairwise_distances,
    persistence,
    r_cross_barcode,
    r_cross_matrix,
    rtd,
    rtd_from_distances,
)
from latentdirs.topology.rtd import _assemble

ROOT = Path(__file__).resolve().parents[1]

# A deliberately plain persistence oracle for tiny matrices (independent of giotto-ph): the whole
# Vietoris–Rips complex up to triangles in Ripser's order (diameter, dimension, then decreasing
# combinatorial index), Z/2 boundary reduction column by column; death edges chosen as the released
# TopDis code does (np.argmax over the triangle's sub-matrix, vertices in decreasing order).


def h1_pairs_bruteforce(dist: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int, int]]]:
    """``(birth_edge, death_triangle)`` of every H1 pair (zero-length ones included)."""
    n = len(dist)
    simplices = [(0.0, 0, -v, (v,)) for v in range(n)]
    for hi, lo in itertools.combinations(range(n - 1, -1, -1), 2):
        simplices.append((dist[hi, lo], 1, -(comb(hi, 2) + lo), (hi, lo)))
    for a, b, c in itertools.combinations(range(n - 1, -1, -1), 3):
        diameter = max(dist[a, b], dist[a, c], dist[b, c])
        simplices.append((diameter, 2, -(comb(a, 3) + comb(b, 2) + c), (a, b, c)))
    simplices.sort(key=lambda s: s[:3])
    position = {s[3]: k for k, s in enumerate(simplices)}
    column_with_low: dict[int, set[int]] = {}
    pairs = []
    for simplex in simplices:
        vertices = simplex[3]
        if len(vertices) == 1:
            continue
        column = {position[face] for face in itertools.combinations(vertices, len(vertices) - 1)}
        while column and max(column) in column_with_low:
            column ^= column_with_low[max(column)]
        if column:
            column_with_low[max(column)] = column
            if len(vertices) == 3:
                pairs.append((simplices[max(column)][3], vertices))
    return pairs


def longest_edge_as_released(dist: np.ndarray, triangle: tuple[int, int, int]) -> tuple[int, int]:
    """The released code's choice: first maximum of ``dist[l][:, l]`` in row-major order."""
    sub = dist[np.ix_(triangle, triangle)]
    row, col = np.unravel_index(np.argmax(sub), sub.shape)
    return triangle[row], triangle[col]


def _ripser_h1(dist: np.ndarray) -> np.ndarray:
    bars = ripser(dist, distance_matrix=True, maxdim=1)["dgms"][1]
    bars = bars[bars[:, 1] > bars[:, 0]]
    return bars[np.lexsort((bars[:, 1], bars[:, 0]))]


def _sorted_bars(bars: np.ndarray) -> np.ndarray:
    return bars[np.lexsort((bars[:, 1], bars[:, 0]))]


def _random_clouds(seed: int, n: int, dim: int, noise: float = 0.5, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen, dtype=dtype)
    y = x + noise * torch.randn(n, dim, generator=gen, dtype=dtype)
    return x, y


def _structured_matrices() -> dict[str, np.ndarray]:
    rs = np.random.RandomState(0)
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    circle = np.stack([np.cos(angles), np.sin(angles)], 1) + 0.05 * rs.randn(40, 2)
    two_circles = np.concatenate([circle, 0.5 * circle + 3.0])
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6)), -1).reshape(-1, 2).astype(float)
    integers = rs.randint(1, 5, (30, 30)).astype(float)
    integers = np.triu(integers, 1) + np.triu(integers, 1).T
    x = rs.randn(48, 10)
    y = x + 0.4 * rs.randn(48, 10)
    a, b = cdist(x, x), cdist(y, y)
    a, b = a / np.quantile(a, 0.9), b / np.quantile(b, 0.9)
    return {
        "random uniform": (lambda m: (m + m.T) / 2)(rs.rand(50, 50)),
        "gaussian cloud": (lambda p: cdist(p, p))(rs.randn(60, 5)),
        "noisy circle": cdist(circle, circle),
        "two circles": cdist(two_circles, two_circles),
        "grid (ties)": cdist(grid, grid),
        "integer matrix (ties)": integers,
        "r-cross min": r_cross_matrix(a, b, "min"),
        "r-cross max": r_cross_matrix(a, b, "max"),
        "r-cross min reversed": r_cross_matrix(b, a, "min"),
    }


@pytest.mark.parametrize("name", list(_structured_matrices()))
def test_barcodes_equal_ripser(name):
    dist = _structured_matrices()[name]
    pairs = h1_pairs(dist)
    expected = _ripser_h1(dist)
    assert len(pairs) == len(expected) > 0
    np.testing.assert_allclose(_sorted_bars(pairs.bars), expected, atol=1e-6, rtol=1e-6)
    # the bars are the matrix entries at the reported edges, and sorted longest first
    np.testing.assert_array_equal(pairs.bars[:, 0], dist[pairs.birth_edges[:, 0], pairs.birth_edges[:, 1]])
    np.testing.assert_array_equal(pairs.bars[:, 1], dist[pairs.death_edges[:, 0], pairs.death_edges[:, 1]])
    assert np.all(np.diff(pairs.lengths) <= 0)


def test_concurrent_equals_sequential_and_oracle_pairing():
    matrices = list(_structured_matrices().values())
    together = h1_pairs_many(matrices, workers=4)
    alone = h1_pairs_many(matrices, workers=1)
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a.bars, b.bars)
        np.testing.assert_array_equal(a.birth_edges, b.birth_edges)
        np.testing.assert_array_equal(a.death_edges, b.death_edges)
    if sys.platform.startswith("linux"):  # the four ran in worker processes, not in this one
        pool = persistence._POOLS[4]
        workers = {pool.submit(os.getpid).result() for _ in range(8)}
        assert workers and os.getpid() not in workers
    # on a tiny tie-heavy matrix the reported edges are those of a plain reduction in Ripser's order
    rs = np.random.RandomState(3)
    for _ in range(20):
        m = rs.randint(1, 4, (7, 7)).astype(float)
        m = np.triu(m, 1) + np.triu(m, 1).T
        expected = sorted(
            (m[e], m[longest_edge_as_released(m, t)]) for e, t in h1_pairs_bruteforce(m)
            if m[longest_edge_as_released(m, t)] > m[e]
        )
        assert sorted(map(tuple, h1_pairs(m).bars)) == expected


def _bars_in_a_pool_worker(seed: int) -> int:
    x = np.random.default_rng(seed).random((30, 5))
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return sum(len(p) for p in h1_pairs_many([d, d, d], workers=2))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")
def test_concurrent_ph_inside_a_daemonic_worker():
    # multiprocessing.Pool workers are daemonic and may not fork children: PH then runs in the worker itself
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_bars_in_a_pool_worker, [0]) == [_bars_in_a_pool_worker(0)]


def test_r_cross_matrix_layout():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 3.0], [3.0, 0.0]])
    np.testing.assert_array_equal(
        r_cross_matrix(a, b, "min"), [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
    np.testing.assert_array_equal(
        r_cross_matrix(a, b, "max"), [[0, 0, 0, 3], [0, 0, 3, 0], [0, 3, 0, 3], [3, 0, 3, 0]])
    torch_version = r_cross_matrix(torch.tensor(a), torch.tensor(b), "min").numpy()
    np.testing.assert_array_equal(torch_version, r_cross_matrix(a, b, "min"))


def test_two_points_closed_form():
    # N = 2: M_min(A→B) has the single bar [b, a] when b < a (cycle 0–2–3–1 born by edge (2,3)),
    # M_max(A→B) the same bar; the reverse direction has [a, b] when a < b. So RTD_sym = |a − b|.
    for a, b in [(2.0, 0.5), (0.5, 2.0), (1.0, 1.0)]:
        da = torch.tensor([[0.0, a], [a, 0.0]], dtype=torch.float64)
        db = torch.tensor([[0.0, b], [b, 0.0]], dtype=torch.float64)
        for variant in ("exact", "official"):
            value = rtd_from_distances(da, db, quantile=None, variant=variant)
            assert value.item() == pytest.approx(abs(a - b), abs=1e-12)
            forward = rtd_from_distances(da, db, quantile=None, mode="forward", variant=variant)
            assert forward.item() == pytest.approx(2 * max(a - b, 0.0), abs=1e-12)
        # with the 0.9-quantile normalization both matrices become [[0, 1], [1, 0]]
        assert rtd_from_distances(da, db).item() == 0.0


def test_official_variant_hand_case():
    # One bar in M_min(A→B): born at min(A01, B01) = 4 when edge (0',1') = (4,5) closes 0'–1'–1–0;
    # every triangle that can kill it has diameter 6 = A01 = A12, and Ripser's order picks {0',1',2'}
    # = (6,5,4), whose longest edge (1',2') lies in the min block: min(A12, B12) = min(6, 9) = 6.
    # exact: 6 − 4 = 2. The released code reads that death from B instead: 9 − 4 = 5.
    a = np.array([[0, 6, 2, 9], [6, 0, 6, 3], [2, 6, 0, 4], [9, 3, 4, 0]], dtype=float)
    b = np.array([[0, 4, 8, 7], [4, 0, 9, 8], [8, 9, 0, 9], [7, 8, 9, 0]], dtype=float)
    pairs = r_cross_barcode(a, b, "min")
    np.testing.assert_array_equal(pairs.bars, [[4.0, 6.0]])
    np.testing.assert_array_equal(np.sort(pairs.death_edges, axis=1), [[5, 6]])
    da, db = torch.tensor(a), torch.tensor(b)
    common = dict(quantile=None, mode="forward", filtration="min")
    assert rtd_from_distances(da, db, variant="exact", **common).item() == 2.0
    assert rtd_from_distances(da, db, variant="official", **common).item() == 5.0


def _official_by_oracle(a: np.ndarray, b: np.ndarray) -> float:
    """The released code's RTD(A→B) (min + max, all bars) with the brute-force pairing."""
    total = 0.0
    for kind in ("min", "max"):
        m = r_cross_matrix(a, b, kind)
        births_from, deaths_from = (m, _assemble(a, b)) if kind == "min" else (_assemble(b, b), m)
        for edge, triangle in h1_pairs_bruteforce(m):
            death_edge = longest_edge_as_released(m, triangle)
            if m[death_edge] > m[edge]:
                total += abs(deaths_from[death_edge] - births_from[edge])
    return total


@pytest.mark.parametrize("seed,n,levels", [(0, 4, 5), (1, 4, 100), (2, 5, 4), (3, 5, 1000)])
def test_official_variant_matches_released_pipeline(seed, n, levels):
    rs = np.random.RandomState(seed)
    for _ in range(15):
        a, b = (np.triu(rs.randint(1, levels, (n, n)), 1).astype(float) for _ in range(2))
        a, b = a + a.T, b + b.T
        ours = rtd_from_distances(torch.tensor(a), torch.tensor(b), card=None, quantile=None,
                                  mode="forward", variant="official")
        assert ours.item() == pytest.approx(_official_by_oracle(a, b), abs=1e-9)


def test_official_not_below_exact():
    x, y = _random_clouds(5, 40, 8)
    exact = rtd(x, y).item()
    official = rtd(x, y, variant="official").item()
    assert official >= exact > 0


@pytest.mark.parametrize("variant", ["exact", "official"])
@pytest.mark.parametrize("mode,filtration", [("symmetric", "minmax"), ("forward", "min"), ("backward", "minmax")])
def test_gradient_matches_finite_differences(variant, mode, filtration):
    x, y = _random_clouds(11, 10, 3, noise=0.7)
    x.requires_grad_(True)
    y.requires_grad_(True)

    def fn(xx, yy):
        return rtd(xx, yy, card=None, variant=variant, mode=mode, filtration=filtration, quantile=None, workers=1)

    assert fn(x, y).item() > 0
    assert torch.autograd.gradcheck(fn, (x, y), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradient_with_quantile_treats_scale_as_constant():
    x, y = _random_clouds(12, 12, 4)
    x.requires_grad_(True)
    value = rtd(x, y, card=5)
    (grad,) = torch.autograd.grad(value, x)
    a = torch.cdist(x, x)
    b = torch.cdist(y, y)
    qa = float(np.quantile(a.detach().numpy(), 0.9))
    qb = float(np.quantile(b.detach().numpy(), 0.9))
    frozen = rtd_from_distances(a / qa, b / qb, card=5, quantile=None)
    (grad_frozen,) = torch.autograd.grad(frozen, x)
    assert frozen.item() == pytest.approx(value.item(), rel=1e-12)
    torch.testing.assert_close(grad, grad_frozen)


@pytest.mark.parametrize("variant", ["exact", "official"])
def test_point_cloud_path_equals_distance_path(variant):
    # rtd() reads PH from detached float64 distances and differentiates only the distances it reads
    x, y = _random_clouds(13, 40, 16)
    x.requires_grad_(True)
    y.requires_grad_(True)
    fast = rtd(x, y, variant=variant, card=20)
    grads_fast = torch.autograd.grad(fast, (x, y))
    dense = rtd_from_distances(pairwise_distances(x), pairwise_distances(y), variant=variant, card=20)
    grads_dense = torch.autograd.grad(dense, (x, y))
    assert fast.item() == pytest.approx(dense.item(), rel=1e-12)
    for g_fast, g_dense in zip(grads_fast, grads_dense, strict=True):
        torch.testing.assert_close(g_fast, g_dense)


def test_properties_zero_nonnegative_symmetric_permutation():
    for seed in range(4):
        x, y = _random_clouds(seed, 30, 6)
        assert rtd(x, x).item() == 0.0
        value = rtd(x, y)
        assert value.item() > 0
        assert rtd(y, x).item() == pytest.approx(value.item(), rel=1e-12)
        assert rtd(x, y, mode="forward").item() == pytest.approx(rtd(y, x, mode="backward").item(), rel=1e-12)
        perm = torch.randperm(30, generator=torch.Generator().manual_seed(seed))
        assert rtd(x[perm], y[perm]).item() == pytest.approx(value.item(), rel=1e-9)
        assert rtd(x[perm], y[perm], variant="official").item() == pytest.approx(
            rtd(x, y, variant="official").item(), rel=1e-9)
        # scale invariance through the quantile normalization
        assert rtd(3 * x, y).item() == pytest.approx(value.item(), rel=1e-9)


def test_card_keeps_longest_bars_and_p():
    x, y = _random_clouds(7, 30, 5)
    a, b = torch.cdist(x, x), torch.cdist(y, y)
    qa, qb = np.quantile(a.numpy(), 0.9), np.quantile(b.numpy(), 0.9)
    lengths = r_cross_barcode(a.numpy(), b.numpy(), "min", quantile=0.9).lengths
    assert r_cross_barcode(a.numpy() / qa, b.numpy() / qb, "min").lengths == pytest.approx(lengths)
    value = rtd_from_distances(a, b, card=3, mode="forward", filtration="min")
    assert value.item() == pytest.approx(lengths[:3].sum(), rel=1e-9)
    squared = rtd_from_distances(a, b, card=None, p=2.0, mode="forward", filtration="min")
    assert squared.item() == pytest.approx((lengths**2).sum(), rel=1e-9)


def test_gradient_bit_reproducible_on_two_threads():
    # advanced indexing's backward accumulated in a thread-dependent order: 4 of 7 repeats differed in the
    # last bit, and TopDis training on two threads was not reproducible (parameter sums -760/-622/-864)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(14, 4096, generator=g)
    y = (x + 0.1 * torch.rand(14, 4096, generator=g)).clamp(0, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(6):
            a, b = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
            rtd(a, b).backward()
            grads.append(torch.cat([a.grad.flatten(), b.grad.flatten()]))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grad, grads[0]) for grad in grads[1:])


def test_edge_cases():
    one = torch.zeros(1, 3, requires_grad=True)
    assert rtd(one, one + 1).item() == 0.0
    same = torch.ones(16, 4, requires_grad=True)
    value = rtd(same, same * 1.0)
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(same.grad).all()
    # duplicates and ties: finite value and gradient
    x, _ = _random_clouds(3, 20, 3)
    x = torch.cat([x, x[:5]]).requires_grad_(True)
    y = torch.round(x.detach() * 2) / 2
    value = rtd(x, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    # float32 input stays float32
    x32, y32 = _random_clouds(4, 20, 3, dtype=torch.float32)
    assert rtd(x32, y32).dtype == torch.float32
    bad = torch.zeros(5, 2)
    bad[2, 1] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        rtd(bad, torch.zeros(5, 2))
    with pytest.raises(UserError, match="same N"):
        rtd(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(UserError, match="symmetric"):
        rtd_from_distances(torch.rand(4, 4), torch.rand(4, 4))
    with pytest.raises(UserError, match="variant"):
        rtd(x, y, variant="paper")
    with pytest.raises(UserError, match="card"):
        rtd(x, y, card=0)
    with pytest.raises(UserError, match="square"):
        h1_pairs(np.zeros((3, 4)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, y = _random_clouds(9, 32, 6)
    xc, yc = x.cuda().requires_grad_(True), y.cuda()
    x.requires_grad_(True)
    value_cpu, value_gpu = rtd(x, y), rtd(xc, yc)
    assert value_gpu.device.type == "cuda"
    assert value_gpu.item() == pytest.approx(value_cpu.item(), rel=1e-9)
    value_cpu.backward()
    value_gpu.backward()
    torch.testing.assert_close(xc.grad.cpu(), x.grad)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow  # a fresh Python process importing torch: ~5 s, more on a busy machine
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are used on Linux only")
def test_worker_processes_die_with_a_killed_parent():
    """SIGKILL of `discover --method topdis` left its two PH workers running (~500 MB each) for good."""
    script = (
        "import time, numpy as np\n"
        "from latentdirs.topology.persistence import _POOLS, h1_pairs_many\n"
        "x = np.random.RandomState(0).rand(24, 3)\n"
        "d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))\n"
        "h1_pairs_many([d, d], workers=2)\n"
        "print(*_POOLS[2]._processes, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    finally:
        parent.kill()  # SIGKILL: no atexit, no pool shutdown
        parent.wait()
    deadline = time.monotonic() + 5.0
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # clean up after a failure
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
