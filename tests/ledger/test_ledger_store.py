"""The ledger store's behaviour, the same on SQLite and PostgreSQL (``store`` fixture).

Each check has a test named after the failure it proves; atomicity tests assert that a
refused batch leaves size, root, keys and writer sequence numbers exactly as they were.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from e2e.errors import EncodingError, LedgerError, UsageError
from e2e.ledger import store as store_module
from e2e.ledger.store import (
    GENESIS_PREVIOUS_HASH,
    SCHEMA_VERSION,
    AppendedEntry,
    DuplicateEntry,
    LogStore,
    OutOfRange,
    PendingEntry,
    SqlLogStore,
    StaleHead,
    StoreCorrupted,
    StoredHead,
    UnsupportedStoreVersion,
    open_store,
)
from e2e.ledger.store_postgres import PostgresLogStore
from e2e.ledger.store_sqlite import SqliteLogStore
from e2e.merkle import (
    EMPTY_ROOT,
    consistency_proof_from_leaf_hashes,
    inclusion_proof_from_leaf_hashes,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger.store_helpers import check_store, make_envelope, parse_envelope, pending


def _raw(store_url: str, statement: str) -> None:
    """Change the database behind the store's back (tamper tests)."""
    if store_url.startswith("postgresql://"):
        with psycopg.connect(store_url, autocommit=True) as connection:
            connection.execute(statement)
    else:
        with sqlite3.connect(store_url) as connection:
            connection.execute(statement)
        connection.close()


def _fill(store: SqlLogStore, count: int, writer: str = "w", batch: int = 7) -> list[bytes]:
    for start in range(0, count, batch):
        store.append(
            [pending(writer, seq, keys=(f"key-{writer}-{seq}".encode(),))
             for seq in range(start, min(count, start + batch))],
            make_envelope,
        )
    return check_store(store)


def _snapshot(store: SqlLogStore) -> tuple[Any, ...]:
    size = store.size()
    return size, store.root(size), list(store.envelopes(0, size))


# -------------------------------------------------------------------- basics


def test_backends_implement_the_protocol(store: SqlLogStore) -> None:
    assert isinstance(store, LogStore)
    assert isinstance(store, SqliteLogStore | PostgresLogStore)


def test_empty_store_has_size_zero_and_the_empty_root(store: SqlLogStore) -> None:
    assert store.size() == 0
    assert store.root(0) == EMPTY_ROOT
    assert store.latest_head() is None
    assert list(store.envelopes(0, 0)) == []


def test_append_numbers_entries_and_passes_the_previous_leaf_hash(store: SqlLogStore) -> None:
    calls: list[tuple[int, bytes, bytes]] = []

    def recording(index: int, previous: bytes, entry: bytes) -> bytes:
        calls.append((index, previous, entry))
        return make_envelope(index, previous, entry)

    first = store.append([pending("a", 0), pending("a", 1), pending("b", 0)], recording)
    second = store.append([pending("a", 2)], recording)
    envelopes = [store.envelope(i) for i in range(4)]
    hashes = [leaf_hash(e) for e in envelopes]
    assert [*first, *second] == [AppendedEntry(i, hashes[i]) for i in range(4)]
    assert calls == [
        (0, GENESIS_PREVIOUS_HASH, b"a/0"),
        (1, hashes[0], b"a/1"),
        (2, hashes[1], b"b/0"),
        (3, hashes[2], b"a/2"),
    ]
    assert [store.leaf_hash(i) for i in range(4)] == hashes
    assert [parse_envelope(e)[2] for e in store.envelopes(0, 4)] == [b"a/0", b"a/1", b"b/0", b"a/2"]
    assert store.size() == 4


def test_empty_batch_appends_nothing(store: SqlLogStore) -> None:
    def never(index: int, previous: bytes, entry: bytes) -> bytes:
        raise AssertionError("make_envelope called for an empty batch")

    assert store.append([], never) == []
    assert store.size() == 0


