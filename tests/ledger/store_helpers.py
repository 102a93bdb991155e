"""What the store tests share: where to open a store, a toy envelope format, and a full
check of a store.

The store never parses envelopes; these tests give it the simplest chained format,
``u64(index) ‖ previous leaf hash ‖ entry``, so a test (or the crash test's parent) can
check every link and every stored leaf hash from the envelopes alone.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from e2e.ledger.store import GENESIS_PREVIOUS_HASH, LogStore, PendingEntry
from e2e.merkle import leaf_hash, root_from_leaf_hashes

BACKENDS = ["sqlite", "postgres"]


def new_store_url(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """A URL or path for an empty store of ``backend``. On PostgreSQL each store gets a
    schema of its own (its search_path) in the session's cluster (the ``pg_cluster``
    fixture), dropped when the requesting test or fixture ends."""
    if backend == "sqlite":
        return str(directory / f"ledger-{uuid.uuid4().hex[:8]}.sqlite")
    cluster = request.getfixturevalue("pg_cluster")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    url = str(cluster.create_schema(name))
    request.addfinalizer(lambda: cluster.drop_schema(name))
    return url


def make_envelope(index: int, previous: bytes, entry: bytes) -> bytes:
    return index.to_bytes(8, "big") + previous + entry


def parse_envelope(envelope: bytes) -> tuple[int, bytes, bytes]:
    return int.from_bytes(envelope[:8], "big"), envelope[8:40], envelope[40:]


def pending(
    writer: str, seq: int, *, keys: tuple[bytes, ...] = (), entry_type: str = "test"
) -> PendingEntry:
    return PendingEntry(f"{writer}/{seq}".encode(), writer, seq, entry_type, keys)


def check_store(store: LogStore) -> list[bytes]:
    """Every envelope chains to the one before, every stored leaf hash is the envelope's,
    and the store's root is the naive root of them all; returns the leaf hashes."""
    hashes: list[bytes] = []
    previous = GENESIS_PREVIOUS_HASH
    size = store.size()
    for expected_index, envelope in enumerate(store.envelopes(0, size)):
        index, link, _ = parse_envelope(envelope)
        if (index, link) != (expected_index, previous):
            raise AssertionError(f"envelope {expected_index} breaks the chain")
        previous = leaf_hash(envelope)
        if store.leaf_hash(index) != previous:
            raise AssertionError(f"stored leaf hash {index} is not its envelope's")
        hashes.append(previous)
    if len(hashes) != size or store.root(size) != root_from_leaf_hashes(hashes):
        raise AssertionError("the store's root is not the root of its envelopes")
    return hashes
