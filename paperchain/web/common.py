"""What every Paperchain web app shares: headers, errors, bodies, pages, static files.

* Every response carries a Content-Security-Policy that allows scripts, styles, fonts
  and images from the app itself only (no CDN, no inline script or style) and data
  requests to the app and the configured ledger operator and witnesses only; no
  referrer is ever sent; pages cannot be framed.
* Errors are ``{"error": reason, "where": place}`` with a 4xx status, mapped from the
  ``PaperchainError`` that refused the request; nothing is changed by a refused one.
* Bodies are read up to a limit (413 beyond it); JSON bodies must say so in their
  Content-Type, which also keeps other sites' plain forms from posting here.
* Nothing is logged per request: the apps run without an access log (``serve``).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from e2e.encoding import JsonObject, parse_json_object
from e2e.errors import (
    EncodingError,
    InputError,
    PaperchainError,
    StateError,
    UsageError,
    VerificationError,
)
from e2e.ledger.store import OutOfRange

__all__ = [
    "STATIC_DIR",
    "BodyTooLarge",
    "Forbidden",
    "content_security_policy",
    "error_response",
    "escape",
    "install_common",
    "origin_of",
    "page",
    "read_json",
    "serve",
    "status_for",
]

STATIC_DIR = Path(str(resources.files("paperchain.web").joinpath("static")))


class BodyTooLarge(InputError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes", "body")


class Forbidden(InputError):
    """The request lacks the credential the route needs (a poll worker's secret)."""


def status_for(error: PaperchainError) -> int:
    # Imported here: the kiosk's own errors live in ``paper.kiosk``.
    from e2e.ledger.http_client import ServiceUnreachable
    from paper.kiosk import NoSession, OutOfService

    if isinstance(error, ServiceUnreachable):
        return 503  # the ledger could not be reached: nothing was recorded, try again
    if isinstance(error, BodyTooLarge):
        return 413
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, NoSession):
        return 401
    if isinstance(error, OutOfService):
        return 503
    if isinstance(error, OutOfRange):
        return 404
    if isinstance(error, StateError):
        return 409
    if isinstance(error, VerificationError):
        return 422
    return 400


def error_response(status: int, reason: str, where: str | None) -> JSONResponse:
    return JSONResponse({"error": reason, "where": where}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what CSP's connect-src names)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(connect: Iterable[str] = ()) -> str:
    sources = " ".join(["'self'", *sorted({origin_of(u) for u in connect})])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: "
            f"blob:; media-src 'self' blob:; connect-src {sources}; font-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def install_common(app: FastAPI, *, connect: Sequence[str] = (), no_store: bool = False,
                   camera: bool = False) -> None:
    """Security headers, error handlers and the static files on ``app``."""
    policy = content_security_policy(connect)
    permissions = ("camera=(self), microphone=(), geolocation=()" if camera
                   else "camera=(), microphone=(), geolocation=()")

    @app.middleware("http")
    async def _headers(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = permissions
        if no_store or not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(PaperchainError)
    async def _paperchain_error(request: Request, error: PaperchainError) -> JSONResponse:
        return error_response(status_for(error), error.reason, error.where)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or None
        return error_response(400, str(first.get("msg", "invalid request")), where)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), request.url.path)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def read_json(request: Request, limit: int) -> JsonObject:
    """The request's JSON object, at most ``limit`` bytes, or a 4xx error."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise EncodingError("the body must be JSON (Content-Type: application/json)", "body")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return parse_json_object(b"".join(chunks), "body", limit)


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(*, title: str, body: str, language: str = "en", styles: Sequence[str] = (),
         scripts: Sequence[str] = (), modules: Sequence[str] = (),
         meta: dict[str, str] | None = None, body_class: str = "") -> str:
    """An HTML page: static styles and scripts by path, never inline."""
    head = ['<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            '<link rel="icon" href="data:,">']
    head += [f'<meta name="{escape(k)}" content="{escape(v)}">' for k, v in (meta or {}).items()]
    head += [f'<link rel="stylesheet" href="/static/{escape(s)}">' for s in styles]
    head += [f'<script defer src="/static/{escape(s)}"></script>' for s in scripts]
    head += [f'<script type="module" src="/static/{escape(m)}"></script>' for m in modules]
    klass = f' class="{escape(body_class)}"' if body_class else ""
    return (f'<!DOCTYPE html>\n<html lang="{escape(language)}">\n<head>\n' + "\n".join(head)
            + f"\n</head>\n<body{klass}>\n{body}\n</body>\n</html>\n")


def serve(app: Any, host: str, port: int) -> None:
    """Run ``app`` with uvicorn in the foreground, without an access log."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, date_header=False)
