"""torchrun data parallelism (latentdirs.distributed): 2 gloo processes train what one process trains at the same
global batch, resume across process counts, and only rank 0 writes.

The torchrun runs are launched once per module (``python -m torch.distributed.run --standalone``, each process on
one thread) through ``tests/distributed_support.py``, which runs several commands in one process and records the
files each rank writes. Tolerances are relative, ‖a − b‖ / ‖a‖ over all the weights (or all the Adam moments) of a
network as one vector, measured in the tests' docstrings (2 shared CPU cores, load average ~12); the Adam moments
are there because Adam's update hardly depends on the gradient's scale, its moments do. The random streams (data,
noise, term generators) must be equal exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latentdirs.distributed import RowDraws, World, environment_world
from latentdirs.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "tests" / "distributed_support.py"
GENERATOR = ROOT / "pretrained" / "dsprites_generator.json"

VAE = ["--threads", "1", "train-vae", "--batch-size", "16", "--log-every", "1", "--quiet"]
FACTOR_TOPDIS = [*VAE, "--objective", "factor-vae", "--reg", "topdis:delay=0", "--steps", "2"]
GAN = ["--threads", "1", "train-gan", "--dataset", "dsprites", "--resolution", "16", "--z-dim", "8", "--w-dim", "8",
       "--map-layers", "1", "--channel-base", "64", "--channel-max", "8", "--batch", "8", "--r1-interval", "2",
       "--pl-weight", "1", "--style-mixing", "0.5", "--classifier", "none", "--kimg", "0.016", "--snapshot-kimg",
       "0.016", "--sample-kimg", "0.016", "--quality-kimg", "0.016", "--device", "cpu", "--quiet"]
DISCOVER = ["--threads", "1", "discover", "--generator", str(GENERATOR), "--method", "reconstructor", "--reg",
            "topdis:features=downsample,size=16", "--steps", "2", "--batch-size", "8", "-k", "4", "--device", "cpu",
            "--stats-samples", "32", "--grid-samples", "1", "--grid-steps", "3", "--quiet"]


# -- helpers without a process group ----------------------------------------------------------------------------------
def test_rows_split_the_global_batch_and_refuse_an_uneven_split():
    assert [World(rank, 2).rows(16) for rank in (0, 1)] == [slice(0, 8), slice(8, 16)]
    assert World().rows(15) == slice(0, 15)
    with pytest.raises(UserError, match="--batch-size 15 is not divisible by the 2 torchrun processes"):
        World(1, 2).rows(15)


def test_grouped_rows_keep_every_minibatch_std_group_whole():
    """Sample i of a batch is in group i mod (B/G); each rank's rows, grouped by the same rule, are the global
    groups (so the discriminator's minibatch-std statistic is the one process's)."""
    from latentdirs.gan.discriminator import MinibatchStdLayer

    batch, group, size = 24, 4, 3
    x = torch.randn(batch, 8, 2, 2, generator=torch.Generator().manual_seed(0))
    whole = MinibatchStdLayer(group)(x)[:, -1]
    rows = [World(rank, size).grouped_rows(batch, group) for rank in range(size)]
    assert sorted(torch.cat(rows).tolist()) == list(range(batch))
    for mine in rows:
        torch.testing.assert_close(MinibatchStdLayer(group)(x[mine])[:, -1], whole[mine], rtol=0, atol=1e-6)
    with pytest.raises(UserError, match="6 minibatch-std groups of 4, not divisible by the 4 torchrun processes"):
        World(0, 4).grouped_rows(24, 4)


def test_row_draws_are_the_rows_of_the_single_process_draw():
    rows = torch.tensor([1, 4, 5])
    ours = RowDraws(torch.Generator().manual_seed(3), 6, rows).randn([3, 2])
    torch.testing.assert_close(ours, torch.randn(6, 2, generator=torch.Generator().manual_seed(3))[rows], rtol=0,
                               atol=0)


def test_the_environment_names_the_world(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert environment_world() == World()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert environment_world() == World(1, 2, 1) and not environment_world().is_main
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(UserError, match="outside WORLD_SIZE=2"):
        environment_world()


# -- torchrun ---------------------------------------------------------------------------------------------------------
def _launch(tmp: Path, name: str, commands: list[list[str]], processes: int) -> subprocess.CompletedProcess:
    audit = tmp / f"audit-{name}"
    audit.mkdir()
    line = [arg for i, command in enumerate(commands) for arg in ([] if i == 0 else ["--next"]) + command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    prefix = [sys.executable]
    if processes > 1:
        prefix += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return subprocess.run([*prefix, str(SUPPORT), str(audit), str(tmp / "runs"), *line], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One process: β-VAE for 2 and 4 steps (and 2 steps at the shard's batch, 8), FactorVAE + TopDis, a GAN and a
    discovery run. Two processes: the same from scratch, the 4-step β-VAE resumed from the one-process 2-step
    checkpoint, and a batch that 2 does not divide. One process again: resuming the two-process 2-step run."""
    tmp = tmp_path_factory.mktemp("ddp")
    out = tmp / "runs"
    single = _launch(tmp, "one", [
        [*VAE, "--steps", "2", "--out", str(out / "one_2")],
        [*VAE, "--steps", "4", "--out", str(out / "one_4")],
        [*VAE, "--steps", "2", "--batch-size", "8", "--out", str(out / "one_2_shard_batch")],
        [*FACTOR_TOPDIS, "--out", str(out / "one_factor")],
        [*GAN, "--out", str(out / "one_gan")],
        [*DISCOVER, "--out", str(out / "one_discover")],
    ], processes=1)
    assert single.returncode == 0, single.stderr[-3000:]
    shutil.copytree(out / "one_2", out / "one_then_two")
    double = _launch(tmp, "two", [
        [*VAE, "--steps", "2", "--out", str(out / "two_2")],
        [*VAE, "--steps", "4", "--resume", "--out", str(out / "one_then_two")],
        [*FACTOR_TOPDIS, "--out", str(out / "two_factor")],
        [*GAN, "--out", str(out / "two_gan")],
        [*DISCOVER, "--out", str(out / "two_discover")],
        [*VAE, "--steps", "2", "--batch-size", "15", "--out", str(out / "two_uneven")],
    ], processes=2)
    (tmp / "two.stderr").write_text(double.stderr)
    assert "error: --batch-size 15 is not divisible by the 2 torchrun processes" in double.stderr, \
        double.stderr[-3000:]
    assert double.returncode != 0 and not (out / "two_uneven").exists()  # the last command failed, the others ran
    shutil.copytree(out / "two_2", out / "two_then_one")
    again = _launch(tmp, "again", [[*VAE, "--steps", "4", "--resume", "--out", str(out / "two_then_one")]],
                    processes=1)
    assert again.returncode == 0, again.stderr[-3000:]
    return tmp


