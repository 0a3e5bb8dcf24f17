"""Shared test fixtures."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the checkout; tests using it skip when it is absent."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"reference fixtures not found at {path} (they live in ../shared beside the checkout)")
    return path
