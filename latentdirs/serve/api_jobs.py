"""Routes for jobs: submit, list, watch (polling or server-sent events), cancel, resume, results and exports."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..directions.discovery import DIRECTIONS_FILE
from .errors import ApiError, read_json
from .events import job_events
from .jobspec import COMMANDS, describe
from .results import FILE_POLICY, INLINE_SUFFIXES, export_file, job_files, listed_file
from .runner import tail_lines

router = APIRouter(prefix="/api")
JOB_ID = re.compile(r"^[0-9a-f]{12}$")


class JobBody(BaseModel):
    """``POST /api/jobs``: ``{"command": "discover", "options": {...}}`` (options as :mod:`.jobspec` reads them)."""

    model_config = ConfigDict(extra="forbid")
    command: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict, max_length=200)


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    """What clients see of a job (no server paths), with links to its results."""
    base = f"/api/jobs/{job['id']}"
    shown = {key: job[key] for key in ("id", "command", "options", "state", "created", "started", "finished",
                                      "progress", "error", "returncode", "attempts")}
    links = {"self": base, "events": f"{base}/events", "log": f"{base}/log", "files": f"{base}/files"}
    if job["state"] == "done" and job["command"] in ("discover", "evaluate-directions"):
        links["report"] = f"{base}/files/report.html"
    if job["state"] == "done" and job["command"] == "discover":
        links["directions"] = f"{base}/files/{DIRECTIONS_FILE}"
        links["exports"] = f"{base}/exports/{{format}}"
        shown["direction_set"] = f"jobs/{job['id']}"
    return {**shown, "links": links}


def _job(request: Request, job_id: str) -> dict[str, Any]:
    job = request.app.state.store.get(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, f"no job {job_id!r}")
    return job


@router.get("/commands")
def commands() -> dict[str, Any]:
    """The job commands and the options each accepts."""
    return {"commands": [describe(name) for name in COMMANDS]}


@router.post("/jobs", status_code=201)
async def submit(request: Request) -> dict[str, Any]:
    body = await read_json(request, JobBody)
    return public_job(request.app.state.runner.submit(body.command, body.options))


@router.get("/jobs")
def list_jobs(request: Request) -> dict[str, Any]:
    return {"jobs": [public_job(job) for job in request.app.state.store.list()]}


@router.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return public_job(_job(request, job_id))


@router.get("/jobs/{job_id}/events")
def events(request: Request, job_id: str) -> StreamingResponse:
    _job(request, job_id)
    state = request.app.state
    stream = job_events(state.store, job_id, public_job, state.is_stopping)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    _job(request, job_id)
    return public_job(request.app.state.runner.cancel(job_id))


@router.post("/jobs/{job_id}/resume")
def resume(request: Request, job_id: str) -> dict[str, Any]:
    _job(request, job_id)
    return public_job(request.app.state.runner.resume(job_id))


@router.get("/jobs/{job_id}/log")
def job_log(request: Request, job_id: str) -> PlainTextResponse:
    """The end of the job's output (the last 64 KiB)."""
    _job(request, job_id)
    return PlainTextResponse("\n".join(tail_lines(request.app.state.settings.job_log(job_id))) + "\n")


@router.get("/jobs/{job_id}/files")
def list_files(request: Request, job_id: str) -> dict[str, Any]:
    _job(request, job_id)
    files = job_files(request.app.state.settings.job_dir(job_id))
    return {"files": [{"name": name, "size": path.stat().st_size, "url": f"/api/jobs/{job_id}/files/{name}"}
                      for name, path in files.items()]}


@router.get("/jobs/{job_id}/files/{name:path}")
def download(request: Request, job_id: str, name: str) -> FileResponse:
    _job(request, job_id)
    path = listed_file(request.app.state.settings.job_dir(job_id), name, job_id)
    inline = path.suffix in INLINE_SUFFIXES
    return FileResponse(path, filename=path.name, content_disposition_type="inline" if inline else "attachment",
                        headers={"Content-Security-Policy": FILE_POLICY, "X-Content-Type-Options": "nosniff"})


@router.get("/jobs/{job_id}/exports/{fmt}")
def export(request: Request, job_id: str, fmt: str) -> Response:
    """The job's directions for GANSpace (``ganspace``: .npz), InterFaceGAN (``interfacegan``: .zip of .npy) or
    SeFa (``sefa``: .npz)."""
    job = _job(request, job_id)
    path = job_files(request.app.state.settings.job_dir(job_id)).get(DIRECTIONS_FILE)
    if job["state"] != "done" or path is None:
        raise ApiError(404, f"job {job_id} has no direction file to export (state {job['state']})")
    filename, data = export_file(path, fmt, f"directions_{job_id}")
    media = "application/zip" if filename.endswith(".zip") else "application/octet-stream"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
