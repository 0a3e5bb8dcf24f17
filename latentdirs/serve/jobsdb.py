"""Job state in SQLite (WAL journal) under ``--data``: survives restarts, read while jobs write.

One table, ``jobs``: id, command, the request's options (JSON), the checked argv (JSON), state, times,
progress (JSON), error, return code, attempts, the process id of a running job and a ``version`` that
grows with every change (what the event stream watches). States::

    queued → running → done | failed | cancelled
             running → cancelling → cancelled          (cancel: SIGINT, the command saves a checkpoint)
             running → queued                          (server stopped: resumed from the checkpoint)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "cancelling", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    command TEXT NOT NULL,
    options TEXT NOT NULL,
    argv TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    returncode INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""
_JSON_COLUMNS = ("options", "argv", "progress")


class JobStore:
    """The job table (see the module docstring); safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def journal_mode(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list(self, states: tuple[str, ...] = STATES, limit: int = 500) -> list[dict[str, Any]]:
        """Jobs in ``states``, newest first."""
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY seq DESC LIMIT ?",
                                    (*states, limit)).fetchall()
        return [_job(row) for row in rows]

    def next_queued(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
        return _job(row) if row is not None else None

    def version(self, job_id: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT version FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return int(row[0]) if row is not None else None

    # -- writing ---------------------------------------------------------------------------------------
    def add(self, job_id: str, command: str, options: dict[str, Any], argv: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, command, options, argv, state, created) VALUES (?, ?, ?, ?, ?, ?)",
                             (job_id, command, json.dumps(options), json.dumps(argv), "queued", time.time()))
        return self.get(job_id)  # type: ignore[return-value]

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None, **values: Any) -> bool:
        """Set columns (JSON ones given as objects); with ``only_if``, only while the job is in one of those states.
        True when a row changed."""
        sets = ", ".join(f"{key} = ?" for key in values)
        params = [json.dumps(v) if key in _JSON_COLUMNS else v for key, v in values.items()]
        where = "id = ?"
        params.append(job_id)
        if only_if:
            where += f" AND state IN ({','.join('?' * len(only_if))})"
            params.extend(only_if)
        with self._lock:
            cursor = self._db.execute(f"UPDATE jobs SET {sets}, version = version + 1 WHERE {where}", params)
        return cursor.rowcount > 0


def _job(row: sqlite3.Row) -> dict[str, Any]:
    job = dict(row)
    for key in _JSON_COLUMNS:
        job[key] = json.loads(job[key])
    return job
