"""The ledger store on PostgreSQL (psycopg 3), for logs too large or busy for one file.

Same tables, statements and semantics as the SQLite store (``e2e.ledger.store``). A
durable commit is PostgreSQL's ``synchronous_commit = on`` (set on the session: the
commit returns once the server has flushed its WAL); the server's own ``fsync`` setting
is the operator's responsibility. Appends take ``LOCK TABLE ledger_leaves IN EXCLUSIVE
MODE``: writers queue for it while plain reads go on, so the next index and the previous
leaf hash are read under the lock that commits the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import psycopg.errors

from e2e.ledger.store import SqlLogStore

__all__ = ["PostgresLogStore"]

# Serializes schema creation between processes opening the same empty database at once
# (CREATE TABLE IF NOT EXISTS alone races in PostgreSQL). The value is arbitrary.
_SCHEMA_LOCK_KEY = 0x7061706572636861  # "papercha"

_SCHEMA_POSTGRES = (
    "CREATE TABLE ledger_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    """CREATE TABLE ledger_leaves (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0),
        leaf_hash BYTEA NOT NULL UNIQUE,
        envelope BYTEA NOT NULL,
        writer_id TEXT NOT NULL,
        writer_seq BIGINT NOT NULL,
        entry_type TEXT NOT NULL,
        UNIQUE (writer_id, writer_seq)
    )""",
    """CREATE TABLE ledger_nodes (
        level SMALLINT NOT NULL CHECK (level > 0),
        idx BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    )""",
    "CREATE TABLE ledger_keys (key BYTEA PRIMARY KEY, idx BIGINT NOT NULL)",
    """CREATE TABLE ledger_heads (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        size BIGINT NOT NULL,
        head BYTEA NOT NULL
    )""",
    "CREATE INDEX ledger_heads_by_size ON ledger_heads (size, seq)",
    """CREATE TABLE ledger_cosignatures (
        size BIGINT NOT NULL,
        witness_id TEXT NOT NULL,
        cosignature BYTEA NOT NULL,
        PRIMARY KEY (size, witness_id)
    )""",
    "CREATE TABLE ledger_metadata (key TEXT PRIMARY KEY, value BYTEA NOT NULL)",
)


def _dialect(sql: str) -> str:
    # The shared statements use qmark placeholders and contain no literal '?' or '%'.
    return sql.replace("?", "%s")


class PostgresLogStore(SqlLogStore):
    """``LogStore`` in a PostgreSQL database named by a libpq URL (schema created if absent)."""

    _SCHEMA = _SCHEMA_POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        # autocommit: this class says exactly where each transaction starts and ends, and a
        # read is never left holding a snapshot open.
        self._conn = psycopg.connect(url, autocommit=True)
        try:
            self._conn.execute("SET synchronous_commit = on")
            self._create_or_check_schema()
        except BaseException:
            self._conn.close()
            raise

    def _begin_schema(self) -> None:
        # The tables may not exist yet, so no table lock: an advisory one, for this
        # transaction only.
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))

    def _schema_exists(self) -> bool:
        return bool(self._query("SELECT to_regclass('ledger_schema') IS NOT NULL")[0][0])

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(_dialect(sql), tuple(params)).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(_dialect(sql), tuple(params))

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_dialect(sql), rows)

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN")
        self._conn.execute("LOCK TABLE ledger_leaves IN EXCLUSIVE MODE")

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def _is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    def _close_connection(self) -> None:
        self._conn.close()

    def durability(self) -> Mapping[str, str]:
        with self._lock:
            synchronous_commit = self._query("SHOW synchronous_commit")[0][0]
        return {"synchronous_commit": str(synchronous_commit)}
