"""Ballot record cards and receipts: content, legibility limits, metadata, streaming."""

from __future__ import annotations

import io
import random
import re

import pypdfium2
import pytest
from paper_helpers import render_pages

from e2e.errors import InvalidBallot, StateError, UsageError
from paper.ids import BallotId, format_tracking_code
from paper.layout import (
    A4,
    MINIMUM,
    LegibilityError,
    PaperWriter,
    TextRole,
    ballot_record_texts,
    check_style_fits,
    render_ballot_record,
    render_receipt,
)
from paper.payload import ReceiptStatus
from paper.samples import large_style, sample_election, small_style
from paper.scan import read_qr_codes
from paper.views import ContestOptionsView, ContestView, Label, StyleView

ELECTION = sample_election()


def _card(style: StyleView | None = None, seed: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return ELECTION.record(style or small_style(), "precinct-12-b", rng, **kwargs)


def _text(pdf: bytes, page: int = 0) -> str:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[page].get_textpage().get_text_range()
    finally:
        document.close()


def _words(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------- content


def test_card_prints_every_choice_title_limit_and_no_selection() -> None:
    view, payload = _card(seed=4)
    text = _words(_text(render_ballot_record(view, payload)))
    assert "The printed text is your vote of record." in text
    assert "General Election" in text
    assert "Springfield County" in text
    assert "November 3, 2026" in text
    assert "Ballot style: Precinct 12-B" in text
    assert str(view.ballot_id) in text
    for contest in view.contests:
        assert contest.title.text in text
        assert f"Vote for up to {contest.vote_for}" in text
        for label in contest.chosen:
            assert label.text in text
    undervoted = sum(1 for contest in view.contests if not contest.chosen)
    assert undervoted
    assert text.count("no selection") == undervoted


def test_choices_are_printed_in_large_type() -> None:
    view, payload = _card(seed=4)
    document = pypdfium2.PdfDocument(render_ballot_record(view, payload))
    textpage = document[0].get_textpage()
    text = textpage.get_text_range()  # one entry per character index of the text page
    chosen = [label.text for contest in view.contests for label in contest.chosen]
    assert chosen
    title_at = text.index(view.contests[0].title.text)
    title_size = pypdfium2.raw.FPDFText_GetFontSize(textpage.raw, title_at)
    for label in chosen:
        size = pypdfium2.raw.FPDFText_GetFontSize(textpage.raw, text.index(label))
        assert size >= MINIMUM.choice
        assert size > title_size
    document.close()


def test_bilingual_card_prints_the_voters_language_then_english() -> None:
    view, payload = _card(small_style(spanish=True), seed=2)
    text = _words(_text(render_ballot_record(view, payload)))
    assert "El texto impreso es su voto oficial. The printed text is your vote of record." in text
    assert "Gobernador Governor Vote por hasta 1 Vote for up to 1" in text
    assert "Medida A: Bonos para escuelas Measure A: School bonds" in text


def test_large_style_fits_one_card() -> None:
    check_style_fits(large_style())
    view, payload = _card(large_style(), seed=3)
    assert len(render_pages(render_ballot_record(view, payload))) == 1


def test_test_mode_stamps_every_contest_the_header_the_qr_and_the_footer() -> None:
    view, payload = _card(seed=5, test=True)
    texts = ballot_record_texts(view, payload)
    stamps = [t for t in texts if t.role is TextRole.STAMP]
    stamped_contests = {t.contest for t in stamps if t.contest is not None}
    assert stamped_contests == set(range(len(view.contests)))
    header_stamps = [t for t in texts if t.role is TextRole.STAMP and t.contest is None]
    assert len(header_stamps) >= 3  # beside the QR, in the header box, in the footer
    assert any(t.role is TextRole.WATERMARK for t in texts)
    assert "TEST" in _text(render_ballot_record(view, payload))


def test_real_card_carries_no_test_stamp() -> None:
    view, payload = _card(seed=5)
    assert "TEST" not in _text(render_ballot_record(view, payload))


def test_remake_is_stamped_duplicate_with_its_number() -> None:
    view, payload = _card(seed=5, remake=2)
    assert "DUPLICATE 2" in _text(render_ballot_record(view, payload))


def test_card_qr_is_drawn_as_vectors_and_decodes() -> None:
    view, payload = _card(seed=6)
    pdf = render_ballot_record(view, payload)
    assert b"/Subtype /Image" not in pdf  # no raster image anywhere in the file
    assert read_qr_codes(render_pages(pdf)[0]) == [payload.to_bytes()]


def test_card_prints_on_a4_too() -> None:
    view, payload = _card(seed=6)
    pdf = render_ballot_record(view, payload, card=A4)
    document = pypdfium2.PdfDocument(pdf)
    assert [round(x) for x in document[0].get_size()] == [595, 842]
    document.close()


def test_refuses_a_payload_that_disagrees_with_the_view() -> None:
    view, _ = _card(seed=7)
    _, other = _card(seed=8)
    with pytest.raises(UsageError, match="disagree"):
        render_ballot_record(view, other)


def test_view_refuses_an_overvote() -> None:
    with pytest.raises(InvalidBallot, match="at most 1"):
        ContestView(Label("Mayor"), 1, (Label("A"), Label("B")))


# ---------------------------------------------------------------------------- legibility


def _style(contests: int, title: str = "Contest", option: str = "Candidate Name") -> StyleView:
    return StyleView(
        Label("General Election"), Label("Springfield County"), Label("November 3, 2026"),
        Label("Ward 1"), "en",
        tuple(ContestOptionsView(Label(f"{title} {i}"), 1, (Label(option), Label("Other")))
              for i in range(contests)),
    )


def test_check_style_fits_refuses_too_many_contests_and_says_why() -> None:
    check_style_fits(_style(20))
    with pytest.raises(LegibilityError) as caught:
        check_style_fits(_style(60))
    message = str(caught.value)
    assert "ballot style 'Ward 1'" in message
    assert "minimum type sizes" in message
    assert "choices 12 pt" in message


def test_check_style_fits_uses_the_longest_options() -> None:
    # Fits with short names; the same style with one very long option does not.
    check_style_fits(_style(24))
    long_name = " ".join(["Bartholomew-Featherstonehaugh"] * 6)
    with pytest.raises(LegibilityError):
        check_style_fits(_style(24, option=long_name))


def test_refuses_a_word_wider_than_any_column() -> None:
    with pytest.raises(LegibilityError, match="wider than a column"):
        check_style_fits(_style(2, option="X" * 60))


def test_refuses_a_character_the_font_cannot_show() -> None:
    style = _style(2, option="Ōkubo Tomoko")
    with pytest.raises(LegibilityError, match="U\\+014C"):
        check_style_fits(style)
    cjk = _style(1, title="市长")
    with pytest.raises(LegibilityError, match="cannot show"):
        check_style_fits(cjk)


def test_card_render_refuses_what_the_capacity_check_refuses() -> None:
    view = ContestView(Label("Mayor"), 1, (Label("Ōkubo Tomoko"),))
    base, payload = _card(seed=9)
    from dataclasses import replace

    with pytest.raises(LegibilityError):
        render_ballot_record(replace(base, contests=(view,)), payload)


# ---------------------------------------------------------------------------- files


def test_pdf_carries_no_time_no_id_and_no_metadata() -> None:
    view, payload = _card(seed=10)
    pdf = render_ballot_record(view, payload)
    for marker in (b"/Info", b"/CreationDate", b"/ModDate", b"/ID", b"/Producer", b"/Title",
                   b"ReportLab", b"D:20"):
        assert marker not in pdf
    for form in (str(view.ballot_id), view.ballot_id.compact(), view.ballot_id.value.hex()):
        assert form.encode() not in pdf
    document = pypdfium2.PdfDocument(pdf)
    assert not any(document.get_metadata_dict().values())
    document.close()


def test_pdf_is_the_same_bytes_every_time() -> None:
    view, payload = _card(seed=11)
    assert render_ballot_record(view, payload) == render_ballot_record(view, payload)


def test_two_cards_differ_only_in_their_pages() -> None:
    # No per-file identifier: two cards' files have the same structure around the page.
    a = render_ballot_record(*_card(seed=12))
    b = render_ballot_record(*_card(seed=13))
    assert a[:15] == b[:15]
    assert re.sub(rb"\d+", b"", a[-60:]) == re.sub(rb"\d+", b"", b[-60:])


def test_streaming_writer_joins_many_pages_in_order() -> None:
    out = io.BytesIO()
    views = []
    rng = random.Random(14)
    with PaperWriter(out, chunk_pages=4) as writer:
        for i in range(11):
            view, payload = ELECTION.record(small_style(), "precinct-12-b", rng)
            writer.add_ballot_record(view, payload)
            views.append(view)
            if i == 5:
                writer.add_receipt(ELECTION.receipt(rng, ReceiptStatus.CAST))
        assert writer.page_count == 12
    document = pypdfium2.PdfDocument(out.getvalue())
    assert len(document) == 12
    ids = [str(v.ballot_id) for v in views]
    texts = [document[i].get_textpage().get_text_range() for i in range(12)]
    assert [next(i for i in ids if i in t) for t in texts if "Voter receipt" not in t] == ids
    assert "Voter receipt" in texts[6]
    assert document[6].get_size()[1] != document[0].get_size()[1]
    document.close()


def test_streaming_writer_refuses_pages_after_close() -> None:
    out = io.BytesIO()
    writer = PaperWriter(out)
    writer.add_ballot_record(*_card(seed=15))
    writer.close()
    view, payload = _card(seed=16)
    with pytest.raises(StateError, match="closed"):
        writer.add_ballot_record(view, payload)


# ---------------------------------------------------------------------------- receipts


def test_cast_receipt_shows_code_status_promise_and_how_to_complain() -> None:
    receipt = ELECTION.receipt(random.Random(17), ReceiptStatus.CAST)
    pdf = render_receipt(receipt)
    text = _words(_text(pdf))
    code = format_tracking_code(receipt.payload.tracking_code)
    assert code in text  # every group, in order
    assert "CAST" in text
    assert "CHALLENGED" not in text
    assert f"Ledger position: {receipt.payload.promise.index}" in text
    assert "This receipt does not show your choices." in text
    assert "Springfield County Elections" in text
    assert "by November 17, 2026" in text
    assert read_qr_codes(render_pages(pdf)[0]) == [receipt.payload.to_bytes()]


def test_challenge_receipt_says_how_to_check_on_another_device() -> None:
    receipt = ELECTION.receipt(random.Random(18), ReceiptStatus.CHALLENGED, test=True)
    text = _words(_text(render_receipt(receipt)))
    assert "CHALLENGED" in text
    assert "will NOT be counted" in text
    assert "phone or computer of your own" in text
    assert "https://verify.springfield.example/" in text
    assert text.count("TEST") >= 2


def test_receipt_never_shows_a_ballot_id() -> None:
    # Receipts and cards must not be linkable through anything printed on both.
    receipt = ELECTION.receipt(random.Random(19), ReceiptStatus.CAST)
    text = _text(render_receipt(receipt))
    assert "Ballot ID" not in text
    assert not re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)


def test_ballot_id_type_is_not_confusable_with_the_tracking_code() -> None:
    assert "-" in str(BallotId(bytes(16)))
    assert "-" not in format_tracking_code(bytes(32))


def test_joined_file_gives_every_font_subset_its_own_name() -> None:
    out = io.BytesIO()
    rng = random.Random(20)
    with PaperWriter(out, chunk_pages=2) as writer:
        for _ in range(6):
            writer.add_ballot_record(*ELECTION.record(small_style(), "precinct-12-b", rng))
    names = re.findall(rb"/BaseFont /([A-Z]{6}\+[\w-]+)", out.getvalue())
    assert len(names) == 6  # two subsets (regular, bold) in each of three chunks
    assert len(set(names)) == len(names)
