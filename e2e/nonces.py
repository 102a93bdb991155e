"""Where secret randomness comes from: the CSPRNG, or a seed for reproducible vectors.

Provers take a ``NonceSource`` instead of calling ``secrets`` themselves, so that
known-answer vectors can fix every nonce (STYLE.md: randomness is injected). In
production the source is ``RandomNonces`` (the operating system's CSPRNG) or a
``DerivedNonces`` keyed by a fresh 32-byte secret seed that is erased with the ballot.
A ``DerivedNonces`` never yields the same value twice: each draw hashes the seed,
the label and a counter (docs/spec.md §3.5).
"""

from __future__ import annotations

import secrets
from typing import Protocol

from e2e.errors import UsageError
from e2e.group import ElementModQ, GroupParameters
from e2e.hashing import Field, Tag, hash_fields

__all__ = ["DerivedNonces", "NonceSource", "RandomNonces", "fresh_seed"]


class NonceSource(Protocol):
    def next_exponent(self, group: GroupParameters) -> ElementModQ:
        """A secret exponent, uniform in [0, q) (or indistinguishable from it)."""
        ...


class RandomNonces:
    """Exponents straight from the operating system's CSPRNG."""

    def next_exponent(self, group: GroupParameters) -> ElementModQ:
        return group.random_exponent()


def fresh_seed() -> bytes:
    """32 bytes from the CSPRNG, to key a ``DerivedNonces``."""
    return secrets.token_bytes(32)


class DerivedNonces:
    """Exponents H(proof-nonce; seed, label..., counter) mod q, counter from 0."""

    __slots__ = ("_counter", "_label", "_seed")

    def __init__(self, seed: bytes, *label: Field) -> None:
        if len(seed) != 32:
            raise UsageError("a nonce seed must be 32 bytes")
        self._seed = seed
        self._label = label
        self._counter = 0

    def next_exponent(self, group: GroupParameters) -> ElementModQ:
        digest = hash_fields(Tag.PROOF_NONCE, self._seed, list(self._label), self._counter)
        self._counter += 1
        return group.exponent_from_hash(digest)
