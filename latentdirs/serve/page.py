"""The editor page: ``static/`` (plain HTML, JS and CSS, bundled with the package; no CDN, works offline)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from .errors import ApiError

router = APIRouter()
STATIC = {"index.html": "text/html; charset=utf-8", "editor.js": "text/javascript; charset=utf-8",
          "editor.css": "text/css; charset=utf-8"}
#: the page loads only its own script and style and talks only to this server
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, f"no static file {name!r}")
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name],
                    headers={"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def index() -> Response:
    return _static("index.html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    return _static(name)
