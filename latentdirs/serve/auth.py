"""Access control, checked on every request (API, page and downloads alike).

- With a token (``--token``, or generated because the server listens beyond localhost) a request must
  carry it: ``Authorization: Bearer <token>``, the ``latentdirs_token`` cookie, or ``?token=<token>``,
  which sets that cookie (HttpOnly, SameSite=Strict) — on the page, with a redirect that drops the token
  from the address bar. Tokens are compared in constant time.
- Without a token (a server on localhost) a request must be addressed to localhost: its ``Host`` header
  names a loopback host, which defeats DNS rebinding (a web page whose name resolves to 127.0.0.1).
- A request a browser sends from another site (its ``Origin`` is not this server) is refused, so no web
  page can start jobs or upload files through a visitor's browser.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from .errors import error_response
from .settings import LOCAL_HOSTS

COOKIE = "latentdirs_token"


def host_name(host_header: str) -> str:
    """``127.0.0.1:8765`` → ``127.0.0.1``; ``[::1]:8765`` → ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def given_token(request: Request) -> tuple[str | None, bool]:
    """The token a request carries and whether it came in the query string."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if "token" in request.query_params:
        return request.query_params["token"], True
    return request.cookies.get(COOKIE), False


def install_auth(app: FastAPI, token: str | None) -> None:
    """Add the check to ``app`` (see the module docstring)."""

    @app.middleware("http")
    async def check_access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
            return error_response(403, f"cross-site request from {origin} refused")
        if token is None:
            host = host_name(request.headers.get("host", ""))
            if host not in LOCAL_HOSTS:
                return error_response(403, f"this server only answers requests addressed to localhost, not {host!r} "
                                           "(start it with --host and a token to serve other machines)")
            return await call_next(request)
        given, from_query = given_token(request)
        if not given:
            return error_response(401, "this server needs its access token: open the link it printed "
                                       "(…/?token=…) or send 'Authorization: Bearer <token>'",
                                  {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error_response(401, "wrong access token", {"WWW-Authenticate": "Bearer"})
        if from_query and request.method == "GET" and request.url.path == "/":
            response: Response = RedirectResponse("/", status_code=303)
        else:
            response = await call_next(request)
        if from_query:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response