def _load(run: Path) -> dict:
    path = run / "checkpoints" / "last.pt" if (run / "checkpoints").is_dir() else run / "checkpoint.pt"
    return torch.load(path, weights_only=True)


def _pairs(a, b, where: str = "", exact: bool = True) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The floating tensors of two checkpoints by path (with ``exact``, everything else asserted equal: step
    counters, the data, noise and term generators' states); timings and logged histories are left out."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, where
        if a.is_floating_point():
            return {where: (a.double(), b.double())}
        assert torch.equal(a, b) or not exact, where
        return {}
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        skip = {"elapsed", "wall_time_s", "history", "log"}
        return {k: v for key in a if key not in skip
                for k, v in _pairs(a[key], b[key], f"{where}/{key}", exact).items()}
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        return {k: v for i, (x, y) in enumerate(zip(a, b, strict=True))
                for k, v in _pairs(x, y, f"{where}/{i}", exact).items()}
    assert a == b or not exact, where
    return {}


def _relative(pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], *parts: str) -> float:
    """‖a − b‖ / ‖a‖ over all the tensors under the top-level keys ``parts``, as one vector."""
    chosen = [pair for key, pair in pairs.items() if key.split("/")[1] in parts]
    assert chosen
    a, b = (torch.cat([pair[i].flatten() for pair in chosen]) for i in (0, 1))
    return float((a - b).norm() / a.norm())


@pytest.mark.slow
def test_two_processes_train_the_weights_of_one_at_the_same_global_batch(runs):
    """β-VAE, 2 steps at global batch 16: 2 gloo processes (8 rows each) vs 1 process. Measured: weights 2.1e-8,
    Adam moments 7.7e-10; a single process at the shard's batch 8 (what a rank alone would train) is off by 3.2e-3
    (moments 2.5e-2)."""
    out = runs / "runs"
    one, two = _load(out / "one_2"), _load(out / "two_2")
    pairs = _pairs(one, two)  # also: the data, noise and term generators' states are equal
    assert _relative(pairs, "model") < 1e-5
    assert _relative(pairs, "optimizer") < 1e-5
    alone = _pairs(one, _load(out / "one_2_shard_batch"), exact=False)  # what a rank alone would train: far off
    assert _relative(alone, "model") > 100 * 1e-5
    logs = [(out / run / "log.csv").read_text().splitlines() for run in ("one_2", "two_2")]
    assert logs[0][0] == logs[1][0] and len(logs[0]) == len(logs[1]) == 3


