"""Publishing plaintext CVRs: every CVR decrypted by the trustees, with proofs, on the
ledger (``tally.cvr_plaintext``), and the NIST SP 1500-103 and Dominion exports of all of
them. One small election (test group) runs once for the module: 60 ballots on two kiosks,
CVRs in chunks of 7, their equality, the paper, then trustees 1 and 3 decrypt every CVR;
the audit follows. Every refusal is tried where it would be wrong and must leave the
ledger as it was; then one entry at a time is forged and the verifier must name it."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.encoding import canonical_json, parse_canonical_json
from e2e.errors import PaperchainError
from e2e.ledger.client import Writer
from e2e.ledger.entry import Envelope, decode_envelope, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from paper.ids import BallotId
from tally.audit_export import write_exports
from tally.audit_workflow import AuditLedger
from tally.cvr import CvrChecker, cvr_chunk
from tally.cvr_plaintext import (
    ChunkCvr,
    PlaintextChecker,
    PlaintextShares,
    decrypt_all_cvrs_as_trustee,
    plaintext_subject,
)
from tally.decrypt import compute_share
from tally.verify import verify_election
from tests.tally.audit_helpers import AuditElection, Card

BALLOTS = 60
CHUNK = 7


@dataclass
class Published:
    election: AuditElection
    envelopes: list[bytes]  # after both trustees' shares, before the audit
    refusals: dict[str, tuple[BaseException, int, int]]
    exports: Path
    partial_exports: Path

    def indices(self, kind: str) -> list[int]:
        return [i for i, raw in enumerate(self.envelopes)
                if decode_envelope(raw).entry().entry_type == kind]

    def entry(self, index: int):
        return decode_envelope(self.envelopes[index]).entry()

    def forged(self, index: int, payload: bytes) -> list[bytes]:
        """The envelopes up to ``index`` with that entry's payload replaced, re-signed."""
        original = self.entry(index)
        workspace = next(w for w in self.election.base.workspaces.values()
                         if w.card.writer_id == original.writer_id)
        entry = sign_entry(workspace.signing_key, original.entry_type, original.election_id,
                           original.writer_id, original.sequence, payload)
        previous = leaf_hash_of(self.envelopes[index - 1])
        return [*self.envelopes[:index], Envelope(index, previous, entry.encode()).encode()]


def _ballots(election: AuditElection) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = election.context.manifest
    rng = random.Random(5)
    out = []
    for i in range(BALLOTS):
        style = manifest.ballot_styles[i % 2]
        choices = {}
        for _, contest in manifest.contests_of_style(style.id):
            draw = rng.random()
            if draw < 0.03:
                continue  # left blank
            choices[contest.id] = [contest.selections[0 if draw < 0.88 else 1].id]
        out.append((style.id, choices))
    return out


def _refused(refusals: dict, name: str, ledger, action) -> None:
    before = ledger.size()
    try:
        action()
    except PaperchainError as err:
        refusals[name] = (err, before, ledger.size())
        return
    raise AssertionError(f"{name}: not refused")


def _shares_payload(e: AuditElection, trustee: int, cvrs_index: int) -> bytes:
    """What trustee ``trustee``'s software would publish for the chunk at ``cvrs_index``."""
    context = e.context
    for _, entry in e.ledger.entries(cvrs_index):
        chunk = cvr_chunk(context, entry.payload, "test")
        cvrs = tuple(ChunkCvr(c.ballot_id, c.ciphertexts()) for c in chunk.cvrs)
        break
    key_share = e.base.workspaces[trustee].key_share(context.group)
    shares = tuple(compute_share(key_share, context, plaintext_subject(c.ballot_id, cvrs_index),
                                 c.targets()) for c in cvrs)
    return PlaintextShares(cvrs_index, cvrs, shares).to_payload()


