"""``HttpLedger``: a ledger client and view over the HTTP service (``e2e.ledger.service``).

It implements ``LedgerClient`` (append, entries, envelopes, sequence numbers), so every
writer works the same against ``--ledger URL`` as against ``--ledger DIR``, and
``LedgerView`` (heads, leaf hashes, proofs, promises), so witnesses, monitors and
receipt checkers read operators and witnesses alike.

Nothing a service says is trusted beyond what it is: envelopes are chain-checked as
they stream, heads are parsed from their signed notes (callers verify signatures with
the setup's keys), proofs are returned for the caller to verify. A refusal (4xx)
becomes the matching ``PaperchainError`` with the service's reason and place; a service
that cannot be reached, answers 5xx or answers nonsense raises ``ServiceUnreachable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from e2e.encoding import ObjectReader, parse_json_object
from e2e.errors import (
    EncodingError,
    LedgerError,
    PaperchainError,
    UsageError,
)
from e2e.ledger.entry import (
    GENESIS_PREVIOUS,
    Entry,
    check_chain,
    decode_envelope,
    leaf_hash_of,
)
from e2e.ledger.heads import Cosignature, CosignedHead, decode_note
from e2e.ledger.node import NodeInfo, PromiseRecord
from e2e.ledger.operator import AppendResult
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.store import OutOfRange
from e2e.signing import VerifyKey

__all__ = ["HttpLedger", "ServiceUnreachable", "is_url"]

_PAGE = 500
_CACHE_BYTES = 512 << 20
"""Envelope bytes one client keeps for re-reading (``HttpLedger._pages``); past this,
new envelopes are fetched every time (a ledger larger than memory still streams)."""


class ServiceUnreachable(PaperchainError):
    """A ledger service could not be reached, failed (5xx) or answered something malformed."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _hashes(reader: ObjectReader, key: str, limit: int = 1 << 16) -> list[bytes]:
    out = []
    for i, item in enumerate(reader.items(key, limit)):
        if not isinstance(item, str) or len(item) != 64 or item.strip("0123456789abcdef"):
            raise EncodingError("expected 64 lowercase hex digits", f"{reader.path(key)}[{i}]")
        out.append(bytes.fromhex(item))
    return out


