"""The ledger's HTTP service: an ASGI app (FastAPI) over a ``LedgerNode``.

docs/spec.md §16.4 lists every route. An operator node serves everything;
a witness node serves the read routes over its own copy (no appends, no promises, no
cosignature submission). Every refusal is a 4xx with ``{"error": reason, "where":
place}``, mapped from the ``PaperchainError`` that refused it (``status_for``):

    404  OutOfRange (no such index, size, head or tracking code), unknown route
    405  a method the route does not take
    409  DuplicateEntry, StaleHead, StateError (a repeated key, an operation out of order)
    413  a body larger than the limit
    400  any other InputError (malformed bytes, JSON, hex, parameters)
    422  any VerificationError (signature, writer, role, phase, sequence, ballot proofs)

Limits (``ServiceLimits``) bound bodies, pages of entries and leaf hashes, and heads
listed; work that may take long (admission, proofs) runs in the thread pool.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from e2e.encoding import ObjectReader, parse_json_object
from e2e.errors import (
    EncodingError,
    InputError,
    PaperchainError,
    StateError,
    UsageError,
    VerificationError,
)
from e2e.ledger.entry import MAX_PAYLOAD, leaf_hash_of
from e2e.ledger.heads import Cosignature, CosignedHead
from e2e.ledger.node import LedgerNode
from e2e.ledger.store import DuplicateEntry, OutOfRange, StaleHead

__all__ = [
    "API_VERSION",
    "AppendBody",
    "ConsistencyBody",
    "EntriesBody",
    "EntryBody",
    "ErrorBody",
    "HeadBody",
    "HeadsBody",
    "InclusionBody",
    "InfoBody",
    "LeafHashesBody",
    "PromiseBody",
    "RunningServer",
    "SequenceBody",
    "ServiceLimits",
    "bind_socket",
    "create_app",
    "head_json",
    "serve_in_thread",
    "server_config",
    "status_for",
    "url_of",
]

API_VERSION = 1
_HEX32 = r"^[0-9a-f]{64}$"
_INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    max_body: int = MAX_PAYLOAD + 8192
    max_json_body: int = 64 << 10
    max_entries: int = 1000
    max_page_bytes: int = 8 << 20
    max_leaf_hashes: int = 10_000
    max_heads: int = 1000


class ErrorBody(BaseModel):
    error: str
    where: str | None = None


class InfoBody(BaseModel):
    version: int
    role: str
    election_id: str
    origin: str
    operator_key: str
    test_group: bool
    witness_id: str | None
    size: int


class HeadBody(BaseModel):
    size: int
    root: str
    time: int
    origin: str
    election_id: str
    cosigners: list[str]
    note: str


class HeadsBody(BaseModel):
    heads: list[HeadBody]


class AppendBody(BaseModel):
    index: int
    leaf_hash: str
    promise: str


class EntryBody(BaseModel):
    index: int
    leaf_hash: str
    envelope: str


class EntriesBody(BaseModel):
    start: int
    size: int
    entries: list[EntryBody]


class LeafHashesBody(BaseModel):
    start: int
    leaf_hashes: list[str]


class InclusionBody(BaseModel):
    index: int
    size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyBody(BaseModel):
    size1: int
    size2: int
    proof: list[str]


class PromiseBody(BaseModel):
    index: int
    leaf_hash: str
    entry_type: str
    promise: str


class SequenceBody(BaseModel):
    writer_id: str
    next_sequence: int


def status_for(error: PaperchainError) -> int:
    if isinstance(error, OutOfRange):
        return 404
    if isinstance(error, DuplicateEntry | StaleHead | StateError):
        return 409
    if isinstance(error, InputError):
        return 400
    if isinstance(error, VerificationError):
        return 422
    return 400


def _error(status: int, reason: str, where: str | None) -> JSONResponse:
    return JSONResponse({"error": reason, "where": where}, status_code=status)


def head_json(head: CosignedHead, node: LedgerNode) -> dict[str, Any]:
    try:
        policy = node.policy()
    except StateError:
        policy = None
    cosigners = policy.valid_cosigners(head) if policy is not None else []
    return {"size": head.size, "root": head.root.hex(), "time": head.time,
            "origin": head.head.origin, "election_id": head.head.election_id,
            "cosigners": cosigners, "note": head.note(policy)}


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (400, "malformed request"), (404, "not found"), (409, "conflict"),
        (413, "body too large"), (422, "refused by a check"))}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(limit)
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class _TooLarge(InputError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes", "body")


def create_app(node: LedgerNode, limits: ServiceLimits | None = None) -> FastAPI:
    """The ASGI app serving ``node`` (routes: module docstring and the OpenAPI schema)."""
    limits = limits or ServiceLimits()
    role = "operator" if node.is_operator else "witness"
    app = FastAPI(
        title=f"Paperchain ledger {role}", version=str(API_VERSION),
        description="The public ledger of one election: append-only, hash-chained entries "
                    "in an RFC 9162 Merkle tree, signed tree heads and witness cosignatures "
                    "(docs/spec.md §16).",
        responses=_ERRORS)
    # Receipt checkers read heads, entries and proofs from the witnesses (and the operator)
    # in the voter's own browser, from another origin: every read route is public data,
    # so any origin may read it, without credentials (docs/spec.md §21.3).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"],
                       allow_credentials=False, max_age=600)

    @app.exception_handler(PaperchainError)
    async def _paperchain_error(request: Request, error: PaperchainError) -> JSONResponse:
        if isinstance(error, _TooLarge):
            return _error(413, error.reason, error.where)
        return _error(status_for(error), error.reason, error.where)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or None
        return _error(400, str(first.get("msg", "invalid request")), where)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), request.url.path)

    def run(function: Callable[..., Any], *args: Any) -> Any:
        return run_in_threadpool(function, *args)

    @app.get("/v1/info", response_model=InfoBody, summary="Who this node is")
    def info() -> dict[str, Any]:
        i = node.info
        return {"version": API_VERSION, "role": role, "election_id": i.election_id,
                "origin": i.origin, "operator_key": i.operator_key.to_hex(),
                "test_group": i.test_group, "witness_id": i.witness_id,
                "size": node.log_size()}

    if node.is_operator:
        @app.post(
            "/v1/entries", response_model=AppendBody, summary="Append one signed entry",
            description="The body is the entry's bytes (docs/spec.md §7.2). Every admission "
                        "check applies; the answer carries the signed inclusion promise "
                        "(104 bytes, hex) once the entry is durably stored.",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}}})
        async def append(request: Request) -> dict[str, Any]:
            body = await _read_body(request, limits.max_body)
            if not body:
                raise EncodingError("the body must hold the entry's bytes", "body")
            result = await run(node.append, body)
            return {"index": result.index, "leaf_hash": result.leaf_hash.hex(),
                    "promise": result.promise.to_bytes().hex()}

        @app.post(
            "/v1/cosignatures", response_model=HeadBody, summary="Submit a witness cosignature",
            description='JSON: {"version": 1, "witness_id", "size", "root" (hex), "time" '
                        '(ms), "signature" (hex)}. Answers the head with every cosignature.',
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": {
                    "type": "object",
                    "required": ["version", "witness_id", "size", "root", "time", "signature"],
                    "properties": {
                        "version": {"type": "integer"}, "witness_id": {"type": "string"},
                        "size": {"type": "integer"}, "root": {"type": "string"},
                        "time": {"type": "integer"}, "signature": {"type": "string"}}}}}}})
        async def cosign(request: Request) -> dict[str, Any]:
            body = await _read_body(request, limits.max_json_body)
            obj = ObjectReader(parse_json_object(body, "body"), "body")
            obj.version([1])
            cosignature = Cosignature(obj.string("witness_id", 64), obj.integer("time"),
                                      obj.hex_bytes("signature", 64))
            size, root = obj.integer("size"), obj.hex_bytes("root", 32)
            obj.done()
            head = await run(node.add_cosignature, size, root, cosignature)
            return head_json(head, node)

        @app.get("/v1/promises/{tracking_code}", response_model=PromiseBody,
                 summary="The inclusion promise for a tracking code")
        def promise(tracking_code: str = Path(pattern=_HEX32)) -> dict[str, Any]:
            found = node.promise_for_code(bytes.fromhex(tracking_code))
            if found is None:
                raise OutOfRange("no ballot or challenge with this tracking code", "tracking_code")
            return {"index": found.index, "leaf_hash": found.leaf_hash.hex(),
                    "entry_type": found.entry_type, "promise": found.promise.to_bytes().hex()}

        @app.get("/v1/writers/{writer_id}/next-sequence", response_model=SequenceBody,
                 summary="The sequence number a writer's next entry must carry")
        def next_sequence(writer_id: str = Path(min_length=1, max_length=64)) -> dict[str, Any]:
            return {"writer_id": writer_id, "next_sequence": node.next_sequence(writer_id)}

    @app.get("/v1/head", response_model=HeadBody, summary="The latest signed tree head",
             description="On the operator, a new head is signed first if the log grew.")
    def latest_head() -> dict[str, Any]:
        head = node.latest_head()
        if head is None:
            raise OutOfRange("no head yet: the log is empty", "head")
        return head_json(head, node)

    @app.get("/v1/head/cosigned", response_model=HeadBody,
             summary="The newest head with enough witness cosignatures")
    def cosigned_head() -> dict[str, Any]:
        head = node.cosigned_head()
        if head is None:
            raise OutOfRange("no head has enough witness cosignatures yet", "head")
        return head_json(head, node)

    @app.get("/v1/heads/{size}", response_model=HeadBody, summary="The head of a size")
    def head_at(size: int = Path(ge=0, le=_INT64)) -> dict[str, Any]:
        head = node.head_at(size)
        if head is None:
            raise OutOfRange(f"no head of size {size}", "size")
        return head_json(head, node)

    @app.get("/v1/heads", response_model=HeadsBody, summary="Heads, newest first")
    def heads(before: int | None = Query(None, ge=1, le=_INT64,
                                         description="Only heads older than this size's."),
              limit: int = Query(100, ge=1, le=limits.max_heads)) -> dict[str, Any]:
        if before is not None and node.head_at(before) is None:
            raise OutOfRange(f"no head of size {before}", "before")
        return {"heads": [head_json(h, node) for h in node.heads_before(before, limit)]}

    @app.get("/v1/entries", response_model=EntriesBody, summary="Envelopes by index range")
    def entries(start: int = Query(0, ge=0, le=_INT64),
                limit: int = Query(100, ge=1, le=limits.max_entries)) -> dict[str, Any]:
        size = node.log_size()
        if start > size:
            raise OutOfRange(f"start {start} is beyond the log's size {size}", "start")
        end = min(size, start + limit)
        page, total = [], 0
        for index, raw in enumerate(node.envelope_range(start, end), start=start):
            if page and total + len(raw) > limits.max_page_bytes:
                break
            total += len(raw)
            page.append({"index": index, "leaf_hash": leaf_hash_of(raw).hex(),
                         "envelope": raw.hex()})
        return {"start": start, "size": size, "entries": page}

    @app.get("/v1/entries/{leaf_hash}", response_model=EntryBody,
             summary="An entry by its identifier (its leaf hash)")
    def entry(leaf_hash: str = Path(pattern=_HEX32)) -> dict[str, Any]:
        digest = bytes.fromhex(leaf_hash)
        index = node.store.index_of_leaf(digest)
        if index is None:
            raise OutOfRange("no entry with this leaf hash", "leaf_hash")
        return {"index": index, "leaf_hash": leaf_hash, "envelope": node.envelope(index).hex()}

    @app.get("/v1/leaf-hashes", response_model=LeafHashesBody, summary="Leaf hashes by range")
    def leaf_hashes(start: int = Query(0, ge=0, le=_INT64),
                    limit: int = Query(1000, ge=1, le=limits.max_leaf_hashes)
                    ) -> dict[str, Any]:
        size = node.log_size()
        if start > size:
            raise OutOfRange(f"start {start} is beyond the log's size {size}", "start")
        found = node.leaf_hashes(start, min(size, start + limit))
        return {"start": start, "leaf_hashes": [h.hex() for h in found]}

    @app.get("/v1/proofs/inclusion", response_model=InclusionBody,
             summary="Inclusion proof of an entry in the tree of a size (RFC 9162 §2.1.3)")
    def inclusion(index: int = Query(ge=0, le=_INT64), size: int = Query(ge=1, le=_INT64)
                  ) -> dict[str, Any]:
        proof = node.inclusion_proof(index, size)
        return {"index": index, "size": size, "leaf_hash": node.store.leaf_hash(index).hex(),
                "proof": [p.hex() for p in proof]}

    @app.get("/v1/proofs/consistency", response_model=ConsistencyBody,
             summary="Consistency proof between two tree sizes (RFC 9162 §2.1.4)")
    def consistency(size1: int = Query(ge=1, le=_INT64), size2: int = Query(ge=1, le=_INT64)
                    ) -> dict[str, Any]:
        proof = node.consistency_proof(size1, size2)
        return {"size1": size1, "size2": size2, "proof": [p.hex() for p in proof]}

    return app


# --- running it ----------------------------------------------------------------------------


@dataclass
class RunningServer:
    """A uvicorn server in a background thread, listening on 127.0.0.1 (or ``host``)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket (port 0: a free one the system picks)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, a response written in two segments
    # (head, body) waits out the client's delayed ACK — 40 ms per request on Linux.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as err:  # unknown host, address in use, not ours
        sock.close()
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UsageError(f"cannot listen on {host} port {port}: {reason}", "--host") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server_config(app: FastAPI) -> uvicorn.Config:
    """How every ledger or witness service runs: warnings only and no access log, so no
    lookup (a tracking code, an entry ID, a client's address) is ever written down."""
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving ``app`` in a daemon thread; return once it accepts connections."""
    sock = bind_socket(host, port)
    server = uvicorn.Server(server_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"ledger-service {url_of(sock)}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    url = url_of(sock)
    if not server.started:
        server.should_exit = True
        with contextlib.suppress(OSError):
            sock.close()
        raise StateError(f"the ledger service did not start on {url}")
    return RunningServer(server, thread, url)