def _trustee_writer(e: AuditElection, trustee: int) -> Writer:
    workspace = e.base.workspaces[trustee]
    return Writer(e.ledger, workspace.signing_key, workspace.card.writer_id)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    directory = tmp_path_factory.mktemp("plaintext")
    e = AuditElection.create(directory)
    e.vote(_ballots(e))
    e.close_and_tally()
    for kiosk in e.kiosks.values():
        kiosk.publish_cvrs(CHUNK)
    refusals: dict = {}
    ledger = e.ledger
    first_chunk = next(i for i, entry in ledger.entries(0) if entry.entry_type == EntryType.CVRS)
    _refused(refusals, "before the equality", ledger, lambda: decrypt_all_cvrs_as_trustee(
        e.base.workspaces[1], ledger, accept_ids_as_receipts=True, allow_test_group=True))
    early = _shares_payload(e, 1, first_chunk)
    _refused(refusals, "written before the equality", ledger,
             lambda: _trustee_writer(e, 1).write(EntryType.CVR_PLAINTEXT_SHARE, early))
    assert e.prove_equality() == []
    e.reconcile()
    _refused(refusals, "without accepting IDs as receipts", ledger,
             lambda: decrypt_all_cvrs_as_trustee(e.base.workspaces[1], ledger,
                                                 accept_ids_as_receipts=False,
                                                 allow_test_group=True))
    done: list[tuple[int, int]] = []
    decrypt_all_cvrs_as_trustee(e.base.workspaces[1], ledger, accept_ids_as_receipts=True,
                                allow_test_group=True,
                                chunk_done=lambda n, total: done.append((n, total)))
    assert done
    assert done[-1][0] == done[-1][1] == len(done)
    again = _shares_payload(e, 1, first_chunk)
    _refused(refusals, "a second share of a chunk from one trustee", ledger,
             lambda: _trustee_writer(e, 1).write(EntryType.CVR_PLAINTEXT_SHARE, again))
    other = json.loads(_shares_payload(e, 3, first_chunk))
    other["cvrs_index"] = first_chunk - 1  # not an entry of CVRs
    _refused(refusals, "shares naming an entry that holds no CVRs", ledger,
             lambda: _trustee_writer(e, 3).write(EntryType.CVR_PLAINTEXT_SHARE,
                                                 canonical_json(other)))
    partial = directory / "exports-partial"
    view = AuditLedger.read(ledger, allow_test_group=True)
    write_exports(view, {}, partial, lambda b: str(BallotId(b)))
    assert decrypt_all_cvrs_as_trustee(e.base.workspaces[3], ledger,
                                       accept_ids_as_receipts=True, allow_test_group=True)
    assert decrypt_all_cvrs_as_trustee(e.base.workspaces[3], ledger,  # resumes: nothing left
                                       accept_ids_as_receipts=True,
                                       allow_test_group=True) == []
    envelopes = list(ledger.envelopes(0))
    e.start()
    _refused(refusals, "after the seed", ledger, lambda: decrypt_all_cvrs_as_trustee(
        e.base.workspaces[2], ledger, accept_ids_as_receipts=True, allow_test_group=True))
    late = _shares_payload(e, 2, first_chunk)
    _refused(refusals, "written after the seed", ledger,
             lambda: _trustee_writer(e, 2).write(EntryType.CVR_PLAINTEXT_SHARE, late))
    e.run_audit()
    exports = directory / "exports"
    view = AuditLedger.read(ledger, allow_test_group=True)
    write_exports(view, {}, exports, lambda b: str(BallotId(b)))
    return Published(e, envelopes, refusals, exports, partial)


def _findings(envelopes: list[bytes]) -> list[str]:
    report, _ = verify_election(envelopes, allow_test_group=True, require_results=False)
    return [str(f) for f in report.findings]


def _expected(e: AuditElection, card: Card) -> dict[str, frozenset[str]]:
    """Per contest on the card's style, what its voter chose (empty if blank)."""
    manifest = e.context.manifest
    return {c.id: card.choices.get(c.id, frozenset())
            for _, c in manifest.contests_of_style(card.style_id)}


# --- it works -----------------------------------------------------------------------------


