"""The default ledger store: one SQLite file in WAL mode with synchronous=FULL.

Why those two settings (https://sqlite.org/wal.html, https://sqlite.org/pragma.html#pragma_synchronous):
in WAL mode a commit appends to the write-ahead log, and with synchronous=FULL SQLite
fsyncs that log before ``COMMIT`` returns, so an acknowledged append survives a power
loss as well as a killed process; readers never block the writer, so proofs are served
while ballots are appended. A crash at any point leaves either the whole transaction or
none of it: SQLite replays or discards the log's tail when the file is next opened.

Appends take the database's write lock first (``BEGIN IMMEDIATE``), so the next index
and the previous leaf hash are read under the same lock that commits the batch, also
when several processes open the same file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from e2e.errors import UsageError
from e2e.ledger.store import SqlLogStore

__all__ = ["SqliteLogStore"]

_BUSY_TIMEOUT_SECONDS = 30.0  # how long an append waits for another process's write lock

_SCHEMA_SQLITE = (
    "CREATE TABLE ledger_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    # idx is the rowid: leaves are stored in index order and MAX(idx) is one B-tree probe.
    """CREATE TABLE ledger_leaves (
        idx INTEGER PRIMARY KEY CHECK (idx >= 0),
        leaf_hash BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        writer_id TEXT NOT NULL,
        writer_seq INTEGER NOT NULL,
        entry_type TEXT NOT NULL,
        UNIQUE (writer_id, writer_seq)
    )""",
    """CREATE TABLE ledger_nodes (
        level INTEGER NOT NULL CHECK (level > 0),
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID""",
    "CREATE TABLE ledger_keys (key BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE ledger_heads (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        size INTEGER NOT NULL,
        head BLOB NOT NULL
    )""",
    "CREATE INDEX ledger_heads_by_size ON ledger_heads (size, seq)",
    """CREATE TABLE ledger_cosignatures (
        size INTEGER NOT NULL,
        witness_id TEXT NOT NULL,
        cosignature BLOB NOT NULL,
        PRIMARY KEY (size, witness_id)
    ) WITHOUT ROWID""",
    "CREATE TABLE ledger_metadata (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
)


class SqliteLogStore(SqlLogStore):
    """``LogStore`` in one SQLite file (created with its schema if absent)."""

    _SCHEMA = _SCHEMA_SQLITE

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        # isolation_level=None: the module issues no implicit BEGIN; this class says exactly
        # where each transaction starts and ends.
        self._conn = sqlite3.connect(
            path, isolation_level=None, timeout=_BUSY_TIMEOUT_SECONDS, check_same_thread=False
        )
        try:
            self._configure()
            self._create_or_check_schema()
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise UsageError(
                f"SQLite refused write-ahead logging for {self.path!r} (journal_mode={mode}): "
                "the ledger needs a file on a local file system"
            )
        self._conn.execute("PRAGMA synchronous=FULL")

    def _begin_schema(self) -> None:
        self._begin_write()  # the database's write lock also serializes schema creation

    def _schema_exists(self) -> bool:
        rows = self._query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_schema'"
        )
        return bool(rows)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, tuple(params))

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def _is_unique_violation(self, error: BaseException) -> bool:
        # The schema's only constraints that input can break are UNIQUE ones (the CHECKs
        # hold by construction), so an IntegrityError here is a duplicate.
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def _close_connection(self) -> None:
        self._conn.close()

    def durability(self) -> Mapping[str, str]:
        with self._lock:
            journal_mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
            synchronous = self._conn.execute("PRAGMA synchronous").fetchone()[0]
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {"journal_mode": str(journal_mode).lower(), "synchronous": names[int(synchronous)]}
