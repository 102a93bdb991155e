"""Verdicts already reached in this process, so that no ballot is verified twice in one run.

A ballot's verdict — "this payload decodes and every proof, shape and code check
passes" — is a function of the payload's bytes and of the election context, and the
context is pinned by H_E (which hashes H_B: the group, the manifest, n and k; and the
joint key with every commitment). So a verdict keyed by (H_E, bytes) can be reused by any
later check of the same bytes in the same process: the tally, each trustee's
recomputation and the final verification run the same ``RecordVerifier`` pass, and the
demo runs them all in one process. Entries are identified by

* their RFC 9162 leaf hash, which the verifier computes anyway and which covers the
  whole envelope (entry bytes, index, previous hash), or
* the SHA-256 of the payload, which the ledger operator's admission check has (it runs
  before there is an envelope).

Only positive verdicts are kept (a failing ballot is rare and is re-checked, which also
regenerates its finding's words). Signature verdicts are kept the same way, keyed by the
writer's key and the leaf hash. A verdict never crosses a process boundary, so a
verifier trusts only what it computed itself.

Memory stays flat as ballots grow: the newest ``memory_limit`` keys (32 bytes each,
≈ 100 bytes with Python's overhead) are held in memory, older ones move to this
process's temporary SQLite store (``e2e.scratch.KeySet``: full keys, stored as a hash
keyed by a secret held only in this process's memory, so nothing written into the file
from outside is ever taken for a verdict; removed when the process ends). Nothing is
dropped, so a bound smaller than the ledger never makes a later pass re-verify.

A verifier adds and looks up the verdicts of a ledger entry at the entry's ledger index
(``position``): the store is ordered by it, so a later pass, which asks in ledger order,
reads the store front to back and SQLite needs a page cache of ``_CACHE_KIB`` however
many ballots there are (looked up at random, the verdicts of 10^5 ballots filled 8 MiB of
cache, and would have filled the 16 MiB it then had at 10^6). A verdict asked about at
another position than its own is not found, and the entry is checked again: a miss costs
time, never a wrong answer. Verdicts by payload (admission, before there is a ledger
index) and the tally's own keys have no position (0).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from e2e.scratch import KeySet

__all__ = ["VERDICTS", "VerdictCache"]

_CACHE_KIB = 1_024  # the store's SQLite page cache: read in order, it needs few pages


class VerdictCache:
    """A set of verdict keys: the newest ``memory_limit`` in memory, the rest on disk."""

    __slots__ = ("_keys", "hits", "misses")

    def __init__(self, memory_limit: int = 8_192, directory: str | Path | None = None) -> None:
        self._keys = KeySet(memory_limit, keyed=True, directory=directory, cache_kib=_CACHE_KIB)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: bytes, *parts: bytes) -> bytes:
        """SHA-256 over length-prefixed parts under a kind tag (no two kinds collide)."""
        digest = hashlib.sha256(b"paperchain/v1/verdict/" + kind)
        for part in parts:
            digest.update(len(part).to_bytes(4, "big"))
            digest.update(part)
        return digest.digest()

    def has(self, key: bytes, position: int = 0) -> bool:
        """Whether ``key`` was added at ``position`` (a ledger index, or 0)."""
        found = self._keys.has(key, position)
        if found:
            self.hits += 1
        else:
            self.misses += 1
        return found

    def __contains__(self, key: bytes) -> bool:
        return self.has(key)

    def add(self, key: bytes, position: int = 0) -> None:
        self._keys.add(key, position)

    def clear(self) -> None:
        self._keys.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def memory_limit(self) -> int:
        return self._keys.memory_limit

    @property
    def in_memory(self) -> int:
        """Keys held in memory: never more than ``memory_limit``."""
        return self._keys.in_memory

    @property
    def on_disk(self) -> int:
        return self._keys.on_disk

    # --- the keys used by the ledger and the verifier --------------------------------------

    @classmethod
    def ballot_by_leaf(cls, extended_hash: bytes, kind: str, leaf_hash: bytes) -> bytes:
        return cls.key(b"ballot-leaf", extended_hash, kind.encode(), leaf_hash)

    @classmethod
    def ballot_by_payload(cls, extended_hash: bytes, kind: str, payload: bytes) -> bytes:
        return cls.key(b"ballot-payload", extended_hash, kind.encode(),
                       hashlib.sha256(payload).digest())

    @classmethod
    def signature(cls, key_bytes: bytes, leaf_hash: bytes) -> bytes:
        return cls.key(b"signature", key_bytes, leaf_hash)


VERDICTS = VerdictCache()
"""The process's cache, shared by admission and every verifier pass (injectable)."""
