"""Reports and official forms: what they hold, and drawing them onto pages.

A ``ReportDocument`` is a title and sections in order — paragraphs, headings, tables
(whose header repeats on every page they run over, with blank rows to fill in by
hand), fields (printed values, or lines to write on), signature blocks, check lists,
a banner in large type, page breaks, and line plots. ``paper.forms`` builds the
official forms from these; ``paperchain.audit_report`` the audit report.

Drawing happens here, on a canvas that ``paper.layout`` (the only module importing
reportlab) hands in through ``PageSink``: this module calls the canvas's methods and
never imports reportlab. A document is laid out twice — once on a canvas that only
counts pages, then for real — so every page can say "page i of n" (a missing page
shows), while pages still stream out one at a time (memory flat in page count).

Every page carries the document's title and reference in its footer with its page
number; a ``test`` document is stamped TEST in the header, the footer and across the
page, so no page of a test can pass for a real one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from e2e.errors import UsageError

__all__ = [
    "Canvas",
    "CanvasPath",
    "PageGeometry",
    "PageSink",
    "ReportBanner",
    "ReportChecklist",
    "ReportDocument",
    "ReportFields",
    "ReportHeading",
    "ReportPageBreak",
    "ReportPlot",
    "ReportSection",
    "ReportSignatures",
    "ReportTable",
    "TextMetrics",
    "document_texts",
    "draw_document",
]


# ---------------------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A table: a title, a header row, text rows (cells wrap to their column), and
    ``blank_rows`` empty rows to fill in by hand. ``widths`` are relative column widths
    (default: in proportion to the widest cell); ``ruled`` draws column rules on every
    row (columns to write or tick in)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    blank_rows: int = 0
    widths: tuple[float, ...] | None = None
    ruled: bool = False

    def __post_init__(self) -> None:
        if not self.header:
            raise UsageError("a table has at least one column")
        if any(len(row) > len(self.header) for row in self.rows):
            raise UsageError(f"a row of table {self.title!r} has more cells than columns")
        if self.widths is not None and (len(self.widths) != len(self.header)
                                        or min(self.widths) <= 0):
            raise UsageError("one positive width per column")


@dataclass(frozen=True, slots=True)
class ReportPlot:
    """A line plot: named series of (x, y) points, optionally with a log y axis and a
    horizontal threshold line (e.g. the risk limit)."""

    title: str
    x_label: str
    y_label: str
    series: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    log_y: bool = False
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class ReportFields:
    """Labelled values; a value of None is a line to write on."""

    title: str
    fields: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class ReportSignatures:
    """Signature blocks, one per signer (the caption says who): name, signature, date
    and time, each a line to write on. Two side by side."""

    title: str
    signers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportChecklist:
    """Items each with a box to tick, in ``columns`` columns (read across); ``note`` (if
    any) below them."""

    title: str
    items: tuple[str, ...]
    note: str | None = None
    columns: int = 1


@dataclass(frozen=True, slots=True)
class ReportHeading:
    text: str


@dataclass(frozen=True, slots=True)
class ReportBanner:
    """A value in large type with its label above (a batch name on a cover sheet)."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ReportPageBreak:
    """The next section starts on a new page."""


ReportSection = (str | ReportHeading | ReportTable | ReportPlot | ReportFields
                 | ReportSignatures | ReportChecklist | ReportBanner | ReportPageBreak)


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """A report or a form: a title, sections in order, a reference printed in every
    page's footer (a form number, a batch), and ``test``: TEST on every page."""

    title: str
    sections: tuple[ReportSection, ...]
    reference: str = ""
    test: bool = False


def document_texts(document: ReportDocument) -> Iterator[str]:
    """Every text the document prints (for the font's glyph check)."""
    yield document.title
    yield document.reference
    for section in document.sections:
        if isinstance(section, str):
            yield section
        elif isinstance(section, ReportHeading):
            yield section.text
        elif isinstance(section, ReportTable):
            yield from (section.title, *section.header)
            yield from (cell for row in section.rows for cell in row)
        elif isinstance(section, ReportPlot):
            yield from (section.title, section.x_label, section.y_label)
            yield from (name for name, _ in section.series)
        elif isinstance(section, ReportFields):
            yield section.title
            yield from (text for pair in section.fields for text in pair if text)
        elif isinstance(section, ReportSignatures):
            yield from (section.title, *section.signers)
        elif isinstance(section, ReportChecklist):
            yield from (section.title, *section.items, section.note or "")
        elif isinstance(section, ReportBanner):
            yield from (section.label, section.value)


