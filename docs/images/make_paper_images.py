"""Render the paper examples in this folder (run from the repo root).

    .venv/bin/python docs/images/make_paper_images.py

Cards and receipts of the made-up election in ``paper.samples``, printed by
``paper.layout`` and rendered by pypdfium2 as a printer would put them on paper;
``scan-degraded.jpg`` is a card as the round-trip tests see it after a cheap 150 dpi
print-and-scan (tests/paper/paper_helpers.py).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "paper"))

from paper_helpers import degrade, render_pages  # noqa: E402

from paper.layout import render_ballot_record, render_receipt  # noqa: E402
from paper.payload import ReceiptStatus  # noqa: E402
from paper.samples import (  # noqa: E402
    SPANISH_WITH_ENGLISH,
    large_style,
    sample_election,
    small_style,
)

OUT = Path(__file__).resolve().parent


def main() -> None:
    election = sample_election()
    rng = random.Random(2026)  # noqa: S311 (reproducible pictures)
    cards = {
        "ballot-record.png": election.record(small_style(), "precinct-12-b", rng),
        "ballot-record-test-bilingual.png": election.record(
            small_style(spanish=True), "precinct-12-b", rng, test=True),
        "ballot-record-large.png": election.record(large_style(), "precinct-3-a", rng),
    }
    for name, (view, payload) in cards.items():
        render_pages(render_ballot_record(view, payload), dpi=100)[0].save(OUT / name)
    receipts = {
        "receipt-cast.png": election.receipt(rng, ReceiptStatus.CAST),
        "receipt-challenged.png": election.receipt(rng, ReceiptStatus.CHALLENGED),
        "receipt-challenged-test-bilingual.png": election.receipt(
            rng, ReceiptStatus.CHALLENGED, test=True, strings=SPANISH_WITH_ENGLISH),
    }
    for name, receipt in receipts.items():
        render_pages(render_receipt(receipt), dpi=150)[0].save(OUT / name)
    view, payload = cards["ballot-record.png"]
    page = render_pages(render_ballot_record(view, payload), dpi=150)[0]
    scanned = degrade(page, np.random.default_rng(1), jpeg=True)
    # JPEG: the picture is a noisy scan, which PNG cannot compress.
    half = scanned.crop((0, 0, scanned.width, scanned.height * 2 // 5))
    half.save(OUT / "scan-degraded.jpg", quality=85)
    for path in sorted([*OUT.glob("*.png"), *OUT.glob("*.jpg")]):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
