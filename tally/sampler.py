"""Rivest's SHA-256 consistent sampler, exactly as Arlo draws ballot-comparison samples.

The sample is a public function of the seed and the manifest: anyone with Python's
``consistent-sampler`` package (ron-rivest/consistent_sampler, 1.0.10) or Arlo
(``server/audit_math/sampler.draw_sample``) gets the same cards in the same order.

Definitions (consistent_sampler's ``sha256_hex``, ``sha256_uniform``, ``first_fraction``,
``next_fraction``, ``trim``):

* ``sha256_uniform(s)`` = ``"0."`` followed by the decimal digits of the SHA-256 of the UTF-8 of
  ``s``, read as a big-endian integer and zero-padded to at least 64 digits, in *reverse* order
  (the low-order digits are the unbiased ones).
* A card's **id string** is Python's ``str()`` of the pair ``(batch name, position)``, positions
  counted from 1: ``('pct 2', 3)`` → ``"('pct 2', 3)"``. Batch names are restricted to
  `BATCH_NAME_CHARACTERS` (no quotes, no backslash) so the id string is that literal text.
* Its first ticket number is ``sha256_uniform(sha256_hex(seed) + id_string)``, where
  ``sha256_hex(seed)`` is the lowercase hex SHA-256 of the seed's UTF-8.
* With replacement, a drawn card goes back with the next ticket number: keep the leading
  ``"0."`` and 9s of x, append ``sha256_uniform(x + ":" + str(i))[2:]`` for i = 1, 2, ... until
  the result exceeds x (string comparison against x + "0").
* Cards are drawn in increasing ticket number, compared as strings (for these ``"0.ddd"``
  strings that is numeric order), ties — probability about 10^-77 — broken by the id
  (batch name, then position) and generation.
* A printed ticket number keeps the leading ``"0."`` and 9s and then 18 more digits (Arlo's
  ``digits=18``).

A round that needs n more cards continues the same sequence: `draw_sample` with
``already_drawn=k`` returns draws k+1..k+n, never a redraw.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from e2e.errors import EncodingError, UsageError

__all__ = [
    "BATCH_NAME_CHARACTERS",
    "MAX_CARDS",
    "MAX_DRAWS",
    "MIN_SEED_DIGITS",
    "TICKET_DIGITS",
    "AuditSeed",
    "Ticket",
    "card_id_string",
    "check_batch_name",
    "consistent_sample",
    "cryptorandom_sha256",
    "draw_sample",
    "first_ticket_number",
    "iter_sample",
    "next_ticket_number",
    "sha256_uniform",
    "trim_ticket_number",
]

MIN_SEED_DIGITS = 20
"""A seed has at least this many decimal digits (rolled with ten-sided dice, in public)."""

TICKET_DIGITS = 18
"""Significant digits of a printed ticket number after its leading 9s (Arlo's ``digits``)."""

BATCH_NAME_CHARACTERS = "A-Z a-z 0-9 space _ - . , : ; # / ( ) & +"
"""Characters a batch name may use (at most 100, not starting or ending with a space)."""

_NAME_CHARACTER = re.compile(r"[A-Za-z0-9 _.,:;#/()&+-]")
_SEED = re.compile(r"[0-9]*")
_MAX_SEED_DIGITS = 1000

MAX_CARDS = 20_000_000
"""The most cards a sampling frame may hold: every card's ticket is hashed before the first
draw, so a frame beyond this (more than any jurisdiction's election) would take hours."""

MAX_DRAWS = 1_000_000
"""The most draws a sample may reach (earlier rounds included): beyond it, count by hand."""


@dataclass(frozen=True, slots=True)
class AuditSeed:
    """The audit's public random seed: at least `MIN_SEED_DIGITS` decimal digits, as rolled
    (leading zeros are part of it: the sampler hashes the digit string itself)."""

    digits: str

    def __post_init__(self) -> None:
        if not isinstance(self.digits, str) or not _SEED.fullmatch(self.digits):
            raise UsageError("the seed must be a string of decimal digits, nothing else")
        if len(self.digits) < MIN_SEED_DIGITS:
            raise UsageError(
                f"the seed has {len(self.digits)} digits; it needs at least {MIN_SEED_DIGITS} "
                "(roll them with ten-sided dice, in public)"
            )
        if len(self.digits) > _MAX_SEED_DIGITS:
            raise UsageError(f"the seed has more than {_MAX_SEED_DIGITS} digits")


def check_batch_name(name: object) -> str:
    """Return ``name`` if it is a batch name the id string can carry unambiguously, else raise
    `EncodingError` saying why."""
    if not isinstance(name, str):
        raise EncodingError(f"a batch name must be text, got {type(name).__name__}")
    if not name:
        raise EncodingError("the batch name is empty")
    if len(name) > 100:
        raise EncodingError(f"the batch name is {len(name)} characters long; at most 100")
    if name != name.strip(" "):
        raise EncodingError(f"the batch name {name!r} starts or ends with a space")
    bad = sorted({c for c in name if not _NAME_CHARACTER.fullmatch(c)})
    if bad:
        raise EncodingError(
            f"the batch name {name!r} uses {''.join(bad)!r}; allowed: {BATCH_NAME_CHARACTERS}"
        )
    return name


def _check_position(position: object) -> int:
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise UsageError(f"a card position is a whole number from 1, got {position!r}")
    return position


def card_id_string(batch: str, position: int) -> str:
    """The string the sampler hashes for a card: ``str((batch, position))``."""
    return str((check_batch_name(batch), _check_position(position)))


# --- consistent_sampler's primitives ----------------------------------------------------------


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_uniform(text: str) -> str:
    """consistent_sampler's ``sha256_uniform``: ``"0."`` + reversed decimal digits of the
    SHA-256 of ``text`` (at least 64 digits, zero-padded)."""
    return "0." + f"{int(_sha256_hex(text), 16):064d}"[::-1]


def first_ticket_number(seed: str, id_string: str) -> str:
    """A card's generation-1 ticket number, full precision (``first_fraction``)."""
    return sha256_uniform(_sha256_hex(seed) + id_string)


def _first_non_nine(x: str) -> int:
    padded = x + "0"  # a mantissa of all 9s still has a position to stop at
    return next(i for i in range(2, len(padded)) if padded[i] < "9")


def next_ticket_number(ticket_number: str) -> str:
    """The next generation's ticket number, larger than ``ticket_number`` (``next_fraction``)."""
    if not ticket_number.startswith("0."):
        raise UsageError(f"a ticket number starts with '0.', got {ticket_number!r}")
    padded = ticket_number + "0"
    prefix = padded[: _first_non_nine(ticket_number)]
    counter = 0
    candidate = "0."
    while candidate <= padded:
        counter += 1
        candidate = prefix + sha256_uniform(f"{ticket_number}:{counter}")[2:]
    return candidate


def trim_ticket_number(ticket_number: str, digits: int = TICKET_DIGITS) -> str:
    """The printed form: the leading ``"0."`` and 9s, then ``digits`` more digits (``trim``)."""
    return ticket_number[: _first_non_nine(ticket_number) + digits]


# --- sampling ----------------------------------------------------------------------------------


def consistent_sample(
    ids: Sequence[Hashable], seed: AuditSeed, *, with_replacement: bool
) -> Iterator[tuple[str, Hashable, int]]:
    """Draw from ``ids`` in ticket order: yields (full ticket number, id, generation).

    The ids' ``str()`` are hashed; they must be distinct (as strings too). Without
    replacement the stream ends after every id; with replacement it never ends.
    """
    if not isinstance(seed, AuditSeed):
        raise UsageError("the seed must be an AuditSeed (at least 20 decimal digits)")
    strings = [str(item) for item in ids]
    if len(set(strings)) != len(strings):
        raise UsageError("the ids to sample from are not distinct")
    seed_hash = _sha256_hex(seed.digits)
    heap = [
        (sha256_uniform(seed_hash + text), item, 1)
        for text, item in zip(strings, ids, strict=True)
    ]
    heapq.heapify(heap)
    while heap:
        ticket = heapq.heappop(heap)
        if with_replacement:
            heapq.heappush(heap, (next_ticket_number(ticket[0]), ticket[1], ticket[2] + 1))
        yield ticket


@dataclass(frozen=True, slots=True)
class Ticket:
    """One draw: the card (batch, position from 1), its printed ticket number and how many
    times this card has been drawn so far, this draw included (always 1 without replacement)."""

    ticket_number: str
    batch: str
    position: int
    generation: int

    @property
    def card_id(self) -> str:
        """The id string the ticket number was computed from."""
        return str((self.batch, self.position))


def _cards(batches: Mapping[str, int]) -> list[tuple[str, int]]:
    total = 0
    for name, count in batches.items():
        check_batch_name(name)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UsageError(f"batch {name!r}: the number of ballots must be >= 0, got {count!r}")
        total += count
    if total > MAX_CARDS:  # checked before a single card is listed
        raise UsageError(f"the batches hold {total:,} cards, more than the {MAX_CARDS:,} a "
                         "sample can be drawn from (is a number of ballots mistyped?)")
    return [(name, position) for name, count in batches.items()
            for position in range(1, count + 1)]


def iter_sample(
    seed: AuditSeed, batches: Mapping[str, int], *, with_replacement: bool
) -> Iterator[Ticket]:
    """The whole draw sequence over the cards of ``batches`` (batch name → number of cards)."""
    for number, card, generation in consistent_sample(
        _cards(batches), seed, with_replacement=with_replacement
    ):
        batch, position = card  # type: ignore[misc]  # the ids built by _cards
        yield Ticket(trim_ticket_number(number), batch, position, generation)


def draw_sample(
    seed: AuditSeed,
    batches: Mapping[str, int],
    size: int,
    *,
    with_replacement: bool,
    already_drawn: int = 0,
) -> tuple[Ticket, ...]:
    """Draws ``already_drawn + 1`` .. ``already_drawn + size`` of the sequence, in draw order
    (Arlo's ``draw_sample(seed, manifest, size, num_sampled)``).

    Without replacement asking for more cards than there are raises `UsageError`, and so do
    more than `MAX_DRAWS` draws or more than `MAX_CARDS` cards.
    """
    for name, value in (("sample size", size), ("already drawn", already_drawn)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{name} must be a whole number >= 0, got {value!r}")
    if already_drawn + size > MAX_DRAWS:
        raise UsageError(f"at most {MAX_DRAWS:,} draws in all, asked for draws up to "
                         f"{already_drawn + size:,}: a sample that large is a full hand count")
    cards = _cards(batches)  # checked once here so errors come before any hashing
    if not with_replacement and already_drawn + size > len(cards):
        raise UsageError(
            f"cannot draw {already_drawn + size} cards without replacement from {len(cards)}"
        )
    if with_replacement and size and not cards:
        raise UsageError("there are no cards to draw from")
    stream = iter_sample(seed, batches, with_replacement=with_replacement)
    return tuple(islice(stream, already_drawn, already_drawn + size))


def cryptorandom_sha256(seed: str, count: int, *, start: int = 0) -> tuple[int, ...]:
    """cryptorandom's ``SHA256`` generator (statlab/cryptorandom 0.4), as SHANGRLA's
    ``CVR.assign_sample_nums`` uses it: the k-th number (k from 0) is the SHA-256 of
    ``str(seed) + ","`` followed by k zero bytes, read as a big-endian 256-bit integer.

    Not Paperchain's sampler (that is the consistent sampler above); offered so a
    SHANGRLA-style sample can be recomputed from its seed.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UsageError(f"count must be a whole number >= 0, got {count!r}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise UsageError(f"start must be a whole number >= 0, got {start!r}")
    base = (str(seed) + ",").encode("utf-8")
    return tuple(
        int.from_bytes(hashlib.sha256(base + b"\x00" * k).digest(), "big")
        for k in range(start, start + count)
    )