# ---------------------------------------------------------------------------- drawing


class CanvasPath(Protocol):
    def moveTo(self, x: float, y: float) -> None: ...  # reportlab's method names
    def lineTo(self, x: float, y: float) -> None: ...
    def rect(self, x: float, y: float, width: float, height: float) -> None: ...


class Canvas(Protocol):
    """The part of reportlab's canvas this module draws with."""

    def setPageSize(self, size: tuple[float, float]) -> None: ...
    def setFont(self, name: str, size: float) -> None: ...
    def drawString(self, x: float, y: float, text: str) -> None: ...
    def drawRightString(self, x: float, y: float, text: str) -> None: ...
    def drawCentredString(self, x: float, y: float, text: str) -> None: ...
    def setLineWidth(self, width: float) -> None: ...
    def line(self, x1: float, y1: float, x2: float, y2: float) -> None: ...
    def rect(self, x: float, y: float, width: float, height: float, stroke: int = 1,
             fill: int = 0) -> None: ...
    def setDash(self, on: float = 1, off: float = 0) -> None: ...
    def saveState(self) -> None: ...
    def restoreState(self) -> None: ...
    def setFillGray(self, gray: float) -> None: ...
    def setStrokeGray(self, gray: float) -> None: ...
    def translate(self, dx: float, dy: float) -> None: ...
    def rotate(self, theta: float) -> None: ...
    def beginPath(self) -> CanvasPath: ...
    def drawPath(self, path: CanvasPath, stroke: int = 1, fill: int = 0) -> None: ...


