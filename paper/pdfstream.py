"""Join small PDFs into one output file as they come, in memory flat in page count.

reportlab keeps every page of a document in memory until it saves (about 11 kB per
ballot card), so a 10,000-card print run would hold ~100 MB. The layout instead draws
pages in chunks of a few dozen, each a complete PDF made with ``invariant=1``, and this
module copies each chunk's page tree into one output stream right away, keeping only
the byte offset of every object written (8 bytes each) for the final cross-reference
table. Each chunk's ``/Pages`` node becomes a kid of one root ``/Pages`` node (page
trees may nest, ISO 32000-1 §7.7.3.2), so page dictionaries are copied unchanged
except for renumbered references.

The output has no ``/Info`` dictionary and no ``/ID``: a ballot record's file carries
no time, no ballot ID and nothing else that could tell cards apart but what is printed.

It reads only what reportlab writes: a classic ``xref`` table, no object streams, no
incremental updates. Anything else is refused rather than guessed at.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

from e2e.errors import EncodingError, StateError

__all__ = ["PdfStreamWriter"]

_PDF_VERSION = b"1.4"
_ROOT_PAGES = 1  # object numbers reserved for the root page tree node and the catalog
_CATALOG = 2
_REF = re.compile(rb"(\d+) 0 R\b")
_STREAM_START = re.compile(rb">>\s*stream(?:\r\n|\n)")
_OBJ_HEADER = re.compile(rb"(\d+) 0 obj\s")
# A font subset's name: six capital letters, "+", the font's name (§9.6.4).
_SUBSET = re.compile(rb"(/(?:BaseFont|FontName) /)([A-Z]{6}\+[^\s/<>\[\]()]+)")


class PdfStreamWriter:
    """Writes one PDF to ``out`` from the pages of PDFs appended one after another."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._position = 0
        # Offsets of objects 1, 2, ... (0 until written); the two reserved ones last.
        self._offsets = array("Q", [0, 0])
        self._kids = array("Q")
        self._page_count = 0
        self._subset_count = 0
        self._closed = False
        # The binary comment marks the file as binary for transfer tools (§7.5.2).
        self._write(b"%PDF-" + _PDF_VERSION + b"\n%\xe2\xe3\xcf\xd3\n")

    @property
    def page_count(self) -> int:
        return self._page_count

    def append(self, pdf: bytes) -> int:
        """Copy every page of ``pdf`` (a reportlab PDF) to the output; return how many."""
        if self._closed:
            raise StateError("the PDF is closed; no more pages can be added")
        objects, pages_ref = _read_reportlab_pdf(pdf)
        order = list(_reachable(objects, pages_ref))
        first = len(self._offsets) + 1
        renumber = {old: first + i for i, old in enumerate(order)}
        subsets: dict[bytes, bytes] = {}
        count = 0
        for old in order:
            dictionary, rest = objects[old]
            dictionary = _REF.sub(lambda m: b"%d 0 R" % renumber[int(m.group(1))], dictionary)
            dictionary = _SUBSET.sub(lambda m: self._retag(m, subsets), dictionary)
            if old == pages_ref:
                count = _page_count_of(dictionary)
                dictionary = dictionary.replace(b"<<", b"<< /Parent %d 0 R" % _ROOT_PAGES, 1)
            self._offsets.append(self._position)
            self._write(b"%d 0 obj\n" % renumber[old] + dictionary + rest + b"\n")
        self._kids.append(renumber[pages_ref])
        self._page_count += count
        return count

    def close(self) -> None:
        """Write the root page tree, the catalog, the xref table and the trailer."""
        if self._closed:
            return
        self._closed = True
        kids = b" ".join(b"%d 0 R" % kid for kid in self._kids)
        self._offsets[_ROOT_PAGES - 1] = self._position
        self._write(
            b"%d 0 obj\n<< /Type /Pages /Kids [ %s ] /Count %d >>\nendobj\n"
            % (_ROOT_PAGES, kids, self._page_count)
        )
        self._offsets[_CATALOG - 1] = self._position
        self._write(
            b"%d 0 obj\n<< /Type /Catalog /Pages %d 0 R >>\nendobj\n" % (_CATALOG, _ROOT_PAGES)
        )
        xref_at = self._position
        size = len(self._offsets) + 1
        self._write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for offset in self._offsets:
            self._write(b"%010d 00000 n \n" % offset)
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, _CATALOG, xref_at)
        )

    def _retag(self, match: re.Match[bytes], subsets: dict[bytes, bytes]) -> bytes:
        """A file-wide unique subset tag for a chunk's font subset.

        Every chunk names its subsets AAAAAA+…, AAAAAB+… afresh; joined, two different
        subsets would share a name, which ISO 32000-1 §9.6.4 asks files not to do (a
        printer that caches fonts by name could draw the wrong glyphs).
        """
        key = match.group(2)
        if key not in subsets:
            number, letters = self._subset_count, []
            self._subset_count += 1
            for _ in range(6):
                number, digit = divmod(number, 26)
                letters.append(65 + digit)
            subsets[key] = bytes(reversed(letters))
        return match.group(1) + subsets[key] + key[6:]  # key[6:] is "+" and the name

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._position += len(data)


