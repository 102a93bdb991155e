"""Render the paper examples in this folder (run from the repo root).

    .venv/bin/python docs/images/make_paper_images.py

Cards and receipts of the made-up election in ``paper.samples``, printed by
``paper.layout`` and rendered by pypdfium2 as a printer would put them on paper;
``scan-degraded.jpg`` is a card as the round-trip tests see it after a cheap 150 dpi
print-and-scan (tests/paper/paper_helpers.py). ``cover-sheet.png``,
``retrieval-list.png`` and ``audit-board-form.png`` are official forms
(``paper.forms``), as ``paperchain print`` streams them.
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

from paper.forms import (  # noqa: E402
    AuditBoardCard,
    AuditContest,
    CoverSheet,
    ElectionHeading,
    RetrievalItem,
    RetrievalList,
    audit_board_form,
    cover_sheet,
    retrieval_list,
)
from paper.ids import BallotId  # noqa: E402
from paper.layout import render_ballot_record, render_receipt, render_report  # noqa: E402
from paper.payload import ReceiptStatus  # noqa: E402
from paper.samples import (  # noqa: E402
    SPANISH_WITH_ENGLISH,
    large_style,
    sample_election,
    small_style,
)

OUT = Path(__file__).resolve().parent


def forms(rng: random.Random) -> None:
    heading = ElectionHeading("2026-11-03-springfield-general", "General Election",
                              "Springfield County", "2026-11-03")
    sheet = CoverSheet(heading, 12, "Precinct 12-B — Lincoln School", "Place 3 box 2",
                       "C-0031", ("S-40211", "S-40212"), 100)
    items = []
    for _ in range(18):
        place, box = 1 + rng.randrange(3), 1 + rng.randrange(4)
        items.append(RetrievalItem(f"Place {place} box {box}", rng.randrange(1, 101),
                                   str(BallotId.generate(rng.randbytes)),
                                   f"C-{20 + 4 * place + box:04d}"))
    contests = tuple(AuditContest(c.title.text, c.vote_for, tuple(o.text for o in c.options))
                     for c in small_style().contests)
    documents = {
        "cover-sheet.png": cover_sheet(sheet),
        "retrieval-list.png": retrieval_list(RetrievalList(heading, 1, tuple(items),
                                                           "34129587601289435761")),
        "audit-board-form.png": audit_board_form(AuditBoardCard(
            heading, 1, items[0].batch, items[0].position, items[0].ballot_id,
            "precinct-12-b", contests)),
    }
    for name, document in documents.items():
        render_pages(render_report(document), dpi=100)[0].save(OUT / name)


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
    forms(random.Random(5))  # noqa: S311 (reproducible pictures)
    for path in sorted([*OUT.glob("*.png"), *OUT.glob("*.jpg")]):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
