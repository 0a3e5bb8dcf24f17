"""What a server is started with (``latentdirs serve`` options) and where it keeps its files under ``--data``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeSettings:
    """``data_dir`` holds the job database, job folders, logs and uploads; ``models_dir`` (optional) is scanned
    for generators and direction sets. ``token``: the access token every request must carry (None: none
    needed, only for a server bound to localhost). ``workers``: jobs run at once. ``executor``: where
    (``local`` or ``ray``, at ``address``); each job asks it for ``job_threads`` CPUs and ``job_gpus`` GPUs."""

    data_dir: Path
    models_dir: Path | None = None
    token: str | None = None
    workers: int = 1
    device: str = "cpu"
    max_upload_bytes: int = 512 << 20
    job_threads: int = 1  # torch threads of each job process (`latentdirs --threads`)
    job_gpus: float = 0.0  # GPUs a Ray cluster reserves for each job
    executor: str = "local"
    address: str | None = None
    progress_interval_s: float = 1.0  # a job's progress line at most this often
    stop_timeout_s: float = 60.0  # how long a job may take to save its checkpoint when stopped

    @property
    def database(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def job_log(self, job_id: str) -> Path:
        return self.logs_dir / f"{job_id}.log"