def _read_reportlab_pdf(pdf: bytes) -> tuple[dict[int, tuple[bytes, bytes]], int]:
    """Objects as (dictionary part, rest) by number, and the number of the /Pages node."""
    if not pdf.startswith(b"%PDF-1."):
        raise EncodingError("not a PDF")
    tail = pdf[-64:]
    found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if found is None:
        raise EncodingError("PDF without a final startxref")
    xref_at = int(found.group(1))
    header = re.compile(rb"xref\s+0 (\d+)\s+").match(pdf, xref_at)
    if header is None:
        raise EncodingError("PDF without a classic xref table at startxref")
    count = int(header.group(1))
    table = pdf[header.end() : header.end() + 20 * count]
    entries = [table[20 * i : 20 * i + 20] for i in range(count)]
    offsets = {
        number: int(entry[:10])
        for number, entry in enumerate(entries)
        if number and entry[17:18] == b"n"
    }
    trailer = pdf[header.end() + 20 * count :]
    root = re.search(rb"/Root (\d+) 0 R", trailer)
    if root is None:
        raise EncodingError("PDF trailer without /Root")
    ends = sorted([*offsets.values(), xref_at])
    following = dict(itertools.pairwise(ends))
    objects: dict[int, tuple[bytes, bytes]] = {}
    for number, start in offsets.items():
        text = pdf[start : following[start]].rstrip()
        head = _OBJ_HEADER.match(text)
        if head is None or int(head.group(1)) != number or not text.endswith(b"endobj"):
            raise EncodingError(f"PDF object {number} is not where the xref says")
        body = text[head.end() :]
        stream = _STREAM_START.search(body)
        cut = stream.start() + 2 if stream else len(body) - len(b"endobj")
        objects[number] = (body[:cut], body[cut:])
    catalog = objects.get(int(root.group(1)))
    pages = re.search(rb"/Pages (\d+) 0 R", catalog[0]) if catalog else None
    if pages is None:
        raise EncodingError("PDF catalog without /Pages")
    return objects, int(pages.group(1))


def _reachable(objects: dict[int, tuple[bytes, bytes]], start: int) -> Iterator[int]:
    """Object numbers reachable from ``start`` through references, in first-seen order.

    Only dictionary parts are searched: stream data is opaque and may contain anything.
    """
    seen = {start}
    queue = deque([start])
    while queue:
        number = queue.popleft()
        if number not in objects:
            raise EncodingError(f"PDF references missing object {number}")
        yield number
        for match in _REF.finditer(objects[number][0]):
            ref = int(match.group(1))
            if ref not in seen:
                seen.add(ref)
                queue.append(ref)


def _page_count_of(pages_dictionary: bytes) -> int:
    found = re.search(rb"/Count (\d+)", pages_dictionary)
    if found is None:
        raise EncodingError("PDF /Pages node without /Count")
    return int(found.group(1))