def test_lookups_by_leaf_key_and_writer(store: SqlLogStore) -> None:
    hashes = _fill(store, 10)
    assert store.index_of_leaf(hashes[6]) == 6
    assert store.index_of_leaf(bytes(32)) is None
    assert store.index_of_key(b"key-w-4") == 4
    assert store.index_of_key(b"no such key") is None
    assert store.last_writer_seq("w") == 9
    assert store.last_writer_seq("nobody") is None


def test_roots_and_proofs_equal_the_rfc_definitions_at_every_size(store: SqlLogStore) -> None:
    hashes = _fill(store, 37, batch=5)
    for size in range(1, 38):
        root = root_from_leaf_hashes(hashes[:size])
        assert store.root(size) == root
        for index in range(size):
            proof = store.inclusion_proof(index, size)
            assert proof == inclusion_proof_from_leaf_hashes(hashes[:size], index)
            verify_inclusion(hashes[index], index, size, proof, root)
        for size1 in range(1, size + 1):
            proof = store.consistency_proof(size1, size)
            assert proof == consistency_proof_from_leaf_hashes(hashes[:size], size1)
            verify_consistency(size1, size, proof, root_from_leaf_hashes(hashes[:size1]), root)


def test_envelopes_stream_in_chunks(store: SqlLogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, 11)
    monkeypatch.setattr(store_module, "_READ_CHUNK", 3)
    streamed = store.envelopes(2, 10)
    assert iter(streamed) is streamed  # a generator, not a list
    assert list(streamed) == [store.envelope(i) for i in range(2, 10)]


def test_reopening_keeps_everything_and_appends_continue_the_chain(store_url: str) -> None:
    with open_store(store_url) as first:
        _fill(first, 9)
        first.put_head(9, b"head-9")
        first.put_cosignature(9, "witness-1", b"cosig")
        first.set_metadata("config", b"\x00\x01")
        root9 = first.root(9)
    with open_store(store_url) as again:
        assert again.size() == 9
        assert again.root(9) == root9
        assert again.latest_head() == StoredHead(9, b"head-9")
        assert again.cosignatures(9) == {"witness-1": b"cosig"}
        assert again.metadata("config") == b"\x00\x01"
        assert again.last_writer_seq("w") == 8
        again.append([pending("w", 9)], make_envelope)
        check_store(again)


# ----------------------------------------------------------------- atomicity


class _Boom(Exception):
    pass


def test_failing_make_envelope_leaves_the_store_unchanged(store: SqlLogStore) -> None:
    _fill(store, 5)
    before = _snapshot(store)

    def fails_on_third(index: int, previous: bytes, entry: bytes) -> bytes:
        if index == 7:
            raise _Boom("no envelope")
        return make_envelope(index, previous, entry)

    with pytest.raises(_Boom):
        store.append([pending("x", i, keys=(b"x%d" % i,)) for i in range(4)], fails_on_third)
    assert _snapshot(store) == before
    assert store.last_writer_seq("x") is None
    assert store.index_of_key(b"x0") is None
    # The next append takes the index the failed batch would have used.
    assert store.append([pending("x", 0)], make_envelope)[0].index == 5
    check_store(store)


def test_make_envelope_returning_other_than_bytes_is_refused_and_rolled_back(
    store: SqlLogStore,
) -> None:
    _fill(store, 3)
    before = _snapshot(store)
    with pytest.raises(UsageError, match="returned str, not bytes"):
        store.append([pending("x", 0), pending("x", 1)],
                     lambda i, p, e: make_envelope(i, p, e) if i == 3 else "text")
    assert _snapshot(store) == before


def test_duplicate_key_in_the_middle_of_a_batch_writes_nothing(store: SqlLogStore) -> None:
    _fill(store, 4)
    before = _snapshot(store)
    batch = [pending("y", i, keys=(b"y%d" % i,)) for i in range(5)]
    batch[2] = pending("y", 2, keys=(b"y2", b"key-w-1"))
    with pytest.raises(DuplicateEntry, match="unique key 6b65792d772d31 is already used") as info:
        store.append(batch, make_envelope)
    assert info.value.where == "batch entry 2"
    assert "by index 1" in info.value.reason
    assert _snapshot(store) == before
    assert store.index_of_key(b"y0") is None
    assert store.last_writer_seq("y") is None