@pytest.mark.slow
def test_a_run_resumes_under_another_number_of_processes(runs):
    """1 process for 2 steps, then 2 processes to step 4 (and 2 then 1): the uninterrupted 1-process run's weights
    to the same tolerance, since the checkpoint holds the global state, not a rank's. Measured: weights 4.9e-9 and
    7.1e-7, moments 4.1e-10 and 1.2e-8."""
    out = runs / "runs"
    straight = _load(out / "one_4")
    for resumed in ("one_then_two", "two_then_one"):
        pairs = _pairs(straight, _load(out / resumed))
        assert pairs and _relative(pairs, "model") < 1e-5, resumed
        assert _relative(pairs, "optimizer") < 1e-5, resumed
    lines = (out / "one_then_two" / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]


@pytest.mark.slow
def test_batch_level_terms_see_the_global_batch(runs):
    """FactorVAE (discriminator on the batch's codes, its dimension-wise permutation) plus TopDis (quantile shift
    with the batch's mean and std, RTD between the decoded batches): equal to one process only if every rank
    computes them on the gathered global batch. Measured: weights 5.6e-6, moments 3.6e-7, discriminator (weights
    and Adam moments) 6.6e-8. The VAE weights get a looser bound: RTD's gradient follows the persistence pairs,
    which rounding-sized changes of the clouds can switch (one process on 1 vs 2 threads, 3 steps: 4.2e-6)."""
    pairs = _pairs(_load(runs / "runs" / "one_factor"), _load(runs / "runs" / "two_factor"))
    assert _relative(pairs, "model") < 1e-4
    assert _relative(pairs, "optimizer") < 1e-5
    assert _relative(pairs, "terms") < 1e-5


@pytest.mark.slow
def test_gan_and_discovery_train_as_one_process(runs):
    """train-gan (2 steps of batch 8: R1, path length, style mixing, random noise, minibatch-std groups of 4) and
    discover (reconstructor + dir-topdis, 2 steps of batch 8) under 2 processes vs 1. Measured: GAN networks
    7.8e-10, their Adam moments 1.4e-8; directions 2.3e-10, reconstructor 5.8e-9, directions' moments 1.8e-8."""
    out = runs / "runs"
    gan = _pairs(_load(out / "one_gan"), _load(out / "two_gan"))
    assert _relative(gan, "G", "D", "G_ema", "pl_mean") < 1e-5
    assert _relative(gan, "opt_G", "opt_D") < 1e-5
    discover = _pairs(_load(out / "one_discover"), _load(out / "two_discover"))
    assert _relative(discover, "model") < 1e-5 and _relative(discover, "terms") < 1e-5
    assert _relative(discover, "optimizer") < 1e-5


@pytest.mark.slow
def test_only_rank_zero_writes(runs):
    """Every file of the two-process runs was written by rank 0 (audit hooks in both processes); the runs hold
    the files a one-process run writes."""
    audit = runs / "audit-two"
    rank0, rank1 = (json.loads((audit / f"writes-{rank}.json").read_text()) for rank in (0, 1))
    assert rank1 == []
    run_of = {path: Path(path).relative_to(runs / "runs").parts[0] for _, path in rank0}
    refused = [(event, run_of[path]) for event, path in rank0 if run_of[path] == "two_uneven"]
    assert refused == [("os.mkdir", "two_uneven"), ("os.rmdir", "two_uneven")]  # the run lock's folder, removed
    assert set(run_of.values()) - {"two_uneven"} == {"two_2", "one_then_two", "two_factor", "two_gan", "two_discover"}
    for one, two in (("one_2", "two_2"), ("one_gan", "two_gan"), ("one_discover", "two_discover")):
        files = [sorted(p.relative_to(runs / "runs" / run).as_posix() for p in (runs / "runs" / run).rglob("*"))
                 for run in (one, two)]
        assert files[0] == files[1]
    summary = json.loads((runs / "runs" / "two_2" / "summary.json").read_text())
    assert summary["processes"] == 2
