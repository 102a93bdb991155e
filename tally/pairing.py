"""Population and pairing: which paper card goes with which encrypted CVR, and N per contest.

docs/spec.md §19.5. Inputs are the ID-level paper manifest (cards in box order:
batch, position from 1, the ballot ID read from the card if any, the scanner's flags)
and the published CVRs (ballot ID → device, ballot style, contests). The rules, applied
in manifest order (batches in the order the reconciliation lists them, positions
ascending), are recorded in the audit parameters as ``RULES``:

1. A card flagged spoiled, test-card, not-test-card, foreign-election, unreadable,
   invalid or not-a-card pairs with nothing (even with an ID typed in by hand: no
   signature was checked).
2. Otherwise a card pairs with the CVR of its ballot ID if it is the *first* card in
   manifest order bearing that ID; every later card with the ID is a duplicate and
   pairs with nothing.
3. A card whose ID no CVR has pairs with nothing.
4. An unpaired card gets a worst-case CVR (a phantom CVR: it claims the most it could
   for every reported winner) and holds every contest of the manifest.
5. A paired card holds the contests of its CVR's ballot style (card-style data: the
   per-style CVR counts equal the per-style cast counts, which the equality proofs and
   the CVR commitments establish publicly).
6. Per contest, N is the largest of the cards holding it (paired by rule 5, unpaired by
   rule 4), the CVRs holding it, and the valid cast ballots holding it. The shortfall
   N − (cards holding it) becomes phantom cards in one extra batch (``PHANTOM_BATCH``,
   positions 1..P with P the largest shortfall; phantom k holds contest c when
   k ≤ shortfall_c). A phantom's reading and CVR are both worst case.
7. A CVR no card pairs with is a missing card, reported; rule 6 accounts for it.

Everything here is a pure function of public data, so ``paperchain audit verify``
recomputes it from the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from e2e.errors import UsageError
from e2e.manifest import Manifest

__all__ = [
    "CARD_FLAGS",
    "EXCLUDING_FLAGS",
    "PHANTOM_BATCH",
    "RULES",
    "CardPair",
    "ContestPopulation",
    "CvrFacts",
    "ManifestCard",
    "Population",
    "pair_cards",
]

CARD_FLAGS = ("repeated-id", "foreign-election", "test-card", "not-test-card",
              "duplicate-remake", "spoiled", "unreadable", "invalid", "not-a-card")
"""The scanner's flags (``paper.scan.CardFlag`` values; a test keeps the two equal)."""

EXCLUDING_FLAGS = ("spoiled", "test-card", "not-test-card", "foreign-election", "unreadable",
                   "invalid", "not-a-card")
"""Flags that keep a card from pairing (rule 1), in the order a reason is reported."""

PHANTOM_BATCH = "Phantoms"
"""The batch name of phantom cards; no paper batch may use it."""

RULES = "paperchain-pairing-1"
"""The name of the rules above, as recorded in the audit parameters."""


@dataclass(frozen=True, slots=True)
class ManifestCard:
    """One physical card of the ID-level manifest (its batch and position are where it is
    listed): the ballot ID read from it (None if none), the scanner's flags, and the ballot
    style its QR names (None if unread)."""

    ballot_id: bytes | None
    flags: frozenset[str] = frozenset()
    style_id: str | None = None

    def __post_init__(self) -> None:
        if self.ballot_id is not None and (not isinstance(self.ballot_id, bytes)
                                           or len(self.ballot_id) != 16):
            raise UsageError("a ballot ID is 16 bytes")
        unknown = sorted(set(self.flags) - set(CARD_FLAGS))
        if unknown:
            raise UsageError(f"unknown card flag(s) {unknown}; known: {list(CARD_FLAGS)}")


@dataclass(frozen=True, slots=True)
class CvrFacts:
    """What pairing needs of a CVR: its device, its style and the contests it holds."""

    device_id: str
    style_id: str
    contests: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CardPair:
    """A card and what it pairs with: ``cvr`` (its ballot ID) when ``reason`` is "paired";
    otherwise the reason it is unpaired (a flag of rule 1, "duplicate", "no-cvr" or "no-id")."""

    batch: str
    position: int
    ballot_id: bytes | None
    reason: str
    cvr: bytes | None
    contests: tuple[int, ...]  # the contests it holds (rules 4 and 5)

    @property
    def paired(self) -> bool:
        return self.cvr is not None