def test_key_repeated_within_a_batch_is_refused(store: SqlLogStore) -> None:
    batch = [pending("y", 0, keys=(b"k",)), pending("y", 1), pending("y", 2, keys=(b"k",))]
    with pytest.raises(DuplicateEntry, match="by batch entry 0") as info:
        store.append(batch, make_envelope)
    assert info.value.where == "batch entry 2"
    assert store.size() == 0


def test_key_repeated_within_one_entry_is_refused(store: SqlLogStore) -> None:
    with pytest.raises(DuplicateEntry, match="unique key 6b"):
        store.append([pending("y", 0, keys=(b"k", b"k"))], make_envelope)
    assert store.size() == 0


def test_repeated_writer_sequence_number_is_refused(store: SqlLogStore) -> None:
    _fill(store, 3)
    before = _snapshot(store)
    with pytest.raises(DuplicateEntry, match="writer 'w' sequence number 1 is already used"):
        store.append([pending("v", 0), pending("w", 1)], make_envelope)
    assert _snapshot(store) == before
    assert store.last_writer_seq("v") is None


def test_writer_sequence_number_repeated_within_a_batch_is_refused(store: SqlLogStore) -> None:
    with pytest.raises(DuplicateEntry, match="by batch entry 0"):
        store.append([pending("v", 5), pending("v", 5)], make_envelope)
    assert store.size() == 0


def test_same_sequence_number_for_two_writers_is_accepted(store: SqlLogStore) -> None:
    store.append([pending("v", 0), pending("w", 0)], make_envelope)
    assert store.size() == 2


def test_repeated_leaf_hash_is_refused(store: SqlLogStore) -> None:
    # An envelope format that forgot the index and the chain would repeat leaf hashes:
    # the leaf hash is the entry's one identifier, so the store refuses it.
    with pytest.raises(DuplicateEntry, match=r"leaf hash [0-9a-f]{64} is already used"):
        store.append([pending("v", 0), pending("v", 1)], lambda i, p, e: b"constant")
    assert store.size() == 0


def test_append_refuses_anything_but_pending_entries(store: SqlLogStore) -> None:
    with pytest.raises(UsageError, match="PendingEntry"):
        store.append([(b"entry", "w", 0, "t", ())], make_envelope)  # type: ignore[list-item]


# ------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("call", "error", "reason"),
    [
        (lambda s: s.envelope(5), OutOfRange, "no entry 5: the log holds 5"),
        (lambda s: s.leaf_hash(7), OutOfRange, "no entry 7"),
        (lambda s: s.leaf_hash(-1), UsageError, "index -1 is outside"),
        (lambda s: s.envelope(True), UsageError, "must be an integer"),
        (lambda s: s.envelopes(0, 6), OutOfRange, "end 6 exceeds"),
        (lambda s: s.envelopes(4, 3), UsageError, "start 4 is after end 3"),
        (lambda s: s.root(6), OutOfRange, "size 6 exceeds"),
        (lambda s: s.inclusion_proof(5, 5), OutOfRange, "no entry 5 in a tree of size 5"),
        (lambda s: s.inclusion_proof(0, 6), OutOfRange, "size 6 exceeds"),
        (lambda s: s.consistency_proof(0, 5), UsageError, "needs 0 < size1"),
        (lambda s: s.consistency_proof(4, 3), UsageError, "needs 0 < size1 <= size2"),
        (lambda s: s.consistency_proof(1, 6), OutOfRange, "size2 6 exceeds"),
        (lambda s: s.index_of_leaf(b"short"), UsageError, "must be 32 bytes"),
        (lambda s: s.index_of_key("text"), UsageError, "must be bytes"),
        (lambda s: s.last_writer_seq(""), UsageError, "non-empty string"),
    ],
    ids=[
        "envelope-past-end", "leaf-hash-past-end", "negative-index", "bool-index",
        "envelopes-past-end", "envelopes-reversed", "root-past-end", "inclusion-index-past-size",
        "inclusion-size-past-end", "consistency-from-empty", "consistency-reversed",
        "consistency-past-end", "leaf-hash-wrong-length", "key-not-bytes", "writer-empty",
    ],
)
def test_reads_refuse_out_of_range(
    store: SqlLogStore, call: Any, error: type[Exception], reason: str
) -> None:
    _fill(store, 5)
    with pytest.raises(error, match=reason):
        call(store)


