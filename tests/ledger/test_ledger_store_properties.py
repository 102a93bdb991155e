"""The store's roots and proofs equal the RFC 9162 definitions, for any sizes (hypothesis).

One store per backend is built for the module (300 entries, appended in batches of
varied sizes); hypothesis then picks sizes and indices and compares the store's answers,
which come from persisted subtree hashes, with the naive definitions over every leaf.
A second property appends random batch splits to fresh stores: however a log was
batched, it holds the same subtrees.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.ledger.store import SqlLogStore, open_store
from e2e.merkle import (
    consistency_proof_from_leaf_hashes,
    inclusion_proof_from_leaf_hashes,
    node_hash,
    root_from_leaf_hashes,
)
from tests.ledger.store_helpers import BACKENDS, check_store, make_envelope, new_store_url, pending

LOG_SIZE = 300
_BATCHES = [1, 2, 3, 5, 8, 13, 1, 21, 34, 55, 4, 7, 16, 32, 64, 1, 1, 50]  # sums past LOG_SIZE


@pytest.fixture(scope="module", params=BACKENDS)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlLogStore, list[bytes]]]:
    store = open_store(new_store_url(request, request.param, tmp_path_factory.mktemp("built")))
    seq = 0
    for batch in _BATCHES:
        count = min(batch, LOG_SIZE - seq)
        if count <= 0:
            break
        store.append([pending("w", seq + i) for i in range(count)], make_envelope)
        seq += count
    hashes = check_store(store)
    assert len(hashes) == LOG_SIZE
    yield store, hashes
    store.close()


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, LOG_SIZE))
    return size, draw(st.integers(0, size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, LOG_SIZE))
    return draw(st.integers(1, size2)), size2


@given(size_and_index())
def test_inclusion_proofs_equal_the_definition(
    built: tuple[SqlLogStore, list[bytes]], case: tuple[int, int]
) -> None:
    store, hashes = built
    size, index = case
    assert store.inclusion_proof(index, size) == inclusion_proof_from_leaf_hashes(
        hashes[:size], index
    )


@given(two_sizes())
def test_consistency_proofs_and_roots_equal_the_definition(
    built: tuple[SqlLogStore, list[bytes]], case: tuple[int, int]
) -> None:
    store, hashes = built
    size1, size2 = case
    assert store.consistency_proof(size1, size2) == consistency_proof_from_leaf_hashes(
        hashes[:size2], size1
    )
    assert store.root(size2) == root_from_leaf_hashes(hashes[:size2])


def _complete_subtrees(hashes: list[bytes]) -> set[tuple[int, int, bytes]]:
    """Every complete aligned subtree above the leaves, computed level by level."""
    nodes: set[tuple[int, int, bytes]] = set()
    level, row = 0, list(hashes)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
        nodes.update((level, i, digest) for i, digest in enumerate(row))
    return nodes


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_any_batching_persists_exactly_the_complete_subtrees(batches: list[int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.sqlite"
        with open_store(path) as store:
            seq = 0
            for batch in batches:
                store.append([pending("w", seq + i) for i in range(batch)], make_envelope)
                seq += batch
            hashes = check_store(store)
        connection = sqlite3.connect(path)
        stored = {(lv, i, bytes(h)) for lv, i, h in
                  connection.execute("SELECT level, idx, hash FROM ledger_nodes")}
        connection.close()
    assert stored == _complete_subtrees(hashes)