def test_every_cvr_decrypts_to_what_its_voter_chose(published: Published) -> None:
    e = published.election
    report, verifier = verify_election(published.envelopes, allow_test_group=True,
                                       require_results=False)
    assert report.ok, report.findings
    checker = verifier.checker(PlaintextChecker)
    assert checker.complete(verifier)
    assert report.facts["plaintext_cvrs"] == {"decrypted": BALLOTS, "published": BALLOTS}
    manifest = e.context.manifest
    infos = verifier.checker(CvrChecker).cvrs
    for card in e.cards:
        marks = checker.plaintexts[card.ballot_id]
        got = {manifest.contests[i].id: frozenset(manifest.contests[i].selections[j].id
                                                  for c, j in marks if c == i)
               for i in infos[card.ballot_id].contests}
        assert got == _expected(e, card)
    chunks = len(published.indices(EntryType.CVRS))
    assert chunks > 2  # several chunks per device
    assert len(published.indices(EntryType.CVR_PLAINTEXT_SHARE)) == 2 * chunks


def test_the_audit_after_plaintext_publication_verifies(published: Published) -> None:
    e = published.election
    report, _ = verify_election(e.ledger.envelopes(0), allow_test_group=True,
                                require_results=False)
    assert report.ok, report.findings
    assert report.facts["audit_outcome"] == "confirmed"


def test_nist_export_holds_every_cvr_with_its_choices(published: Published) -> None:
    e = published.election
    report = json.loads((published.exports / "cvrs-nist-1500-103.json").read_text())
    assert report["@type"] == "CVR.CastVoteRecordReport"
    records = {r["UniqueId"]: r for r in report["CVR"]}
    assert len(records) == BALLOTS
    ids = [r["UniqueId"] for r in report["CVR"]]
    assert ids == [str(BallotId(b)) for b in sorted(c.ballot_id for c in e.cards)]
    for card in e.cards:
        record = records[str(BallotId(card.ballot_id))]
        assert record["BallotStyleId"] == card.style_id
        assert record["CreatingDeviceId"] == card.device_id
        contests = record["CVRSnapshot"][0]["CVRContest"]
        got = {c["ContestId"]: frozenset(s["ContestSelectionId"].split("--", 1)[1]
                                         for s in c["CVRContestSelection"]) for c in contests}
        assert got == _expected(e, card)


def test_dominion_export_holds_every_cvr_with_its_card_place(published: Published) -> None:
    e = published.election
    manifest = e.context.manifest
    rows = list(csv.reader(io.StringIO((published.exports / "cvrs-dominion.csv").read_text())))
    header, records = rows[3], rows[4:]
    assert header[:5] == ["CvrNumber", "TabulatorNum", "BatchId", "RecordId", "ImprintedId"]
    assert len(records) == BALLOTS
    columns = [(c, s) for c in manifest.contests for s in c.selections]
    view = AuditLedger.read(e.ledger, allow_test_group=True)
    places = {card.ballot_id: (b.name, n) for b in view.state.manifest_batches
              for n, card in enumerate(b.cards, start=1)}
    by_id = {str(BallotId(c.ballot_id)): c for c in e.cards}
    for row in records:
        card = by_id[row[4]]
        assert (row[2], int(row[3])) == places[card.ballot_id]
        expected = _expected(e, card)
        for (contest, selection), cell in zip(columns, row[8:], strict=True):
            if contest.id not in expected:
                assert cell == ""
            else:
                assert cell == ("1" if selection.id in expected[contest.id] else "0")


def test_exports_leave_out_all_cvrs_until_every_one_is_decrypted(published: Published) -> None:
    names = {p.name for p in published.partial_exports.iterdir()}
    assert "cvrs-nist-1500-103.json" not in names
    assert "cvrs-dominion.csv" not in names
    assert "sampled-cvrs-nist-1500-103.json" in names  # the usual exports are there
    assert {"cvrs-nist-1500-103.json", "cvrs-dominion.csv"} <= {
        p.name for p in published.exports.iterdir()}


# --- refusals: a hard error, the ledger unchanged -------------------------------------------


