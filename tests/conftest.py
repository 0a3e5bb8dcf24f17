"""Shared test fixtures."""

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the checkout; tests using it skip when it is absent."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"reference fixtures not found at {path} (they live in ../shared beside the checkout)")
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread for a module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``):
    small tensors run far faster single-threaded, and a shared machine thrashes with more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_instance():
    """A new local Ray instance for the whole session (2 CPUs, no dashboard; starting one takes seconds), with
    this checkout first on its workers' path as the ray executor sets it. Skips when Ray is not installed (the
    ``test`` extra installs it)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'latentdirs[ray]'")
    from latentdirs.executors.ray_runs import runtime_env

    ray.init(address="local", num_cpus=2, include_dashboard=False, runtime_env=runtime_env(), log_to_driver=False,
             logging_level="WARNING")
    yield ray
    ray.shutdown()
