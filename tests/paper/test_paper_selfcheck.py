"""The kiosk's self-check: a card that does not say what the voter chose is never released."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

import paper.layout
from e2e.signing import SigningKey
from paper.layout import PrintedText, TextRole, ballot_record_texts, render_ballot_record
from paper.payload import make_ballot_record
from paper.samples import large_style, sample_election, small_style
from paper.scan import DeviceFault, _check_texts_match_view, self_check_ballot_record
from paper.views import BallotRecordView, ContestView, Label

ELECTION = sample_election()
STYLE = "precinct-12-b"


def _card(seed: int, **kwargs: object):  # type: ignore[no-untyped-def]
    style = kwargs.pop("style", small_style())
    return ELECTION.record(style, STYLE, random.Random(seed), **kwargs)  # type: ignore[arg-type]


def _check(pdf: bytes, view: BallotRecordView, key: SigningKey | None = None) -> None:
    signer = key or (ELECTION.remake_key if view.remake else ELECTION.device_key)
    self_check_ballot_record(pdf, view, election_id=ELECTION.election_id, style_id=STYLE,
                             signer_key=signer.verify_key)


def _with_choice(view: BallotRecordView) -> tuple[int, ContestView]:
    return next((i, c) for i, c in enumerate(view.contests) if c.chosen)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"test": True}, {"remake": 1}, {"style": small_style(spanish=True)},
     {"style": large_style()}],
    ids=["real", "test", "remake", "bilingual", "large"],
)
def test_passes_a_card_that_says_what_the_voter_chose(kwargs: dict[str, object]) -> None:
    view, payload = _card(1, **kwargs)
    _check(render_ballot_record(view, payload), view)


def test_catches_a_text_layer_with_another_choice() -> None:
    view, payload = _card(2)
    index, contest = _with_choice(view)
    others = [o for o in small_style().contests[index].options if o not in contest.chosen]
    wrong = replace(view, contests=tuple(
        replace(c, chosen=(others[0], *c.chosen[1:])) if i == index else c
        for i, c in enumerate(view.contests)))
    with pytest.raises(DeviceFault, match="text layer differs"):
        _check(render_ballot_record(wrong, payload), view)


def test_catches_a_card_drawn_with_a_different_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan is right, but drawing puts another name on the page (a font, encoding or
    # drawing fault): only the extracted text layer shows it.
    view, payload = _card(3)
    draw = paper.layout._draw

    def corrupt(canvas, page):  # type: ignore[no-untyped-def]
        ops = list(page.ops)
        at = next(i for i, op in enumerate(ops) if isinstance(op, paper.layout._Text)
                  and op.printed.role is TextRole.CHOICE)
        ops[at] = replace(ops[at], printed=replace(ops[at].printed, text="Somebody Else"))
        draw(canvas, replace(page, ops=tuple(ops)))

    monkeypatch.setattr(paper.layout, "_draw", corrupt)
    pdf = render_ballot_record(view, payload)
    monkeypatch.undo()
    with pytest.raises(DeviceFault, match="Somebody"):
        _check(pdf, view)


def test_catches_a_layout_that_drops_a_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    # A planning fault: the card and the self-check's own plan both lose the last
    # choice, so only the comparison with the voter's choices catches it.
    view, payload = _card(4)
    block = paper.layout._contest_block

    def dropping(view, index, contest, *args):  # type: ignore[no-untyped-def]
        return block(view, index, replace(contest, chosen=contest.chosen[:-1]), *args)

    monkeypatch.setattr(paper.layout, "_contest_block", dropping)
    pdf = render_ballot_record(view, payload)
    with pytest.raises(DeviceFault, match=r"choices printed where the voter made|no selection"):
        _check(pdf, view)


def test_catches_a_qr_naming_another_ballot_id() -> None:
    view, _ = _card(5)
    other_view, other_payload = _card(6)
    pdf = render_ballot_record(replace(view, ballot_id=other_view.ballot_id), other_payload)
    with pytest.raises(DeviceFault, match="QR code names"):
        _check(pdf, view)


def test_catches_a_qr_signed_by_another_device() -> None:
    view, _payload = _card(7)
    stranger = SigningKey(bytes([5]) * 32)
    forged = make_ballot_record(stranger, ELECTION.election_id, STYLE, view.ballot_id,
                                test=False)
    with pytest.raises(DeviceFault, match="QR code is wrong"):
        _check(render_ballot_record(view, forged), view)


def test_catches_a_qr_of_another_election() -> None:
    view, _ = _card(8)
    other = make_ballot_record(ELECTION.device_key, "shelbyville-2026-general", STYLE,
                               view.ballot_id, test=False)
    with pytest.raises(DeviceFault, match="shelbyville"):
        _check(render_ballot_record(view, other), view)


def test_catches_a_real_card_printed_for_a_test_ballot() -> None:
    view, payload = _card(9)
    with pytest.raises(DeviceFault, match="QR code names"):
        _check(render_ballot_record(view, payload), replace(view, test_mode=True))


def test_catches_a_pdf_with_two_pages() -> None:
    import io

    view, payload = _card(10)
    out = io.BytesIO()
    with paper.layout.PaperWriter(out) as writer:
        writer.add_ballot_record(view, payload)
        writer.add_ballot_record(view, payload)
    with pytest.raises(DeviceFault, match="one page"):
        _check(out.getvalue(), view)


def test_catches_a_pdf_that_does_not_open() -> None:
    view, _ = _card(11)
    with pytest.raises(DeviceFault, match="does not open"):
        _check(b"%PDF-1.4\nnot really", view)


# The comparison of printed texts with the voter's choices, check by check: each case
# breaks one thing in an otherwise correct list of printed texts.


def _tamper(texts: tuple[PrintedText, ...], role: TextRole, change):  # type: ignore[no-untyped-def]
    at = next(i for i, t in enumerate(texts) if t.role is role)
    changed = change(texts[at])
    return texts[:at] + ((changed,) if changed is not None else ()) + texts[at + 1 :]


@pytest.mark.parametrize(
    ("role", "change", "message"),
    [
        (TextRole.CONTEST_TITLE, lambda t: replace(t, text="Dog Catcher"), "contest title"),
        (TextRole.VOTE_FOR, lambda t: replace(t, text="Vote for up to 9"), "'vote for'"),
        (TextRole.CHOICE, lambda t: replace(t, text="Somebody Else"), "not printed as chosen"),
        (TextRole.CHOICE, lambda t: None, "choices printed where"),
        (TextRole.CHOICE, lambda t: replace(t, contest=99), "does not have"),
        (TextRole.NO_SELECTION, lambda t: None, "'no selection'"),
        (TextRole.BALLOT_ID, lambda t: None, "ballot ID"),
    ],
    ids=["title", "vote-for", "choice-text", "choice-missing", "extra-contest",
         "no-selection-missing", "ballot-id-missing"],
)
def test_comparison_catches_each_kind_of_wrong_text(role, change, message) -> None:  # type: ignore[no-untyped-def]
    view, payload = _card(12)
    texts = ballot_record_texts(view, payload)
    if role is TextRole.BALLOT_ID:
        texts = tuple(t for t in texts if t.text != str(view.ballot_id))
    else:
        texts = _tamper(texts, role, change)
    with pytest.raises(DeviceFault, match=message):
        _check_texts_match_view(texts, view)


def test_comparison_catches_a_choice_printed_for_an_undervote() -> None:
    view, payload = _card(13)
    texts = ballot_record_texts(view, payload)
    index = next(i for i, c in enumerate(view.contests) if not c.chosen)
    extra = PrintedText(TextRole.CHOICE, "Somebody", index, 0)
    with pytest.raises(DeviceFault, match="choices printed where"):
        _check_texts_match_view((*texts, extra), view)


def test_comparison_catches_missing_test_stamps() -> None:
    view, payload = _card(14, test=True)
    texts = tuple(t for t in ballot_record_texts(view, payload)
                  if t.role not in (TextRole.STAMP, TextRole.WATERMARK))
    with pytest.raises(DeviceFault, match="without TEST stamps"):
        _check_texts_match_view(texts, view)


def test_comparison_catches_test_stamps_on_a_real_card() -> None:
    view, payload = _card(15)
    texts = (*ballot_record_texts(view, payload), PrintedText(TextRole.STAMP, "TEST"))
    with pytest.raises(DeviceFault, match="TEST stamps printed on a real card"):
        _check_texts_match_view(texts, view)


def test_comparison_catches_a_missing_duplicate_stamp() -> None:
    view, payload = _card(16, remake=1)
    texts = tuple(t for t in ballot_record_texts(view, payload) if "DUPLICATE" not in t.text)
    with pytest.raises(DeviceFault, match="DUPLICATE"):
        _check_texts_match_view(texts, view)


def test_comparison_is_independent_of_labels_repeated_across_contests() -> None:
    # Two contests offering the same name: a choice printed under the wrong one is caught.
    view, payload = _card(17)
    same = Label("Pat Smith")
    contests = (ContestView(Label("Council A"), 1, (same,)), ContestView(Label("Council B"), 1, ()))
    view = replace(view, contests=contests)
    texts = ballot_record_texts(view, payload)
    moved = tuple(replace(t, contest=1) if t.role is TextRole.CHOICE else t for t in texts)
    with pytest.raises(DeviceFault):
        _check_texts_match_view(moved, view)


def test_comparison_catches_a_duplicate_stamp_on_an_original() -> None:
    view, payload = _card(18)
    texts = (*ballot_record_texts(view, payload), PrintedText(TextRole.STAMP, "DUPLICATE 1"))
    with pytest.raises(DeviceFault, match="DUPLICATE"):
        _check_texts_match_view(texts, view)
