"""Reconciliation and the paper manifest, committed on the ledger before the seed.

docs/spec.md §19.3. After the CVR equality proofs, officials publish:

* one ``paper-manifest`` entry per batch of paper (a box, in box order): its name (the
  sampler's batch name, ``tally.sampler.check_batch_name``), its polling place, its
  container (seal / box label, optional), the count written on its cover sheet
  (optional), and its cards in order — each the ballot ID read from the card (or none),
  the scanner's flags (``tally.pairing.CARD_FLAGS``) and the style the QR names;
* a ``reconciliation`` entry naming the ``paper-manifest`` entries in manifest order,
  their digest, what officials entered per polling place (check-ins from the poll book,
  SPOILED cards found in the spoiled-ballot envelope, an explanation of differences)
  and the reconciliation table computed from all of it and the ledger: per polling
  place and device, check-ins, valid cast ballots, challenges, spoiled cards, cards
  counted, CVRs; per batch, the cover-sheet count against the cards scanned; the
  pairing's counts; and the differences, as findings. Differences are reported and
  explained, never refused: the audit's pairing rules (``tally.pairing``) already count
  every unexplained card or missing card as worst case.

Both may be amended — a new ``reconciliation`` replaces the previous one — until the
seed is drawn, never after (``e2e.ledger.types``: the phases say so, the ledger
operator and the verifier enforce it). The verifier recomputes the table and the
digest and refuses a reconciliation whose numbers differ from the ledger's.

Payloads:

* ``paper-manifest``: ``{"version": 1, "batch", "polling_place", "container": str|null,
  "declared": int|null, "cards": [{"ballot_id": hex16|null, "flags": [...sorted],
  "style_id": str|null}]}``;
* ``reconciliation``: ``{"version": 1, "manifest_entries": [index, ...],
  "manifest_digest": hex32, "places": [{"polling_place", "check_ins",
  "spoiled_envelope", "explanation"}] (sorted), "note", "table": {...}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import EncodingError, PaperchainError, RecordError
from e2e.hashing import Tag, hash_fields
from tally.pairing import CARD_FLAGS, PHANTOM_BATCH, CvrFacts, ManifestCard, Population
from tally.sampler import check_batch_name

__all__ = [
    "DeviceCounts",
    "PaperBatch",
    "PlaceInput",
    "Reconciliation",
    "manifest_digest",
    "reconciliation_table",
]

MAX_CARDS_PER_BATCH = 100_000


def _optional_text(obj: ObjectReader, key: str, limit: int) -> str | None:
    value = obj.raw(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise EncodingError(f"expected null or 1..{limit} characters", obj.path(key))
    return value


@dataclass(frozen=True, slots=True)
class PaperBatch:
    """Payload of a ``paper-manifest`` entry: one batch of cards in box order."""

    name: str
    polling_place: str
    container: str | None
    declared: int | None
    cards: tuple[ManifestCard, ...]

    def __post_init__(self) -> None:
        try:
            check_batch_name(self.name)
        except PaperchainError as err:
            raise EncodingError(err.reason, "paper-manifest.batch") from None
        if self.name == PHANTOM_BATCH:
            raise EncodingError(f"the batch name {PHANTOM_BATCH!r} is reserved for phantoms",
                                "paper-manifest.batch")
        if len(self.cards) > MAX_CARDS_PER_BATCH:
            raise EncodingError(f"more than {MAX_CARDS_PER_BATCH} cards in one batch",
                                f"batch {self.name!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1, "batch": self.name, "polling_place": self.polling_place,
            "container": self.container, "declared": self.declared,
            "cards": [{"ballot_id": None if c.ballot_id is None else c.ballot_id.hex(),
                       "flags": sorted(c.flags), "style_id": c.style_id} for c in self.cards],
        }

    def to_payload(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_payload(cls, data: bytes, where: str = "paper-manifest") -> PaperBatch:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        declared = obj.raw("declared")
        if declared is not None and (isinstance(declared, bool) or not isinstance(declared, int)
                                     or not 0 <= declared <= MAX_CARDS_PER_BATCH):
            raise EncodingError("expected null or a count", obj.path("declared"))

        def card(r: ObjectReader) -> ManifestCard:
            raw_id = r.raw("ballot_id")
            ballot_id = None if raw_id is None else r.hex_bytes("ballot_id", 16)
            flags = r.items("flags", len(CARD_FLAGS))
            if (not all(isinstance(f, str) and f in CARD_FLAGS for f in flags)
                    or flags != sorted(set(flags))):
                raise EncodingError(f"flags are distinct, sorted, from {list(CARD_FLAGS)}",
                                    r.path("flags"))
            return ManifestCard(ballot_id, frozenset(flags), _optional_text(r, "style_id", 64))

        result = cls(obj.string("batch", 100), obj.string("polling_place", 256),
                     _optional_text(obj, "container", 200), declared,
                     tuple(obj.mapped("cards", card, MAX_CARDS_PER_BATCH)))
        obj.done()
        return result


def manifest_digest(batches: Sequence[PaperBatch]) -> bytes:
    """H(paper-manifest-digest; [[batch, place, container, declared, [[id, flags, style]]]]),
    absent values hashed as empty strings, ``declared`` as its decimal digits."""
    return hash_fields(Tag.PAPER_MANIFEST_DIGEST, [
        [b.name, b.polling_place, b.container or "", "" if b.declared is None else str(b.declared),
         [[c.ballot_id or b"", sorted(c.flags), c.style_id or ""] for c in b.cards]]
        for b in batches])


@dataclass(frozen=True, slots=True)
class PlaceInput:
    """What officials enter for one polling place."""

    polling_place: str
    check_ins: int
    spoiled_envelope: int
    explanation: str = ""

    def __post_init__(self) -> None:
        for name in ("check_ins", "spoiled_envelope"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EncodingError(f"{name} must be a count, got {value!r}",
                                    f"polling place {self.polling_place!r}")


@dataclass(frozen=True, slots=True)
class DeviceCounts:
    """What the ledger says about one device (the verifier's pass computes it)."""

    device_id: str
    polling_place: str
    cast: int
    challenges: int
    cvrs: int


def reconciliation_table(batches: Sequence[PaperBatch], places: Sequence[PlaceInput],
                         devices: Sequence[DeviceCounts], population: Population,
                         cvrs: Mapping[bytes, CvrFacts]) -> dict[str, Any]:
    """The computed table: numbers and findings (see the module docstring). Pure."""
    by_place: dict[str, dict[str, Any]] = {}
    entered = {p.polling_place: p for p in places}
    place_names = sorted({d.polling_place for d in devices} | {b.polling_place for b in batches}
                         | set(entered))
    device_of_place: dict[str, list[DeviceCounts]] = {}
    for device in devices:
        device_of_place.setdefault(device.polling_place, []).append(device)
    paired_per_device: dict[str, int] = {}
    for pair in population.pairs:
        if pair.cvr is not None:
            owner = cvrs[pair.cvr].device_id
            paired_per_device[owner] = paired_per_device.get(owner, 0) + 1
    findings: list[str] = []
    for name in place_names:
        mine = device_of_place.get(name, [])
        cast = sum(d.cast for d in mine)
        challenges = sum(d.challenges for d in mine)
        cvr_count = sum(d.cvrs for d in mine)
        cards = sum(len(b.cards) for b in batches if b.polling_place == name)
        given = entered.get(name)
        row: dict[str, Any] = {
            "polling_place": name, "cast": cast, "challenges": challenges, "cvrs": cvr_count,
            "cards": cards,
            "check_ins": None if given is None else given.check_ins,
            "spoiled_envelope": None if given is None else given.spoiled_envelope,
            "explanation": "" if given is None else given.explanation,
        }
        label = f"polling place {name!r}"
        if given is None:
            findings.append(f"{label}: no check-ins or spoiled envelope entered")
        else:
            if given.check_ins != cast:
                findings.append(f"{label}: {given.check_ins} check-ins, {cast} valid cast "
                                f"ballots ({_signed(given.check_ins - cast)})")
            if given.spoiled_envelope != challenges:
                findings.append(f"{label}: {given.spoiled_envelope} spoiled cards in the "
                                f"envelope, {challenges} challenges on the ledger "
                                f"({_signed(given.spoiled_envelope - challenges)})")
        if cards != cast:
            findings.append(f"{label}: {cards} cards counted, {cast} valid cast ballots "
                            f"({_signed(cards - cast)})")
        if cvr_count != cast:
            findings.append(f"{label}: {cvr_count} CVRs, {cast} valid cast ballots")
        by_place[name] = row
    device_rows = [{"device_id": d.device_id, "polling_place": d.polling_place, "cast": d.cast,
                    "challenges": d.challenges, "cvrs": d.cvrs,
                    "cards_paired": paired_per_device.get(d.device_id, 0)}
                   for d in sorted(devices, key=lambda d: d.device_id)]
    for row in device_rows:
        if row["cards_paired"] != row["cvrs"]:
            findings.append(f"device {row['device_id']!r}: {row['cvrs']} CVRs, "
                            f"{row['cards_paired']} paired with a card")
    batch_rows = []
    for batch in batches:
        batch_rows.append({"batch": batch.name, "polling_place": batch.polling_place,
                           "container": batch.container, "declared": batch.declared,
                           "scanned": len(batch.cards)})
        if batch.declared is not None and batch.declared != len(batch.cards):
            findings.append(f"batch {batch.name!r}: cover sheet says {batch.declared} cards, "
                            f"{len(batch.cards)} scanned")
    flags: dict[str, int] = {}
    for batch in batches:
        for card in batch.cards:
            for flag in card.flags:
                flags[flag] = flags.get(flag, 0) + 1
    reasons = population.reasons()
    for reason, count in reasons.items():
        if reason != "paired":
            findings.append(f"{count} card(s) unpaired ({reason}): worst case in the audit")
    if population.missing:
        findings.append(f"{len(population.missing)} CVR(s) with no card (missing cards): "
                        "phantoms, worst case in the audit")
    mismatched = _style_mismatches(batches, population, cvrs)
    if mismatched:
        findings.append(f"{mismatched} paired card(s) whose QR names another style than "
                        "their CVR")
    return {
        "places": [by_place[name] for name in place_names],
        "devices": device_rows,
        "batches": batch_rows,
        "flags": dict(sorted(flags.items())),
        "pairing": reasons,
        "missing_cards": len(population.missing),
        "contests": [{"contest": c.contest, "cards": c.cards, "cvrs": c.cvrs, "cast": c.cast,
                      "population": c.population, "phantoms": c.shortfall}
                     for c in population.contests],
        "findings": findings,
    }


def _style_mismatches(batches: Sequence[PaperBatch], population: Population,
                      cvrs: Mapping[bytes, CvrFacts]) -> int:
    count = 0
    for batch in batches:
        for position, card in enumerate(batch.cards, start=1):
            pair = population.pair_at(batch.name, position)
            if (pair is not None and pair.cvr is not None and card.style_id is not None
                    and cvrs[pair.cvr].style_id != card.style_id):
                count += 1
    return count



def _signed(value: int) -> str:
    return f"{value:+d}"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Payload of a ``reconciliation`` entry (module docstring)."""

    manifest_entries: tuple[int, ...]
    digest: bytes
    places: tuple[PlaceInput, ...]
    note: str
    table: Mapping[str, Any]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "manifest_entries": list(self.manifest_entries),
            "manifest_digest": self.digest.hex(),
            "places": [{"polling_place": p.polling_place, "check_ins": p.check_ins,
                        "spoiled_envelope": p.spoiled_envelope, "explanation": p.explanation}
                       for p in sorted(self.places, key=lambda p: p.polling_place)],
            "note": self.note, "table": dict(self.table)})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "reconciliation") -> Reconciliation:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        entries = obj.items("manifest_entries", 100_000)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in entries):
            raise EncodingError("ledger indices", obj.path("manifest_entries"))
        places = obj.mapped("places", lambda r: PlaceInput(
            r.string("polling_place", 256), r.integer("check_ins"),
            r.integer("spoiled_envelope"), r.string("explanation", 4096)), 10_000)
        names = [p.polling_place for p in places]
        if names != sorted(set(names)):
            raise EncodingError("polling places once each, sorted", obj.path("places"))
        table = obj.raw("table")
        if not isinstance(table, dict):
            raise EncodingError("expected an object", obj.path("table"))
        result = cls(tuple(entries), obj.hex_bytes("manifest_digest", 32), tuple(places),
                     obj.string("note", 10_000), table)
        obj.done()
        return result

    @staticmethod
    def compute(manifest_entries: Sequence[int], batches: Sequence[PaperBatch],
                places: Iterable[PlaceInput], devices: Sequence[DeviceCounts],
                population: Population, cvrs: Mapping[bytes, CvrFacts], note: str = ""
                ) -> Reconciliation:
        """The reconciliation of these batches (the payload's table computed here)."""
        places = tuple(sorted(places, key=lambda p: p.polling_place))
        if len({p.polling_place for p in places}) != len(places):
            raise EncodingError("a polling place is entered twice")
        table = reconciliation_table(batches, places, devices, population, cvrs)
        return Reconciliation(tuple(manifest_entries), manifest_digest(batches), places, note,
                              table)

    def check_against(self, expected: Reconciliation) -> None:
        """Raise unless this (published) reconciliation is the recomputed one."""
        if self.manifest_entries != expected.manifest_entries:
            raise RecordError("names other paper-manifest entries")
        if self.digest != expected.digest:
            raise RecordError("the manifest digest is not the digest of the named entries")
        if canonical_json(dict(self.table)) != canonical_json(dict(expected.table)):
            differing = sorted(k for k in set(self.table) | set(expected.table)
                               if canonical_json(self.table.get(k))
                               != canonical_json(expected.table.get(k)))
            raise RecordError(f"the reconciliation table differs from the one recomputed "
                              f"from the ledger (in {differing})")
