"""The demo's audit board reads the paper, and ``--tamper paper`` forges the paper.

Cards of the demo election are printed as the kiosk prints them (English and Spanish,
blank contests, measures), joined into a batch PDF as the demo's boxes are; the board's
reading of each page must be exactly what was printed. A forgery (same ballot ID, the
original's QR code copied, other choices) must still carry a QR code that verifies under
the kiosk's key, and the board must read the forged choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pypdfium2
import pytest

from e2e.ballot import mark_ballot
from e2e.manifest import Manifest
from e2e.signing import SigningKey
from paper.ids import BallotId
from paper.layout import render_ballot_record
from paper.manifest_views import record_view
from paper.payload import decode_ballot_record, make_ballot_record
from paper.pdfstream import PdfStreamWriter
from paper.scan import read_qr_codes
from paperchain.demo import _Voters, demo_manifest_bytes
from paperchain.demo_board import BatchPapers, read_card_text
from paperchain.demo_paper import FORGER_DPI, forge_cards

MANIFEST = Manifest.from_bytes(demo_manifest_bytes())
KEY = SigningKey(bytes([7]) * 32)
BATCH = "Place 1 box 1"
CARDS = 8


def _choices(manifest: Manifest, style_id: str, raw: Mapping[str, list[str]]
             ) -> dict[str, frozenset[str]]:
    marked = mark_ballot(manifest, style_id, raw)
    return {c: frozenset(v) for c, v in marked.choices(manifest).items()}


def _printed(seed: int) -> list[tuple[BallotId, str, dict[str, frozenset[str]]]]:
    voters = _Voters(MANIFEST, seed)
    cards = []
    for number in range(CARDS):
        style_id, raw = voters.ballot()
        if number == 0:  # one card with every contest blank
            raw = {c: [] for c in raw}
        cards.append((BallotId(bytes([number + 1]) * 16), style_id,
                      _choices(MANIFEST, style_id, raw)))
    return cards


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, list[tuple[BallotId, str, dict[str, frozenset[str]]]]]:
    cards = _printed(11)
    path = tmp_path_factory.mktemp("boxes") / "place-1-box-1.pdf"
    with path.open("wb") as handle:
        joined = PdfStreamWriter(handle)
        for number, (ballot_id, style_id, choices) in enumerate(cards):
            language = "es" if number % 2 else "en"
            view = record_view(MANIFEST, style_id, language, choices, ballot_id,
                               test_mode=number % 3 == 0)
            payload = make_ballot_record(KEY, MANIFEST.election_id, style_id, ballot_id,
                                         test=number % 3 == 0)
            joined.append(render_ballot_record(view, payload))
        joined.close()
    return path, cards


def _expected(style_id: str, choices: Mapping[str, frozenset[str]]) -> list[tuple[str, str,
                                                                               list[str]]]:
    on_style = {c.id for _, c in MANIFEST.contests_of_style(style_id)}
    out = []
    for contest in MANIFEST.contests:
        if contest.id not in on_style:
            out.append((contest.id, "not-on-card", []))
        elif choices.get(contest.id):
            out.append((contest.id, "votes", sorted(choices[contest.id])))
        else:
            out.append((contest.id, "blank", []))
    return out


def _read(path: Path, cards: list[tuple[BallotId, str, dict[str, frozenset[str]]]],
          positions: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    styles = {(BATCH, n): style for n, (_, style, _) in enumerate(cards, start=1)}
    ids = {(BATCH, n): bid.value for n, (bid, _, _) in enumerate(cards, start=1)}
    return BatchPapers({BATCH: path}).read(MANIFEST, 1, positions, styles, ids)


def test_board_reads_exactly_what_each_card_prints(batch) -> None:  # type: ignore[no-untyped-def]
    path, cards = batch
    readings = _read(path, cards, [(BATCH, n) for n in range(1, CARDS + 1)])
    assert any(kind == "blank" for r in readings for _, kind, _ in
               [(c, x.kind, x.votes) for c, x in r.contests])
    for reading, (ballot_id, style_id, choices) in zip(readings, cards, strict=True):
        assert reading.condition == "ok"
        assert reading.ballot_id == ballot_id.value
        got = [(c, x.kind, sorted(x.votes)) for c, x in reading.contests]
        assert got == _expected(style_id, choices)


def test_board_finds_missing_cards_and_other_ids(batch) -> None:  # type: ignore[no-untyped-def]
    path, cards = batch
    other = [(BallotId(b"\xee" * 16), style, choices) for _, style, choices in cards]
    missing, differs = _read(path, other, [(BATCH, CARDS + 1), (BATCH, 2)])
    assert (missing.condition, missing.ballot_id) == ("not-found", None)
    assert differs.condition == "id-differs"
    assert differs.ballot_id == cards[1][0].value  # what the card says, not the manifest
    unknown = BatchPapers({}).read(MANIFEST, 1, [("No such batch", 1)], {}, {})
    assert unknown[0].condition == "not-found"


def test_unreadable_contest_is_cannot_agree(batch) -> None:  # type: ignore[no-untyped-def]
    path, cards = batch
    text = BatchPapers({BATCH: path}).texts(BATCH)[1]
    contest = MANIFEST.contests[0]
    damaged = text
    for title in contest.title.values():
        damaged = damaged.replace(title, "~~~")
    reading = read_card_text(damaged, MANIFEST, cards[1][1], 1, BATCH, 2, cards[1][0].value)
    assert reading.reading(contest.id) is not None
    assert reading.reading(contest.id).kind == "cannot-agree"  # type: ignore[union-attr]


def test_forgery_keeps_id_and_valid_qr_but_the_board_reads_the_forged_choices(
        batch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    original, cards = batch
    path = tmp_path / original.name
    path.write_bytes(original.read_bytes())
    target = next(n for n, (_, style, _) in enumerate(cards) if n and any(
        c.id == "mayor" for _, c in MANIFEST.contests_of_style(style)))
    ballot_id, style_id, choices = cards[target]
    mayor = next(c for c in MANIFEST.contests if c.id == "mayor")
    other = next(s.id for s in mayor.selections if s.id not in choices.get("mayor", ()))
    forged_choices = {**choices, "mayor": frozenset({other})}
    assert forge_cards({BATCH: path}, MANIFEST, {ballot_id.value: forged_choices}) == 1

    before = _read(original, cards, [(BATCH, n) for n in range(1, CARDS + 1)])
    after = _read(path, cards, [(BATCH, n) for n in range(1, CARDS + 1)])
    for n, (old, new) in enumerate(zip(before, after, strict=True)):
        if n != target:
            assert new == old  # the other cards are untouched
    forged = after[target]
    assert forged.condition == "ok"
    assert forged.ballot_id == ballot_id.value
    assert [(c, x.kind, sorted(x.votes)) for c, x in forged.contests] == _expected(
        style_id, forged_choices)
    # The copied QR code still verifies under the kiosk's key: only the text tells.
    document = pypdfium2.PdfDocument(path)
    try:
        assert len(document) == CARDS
        image = document[target].render(scale=FORGER_DPI / 72, grayscale=True).to_pil()
    finally:
        document.close()
    (code,) = read_qr_codes(image)
    payload = decode_ballot_record(code, election_id=MANIFEST.election_id,
                                   device_keys=(KEY.verify_key,))
    assert (payload.ballot_id, payload.style_id) == (ballot_id, style_id)


def test_forging_nothing_leaves_the_batch_file_alone(batch, tmp_path: Path
                                                     ) -> None:  # type: ignore[no-untyped-def]
    original, _ = batch
    path = tmp_path / original.name
    path.write_bytes(original.read_bytes())
    assert forge_cards({BATCH: path}, MANIFEST, {b"\x00" * 16: {}}) == 0
    assert path.read_bytes() == original.read_bytes()