def test_out_of_range_is_a_usage_error() -> None:
    assert issubclass(OutOfRange, UsageError)
    assert issubclass(DuplicateEntry, LedgerError)
    assert issubclass(UnsupportedStoreVersion, EncodingError)


# ------------------------------------------------------------ heads and more


def test_heads_are_kept_by_size_with_history(store: SqlLogStore) -> None:
    _fill(store, 6)
    store.put_head(2, b"h2")
    store.put_head(4, b"h4-early")
    store.put_head(4, b"h4-late")
    assert store.latest_head() == StoredHead(4, b"h4-late")
    assert store.head(4) == StoredHead(4, b"h4-late")
    assert store.head(2) == StoredHead(2, b"h2")
    assert store.head(3) is None


def test_head_beyond_the_log_is_refused(store: SqlLogStore) -> None:
    _fill(store, 3)
    with pytest.raises(OutOfRange, match="size 4 exceeds"):
        store.put_head(4, b"future")
    assert store.latest_head() is None


def test_head_smaller_than_the_latest_is_refused(store: SqlLogStore) -> None:
    _fill(store, 3)
    store.put_head(3, b"h3")
    with pytest.raises(StaleHead, match="a head of size 2 after one of size 3"):
        store.put_head(2, b"h2")
    assert store.latest_head() == StoredHead(3, b"h3")


def test_head_must_be_bytes(store: SqlLogStore) -> None:
    with pytest.raises(UsageError, match="head must be bytes"):
        store.put_head(0, "head")  # type: ignore[arg-type]


def test_cosignatures_by_witness_replace_earlier_ones(store: SqlLogStore) -> None:
    _fill(store, 3)
    store.put_head(3, b"h3")
    store.put_cosignature(3, "w-b", b"first")
    store.put_cosignature(3, "w-a", b"a")
    store.put_cosignature(3, "w-b", b"second")
    assert store.cosignatures(3) == {"w-a": b"a", "w-b": b"second"}
    assert list(store.cosignatures(3)) == ["w-a", "w-b"]
    assert store.cosignatures(2) == {}


def test_cosignature_without_a_head_is_refused(store: SqlLogStore) -> None:
    _fill(store, 3)
    with pytest.raises(OutOfRange, match="no head of size 3 to cosign"):
        store.put_cosignature(3, "w-a", b"cosig")
    assert store.cosignatures(3) == {}


def test_metadata_is_set_overwritten_and_read(store: SqlLogStore) -> None:
    assert store.metadata("k") is None
    store.set_metadata("k", b"1")
    store.set_metadata("k", b"2")
    assert store.metadata("k") == b"2"
    with pytest.raises(UsageError, match="metadata value must be bytes"):
        store.set_metadata("k", "3")  # type: ignore[arg-type]


# ---------------------------------------------------------------- integrity


