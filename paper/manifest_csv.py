"""The ID-level paper manifest as a CSV file (``paperchain scan --manifest-out``).

One row per physical card, in box order (docs/spec.md §18.5.2)::

    version,batch,position,ballot_id,style_id,flags,polling_place,source,manual
    1,Place 1 box 1,1,0004-1061-050R-3GG2-8A1C-60T3-GF6,ward-1,,Precinct 1,box1.pdf:1,no

``ballot_id`` is the printed form (empty if none was read), ``flags`` the card's
``paper.scan.CardFlag`` values joined by ``;``, ``manual`` says whether the ID was typed
from the print. The reader refuses an unknown version or header, a bad check symbol,
unknown flags, and positions that do not run 1, 2, 3… within each batch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from e2e.errors import EncodingError
from paper.ids import BallotId
from paper.scan import CardFlag, ManifestEntry, PaperManifest

__all__ = ["HEADER", "PlacedEntry", "as_manifest", "read_manifest_csv", "write_manifest_csv"]

HEADER = ("version", "batch", "position", "ballot_id", "style_id", "flags", "polling_place",
          "source", "manual")
_VERSION = "1"


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
    header = next(reader, None)
    if header is None or tuple(header) != HEADER:
        raise EncodingError(f"the first row must be {','.join(HEADER)}", f"{where} line 1")
    rows: list[PlacedEntry] = []
    expected: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        at = f"{where} line {line}"
        if len(cells) != len(HEADER):
            raise EncodingError(f"{len(HEADER)} columns expected, not {len(cells)}", at)
        version, batch, position, ballot_id, style_id, flags, place, source, manual = cells
        if version != _VERSION:
            raise EncodingError(f"unsupported manifest row version {version!r}", at)
        if not batch or not position.isdigit():
            raise EncodingError("a row needs a batch and a position", at)
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
    return rows


def as_manifest(rows: Sequence[PlacedEntry]) -> PaperManifest:
    """The manifest alone (without polling places)."""
    return PaperManifest(tuple(row.entry for row in rows))
