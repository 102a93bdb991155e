"""Reading paper back: print → render at 150 dpi → degrade → scan, the manifest's flags."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from paper_helpers import degrade, qr_image, render_pages

from e2e.errors import EncodingError, InputError
from e2e.signing import SigningKey
from paper.ids import BallotId
from paper.layout import PaperWriter, render_ballot_record, render_receipt
from paper.payload import PayloadKind, ReceiptStatus, make_ballot_record
from paper.samples import large_style, sample_election, small_style
from paper.scan import CardFlag, PageResult, ScanContext, build_manifest, scan_files, scan_image

ELECTION = sample_election()
CONTEXT = ScanContext(ELECTION.election_id, (ELECTION.device_key.verify_key,),
                      (ELECTION.remake_key.verify_key,), ELECTION.operator_key.verify_key)
STYLES = {"precinct-12-b": small_style(), "precinct-12-b-es": small_style(spanish=True),
          "precinct-3-a": large_style()}


def _round_trip(count: int, seed: int) -> None:
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    style_ids = sorted(STYLES)
    for i in range(count):
        # Every third ballot is the largest style; JPEG on every other scan.
        style_id = "precinct-3-a" if i % 3 == 0 else style_ids[i % len(style_ids)]
        test = i % 5 == 4
        view, payload = ELECTION.record(STYLES[style_id], style_id, rng, test=test)
        page = render_pages(render_ballot_record(view, payload), dpi=150)[0]
        scanned = degrade(page, noise, jpeg=i % 2 == 0)
        context = ScanContext(CONTEXT.election_id, CONTEXT.device_keys, test_election=test)
        result = scan_image(scanned, context, file=f"card-{i}", page=1)
        assert result.ok, f"ballot {i} ({style_id}): {result.error}"
        assert result.payload == payload
        assert result.fields["ballot_id"] == str(view.ballot_id)


def test_cards_survive_print_and_a_cheap_150_dpi_scan() -> None:
    _round_trip(12, seed=1)


@pytest.mark.slow
def test_many_cards_survive_print_and_a_cheap_150_dpi_scan() -> None:
    _round_trip(90, seed=2)


def test_receipts_survive_print_and_a_cheap_150_dpi_scan() -> None:
    rng = random.Random(3)
    noise = np.random.default_rng(3)
    for i, status in enumerate([ReceiptStatus.CAST, ReceiptStatus.CHALLENGED] * 2):
        receipt = ELECTION.receipt(rng, status)
        page = render_pages(render_receipt(receipt))[0]
        result = scan_image(degrade(page, noise, jpeg=i % 2 == 0), CONTEXT,
                            expect=PayloadKind.RECEIPT)
        assert result.ok, result.error
        assert result.payload == receipt.payload
        assert result.fields["status"] == status.name


def test_scan_output_never_shows_a_vote() -> None:
    rng = random.Random(4)
    view, payload = ELECTION.record(small_style(), "precinct-12-b", rng)
    result = scan_image(render_pages(render_ballot_record(view, payload))[0], CONTEXT)
    out = json.dumps(result.to_json())
    for contest in view.contests:
        for label in contest.chosen:
            assert label.text not in out
    assert set(result.to_json()) == {"file", "page", "ok", "kind", "election_id", "style_id",
                                     "ballot_id", "test", "duplicate", "remake"}


# ---------------------------------------------------------------------------- negatives


def test_flags_tampered_payload_bytes() -> None:
    rng = random.Random(5)
    _, payload = ELECTION.record(small_style(), "precinct-12-b", rng)
    raw = bytearray(payload.to_bytes())
    raw[40] ^= 0x01  # inside the ballot ID
    result = scan_image(qr_image(bytes(raw)), CONTEXT)
    assert not result.ok
    assert result.problem == "invalid"
    assert "signed" in (result.error or "")


def test_flags_another_elections_card() -> None:
    other = make_ballot_record(ELECTION.device_key, "shelbyville-2026-general", "ward-1",
                               BallotId(bytes(16)), test=False)
    result = scan_image(qr_image(other.to_bytes()), CONTEXT)
    assert not result.ok
    assert result.problem == "foreign"
    assert result.fields["election_id"] == "shelbyville-2026-general"


def test_flags_a_forged_signature() -> None:
    forged = make_ballot_record(SigningKey(bytes([9]) * 32), ELECTION.election_id,
                                "precinct-12-b", BallotId(bytes(16)), test=False)
    result = scan_image(qr_image(forged.to_bytes()), CONTEXT)
    assert not result.ok
    assert result.problem == "invalid"


def test_flags_a_receipt_scanned_as_a_card() -> None:
    receipt = ELECTION.receipt(random.Random(6), ReceiptStatus.CAST)
    result = scan_image(render_pages(render_receipt(receipt))[0], CONTEXT)
    assert not result.ok
    assert result.kind == "receipt"
    assert result.problem == "wrong-kind"


def test_flags_a_card_scanned_as_a_receipt() -> None:
    _, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(7))
    result = scan_image(qr_image(payload.to_bytes()), CONTEXT, expect=PayloadKind.RECEIPT)
    assert not result.ok
    assert result.problem == "wrong-kind"


def test_flags_a_test_card_in_a_real_election() -> None:
    _, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(8), test=True)
    result = scan_image(qr_image(payload.to_bytes()), CONTEXT)
    assert not result.ok
    assert result.problem == "test"
    assert result.error == "TEST card in a real election"


def test_flags_a_real_card_in_a_test_election() -> None:
    _, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(9))
    context = ScanContext(CONTEXT.election_id, CONTEXT.device_keys, test_election=True)
    result = scan_image(qr_image(payload.to_bytes()), context)
    assert result.problem == "not-test"


def test_reports_a_blank_page_as_unreadable() -> None:
    from PIL import Image

    result = scan_image(Image.new("L", (600, 800), 255), CONTEXT)
    assert not result.ok
    assert result.kind is None
    assert result.problem == "unreadable"


def test_reports_two_qr_codes_on_one_page() -> None:
    from PIL import Image

    a = qr_image(ELECTION.record(small_style(), "precinct-12-b", random.Random(10))[1].to_bytes())
    b = qr_image(ELECTION.record(small_style(), "precinct-12-b", random.Random(11))[1].to_bytes())
    page = Image.new("L", (a.width + b.width, max(a.height, b.height)), 255)
    page.paste(a, (0, 0))
    page.paste(b, (a.width, 0))
    result = scan_image(page, CONTEXT)
    assert result.error == "2 different QR codes on one page"


# ---------------------------------------------------------------------------- manifest


def _ok(payload: object, page: int) -> PageResult:
    return PageResult("box.pdf", page, True, "ballot-record", {}, payload=payload)  # type: ignore[arg-type]


def test_manifest_lists_batch_position_and_id_in_box_order() -> None:
    rng = random.Random(12)
    cards = [ELECTION.record(small_style(), "precinct-12-b", rng)[1] for _ in range(5)]
    manifest = build_manifest([("b1", [_ok(c, i) for i, c in enumerate(cards[:3], 1)]),
                               ("b2", [_ok(c, i) for i, c in enumerate(cards[3:], 1)])])
    assert [(e.batch, e.position, e.ballot_id) for e in manifest.entries] == [
        ("b1", 1, cards[0].ballot_id), ("b1", 2, cards[1].ballot_id),
        ("b1", 3, cards[2].ballot_id), ("b2", 1, cards[3].ballot_id),
        ("b2", 2, cards[4].ballot_id)]
    assert not manifest.flagged()


def test_manifest_flags_a_duplicate_id_in_a_batch() -> None:
    rng = random.Random(13)
    a, b = (ELECTION.record(small_style(), "precinct-12-b", rng)[1] for _ in range(2))
    manifest = build_manifest([("b1", [_ok(a, 1), _ok(b, 2), _ok(a, 3)])])
    flags = [e.flags for e in manifest.entries]
    assert flags == [{CardFlag.REPEATED_ID}, frozenset(), {CardFlag.REPEATED_ID}]


def test_manifest_flags_a_remake_and_its_original_both_counted() -> None:
    rng = random.Random(14)
    _view, original = ELECTION.record(small_style(), "precinct-12-b", rng)
    remake = make_ballot_record(ELECTION.remake_key, ELECTION.election_id, "precinct-12-b",
                                original.ballot_id, test=False, remake=1)
    pages = [scan_image(qr_image(p.to_bytes()), CONTEXT) for p in (original, remake)]
    manifest = build_manifest([("b1", pages)])
    assert manifest.entries[0].flags == {CardFlag.REPEATED_ID}
    assert manifest.entries[1].flags == {CardFlag.REPEATED_ID, CardFlag.DUPLICATE_REMAKE}
    alone = build_manifest([("b1", pages[1:])])
    assert alone.entries[0].flags == {CardFlag.DUPLICATE_REMAKE}


def test_manifest_flags_spoiled_test_foreign_and_receipts() -> None:
    rng = random.Random(15)
    _, spoiled = ELECTION.record(small_style(), "precinct-12-b", rng)
    _, test_card = ELECTION.record(small_style(), "precinct-12-b", rng, test=True)
    foreign = make_ballot_record(ELECTION.device_key, "shelbyville-2026-general", "ward-1",
                                 spoiled.ballot_id, test=False)
    receipt = ELECTION.receipt(rng, ReceiptStatus.CAST).payload
    pages = [scan_image(qr_image(p.to_bytes()), CONTEXT)
             for p in (spoiled, test_card, foreign, receipt)]
    manifest = build_manifest([("b1", pages)], spoiled={spoiled.ballot_id})
    flags = [e.flags for e in manifest.entries]
    assert flags[0] == {CardFlag.SPOILED}  # the foreign card's same ID does not repeat it
    assert flags[1] == {CardFlag.TEST_CARD}
    assert flags[2] == {CardFlag.FOREIGN_ELECTION}
    assert flags[3] == {CardFlag.NOT_A_CARD}
    assert manifest.flag_counts()[CardFlag.TEST_CARD] == 1


def test_manifest_takes_a_typed_id_for_an_unreadable_card() -> None:
    from PIL import Image

    blank = scan_image(Image.new("L", (300, 300), 255), CONTEXT, file="box.pdf", page=1)
    printed = str(BallotId(bytes(range(16))))
    manifest = build_manifest([("b1", [blank])], manual_ids={("b1", 1): printed.lower()})
    entry = manifest.entries[0]
    assert entry.ballot_id == BallotId(bytes(range(16)))
    assert entry.manual
    assert entry.flags == {CardFlag.UNREADABLE}
    unresolved = build_manifest([("b1", [blank])])
    assert unresolved.entries[0].ballot_id is None


def test_manifest_refuses_a_typed_id_with_a_bad_check_symbol() -> None:
    from PIL import Image

    blank = scan_image(Image.new("L", (300, 300), 255), CONTEXT)
    printed = str(BallotId(bytes(range(16))))
    typo = printed[:5] + ("Z" if printed[5] != "Z" else "Y") + printed[6:]
    with pytest.raises(EncodingError) as caught:
        build_manifest([("b1", [blank])], manual_ids={("b1", 1): typo})
    assert caught.value.where == "batch 'b1' position 1"


def test_manifest_refuses_a_typed_id_for_a_readable_card() -> None:
    _, payload = ELECTION.record(small_style(), "precinct-12-b", random.Random(16))
    page = scan_image(qr_image(payload.to_bytes()), CONTEXT)
    with pytest.raises(EncodingError, match="QR was read"):
        build_manifest([("b1", [page])], manual_ids={("b1", 1): str(payload.ballot_id)})


# ---------------------------------------------------------------------------- files


def test_scans_multi_page_pdfs_and_image_files(tmp_path: Path) -> None:
    rng = random.Random(17)
    cards = [ELECTION.record(small_style(), "precinct-12-b", rng) for _ in range(4)]
    out = io.BytesIO()
    with PaperWriter(out, chunk_pages=2) as writer:
        for view, payload in cards[:3]:
            writer.add_ballot_record(view, payload)
    (tmp_path / "box.pdf").write_bytes(out.getvalue())
    page = render_pages(render_ballot_record(*cards[3]))[0]
    page.save(tmp_path / "card.png")
    page.save(tmp_path / "card.jpg", quality=80)
    frames = [render_pages(render_ballot_record(*c))[0] for c in cards[:2]]
    frames[0].save(tmp_path / "cards.tiff", save_all=True, append_images=frames[1:])
    files = [tmp_path / n for n in ("box.pdf", "card.png", "card.jpg", "cards.tiff")]
    results = list(scan_files(files, CONTEXT))
    assert [(Path(r.file).name, r.page) for r in results] == [
        ("box.pdf", 1), ("box.pdf", 2), ("box.pdf", 3), ("card.png", 1), ("card.jpg", 1),
        ("cards.tiff", 1), ("cards.tiff", 2)]
    assert all(r.ok for r in results)
    expected = [c[1].ballot_id for c in cards[:3]] + [cards[3][1].ballot_id] * 2 + [
        c[1].ballot_id for c in cards[:2]]
    assert [r.payload.ballot_id for r in results] == expected  # type: ignore[union-attr]


def test_refuses_files_it_cannot_scan(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="expected a PDF"):
        list(scan_files([tmp_path / "notes.txt"], CONTEXT))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    with pytest.raises(InputError, match="cannot read"):
        list(scan_files([tmp_path / "broken.pdf"], CONTEXT))
