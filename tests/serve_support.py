"""Helpers for the service tests: a models folder with a tiny generator and a direction set, a test client,
and waiting for jobs."""

from __future__ import annotations

import time
from pathlib import Path

from cli_support import exit_code
from directions_support import tiny_generator_file
from fastapi.testclient import TestClient

from latentdirs.serve.app import create_app
from latentdirs.serve.settings import ServeSettings

LOCAL = "http://127.0.0.1:8765"
#: a quick discovery on the tiny generator (the same options go to the CLI and to the API)
TINY_DISCOVER = {"method": "reconstructor", "num_directions": 3, "steps": 6, "batch_size": 8, "lr": 0.01,
                 "stats_samples": 128, "grid_samples": 2, "grid_steps": 3, "device": "cpu", "seed": 3}


def cli_options(options: dict) -> list[str]:
    """The same options as command-line flags (``num_directions`` → ``--num-directions``)."""
    return [token for key, value in options.items() for token in (f"--{key.replace('_', '-')}", str(value))]


def make_models(folder: Path) -> tuple[str, Path]:
    """``folder`` with ``tiny0.json``/``.safetensors`` and ``tiny0_dirs.safetensors`` (3 learned W directions);
    returns the generator's file and the direction file."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = tiny_generator_file(folder, 0)
    run = folder.parent / "tiny0_run"
    assert exit_code(["--threads", "1", "discover", "--generator", generator, *cli_options(TINY_DISCOVER),
                      "--out", str(run), "--quiet"]) == 0
    directions = folder / "tiny0_dirs.safetensors"
    directions.write_bytes((run / "directions.safetensors").read_bytes())
    return generator, directions


def client(data: Path, models: Path | None, **settings) -> TestClient:
    """A test client of a server on ``data`` (use it in a ``with`` block: that starts and stops the job runner)."""
    app = create_app(ServeSettings(data_dir=data, models_dir=models, progress_interval_s=0.2, **settings))
    return TestClient(app, base_url=LOCAL)


def wait_for(client: TestClient, job_id: str, states: tuple[str, ...] = ("done", "failed", "cancelled"),
             timeout_s: float = 300.0, until=None) -> dict:
    """Poll the job until it is in one of ``states`` (or ``until(job)`` holds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states or (until is not None and until(job)):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout_s} s: {job}")


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (hidden ones too) with its size, the job database aside (jobs are checked
    through the API): to show that a refused request wrote nothing."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("jobs.sqlite3")}
