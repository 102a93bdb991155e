"""Reading a printed ballot record back from its scan, for the kiosk's audio read-back.

A voter who cannot read print puts the paper under the kiosk's scanner; the kiosk
reads the *paper* — not its own memory of the choices — and speaks what it saw. The
card's QR says which election, style and card it is (never the choices); the choices
come from the page's text: a PDF's text layer, or an image's text through OCR
(``tesseract``, when the kiosk has it). The text is matched against the style's own
vocabulary, contest by contest in ballot order: a contest's title, then which of its
selection labels (or "no selection") appear before the next contest's title.

What this returns is only ever spoken to the voter at the kiosk: it is never logged
or kept, and it never decides anything (the self-check before printing does that).
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import pypdfium2
from PIL import Image, UnidentifiedImageError

from e2e.errors import EncodingError, PaperchainError
from e2e.manifest import Manifest
from e2e.signing import VerifyKey
from paper.manifest_views import paper_strings
from paper.payload import decode_ballot_record
from paper.scan import MAX_PAGE_PIXELS, read_qr_codes

__all__ = ["ReadBack", "ReadBackContest", "read_back_scan"]

MAX_SCAN_BYTES = 32 << 20
_DPI = 150
_OCR_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ReadBackContest:
    """One contest as the scanner saw it: ``found`` is False when its title was not read."""

    contest_id: str
    title: str
    vote_for: int
    found: bool
    choices: tuple[str, ...]  # the labels read, in the voter's language; () = no selection
    no_selection: bool


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What the scanner saw on one printed ballot record."""

    text_source: str  # "pdf-text", "ocr" or "none"
    card_ok: bool  # the QR is this kiosk's card of this election and style
    ballot_id: str | None
    contests: tuple[ReadBackContest, ...]
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "text_source": self.text_source, "card_ok": self.card_ok,
            "ballot_id": self.ballot_id, "problems": list(self.problems),
            "contests": [{"contest_id": c.contest_id, "title": c.title, "vote_for": c.vote_for,
                          "found": c.found, "choices": list(c.choices),
                          "no_selection": c.no_selection} for c in self.contests],
        }


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                         "\u2010": "-", "\u2013": "-", "\u2014": "-"})


def _squeeze(text: str) -> str:
    """Text as compared: accents, case, quote styles and white space folded, because OCR
    (and a PDF's text layer) may read "Comisión" as "Comision" or ’ as '."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split()).casefold()


def _pages(data: bytes) -> tuple[Image.Image, str | None]:
    """The first page as an image, and its text layer (PDF) or None (an image)."""
    if data.startswith(b"%PDF"):
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as err:
            raise EncodingError(f"the scan does not open as a PDF: {err}", "scan") from None
        try:
            if len(document) < 1:
                raise EncodingError("the scanned PDF has no page", "scan")
            page = document[0]
            width, height = page.get_size()
            if width * height * (_DPI / 72) ** 2 > MAX_PAGE_PIXELS:
                raise EncodingError("the scanned page is too large to be a ballot record",
                                    "scan")
            image = page.render(scale=_DPI / 72, grayscale=True).to_pil()
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            page.close()
        finally:
            document.close()
        return image, text.replace("\ufffe", "").replace("\x02", "")
    try:
        image = Image.open(BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise EncodingError(f"the scan is neither a PDF nor an image: {err}", "scan") from None
    return image, None


def _ocr(image: Image.Image) -> str | None:
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        return None
    buffer = BytesIO()
    image.convert("L").save(buffer, format="PNG")
    try:
        done = subprocess.run([tesseract, "stdin", "stdout"], input=buffer.getvalue(),
                              capture_output=True, timeout=_OCR_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def read_back_scan(data: bytes, *, manifest: Manifest, style_id: str, language: str,
                   device_keys: Sequence[VerifyKey]) -> ReadBack:
    """Read one scanned ballot record (PDF or image bytes); see the module docstring."""
    if len(data) > MAX_SCAN_BYTES:
        raise EncodingError(f"a scan is at most {MAX_SCAN_BYTES} bytes", "scan")
    image, text = _pages(data)
    problems: list[str] = []
    card_ok = False
    ballot_id = None
    codes = read_qr_codes(image)
    if len(codes) != 1:
        problems.append(f"the scanner read {len(codes)} QR codes, not one")
    else:
        try:
            record = decode_ballot_record(codes[0], election_id=manifest.election_id,
                                          device_keys=device_keys)
        except PaperchainError as err:
            problems.append(f"the card's QR code: {err.reason}")
        else:
            ballot_id = str(record.ballot_id)
            card_ok = record.style_id == style_id
            if not card_ok:
                problems.append("the card is of another ballot style")
    source = "pdf-text" if text is not None else "ocr"
    if text is None:
        text = _ocr(image)
        if text is None:
            source = "none"
            problems.append("this kiosk cannot read printed text from an image (no OCR)")
    contests = _match(_squeeze(text or ""), manifest, style_id, language)
    return ReadBack(source, card_ok, ballot_id, contests, tuple(problems))


def _match(text: str, manifest: Manifest, style_id: str, language: str
           ) -> tuple[ReadBackContest, ...]:
    """Contest by contest, which of its labels the text shows before the next title."""
    # The phrase and its English line (printed beside it): OCR may garble one of them.
    no_selection = [_squeeze(line) for line in paper_strings(language).no_selection.lines()]
    on_style = [contest for _, contest in manifest.contests_of_style(style_id)]
    starts: list[int | None] = []
    cursor = 0
    for contest in on_style:
        at = text.find(_squeeze(contest.title.get(language)), cursor)
        starts.append(None if at < 0 else at)
        if at >= 0:
            cursor = at + len(_squeeze(contest.title.get(language)))
    results = []
    for position, contest in enumerate(on_style):
        title = contest.title.get(language)
        start = starts[position]
        if start is None:
            results.append(ReadBackContest(contest.id, title, contest.vote_for, False, (), False))
            continue
        later = [s for s in starts[position + 1:] if s is not None]
        segment = text[start + len(_squeeze(title)): later[0] if later else len(text)]
        found: list[tuple[int, str]] = []
        # Longest labels first, each blanked out once found, so "Ann Lee" is not also "Ann".
        for selection in sorted(contest.selections,
                                key=lambda s: -len(s.label.get(language))):
            label = _squeeze(selection.label.get(language))
            at = segment.find(label)
            if at >= 0:
                found.append((at, selection.label.get(language)))
                segment = segment[:at] + " " * len(label) + segment[at + len(label):]
        found.sort()
        results.append(ReadBackContest(contest.id, title, contest.vote_for, True,
                                       tuple(label for _, label in found),
                                       not found and any(p in segment for p in no_selection)))
    return tuple(results)