def test_unknown_schema_version_is_refused_on_open(store_url: str) -> None:
    open_store(store_url).close()
    _raw(store_url, f"UPDATE ledger_schema SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UnsupportedStoreVersion, match=f"version {SCHEMA_VERSION + 1}"):
        open_store(store_url)


def test_missing_schema_version_row_is_refused_on_open(store_url: str) -> None:
    open_store(store_url).close()
    _raw(store_url, "DELETE FROM ledger_schema")
    with pytest.raises(StoreCorrupted, match="no paperchain-ledger-store row"):
        open_store(store_url)


def test_missing_subtree_hash_is_reported_not_guessed(store_url: str) -> None:
    with open_store(store_url) as store:
        _fill(store, 7)
    _raw(store_url, "DELETE FROM ledger_nodes WHERE level = 1 AND idx = 2")
    with open_store(store_url) as store:
        with pytest.raises(StoreCorrupted, match=r"\(1, 2\)"):
            store.root(7)
        with pytest.raises(StoreCorrupted):
            store.append([pending("w", 99)], make_envelope)


def test_concurrent_appenders_never_share_an_index(store_url: str) -> None:
    """Two store objects (two connections) appending at once: the write lock serializes
    them, so indices are unique, the chain holds and the tree is the tree of the chain."""
    stores = [open_store(store_url) for _ in range(2)]
    errors: list[BaseException] = []

    def run(store: SqlLogStore, writer: str) -> None:
        try:
            for seq in range(40):
                store.append([pending(writer, seq)], make_envelope)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(s, f"t{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert stores[0].size() == 80
        check_store(stores[1])
    finally:
        for store in stores:
            store.close()


# -------------------------------------------------------- values and opening


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"entry_bytes": "text"}, "entry_bytes must be bytes"),
        ({"writer_id": ""}, "writer_id must be a non-empty string"),
        ({"writer_id": 7}, "writer_id must be a non-empty string"),
        ({"writer_seq": -1}, "writer_seq -1 is outside"),
        ({"writer_seq": 2**63}, "is outside"),
        ({"writer_seq": False}, "writer_seq must be an integer"),
        ({"entry_type": ""}, "entry_type must be a non-empty string"),
        ({"unique_keys": [b"k"]}, "unique_keys must be a tuple"),
        ({"unique_keys": (b"",)}, "non-empty bytes"),
        ({"unique_keys": ("k",)}, "non-empty bytes"),
    ],
)
def test_pending_entry_refuses_malformed_fields(fields: dict[str, Any], reason: str) -> None:
    values: dict[str, Any] = {"entry_bytes": b"e", "writer_id": "w", "writer_seq": 0,
                              "entry_type": "t", "unique_keys": ()}
    values.update(fields)
    with pytest.raises(UsageError, match=reason):
        PendingEntry(**values)


def test_sqlite_store_uses_wal_and_synchronous_full(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with open_store(path) as store:
        assert store.durability() == {"journal_mode": "wal", "synchronous": "FULL"}
    # WAL is a property of the file: a fresh connection sees it too.
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_sqlite_store_sets_synchronous_full_whatever_the_build_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Builds differ (SQLITE_DEFAULT_WAL_SYNCHRONOUS may be NORMAL): start from OFF.
    from e2e.ledger import store_sqlite

    real_connect = sqlite3.connect

    def connect_unsynchronized(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous=OFF")
        return connection

    monkeypatch.setattr(store_sqlite.sqlite3, "connect", connect_unsynchronized)
    with open_store(tmp_path / "ledger.sqlite") as store:
        assert store.durability()["synchronous"] == "FULL"


@pytest.mark.parametrize("location", [":memory:", ""])
def test_sqlite_store_without_wal_is_refused(location: str) -> None:
    with pytest.raises(UsageError, match="refused write-ahead logging"):
        SqliteLogStore(location)


def test_postgres_store_commits_synchronously_even_if_the_session_would_not(
    pg_cluster: Any,
) -> None:
    url = pg_cluster.create_schema("durability_check")
    try:
        with open_store(url + "%20-csynchronous_commit%3Doff") as store:
            assert store.durability() == {"synchronous_commit": "on"}
    finally:
        pg_cluster.drop_schema("durability_check")


def test_open_store_reads_sqlite_urls_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///relative.sqlite") as store:
        assert isinstance(store, SqliteLogStore)
    assert (tmp_path / "relative.sqlite").exists()
    with open_store(f"sqlite:///{tmp_path}/absolute.sqlite") as store:
        assert isinstance(store, SqliteLogStore)
    assert (tmp_path / "absolute.sqlite").exists()
    with open_store(tmp_path / "pathlike.sqlite") as store:
        assert store.size() == 0


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("mysql://host/db", "unknown store URL scheme"),
        ("sqlite://memory", "unknown store URL scheme"),
        ("", "non-empty path or URL"),
        (b"ledger.sqlite", "non-empty path or URL"),
    ],
)
def test_open_store_refuses_unknown_locations(location: Any, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        open_store(location)
