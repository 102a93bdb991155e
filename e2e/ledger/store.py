"""Where the ledger lives: the ``LogStore`` interface, its values, and the SQL engine
both backends share (SQLite, ``store_sqlite``; PostgreSQL, ``store_postgres``).

A store keeps, append-only (docs/spec.md §15 is the normative text):

* **leaves** — envelope ``i`` (opaque bytes: the store never parses them), its RFC 9162
  leaf hash SHA-256(0x00 ‖ envelope), the writer ID, per-writer sequence number and entry
  type it was appended for, and the *unique keys* the service attached (a ballot's α, a
  tracking code). Indices are 0, 1, 2, ... without gaps.
* **subtrees** — the hash of every complete aligned subtree of the Merkle tree, node
  (level, i) over leaves [i·2^level, (i+1)·2^level), written in the same transaction as
  the leaves that complete it. Any root, inclusion proof or consistency proof for any
  size up to the current one then reads O(log n) rows and never a leaf's envelope
  (``e2e.merkle.*_from_subtrees``). Level 0 is the leaf hash kept with the leaf.
* **heads** — signed tree heads (opaque bytes) by size, every one kept, in the order
  stored; sizes never decrease. **Cosignatures** — opaque bytes by (size, witness ID),
  a witness's later cosignature for a size replacing its earlier one.
* **metadata** — a few named byte strings for the service's configuration.

``append`` is the one way in: a single durable write transaction that numbers the batch,
asks the caller for each envelope (``make_envelope(index, previous leaf hash, entry)``,
so the chain is built under the write lock and concurrent writers never race on it),
checks uniqueness, stores leaves and subtrees and commits. It is all-or-nothing: an
exception from ``make_envelope`` or a repeated writer sequence number or key leaves the
store exactly as it was. When it returns, the entries survive a crash of the process
(and, on SQLite with WAL and synchronous=FULL, of the machine).
"""

from __future__ import annotations

import contextlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from e2e.errors import EncodingError, LedgerError, UsageError
from e2e.merkle import (
    HASH_SIZE,
    NodeId,
    consistency_proof_from_subtrees,
    inclusion_proof_from_subtrees,
    leaf_hash,
    node_hash,
    root_from_subtrees,
    subtrees_of_range,
)

__all__ = [
    "GENESIS_PREVIOUS_HASH",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "AppendedEntry",
    "DuplicateEntry",
    "LogStore",
    "MakeEnvelope",
    "OutOfRange",
    "PendingEntry",
    "SqlLogStore",
    "StaleHead",
    "StoreCorrupted",
    "StoredHead",
    "UnsupportedStoreVersion",
    "directory_store_location",
    "open_store",
]

SCHEMA_NAME = "paperchain-ledger-store"
SCHEMA_VERSION = 1
"""The layout of the tables; a store written with another version is refused on open."""

GENESIS_PREVIOUS_HASH = bytes(HASH_SIZE)
"""What ``make_envelope`` receives as the previous leaf hash for index 0."""

_MAX_INT64 = 2**63 - 1  # both databases keep integers as signed 64-bit
_READ_CHUNK = 1000  # envelopes fetched per query while streaming: bounded memory

MakeEnvelope = Callable[[int, bytes, bytes], bytes]
"""``make_envelope(index, previous_leaf_hash, entry_bytes) -> envelope bytes``."""


class DuplicateEntry(LedgerError):
    """An append repeats a writer's sequence number, a unique key, or a leaf hash."""


class StaleHead(LedgerError):
    """A tree head smaller than the latest one stored: the log would look like it shrank."""


class StoreCorrupted(LedgerError):
    """The store lacks data its own invariants promise (a subtree hash, a version row)."""


class UnsupportedStoreVersion(EncodingError):
    """The database holds a ledger store of a layout this code does not know."""


class OutOfRange(UsageError):
    """An index or size beyond the log, or a head or key that is not there."""


def _require_int(value: object, what: str, low: int = 0, high: int = _MAX_INT64) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise UsageError(f"{what} {value} is outside {low}..{high}")
    return value


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} must be a non-empty string")
    return value


