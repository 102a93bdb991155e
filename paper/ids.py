"""Ballot IDs and the printed forms of ballot IDs and tracking codes.

A **ballot ID** is 128 bits drawn from the operating system's CSPRNG (``secrets``) when
the card is printed, and derived from nothing else: not the encryption nonce, a counter,
the time, the device or the tracking code. Anything derived from those could link the
card in the ballot box (which shows the voter's choices) to a position in cast order or
to a ledger entry. The audit pairs a card with its encrypted CVR through this ID alone.

Printed form (docs/spec.md §18.2): the 128-bit big-endian integer in Crockford base32
(alphabet ``0123456789ABCDEFGHJKMNPQRSTVWXYZ``, 26 symbols, the first one 0–7), followed
by one Crockford check symbol (the integer mod 37, from ``0–9 A–Z`` minus ``ILOU`` then
``* ~ $ = U``), in hyphen-separated groups of four::

    7ZQ4-1M0X-T8KD-HS2C-9W3E-VYBN-GA*

Because 37 is prime and larger than every symbol value, the check symbol detects every
single-symbol substitution and every transposition of two adjacent symbols (the value
changes by d·32^k or by (a − b)·31·32^k, never a multiple of 37).

Parsing is as lenient as Crockford allows, because people type what they read: case is
ignored, ``I``/``L`` read as ``1``, ``O`` as ``0``, and hyphens and spaces are skipped.

**Tracking codes** (32-byte SHA-256 outputs, made by ``e2e``) use the same alphabet and
check symbol: 52 symbols (the first 0–1) and a check symbol, printed in space-separated
groups of four so a voter can read them out or type them into a checker.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from e2e.errors import EncodingError

__all__ = [
    "BALLOT_ID_BYTES",
    "CROCKFORD_ALPHABET",
    "CROCKFORD_CHECK_SYMBOLS",
    "TRACKING_CODE_BYTES",
    "BallotId",
    "format_tracking_code",
    "parse_tracking_code",
]

BALLOT_ID_BYTES = 16
TRACKING_CODE_BYTES = 32

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# The check symbol of value v is CROCKFORD_CHECK_SYMBOLS[v], v = number mod 37.
CROCKFORD_CHECK_SYMBOLS = CROCKFORD_ALPHABET + "*~$=U"

# Lenient reading (Crockford's "decode" table): case folded, I and L are 1, O is 0.
_DECODE: dict[str, int] = {}
for _value, _symbol in enumerate(CROCKFORD_ALPHABET):
    _DECODE[_symbol] = _value
    _DECODE[_symbol.lower()] = _value
for _alias, _value in (("I", 1), ("L", 1), ("O", 0)):
    _DECODE[_alias] = _value
    _DECODE[_alias.lower()] = _value
_CHECK_DECODE: dict[str, int] = dict(_DECODE)
for _value, _symbol in enumerate(CROCKFORD_CHECK_SYMBOLS[32:], start=32):
    _CHECK_DECODE[_symbol] = _value
    _CHECK_DECODE[_symbol.lower()] = _value
_SEPARATORS = frozenset("- ")


def _symbols_for(bits: int) -> int:
    return -(-bits // 5)


def _encode(number: int, bits: int) -> str:
    """``bits``-bit number → Crockford base32 symbols (fixed width) + check symbol."""
    width = _symbols_for(bits)
    digits = []
    rest = number
    for _ in range(width):
        rest, value = divmod(rest, 32)
        digits.append(CROCKFORD_ALPHABET[value])
    return "".join(reversed(digits)) + CROCKFORD_CHECK_SYMBOLS[number % 37]


def _decode(text: object, bits: int, what: str, where: str) -> int:
    """Parse Crockford symbols + check symbol back to a ``bits``-bit number, or raise."""
    if not isinstance(text, str):
        raise EncodingError(f"a {what} must be text", where)
    compact = [c for c in text if c not in _SEPARATORS]
    width = _symbols_for(bits)
    if len(compact) != width + 1:
        raise EncodingError(
            f"a {what} has {width} symbols and a check symbol ({width + 1} in all, "
            f"hyphens and spaces aside); this has {len(compact)}",
            where,
        )
    number = 0
    for position, char in enumerate(compact[:width], start=1):
        value = _DECODE.get(char)
        if value is None:
            raise EncodingError(
                f"symbol {position} {char!r} is not a Crockford base32 symbol", where
            )
        number = number * 32 + value
    if number >> bits:
        # The leading symbol carries only bits mod 5 bits; a larger one means a misread.
        raise EncodingError(f"too large for a {what} (first symbol out of range)", where)
    check = _CHECK_DECODE.get(compact[-1])
    if check is None:
        raise EncodingError(f"check symbol {compact[-1]!r} is not a Crockford check symbol", where)
    if check != number % 37:
        raise EncodingError(
            f"check symbol does not match: the {what} was misread or mistyped", where
        )
    return number


def _group(symbols: str, size: int, separator: str) -> str:
    groups = [symbols[i : i + size] for i in range(0, len(symbols), size)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        # A lone trailing check symbol reads as a typo; keep it with its neighbours.
        groups[-2:] = [groups[-2] + groups[-1]]
    return separator.join(groups)


@dataclass(frozen=True, slots=True, order=True)
class BallotId:
    """A ballot ID: 16 random bytes. Print with ``str(ballot_id)``; read with ``parse``."""

    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != BALLOT_ID_BYTES:
            raise EncodingError(f"a ballot ID is exactly {BALLOT_ID_BYTES} bytes")

    @classmethod
    def generate(
        cls, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> BallotId:
        """A fresh ID from the CSPRNG. ``random_bytes`` is injectable for tests only."""
        return cls(random_bytes(BALLOT_ID_BYTES))

    @classmethod
    def parse(cls, text: object, where: str = "ballot ID") -> BallotId:
        """Read a printed or typed ID (lenient as Crockford allows); refuse a bad check."""
        number = _decode(text, 8 * BALLOT_ID_BYTES, "ballot ID", where)
        return cls(number.to_bytes(BALLOT_ID_BYTES, "big"))

    def compact(self) -> str:
        """The 27 symbols without separators (26 data symbols + check symbol)."""
        return _encode(int.from_bytes(self.value, "big"), 8 * BALLOT_ID_BYTES)

    def __str__(self) -> str:
        return _group(self.compact(), 4, "-")

    def __repr__(self) -> str:
        return f"BallotId({str(self)!r})"


def format_tracking_code(code: bytes) -> str:
    """A tracking code in space-separated groups of four Crockford symbols with a check."""
    if not isinstance(code, bytes) or len(code) != TRACKING_CODE_BYTES:
        raise EncodingError(f"a tracking code is exactly {TRACKING_CODE_BYTES} bytes")
    return _group(_encode(int.from_bytes(code, "big"), 8 * TRACKING_CODE_BYTES), 4, " ")


def parse_tracking_code(text: object, where: str = "tracking code") -> bytes:
    """Read a printed or typed tracking code; refuse a bad check symbol."""
    number = _decode(text, 8 * TRACKING_CODE_BYTES, "tracking code", where)
    return number.to_bytes(TRACKING_CODE_BYTES, "big")