@pytest.mark.parametrize(("name", "words"), [
    ("before the equality", "equality is not combined"),
    ("written before the equality", "not accepted in the"),
    ("without accepting IDs as receipts", "receipt"),
    ("a second share of a chunk from one trustee", "a second share"),
    ("shares naming an entry that holds no CVRs", "not an entry of published CVRs"),
    ("after the seed", "seed is drawn"),
    ("written after the seed", "not accepted in the"),
])
def test_refused_and_nothing_written(published: Published, name: str, words: str) -> None:
    error, before, after = published.refusals[name]
    assert words in str(error), str(error)
    assert before == after


def test_admission_refuses_an_element_outside_the_subgroup(published: Published) -> None:
    e = published.election
    index = published.indices(EntryType.CVR_PLAINTEXT_SHARE)[0]
    payload = parse_canonical_json(published.entry(index).payload, "test")
    group = e.context.group
    value = int(payload["shares"][0]["partials"][0]["value"], 16)
    payload["shares"][0]["partials"][0]["value"] = format(group.p - value,
                                                          f"0{2 * group.p_bytes}x")
    with pytest.raises(PaperchainError) as refused:
        PlaintextShares.admit(canonical_json(payload), group)
    assert "shares[0].partials[0].value" in str(refused.value)


# --- what the verifier finds ----------------------------------------------------------------


def _payload(published: Published, nth: int = 0) -> tuple[int, dict]:
    index = published.indices(EntryType.CVR_PLAINTEXT_SHARE)[nth]
    return index, parse_canonical_json(published.entry(index).payload, "test")


def test_detects_a_share_whose_decryption_is_not_proven(published: Published) -> None:
    index, payload = _payload(published)
    partials = payload["shares"][1]["partials"]
    partials[0]["value"], partials[1]["value"] = partials[1]["value"], partials[0]["value"]
    found = _findings(published.forged(index, canonical_json(payload)))
    assert any(f"ledger entry {index}" in f and "CVR" in f for f in found), found


def test_detects_shares_of_ciphertexts_that_are_not_the_published_cvrs(
        published: Published) -> None:
    """The trustee decrypts (with valid proofs) ciphertexts other than the CVR's: its two
    first selections swapped. The digest of the published CVR refuses them."""
    e = published.election
    index, _ = _payload(published)
    entry = published.entry(index)
    shares = PlaintextShares.from_payload(entry.payload, e.context.group)
    first = shares.cvrs[0]
    (contest, row), rest = first.contests[0], first.contests[1:]
    swapped = ChunkCvr(first.ballot_id, ((contest, (row[1], row[0], *row[2:])), *rest))
    trustee = next(t for t, w in e.base.workspaces.items()
                   if w.card.writer_id == entry.writer_id)
    key_share = e.base.workspaces[trustee].key_share(e.context.group)
    share = compute_share(key_share, e.context, plaintext_subject(first.ballot_id,
                                                                  shares.cvrs_index),
                          swapped.targets())
    forged = PlaintextShares(shares.cvrs_index, (swapped, *shares.cvrs[1:]),
                             (share, *shares.shares[1:]))
    found = _findings(published.forged(index, forged.to_payload()))
    assert any("not the published CVR's" in f and first.ballot_id.hex() in f
               for f in found), found


def test_detects_shares_that_leave_out_a_cvr_of_the_chunk(published: Published) -> None:
    index, payload = _payload(published)
    payload["cvrs"], payload["shares"] = payload["cvrs"][1:], payload["shares"][1:]
    found = _findings(published.forged(index, canonical_json(payload)))
    assert any("other than the" in f for f in found), found


def test_detects_a_share_under_another_subject(published: Published) -> None:
    index, payload = _payload(published)
    payload["shares"][0]["subject"] = payload["shares"][1]["subject"]
    found = _findings(published.forged(index, canonical_json(payload)))
    assert any("names another trustee or CVR" in f for f in found), found


def test_detects_a_second_share_of_a_chunk_from_one_trustee(published: Published) -> None:
    indices = published.indices(EntryType.CVR_PLAINTEXT_SHARE)
    first, second = indices[0], indices[1]
    assert published.entry(first).writer_id == published.entry(second).writer_id
    found = _findings(published.forged(second, published.entry(first).payload))
    assert any("a second share from trustee" in f for f in found), found
