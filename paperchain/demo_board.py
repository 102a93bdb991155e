"""The demo's audit board: it reads what the retrieved cards' printed text says.

A real board takes each sampled card out of its batch and types what its text says
into ``paperchain audit read``. The demo's board does the same with the paper the demo
printed: the card at (batch, position) is page ``position`` of the batch's PDF
(``OUT/paper/boxes``, box order, as the ID-level manifest lists it), and its reading
comes from that page's text layer — what is printed on the paper, never what a kiosk
remembers. A forged card (``--tamper paper``: the same ID and QR code, other printed
choices) is therefore read as the forger printed it, and a missing page is a card not
found.

The text is matched against the manifest contest by contest, in ballot order: a
contest's title (in any of the manifest's languages; a card prints the voter's
language with English beside it) and then, up to the next title, the lines that are
one of its selections' labels (a label wrapped over two or three lines counts), or
"no selection". A contest of the card's style whose title or choices cannot be read is
"cannot-agree" (worst case), as a board that cannot agree would enter it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pypdfium2

from e2e.errors import EncodingError
from e2e.manifest import Manifest
from paper.ids import BallotId
from paper.manifest_views import paper_strings
from tally.audit import CardReading, ContestReading

__all__ = ["BatchPapers", "printed_ballot_id", "read_card_text", "squeeze"]

# A printed ballot ID: groups of Crockford symbols joined by hyphens, the last ending in
# the check symbol, which may also be one of *~$=u (paper.ids).
_ID_LINE = re.compile(r"^[0-9a-z]{4}(?:-[0-9a-z*~$=]{1,5}){4,}$")
_WRAP = 3  # a label may wrap over at most this many lines


def squeeze(text: str) -> str:
    """Text as compared: NFC, white space collapsed, case folded."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


class BatchPapers:
    """The batches' PDFs (batch name → file), read page by page."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def texts(self, batch: str) -> list[str]:
        """Every card's text layer in the batch, in box order ([] for an unknown batch)."""
        path = self.files.get(batch)
        if path is None:
            return []
        try:
            document = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as err:
            raise EncodingError(f"the batch's PDF does not open: {err}", str(path)) from None
        texts = []
        try:
            for index in range(len(document)):
                page = document[index]
                textpage = page.get_textpage()
                texts.append(textpage.get_text_range().replace("\ufffe", "").replace("\x02", ""))
                textpage.close()
                page.close()
        finally:
            document.close()
        return texts

    def read(self, manifest: Manifest, round_number: int,
             positions: Sequence[tuple[str, int]], styles: Mapping[tuple[str, int], str],
             expected_ids: Mapping[tuple[str, int], bytes | None]) -> list[CardReading]:
        """The board's readings of the cards at ``positions`` (each batch opened once)."""
        pages: dict[str, list[str]] = {}
        out = []
        for batch, position in positions:
            if batch not in pages:
                pages[batch] = self.texts(batch)
            texts = pages[batch]
            style_id = styles.get((batch, position))
            if not 1 <= position <= len(texts) or style_id is None:
                out.append(CardReading(round_number, batch, position, None, "not-found", ()))
                continue
            out.append(read_card_text(texts[position - 1], manifest, style_id, round_number,
                                      batch, position, expected_ids.get((batch, position))))
        return out


def printed_ballot_id(text: str) -> bytes | None:
    """The ballot ID printed on a card (its text layer), or None if none can be read."""
    return _ballot_id(squeeze(line) for line in text.splitlines())


def _ballot_id(lines: Iterable[str]) -> bytes | None:
    for line in lines:
        if _ID_LINE.match(line):
            try:
                return BallotId.parse(line).value
            except EncodingError:
                continue
    return None


def read_card_text(text: str, manifest: Manifest, style_id: str, round_number: int,
                   batch: str, position: int, expected_id: bytes | None) -> CardReading:
    """One card's reading from its printed text (module docstring). ``style_id`` is the
    style its QR code names; ``expected_id`` the ID the manifest lists at this place."""
    lines = [squeeze(line) for line in text.splitlines() if line.strip()]
    joined = "\n".join(lines)
    flat = joined.replace("\n", " ")  # same length: a title may wrap over lines
    printed_id = _ballot_id(lines)
    on_style = [contest for _, contest in manifest.contests_of_style(style_id)]
    starts: list[tuple[int, int] | None] = []
    cursor = 0
    for contest in on_style:
        found = None
        for title in dict.fromkeys(squeeze(t) for t in contest.title.values()):
            at = flat.find(title, cursor)
            if at >= 0 and (found is None or at < found[0]):
                found = (at, at + len(title))
        starts.append(found)
        if found is not None:
            cursor = found[1]
    no_selection = {squeeze(line) for language in manifest.languages
                    for line in paper_strings(language).no_selection.lines()}
    readings: dict[str, ContestReading] = {}
    for index, contest in enumerate(on_style):
        where = starts[index]
        if where is None:
            readings[contest.id] = ContestReading("cannot-agree")
            continue
        later = [s[0] for s in starts[index + 1:] if s is not None]
        segment = [line for line in joined[where[1]:later[0] if later else len(joined)]
                   .split("\n") if line.strip()]
        windows = {" ".join(segment[i:i + size]) for size in range(1, _WRAP + 1)
                   for i in range(len(segment) - size + 1)}
        chosen = frozenset(s.id for s in contest.selections
                           if any(squeeze(label) in windows for label in s.label.values()))
        if chosen:
            readings[contest.id] = ContestReading("votes", chosen)
        elif no_selection & set(segment):
            readings[contest.id] = ContestReading("blank")
        else:
            readings[contest.id] = ContestReading("cannot-agree")
    contests = tuple((c.id, readings.get(c.id, ContestReading("not-on-card")))
                     for c in manifest.contests)
    if printed_id is None:
        condition = "damaged"
    elif expected_id is not None and printed_id != expected_id:
        condition = "id-differs"
    else:
        condition = "ok"
    return CardReading(round_number, batch, position, printed_id, condition, contests)
