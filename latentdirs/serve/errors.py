"""Errors as HTTP responses: every 4xx/5xx is ``{"error": "<one line>"}``, never a traceback.

A :class:`ApiError` carries its status; a :class:`~latentdirs.errors.UserError` from latentdirs' own
checks (bad layers, a direction index that does not exist, an unreadable file) is a 422 with its message.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from ..errors import UserError

log = logging.getLogger("latentdirs.serve")
Model = TypeVar("Model", bound=BaseModel)
MAX_JSON_BYTES = 1 << 20


class ApiError(Exception):
    """A request the server refuses: ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """pydantic's first error as one line: ``field 'seeds.0': Input should be greater than or equal to 0``."""
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "path", "query"))
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"field '{where}': " if where else "") + str(first.get("msg", "invalid value")) + extra


async def read_json(request: Request, model: type[Model]) -> Model:
    """The request body as ``model``: 415 unless it is sent as JSON (a cross-site form cannot send that
    without a preflight the server never grants), 413 when too long, 400 when malformed, 422 when invalid."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"send the request body as JSON (Content-Type: application/json), not {kind or 'nothing'}")
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise ApiError(413, f"request body of {len(body)} bytes; at most {MAX_JSON_BYTES} are accepted")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, validation_message(exc.errors())) from None


def install_handlers(app: FastAPI) -> None:
    """Route every error to :func:`error_response`."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(list(exc.errors())))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error (the server's log has the details)")