def _require_bytes(value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise UsageError(f"{what} must be bytes, not {type(value).__name__}")
    if length is not None and len(value) != length:
        raise UsageError(f"{what} must be {length} bytes, not {len(value)}")
    return value


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry the service has admitted and wants appended.

    ``unique_keys`` are byte strings no two entries of the whole log may share (the service
    uses them for "no repeated α" and to find a ballot by tracking code).
    """

    entry_bytes: bytes
    writer_id: str
    writer_seq: int
    entry_type: str
    unique_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _require_bytes(self.entry_bytes, "entry_bytes")
        _require_text(self.writer_id, "writer_id")
        _require_int(self.writer_seq, "writer_seq")
        _require_text(self.entry_type, "entry_type")
        if not isinstance(self.unique_keys, tuple):
            raise UsageError("unique_keys must be a tuple of byte strings")
        for key in self.unique_keys:
            if not isinstance(key, bytes) or not key:
                raise UsageError("each unique key must be non-empty bytes")


@dataclass(frozen=True, slots=True)
class AppendedEntry:
    """Where an appended entry landed: its index and leaf hash (its identifier)."""

    index: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredHead:
    """A signed tree head as stored: the size it is for and its opaque bytes."""

    size: int
    head: bytes


@runtime_checkable
class LogStore(Protocol):
    """The ledger's storage, as both backends implement it identically.

    Reads take any size up to the current one, so proofs for an older head stay
    available. Indices and sizes out of range raise ``OutOfRange``; wrong types
    ``UsageError``.
    """

    def append(
        self, pending: Sequence[PendingEntry], make_envelope: MakeEnvelope
    ) -> list[AppendedEntry]:
        """Append the batch in one durable transaction, all or nothing (module docstring)."""
        ...

    def size(self) -> int:
        """How many entries the log holds."""
        ...

    def envelope(self, index: int) -> bytes:
        """The envelope at ``index``."""
        ...

    def envelopes(self, start: int, end: int) -> Iterator[bytes]:
        """The envelopes at ``start``..``end - 1``, in order, read in bounded chunks."""
        ...

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        ...

    def index_of_leaf(self, leaf_hash: bytes) -> int | None:
        """The index of the entry with this leaf hash, or ``None``."""
        ...

    def index_of_key(self, unique_key: bytes) -> int | None:
        """The index of the entry that carried this unique key, or ``None``."""
        ...

    def last_writer_seq(self, writer_id: str) -> int | None:
        """The largest sequence number appended for this writer, or ``None``."""
        ...

    def root(self, size: int) -> bytes:
        """MTH of the first ``size`` entries (RFC 9162 §2.1.1)."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1)."""
        ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1); 0 < size1 <= size2."""
        ...

    def put_head(self, size: int, head: bytes) -> None:
        """Keep a signed tree head for ``size`` (no larger than the log, no smaller than the
        latest head); every head is kept."""
        ...

    def latest_head(self) -> StoredHead | None:
        """The head stored last, or ``None``."""
        ...

    def head(self, size: int) -> StoredHead | None:
        """The head stored last for ``size``, or ``None``."""
        ...

    def put_cosignature(self, size: int, witness_id: str, cosignature: bytes) -> None:
        """Keep a witness's cosignature of the head of ``size`` (one must be stored)."""
        ...

    def cosignatures(self, size: int) -> Mapping[str, bytes]:
        """The cosignatures for ``size``, by witness ID."""
        ...

    def set_metadata(self, key: str, value: bytes) -> None:
        """Set a named configuration value."""
        ...

    def metadata(self, key: str) -> bytes | None:
        """A named configuration value, or ``None``."""
        ...

    def durability(self) -> Mapping[str, str]:
        """The settings that make a commit durable, read back from the connection."""
        ...

    def close(self) -> None:
        """Release the connection. The store object is unusable afterwards."""
        ...


