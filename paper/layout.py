"""Printed pages: ballot record cards and receipts (the only module importing reportlab).

Every page is first *planned* — a list of positioned texts, rules, boxes and QR
symbols — and then drawn from the plan. The plan's texts, in drawing order, are the
page's text layer; ``ballot_record_texts`` returns them so the kiosk's self-check
(``paper.scan.self_check_ballot_record``) can compare what the PDF says with what the
voter chose, text by text.

Legibility is a hard limit, not a goal: type never goes below the ``MINIMUM`` sizes
(choices 12 pt, everything else 8 pt or more), a word is never broken, and every
character must be in the font (a missing glyph would print as a blank or a box).
A style that cannot be printed on one card under those rules is refused by
``check_style_fits`` with the reason, so the manifest can refuse it before election day.

PDFs are made with reportlab's ``invariant=1`` and joined by ``paper.pdfstream``,
which writes no ``/Info`` dictionary and no ``/ID``: no time, no ballot ID, no
producer string in the file's metadata. ``PaperWriter`` streams any number of pages
to one file with memory flat in page count.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import reportlab
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from e2e.errors import ManifestError, StateError, UsageError
from paper.ids import BallotId, format_tracking_code
from paper.payload import BallotRecordPayload, ReceiptStatus
from paper.pdfstream import PdfStreamWriter
from paper.qr import MODULE_MM, QUIET_ZONE_MODULES, ErrorLevel, QrMatrix, make_qr
from paper.reports import (
    PageGeometry,
    ReportDocument,
    ReportPlot,
    ReportTable,
    TextMetrics,
    document_texts,
    draw_document,
)
from paper.views import (
    BallotRecordView,
    ContestView,
    Label,
    ReceiptView,
    StyleView,
)

__all__ = [
    "A4",
    "DEFAULT_FONTS",
    "LETTER",
    "MINIMUM",
    "PREFERRED",
    "RECEIPT_ROLL",
    "CardFormat",
    "FontFiles",
    "LegibilityError",
    "PaperWriter",
    "PrintedText",
    "ReportDocument",
    "ReportPlot",
    "ReportTable",
    "TextRole",
    "TypeSizes",
    "ballot_record_texts",
    "check_style_fits",
    "render_ballot_record",
    "render_receipt",
    "render_report",
]


class LegibilityError(ManifestError):
    """A page cannot be printed legibly: too much text for one card at the minimum type
    sizes, a word wider than a column, or a character the font lacks."""


@dataclass(frozen=True, slots=True)
class CardFormat:
    """A page size and margin, in points (1/72 inch)."""

    name: str
    width: float
    height: float
    margin: float


LETTER = CardFormat("US Letter", 8.5 * 72, 11 * 72, 0.5 * 72)
A4 = CardFormat("A4", 210 * mm, 297 * mm, 12 * mm)
# 80 mm thermal roll, 72 mm printable; the height grows with the content.
RECEIPT_ROLL = CardFormat("80 mm roll", 80 * mm, 0, 4 * mm)


@dataclass(frozen=True, slots=True)
class TypeSizes:
    """Type sizes in points for the parts of a contest that scale to fit."""

    choice: float
    choice_english: float
    title: float
    title_english: float
    vote_for: float

    def between(self, other: TypeSizes, fraction: float) -> TypeSizes:
        """Sizes ``fraction`` of the way from self to ``other``."""
        mine, theirs = astuple(self), astuple(other)
        return TypeSizes(*(a + (b - a) * fraction for a, b in zip(mine, theirs, strict=True)))


# Choices are the point of the card: large type, never below 12 pt. Titles and
# instructions may shrink to 9 and 8 pt, the smallest we print anywhere.
PREFERRED = TypeSizes(choice=16, choice_english=12, title=12, title_english=10, vote_for=10)
MINIMUM = TypeSizes(choice=12, choice_english=10, title=9, title_english=8, vote_for=8)
_SHRINK_STEPS = 8
_MAX_COLUMNS = 3
_LEADING = 1.22


@dataclass(frozen=True, slots=True)
class FontFiles:
    """TrueType files for regular and bold text; embedded (subset) in every PDF.

    The default is Bitstream Vera, shipped with reportlab so every machine has it; it
    covers Western European languages. Other scripts need other files (e.g. Noto), and
    ``check_style_fits`` refuses text the chosen font cannot show.
    """

    regular: Path
    bold: Path


_REPORTLAB_FONTS = Path(reportlab.__file__).parent / "fonts"
DEFAULT_FONTS = FontFiles(_REPORTLAB_FONTS / "Vera.ttf", _REPORTLAB_FONTS / "VeraBd.ttf")


class TextRole(StrEnum):
    """What a printed text is, for the self-check's comparison with the voter's choices."""

    HEADER = "header"
    NOTICE = "notice"
    BALLOT_ID = "ballot-id"
    STAMP = "stamp"
    WATERMARK = "watermark"
    CONTEST_TITLE = "contest-title"
    VOTE_FOR = "vote-for"
    CHOICE = "choice"
    NO_SELECTION = "no-selection"


@dataclass(frozen=True, slots=True)
class PrintedText:
    """One line of printed text, in drawing order (= text-layer order).

    ``contest`` and ``option`` index the view's contests and chosen labels; ``part``
    is 0 for the reader's language and 1 for the English version. A label that wraps
    is several PrintedTexts with the same indices.
    """

    role: TextRole
    text: str
    contest: int | None = None
    option: int | None = None
    part: int = 0


# ---------------------------------------------------------------------------- fonts


@dataclass(frozen=True, slots=True)
class _Fonts:
    regular: str
    bold: str
    glyphs: frozenset[int]


_REGISTERED: dict[Path, str] = {}


def _register(path: Path) -> tuple[str, frozenset[int]]:
    path = Path(path).resolve()
    name = _REGISTERED.get(path)
    if name is None:
        # reportlab's registry is global: name fonts by file so two files never clash.
        name = "PC-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        try:
            pdfmetrics.registerFont(TTFont(name, str(path)))
        except Exception as err:  # reportlab raises bare TTFError/OSError variants
            raise UsageError(f"cannot load font {path}: {err}") from None
        _REGISTERED[path] = name
    face = pdfmetrics.getFont(name).face
    return name, frozenset(face.charToGlyph)


def _fonts(files: FontFiles) -> _Fonts:
    regular, glyphs_regular = _register(files.regular)
    bold, glyphs_bold = _register(files.bold)
    return _Fonts(regular, bold, glyphs_regular & glyphs_bold)


def _check_glyphs(fonts: _Fonts, texts: Iterable[str]) -> None:
    for text in texts:
        missing = sorted({c for c in text if not c.isspace() and ord(c) not in fonts.glyphs})
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            raise LegibilityError(f"the font cannot show {shown}", repr(text))


def _width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


# ---------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class _Text:
    x: float
    y: float
    font: str
    size: float
    printed: PrintedText
    align: str = "left"
    angle: float = 0.0
    gray: float = 0.0


@dataclass(frozen=True, slots=True)
class _Rule:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float


@dataclass(frozen=True, slots=True)
class _Box:
    x: float
    y: float
    w: float
    h: float
    width: float


@dataclass(frozen=True, slots=True)
class _Qr:
    x: float  # lower-left corner of the symbol, quiet zone excluded
    y: float
    module: float
    matrix: QrMatrix


_Op = _Text | _Rule | _Box | _Qr


@dataclass(frozen=True, slots=True)
class _Page:
    width: float
    height: float
    ops: tuple[_Op, ...]

    def texts(self) -> tuple[PrintedText, ...]:
        return tuple(op.printed for op in self.ops if isinstance(op, _Text))


class _Wider(Exception):
    """A word is wider than the room it has (internal: the fit tries something else)."""

    def __init__(self, word: str) -> None:
        super().__init__(word)
        self.word = word


def _wrap(
    text: str, font: str, size: float, width: float, *, break_words: bool = False
) -> list[str]:
    """Greedy word wrap at spaces; a word never breaks unless ``break_words``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if _width(word, font, size) > width:
            if not break_words:
                raise _Wider(word)
            # Only for URLs and contacts on receipts, never for anything a voter chose:
            # break after a slash where possible, else anywhere.
            pieces = _break_word(word, font, size, width)
            if current:
                lines.append(current)
                current = ""
            lines.extend(pieces[:-1])
            word = pieces[-1]
        candidate = f"{current} {word}" if current else word
        if current and _width(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _break_word(word: str, font: str, size: float, width: float) -> list[str]:
    """Split a word too wide for a line: after a slash where possible, else anywhere."""
    pieces: list[str] = []
    current = ""
    for part in re.split(r"(?<=/)", word):
        if current and _width(current + part, font, size) > width:
            pieces.append(current)
            current = ""
        current += part
        while _width(current, font, size) > width:
            cut = len(current) - 1
            while cut > 1 and _width(current[:cut], font, size) > width:
                cut -= 1
            pieces.append(current[:cut])
            current = current[cut:]
    if current:
        pieces.append(current)
    return pieces


class _Flow:
    """Stacks text lines downwards from ``top``, collecting ops (coordinates relative)."""

    def __init__(self, x: float, width: float, top: float = 0.0) -> None:
        self.x = x
        self.width = width
        self.y = top
        self.ops: list[_Op] = []

    def lines(
        self,
        text: str,
        font: str,
        size: float,
        printed: PrintedText,
        *,
        indent: float = 0.0,
        reserve: float = 0.0,
        align: str = "left",
        break_words: bool = False,
    ) -> None:
        room = self.width - indent - reserve
        for line in _wrap(text, font, size, room, break_words=break_words):
            self.y -= size * _LEADING
            x = self.x + indent
            if align == "center":
                x = self.x + self.width / 2
            self.ops.append(_Text(x, self.y + 0.22 * size, font, size, replace(printed, text=line),
                                  align=align))

    def label(
        self,
        label: Label,
        fonts: tuple[str, str],
        sizes: tuple[float, float],
        role: TextRole,
        *,
        contest: int | None = None,
        option: int | None = None,
        indent: float = 0.0,
        prefix: tuple[str, str] = ("", ""),
        align: str = "left",
        break_words: bool = False,
    ) -> None:
        """A label's line(s): reader's language in ``fonts[0]``/``sizes[0]``, then English."""
        for part, text in enumerate(label.lines()):
            self.lines(
                prefix[part] + text,
                fonts[part],
                sizes[part],
                PrintedText(role, prefix[part] + text, contest, option, part),
                indent=indent,
                align=align,
                break_words=break_words,
            )

    def gap(self, points: float) -> None:
        self.y -= points


def _shift(ops: Sequence[_Op], dx: float, dy: float) -> list[_Op]:
    moved: list[_Op] = []
    for op in ops:
        if isinstance(op, _Text | _Box | _Qr):
            moved.append(replace(op, x=op.x + dx, y=op.y + dy))
        else:
            moved.append(replace(op, x1=op.x1 + dx, y1=op.y1 + dy, x2=op.x2 + dx, y2=op.y2 + dy))
    return moved


def _vote_for(view_strings: Label, k: int) -> Label:
    english = view_strings.english.format(k=k) if view_strings.english else None
    return Label(view_strings.text.format(k=k), english)


# ---------------------------------------------------------------------------- ballot record


def _contest_block(
    view: BallotRecordView, index: int, contest: ContestView, fonts: _Fonts, sizes: TypeSizes,
    width: float,
) -> tuple[list[_Op], float]:
    """A contest's ops relative to its top-left corner, and its height."""
    flow = _Flow(0.0, width)
    flow.gap(4)
    stamp = view.strings.test_stamp.text
    reserve = _width(stamp, fonts.bold, sizes.title) + 8 if view.test_mode else 0.0
    for part, text in enumerate(contest.title.lines()):
        font, size = (
            (fonts.bold, sizes.title) if part == 0 else (fonts.regular, sizes.title_english)
        )
        flow.lines(text, font, size, PrintedText(TextRole.CONTEST_TITLE, text, index, None, part),
                   reserve=reserve if part == 0 else 0.0)
        if part == 0 and view.test_mode:
            # Right of the title's first line, and drawn after it: text extraction reads
            # a line left to right, and the self-check compares in drawing order.
            first = next(op for op in flow.ops if isinstance(op, _Text))
            flow.ops.insert(flow.ops.index(first) + 1, _Text(
                width, first.y, fonts.bold, sizes.title,
                PrintedText(TextRole.STAMP, stamp, index), align="right"))
    flow.label(_vote_for(view.strings.vote_for, contest.vote_for),
               (fonts.regular, fonts.regular), (sizes.vote_for, sizes.vote_for),
               TextRole.VOTE_FOR, contest=index)
    flow.gap(3)
    indent = 10.0
    if contest.chosen:
        for option, label in enumerate(contest.chosen):
            flow.label(label, (fonts.bold, fonts.regular), (sizes.choice, sizes.choice_english),
                       TextRole.CHOICE, contest=index, option=option, indent=indent)
            flow.gap(2)
    else:
        flow.label(view.strings.no_selection, (fonts.regular, fonts.regular),
                   (sizes.choice, sizes.choice_english), TextRole.NO_SELECTION,
                   contest=index, indent=indent)
        flow.gap(2)
    flow.gap(4)
    flow.ops.insert(0, _Rule(0.0, 0.0, width, 0.0, 0.6))
    return flow.ops, -flow.y


def _record_header(
    view: BallotRecordView, payload: BallotRecordPayload, card: CardFormat, fonts: _Fonts,
    matrix: QrMatrix,
) -> tuple[list[_Op], float]:
    """Header ops (absolute coordinates) and the y where the contests start."""
    module = MODULE_MM * mm
    symbol = matrix.size * module
    qr_box = symbol + 2 * QUIET_ZONE_MODULES * module
    left = card.margin
    top = card.height - card.margin
    width = card.width - 2 * card.margin
    text_width = width - qr_box - 6
    flow = _Flow(left, text_width, top)
    bold, regular = fonts.bold, fonts.regular
    flow.label(view.election_name, (bold, regular), (15, 11), TextRole.HEADER)
    flow.label(view.jurisdiction, (regular, regular), (11, 9), TextRole.HEADER)
    flow.label(view.date, (regular, regular), (11, 9), TextRole.HEADER)
    style = view.strings.ballot_style
    flow.label(
        view.style_label, (regular, regular), (11, 9), TextRole.HEADER,
        prefix=(f"{style.text}: ", f"{style.english}: " if style.english else ""),
    )
    flow.gap(6)
    flow.label(view.strings.vote_of_record, (bold, regular), (12, 10), TextRole.NOTICE)
    ops: list[_Op] = list(flow.ops)
    qr_x = left + width - qr_box + QUIET_ZONE_MODULES * module
    qr_y = top - qr_box + QUIET_ZONE_MODULES * module
    ops.append(_Qr(qr_x, qr_y, module, matrix))
    bottom = min(flow.y, top - qr_box)
    if view.test_mode:
        # Below the quiet zone, which stays blank.
        ops.append(_Text(qr_x + matrix.size * module / 2, top - qr_box - 11, bold, 11,
                         PrintedText(TextRole.STAMP, view.strings.test_stamp.text),
                         align="center"))
        bottom = min(flow.y, top - qr_box - 14)
    # Stamps: in test mode TEST beside the QR's foot; a remake says DUPLICATE and which.
    stamps = []
    if view.test_mode:
        stamps.append(view.strings.test_stamp.text)
    if view.remake:
        stamps.append(f"{view.strings.duplicate_stamp.text} {view.remake}")
    y = bottom - 4
    x = left
    for stamp in stamps:
        w = _width(stamp, bold, 14) + 12
        ops.append(_Box(x, y - 22, w, 20, 1.5))
        ops.append(_Text(x + 6, y - 17, bold, 14, PrintedText(TextRole.STAMP, stamp)))
        x += w + 8
    if stamps:
        y -= 26
    id_flow = _Flow(left, width, y)
    id_flow.label(view.strings.ballot_id, (regular, regular), (9, 8), TextRole.BALLOT_ID)
    printed_id = str(view.ballot_id)
    id_flow.lines(printed_id, bold, 15, PrintedText(TextRole.BALLOT_ID, printed_id))
    id_flow.gap(6)
    ops.extend(id_flow.ops)
    ops.append(_Rule(left, id_flow.y, left + width, id_flow.y, 1.5))
    return ops, id_flow.y - 2


def _plan_record(
    view: BallotRecordView, payload: BallotRecordPayload, card: CardFormat, fonts: _Fonts,
) -> _Page:
    if (payload.ballot_id, payload.test, payload.remake) != (
        view.ballot_id, view.test_mode, view.remake
    ):
        raise UsageError("the QR payload and the printed view disagree (ID, TEST or DUPLICATE)")
    _check_glyphs(fonts, _record_strings(view))
    matrix = make_qr(payload.to_bytes(), ErrorLevel.Q)
    header, body_top = _record_header(view, payload, card, fonts, matrix)
    left = card.margin
    width = card.width - 2 * card.margin
    footer = 20.0
    height = body_top - card.margin - footer
    placed = _fit_contests(view, fonts, width, height)
    ops: list[_Op] = []
    if view.test_mode:
        # Drawn first so it lies under everything; light enough not to hide a word.
        ops.append(_Text(card.width / 2, (body_top + card.margin) / 2, fonts.bold, 150,
                         PrintedText(TextRole.WATERMARK, view.strings.test_stamp.text),
                         align="center", angle=35, gray=0.88))
    ops.extend(header)
    ops.extend(_shift(placed, left, body_top))
    if view.test_mode:
        stamp = view.strings.test_stamp.text
        ops.append(_Text(card.width / 2, card.margin, fonts.bold, 11,
                         PrintedText(TextRole.STAMP, f"{stamp} — {stamp} — {stamp}"),
                         align="center"))
    return _Page(card.width, card.height, tuple(ops))


def _fit_contests(view: BallotRecordView, fonts: _Fonts, width: float, height: float) -> list[_Op]:
    """Contest blocks at the largest type that fits, in 1 to 3 columns, or raise why not."""
    gutter = 14.0
    widest_word = ""
    needed = 0.0
    for step in range(_SHRINK_STEPS + 1):
        sizes = PREFERRED.between(MINIMUM, step / _SHRINK_STEPS)
        for columns in range(1, _MAX_COLUMNS + 1):
            column_width = (width - (columns - 1) * gutter) / columns
            try:
                blocks = [
                    _contest_block(view, i, contest, fonts, sizes, column_width)
                    for i, contest in enumerate(view.contests)
                ]
            except _Wider as err:
                widest_word = err.word
                continue
            placed = _columns(blocks, columns, column_width + gutter, height)
            if placed is not None:
                return placed
            needed = sum(h for _, h in blocks)
    if widest_word and not needed:
        raise LegibilityError(
            f"the word {widest_word!r} is wider than a column even at the minimum type sizes"
        )
    sizes = f"(choices {MINIMUM.choice:g} pt, titles {MINIMUM.title:g} pt)"
    if needed > _MAX_COLUMNS * height:
        why = (f"{len(view.contests)} contests need {needed / mm:.0f} mm of column at the "
               f"minimum type sizes {sizes}, and the card holds {_MAX_COLUMNS} × "
               f"{height / mm:.0f} mm")
    else:
        why = (f"{len(view.contests)} contests ({needed / mm:.0f} mm at the minimum type "
               f"sizes {sizes}) do not pack into {_MAX_COLUMNS} columns of "
               f"{height / mm:.0f} mm, a contest never being split between columns")
    raise LegibilityError(f"{why}; split the ballot style or print on a longer card")


def _columns(
    blocks: Sequence[tuple[list[_Op], float]], columns: int, pitch: float, height: float
) -> list[_Op] | None:
    """Place blocks top to bottom, column after column, in order; None if they overflow."""
    ops: list[_Op] = []
    column, y = 0, 0.0
    for block, block_height in blocks:
        if y + block_height > height:
            column, y = column + 1, 0.0
            if column >= columns or block_height > height:
                return None
        ops.extend(_shift(block, column * pitch, -y))
        y += block_height
    return ops


def _record_strings(view: BallotRecordView) -> list[str]:
    labels = [view.election_name, view.jurisdiction, view.date, view.style_label,
              view.strings.vote_of_record, view.strings.no_selection, view.strings.ballot_id,
              view.strings.ballot_style, view.strings.test_stamp, view.strings.duplicate_stamp,
              view.strings.vote_for]
    for contest in view.contests:
        labels.append(contest.title)
        labels.extend(contest.chosen)
    return [line for label in labels for line in label.lines()]


def ballot_record_texts(
    view: BallotRecordView,
    payload: BallotRecordPayload,
    *,
    card: CardFormat = LETTER,
    fonts: FontFiles = DEFAULT_FONTS,
) -> tuple[PrintedText, ...]:
    """The texts ``render_ballot_record`` prints for ``view``, in drawing order."""
    return _plan_record(view, payload, card, _fonts(fonts)).texts()


def check_style_fits(
    style: StyleView, *, card: CardFormat = LETTER, fonts: FontFiles = DEFAULT_FONTS
) -> None:
    """Return None if every ballot of ``style`` prints legibly on one card, else raise
    ``LegibilityError`` saying why.

    Tried on the worst case: TEST and DUPLICATE stamps, and in every contest the
    ``vote_for`` options that wrap to the most lines in the narrowest columns (or
    "no selection" if that is longer).
    """
    font_set = _fonts(fonts)
    texts = [line for label in (style.election_name, style.jurisdiction, style.date,
                                style.style_label) for line in label.lines()]
    for contest in style.contests:
        texts.extend(contest.title.lines())
        for option in contest.options:
            texts.extend(option.lines())
    _check_glyphs(font_set, texts)
    narrow = (card.width - 2 * card.margin - 2 * 14.0) / _MAX_COLUMNS

    def weight(label: Label) -> float:
        return sum(
            _width(line, font_set.bold, MINIMUM.choice) / narrow + 1 for line in label.lines()
        )

    contests = []
    for contest in style.contests:
        chosen = tuple(sorted(contest.options, key=weight, reverse=True)[: contest.vote_for])
        if not chosen or weight(style.strings.no_selection) > sum(map(weight, chosen)):
            chosen = ()
        contests.append(ContestView(contest.title, contest.vote_for, chosen))
    view = BallotRecordView(
        style.election_name, style.jurisdiction, style.date, style.style_label, style.language,
        tuple(contests), BallotId(b"\xff" * 16), True, 255, style.strings,
    )
    # The longest payload (QR version and so the header is largest); the signature bytes
    # are arbitrary but not all zero (see paper.qr).
    payload = BallotRecordPayload("x" * 63, "x" * 63, view.ballot_id, True, 255, b"\x5a" * 64)
    try:
        _plan_record(view, payload, card, font_set)
    except LegibilityError as err:
        raise err.at(f"ballot style {style.style_label.text!r}") from None


# ---------------------------------------------------------------------------- receipt


def _plan_receipt(view: ReceiptView, card: CardFormat, fonts: _Fonts) -> _Page:
    strings = view.strings
    payload = view.payload
    labels = [view.election_name, view.jurisdiction, view.date, view.complaint_contact,
              view.complaint_deadline, strings.receipt_title, strings.tracking_code, strings.cast,
              strings.challenged, strings.cast_explanation, strings.challenged_explanation,
              strings.no_choices, strings.ledger_position, strings.check_at, strings.complain,
              strings.test_stamp]
    _check_glyphs(fonts, [line for label in labels for line in label.lines()] + [view.check_url])
    bold, regular = fonts.bold, fonts.regular
    width = card.width - 2 * card.margin
    flow = _Flow(card.margin, width)
    extra: list[_Op] = []

    def stamp_box(text: str, size: float) -> None:
        w = _width(text, bold, size) + 14
        h = size * 1.5
        x = card.margin + (width - w) / 2
        flow.gap(4)
        extra.append(_Box(x, flow.y - h, w, h, 1.6))
        flow.gap(h)
        flow.ops.append(_Text(card.margin + width / 2, flow.y + 0.32 * h, bold, size,
                              PrintedText(TextRole.STAMP, text), align="center"))
        flow.gap(4)

    if payload.test:
        stamp_box(strings.test_stamp.text, 16)
    flow.label(strings.receipt_title, (bold, regular), (14, 10), TextRole.HEADER, align="center")
    flow.gap(4)
    flow.label(view.election_name, (bold, regular), (11, 9), TextRole.HEADER)
    flow.label(view.jurisdiction, (regular, regular), (9, 8), TextRole.HEADER)
    flow.label(view.date, (regular, regular), (9, 8), TextRole.HEADER)
    cast = payload.status is ReceiptStatus.CAST
    status = strings.cast if cast else strings.challenged
    stamp_box(status.text, 22)
    if status.english and status.english != status.text:
        flow.lines(status.english, regular, 10,
                   PrintedText(TextRole.HEADER, status.english, part=1), align="center")
    flow.label(strings.cast_explanation if cast else strings.challenged_explanation,
               (regular, regular), (9, 8), TextRole.NOTICE)
    flow.gap(6)
    flow.label(strings.tracking_code, (regular, regular), (9, 8), TextRole.HEADER)
    groups = format_tracking_code(payload.tracking_code).split(" ")
    # At most four groups a line, spread evenly so no group is left alone at the end.
    count = -(-len(groups) // 4)
    sizes = [len(groups) // count + (i < len(groups) % count) for i in range(count)]
    start = 0
    for size in sizes:
        line = " ".join(groups[start : start + size])
        start += size
        flow.lines(line, bold, 13, PrintedText(TextRole.HEADER, line))
    flow.gap(4)
    matrix = make_qr(payload.to_bytes(), ErrorLevel.Q)
    module = MODULE_MM * mm
    symbol = matrix.size * module
    flow.gap(QUIET_ZONE_MODULES * module + symbol)
    qr = _Qr(card.margin + (width - symbol) / 2, flow.y, module, matrix)
    flow.gap(QUIET_ZONE_MODULES * module)
    position = strings.ledger_position
    flow.label(Label(f"{position.text}: {payload.promise.index}",
                     f"{position.english}: {payload.promise.index}" if position.english else None),
               (regular, regular), (9, 8), TextRole.HEADER)
    flow.gap(4)
    flow.label(strings.no_choices, (bold, regular), (11, 9), TextRole.NOTICE)
    flow.gap(4)
    flow.label(strings.check_at, (regular, regular), (9, 8), TextRole.NOTICE)
    flow.lines(view.check_url, bold, 9, PrintedText(TextRole.NOTICE, view.check_url),
               break_words=True)
    flow.gap(4)
    flow.label(strings.complain, (regular, regular), (9, 8), TextRole.NOTICE)
    flow.label(view.complaint_contact, (bold, regular), (9, 8), TextRole.NOTICE,
               break_words=True)
    flow.label(view.complaint_deadline, (bold, regular), (9, 8), TextRole.NOTICE)
    if payload.test:
        stamp_box(strings.test_stamp.text, 16)
    height = -flow.y + 2 * card.margin
    ops = _shift([*extra, *flow.ops, qr], 0.0, height - card.margin)
    return _Page(card.width, height, tuple(ops))


# ---------------------------------------------------------------------------- drawing


def _draw(canvas: Canvas, page: _Page) -> None:
    canvas.setPageSize((page.width, page.height))
    for op in page.ops:
        if isinstance(op, _Text):
            canvas.saveState()
            canvas.setFillGray(op.gray)
            canvas.setFont(op.font, op.size)
            canvas.translate(op.x, op.y)
            canvas.rotate(op.angle)
            if op.align == "right":
                canvas.drawRightString(0, 0, op.printed.text)
            elif op.align == "center":
                canvas.drawCentredString(0, 0, op.printed.text)
            else:
                canvas.drawString(0, 0, op.printed.text)
            canvas.restoreState()
        elif isinstance(op, _Rule):
            canvas.setLineWidth(op.width)
            canvas.line(op.x1, op.y1, op.x2, op.y2)
        elif isinstance(op, _Box):
            canvas.setLineWidth(op.width)
            canvas.rect(op.x, op.y, op.w, op.h, stroke=1, fill=0)
        else:
            _draw_qr(canvas, op)


def _draw_qr(canvas: Canvas, qr: _Qr) -> None:
    """Dark modules as one filled path of row runs: vector, sharp, no seams."""
    size = qr.matrix.size
    quiet = QUIET_ZONE_MODULES * qr.module
    canvas.saveState()
    canvas.setFillGray(1.0)
    # The quiet zone is painted white so nothing drawn earlier (a watermark) shows in it.
    canvas.rect(qr.x - quiet, qr.y - quiet, size * qr.module + 2 * quiet,
                size * qr.module + 2 * quiet, stroke=0, fill=1)
    canvas.setFillGray(0.0)
    path = canvas.beginPath()
    for row, column, length in qr.matrix.dark_runs():
        path.rect(qr.x + column * qr.module, qr.y + (size - 1 - row) * qr.module,
                  length * qr.module, qr.module)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


class PaperWriter:
    """Streams pages (cards, receipts, reports, forms) into one PDF, memory flat in page
    count.

    Pages are drawn into a reportlab canvas of at most ``chunk_pages`` pages, which is
    then handed to ``PdfStreamWriter`` and dropped. Use as a context manager, or call
    ``close()``; the file is complete only after close.
    """

    def __init__(
        self, out: BinaryIO, *, fonts: FontFiles = DEFAULT_FONTS, chunk_pages: int = 50
    ) -> None:
        if chunk_pages < 1:
            raise UsageError("chunk_pages must be at least 1")
        self._fonts = _fonts(fonts)
        self._stream = PdfStreamWriter(out)
        self._chunk_pages = chunk_pages
        self._buffer: io.BytesIO | None = None
        self._canvas: Canvas | None = None
        self._in_chunk = 0
        self._closed = False

    @property
    def page_count(self) -> int:
        return self._stream.page_count + self._in_chunk

    def add_ballot_record(
        self, view: BallotRecordView, payload: BallotRecordPayload, *, card: CardFormat = LETTER,
        spoiled: bool = False,
    ) -> None:
        """A ballot record card; ``spoiled`` adds the SPOILED stamp a poll worker puts on
        a challenged ballot's paper (over the contests, clear of the QR code)."""
        page = _plan_record(view, payload, card, self._fonts)
        if spoiled:
            page = _stamp_spoiled(page, view, self._fonts)
        self._add(page)

    def add_receipt(self, view: ReceiptView, *, card: CardFormat = RECEIPT_ROLL) -> None:
        self._add(_plan_receipt(view, card, self._fonts))

    def add_document(self, document: ReportDocument, *, page: CardFormat = LETTER) -> int:
        """A report or form (``paper.reports``), from a new page; returns its page count."""
        if self._closed:
            raise StateError("the PDF is closed; no more pages can be added")
        _check_glyphs(self._fonts, document_texts(document))
        return draw_document(document, _WriterSink(self), _metrics(self._fonts),
                             PageGeometry(page.width, page.height, page.margin))

    def close(self) -> None:
        """Write the last pages and the PDF's trailer; the file is complete after this."""
        if self._closed:
            return
        self._flush()
        self._stream.close()
        self._closed = True

    def __enter__(self) -> PaperWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()

    def _open_canvas(self) -> Canvas:
        if self._closed:
            raise StateError("the PDF is closed; no more pages can be added")
        if self._canvas is None:
            self._buffer = io.BytesIO()
            # invariant=1: no creation time, and a fixed document ID seed (dropped anyway).
            self._canvas = Canvas(self._buffer, invariant=1, pageCompression=1)
        return self._canvas

    def _end_page(self) -> None:
        self._open_canvas().showPage()
        self._in_chunk += 1
        if self._in_chunk >= self._chunk_pages:
            self._flush()

    def _add(self, page: _Page) -> None:
        _draw(self._open_canvas(), page)
        self._end_page()

    def _flush(self) -> None:
        if self._canvas is None or self._buffer is None:
            return
        self._canvas.save()
        self._stream.append(self._buffer.getvalue())
        self._canvas = None
        self._buffer = None
        self._in_chunk = 0


def _stamp_spoiled(page: _Page, view: BallotRecordView, fonts: _Fonts) -> _Page:
    """The page with SPOILED across the contests: a poll worker's stamp, added after
    the kiosk printed and checked the card (a watermark role: not the voter's text)."""
    stamp = view.strings.spoiled_stamp.text
    size = 96.0
    while size > 24 and _width(stamp, fonts.bold, size) > 0.8 * page.height:
        size -= 4
    text = _Text(page.width / 2, page.height * 0.38, fonts.bold, size,
                 PrintedText(TextRole.WATERMARK, stamp), align="center", angle=55, gray=0.55)
    return _Page(page.width, page.height, (*page.ops, text))


def render_ballot_record(
    view: BallotRecordView,
    payload: BallotRecordPayload,
    *,
    card: CardFormat = LETTER,
    fonts: FontFiles = DEFAULT_FONTS,
) -> bytes:
    """The one-page PDF of a ballot record card (raises ``LegibilityError`` if it can't fit)."""
    out = io.BytesIO()
    with PaperWriter(out, fonts=fonts) as writer:
        writer.add_ballot_record(view, payload, card=card)
    return out.getvalue()


def render_receipt(
    view: ReceiptView, *, card: CardFormat = RECEIPT_ROLL, fonts: FontFiles = DEFAULT_FONTS
) -> bytes:
    """The one-page PDF of a receipt: CAST, or CHALLENGED (the challenge receipt)."""
    out = io.BytesIO()
    with PaperWriter(out, fonts=fonts) as writer:
        writer.add_receipt(view, card=card)
    return out.getvalue()


# ---------------------------------------------------------------------------- reports
#
# Reports and official forms are laid out by ``paper.reports`` on the canvas this
# module hands it (reportlab stays imported here only); they share the fonts and the
# chunked, streaming output of ``PaperWriter``.


class _WriterSink:
    """``paper.reports.PageSink`` over a PaperWriter: pages go into its current chunk."""

    def __init__(self, writer: PaperWriter) -> None:
        self._writer = writer

    @property
    def canvas(self) -> Canvas:
        return self._writer._open_canvas()

    def end_page(self) -> None:
        self._writer._end_page()


def _metrics(fonts: _Fonts) -> TextMetrics:
    return TextMetrics(fonts.regular, fonts.bold, _width)


def render_report(document: ReportDocument, *, fonts: FontFiles = DEFAULT_FONTS,
                  page: CardFormat = LETTER) -> bytes:
    """A report or form as a PDF (no time or ID in its metadata)."""
    out = io.BytesIO()
    with PaperWriter(out, fonts=fonts) as writer:
        writer.add_document(document, page=page)
    return out.getvalue()
