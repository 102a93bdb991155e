"""Fixed-base exponentiation: windowed tables for g and K, built once per election per process.

For a base b, exponents below 2^L and a window of w bits, the table holds
T[i][d] = b^(d·2^(w·i)) mod p for every window i < ⌈L/w⌉ and digit 0 ≤ d < 2^w, so

    b^e = ∏_i T[i][e_i]        where e = Σ_i e_i · 2^(w·i)                  (1)

costs at most ⌈L/w⌉ − 1 modular multiplications and no squaring (Brickell–Gordon–
McCurley–Wilson with one table per window). On the 4096-bit standard group (L = 256):

    window  multiplications  table per base
       8          31             4 MiB
      10          25            13 MiB
      12          21            44 MiB

against ~1 full ``powmod`` (≈ 4 × 256/… multiplications with GMP's sliding window); the
benchmarks measure the ratio (``benchmarks/bench_core.py``).

Side channels. Equation (1) indexes the table by the secret digits of e, and the
multiplications skip zero digits: the memory access pattern and the time depend on the
nonce. This is the same position as GMP's non-``_sec`` ``powmod``, which the encrypting
device already used for ElGamal nonces: a kiosk is a dedicated machine running only
Paperchain, so a co-resident cache-timing attacker is outside its threat model. Secrets
that live long and are held by trustees — key shares in the key ceremony and in partial
decryptions (``prove_chaum_pedersen``, ``prove_schnorr``, ``tally.decrypt``) — keep
GMP's constant-time ``powmod_sec`` and never touch these tables.

Tables are cached per process keyed by (p, base, window) — the group and the base — so
every ballot of an election encrypted in one process shares the tables for g and K.
The cache is bounded (least recently used tables are dropped) so that a process that
sees many keys (tests) does not grow without bound.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import gmpy2
from gmpy2 import mpz

from e2e.errors import UsageError
from e2e.group import GroupParameters

__all__ = [
    "FixedBaseTable",
    "PrecomputedPool",
    "clear_table_cache",
    "default_window",
    "pow_fixed",
    "powerer",
    "prepare",
    "table_for",
]

_CACHE_LIMIT = 6


def default_window(group: GroupParameters) -> int:
    """12-bit windows for a 4096-bit group (≈ 0.1 powmod per exponentiation, 44 MiB per
    base); 8-bit windows for small test groups, whose tables are then built in
    milliseconds."""
    return 12 if group.p_bytes >= 384 else 8


@dataclass(frozen=True, slots=True, eq=False)
class FixedBaseTable:
    """T[i][d] = base^(d·2^(w·i)) mod p for exponents below 2^bits (equation (1))."""

    p: mpz
    base: mpz
    window: int
    bits: int
    rows: tuple[tuple[mpz, ...], ...]

    @classmethod
    def build(cls, base: mpz, p: mpz, bits: int, window: int) -> FixedBaseTable:
        if not 1 <= window <= 16:
            raise UsageError("a fixed-base window is 1 to 16 bits")
        rows = []
        power = mpz(base) % p  # base^(2^(w·i)) for the current row
        for _ in range(-(-bits // window)):
            row = [mpz(1), power]
            for _ in range(2, 1 << window):
                row.append(row[-1] * power % p)
            rows.append(tuple(row))
            power = row[-1] * power % p  # base^((2^w - 1)·2^(w·i)) · base^(2^(w·i))
        return cls(mpz(p), mpz(base), window, bits, tuple(rows))

    def pow(self, exponent: int) -> mpz:
        """base^exponent mod p for 0 <= exponent < 2^bits (by equation (1))."""
        e = int(exponent)
        if e < 0 or e.bit_length() > self.bits:
            raise UsageError("exponent outside the table's range")
        p, w, mask = self.p, self.window, (1 << self.window) - 1
        result = None
        for row in self.rows:
            digit = e & mask
            if digit:
                result = row[digit] if result is None else result * row[digit] % p
            e >>= w
            if not e:
                break
        return mpz(1) if result is None else result

    @property
    def entries(self) -> int:
        return sum(len(row) for row in self.rows)

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the table's numbers."""
        return self.entries * ((int(self.p).bit_length() + 7) // 8 + 32)


# Keyed by (p, base, window) as mpz values: gmpy2 caches an mpz's hash, so a lookup
# costs no conversion of 4096-bit numbers.
_cache: OrderedDict[tuple[mpz, mpz, int], FixedBaseTable] = OrderedDict()
_cache_lock = threading.Lock()
_uses: dict[tuple[mpz, mpz, int], int] = {}
_BUILD_AFTER = 16


def table_for(group: GroupParameters, base: mpz, window: int | None = None) -> FixedBaseTable:
    """The process-wide table for ``base`` in ``group`` (built on first use, then cached).

    ``base`` must be an element of the group (callers pass g or a checked key); the
    exponents it serves are reduced mod q, so the table covers bits(q) bits.
    """
    w = window if window is not None else default_window(group)
    key = (group.p, mpz(base), w)
    with _cache_lock:
        table = _cache.get(key)
        if table is not None:
            _cache.move_to_end(key)
            return table
    table = FixedBaseTable.build(mpz(base), group.p, int(group.q).bit_length(), w)
    with _cache_lock:
        _cache[key] = table
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_LIMIT:
            _cache.popitem(last=False)
    return table


def clear_table_cache() -> None:
    """Drop every cached table (for memory measurements and tests)."""
    with _cache_lock:
        _cache.clear()
        _uses.clear()


def pow_fixed(group: GroupParameters, base: mpz, exponent: int, window: int | None = None
              ) -> mpz:
    """base^exponent mod p for a base of the group and 0 <= exponent < q.

    Uses the cached table when there is one; otherwise counts the uses of ``base`` and
    builds its table on the 16th, so a base seen once or twice (a one-off key in a
    test) costs a ``powmod`` each time and no table, while g and an election's K get
    their tables after a few ballots. ``prepare`` builds them up front (a kiosk).
    """
    w = window if window is not None else default_window(group)
    key = (group.p, mpz(base), w)
    table = _cache.get(key)
    if table is None:
        count = _uses.get(key, 0) + 1
        if count < _BUILD_AFTER:
            if len(_uses) > 1024:
                _uses.clear()
            _uses[key] = count
            return gmpy2.powmod(base, exponent, group.p)
        _uses.pop(key, None)
        table = table_for(group, base, w)
    return table.pow(exponent)


def prepare(group: GroupParameters, *bases: mpz, window: int | None = None) -> None:
    """Build (or fetch) the tables for ``bases`` now — once per election per process."""
    for base in bases:
        table_for(group, base, window)


def powerer(group: GroupParameters, base: mpz, window: int | None = None
            ) -> Callable[[int], mpz]:
    """``e ↦ base^e mod p`` (0 <= e < q): the cached table's ``pow`` when the table exists,
    else ``pow_fixed`` (which builds it once the base has been used often enough)."""
    w = window if window is not None else default_window(group)
    table = _cache.get((group.p, mpz(base), w))
    if table is not None:
        return table.pow
    return lambda exponent: pow_fixed(group, base, exponent, w)


class PrecomputedPool:
    """Proof randomness with its powers computed ahead: (x, g^x, K^x) pairs and (s, g^s).

    A kiosk fills it while idle (``fill``) and ``prove_range`` draws from it: a real
    branch's commitment is (g^u, K^u), a simulated branch's is (g^t, K^t·g^s) with
    c_j = −s/(m − j) and v_j = t + c_j·r — t and s uniform and independent, so c_j and
    v_j are uniform and independent exactly as when drawn directly (docs/spec.md §5.3).
    Then encrypting a selection online costs only g^r and K^r (r is derived from the
    ballot's master nonce, so it cannot be drawn ahead) and multiplications.

    The entries are secrets of the same kind as proof nonces: they live only in this
    object, each is used once (``take_*`` removes it), and they are never written out.
    Randomness comes from the operating system's CSPRNG.
    """

    __slots__ = ("_g", "_group", "_k", "_pairs", "_singles", "key")

    def __init__(self, group: GroupParameters, key: mpz, window: int | None = None) -> None:
        self._group = group
        self.key = mpz(key)
        self._g = table_for(group, group.g, window)
        self._k = table_for(group, self.key, window)
        self._pairs: list[tuple[int, mpz, mpz]] = []
        self._singles: list[tuple[int, mpz]] = []

    def fill(self, pairs: int, singles: int | None = None) -> None:
        """Add ``pairs`` (x, g^x, K^x) and ``singles`` (s, g^s) (as many as pairs by default)."""
        q = int(self._group.q)
        for _ in range(pairs):
            x = secrets.randbelow(q)
            self._pairs.append((x, self._g.pow(x), self._k.pow(x)))
        for _ in range(pairs if singles is None else singles):
            s = secrets.randbelow(q)
            self._singles.append((s, self._g.pow(s)))

    def __len__(self) -> int:
        return min(len(self._pairs), len(self._singles))

    def take_pair(self) -> tuple[int, mpz, mpz]:
        """(x, g^x, K^x), computed now if the pool is empty."""
        if self._pairs:
            return self._pairs.pop()
        x = secrets.randbelow(int(self._group.q))
        return x, self._g.pow(x), self._k.pow(x)

    def take_single(self) -> tuple[int, mpz]:
        """(s, g^s), computed now if the pool is empty."""
        if self._singles:
            return self._singles.pop()
        s = secrets.randbelow(int(self._group.q))
        return s, self._g.pow(s)
