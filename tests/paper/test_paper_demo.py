"""The demo's paper: printed at voting time, SPOILED papers apart, boxes mixed, scanned back,
reconciled, and handed to the audit."""

from __future__ import annotations

import csv
from pathlib import Path

import pypdfium2
import pytest

from paperchain.demo import DemoConfig, run_demo
from tests.strategies import FAST_KDF


def _pages(path: Path) -> int:
    document = pypdfium2.PdfDocument(path)
    try:
        return len(document)
    finally:
        document.close()


@pytest.mark.slow
def test_demo_prints_deposits_scans_and_reconciles_its_paper(tmp_path: Path) -> None:
    outcome = run_demo(DemoConfig(out=tmp_path / "demo", voters=24, test_group=True,
                                  seed=11, challenge_rate=0.25, kdf_limits=FAST_KDF,
                                  audit=False))
    assert outcome.report.ok, outcome.report.findings
    paper = tmp_path / "demo" / "paper"
    count = outcome.paper
    assert count is not None
    assert count.findings == []
    assert len(count.manifest.entries) == outcome.cast == 24
    assert not count.manifest.flagged()
    assert sum(_pages(p) for p in (paper / "boxes").glob("*.pdf")) == outcome.cast
    assert sum(_pages(p) for p in (paper / "spoiled").glob("*.pdf")) == outcome.challenged > 0
    assert sum(count.spoiled_papers.values()) == outcome.challenged
    assert _pages(paper / "receipts.pdf") == outcome.cast + outcome.challenged
    assert not (paper / ".ballot-boxes").exists()  # the spool is gone once boxes are cut
    with (paper / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == outcome.cast
    assert {row["flags"] for row in rows} == {""}
    # Every card of a test election is stamped TEST, and every form page too.
    document = pypdfium2.PdfDocument(paper / "forms" / "official-forms.pdf")
    texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    document.close()
    assert texts
    assert all("TEST" in text for text in texts)
    # Box order is its own: not the CVRs' order (sorted by ballot ID) either.
    ids = [entry.ballot_id for entry in count.manifest.entries]
    assert len(set(ids)) == len(ids)
    assert ids != sorted(ids)  # type: ignore[type-var]
