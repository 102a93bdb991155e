"""The QR symbols as printed: module size and quiet zone measured on the rendered page.

benchmarks/README.md ("QR sizing"): modules of 0.5 mm fail harsh 150 dpi scans, 0.75 mm
and up survive them; the clean round trips in test_paper_scan.py would still pass at
0.4 mm, so the printed size is measured here, on the page, for the largest card and a
receipt."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import zxingcpp
from paper_helpers import render_pages

from paper.layout import render_ballot_record, render_receipt
from paper.payload import ReceiptStatus
from paper.qr import MODULE_MM, QUIET_ZONE_MODULES, make_qr
from paper.samples import large_style, sample_election

ELECTION = sample_election()
DPI = 300


def _page(kind: str) -> tuple[bytes, bytes]:
    rng = random.Random(7)
    if kind == "card":
        view, payload = ELECTION.record(large_style(), "precinct-3-a", rng, test=True, remake=3)
        return render_ballot_record(view, payload), payload.to_bytes()
    receipt = ELECTION.receipt(rng, ReceiptStatus.CHALLENGED, test=True)
    return render_receipt(receipt), receipt.payload.to_bytes()


def test_module_size_is_at_least_what_a_150_dpi_scan_needs() -> None:
    assert MODULE_MM >= 0.75
    assert QUIET_ZONE_MODULES >= 4


@pytest.mark.parametrize("kind", ["card", "receipt"])
def test_printed_modules_measure_module_mm_with_a_blank_quiet_zone(kind: str) -> None:
    pdf, data = _page(kind)
    image = render_pages(pdf, dpi=DPI)[0]
    [barcode] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode.bytes == data
    corners = barcode.position
    size = make_qr(data).size
    left, top = corners.top_left.x, corners.top_left.y
    width = math.dist((left, top), (corners.top_right.x, corners.top_right.y))
    height = math.dist((left, top), (corners.bottom_left.x, corners.bottom_left.y))
    for extent in (width, height):
        assert extent / size * 25.4 / DPI == pytest.approx(MODULE_MM, abs=0.02)
    # The quiet zone: a frame QUIET_ZONE_MODULES wide around the symbol, all paper.
    module = width / size
    pixels = np.asarray(image.convert("L"))
    quiet = round(QUIET_ZONE_MODULES * module)
    x0, y0 = round(left), round(top)
    x1, y1 = round(left + width), round(top + height)
    edge = 2  # pixels of anti-aliasing allowed at the frame's inner and outer borders
    frame = pixels[y0 - quiet + edge: y1 + quiet - edge, x0 - quiet + edge: x1 + quiet - edge]
    frame = frame.copy()
    inner = quiet - 2 * edge
    frame[inner: -inner, inner: -inner] = 255  # the symbol itself
    assert frame.min() > 200
