"""The kiosk's ASGI app: the voter's pages and the poll worker's activation.

docs/spec.md §21.2 lists the routes. Everything a route does is ``paper.kiosk``'s;
this module parses requests, sets the session cookie (HttpOnly, SameSite=Strict, no
expiry: the only cookie) and answers JSON. It logs nothing and writes no file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from e2e.encoding import ObjectReader
from e2e.errors import UsageError
from e2e.ledger.store import OutOfRange
from e2e.manifest import Manifest, Text
from paper.ids import format_tracking_code
from paper.kiosk import Decision, Kiosk, SessionView
from paper.payload import ReceiptStatus
from paperchain.web.common import Forbidden, escape, install_common, page, read_json
from paperchain.web.strings import kiosk_strings

__all__ = ["COOKIE", "create_kiosk_app", "directory_scanner"]

COOKIE = "paperchain_kiosk"
MAX_BODY = 16 << 10
_SWEEP_SECONDS = 2.0


def directory_scanner(directory: Path) -> Callable[[], bytes | None]:
    """The newest file the scanner left in ``directory``; every file there is deleted."""

    def scan() -> bytes | None:
        files = sorted((p for p in directory.iterdir() if p.is_file()),
                       key=lambda p: p.stat().st_mtime)
        data = files[-1].read_bytes() if files else None
        for path in files:
            path.unlink(missing_ok=True)
        return data

    return scan


def _text(text: Text) -> dict[str, str]:
    return dict(text.items())


def _ballot(manifest: Manifest, style_id: str) -> dict[str, Any]:
    style = manifest.style(style_id)
    return {
        "style_id": style.id, "style_label": _text(style.label),
        "contests": [
            {"id": c.id, "title": _text(c.title), "vote_for": c.vote_for, "kind": str(c.kind),
             "selections": [{"id": s.id, "label": _text(s.label)} for s in c.selections]}
            for _, c in manifest.contests_of_style(style.id)],
    }


def _session_json(kiosk: Kiosk, view: SessionView) -> dict[str, Any]:
    return {"state": str(view.state), "style_id": view.style_id, "language": view.language,
            "challenges": view.challenges, "idle_timeout": view.idle_timeout,
            "warning": view.warning, "expires_in": round(view.expires_in, 1),
            "tracking_code": None if view.tracking_code is None
            else format_tracking_code(view.tracking_code),
            "ballot": _ballot(kiosk.manifest, view.style_id)}


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {"status": "cast" if decision.status is ReceiptStatus.CAST else "challenged",
            "tracking_code": format_tracking_code(decision.tracking_code),
            "index": decision.index}


def create_kiosk_app(kiosk: Kiosk, *, poll_worker_secret: bytes) -> FastAPI:
    """The kiosk's app (module docstring); ``poll_worker_secret`` guards activations."""
    if len(poll_worker_secret) < 8:
        raise UsageError("the poll workers' secret must be at least 8 bytes")
    secret_digest = hashlib.sha256(poll_worker_secret).digest()
    manifest = kiosk.manifest
    election_id = kiosk.election_id

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(_SWEEP_SECONDS)
                await run_in_threadpool(kiosk.expire_idle)

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(title="Paperchain kiosk", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    install_common(app, no_store=True)

    def check_election(requested: str) -> None:
        if requested != election_id:
            raise OutOfRange(f"this kiosk serves election {election_id!r}, not "
                             f"{requested[:64]!r}", "election_id")

    def session_secret(request: Request) -> str | None:
        return request.cookies.get(COOKIE)

    def with_cookie(body: dict[str, Any], secret: str, request: Request) -> JSONResponse:
        response = JSONResponse(body)
        response.set_cookie(COOKIE, secret, httponly=True, samesite="strict", path="/v1/",
                            secure=request.url.scheme == "https")
        return response

    def empty(reader: ObjectReader) -> None:
        reader.version([1])
        reader.done()

    # --- pages ---------------------------------------------------------------------------

    meta = {"paperchain-election": election_id}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def voter_page() -> str:
        body = ('<div id="app" class="kiosk"><main id="main" tabindex="-1">'
                f'<h1>{escape(manifest.name.get(manifest.default_language))}</h1>'
                '<p>Loading…</p></main></div>')
        return page(title=manifest.name.english, body=body, language=manifest.default_language,
                    styles=["kiosk.css"], scripts=["kiosk.js"], meta=meta)

    @app.get("/pollworker", response_class=HTMLResponse, include_in_schema=False)
    def poll_worker_page() -> str:
        options = "".join(f'<option value="{escape(s.id)}">{escape(s.label.english)}</option>'
                          for s in manifest.ballot_styles)
        body = (
            '<main id="main" class="pollworker"><h1>Poll worker: activate this kiosk</h1>'
            "<p>Choose the voter's ballot style. The kiosk shows a one-time code; give it to "
            "the voter, who types it on the kiosk's first screen.</p>"
            '<form id="activate"><p><label for="secret">Poll workers\' secret</label>'
            '<input id="secret" name="secret" type="password" autocomplete="off" required></p>'
            f'<p><label for="style">Ballot style</label><select id="style" name="style">'
            f"{options}</select></p>"
            '<p><button type="submit" class="primary">Issue a one-time code</button></p></form>'
            '<div id="result" role="status" aria-live="polite"></div></main>')
        return page(title="Poll worker — Paperchain kiosk", body=body, styles=["kiosk.css"],
                    scripts=["pollworker.js"], meta=meta)

    # --- API -------------------------------------------------------------------------------

    @app.get("/v1/elections/{requested}/kiosk")
    def config(requested: str) -> dict[str, Any]:
        check_election(requested)
        return {"version": 1, "election_id": election_id, "name": _text(manifest.name),
                "jurisdiction": _text(manifest.jurisdiction), "date": manifest.date.isoformat(),
                "languages": list(manifest.languages),
                "strings": {lang: kiosk_strings(lang) for lang in manifest.languages}}

    @app.post("/v1/elections/{requested}/activations")
    async def activations(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        given = request.headers.get("authorization", "")
        token = given.removeprefix("Bearer ").encode()
        if not given.startswith("Bearer ") or not hmac.compare_digest(
                hashlib.sha256(token).digest(), secret_digest):
            raise Forbidden("a poll worker's secret is needed (Authorization: Bearer …)",
                            "authorization")
        reader = ObjectReader(await read_json(request, MAX_BODY), "body")
        reader.version([1])
        style_id = reader.string("style_id", 64)
        reader.done()
        try:
            manifest.style(style_id)
        except UsageError:
            raise OutOfRange(f"no ballot style {style_id!r}", "body.style_id") from None
        activation = await run_in_threadpool(kiosk.issue_activation, style_id)
        return {"token": activation.token, "style_id": activation.style_id,
                "expires_in": activation.expires_in,
                "timed_out_spoiled": activation.timed_out_spoiled}

    @app.post("/v1/elections/{requested}/session")
    async def start(requested: str, request: Request) -> JSONResponse:
        check_election(requested)
        reader = ObjectReader(await read_json(request, MAX_BODY), "body")
        reader.version([1])
        token = reader.string("token", 32)
        language = reader.string("language", 16)
        reader.done()
        secret, view = await run_in_threadpool(kiosk.activate, token, language)
        return with_cookie(_session_json(kiosk, view), secret, request)

    @app.get("/v1/elections/{requested}/session")
    def current(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        return _session_json(kiosk, kiosk.session(session_secret(request)))

    @app.post("/v1/elections/{requested}/session/keepalive")
    async def keepalive(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        empty(ObjectReader(await read_json(request, MAX_BODY), "body"))
        return _session_json(kiosk, kiosk.keepalive(session_secret(request)))

    @app.post("/v1/elections/{requested}/session/language")
    async def language(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        reader = ObjectReader(await read_json(request, MAX_BODY), "body")
        reader.version([1])
        chosen = reader.string("language", 16)
        reader.done()
        return _session_json(kiosk, kiosk.set_language(session_secret(request), chosen))

    @app.post("/v1/elections/{requested}/session/end")
    async def end(requested: str, request: Request) -> JSONResponse:
        check_election(requested)
        empty(ObjectReader(await read_json(request, MAX_BODY), "body"))
        kiosk.end(session_secret(request))
        response = JSONResponse({"ended": True})
        response.delete_cookie(COOKIE, path="/v1/")
        return response

    @app.post("/v1/elections/{requested}/ballot/print")
    async def print_ballot(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        reader = ObjectReader(await read_json(request, MAX_BODY), "body")
        reader.version([1])
        raw = reader.raw("choices")
        if not isinstance(raw, dict) or len(raw) > 1000:
            raise UsageError("choices are an object: contest ID -> list of selection IDs",
                             "body.choices")
        choices: dict[str, list[str]] = {}
        for contest_id, picked in raw.items():
            if not isinstance(picked, list) or len(picked) > 1000 or not all(
                    isinstance(p, str) and len(p) <= 64 for p in picked):
                raise UsageError("a contest's choices are a list of selection IDs",
                                 f"body.choices.{str(contest_id)[:64]}")
            choices[contest_id] = picked
        reader.done()
        secret = session_secret(request)
        code = await run_in_threadpool(kiosk.print_ballot, secret, choices)
        return {"state": "printed", "tracking_code": format_tracking_code(code)}

    @app.post("/v1/elections/{requested}/ballot/cast")
    async def cast(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        empty(ObjectReader(await read_json(request, MAX_BODY), "body"))
        return _decision_json(await run_in_threadpool(kiosk.cast, session_secret(request)))

    @app.post("/v1/elections/{requested}/ballot/challenge")
    async def challenge(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        empty(ObjectReader(await read_json(request, MAX_BODY), "body"))
        return _decision_json(await run_in_threadpool(kiosk.challenge, session_secret(request)))

    @app.post("/v1/elections/{requested}/ballot/readback")
    async def readback(requested: str, request: Request) -> dict[str, Any]:
        check_election(requested)
        empty(ObjectReader(await read_json(request, MAX_BODY), "body"))
        result = await run_in_threadpool(kiosk.read_back, session_secret(request))
        return result.to_json()

    return app
