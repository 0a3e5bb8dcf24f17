"""Server-sent events of one job: a ``job`` event with its state and progress whenever it changes, then
``end`` once it has finished (or the server is stopping). Clients: ``new EventSource('/api/jobs/ID/events')``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .jobsdb import FINISHED, JobStore

POLL_S = 0.25
KEEPALIVE_S = 15.0


def sse(event: str, data: Any) -> str:
    """One event in the text/event-stream format."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def job_events(store: JobStore, job_id: str, public: Callable[[dict[str, Any]], dict[str, Any]],
                     is_stopping: Callable[[], bool]) -> AsyncIterator[str]:
    """The event stream (see the module docstring); it watches the job's version in the database."""
    seen = None
    quiet_since = time.monotonic()
    while True:
        version = store.version(job_id)
        if version is None:
            return
        if version != seen:
            job = store.get(job_id)
            if job is None:
                return
            seen = job["version"]
            quiet_since = time.monotonic()
            yield sse("job", public(job))
            if job["state"] in FINISHED:
                yield sse("end", {"state": job["state"]})
                return
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        if is_stopping():
            yield sse("end", {"state": "server stopping"})
            return
        await asyncio.sleep(POLL_S)