class HttpLedger:
    """A ledger service (operator or witness) reached at ``url``."""

    def __init__(self, url: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not is_url(url):
            raise UsageError(f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self._info: NodeInfo | None = None
        self._cache: dict[int, tuple[bytes, bytes]] = {}  # index → (envelope, leaf hash)
        self._cached_bytes = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpLedger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpLedger({self.url!r})"

    # --- transport ---------------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Any) -> ObjectReader:
        where = f"{self.url}{path}"
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as err:
            raise ServiceUnreachable(f"cannot reach the ledger service: {err}", where) from None
        if response.status_code >= 500:
            raise ServiceUnreachable(f"the service failed with HTTP {response.status_code}",
                                     where)
        try:
            body = parse_json_object(response.content, where, 64 << 20)
        except EncodingError as err:
            raise ServiceUnreachable(f"the service answered HTTP {response.status_code} "
                                     f"with something else than JSON: {err.reason}",
                                     where) from None
        if response.status_code >= 400:
            reason = body.get("error")
            place = body.get("where")
            raise _refusal(response.status_code,
                           str(reason) if reason else f"HTTP {response.status_code}",
                           f"{self.url}: {place}" if place else self.url)
        return ObjectReader(body, where)

    def _get(self, path: str, **params: Any) -> ObjectReader:
        return self._request("GET", path, params=params or None)

    def _get_optional(self, path: str, **params: Any) -> ObjectReader | None:
        try:
            return self._get(path, **params)
        except OutOfRange:
            return None

    # --- LedgerClient ------------------------------------------------------------------

    def node_info(self) -> NodeInfo:
        if self._info is None:
            obj = self._get("/v1/info")
            obj.version([1])
            role = obj.choice("role", ["operator", "witness"])
            witness = obj.raw("witness_id")
            if witness is not None and not isinstance(witness, str):
                raise EncodingError("witness_id must be a string or null", obj.path("witness_id"))
            test_group = obj.raw("test_group")
            if not isinstance(test_group, bool):
                raise EncodingError("test_group must be a boolean", obj.path("test_group"))
            self._info = NodeInfo(role, obj.string("election_id", 64), obj.string("origin", 256),
                                  VerifyKey.from_hex(obj.string("operator_key", 64),
                                                     obj.path("operator_key")),
                                  test_group, witness)
            obj.integer("size")
            obj.done()
        return self._info

    @property
    def election_id(self) -> str:
        return self.node_info().election_id

    def append(self, entry: Entry) -> AppendResult:
        return self.append_bytes(entry.encode())

    def append_bytes(self, entry_bytes: bytes) -> AppendResult:
        obj = self._request("POST", "/v1/entries", content=entry_bytes,
                            headers={"content-type": "application/octet-stream"})
        index, leaf = obj.integer("index"), obj.hex_bytes("leaf_hash", 32)
        promise = InclusionPromise.from_bytes(obj.hex_bytes("promise", 104), obj.path("promise"))
        obj.done()
        if (promise.index, promise.leaf_hash) != (index, leaf):
            raise LedgerError("the service's promise names another entry", self.url)
        return AppendResult(index, leaf, promise)

    def size(self) -> int:
        obj = self._get("/v1/info")
        return obj.integer("size")

    def log_size(self) -> int:
        return self.size()

    def next_sequence(self, writer_id: str) -> int:
        obj = self._get(f"/v1/writers/{writer_id}/next-sequence")
        return obj.integer("next_sequence")

    def _pages(self, start: int, end: int | None) -> Iterator[tuple[int, bytes]]:
        """(index, envelope) from ``start`` up to ``end`` (the service's size if None).

        Envelopes this client fetched before are kept (``_cache``, by index, with the leaf
        hash computed here from the bytes) and served again only if the service still
        shows the same leaf hash at that index — one ``/v1/leaf-hashes`` request for the
        range instead of every envelope again. An index whose leaf hash changed, and every
        index not held, is fetched; so the caller sees exactly what the service holds now,
        as without the cache, and checks chain links and content as before.
        """
        if end is None:
            end = self.size()
        if start >= end:
            return
        held = [i for i in range(start, end) if i in self._cache]
        leaves = self.leaf_hashes(start, end) if held else []
        position = start
        while position < end:
            known = self._cache.get(position)
            if known is not None and leaves[position - start] == known[1]:
                yield position, known[0]
                position += 1
                continue
            if known is not None:  # the service shows another leaf here: fetch it again
                self._forget(position)
            stop = position + 1
            while stop < end and stop - position < _PAGE and stop not in self._cache:
                stop += 1
            for index, raw, leaf in self._fetch(position, stop):
                if leaves and leaves[index - start] != leaf:
                    raise LedgerError(f"entry {index}: the service's envelope is not the "
                                      "leaf it listed a moment ago", self.url)
                self._remember(index, raw, leaf)
                yield index, raw
            position = stop

    def _fetch(self, start: int, end: int) -> Iterator[tuple[int, bytes, bytes]]:
        """(index, envelope, leaf hash) for ``start`` <= index < ``end``, from the service."""
        position = start
        while position < end:
            obj = self._get("/v1/entries", start=position, limit=min(_PAGE, end - position))
            obj.integer("size")
            page = obj.objects("entries", _PAGE)
            if not page:
                raise LedgerError(f"the service stopped at entry {position} of {end}", self.url)
            for item in page:
                index = item.integer("index")
                raw = item.hex_bytes("envelope", max_length=64 << 20)
                if index != position:
                    raise LedgerError(f"the service sent entry {index} for {position}", self.url)
                leaf = leaf_hash_of(raw)
                if item.hex_bytes("leaf_hash", 32) != leaf:
                    raise LedgerError(f"entry {index}: the leaf hash sent is not the "
                                      "envelope's", self.url)
                if position >= end:
                    return
                yield position, raw, leaf
                position += 1

    def _remember(self, index: int, raw: bytes, leaf: bytes) -> None:
        if index in self._cache or self._cached_bytes + len(raw) > _CACHE_BYTES:
            return
        self._cache[index] = (raw, leaf)
        self._cached_bytes += len(raw)

    def _forget(self, index: int) -> None:
        known = self._cache.pop(index, None)
        if known is not None:
            self._cached_bytes -= len(known[0])

    def envelopes(self, start: int = 0) -> Iterator[bytes]:
        for _, raw in self._pages(start, None):
            yield raw

    def envelope_range(self, start: int, end: int) -> Iterator[bytes]:
        for _, raw in self._pages(start, end):
            yield raw

    def entries(self, start: int = 0) -> Iterator[tuple[int, Entry]]:
        previous = GENESIS_PREVIOUS if start == 0 else self.leaf_hashes(start - 1, start)[0]
        for index, raw in self._pages(start, None):
            envelope = decode_envelope(raw, f"ledger entry {index}")
            check_chain(envelope, index, previous)
            previous = envelope.leaf_hash
            yield index, envelope.entry()

    # --- LedgerView ----------------------------------------------------------------------

    def _head(self, obj: ObjectReader | None) -> CosignedHead | None:
        if obj is None:
            return None
        head = decode_note(obj.string("note", 1 << 16), f"{self.url} head")
        fields = (obj.integer("size"), obj.hex_bytes("root", 32), obj.integer("time"),
                  obj.string("origin", 256), obj.string("election_id", 64))
        if fields != (head.size, head.root, head.time, head.head.origin, head.head.election_id):
            raise LedgerError("the head's fields differ from its signed note", self.url)
        obj.items("cosigners", 100)
        obj.done()
        return head

    def latest_head(self) -> CosignedHead | None:
        return self._head(self._get_optional("/v1/head"))

    def cosigned_head(self) -> CosignedHead | None:
        return self._head(self._get_optional("/v1/head/cosigned"))

    def head_at(self, size: int) -> CosignedHead | None:
        return self._head(self._get_optional(f"/v1/heads/{size}"))

    def heads_before(self, size: int | None, limit: int = 100) -> list[CosignedHead]:
        params: dict[str, Any] = {"limit": limit}
        if size is not None:
            params["before"] = size
        obj = self._get("/v1/heads", **params)
        found = []
        for item in obj.objects("heads", 1000):
            head = self._head(item)
            if head is not None:
                found.append(head)
        return found

    def envelope(self, index: int) -> bytes:
        for _, raw in self._pages(index, index + 1):
            return raw
        raise OutOfRange(f"no entry {index}", self.url)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        found: list[bytes] = []
        while start + len(found) < end:
            obj = self._get("/v1/leaf-hashes", start=start + len(found),
                            limit=min(10_000, end - start - len(found)))
            page = _hashes(obj, "leaf_hashes", 10_000)
            if not page:
                raise OutOfRange(f"the service has no leaves beyond {start + len(found)}",
                                 self.url)
            found += page
        return found[: end - start]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        obj = self._get("/v1/proofs/inclusion", index=index, size=size)
        return _hashes(obj, "proof", 64)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        obj = self._get("/v1/proofs/consistency", size1=size1, size2=size2)
        return _hashes(obj, "proof", 128)

    def promise_for_code(self, tracking_code: bytes) -> PromiseRecord | None:
        obj = self._get_optional(f"/v1/promises/{tracking_code.hex()}")
        if obj is None:
            return None
        promise = InclusionPromise.from_bytes(obj.hex_bytes("promise", 104), obj.path("promise"))
        record = PromiseRecord(obj.integer("index"), obj.hex_bytes("leaf_hash", 32),
                               obj.string("entry_type", 64), promise)
        obj.done()
        if (promise.index, promise.leaf_hash) != (record.index, record.leaf_hash):
            raise LedgerError("the service's promise names another entry", self.url)
        return record

    def submit_cosignature(self, size: int, root: bytes, cosignature: Cosignature) -> None:
        self._request("POST", "/v1/cosignatures", json={
            "version": 1, "witness_id": cosignature.witness_id, "size": size,
            "root": root.hex(), "time": cosignature.time,
            "signature": cosignature.signature.hex()})


def _refusal(status: int, reason: str, where: str) -> PaperchainError:
    if status == 404:
        return OutOfRange(reason, where)
    if status in (400, 413):
        return EncodingError(reason, where)
    return LedgerError(reason, where)