class SqlLogStore(ABC):
    """``LogStore`` over a SQL database; a backend supplies the connection and dialect.

    Every statement here is written once, with ``?`` placeholders; the backends run it.
    Calls on one store object are serialized by a lock (the connection is not shared
    across threads otherwise); processes that open the same database serialize their
    appends on the database's write lock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- backend hooks

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement and return every row."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows (DDL included)."""

    @abstractmethod
    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row, inside the current transaction."""

    @abstractmethod
    def _begin_write(self) -> None:
        """Open a transaction holding the log's single write lock."""

    @abstractmethod
    def _begin_schema(self) -> None:
        """Open a transaction that processes opening the same empty database serialize on,
        so that only one of them creates the tables."""

    @abstractmethod
    def _schema_exists(self) -> bool:
        """Whether the database already holds the ``ledger_schema`` table."""

    @abstractmethod
    def _commit(self) -> None:
        """Commit durably: when this returns, the transaction survives a crash."""

    @abstractmethod
    def _rollback(self) -> None:
        """Abandon the current transaction."""

    @abstractmethod
    def _is_unique_violation(self, error: BaseException) -> bool:
        """Whether ``error`` is the database refusing a duplicate under a UNIQUE constraint."""

    @abstractmethod
    def _close_connection(self) -> None:
        """Close the underlying connection."""

    @abstractmethod
    def durability(self) -> Mapping[str, str]:
        """The settings that make a commit durable, read back from the connection."""

    # ------------------------------------------------------------ schema, lifecycle

    _SCHEMA: tuple[str, ...] = ()
    """The backend's CREATE statements, run once on a database without the tables."""

    def _create_or_check_schema(self) -> None:
        """Create the tables on first open; refuse a store of another layout version."""
        self._begin_schema()
        try:
            if not self._schema_exists():
                for statement in self._SCHEMA:
                    self._execute(statement)
                self._execute(
                    "INSERT INTO ledger_schema (name, version) VALUES (?, ?)",
                    (SCHEMA_NAME, SCHEMA_VERSION),
                )
            self._check_schema_version()
        except BaseException:
            self._rollback_quietly()
            raise
        self._commit()

    def _check_schema_version(self) -> None:
        rows = self._query("SELECT version FROM ledger_schema WHERE name = ?", (SCHEMA_NAME,))
        if not rows:
            raise StoreCorrupted(f"the database has a ledger_schema table but no {SCHEMA_NAME} row")
        if rows[0][0] != SCHEMA_VERSION:
            raise UnsupportedStoreVersion(
                f"ledger store layout version {rows[0][0]}; this code reads version "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        with self._lock:
            self._close_connection()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in one write transaction: commit if it returns, roll back if not."""
        with self._lock:
            self._begin_write()
            try:
                result = work()
            except BaseException:
                self._rollback_quietly()
                raise
            self._commit()
            return result

    def _rollback_quietly(self) -> None:
        # A failed rollback (a lost connection) must not hide the error that caused it; the
        # database discards the transaction anyway when the connection goes.
        with contextlib.suppress(Exception):
            self._rollback()

    # ----------------------------------------------------------------------- append

    def append(
        self, pending: Sequence[PendingEntry], make_envelope: MakeEnvelope
    ) -> list[AppendedEntry]:
        entries = list(pending)
        for entry in entries:
            if not isinstance(entry, PendingEntry):
                raise UsageError(f"append takes PendingEntry values, not {type(entry).__name__}")
        if not entries:
            return []
        leaf_hashes: list[bytes] = []
        try:
            return self._write(lambda: self._append_locked(entries, make_envelope, leaf_hashes))
        except Exception as error:
            if not self._is_unique_violation(error):
                raise
            raise self._explain_duplicate(entries, leaf_hashes) from error

    def _append_locked(
        self,
        entries: Sequence[PendingEntry],
        make_envelope: MakeEnvelope,
        leaf_hashes: list[bytes],
    ) -> list[AppendedEntry]:
        size = self._size()
        previous = self._leaf_hash(size - 1) if size else GENESIS_PREVIOUS_HASH
        # The right edge of the tree: one complete subtree per set bit of `size`, largest
        # first. Each new leaf merges with it like a binary counter, and every merge is a
        # newly completed subtree to persist.
        edge_nodes = subtrees_of_range(0, size) if size else []
        edge = [
            (level, digest)
            for (level, _), digest in zip(edge_nodes, self._subtree_hashes(edge_nodes), strict=True)
        ]
        leaf_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        key_rows: list[tuple[bytes, int]] = []
        appended: list[AppendedEntry] = []
        for index, entry in enumerate(entries, start=size):
            envelope = make_envelope(index, previous, entry.entry_bytes)
            if not isinstance(envelope, bytes):
                raise UsageError(f"make_envelope returned {type(envelope).__name__}, not bytes")
            digest = leaf_hash(envelope)
            leaf_hashes.append(digest)
            leaf_rows.append(
                (index, digest, envelope, entry.writer_id, entry.writer_seq, entry.entry_type)
            )
            key_rows.extend((key, index) for key in entry.unique_keys)
            level, node = 0, digest
            while edge and edge[-1][0] == level:
                _, left = edge.pop()
                node = node_hash(left, node)
                level += 1
                node_rows.append((level, index >> level, node))
            edge.append((level, node))
            appended.append(AppendedEntry(index, digest))
            previous = digest
        self._execute_many(
            "INSERT INTO ledger_leaves (idx, leaf_hash, envelope, writer_id, writer_seq, "
            "entry_type) VALUES (?, ?, ?, ?, ?, ?)",
            leaf_rows,
        )
        if node_rows:
            self._execute_many(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)", node_rows
            )
        if key_rows:
            self._execute_many("INSERT INTO ledger_keys (key, idx) VALUES (?, ?)", key_rows)
        return appended

    def _explain_duplicate(
        self, entries: Sequence[PendingEntry], leaf_hashes: Sequence[bytes]
    ) -> DuplicateEntry:
        """Name the first entry of a refused batch that repeats something, and what.

        Runs after the rollback: the database's UNIQUE constraints are what refused the
        batch (they hold against concurrent writers too); this only finds the culprit.
        """
        writers: dict[tuple[str, int], int] = {}
        keys: dict[bytes, int] = {}
        for position, entry in enumerate(entries):
            where = f"batch entry {position}"
            writer = (entry.writer_id, entry.writer_seq)
            rows = self._query(
                "SELECT idx FROM ledger_leaves WHERE writer_id = ? AND writer_seq = ?", writer
            )
            if rows or writer in writers:
                first = f"index {rows[0][0]}" if rows else f"batch entry {writers[writer]}"
                return DuplicateEntry(
                    f"writer {entry.writer_id!r} sequence number {entry.writer_seq} is already "
                    f"used (by {first})",
                    where,
                )
            writers[writer] = position
            for key in entry.unique_keys:
                existing = self.index_of_key(key)
                if existing is not None or key in keys:
                    first = (
                        f"index {existing}" if existing is not None else f"batch entry {keys[key]}"
                    )
                    return DuplicateEntry(
                        f"unique key {key.hex()} is already used (by {first})", where
                    )
                keys[key] = position
        for position, digest in enumerate(leaf_hashes):
            if self.index_of_leaf(digest) is not None or digest in leaf_hashes[:position]:
                return DuplicateEntry(
                    f"leaf hash {digest.hex()} is already used", f"batch entry {position}"
                )
        return DuplicateEntry("the batch repeats a writer sequence number, key or leaf hash")

    # ------------------------------------------------------------------------ reads

    def _size(self) -> int:
        # Bare MAX(idx): both databases answer it from the end of the primary key index.
        largest = self._query("SELECT MAX(idx) FROM ledger_leaves")[0][0]
        return 0 if largest is None else int(largest) + 1

    def size(self) -> int:
        with self._lock:
            return self._size()

    def _check_index(self, index: object) -> int:
        index = _require_int(index, "index")
        size = self._size()
        if index >= size:
            raise OutOfRange(f"no entry {index}: the log holds {size}")
        return index

    def _check_size(self, size: object, what: str = "size") -> int:
        size = _require_int(size, what)
        current = self._size()
        if size > current:
            raise OutOfRange(f"{what} {size} exceeds the log's size {current}")
        return size

    def envelope(self, index: int) -> bytes:
        with self._lock:
            index = self._check_index(index)
            rows = self._query("SELECT envelope FROM ledger_leaves WHERE idx = ?", (index,))
            return bytes(rows[0][0])

    def envelopes(self, start: int, end: int) -> Iterator[bytes]:
        with self._lock:
            start = _require_int(start, "start")
            end = self._check_size(end, "end")
            if start > end:
                raise UsageError(f"start {start} is after end {end}")
        return self._stream_envelopes(start, end)

    def _stream_envelopes(self, start: int, end: int) -> Iterator[bytes]:
        # One short query per chunk rather than one open cursor: no read transaction is held
        # between chunks, and entries below `end` never change, so the chunks agree.
        while start < end:
            with self._lock:
                rows = self._query(
                    "SELECT envelope FROM ledger_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (start, min(end, start + _READ_CHUNK)),
                )
            for (envelope,) in rows:
                yield bytes(envelope)
            start += _READ_CHUNK

    def _leaf_hash(self, index: int) -> bytes:
        rows = self._query("SELECT leaf_hash FROM ledger_leaves WHERE idx = ?", (index,))
        return bytes(rows[0][0])

    def leaf_hash(self, index: int) -> bytes:
        with self._lock:
            return self._leaf_hash(self._check_index(index))

    def index_of_leaf(self, leaf_hash: bytes) -> int | None:
        _require_bytes(leaf_hash, "leaf hash", HASH_SIZE)
        with self._lock:
            rows = self._query("SELECT idx FROM ledger_leaves WHERE leaf_hash = ?", (leaf_hash,))
        return int(rows[0][0]) if rows else None

    def index_of_key(self, unique_key: bytes) -> int | None:
        _require_bytes(unique_key, "unique key")
        with self._lock:
            rows = self._query("SELECT idx FROM ledger_keys WHERE key = ?", (unique_key,))
        return int(rows[0][0]) if rows else None

    def last_writer_seq(self, writer_id: str) -> int | None:
        _require_text(writer_id, "writer_id")
        with self._lock:
            rows = self._query(
                "SELECT MAX(writer_seq) FROM ledger_leaves WHERE writer_id = ?", (writer_id,)
            )
        return None if rows[0][0] is None else int(rows[0][0])

    # ------------------------------------------------------------- tree and proofs

    def _subtree_hashes(self, nodes: Sequence[NodeId]) -> list[bytes]:
        """``e2e.merkle.SubtreeHashes`` over the persisted subtrees: at most two queries."""
        found: dict[NodeId, bytes] = {}
        leaves = [index for level, index in nodes if level == 0]
        inner = [(level, index) for level, index in nodes if level > 0]
        if leaves:
            marks = ", ".join("?" * len(leaves))
            for index, digest in self._query(
                f"SELECT idx, leaf_hash FROM ledger_leaves WHERE idx IN ({marks})", leaves
            ):
                found[0, int(index)] = bytes(digest)
        if inner:
            # A join with the wanted (level, idx) pairs, not `(level, idx) IN (VALUES ...)`:
            # SQLite answers the latter by scanning every node; this is one primary-key
            # probe per pair, in both databases.
            marks = ", ".join(["(?, ?)"] * len(inner))
            params = [value for node in inner for value in node]
            for level, index, digest in self._query(
                f"SELECT n.level, n.idx, n.hash FROM (VALUES {marks}) AS w "
                "JOIN ledger_nodes AS n ON n.level = w.column1 AND n.idx = w.column2",
                params,
            ):
                found[int(level), int(index)] = bytes(digest)
        missing = [node for node in nodes if node not in found]
        if missing:
            raise StoreCorrupted(f"subtree hashes missing from the store: (level, index) {missing}")
        return [found[node] for node in nodes]

    def root(self, size: int) -> bytes:
        with self._lock:
            return root_from_subtrees(self._check_size(size), self._subtree_hashes)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            size = self._check_size(size)
            index = _require_int(index, "index")
            if index >= size:
                raise OutOfRange(f"no entry {index} in a tree of size {size}")
            return inclusion_proof_from_subtrees(index, size, self._subtree_hashes)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self._lock:
            size1 = _require_int(size1, "size1")
            size2 = self._check_size(size2, "size2")
            return consistency_proof_from_subtrees(size1, size2, self._subtree_hashes)

    # ------------------------------------------------------- heads, cosignatures, metadata

    def put_head(self, size: int, head: bytes) -> None:
        _require_bytes(head, "head")

        def work() -> None:
            checked = self._check_size(size)
            latest = self._latest_head()
            if latest is not None and checked < latest.size:
                raise StaleHead(
                    f"a head of size {checked} after one of size {latest.size}: heads never shrink"
                )
            self._execute("INSERT INTO ledger_heads (size, head) VALUES (?, ?)", (checked, head))

        self._write(work)

    def _latest_head(self) -> StoredHead | None:
        rows = self._query("SELECT size, head FROM ledger_heads ORDER BY seq DESC LIMIT 1")
        return StoredHead(int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def latest_head(self) -> StoredHead | None:
        with self._lock:
            return self._latest_head()

    def head(self, size: int) -> StoredHead | None:
        size = _require_int(size, "size")
        with self._lock:
            rows = self._query(
                "SELECT head FROM ledger_heads WHERE size = ? ORDER BY seq DESC LIMIT 1", (size,)
            )
        return StoredHead(size, bytes(rows[0][0])) if rows else None

    def put_cosignature(self, size: int, witness_id: str, cosignature: bytes) -> None:
        size = _require_int(size, "size")
        _require_text(witness_id, "witness_id")
        _require_bytes(cosignature, "cosignature")

        def work() -> None:
            if not self._query("SELECT 1 FROM ledger_heads WHERE size = ? LIMIT 1", (size,)):
                raise OutOfRange(f"no head of size {size} to cosign")
            self._execute(
                "INSERT INTO ledger_cosignatures (size, witness_id, cosignature) VALUES (?, ?, ?) "
                "ON CONFLICT (size, witness_id) DO UPDATE SET cosignature = excluded.cosignature",
                (size, witness_id, cosignature),
            )

        self._write(work)

    def cosignatures(self, size: int) -> Mapping[str, bytes]:
        size = _require_int(size, "size")
        with self._lock:
            rows = self._query(
                "SELECT witness_id, cosignature FROM ledger_cosignatures WHERE size = ? "
                "ORDER BY witness_id",
                (size,),
            )
        return {str(witness): bytes(cosignature) for witness, cosignature in rows}

    def set_metadata(self, key: str, value: bytes) -> None:
        _require_text(key, "metadata key")
        _require_bytes(value, "metadata value")
        self._write(
            lambda: self._execute(
                "INSERT INTO ledger_metadata (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    def metadata(self, key: str) -> bytes | None:
        _require_text(key, "metadata key")
        with self._lock:
            rows = self._query("SELECT value FROM ledger_metadata WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows else None


def open_store(location: str | os.PathLike[str]) -> SqlLogStore:
    """Open (creating on first use) the store at a path or URL.

    * ``postgresql://...`` or ``postgres://...`` — PostgreSQL (a libpq URL);
    * ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain path — SQLite.

    The schema is created on first open; a store of another layout version is refused.
    """
    text = os.fspath(location)
    if not isinstance(text, str) or not text:
        raise UsageError("a store location must be a non-empty path or URL")
    if text.startswith(("postgresql://", "postgres://")):
        import psycopg

        from e2e.ledger.store_postgres import PostgresLogStore

        try:
            return PostgresLogStore(text)
        except psycopg.Error as err:  # the message names host and port, never a password
            raise UsageError(f"cannot open the PostgreSQL store: {_first_line(err)}",
                             "store") from None
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise UsageError(f"unknown store URL scheme in {text!r}: use a path, sqlite:/// or postgresql://")
    import sqlite3

    from e2e.ledger.store_sqlite import SqliteLogStore

    try:
        return SqliteLogStore(text)
    except sqlite3.Error as err:  # not a database, unreadable, a directory, …
        raise UsageError(f"cannot open the SQLite store: {err}", text) from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def directory_store_location(directory: Path, store_url: str, where: str) -> str:
    """Where a ledger's or witness's directory keeps its store: ``sqlite:FILE`` (relative
    to the directory) or a ``postgresql://`` URL; anything else is refused."""
    if store_url.startswith("sqlite:"):
        name = store_url.removeprefix("sqlite:")
        if not name:
            raise UsageError(f"store {store_url!r}: give sqlite:FILE, a file in the directory",
                             where)
        return str(directory / name)
    if store_url.startswith(("postgresql://", "postgres://")):
        return store_url
    raise UsageError(f"store {store_url!r}: use sqlite:FILE or a postgresql:// URL", where)
