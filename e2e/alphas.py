"""No α twice: which α values earlier ballots used, kept on disk so memory stays flat.

DESIGN.md: "No α may repeat across all ballots (replay, clash, nonce reuse)". The
verifier asks, for each ballot in ledger order, how many of its α were already used by
an earlier ballot (valid or not: every decoded ballot uses its α). A Python set of every
α digest costs ≈ 100 bytes per selection — 400 MB at 10^5 ten-contest ballots — so the
digests live in a temporary SQLite database instead:

* ``keys(prefix INTEGER PRIMARY KEY, record, idx)``: the first 8 bytes of each digest
  (an integer key: a compact B-tree) with the number of its record in a flat file of
  (digest, ledger index) records; a new ballot's prefixes are inserted in one statement
  and, when every one of them is new (the normal case), its α are new too;
* otherwise each digest is compared in full with the record its prefix points to, and
  digests whose prefix collides with another digest's go to ``overflow(key, idx)`` —
  so a crafted 64-bit prefix collision costs time, never a wrong answer;
* ``ballots(idx, leaf, repeated)``: the answer given for the ballot at ledger index
  ``idx`` whose envelope has RFC 9162 leaf hash ``leaf``.

The last table lets a second pass over the same ledger in the same process (the tally,
each trustee, the final verification) skip the work: a leaf hash commits to every
earlier envelope through the chain of previous-hashes, so the same leaf at the same
index means the same ledger prefix and the same answer. The registry always holds the
ballots of one ledger prefix; a pass that diverges from it (another ledger of the same
election, a tampered copy) first drops every row after its own previous ballot.
SQLite's page cache is bounded (``cache_size``), the rest is the operating system's:
16 MiB while ballots are being registered (their prefixes are looked up at random), and
256 KiB once a pass is over (``release_memory``) until a later pass registers a ballot
again. A pass over the same ledger (a tally's) only reads ``ballots`` rows in index
order, each leaf page once: a larger cache would fill with pages it never reads again —
the whole table at 10^5 ballots (SQLite held 4 MiB less at the peak of such a pass),
the 16 MiB bound beyond.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from e2e.scratch import release_page_cache

__all__ = ["AlphaRegistry", "registry_for"]

_RECORD = struct.Struct(">32sq")
_CACHE_KIB = 16_384  # while ballots are registered
_READING_CACHE_KIB = 256  # between passes, and through a pass that only reads answers


class AlphaRegistry:
    """See the module docstring. ``register`` is called in ledger order within a pass."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="paperchain-alphas-",
                                                dir=None if directory is None else str(directory))
        path = Path(self._tmp.name)
        self._db = sqlite3.connect(str(path / "alphas.sqlite"), isolation_level=None,
                                   check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                       f"cache_size=-{_CACHE_KIB}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript("""
            CREATE TABLE keys(prefix INTEGER PRIMARY KEY, record INTEGER NOT NULL,
                              idx INTEGER NOT NULL);
            CREATE TABLE overflow(key BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE ballots(idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL,
                                 repeated INTEGER NOT NULL);
        """)
        self._file = os.open(path / "digests.bin", os.O_RDWR | os.O_CREAT, 0o600)
        self._records = 0
        self._last_index = -1  # the highest ballot index held
        self._pending = 0  # statements since the last commit
        self._cache_kib = _CACHE_KIB
        # Counts the times rows were forgotten (``_drop_after``): an answer from ``known``
        # read at one generation still holds while the generation is the same.
        self.generation = 0
        self._lock = threading.Lock()
        self._db.execute("BEGIN")

    def release_memory(self) -> None:
        """Commit, then let SQLite free its page cache: between passes. A later pass reads
        back only the pages it needs — a tally pass, the ``ballots`` rows in index order —
        through a small cache, until it registers a ballot (see the module docstring)."""
        with self._lock:
            release_page_cache(self._db)
            self._pending = 0
            self._set_cache(_READING_CACHE_KIB)

    def _set_cache(self, kib: int) -> None:
        if kib != self._cache_kib:
            self._db.execute(f"PRAGMA cache_size=-{kib}")
            self._cache_kib = kib

    def close(self) -> None:
        try:
            self._db.close()
            os.close(self._file)
        finally:
            self._tmp.cleanup()

    # --- the pass --------------------------------------------------------------------------

    def known(self, index: int, leaf: bytes) -> int | None:
        """The answer already given for this ballot of this ledger prefix, if any."""
        row = self._db.execute("SELECT leaf, repeated FROM ballots WHERE idx = ?",
                               (index,)).fetchone()
        return int(row[1]) if row is not None and row[0] == leaf else None

    def register(self, index: int, leaf: bytes, digests: Sequence[bytes] | None,
                 previous: int) -> int:
        """How many of ``digests`` (counted with multiplicity) a ballot at a lower index used.

        ``previous`` is the index of the ballot this pass registered before (−1 for its
        first). ``digests`` may be None when ``known`` answered for this ballot.
        """
        with self._lock:
            answer = self.known(index, leaf)
            if answer is not None:
                return answer
            if digests is None:
                raise ValueError("the digests are needed for a ballot not registered before")
            self._set_cache(_CACHE_KIB)
            if self._last_index > previous:
                self._drop_after(previous)
            repeated = self._insert(index, digests)
            self._db.execute("INSERT INTO ballots VALUES (?, ?, ?)", (index, leaf, repeated))
            self._last_index = index
            self._pending += 1
            if self._pending >= 512:
                self._db.execute("COMMIT")
                self._db.execute("BEGIN")
                self._pending = 0
            return repeated

    def _drop_after(self, previous: int) -> None:
        """Forget every ballot after ``previous`` (the registry held another ledger's)."""
        for table in ("keys", "overflow", "ballots"):
            self._db.execute(f"DELETE FROM {table} WHERE idx > ?", (previous,))
        self._last_index = previous
        self.generation += 1

    def _insert(self, index: int, digests: Sequence[bytes]) -> int:
        first = self._records
        rows = [(int.from_bytes(d[:8], "big", signed=True), first + k, index)
                for k, d in enumerate(digests)]
        before = self._db.total_changes
        self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", rows)
        if self._db.total_changes - before == len(rows):
            self._append(digests, index)
            return 0
        # Some prefix is already there: undo this ballot's rows and go digest by digest.
        self._db.execute("DELETE FROM keys WHERE idx = ? AND record >= ?", (index, first))
        repeated = 0
        for digest in digests:
            prefix = int.from_bytes(digest[:8], "big", signed=True)
            row = self._db.execute("SELECT record FROM keys WHERE prefix = ?",
                                   (prefix,)).fetchone()
            if row is None:
                self._db.execute("INSERT INTO keys VALUES (?, ?, ?)",
                                 (prefix, self._records, index))
                self._append([digest], index)
                continue
            held, held_index = _RECORD.unpack(os.pread(self._file, _RECORD.size,
                                                       int(row[0]) * _RECORD.size))
            if held != digest:  # a prefix collision: the full digest decides
                other = self._db.execute("SELECT idx FROM overflow WHERE key = ?",
                                         (digest,)).fetchone()
                if other is None:
                    self._db.execute("INSERT INTO overflow VALUES (?, ?)", (digest, index))
                    continue
                held_index = int(other[0])
            if held_index < index:
                repeated += 1
        return repeated

    def _append(self, digests: Sequence[bytes], index: int) -> None:
        data = b"".join(_RECORD.pack(d, index) for d in digests)
        os.pwrite(self._file, data, self._records * _RECORD.size)
        self._records += len(digests)


_registries: OrderedDict[bytes, AlphaRegistry] = OrderedDict()
_registries_lock = threading.Lock()
_REGISTRY_LIMIT = 4


def registry_for(extended_hash: bytes) -> AlphaRegistry:
    """The process's registry for one election (H_E), created on first use."""
    with _registries_lock:
        registry = _registries.get(extended_hash)
        if registry is None:
            registry = AlphaRegistry()
            _registries[extended_hash] = registry
            while len(_registries) > _REGISTRY_LIMIT:
                _registries.popitem(last=False)[1].close()
        _registries.move_to_end(extended_hash)
        return registry
