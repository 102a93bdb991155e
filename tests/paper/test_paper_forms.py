"""Reports and official forms: what each holds, page numbering, TEST stamps, streaming,
the test-mode rules of official printing, and the manifest's capacity rule."""

from __future__ import annotations

import io
import json
import random

import pypdfium2
import pytest

from e2e.errors import UsageError
from e2e.manifest import Manifest, demo_manifest
from paper.capacity import check_manifest_fits
from paper.forms import (
    AuditBoardCard,
    AuditContest,
    CloseOfPolls,
    CoverSheet,
    DeviceCount,
    ElectionHeading,
    RemakeRecord,
    RetrievalItem,
    RetrievalList,
    audit_board_form,
    close_of_polls_form,
    cover_sheet,
    remake_form,
    retrieval_list,
)
from paper.layout import LegibilityError, PaperWriter, render_report
from paper.official import OfficialPrinter, ReprintRefused
from paper.reports import ReportDocument, ReportTable
from paper.samples import sample_election, small_style
from paper.scan import ScanContext, scan_files

HEADING = ElectionHeading("springfield-2026-general", "Springfield General Election",
                          "City of Springfield", "2026-11-03")
ELECTION = sample_election()


def _pages(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [" ".join(document[i].get_textpage().get_text_range().split())
                for i in range(len(document))]
    finally:
        document.close()


def _print(*documents: ReportDocument, test: bool) -> bytes:
    out = io.BytesIO()
    with PaperWriter(out, chunk_pages=3) as writer:
        printer = OfficialPrinter(writer, test_election=test)
        for document in documents:
            printer.form(document)
    return out.getvalue()


# ---------------------------------------------------------------------------- forms


def test_cover_sheet_holds_batch_container_seals_counts_signatures_and_transfer_log() -> None:
    sheet = CoverSheet(HEADING, 7, "Precinct 1 — City Hall", "Place 1 box 2", "C-0042",
                       ("S-1001", "S-1002"), 97)
    [text] = _pages(render_report(cover_sheet(sheet)))
    for expected in ("Batch cover sheet No. 0007", "Place 1 box 2", "Precinct 1 — City Hall",
                     "C-0042", "S-1001, S-1002", "97", "Cards counted by hand",
                     "Official 1", "Official 2 (witness)", "Transfer log (chain of custody)",
                     "Released by", "Received by", "Seals intact?", "Page 1 of 1"):
        assert expected in text, expected
    assert text.count("Signature") == 2
    assert "TEST" not in text


def test_retrieval_list_is_sorted_by_batch_and_position_and_names_each_id() -> None:
    items = (RetrievalItem("Place 2 box 1", 9, "0004-1061-050R-3GG2-8A1C-60T3-GF6"),
             RetrievalItem("Place 1 box 1", 41, None, "C-7"),
             RetrievalItem("Place 1 box 1", 3, "7ZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZ*", "C-7"))
    text = " ".join(_pages(render_report(retrieval_list(RetrievalList(HEADING, 2, items,
                                                                      "123456")))))
    first = text.index("7ZZZ-ZZZZ")
    assert first < text.index("(none)") < text.index("0004-1061")
    assert "Retrieval team member 1" in text
    assert "Retrieval list, audit round 2" in text


def test_audit_board_form_lists_options_to_tick_and_nothing_of_the_cvr() -> None:
    card = AuditBoardCard(HEADING, 1, "Place 1 box 1", 12, "0004-1061-050R-3GG2-8A1C-60T3-GF6",
                          "ward-1", (AuditContest("Mayor", 1, ("Alice Adams", "Bruno Okafor")),))
    text = " ".join(_pages(render_report(audit_board_form(card))))
    for expected in ("Mayor — vote for up to 1", "Alice Adams", "Bruno Okafor",
                     "No selection printed", "Board member 1", "Board member 2",
                     "does not show"):
        assert expected in text, expected


def test_close_of_polls_form_shows_ledger_counts_and_the_expected_paper() -> None:
    form = CloseOfPolls(HEADING, "Precinct 1", (DeviceCount("kiosk-1", 40, 2, True),
                                                DeviceCount("kiosk-2", 38, 0, False)))
    text = " ".join(_pages(render_report(close_of_polls_form(form))))
    assert "Expected: 78 card(s) in the ballot box" in text
    assert "2 SPOILED paper(s)" in text
    assert "NO" in text  # kiosk-2 never closed its chain


def test_remake_form_without_two_signers_is_refused() -> None:
    with pytest.raises(UsageError, match="two signatures"):
        RemakeRecord(HEADING, "0004-1061-050R-3GG2-8A1C-60T3-GF6", 1, "ward-1", "torn",
                     "envelope R-1", (), ("official-1", "official-1"))


def test_remake_form_names_the_original_and_where_it_is_kept() -> None:
    record = RemakeRecord(HEADING, "0004-1061-050R-3GG2-8A1C-60T3-GF6", 2, "ward-1", "torn",
                          "envelope R-1", (("Mayor", ("Alice Adams",)), ("Measure A", ())),
                          ("official-1", "auditor-1"), 1234)
    text = " ".join(_pages(render_report(remake_form(record))))
    for expected in ("DUPLICATE 2", "0004-1061-050R-3GG2-8A1C-60T3-GF6", "envelope R-1",
                     "card-remake at index 1234", "no selection", "never from the digital"):
        assert expected in text, expected


# ---------------------------------------------------------------------------- reports


def test_long_table_repeats_its_header_and_numbers_every_page() -> None:
    rows = tuple((str(i), f"row {i}") for i in range(300))
    pages = _pages(render_report(ReportDocument("Long", (ReportTable("T", ("N", "What"), rows),),
                                                reference="ref-1")))
    assert len(pages) > 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "N What" in text  # the header, on every page
    assert "row 299" in pages[-1]


def test_every_page_of_a_test_election_is_stamped_test() -> None:
    rows = tuple((str(i), "x") for i in range(200))
    pdf = _print(ReportDocument("A", (ReportTable("T", ("N", "X"), rows),)),
                 cover_sheet(CoverSheet(HEADING, 1, "Precinct 1")), test=True)
    pages = _pages(pdf)
    assert len(pages) > 4  # several pages and chunks
    for text in pages:
        assert "TEST — NOT AN ELECTION DOCUMENT" in text


def test_real_election_documents_carry_no_test_stamp() -> None:
    document = cover_sheet(CoverSheet(HEADING, 1, "Precinct 1"))
    pdf = _print(ReportDocument(document.title, document.sections, test=True), test=False)
    assert all("TEST" not in text for text in _pages(pdf))


def test_report_text_the_font_cannot_show_is_refused() -> None:
    with pytest.raises(LegibilityError, match="U\\+4E2D"):
        render_report(ReportDocument("Report 中", ()))


def test_pdf_metadata_holds_no_time_or_id() -> None:
    pdf = render_report(cover_sheet(CoverSheet(HEADING, 1, "Precinct 1")))
    assert b"/CreationDate" not in pdf
    assert b"/ID" not in pdf
    assert b"/Info" not in pdf


# ---------------------------------------------------------------------------- official printing


def test_reprint_of_a_ballot_record_outside_test_mode_is_refused() -> None:
    view, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(1))
    with PaperWriter(io.BytesIO()) as writer, pytest.raises(ReprintRefused, match="never"):
        OfficialPrinter(writer, test_election=False).reprint_ballot_record(view, payload)


