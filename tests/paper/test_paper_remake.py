"""The remake procedure: the ``card-remake`` entry (admission and verifier), the DUPLICATE
card and its form, and what the scanner makes of remakes."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pypdfium2
import pytest
from election_helpers import AUDITOR, OFFICIAL, VotedLedger, voted_ledger

from e2e.encoding import canonical_json
from e2e.errors import InvalidSignature, LedgerError, PaperchainError
from e2e.group import TEST_GROUP
from e2e.ledger.client import Writer
from e2e.ledger.entry import GENESIS_PREVIOUS, Envelope, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from e2e.remake import CardRemake
from e2e.signing import SignatureTag
from e2e.verify import RecordVerifier
from paper.election import PaperElection
from paper.ids import BallotId
from paper.layout import PaperWriter, render_ballot_record
from paper.manifest_views import record_view
from paper.official import OfficialPrinter
from paper.payload import make_ballot_record
from paper.scan import CardFlag, build_manifest, scan_files
from paperchain.printing import remake_card


@pytest.fixture(scope="module")
def voted(tmp_path_factory: pytest.TempPathFactory) -> VotedLedger:
    return voted_ledger(tmp_path_factory.mktemp("remake"), TEST_GROUP, cast=3, challenged=1)


def _election(voted: VotedLedger) -> PaperElection:
    return PaperElection.read(voted.ledger.entries(0), election_id=voted.election_id,
                              allow_test_group=True)


def _remake(voted: VotedLedger, ballot_id: BallotId, *, remake: int = 1, test: bool = True,
            cosigner: str = AUDITOR, style: str = "ward-1") -> CardRemake:
    key = voted.auditor_key if cosigner == AUDITOR else voted.official_key
    unsigned = CardRemake(ballot_id.value, remake, style, test, "torn in the scanner",
                          "envelope R-1", (OFFICIAL, cosigner), bytes(64))
    signature = key.sign(SignatureTag.CARD_REMAKE, voted.election_id,
                         canonical_json(unsigned.body()))
    return CardRemake(ballot_id.value, remake, style, test, unsigned.reason,
                      unsigned.original_kept_in, unsigned.board, signature)


def _verify(voted: VotedLedger, extra: tuple[CardRemake, ...] = ()) -> RecordVerifier:
    """The verifier over the ledger, with ``extra`` remake entries appended unchecked."""
    envelopes = list(voted.ledger.envelopes(0))
    previous = leaf_hash_of(envelopes[-1]) if envelopes else GENESIS_PREVIOUS
    sequence = voted.ledger.next_sequence(OFFICIAL)
    for remake in extra:
        entry = sign_entry(voted.official_key, EntryType.CARD_REMAKE, voted.election_id,
                           OFFICIAL, sequence, remake.to_payload())
        raw = Envelope(len(envelopes), previous, entry.encode()).encode()
        envelopes.append(raw)
        previous, sequence = leaf_hash_of(raw), sequence + 1
    verifier = RecordVerifier(voted.election_id, allow_test_group=True, executor=None)
    verifier.run(envelopes)
    return verifier


def _problems(verifier: RecordVerifier) -> list[str]:
    return [f.problem for f in verifier.report.findings if "card-remake" in f.where]


# ---------------------------------------------------------------------------- the procedure


def test_remake_is_recorded_printed_verified_and_scanned(voted: VotedLedger,
                                                         tmp_path: Path) -> None:
    election = _election(voted)
    original = voted.cast[0]
    out = io.BytesIO()
    with PaperWriter(out) as writer:
        outcome = remake_card(
            OfficialPrinter(writer, test_election=True), voted.ledger, election,
            official_id=OFFICIAL, official_key=voted.official_key, cosigner_id=AUDITOR,
            cosigner_key=voted.auditor_key, ballot_id=original, style_id="ward-1",
            choices={"mayor": ["alice-adams"]}, reason="torn in the scanner",
            original_kept_in="envelope R-1")
    assert outcome.remake == 1
    document = pypdfium2.PdfDocument(out.getvalue())
    card_text = document[0].get_textpage().get_text_range()
    form_text = " ".join(document[1].get_textpage().get_text_range().split())
    assert "DUPLICATE 1" in card_text
    assert str(original) in card_text
    assert "Card remake record" in form_text
    assert "Second official or auditor" in form_text
    assert f"card-remake at index {outcome.ledger_index}" in form_text
    # The verifier accepts it; the scanner accepts the card and flags it as a remake.
    verifier = _verify(voted)
    assert not verifier.report.findings
    assert verifier.report.checks["card remakes (two signatures, style, TEST, numbering)"] >= 1
    pdf = tmp_path / "remade.pdf"
    pdf.write_bytes(out.getvalue())
    after = _election(voted)
    results = list(scan_files([pdf], after.scan_context()))
    assert results[0].ok, results[0].error
    manifest = build_manifest([("box", results[:1])], spoiled=after.spoiled)
    assert manifest.entries[0].flags == {CardFlag.DUPLICATE_REMAKE}


def test_remake_without_a_second_signature_is_refused(voted: VotedLedger) -> None:
    with pytest.raises(InvalidSignature, match="two signatures"):
        CardRemake.sign(ballot_id=voted.cast[1].value, remake=1, style_id="ward-1", test=True,
                        reason="stained", original_kept_in="envelope R-2", writer_id=OFFICIAL,
                        cosigner_id=OFFICIAL, cosigner=voted.official_key,
                        election_id=voted.election_id)
    selfsigned = _remake(voted, voted.cast[1], cosigner=OFFICIAL)
    with pytest.raises(InvalidSignature, match="two signatures"):
        voted.official().write(EntryType.CARD_REMAKE, selfsigned.to_payload())


def test_remake_with_a_forged_cosignature_is_refused(voted: VotedLedger) -> None:
    forged = _remake(voted, voted.cast[1], cosigner=OFFICIAL)
    forged = CardRemake(forged.ballot_id, 1, forged.style_id, True, forged.reason,
                        forged.original_kept_in, (OFFICIAL, AUDITOR), forged.cosignature)
    with pytest.raises(InvalidSignature):
        voted.official().write(EntryType.CARD_REMAKE, forged.to_payload())


def test_remake_of_a_spoiled_paper_is_refused(voted: VotedLedger) -> None:
    with pytest.raises(PaperchainError, match="SPOILED"):
        voted.official().write(EntryType.CARD_REMAKE,
                               _remake(voted, voted.spoiled[0]).to_payload())


def test_remake_numbers_that_skip_are_refused(voted: VotedLedger) -> None:
    with pytest.raises(PaperchainError, match="next remake is number 1"):
        voted.official().write(EntryType.CARD_REMAKE,
                               _remake(voted, voted.cast[2], remake=2).to_payload())


def test_real_remake_in_a_test_election_is_refused(voted: VotedLedger) -> None:
    with pytest.raises(PaperchainError, match="TEST"):
        voted.official().write(EntryType.CARD_REMAKE,
                               _remake(voted, voted.cast[2], test=False).to_payload())


def test_remake_while_voting_is_refused(tmp_path: Path) -> None:
    open_polls = voted_ledger(tmp_path, TEST_GROUP, cast=1, challenged=0, close=False)
    with pytest.raises(LedgerError, match="voting phase"):
        open_polls.official().write(EntryType.CARD_REMAKE,
                                    _remake(open_polls, open_polls.cast[0]).to_payload())


def test_verifier_finds_remakes_the_operator_would_refuse(voted: VotedLedger) -> None:
    problems = _problems(_verify(voted, (_remake(voted, voted.spoiled[0]),
                                         _remake(voted, voted.cast[2], remake=3),
                                         _remake(voted, voted.cast[2], cosigner=OFFICIAL))))
    assert len(problems) == 3
    assert "SPOILED" in problems[0]
    assert "next remake is number 1" in problems[1]
    assert "two signatures" in problems[2]


def test_writer_cannot_be_an_unregistered_cosigner(voted: VotedLedger) -> None:
    remake = _remake(voted, voted.cast[2])
    remake = CardRemake(remake.ballot_id, 1, remake.style_id, True, remake.reason,
                        remake.original_kept_in, (OFFICIAL, "nobody"), remake.cosignature)
    with pytest.raises(LedgerError, match="not registered"):
        Writer(voted.ledger, voted.official_key, OFFICIAL).write(EntryType.CARD_REMAKE,
                                                                 remake.to_payload())


def test_duplicate_card_with_no_remake_entry_is_invalid_when_scanned(
        voted: VotedLedger, tmp_path: Path) -> None:
    election = _election(voted)
    manifest = voted.context.manifest
    ballot_id = voted.cast[2]
    view = replace(record_view(manifest, "ward-1", "en", {}, ballot_id, test_mode=True),
                   remake=1)
    payload = make_ballot_record(voted.official_key, voted.election_id, "ward-1", ballot_id,
                                 test=True, remake=1)
    pdf = tmp_path / "unrecorded.pdf"
    pdf.write_bytes(render_ballot_record(view, payload))
    result = next(scan_files([pdf], election.scan_context()))
    assert not result.ok
    assert result.problem == "invalid"
    assert "no card-remake entry" in (result.error or "")
