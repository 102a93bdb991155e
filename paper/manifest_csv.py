"""The ID-level paper manifest as a CSV file (``paperchain scan --manifest-out``).

One row per physical card, in box order (docs/spec.md §18.5.2)::

    version,batch,position,ballot_id,style_id,flags,polling_place,source,manual
    1,Place 1 box 1,1,0004-1061-050R-3GG2-8A1C-60T3-GF6,ward-1,,Precinct 1,box1.pdf:1,no

``ballot_id`` is the printed form (empty if none was read), ``flags`` the card's
``paper.scan.CardFlag`` values joined by ``;``, ``manual`` says whether the ID was typed
from the print. The reader refuses an unknown version or header, a bad check symbol,
unknown flags, positions that do not run 1, 2, 3… within each batch, and a ballot ID
that repeats without the ``repeated-id`` flag on every occurrence (or the flag on an ID
that does not repeat): the scanner sets it exactly so, so anything else was edited.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from e2e.errors import EncodingError
from paper.ids import BallotId
from paper.scan import CardFlag, ManifestEntry, PaperManifest

__all__ = ["HEADER", "PlacedEntry", "as_manifest", "read_manifest_csv", "write_manifest_csv"]

HEADER = ("version", "batch", "position", "ballot_id", "style_id", "flags", "polling_place",
          "source", "manual")
_VERSION = "1"
_POSITION = re.compile(r"[1-9][0-9]{0,8}")  # ASCII digits only, below 10^9


@dataclass(frozen=True, slots=True)
class PlacedEntry:
    """A manifest entry with the polling place its batch came from."""

    entry: ManifestEntry
    polling_place: str


def write_manifest_csv(rows: Iterable[PlacedEntry]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        e = row.entry
        writer.writerow([_VERSION, e.batch, e.position, "" if e.ballot_id is None
                         else str(e.ballot_id), e.style_id or "",
                         ";".join(sorted(f.value for f in e.flags)), row.polling_place,
                         e.source, "yes" if e.manual else "no"])
    return out.getvalue()


def read_manifest_csv(text: str, where: str = "manifest") -> list[PlacedEntry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _read_rows(reader, where)
    except csv.Error as err:
        raise EncodingError(f"not CSV: {err}", f"{where} line {reader.line_num}") from None


def _read_rows(reader: Iterator[list[str]], where: str) -> list[PlacedEntry]:
    header = next(reader, None)
    if header is None or tuple(header) != HEADER:
        raise EncodingError(f"the first row must be {','.join(HEADER)}", f"{where} line 1")
    rows: list[PlacedEntry] = []
    lines: list[int] = []
    expected: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        at = f"{where} line {line}"
        if len(cells) != len(HEADER):
            raise EncodingError(f"{len(HEADER)} columns expected, not {len(cells)}", at)
        version, batch, position, ballot_id, style_id, flags, place, source, manual = cells
        if version != _VERSION:
            raise EncodingError(f"unsupported manifest row version {version!r}", at)
        if not batch or not _POSITION.fullmatch(position):
            raise EncodingError("a row needs a batch and a position (1, 2, 3…)", at)
        if int(position) != expected.get(batch, 0) + 1:
            raise EncodingError(f"position {position} out of order in batch {batch!r}", at)
        expected[batch] = int(position)
        try:
            card_flags = frozenset(CardFlag(f) for f in flags.split(";") if f)
        except ValueError:
            raise EncodingError(f"unknown flag in {flags!r}", at) from None
        if manual not in ("yes", "no"):
            raise EncodingError("manual is yes or no", at)
        entry = ManifestEntry(batch, int(position),
                              BallotId.parse(ballot_id, at) if ballot_id else None,
                              card_flags, source, manual == "yes", style_id or None)
        rows.append(PlacedEntry(entry, place))
        lines.append(line)
    _check_repeats(rows, lines, where)
    return rows


def _check_repeats(rows: Sequence[PlacedEntry], lines: Sequence[int], where: str) -> None:
    """``repeated-id`` on exactly the rows whose ID (of this election) occurs twice or more."""
    def counted(entry: ManifestEntry) -> BallotId | None:
        foreign = CardFlag.FOREIGN_ELECTION in entry.flags
        return None if foreign else entry.ballot_id

    seen: dict[BallotId, list[int]] = {}
    for row, line in zip(rows, lines, strict=True):
        ballot_id = counted(row.entry)
        if ballot_id is not None:
            seen.setdefault(ballot_id, []).append(line)
    for row, line in zip(rows, lines, strict=True):
        entry = row.entry
        ballot_id = counted(entry)
        at = seen[ballot_id] if ballot_id is not None else []
        flagged = CardFlag.REPEATED_ID in entry.flags
        if len(at) > 1 and not flagged:
            raise EncodingError(
                f"ballot ID {entry.ballot_id} is on lines {', '.join(map(str, at))} but this "
                "row is not flagged repeated-id (the scanner flags every occurrence)",
                f"{where} line {line}")
        if len(at) <= 1 and flagged:
            raise EncodingError("flagged repeated-id, but its ballot ID does not repeat",
                                f"{where} line {line}")


def as_manifest(rows: Sequence[PlacedEntry]) -> PaperManifest:
    """The manifest alone (without polling places)."""
    return PaperManifest(tuple(row.entry for row in rows))
