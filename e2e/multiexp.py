"""Multi-exponentiation ∏ b_i^{e_i} mod p by the bucket method (Pippenger).

For n bases with exponents of at most L bits and a window of c bits, the exponents are
cut into ⌈L/c⌉ digits. For each window, from the most significant down, the running
result is squared c times and every base is multiplied into the bucket of its digit;
the buckets are then folded as ∏_d B_d^d with running products:

    S_k = ∏_{d ≥ d_k} B_d,   ∏_d B_d^d = ∏_k S_k^{d_k − d_{k+1}}              (1)

over the occupied digits d_1 > d_2 > … (d_{last+1} = 0), so that a base costs one
multiplication per non-zero digit — ≈ L/c instead of the ≈ 1.2·L of its own powmod —
and a window costs at most 2·2^c multiplications for the fold. ``window_for`` picks c
from the counts. Nothing here is secret: the verifier's inputs are public and its
random exponents are used once, so no constant-time care is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

__all__ = ["multi_exp", "window_for"]


def window_for(bit_lengths: Sequence[int]) -> int:
    """The window c minimising Σ_i ⌈L_i/c⌉ + ⌈L/c⌉·(2^(c+1) + c) multiplications."""
    if not bit_lengths:
        return 1
    longest = max(bit_lengths)
    best, best_cost = 1, None
    for c in range(1, 17):
        windows = -(-longest // c)
        cost = sum(-(-b // c) for b in bit_lengths) + windows * ((2 << c) + c)
        if best_cost is None or cost < best_cost:
            best, best_cost = c, cost
    return best


def _digits(exponents: Sequence[int], c: int, windows: int) -> np.ndarray:
    """The base-2^c digits of every exponent: an (n, windows) array, least significant
    digit first — numpy's bit unpacking instead of a Python shift per digit."""
    width = -(-windows * c // 8)
    raw = b"".join(e.to_bytes(width, "little") for e in exponents)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(len(exponents), width),
                         axis=1, bitorder="little")[:, : windows * c]
    weights = (1 << np.arange(c, dtype=np.int64))
    return bits.reshape(len(exponents), windows, c).astype(np.int64) @ weights


def multi_exp(pairs: Sequence[tuple[mpz, int]], p: mpz, window: int | None = None) -> mpz:
    """∏ base^exponent mod p over ``pairs`` of (base, exponent ≥ 0)."""
    items = [(mpz(b), int(e)) for b, e in pairs if e]
    if not items:
        return mpz(1)
    lengths = [e.bit_length() for _, e in items]
    c = window if window is not None else window_for(lengths)
    windows = -(-max(lengths) // c)
    bases = [b for b, _ in items]
    digits = _digits([e for _, e in items], c, windows)
    size = 1 << c
    result: mpz | None = None
    for w in range(windows - 1, -1, -1):
        if result is not None:
            for _ in range(c):
                result = result * result % p
        column = digits[:, w]
        occupied = np.flatnonzero(column)
        if not len(occupied):
            continue
        buckets: list[mpz | None] = [None] * size
        for i, digit in zip(occupied.tolist(), column[occupied].tolist(), strict=True):
            held = buckets[digit]
            buckets[digit] = bases[i] if held is None else held * bases[i] % p
        # The fold (1): running products from the top digit down.
        running: mpz | None = None
        total: mpz | None = None
        gap = 0
        for digit in range(size - 1, 0, -1):
            bucket = buckets[digit]
            if bucket is not None:
                if running is not None and gap:
                    term = running if gap == 1 else gmpy2.powmod(running, gap, p)
                    total = term if total is None else total * term % p
                running = bucket if running is None else running * bucket % p
                gap = 0
            gap += 1
        if running is not None:
            term = running if gap == 1 else gmpy2.powmod(running, gap, p)
            total = term if total is None else total * term % p
            result = total if result is None else result * total % p
    return mpz(1) if result is None else result
