"""The files people hand to ``paperchain audit …``: read strictly, or refused whole.

Every reader parses the whole file before anything is written to the ledger, and
refuses a malformed file with an ``EncodingError`` naming the place: a file is taken
entirely or not at all, so a refusal leaves the audit's state (the ledger) unchanged.

* the ID-level paper manifest: ``paper.manifest_csv``'s CSV (what ``paperchain scan``
  writes), with ``batches_from_scan`` turning it into ``tally.reconcile.PaperBatch``es;
  an optional batch sheet (Arlo-style CSV, ``tally.batch_manifest``) adds each batch's
  container and the count written on its cover sheet;
* the reconciliation inputs: ``{"version": 1, "places": [{"polling_place", "check_ins",
  "spoiled_envelope", "explanation"}], "note"}``;
* the board's readings: ``{"version": 1, "readings": [{"round", "batch", "position",
  "ballot_id": printed ID or null, "condition", "contests": {contest ID: {"reading":
  "votes"|"blank"|"not-on-card"|"cannot-agree", "votes": [selection IDs]}}}]}``;
  a contest left out is read as "not-on-card";
* a certified hand count: ``{"version": 1, "counts": {contest ID: {selection ID: n}},
  "certified_by": [...], "certified_at": "...", "note": ""}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from e2e.encoding import ObjectReader, parse_json_object
from e2e.errors import EncodingError, UsageError
from e2e.manifest import Manifest
from paper.ids import BallotId
from paper.manifest_csv import PlacedEntry, read_manifest_csv
from tally.audit import CardReading, ContestReading, HandCount
from tally.batch_manifest import BatchManifest
from tally.pairing import ManifestCard
from tally.reconcile import PaperBatch, PlaceInput

__all__ = ["batches_from_scan", "read_hand_count", "read_paper_manifest", "read_places",
           "read_readings"]

MAX_FILE = 64 << 20


def _read(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the file: {err.strerror}", str(path)) from None
    if len(data) > MAX_FILE:
        raise EncodingError("the file is too large", str(path))
    return data


def batches_from_scan(rows: Sequence[PlacedEntry], sheet: BatchManifest | None = None
                      ) -> list[PaperBatch]:
    """The scanned manifest's batches in the order they first appear (box order within)."""
    order: list[str] = []
    grouped: dict[str, list[PlacedEntry]] = {}
    for row in rows:
        if row.entry.batch not in grouped:
            order.append(row.entry.batch)
            grouped[row.entry.batch] = []
        grouped[row.entry.batch].append(row)
    batches = []
    for name in order:
        items = grouped[name]
        places = {row.polling_place for row in items}
        if len(places) != 1:
            raise EncodingError(f"batch {name!r} names {len(places)} polling places")
        declared = container = None
        if sheet is not None:
            batch = next((b for b in sheet.batches if b.name == name), None)
            if batch is None:
                raise EncodingError(f"batch {name!r} is scanned but not on the batch sheet")
            declared, container = batch.ballots, batch.container
        batches.append(PaperBatch(name, places.pop(), container, declared, tuple(
            ManifestCard(None if row.entry.ballot_id is None else row.entry.ballot_id.value,
                         frozenset(str(f) for f in row.entry.flags), row.entry.style_id)
            for row in items)))
    if sheet is not None:
        extra = [b.name for b in sheet.batches if b.name not in grouped]
        if extra:
            raise EncodingError(f"batch(es) {extra} are on the batch sheet but were not "
                                "scanned (scan them, or list them empty)")
    return batches


def read_paper_manifest(path: Path, sheet: BatchManifest | None = None) -> list[PaperBatch]:
    data = _read(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EncodingError("not UTF-8 text", str(path)) from None
    return batches_from_scan(read_manifest_csv(text, str(path)), sheet)


def read_places(path: Path) -> tuple[list[PlaceInput], str]:
    where = str(path)
    obj = ObjectReader(parse_json_object(_read(path), where), where)
    obj.version([1])
    places = obj.mapped("places", lambda r: PlaceInput(
        r.string("polling_place", 256), r.integer("check_ins"), r.integer("spoiled_envelope"),
        r.string("explanation", 4096)), 10_000)
    note = obj.string("note", 10_000)
    obj.done()
    return places, note


def read_readings(path: Path, manifest: Manifest) -> list[CardReading]:
    """The board's readings, each listing every contest of the manifest (in its order)."""
    where = str(path)
    obj = ObjectReader(parse_json_object(_read(path), where), where)
    obj.version([1])

    def reading(r: ObjectReader) -> CardReading:
        raw_id = r.raw("ballot_id")
        ballot_id = None if raw_id is None else BallotId.parse(raw_id, r.path("ballot_id")).value
        contests_reader = r.obj("contests")
        contests = []
        for contest in manifest.contests:
            if not contests_reader.has(contest.id):
                contests.append((contest.id, ContestReading("not-on-card")))
                continue
            item = contests_reader.obj(contest.id)
            votes = item.items("votes", 1000) if item.has("votes") else []
            if not all(isinstance(v, str) for v in votes):
                raise EncodingError("selection IDs", item.path("votes"))
            try:
                read = ContestReading(item.choice("reading", ("votes", "blank", "not-on-card",
                                                              "cannot-agree")),
                                      frozenset(votes))
            except EncodingError as err:  # located here unless it names its place already
                raise (err if err.where else err.at(item.where)) from None
            item.done()
            contests.append((contest.id, read))
        contests_reader.done()
        card = CardReading(r.integer("round", 1), r.string("batch", 100),
                           r.integer("position", 1), ballot_id,
                           r.choice("condition", ("ok", "not-found", "id-differs",
                                                  "marked-spoiled", "marked-test",
                                                  "marked-duplicate", "qr-text-disagree",
                                                  "damaged")), tuple(contests))
        card.check_against(manifest)
        return card

    readings = obj.mapped("readings", reading, 100_000)
    obj.done()
    if not readings:
        raise EncodingError("no readings in the file", where)
    return readings


def read_hand_count(path: Path, manifest: Manifest) -> HandCount:
    where = str(path)
    obj = ObjectReader(parse_json_object(_read(path), where), where)
    obj.version([1])
    counts_reader = obj.obj("counts")
    counts = []
    for contest in manifest.contests:
        per = counts_reader.obj(contest.id)
        for selection in contest.selections:
            counts.append((contest.id, selection.id, per.integer(selection.id)))
        per.done()
    counts_reader.done()
    return HandCount.certified(obj, counts)
