"""Routes for models and editing: list generators and direction sets, render edits, upload model files."""

from __future__ import annotations

import os
import re
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..directions.dirfile import DirectionSet
from ..directions.report import per_direction_scores
from ..errors import UserError
from ..io import read_json as read_json_file
from .errors import ApiError, read_json
from .registry import Entry
from .render import NOISE_MODES, EditRequest

router = APIRouter(prefix="/api")
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
UPLOAD_SUFFIXES = {".pkl": "generator", ".pt": "generator", ".pth": "generator", ".safetensors": "directions"}
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class RenderBody(BaseModel):
    """``POST /api/render``: see :class:`~.render.EditRequest`."""

    model_config = ConfigDict(extra="forbid")
    generator: str = Field(max_length=500)
    directions: str | None = Field(default=None, max_length=500)
    seeds: list[Seed] = Field(default_factory=list, max_length=64)
    latent: list[Any] | None = Field(default=None, max_length=64)
    strengths: dict[int, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict, max_length=1024)
    units: Literal["sigma", "raw"] = "sigma"
    layers: str | None = Field(default=None, max_length=200)
    trunc: Annotated[float, Field(allow_inf_nan=False, ge=-10, le=10)] | None = None
    noise_mode: Literal[NOISE_MODES] = "const"  # type: ignore[valid-type]
    class_index: Annotated[int, Field(ge=0)] | None = None
    columns: Annotated[int, Field(ge=1, le=64)] | None = None
    scale: Annotated[int, Field(ge=1, le=16)] = 1


@router.get("/generators")
def list_generators(request: Request) -> dict[str, Any]:
    return {"generators": [entry.public() for entry in request.app.state.registry.generators().values()]}


@router.get("/generators/info")
def generator_info(request: Request, name: Annotated[str, Query(max_length=500)]) -> dict[str, Any]:
    """The generator's shape and weights fingerprint (loads it into the cache)."""
    entry = request.app.state.registry.generator(name)
    handle = request.app.state.renderer.handle(name, 1.0)
    channels, resolution, _ = handle.image_shape
    return {**entry.public(), "z_dim": handle.z_dim, "w_dim": handle.w_dim, "num_ws": handle.num_ws,
            "c_dim": handle.c_dim, "resolution": resolution, "channels": channels, "fingerprint": handle.fingerprint}


@router.get("/directions")
def list_directions(request: Request, generator: Annotated[str | None, Query(max_length=500)] = None
                    ) -> dict[str, Any]:
    """Direction sets with their directions' labels and scores; with ``generator``, only those made for it."""
    state = request.app.state
    fingerprint = state.renderer.handle(generator, 1.0).fingerprint if generator is not None else None
    described = []
    for name, entry in state.registry.direction_sets().items():
        try:
            dset = state.renderer.direction_set(name)
        except UserError as exc:
            described.append({**entry.public(), "error": str(exc)})
            continue
        if fingerprint is not None and dset.generator.get("fingerprint") != fingerprint:
            continue
        described.append(describe_set(entry, dset, state.evaluation_of(name)))
    return {"direction_sets": described}


def describe_set(entry: Entry, dset: DirectionSet, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """A direction set for the editor: one slider per direction with its label and score. The score is the
    share of the codes' variance along the direction (else its σ); an evaluation adds its columns, and its
    ground-truth factor to the label."""
    scores = per_direction_scores(dset)
    columns = dict(evaluation.get("per_direction", {})) if evaluation else {}
    factors = columns.pop("main factor", None)
    score_name = "variance share" if "variance share" in scores else "scale σ"
    directions = []
    for k in range(dset.num_directions):
        label = f"{k}" + (f" · {factors[k]}" if factors and k < len(factors) else "")
        values = {name: column[k] for name, column in {**scores, **columns}.items()
                  if k < len(column) and isinstance(column[k], (int, float))}
        directions.append({"index": k, "label": label, "score": values.get(score_name), "score_name": score_name,
                           "scores": values})
    return {**entry.public(), "method": dset.method, "space": str(dset.space), "num_directions": dset.num_directions,
            "truncation_psi": float(dset.generator.get("truncation_psi", 1.0)),
            "generator_fingerprint": dset.generator.get("fingerprint"), "steps": dset.steps, "directions": directions}


@router.post("/render")
async def render(request: Request) -> Response:
    """A PNG of the edit (one image, or a grid of one per seed)."""
    body = await read_json(request, RenderBody)
    edit = EditRequest(**body.model_dump())
    png = await run_in_threadpool(request.app.state.renderer.render, edit)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.put("/uploads/{filename}", status_code=201)
async def upload(request: Request, filename: str) -> dict[str, Any]:
    """Store a generator (``.pkl``, ``.pt``) or a direction file (``.safetensors``) sent as the raw body: size-limited,
    loaded with the safe loaders before it is kept, written under a temporary name and linked into place (an
    existing upload is never replaced)."""
    settings = request.app.state.settings
    kind = UPLOAD_SUFFIXES.get(os.path.splitext(filename)[1].lower())
    if not UPLOAD_NAME.match(filename) or kind is None:
        raise ApiError(422, f"bad upload name {filename!r}: letters, digits, '.', '_' and '-', ending in "
                            f"{', '.join(UPLOAD_SUFFIXES)}")
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"upload of {int(declared)} bytes; at most {limit} are accepted")
    folder = settings.uploads_dir
    target = folder / filename
    if target.exists():
        raise ApiError(409, f"an upload named {filename!r} exists already; choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{filename}.{secrets.token_hex(4)}.part"
    size = 0
    try:
        with open(partial, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"upload larger than {limit} bytes")
                handle.write(chunk)
        if size == 0:
            raise ApiError(422, "empty upload")
        await run_in_threadpool(_check_upload, partial, kind, filename)
        try:
            os.link(partial, target)
        except FileExistsError:
            raise ApiError(409, f"an upload named {filename!r} exists already; choose another name") from None
    finally:
        partial.unlink(missing_ok=True)
    return {"name": f"uploads/{filename}", "kind": kind, "size": size}


def _check_upload(path: os.PathLike, kind: str, filename: str) -> None:
    """Load the file the way it will be used (nothing in it runs); a 422 when it is not what its name says."""
    try:
        if kind == "directions":
            from ..directions.dirfile import load_directions

            load_directions(path)
        else:
            from ..gan import load_generator

            load_generator(path)
    except UserError as exc:
        reason = str(exc).replace(str(path), filename)  # the message names the upload, not the server's folder
        raise ApiError(422, f"{filename} is not a usable {kind} file: {reason}") from None


def evaluation_file(entry_name: str, jobs: list[dict[str, Any]], job_dir) -> dict[str, Any] | None:
    """The ``evaluation.json`` of the newest finished evaluate-directions job on direction set ``entry_name``."""
    for job in jobs:
        if job["command"] == "evaluate-directions" and job["options"].get("directions") == entry_name:
            path = job_dir(job["id"]) / "evaluation.json"
            if path.is_file():
                try:
                    return read_json_file(path, "evaluation")
                except UserError:
                    return None
    return None
