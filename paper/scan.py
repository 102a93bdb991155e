"""Reading paper back: QR codes from PDFs and scans, the ID-level manifest, the self-check.

* ``scan_files`` reads every page of PDFs (rendered with pypdfium2) or images
  (PNG/JPEG/TIFF, multi-page TIFF included) and yields one ``PageResult`` per page:
  the decoded and verified payload's fields, or why not.
* ``build_manifest`` turns pages in box order into the ID-level manifest
  (batch, position, ballot ID) and flags what an official must look at: repeated IDs,
  other elections' cards, TEST cards in a real election (and real cards in a test),
  DUPLICATE remakes, SPOILED cards, receipts in the box, unreadable QRs (with the
  printed ID typed in by hand, checked by its check symbol).
* ``self_check_ballot_record`` is the kiosk's check before a card is released.

Nothing here outputs anything about votes: a card's QR holds none, and the text
layer is only ever compared with what the kiosk already knows, never reported.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pypdfium2
import zxingcpp
from PIL import Image, ImageOps, ImageSequence

from e2e.errors import (
    EncodingError,
    InputError,
    InvalidSignature,
    PaperchainError,
    VerificationError,
)
from e2e.signing import VerifyKey
from paper.ids import BallotId, format_tracking_code
from paper.layout import (
    DEFAULT_FONTS,
    LETTER,
    CardFormat,
    FontFiles,
    PrintedText,
    TextRole,
    ballot_record_texts,
)
from paper.payload import (
    BallotRecordPayload,
    ForeignElection,
    PayloadKind,
    ReceiptPayload,
    decode_ballot_record,
    decode_receipt,
    parse_payload,
    payload_kind,
)
from paper.views import BallotRecordView

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PAGE_PIXELS",
    "CardFlag",
    "DeviceFault",
    "ManifestEntry",
    "PageResult",
    "PaperManifest",
    "ScanContext",
    "build_manifest",
    "count_pages",
    "read_qr_codes",
    "scan_files",
    "scan_image",
    "self_check_ballot_record",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
DEFAULT_DPI = 150
# A rendered page may have at most this many pixels (a Letter page at 600 dpi has 34
# million): a PDF page of many square metres would otherwise take gigabytes to render.
# Images are held to Pillow's own limit (DecompressionBombError, twice MAX_IMAGE_PIXELS).
MAX_PAGE_PIXELS = 64_000_000


class DeviceFault(VerificationError):
    """The printed page is not what the voter chose; the kiosk must stop release."""


@dataclass(frozen=True, slots=True)
class ScanContext:
    """What a scanner trusts: the election, its registered keys, and whether it is a test.

    ``operator_key`` is needed only to verify receipts' inclusion promises.
    ``recorded_remakes`` — (ballot ID, remake number) → ballot style of every
    ``card-remake`` entry on the ledger — if given, makes a DUPLICATE card without its
    entry (or naming another style) invalid: a remake nobody recorded.
    """

    election_id: str
    device_keys: tuple[VerifyKey, ...]
    remake_keys: tuple[VerifyKey, ...] = ()
    operator_key: VerifyKey | None = None
    test_election: bool = False
    recorded_remakes: frozenset[tuple[tuple[BallotId, int], str]] | None = None


@dataclass(frozen=True, slots=True)
class PageResult:
    """One scanned page: ``ok`` with the decoded ``fields``, or not ok with ``error``.

    ``kind`` is "ballot-record", "receipt" or None (no readable payload). ``fields`` are
    also filled for a well-formed card that fails a check (another election's, say),
    so an official can see what it claims; ``payload`` is set only if it verified.
    """

    file: str
    page: int
    ok: bool
    kind: str | None
    fields: Mapping[str, str | int | bool] = field(default_factory=dict)
    error: str | None = None
    problem: str | None = None
    payload: BallotRecordPayload | ReceiptPayload | None = None

    def to_json(self) -> dict[str, object]:
        """The JSON object of ``paperchain scan --json`` (one per line).

        ``problem`` (with ``error``) is a short code: unreadable, invalid, foreign,
        wrong-kind, test, not-test.
        """
        out: dict[str, object] = {"file": self.file, "page": self.page, "ok": self.ok,
                                  "kind": self.kind, **self.fields}
        if self.error is not None:
            out["error"] = self.error
            out["problem"] = self.problem
        return out


# ---------------------------------------------------------------------------- reading


def read_qr_codes(image: Image.Image) -> list[bytes]:
    """The raw bytes of every QR code zxing-cpp finds, trying harder if the first pass fails.

    Passes: local-average binarisation (best under uneven lighting), then a global
    histogram (best for blurred prints), then both on an upscaled copy — small modules
    in a low-dpi scan decode better with more pixels to sample.
    """
    gray = ImageOps.grayscale(image) if image.mode != "L" else image
    binarizers = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram)
    for upscale in (1, 2):
        candidate = gray if upscale == 1 else gray.resize(
            (gray.width * upscale, gray.height * upscale), Image.Resampling.BICUBIC)
        for binarizer in binarizers:
            found = zxingcpp.read_barcodes(
                candidate,
                formats=zxingcpp.BarcodeFormat.QRCode,
                try_rotate=True,
                try_downscale=True,
                try_invert=False,
                binarizer=binarizer,
            )
            codes = [barcode.bytes for barcode in found if barcode.valid]
            if codes:
                return list(dict.fromkeys(codes))  # one QR found twice is one QR
    return []


# PDFium keeps what it parsed for every page visited (fonts above all: each chunk of a
# joined card file has its own subsets) until the document is closed, about 20 kB a
# page; reopening the file every so many pages keeps a 10,000-page scan's memory flat.
_REOPEN_PAGES = 50


def _pdf_pages(path_or_bytes: Path | bytes, dpi: int) -> Iterator[Image.Image]:
    """Render PDF pages one at a time (memory flat in page count)."""
    document = pypdfium2.PdfDocument(path_or_bytes)
    try:
        count = len(document)
        for index in range(count):
            if index and index % _REOPEN_PAGES == 0:
                document.close()
                document = pypdfium2.PdfDocument(path_or_bytes)
                if len(document) != count:
                    raise InputError("the file changed while it was being scanned")
            page = document[index]
            try:
                width, height = page.get_size()
                if width * height * (dpi / 72) ** 2 > MAX_PAGE_PIXELS:
                    raise InputError(
                        f"page {index + 1} is {width / 72 * 25.4:.0f} × "
                        f"{height / 72 * 25.4:.0f} mm, too large to be a card or a receipt "
                        f"at {dpi} dpi")
                yield page.render(scale=dpi / 72, grayscale=True).to_pil()
            finally:
                page.close()
    finally:
        document.close()


def _image_pages(path: Path) -> Iterator[Image.Image]:
    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            yield frame.convert("L")


def scan_image(
    image: Image.Image,
    context: ScanContext,
    *,
    file: str = "-",
    page: int = 1,
    expect: PayloadKind = PayloadKind.BALLOT_RECORD,
) -> PageResult:
    """Decode and verify the one QR code on a page image."""
    codes = read_qr_codes(image)
    if not codes:
        return PageResult(file, page, False, None, error="no readable QR code",
                          problem="unreadable")
    if len(codes) > 1:
        return PageResult(file, page, False, None,
                          error=f"{len(codes)} different QR codes on one page",
                          problem="unreadable")
    return _check_payload(codes[0], context, file, page, expect)


def scan_files(
    paths: Iterable[str | Path],
    context: ScanContext,
    *,
    dpi: int = DEFAULT_DPI,
    expect: PayloadKind = PayloadKind.BALLOT_RECORD,
) -> Iterator[PageResult]:
    """One result per page of each file, in order; PDFs are rendered at ``dpi``."""
    for raw in paths:
        path = Path(raw)
        pages = _pdf_pages(path, dpi) if _is_pdf(path) else _image_pages(path)
        try:
            for number, image in enumerate(pages, start=1):
                yield scan_image(image, context, file=str(path), page=number, expect=expect)
        except InputError as err:
            raise InputError(f"cannot read the file: {err.reason}", str(path)) from None
        except (OSError, pypdfium2.PdfiumError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the file: {err}", str(path)) from None


def _is_pdf(path: Path) -> bool:
    """True for a PDF, False for an image; refuse anything else by its suffix."""
    suffix = path.suffix.lower()
    if suffix != ".pdf" and suffix not in IMAGE_SUFFIXES:
        raise InputError(f"cannot scan {suffix or 'a file without suffix'}: expected a "
                         "PDF, PNG, JPEG or TIFF", str(path))
    return suffix == ".pdf"


def count_pages(paths: Iterable[str | Path]) -> int:
    """How many pages ``scan_files`` yields for ``paths`` (for a progress bar)."""
    total = 0
    for raw in paths:
        path = Path(raw)
        try:
            if _is_pdf(path):
                document = pypdfium2.PdfDocument(path)
                total += len(document)
                document.close()
            else:
                with Image.open(path) as image:
                    total += getattr(image, "n_frames", 1)
        except (OSError, pypdfium2.PdfiumError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the file: {err}", str(path)) from None
    return total


_KIND_NAME = {PayloadKind.BALLOT_RECORD: "ballot-record", PayloadKind.RECEIPT: "receipt"}


def _fields(payload: BallotRecordPayload | ReceiptPayload) -> dict[str, str | int | bool]:
    if isinstance(payload, BallotRecordPayload):
        return {
            "election_id": payload.election_id,
            "style_id": payload.style_id,
            "ballot_id": str(payload.ballot_id),
            "test": payload.test,
            "duplicate": payload.duplicate,
            "remake": payload.remake,
        }
    return {
        "election_id": payload.election_id,
        "tracking_code": format_tracking_code(payload.tracking_code),
        "status": payload.status.name,
        "test": payload.test,
        "ledger_index": payload.promise.index,
        "leaf_hash": payload.promise.leaf_hash.hex(),
    }


def _check_payload(
    data: bytes, context: ScanContext, file: str, page: int, expect: PayloadKind
) -> PageResult:
    try:
        kind = payload_kind(data)
        claimed = parse_payload(data)
    except EncodingError as err:
        return PageResult(file, page, False, None, error=f"bad payload: {err}", problem="invalid")
    name = _KIND_NAME[kind]
    fields = _fields(claimed)
    if kind is not expect:
        return PageResult(file, page, False, name, fields,
                          error=f"a {name.replace('-', ' ')} where a "
                                f"{_KIND_NAME[expect].replace('-', ' ')} was expected",
                          problem="wrong-kind")
    try:
        if kind is PayloadKind.BALLOT_RECORD:
            payload: BallotRecordPayload | ReceiptPayload = decode_ballot_record(
                data, election_id=context.election_id, device_keys=context.device_keys,
                remake_keys=context.remake_keys)
        else:
            if context.operator_key is None:
                raise InvalidSignature("no operator key given to verify the inclusion promise")
            payload = decode_receipt(data, election_id=context.election_id,
                                     device_keys=context.device_keys,
                                     operator_key=context.operator_key)
    except ForeignElection as err:
        return PageResult(file, page, False, name, fields, error=str(err), problem="foreign")
    except PaperchainError as err:
        return PageResult(file, page, False, name, fields, error=str(err), problem="invalid")
    if (isinstance(payload, BallotRecordPayload) and payload.duplicate
            and context.recorded_remakes is not None
            and ((payload.ballot_id, payload.remake), payload.style_id)
            not in context.recorded_remakes):
        return PageResult(file, page, False, name, fields,
                          error=f"DUPLICATE {payload.remake} of this ID has no card-remake "
                                "entry on the ledger (for this style)", problem="invalid")
    if payload.test and not context.test_election:
        return PageResult(file, page, False, name, fields, error="TEST card in a real election",
                          problem="test", payload=payload)
    if not payload.test and context.test_election:
        return PageResult(file, page, False, name, fields,
                          error="real (non-TEST) card in a test election", problem="not-test",
                          payload=payload)
    return PageResult(file, page, True, name, fields, payload=payload)


# ---------------------------------------------------------------------------- manifest


class CardFlag(StrEnum):
    """Why a card in the manifest needs an official's attention."""

    REPEATED_ID = "repeated-id"  # the ID occurs more than once in the manifest
    FOREIGN_ELECTION = "foreign-election"
    TEST_CARD = "test-card"  # a TEST card in a real election
    NOT_TEST_CARD = "not-test-card"  # a real card in a test election
    DUPLICATE_REMAKE = "duplicate-remake"  # a remake of a damaged card
    SPOILED = "spoiled"  # the ID of a challenged ballot's card
    UNREADABLE = "unreadable"  # no QR read; the ID (if any) was typed in by hand
    INVALID = "invalid"  # malformed payload or a signature no registered key made
    NOT_A_CARD = "not-a-card"  # a receipt in the ballot box


_PROBLEM_FLAGS = {
    "unreadable": CardFlag.UNREADABLE,
    "invalid": CardFlag.INVALID,
    "foreign": CardFlag.FOREIGN_ELECTION,
    "wrong-kind": CardFlag.NOT_A_CARD,
    "test": CardFlag.TEST_CARD,
    "not-test": CardFlag.NOT_TEST_CARD,
}


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One physical card: where it is (batch, position from 1) and its ballot ID."""

    batch: str
    position: int
    ballot_id: BallotId | None
    flags: frozenset[CardFlag]
    source: str  # "file:page", for finding the image again
    manual: bool = False  # the ID was typed from the print, not read from the QR
    style_id: str | None = None  # the ballot style its QR names, if read

    def to_json(self) -> dict[str, object]:
        """One row of the ID-level manifest (``paperchain scan --manifest-out``)."""
        return {"batch": self.batch, "position": self.position,
                "ballot_id": None if self.ballot_id is None else str(self.ballot_id),
                "style_id": self.style_id, "flags": sorted(f.value for f in self.flags),
                "source": self.source, "manual": self.manual}


@dataclass(frozen=True, slots=True)
class PaperManifest:
    """The ID-level manifest of the paper, in box order."""

    entries: tuple[ManifestEntry, ...]

    def flag_counts(self) -> dict[CardFlag, int]:
        counts: Counter[CardFlag] = Counter()
        for entry in self.entries:
            counts.update(entry.flags)
        return dict(counts)

    def flagged(self) -> tuple[ManifestEntry, ...]:
        return tuple(entry for entry in self.entries if entry.flags)


def build_manifest(
    batches: Iterable[tuple[str, Iterable[PageResult]]],
    *,
    spoiled: Collection[BallotId] = frozenset(),
    manual_ids: Mapping[tuple[str, int], str] | None = None,
) -> PaperManifest:
    """The ID-level manifest from each batch's pages in box order.

    ``manual_ids`` maps (batch, position) to the ID an official read off a card whose
    QR could not be read; it is parsed with its check symbol (a typo raises, naming the
    card) and the entry keeps the UNREADABLE flag, since no signature was checked. An ID
    typed for a (batch, position) that the scan does not have is refused, not ignored.
    """
    manual_ids = manual_ids or {}
    spoiled = frozenset(spoiled)
    entries: list[ManifestEntry] = []
    for batch, pages in batches:
        for position, result in enumerate(pages, start=1):
            flags: set[CardFlag] = set()
            ballot_id: BallotId | None = None
            manual = False
            if result.problem is not None:
                flags.add(_PROBLEM_FLAGS.get(result.problem, CardFlag.INVALID))
            payload = result.payload
            style_id: str | None = None
            if isinstance(payload, BallotRecordPayload):
                ballot_id = payload.ballot_id
                style_id = payload.style_id
                if payload.duplicate:
                    flags.add(CardFlag.DUPLICATE_REMAKE)
            elif result.kind == "ballot-record" and "ballot_id" in result.fields:
                # A foreign or badly signed card: keep what it claims, to find it again.
                ballot_id = BallotId.parse(result.fields["ballot_id"])
                if result.fields.get("duplicate"):
                    flags.add(CardFlag.DUPLICATE_REMAKE)
            typed = manual_ids.get((batch, position))
            if typed is not None:
                if CardFlag.UNREADABLE not in flags:
                    raise EncodingError("an ID was typed for a card whose QR was read",
                                        f"batch {batch!r} position {position}")
                ballot_id = BallotId.parse(typed, f"batch {batch!r} position {position}")
                manual = True
            if (ballot_id is not None and ballot_id in spoiled
                    and CardFlag.FOREIGN_ELECTION not in flags):
                flags.add(CardFlag.SPOILED)
            entries.append(ManifestEntry(batch, position, ballot_id, frozenset(flags),
                                         f"{result.file}:{result.page}", manual, style_id))
    stray = sorted(set(manual_ids) - {(e.batch, e.position) for e in entries}, key=repr)
    if stray:
        batch, position = stray[0]
        raise EncodingError("an ID was typed for a card that is not in the scan",
                            f"batch {batch!r} position {position}")
    # Only this election's cards count toward repeats; a foreign card's ID is its own.
    counted = Counter(
        e.ballot_id for e in entries
        if e.ballot_id is not None and CardFlag.FOREIGN_ELECTION not in e.flags
    )
    return PaperManifest(tuple(
        ManifestEntry(e.batch, e.position, e.ballot_id, e.flags | {CardFlag.REPEATED_ID},
                      e.source, e.manual, e.style_id)
        if e.ballot_id is not None and CardFlag.FOREIGN_ELECTION not in e.flags
        and counted[e.ballot_id] > 1 else e
        for e in entries
    ))


# ---------------------------------------------------------------------------- self-check


def self_check_ballot_record(
    pdf: bytes,
    expected: BallotRecordView,
    *,
    election_id: str,
    style_id: str,
    signer_key: VerifyKey,
    card: CardFormat = LETTER,
    fonts: FontFiles = DEFAULT_FONTS,
    dpi: int = DEFAULT_DPI,
) -> None:
    """Return None if the card PDF says exactly what the voter chose; else raise DeviceFault.

    1. The PDF has exactly one page; rendered at ``dpi`` it has exactly one QR code,
       which verifies under this printer's key (``signer_key``) for this election and
       names this style, this ballot ID, TEST iff test mode, the remake number.
    2. The text layer (pypdfium2's extraction) holds exactly the texts the layout
       plans for ``expected``, in order (compared without whitespace, which text
       extraction may add or drop between runs) — catching a drawing or font fault.
    3. Those texts say, contest by contest, exactly the titles, limits and choices of
       ``expected`` ("no selection" for none), the full ballot ID, and TEST stamps iff
       test mode — catching a planning fault. A fault at any step stops release.
    """
    try:
        document = pypdfium2.PdfDocument(pdf)
    except pypdfium2.PdfiumError as err:
        raise DeviceFault(f"the printed PDF does not open: {err}") from None
    try:
        if len(document) != 1:
            raise DeviceFault(f"a ballot record is one page, this PDF has {len(document)}")
        page = document[0]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        textpage = page.get_textpage()
        extracted = textpage.get_text_range()
        textpage.close()
        page.close()
    finally:
        document.close()
    payload = _check_card_qr(image, expected, election_id, style_id, signer_key)
    planned = ballot_record_texts(expected, payload, card=card, fonts=fonts)
    _compare_text_layer(extracted, planned)
    _check_texts_match_view(planned, expected)


def _check_card_qr(
    image: Image.Image,
    expected: BallotRecordView,
    election_id: str,
    style_id: str,
    signer_key: VerifyKey,
) -> BallotRecordPayload:
    codes = read_qr_codes(image)
    if len(codes) != 1:
        raise DeviceFault(f"the rendered card shows {len(codes)} readable QR codes, not 1")
    keys = (signer_key,)
    try:
        payload = decode_ballot_record(codes[0], election_id=election_id, device_keys=keys,
                                       remake_keys=keys)
    except PaperchainError as err:
        raise DeviceFault(f"the card's QR code is wrong: {err}") from None
    wanted = (style_id, expected.ballot_id, expected.test_mode, expected.remake)
    found = (payload.style_id, payload.ballot_id, payload.test, payload.remake)
    if found != wanted:
        raise DeviceFault(
            "the card's QR code names style/ID/TEST/remake "
            f"{found[0]!r}, {found[1]}, {found[2]}, {found[3]}; expected "
            f"{wanted[0]!r}, {wanted[1]}, {wanted[2]}, {wanted[3]}"
        )
    return payload


def _squeeze(text: str) -> str:
    return "".join(unicodedata.normalize("NFC", text).split())


def _compare_text_layer(extracted: str, planned: Iterable[PrintedText]) -> None:
    found = _squeeze(extracted.replace("\ufffe", "").replace("\x02", ""))
    wanted = _squeeze("".join(text.text for text in planned))
    if found == wanted:
        return
    at = next((i for i, (a, b) in enumerate(zip(found, wanted, strict=False)) if a != b),
              min(len(found), len(wanted)))
    raise DeviceFault(
        "the card's text layer differs from the voter's choices at character "
        f"{at}: printed …{found[max(0, at - 20):at + 20]!r}…, expected "
        f"…{wanted[max(0, at - 20):at + 20]!r}…"
    )


def _check_texts_match_view(planned: Iterable[PrintedText], view: BallotRecordView) -> None:
    """Rebuild contest → choices from the printed texts alone and compare with the view."""
    joined: dict[tuple[TextRole, int | None, int | None, int], list[str]] = {}
    stamps = 0
    remake_stamps: list[str] = []
    remake_stamp = f"{view.strings.duplicate_stamp.text} {view.remake}"
    ids: list[str] = []
    for text in planned:
        if text.role is TextRole.STAMP or text.role is TextRole.WATERMARK:
            stamps += view.strings.test_stamp.text in text.text
            if view.strings.duplicate_stamp.text in text.text:
                remake_stamps.append(text.text)
            continue
        if text.role is TextRole.BALLOT_ID:
            ids.append(text.text)
            continue
        if text.contest is None:
            continue
        if not 0 <= text.contest < len(view.contests):
            raise DeviceFault(f"the card prints a contest the ballot does not have ({text.text!r})")
        key = (text.role, text.contest, text.option, text.part)
        joined.setdefault(key, []).append(text.text)

    def said(role: TextRole, contest: int, option: int | None = None) -> tuple[str, ...]:
        return tuple(" ".join(joined.get((role, contest, option, part), ()))
                     for part in (0, 1) if (role, contest, option, part) in joined)

    for index, contest in enumerate(view.contests):
        where = f"contest {index + 1} ({contest.title.text})"
        if said(TextRole.CONTEST_TITLE, index) != contest.title.lines():
            raise DeviceFault("the contest title is not printed as it should be", where)
        limit = view.strings.vote_for
        limits = tuple(t.format(k=contest.vote_for) for t in
                       (limit.text, limit.english) if t is not None)
        if said(TextRole.VOTE_FOR, index) != tuple(dict.fromkeys(limits)):
            raise DeviceFault("the 'vote for' limit is not printed as it should be", where)
        options = {key[2] for key in joined if key[0] is TextRole.CHOICE and key[1] == index}
        if options != set(range(len(contest.chosen))):
            raise DeviceFault(
                f"{len(options)} choices printed where the voter made {len(contest.chosen)}",
                where)
        for option, label in enumerate(contest.chosen):
            if said(TextRole.CHOICE, index, option) != label.lines():
                raise DeviceFault(f"choice {option + 1} is not printed as chosen", where)
        has_none = bool(said(TextRole.NO_SELECTION, index))
        if has_none != (not contest.chosen):
            raise DeviceFault("'no selection' is printed wrongly", where)
    if str(view.ballot_id) not in ids:
        raise DeviceFault("the full ballot ID is not printed")
    if bool(stamps) != view.test_mode:
        raise DeviceFault("TEST stamps printed on a real card" if stamps
                          else "a TEST card without TEST stamps")
    if remake_stamps != ([remake_stamp] if view.remake else []):
        raise DeviceFault(f"a remake must be stamped {remake_stamp!r}, an original never")
