"""Exponential ElGamal in the order-q subgroup (docs/spec.md §4).

An encryption of m under K with nonce r is (α, β) = (g^r, g^m · K^r). Products of
ciphertexts encrypt sums; a decryption recovers g^m and the count m is found by a
bounded discrete logarithm (baby-step giant-step), refusing counts beyond the bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import gmpy2
from gmpy2 import mpz

from e2e.errors import DecryptionError, UsageError
from e2e.fixedbase import powerer
from e2e.group import ElementModP, ElementModQ, GroupParameters, _trusted_p

__all__ = ["Ciphertext", "discrete_log", "encrypt", "homomorphic_sum"]


@dataclass(frozen=True, slots=True)
class Ciphertext:
    """(α, β) = (g^r, g^m · K^r)."""

    alpha: ElementModP
    beta: ElementModP

    def __mul__(self, other: Ciphertext) -> Ciphertext:
        """The encryption of the sum of the two plaintexts."""
        return Ciphertext(self.alpha * other.alpha, self.beta * other.beta)

    def __truediv__(self, other: Ciphertext) -> Ciphertext:
        """The encryption of the difference of the two plaintexts."""
        return Ciphertext(self.alpha / other.alpha, self.beta / other.beta)

    @property
    def group(self) -> GroupParameters:
        return self.alpha.group

    @staticmethod
    def identity(group: GroupParameters) -> Ciphertext:
        """(1, 1): the empty product, an encryption of 0 with nonce 0."""
        return Ciphertext(group.one, group.one)


def encrypt(message: int, nonce: ElementModQ, public_key: ElementModP, *,
            window: int | None = None) -> Ciphertext:
    """Encrypt a small non-negative integer ``message`` with ``nonce`` under ``public_key``.

    g^r, g^m and K^r are fixed-base exponentiations (``e2e.fixedbase``; ``window`` picks
    the table size, the group's default when None).
    """
    group = public_key.group
    if isinstance(message, bool) or not isinstance(message, int) or message < 0:
        raise UsageError("the plaintext must be a non-negative integer")
    if nonce.is_zero():
        raise UsageError("a zero nonce would publish the plaintext")
    g_pow = powerer(group, group.g, window)
    k_pow = powerer(group, public_key.value, window)
    alpha = g_pow(nonce.value)
    beta = g_pow(message % int(group.q)) * k_pow(nonce.value) % group.p
    return Ciphertext(_trusted_p(alpha, group), _trusted_p(beta, group))


def homomorphic_sum(group: GroupParameters, ciphertexts: Iterable[Ciphertext]) -> Ciphertext:
    """The product of ``ciphertexts``: (1, 1) when there are none."""
    total = Ciphertext.identity(group)
    for ciphertext in ciphertexts:
        total = total * ciphertext
    return total


@lru_cache(maxsize=8)
def _baby_steps(group: GroupParameters, width: int) -> dict[int, int]:
    table: dict[int, int] = {}
    value = mpz(1)
    for j in range(width):
        table[int(value)] = j
        value = value * group.g % group.p
    return table


def discrete_log(element: ElementModP, bound: int) -> int:
    """The m in [0, bound] with g^m = element, or DecryptionError if there is none."""
    if bound < 0:
        raise UsageError("the bound must be non-negative")
    group = element.group
    width = max(1, math.isqrt(bound) + 1)
    baby = _baby_steps(group, width)
    giant = gmpy2.invert(gmpy2.powmod(group.g, width, group.p), group.p)
    value = element.value
    for i in range(bound // width + 1):
        j = baby.get(int(value))
        if j is not None:
            m = i * width + j
            if m <= bound:
                return m
            break
        value = value * giant % group.p
    raise DecryptionError(f"the decrypted value is not g^m for any m in 0..{bound}")