class PageSink(Protocol):
    """Where pages go: ``canvas`` to draw the current page on, ``end_page`` when done."""

    @property
    def canvas(self) -> Canvas: ...

    def end_page(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TextMetrics:
    """The fonts (names the canvas knows) and how wide a text is in them."""

    regular: str
    bold: str
    width: Callable[[str, str, float], float]  # (text, font name, size) -> points


@dataclass(frozen=True, slots=True)
class PageGeometry:
    """A page size and margin, in points."""

    width: float
    height: float
    margin: float


_SIZE = 9.0
_LEADING = 1.22
_GRAYS = (0.0, 0.45, 0.25, 0.6, 0.15, 0.7, 0.35, 0.55)
_FOOTER = 26.0  # room kept at the bottom for the footer
_HEADER = 18.0  # room kept at the top of continuation pages for the running title
_WRITE = 20.0  # height of a line to write on by hand


class _NullPath:
    def moveTo(self, x: float, y: float) -> None:
        del x, y

    def lineTo(self, x: float, y: float) -> None:
        del x, y

    def rect(self, x: float, y: float, width: float, height: float) -> None:
        del x, y, width, height


class _NullCanvas:
    """Draws nothing: the first layout pass only counts pages."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def beginPath(self) -> _NullPath:
        return _NullPath()


class _CountingSink:
    def __init__(self) -> None:
        self.pages = 0
        self._canvas = _NullCanvas()

    @property
    def canvas(self) -> Canvas:
        return self._canvas  # type: ignore[return-value]

    def end_page(self) -> None:
        self.pages += 1


def draw_document(document: ReportDocument, sink: PageSink, metrics: TextMetrics,
                  page: PageGeometry) -> int:
    """Draw ``document`` page by page into ``sink``; return its number of pages."""
    counter = _CountingSink()
    _Cursor(document, counter, metrics, page, None).run()
    _Cursor(document, sink, metrics, page, counter.pages).run()
    return counter.pages


class _Cursor:
    """A cursor down the pages: sections in order, a new page when one is full."""

    def __init__(self, document: ReportDocument, sink: PageSink, metrics: TextMetrics,
                 page: PageGeometry, total: int | None) -> None:
        self.document = document
        self.sink = sink
        self.metrics = metrics
        self.page = page
        self.total = total
        self.left = page.margin
        self.width = page.width - 2 * page.margin
        self.bottom = page.margin + _FOOTER
        self.number = 0
        self.y = 0.0

    @property
    def canvas(self) -> Canvas:
        return self.sink.canvas

    # --- pages ---------------------------------------------------------------------------

    def run(self) -> None:
        self._start_page()
        self.lines(self.document.title, 16, bold=True)
        for section in self.document.sections:
            self.section(section)
        self.sink.end_page()

    def _start_page(self) -> None:
        self.number += 1
        canvas, page, metrics = self.canvas, self.page, self.metrics
        canvas.setPageSize((page.width, page.height))
        test = self.document.test
        if test:
            # Drawn first, so it lies under everything; light enough to read through.
            canvas.saveState()
            canvas.setFillGray(0.9)
            canvas.setFont(metrics.bold, 140)
            canvas.translate(page.width / 2, page.height / 2 - 50)
            canvas.rotate(35)
            canvas.drawCentredString(0, 0, "TEST")
            canvas.restoreState()
        top = page.height - page.margin
        if self.number > 1:
            canvas.setFont(metrics.regular, 8)
            canvas.drawString(self.left, top - 8, f"{self.document.title} (continued)")
            top -= _HEADER
        if test:
            canvas.setFont(metrics.bold, 12)
            canvas.drawRightString(self.left + self.width, page.height - page.margin - 10,
                                   "TEST")
        footer = page.margin + 6
        canvas.setLineWidth(0.5)
        canvas.line(self.left, footer + 12, self.left + self.width, footer + 12)
        count = f"Page {self.number}" + (f" of {self.total}" if self.total else "")
        if test:
            count = f"TEST — NOT AN ELECTION DOCUMENT — {count}"
        canvas.setFont(metrics.bold if test else metrics.regular, 8)
        canvas.drawRightString(self.left + self.width, footer, count)
        room = self.width - self.text_width(count, test, 8) - 16
        name = " — ".join(t for t in (self.document.title, self.document.reference) if t)
        if self.text_width(name, False, 8) > room:
            while name and self.text_width(name + "…", False, 8) > room:
                name = name[:-1]
            name += "…"
        canvas.setFont(metrics.regular, 8)
        canvas.drawString(self.left, footer, name)
        self.y = top

    def new_page(self) -> None:
        self.sink.end_page()
        self._start_page()

    def need(self, height: float) -> None:
        if self.y - height < self.bottom:
            self.new_page()

    def font(self, bold: bool) -> str:
        return self.metrics.bold if bold else self.metrics.regular

    def text_width(self, text: str, bold: bool, size: float) -> float:
        return self.metrics.width(text, self.font(bold), size)

    def wrap(self, text: str, bold: bool, size: float, width: float) -> list[str]:
        return _wrap(text, lambda t: self.text_width(t, bold, size), width)

    # --- sections ------------------------------------------------------------------------

    def section(self, section: ReportSection) -> None:
        if isinstance(section, str):
            self.lines(section)
        elif isinstance(section, ReportHeading):
            self.need(60)
            self.y -= 4
            self.lines(section.text, 12, bold=True)
        elif isinstance(section, ReportTable):
            self.table(section)
        elif isinstance(section, ReportPlot):
            self.plot(section)
        elif isinstance(section, ReportFields):
            self.fields(section)
        elif isinstance(section, ReportSignatures):
            self.signatures(section)
        elif isinstance(section, ReportChecklist):
            self.checklist(section)
        elif isinstance(section, ReportBanner):
            self.banner(section)
        elif isinstance(section, ReportPageBreak):
            self.new_page()
        else:
            raise UsageError(f"not a report section: {type(section).__name__}")

    def lines(self, text: str, size: float = _SIZE, bold: bool = False,
              indent: float = 0.0) -> None:
        for line in self.wrap(text, bold, size, self.width - indent):
            self.need(size * _LEADING)
            self.y -= size * _LEADING
            self.canvas.setFont(self.font(bold), size)
            self.canvas.drawString(self.left + indent, self.y, line)
        self.y -= size * 0.6

    def title(self, text: str, keep: float = 40.0) -> None:
        """A section title, kept on the page with ``keep`` points of what follows it."""
        if text:
            self.need(11 * _LEADING + 7 + keep)  # never a title alone at a page's foot
            self.lines(text, 11, bold=True)

    def banner(self, banner: ReportBanner) -> None:
        self.need(60)
        self.lines(banner.label, 9)
        size = 26.0
        while size > 12 and self.text_width(banner.value, True, size) > self.width:
            size -= 1
        self.lines(banner.value, size, bold=True)
        self.y -= 4

    def fields(self, fields: ReportFields) -> None:
        self.title(fields.title)
        label_width = min(max((self.text_width(label, True, _SIZE)
                               for label, _ in fields.fields), default=0.0) + 12,
                          self.width * 0.45)
        value_left = self.left + label_width
        value_width = self.width - label_width
        for label, value in fields.fields:
            labels = self.wrap(label, True, _SIZE, label_width - 8)
            values = self.wrap(value, False, 10, value_width) if value else []
            height = max(len(labels) * _SIZE * _LEADING,
                         len(values) * 10 * _LEADING if values else _WRITE) + 4
            self.need(height)
            canvas = self.canvas
            top = self.y
            canvas.setFont(self.metrics.bold, _SIZE)
            # A label beside a line to write on sits on that line, not above it.
            first = (top - _WRITE + 4 + (len(labels) - 1) * _SIZE * _LEADING if not values
                     else top - _SIZE * _LEADING)
            for n, line in enumerate(labels):
                canvas.drawString(self.left, first - n * _SIZE * _LEADING, line)
            if values:
                canvas.setFont(self.metrics.regular, 10)
                for n, line in enumerate(values):
                    canvas.drawString(value_left, top - (n + 1) * 10 * _LEADING, line)
            else:
                canvas.setLineWidth(0.5)
                line_y = top - _WRITE + 2
                canvas.line(value_left, line_y, self.left + self.width, line_y)
            self.y = top - height
        self.y -= 6

    def signatures(self, block: ReportSignatures) -> None:
        gutter = 18.0
        per_row = 2
        column = (self.width - gutter * (per_row - 1)) / per_row
        height = 3 * (_WRITE + 8) + 16
        self.title(block.title, keep=height)
        for start in range(0, len(block.signers), per_row):
            row = block.signers[start:start + per_row]
            self.need(height)
            top = self.y
            canvas = self.canvas
            for i, signer in enumerate(row):
                x = self.left + i * (column + gutter)
                canvas.setFont(self.metrics.bold, _SIZE)
                canvas.drawString(x, top - _SIZE, signer)
                for n, caption in enumerate(("Name (print)", "Signature", "Date and time")):
                    line_y = top - 16 - (n + 1) * (_WRITE + 8) + 10
                    canvas.setLineWidth(0.5)
                    canvas.line(x, line_y, x + column, line_y)
                    canvas.setFont(self.metrics.regular, 7)
                    canvas.drawString(x, line_y - 8, caption)
            self.y = top - height
        self.y -= 6

    def checklist(self, checklist: ReportChecklist) -> None:
        self.title(checklist.title)
        box, gutter = 10.0, 14.0
        columns = max(1, checklist.columns)
        column = (self.width - gutter * (columns - 1)) / columns
        items = list(checklist.items)
        for start in range(0, len(items), columns):
            row = [self.wrap(item, False, 10, column - box - 8)
                   for item in items[start:start + columns]]
            height = max(max(len(lines) for lines in row) * 10 * _LEADING, box) + 4
            self.need(height)
            canvas = self.canvas
            for i, lines in enumerate(row):
                x = self.left + i * (column + gutter)
                canvas.setLineWidth(0.8)
                canvas.rect(x, self.y - box - 1, box, box, stroke=1, fill=0)
                canvas.setFont(self.metrics.regular, 10)
                for n, line in enumerate(lines):
                    canvas.drawString(x + box + 8, self.y - (n + 1) * 10 * _LEADING + 1, line)
            self.y -= height
        if checklist.note:
            self.lines(checklist.note, 8)
        self.y -= 4

    def table(self, table: ReportTable) -> None:
        self.title(table.title)
        widths = _column_widths(table, self.text_width, self.width)
        header = self.row_height(table.header, widths, True)

        def draw_header() -> None:
            self.draw_row(table.header, widths, True, header)

        self.need(header + _WRITE)
        draw_header()
        rows: list[tuple[tuple[str, ...], bool]] = [(row, False) for row in table.rows]
        rows += [(("",) * len(table.header), True)] * table.blank_rows
        for row, blank in rows:
            height = _WRITE + 4 if blank else self.row_height(row, widths, False)
            if self.y - height < self.bottom:
                self.new_page()
                draw_header()
            self.draw_row(row, widths, False, height, ruled=blank or table.ruled)
        self.y -= 8

    def row_height(self, row: Sequence[str], widths: Sequence[float], bold: bool) -> float:
        lines = max((len(self.wrap(cell, bold, _SIZE, widths[i] - 4))
                     for i, cell in enumerate(row)), default=1)
        return lines * _SIZE * _LEADING + 4

    def draw_row(self, row: Sequence[str], widths: Sequence[float], bold: bool,
                 height: float, ruled: bool = False) -> None:
        canvas = self.canvas
        x = self.left
        for i, cell in enumerate(row):
            canvas.setFont(self.font(bold), _SIZE)
            for n, line in enumerate(self.wrap(cell, bold, _SIZE, widths[i] - 4)):
                canvas.drawString(x + 2, self.y - (n + 1) * _SIZE * _LEADING, line)
            x += widths[i]
        self.y -= height
        canvas.setLineWidth(0.8 if bold else 0.3)
        canvas.line(self.left, self.y, self.left + self.width, self.y)
        if ruled or bold:
            # Column rules, so a hand-written entry stays in its column.
            x = self.left
            for width in widths[:-1]:
                x += width
                canvas.line(x, self.y, x, self.y + height)

    def plot(self, plot: ReportPlot) -> None:
        height = 240.0
        legend = len(plot.series) * _SIZE * _LEADING
        self.need(height + legend + 60)
        self.title(plot.title)
        canvas, left, width = self.canvas, self.left + 40, self.width - 50
        bottom = self.y - height
        points = [p for _, series in plot.series for p in series]
        xs = [x for x, _ in points] or [0.0, 1.0]
        x_min, x_max = min(xs), max(max(xs), min(xs) + 1)

        def ty(value: float) -> float:
            return math.log10(max(value, 1e-12)) if plot.log_y else value

        ys = [ty(y) for _, y in points] + ([ty(plot.threshold)] if plot.threshold else [])
        y_min, y_max = (min(ys, default=0.0), max(ys, default=1.0))
        if plot.log_y:
            y_min, y_max = math.floor(y_min), max(0.0, math.ceil(y_max))
        if y_max <= y_min:
            y_max = y_min + 1

        def at(x: float, y: float) -> tuple[float, float]:
            return (left + (x - x_min) / (x_max - x_min) * width,
                    bottom + (ty(y) - y_min) / (y_max - y_min) * height)

        canvas.setLineWidth(0.8)
        canvas.rect(left, bottom, width, height, stroke=1, fill=0)
        canvas.setFont(self.metrics.regular, 7)
        steps = (list(range(int(y_min), int(y_max) + 1)) if plot.log_y
                 else [y_min, (y_min + y_max) / 2, y_max])
        for step in steps:
            y = bottom + (step - y_min) / (y_max - y_min) * height
            canvas.drawRightString(left - 3, y - 2, f"1e{int(step)}" if plot.log_y
                                   else f"{step:g}")
            canvas.saveState()
            canvas.setStrokeGray(0.85)
            canvas.setLineWidth(0.3)
            canvas.line(left, y, left + width, y)
            canvas.restoreState()
        for tick in _ticks(x_min, x_max):
            x, _ = at(tick, 1.0 if plot.log_y else y_min)
            canvas.line(x, bottom, x, bottom - 3)
            canvas.drawCentredString(x, bottom - 11, f"{tick:g}")
        canvas.drawCentredString(left + width / 2, bottom - 22, plot.x_label)
        canvas.saveState()
        canvas.translate(self.left + 6, bottom + height / 2)
        canvas.rotate(90)
        canvas.drawCentredString(0, 0, plot.y_label)
        canvas.restoreState()
        if plot.threshold is not None:
            canvas.saveState()
            canvas.setDash(4, 3)
            canvas.setLineWidth(0.8)
            _, y = at(x_min, plot.threshold)
            canvas.line(left, y, left + width, y)
            canvas.drawString(left + 3, y + 2, f"limit {plot.threshold:g}")
            canvas.restoreState()
        for number, (_, series) in enumerate(plot.series):
            if not series:
                continue
            canvas.saveState()
            canvas.setStrokeGray(_GRAYS[number % len(_GRAYS)])
            canvas.setLineWidth(1.0)
            if number >= len(_GRAYS):
                canvas.setDash(2, 2)
            path = canvas.beginPath()
            path.moveTo(*at(*series[0]))
            for point in series[1:]:
                path.lineTo(*at(*point))
            canvas.drawPath(path, stroke=1, fill=0)
            canvas.restoreState()
        self.y = bottom - 34
        for number, (name, _) in enumerate(plot.series):
            self.need(_SIZE * _LEADING)
            canvas = self.canvas
            canvas.saveState()
            canvas.setStrokeGray(_GRAYS[number % len(_GRAYS)])
            canvas.setLineWidth(1.5)
            if number >= len(_GRAYS):
                canvas.setDash(2, 2)
            canvas.line(self.left, self.y + 3, self.left + 18, self.y + 3)
            canvas.restoreState()
            canvas.setFont(self.metrics.regular, _SIZE - 1)
            canvas.drawString(self.left + 24, self.y, name)
            self.y -= _SIZE * _LEADING
        self.y -= 8


def _ticks(low: float, high: float) -> list[float]:
    """Round tick values from low to high, about five of them."""
    span = high - low
    step = 10 ** math.floor(math.log10(span / 5)) if span > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _wrap(text: str, width_of: Callable[[str], float], width: float) -> list[str]:
    """Greedy wrap; a word wider than the width is cut (forms, unlike ballots, may)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if width_of(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while width_of(word) > width and len(word) > 1:
            cut = len(word)
            while cut > 1 and width_of(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    lines.append(current)
    return lines


def _column_widths(table: ReportTable, width_of: Callable[[str, bool, float], float],
                   total: float) -> list[float]:
    """Columns as asked, or in proportion to their widest cell (capped), summing to total."""
    if table.widths is not None:
        wants = list(table.widths)
    else:
        wants = []
        for i, title in enumerate(table.header):
            cells = [row[i] for row in table.rows if i < len(row)]
            widest = max([width_of(c, False, _SIZE) for c in cells]
                         + [width_of(w, True, _SIZE) for w in title.split()], default=10.0)
            wants.append(min(max(widest + 8, 30.0), total * 0.6))
    scale = total / sum(wants)
    widths = [w * scale for w in wants]
    # A word is never cut where it can be helped: columns too narrow for their longest
    # word (header or cell) grow, the others give way.
    least = [max([width_of(w, True, _SIZE) for w in title.split()]
                 + [width_of(w, False, _SIZE) for row in table.rows if i < len(row)
                    for w in row[i].split()], default=0.0) + 6
             for i, title in enumerate(table.header)]
    short = [i for i, w in enumerate(widths) if w < least[i]]
    if short and sum(least) <= total:
        need = sum(least[i] - widths[i] for i in short)
        spare = sum(widths[i] - least[i] for i in range(len(widths)) if i not in short)
        for i in range(len(widths)):
            if i in short:
                widths[i] = least[i]
            else:
                widths[i] -= need * (widths[i] - least[i]) / spare
    return widths