def test_test_deck_card_without_test_stamp_is_refused() -> None:
    view, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(1))
    with PaperWriter(io.BytesIO()) as writer, pytest.raises(UsageError, match="TEST flag"):
        OfficialPrinter(writer, test_election=True).reprint_ballot_record(view, payload)


def test_test_deck_card_prints_in_a_test_election() -> None:
    view, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(1), test=True)
    out = io.BytesIO()
    with PaperWriter(out) as writer:
        OfficialPrinter(writer, test_election=True).reprint_ballot_record(view, payload)
    assert "TEST" in _pages(out.getvalue())[0]


def test_remake_that_is_not_a_duplicate_is_refused() -> None:
    view, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(1))
    record = RemakeRecord(HEADING, str(view.ballot_id), 1, "precinct-12-b", "torn", "env",
                          (), ("official-1", "auditor-1"))
    with PaperWriter(io.BytesIO()) as writer, pytest.raises(UsageError, match="DUPLICATE"):
        OfficialPrinter(writer, test_election=False).remake(view, payload, record)


def test_spoiled_stamp_leaves_the_qr_readable() -> None:
    view, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(3))
    out = io.BytesIO()
    with PaperWriter(out) as writer:
        writer.add_ballot_record(view, payload, spoiled=True)
    assert "SPOILED" in _pages(out.getvalue())[0]
    context = ScanContext(ELECTION.election_id, (ELECTION.device_key.verify_key,))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spoiled.pdf"
        path.write_bytes(out.getvalue())
        [result] = list(scan_files([path], context))
    assert result.ok


# ---------------------------------------------------------------------------- capacity


def _manifest_with_style(contests: int) -> Manifest:
    document = json.loads(demo_manifest().source_bytes)
    for i in range(contests):
        document["contests"].append({
            "id": f"office-{i}", "title": {"en": f"Office number {i} of the county",
                                           "es": f"Cargo número {i} del condado"},
            "kind": "plurality", "vote_for": 3, "winners": 3,
            "selections": [{"id": f"c-{i}-{j}", "label": {"en": f"Candidate {j} Longname-{i}",
                                                          "es": f"Candidata {j} Longname-{i}"}}
                           for j in range(5)]})
    document["ballot_styles"].append({"id": "long", "label": {"en": "Long", "es": "Larga"},
                                      "contests": [f"office-{i}" for i in range(contests)]})
    return Manifest.from_bytes(json.dumps(document).encode())


def test_demo_manifest_fits_one_card_in_every_language() -> None:
    check_manifest_fits(demo_manifest())


def test_style_that_cannot_fit_one_card_is_refused_naming_style_and_language() -> None:
    with pytest.raises(LegibilityError) as refused:
        check_manifest_fits(_manifest_with_style(40))
    assert refused.value.where == "ballot style 'long' in language 'en'"
    assert "contests" in refused.value.reason
