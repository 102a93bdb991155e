"""Per-ballot state of a run on disk, with a bounded cache in memory: memory stays flat.

A verifier's pass keeps a few things per ballot that later steps of the same run need —
the verdicts it reached (``e2e.verdicts``: two 32-byte keys per ballot) and the cast
tracking codes (``RecordVerifier.cast_codes``). In Python objects they cost ≈ 0.35 kB
per ballot: 35 MB at 10^5 ballots, 350 MB at 10^6. Like the α registry
(``e2e.alphas``), a ``KeySet`` holds the most recently added keys in memory, up to
``memory_limit`` of them, and moves the older ones to a temporary SQLite database of
this process (created on the first overflow, so small runs never touch the disk):

* ``keys(p INTEGER, k BLOB, PRIMARY KEY (p, k)) WITHOUT ROWID`` — the full key (never a
  prefix: a verdict found by a colliding prefix would be a verdict about other bytes)
  under the position it was added at (below);
* the page cache is bounded (``cache_kib`` per store: 2 MiB unless the set asks for
  another bound, the verdicts' 1 MiB), the rest is the operating system's: a pass's
  SQLite memory is the sum of a few such bounds, however many ballots there are;
* a key may be added at a ``position`` (a ledger index) and is then found only at that
  position. The store is ordered by position, so a pass that looks keys up in the order
  an earlier pass added them (the tally's pass after a verification: every verdict, in
  ledger order) reads the store front to back, each page once, and a small cache holds
  what it needs however many keys there are. Keys without a position (0) are ordered by
  their bytes, at random: a cast tracking code is looked up only by itself;
* with ``keyed=True`` (verdicts) a key is stored as BLAKE2b keyed by a secret drawn when
  the store is created and held only in this process's memory, so a row written into
  the file by anyone else matches no key this process asks about: a verdict is trusted
  only because this process computed it, whether it sits in memory or on disk;
* a process forked from the owner (a pool worker) does not use the owner's file: it
  starts its own store if it ever overflows (its memory copy is still the owner's, a
  subset of what the owner knows).

A key is either in memory or on disk, never both, so ``len`` counts distinct keys (a key
added at two positions counts twice).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import struct
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

__all__ = ["KeySet", "release_page_cache"]

_CACHE_KIB = 2_048  # per store unless a set asks otherwise (see KeySet)
_COMMIT_EVERY = 4_096
_POSITION = struct.Struct(">Q")


def release_page_cache(db: sqlite3.Connection) -> None:
    """Commit the open transaction of a scratch database (one is always open between
    statements), let SQLite free its page cache, and open the next transaction: what the
    database holds stays in its file and is read back as needed."""
    db.execute("COMMIT")
    db.execute("PRAGMA shrink_memory")
    db.execute("BEGIN")


def _remove(directory: str, owner: int) -> None:
    if os.getpid() != owner:  # a forked child leaves its parent's store alone
        return
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(directory, "keys.sqlite"))
    with contextlib.suppress(OSError):
        os.rmdir(directory)


class _DiskStore:
    """The overflow of one ``KeySet`` in one process: a SQLite table of keys."""

    def __init__(self, directory: str | Path | None, cache_kib: int) -> None:
        self.owner = os.getpid()
        self.path = tempfile.mkdtemp(prefix="paperchain-scratch-",
                                     dir=None if directory is None else str(directory))
        self._finalizer = weakref.finalize(self, _remove, self.path, self.owner)
        self.db = sqlite3.connect(os.path.join(self.path, "keys.sqlite"), isolation_level=None,
                                  check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                       f"cache_size=-{cache_kib}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE keys(p INTEGER NOT NULL, k BLOB NOT NULL, "
                        "PRIMARY KEY (p, k)) WITHOUT ROWID")
        self.db.execute("BEGIN")
        self.rows = 0
        self._pending = 0

    def has(self, position: int, key: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM keys WHERE p = ? AND k = ?",
                               (position, key)).fetchone() is not None

    def put(self, position: int, key: bytes) -> None:
        before = self.db.total_changes
        self.db.execute("INSERT OR IGNORE INTO keys VALUES (?, ?)", (position, key))
        self.rows += self.db.total_changes - before
        self._pending += 1
        if self._pending >= _COMMIT_EVERY:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self._pending = 0

    def keys(self) -> list[bytes]:
        return [bytes(row[0]) for row in self.db.execute("SELECT k FROM keys")]

    def release_memory(self) -> None:
        release_page_cache(self.db)
        self._pending = 0

    def close(self) -> None:
        if os.getpid() == self.owner:
            self.db.close()
        self._finalizer()


class KeySet:
    """A set of byte strings: the newest ``memory_limit`` in memory, the rest on disk.

    ``keyed``: store (and look up) a keyed hash of each key instead of the key — for
    verdicts, whose presence is trusted; such a set cannot be iterated.
    ``directory``: where the temporary database goes (default: the system's temp dir).
    ``cache_kib``: the bound on the SQLite page cache of that database. A set looked up
    at random (by key alone) reads pages past the bound back from the operating system's
    cache; a set looked up in the order its keys were added, by position, needs few.

    A key added at a ``position`` (an integer ≥ 0; default 0) is found at that position
    only: ``has(key, position)``; ``key in keys`` is ``has(key, 0)``.
    """

    def __init__(self, memory_limit: int, *, keyed: bool = False,
                 directory: str | Path | None = None, cache_kib: int = _CACHE_KIB) -> None:
        if memory_limit < 1:
            raise ValueError("memory_limit must be at least 1")
        if cache_kib < 1:
            raise ValueError("cache_kib must be at least 1")
        self.memory_limit = memory_limit
        self.cache_kib = cache_kib
        # position (8 bytes, big-endian) + key → None, oldest first
        self._memory: OrderedDict[bytes, None] = OrderedDict()
        self._secret = secrets.token_bytes(32) if keyed else None
        self._directory = directory
        self._disk: _DiskStore | None = None
        self._inherited: list[_DiskStore] = []  # a parent's store: kept open, never used
        self._lock = threading.Lock()

    def _stored(self, key: bytes) -> bytes:
        if self._secret is None:
            return key
        return hashlib.blake2b(key, key=self._secret, digest_size=32).digest()

    def _store(self, create: bool) -> _DiskStore | None:
        disk = self._disk
        if disk is not None and disk.owner != os.getpid():
            self._inherited.append(disk)  # inherited through fork: not this process's file
            disk = self._disk = None
        if disk is None and create:
            disk = self._disk = _DiskStore(self._directory, self.cache_kib)
        return disk

    @staticmethod
    def _held(key: bytes, position: int) -> bytes:
        if not 0 <= position < 1 << 63:
            raise ValueError(f"a key's position is an integer from 0 to 2^63 - 1, not {position}")
        return _POSITION.pack(position) + key

    def has(self, key: bytes, position: int = 0) -> bool:
        """Whether ``key`` was added at ``position``."""
        held = self._held(key, position)
        with self._lock:
            if held in self._memory:
                return True
            disk = self._store(create=False)
            return disk is not None and disk.has(position, self._stored(key))

    def __contains__(self, key: bytes) -> bool:
        return self.has(key)

    def add(self, key: bytes, position: int = 0) -> None:
        held = self._held(key, position)
        with self._lock:
            if held in self._memory:
                return
            disk = self._store(create=False)
            if disk is not None and disk.has(position, self._stored(key)):
                return
            self._memory[held] = None
            while len(self._memory) > self.memory_limit:
                oldest, _ = self._memory.popitem(last=False)
                store = self._store(create=True)
                assert store is not None
                store.put(_POSITION.unpack_from(oldest)[0], self._stored(oldest[_POSITION.size:]))

    @property
    def in_memory(self) -> int:
        """How many keys are held in memory (never more than ``memory_limit``)."""
        return len(self._memory)

    @property
    def on_disk(self) -> int:
        disk = self._store(create=False)
        return 0 if disk is None else disk.rows

    def __len__(self) -> int:
        return self.in_memory + self.on_disk

    def __iter__(self) -> Iterator[bytes]:
        """Every key (those on disk first); only for a set that is not ``keyed``."""
        if self._secret is not None:
            raise TypeError("a keyed set holds hashes of its keys: it cannot list them")
        with self._lock:
            disk = self._store(create=False)
            held = [*(disk.keys() if disk is not None else []),
                    *(entry[_POSITION.size:] for entry in self._memory)]
        return iter(held)

    def release_memory(self) -> None:
        """Free the page cache of this process's store, if it has one: a pass over, the
        keys stay where they are and the next pass reads only the pages it needs."""
        with self._lock:
            disk = self._store(create=False)
            if disk is not None:
                disk.release_memory()

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()
            disk = self._store(create=False)
            self._disk = None
            if disk is not None:
                disk.close()