@dataclass(frozen=True, slots=True)
class ContestPopulation:
    """Rule 6 for one contest (by manifest index)."""

    contest: int
    cards: int
    cvrs: int
    cast: int

    @property
    def population(self) -> int:
        """N: the largest of cards, CVRs and cast ballots holding the contest."""
        return max(self.cards, self.cvrs, self.cast)

    @property
    def shortfall(self) -> int:
        """Phantom cards holding the contest: N − cards holding it."""
        return self.population - self.cards


@dataclass(frozen=True, slots=True)
class Population:
    """The audit's population: pairs in manifest order, missing cards, N per contest."""

    pairs: tuple[CardPair, ...]
    missing: tuple[bytes, ...]  # CVRs with no card, by ballot ID
    contests: tuple[ContestPopulation, ...]
    batches: tuple[tuple[str, int], ...]  # the paper batches and their card counts
    _by_card: dict[tuple[str, int], CardPair] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_card", {(p.batch, p.position): p for p in self.pairs})

    @property
    def phantoms(self) -> int:
        """P, the size of the phantom batch: the largest shortfall."""
        return max((c.shortfall for c in self.contests), default=0)

    def frame(self) -> dict[str, int]:
        """What the sampler draws from: every paper batch, then the phantom batch."""
        frame = dict(self.batches)
        if self.phantoms:
            frame[PHANTOM_BATCH] = self.phantoms
        return frame

    @property
    def frame_size(self) -> int:
        return sum(n for _, n in self.batches) + self.phantoms

    def pair_at(self, batch: str, position: int) -> CardPair | None:
        """The card at (batch, position); None for a phantom."""
        if batch == PHANTOM_BATCH:
            return None
        return self._by_card.get((batch, position))

    def holds(self, batch: str, position: int, contest: int) -> bool:
        """Whether the card (or phantom) at (batch, position) is in ``contest``'s population."""
        if batch == PHANTOM_BATCH:
            return position <= self.contest(contest).shortfall
        pair = self.pair_at(batch, position)
        return pair is not None and contest in pair.contests

    def contest(self, index: int) -> ContestPopulation:
        for item in self.contests:
            if item.contest == index:
                return item
        raise UsageError(f"no contest with index {index}")

    def reasons(self) -> dict[str, int]:
        """How many cards pair, and how many are unpaired for each reason."""
        counts: dict[str, int] = {}
        for pair in self.pairs:
            counts[pair.reason] = counts.get(pair.reason, 0) + 1
        return dict(sorted(counts.items()))


def pair_cards(manifest: Manifest, batches: Sequence[tuple[str, Sequence[ManifestCard]]],
               cvrs: Mapping[bytes, CvrFacts], cast_per_contest: Mapping[int, int]
               ) -> Population:
    """Apply the rules of the module docstring; ``batches`` in manifest order."""
    all_contests = tuple(range(len(manifest.contests)))
    seen: set[bytes] = set()
    pairs: list[CardPair] = []
    names = [name for name, _ in batches]
    if len(set(names)) != len(names):
        raise UsageError("a batch appears twice in the manifest")
    if PHANTOM_BATCH in names:
        raise UsageError(f"the batch name {PHANTOM_BATCH!r} is reserved for phantom cards")
    for name, cards in batches:
        for position, card in enumerate(cards, start=1):
            first = card.ballot_id is not None and card.ballot_id not in seen
            if card.ballot_id is not None:
                seen.add(card.ballot_id)
            excluded = next((f for f in EXCLUDING_FLAGS if f in card.flags), None)
            cvr = None
            if excluded is not None:
                reason = excluded
            elif card.ballot_id is None:
                reason = "no-id"
            elif not first:
                reason = "duplicate"
            elif card.ballot_id not in cvrs:
                reason = "no-cvr"
            else:
                reason, cvr = "paired", card.ballot_id
            contests = cvrs[cvr].contests if cvr is not None else all_contests
            pairs.append(CardPair(name, position, card.ballot_id, reason, cvr, contests))
    paired = {p.cvr for p in pairs if p.cvr is not None}
    missing = tuple(sorted(i for i in cvrs if i not in paired))
    populations = []
    for contest in all_contests:
        cards_holding = sum(1 for p in pairs if contest in p.contests)
        cvrs_holding = sum(1 for facts in cvrs.values() if contest in facts.contests)
        populations.append(ContestPopulation(contest, cards_holding, cvrs_holding,
                                             cast_per_contest.get(contest, 0)))
    return Population(tuple(pairs), missing, tuple(populations),
                      tuple((name, len(cards)) for name, cards in batches))
