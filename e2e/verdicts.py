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
writer's key and the leaf hash. Nothing is persisted: a verdict never crosses a process
boundary, so a verifier trusts only what it computed itself. The cache holds 32-byte
keys only (≈ 100 bytes per ballot with Python's overhead) and is bounded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

__all__ = ["VERDICTS", "VerdictCache"]


class VerdictCache:
    """A bounded set of verdict keys (least recently added dropped first)."""

    __slots__ = ("_keys", "_limit", "_lock", "hits", "misses")

    def __init__(self, limit: int = 4_000_000) -> None:
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()
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

    def __contains__(self, key: bytes) -> bool:
        found = key in self._keys
        if found:
            self.hits += 1
        else:
            self.misses += 1
        return found

    def add(self, key: bytes) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self._limit:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._keys)

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
