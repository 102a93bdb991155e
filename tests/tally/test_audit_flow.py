"""The whole audit on a small election (test group, in process), and what it refuses.

One election is run once for the module (``audited``): 60 ballots on two kiosks, CVRs,
equality proofs, the paper manifest, the reconciliation, parameters, seed, a round,
blind readings, decryption, risk, end. Along the way every step that must be refused
is tried at the moment it would be wrong, and the ledger's size before and after is
kept: a refusal must leave the audit's state (the ledger) unchanged. Then the finished
ledger's envelopes are re-verified with one entry forged at a time: each forgery must
produce the verifier's finding for that check.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import consistent_sampler
import pytest
import rlacalc

from e2e.cvr import CvrChunk, CvrCommitment, commitment_of, encrypt_cvr
from e2e.encoding import canonical_json, parse_canonical_json
from e2e.errors import EncodingError, PaperchainError, StateError, UsageError
from e2e.group import TEST_GROUP
from e2e.ledger.entry import Envelope, decode_envelope, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from e2e.signing import SigningKey
from paperchain.audit_files import read_readings
from tally.audit import (
    AuditParameters,
    AuditRisk,
    AuditRound,
    CardReading,
    ContestReading,
    SeedEntry,
)
from tally.audit_workflow import (
    end_audit,
    publish_parameters,
    publish_seed,
    record_readings,
    sign_off_round,
    start_round,
)
from tally.risk import kaplan_markov_expected_sample_size
from tally.sampler import AuditSeed
from tally.verify import verify_election
from tests.tally.audit_helpers import SEED, AuditElection

RISK_LIMIT = 0.1


@dataclass
class Refusal:
    error: BaseException
    size_before: int
    size_after: int


@dataclass
class Audited:
    election: AuditElection
    envelopes: list[bytes]
    refusals: dict[str, Refusal]
    directory: Path

    def index_of(self, kind: str, nth: int = 0) -> int:
        found = [i for i, raw in enumerate(self.envelopes)
                 if decode_envelope(raw).entry().entry_type == kind]
        return found[nth]

    def entry(self, index: int):
        return decode_envelope(self.envelopes[index]).entry()

    def key(self, writer_id: str) -> SigningKey:
        e = self.election
        keys = {"official-1": e.official.key, **e.auditors, **e.kiosk_keys,
                **{w.card.writer_id: w.signing_key for w in e.base.workspaces.values()}}
        return keys[writer_id]

    def forged(self, index: int, payload: bytes, *, entry_type: str | None = None,
               writer: str | None = None) -> list[bytes]:
        """The envelopes up to ``index`` with the entry there replaced, signed by its writer."""
        original = self.entry(index)
        writer = writer or original.writer_id
        sequence = original.sequence if writer == original.writer_id else _next_sequence(
            self.envelopes[:index], writer)
        entry = sign_entry(self.key(writer), entry_type or original.entry_type,
                           original.election_id, writer, sequence, payload)
        previous = leaf_hash_of(self.envelopes[index - 1])
        return [*self.envelopes[:index], Envelope(index, previous, entry.encode()).encode()]


def _next_sequence(envelopes: list[bytes], writer: str) -> int:
    return sum(1 for raw in envelopes if decode_envelope(raw).entry().writer_id == writer)


def findings(envelopes: list[bytes]) -> list[str]:
    report, _ = verify_election(envelopes, allow_test_group=True, require_results=False)
    return [str(f) for f in report.findings]


def _ballots(election: AuditElection, count: int, seed: int = 1
             ) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = election.context.manifest
    rng = random.Random(seed)
    out = []
    for i in range(count):
        style = manifest.ballot_styles[i % 2]
        choices = {}
        for _, contest in manifest.contests_of_style(style.id):
            pick = 0 if rng.random() < 0.85 else 1
            choices[contest.id] = [contest.selections[pick].id]
        out.append((style.id, choices))
    return out


def _refused(record: dict[str, Refusal], name: str, ledger: object,
             action: Callable[[], object]) -> None:
    before = ledger.size()  # type: ignore[attr-defined]
    try:
        action()
    except PaperchainError as err:
        record[name] = Refusal(err, before, ledger.size())  # type: ignore[attr-defined]
        return
    raise AssertionError(f"{name}: not refused")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    directory = tmp_path_factory.mktemp("audit")
    e = AuditElection.create(directory)
    e.vote(_ballots(e, 60), challenge_every=20)
    e.close_and_tally()
    e.publish_cvrs()
    assert e.prove_equality() == []
    e.reconcile()
    refusals: dict[str, Refusal] = {}
    ledger, auditor = e.ledger, e.auditor()
    _refused(refusals, "seed before parameters", ledger, lambda: publish_seed(
        ledger, auditor, SEED, rolled_by=("A",), rolled_at="now", allow_test_group=True))
    publish_parameters(ledger, auditor, risk_limit=RISK_LIMIT, allow_test_group=True)
    e.reconcile()  # an amendment before the seed: the parameters must be published again
    _refused(refusals, "seed after an amendment without new parameters", ledger,
             lambda: publish_seed(ledger, auditor, SEED, rolled_by=("A",), rolled_at="now",
                                  allow_test_group=True))
    publish_parameters(ledger, auditor, risk_limit=RISK_LIMIT, allow_test_group=True)
    _refused(refusals, "short seed", ledger, lambda: publish_seed(
        ledger, auditor, "1234567890123456789", rolled_by=("A",), rolled_at="now",
        allow_test_group=True))
    publish_seed(ledger, auditor, SEED, rolled_by=("A", "B"), rolled_at="2026-11-10T15:00",
                 allow_test_group=True)
    _refused(refusals, "second seed", ledger, lambda: publish_seed(
        ledger, auditor, SEED + "1", rolled_by=("A",), rolled_at="now", allow_test_group=True))
    _refused(refusals, "amended reconciliation after the seed", ledger, e.reconcile)
    start_round(ledger, auditor, allow_test_group=True)
    readings = e.read_cards()
    drawn = {(r.batch, r.position) for r in readings}
    outside = next((b.name, n) for b in e.view().state.manifest_batches
                   for n in range(1, len(b.cards) + 1) if (b.name, n) not in drawn)
    stray = replace(readings[0], batch=outside[0], position=outside[1])
    cosigner = e.auditors["auditor-2"]
    _refused(refusals, "reading of a card not in the sample", ledger, lambda: record_readings(
        ledger, auditor, "auditor-2", cosigner, [readings[0], stray], allow_test_group=True))
    other_id = replace(readings[0], ballot_id=bytes(16))  # "ok", but not the listed card's ID
    _refused(refusals, "reading as 'ok' of a card with another ID", ledger,
             lambda: record_readings(ledger, auditor, "auditor-2", cosigner, [other_id],
                                     allow_test_group=True))
    _refused(refusals, "sign-off before every card is read", ledger, lambda: sign_off_round(
        ledger, auditor, "auditor-2", cosigner, allow_test_group=True))
    _refused(refusals, "reading signed twice by the same member", ledger,
             lambda: record_readings(ledger, auditor, "auditor-1", e.auditors["auditor-1"],
                                     readings, allow_test_group=True))
    malformed = directory / "malformed.json"
    malformed.write_text(json.dumps({"version": 1, "readings": [
        {"round": 1, "batch": readings[0].batch, "position": readings[0].position,
         "ballot_id": None, "condition": "ok", "contests": {"mayor": {"reading": "maybe"}}}]}))
    _refused(refusals, "malformed readings file", ledger,
             lambda: read_readings(malformed, e.context.manifest))
    record_readings(ledger, auditor, "auditor-2", cosigner, readings, allow_test_group=True)
    _refused(refusals, "a card read twice", ledger, lambda: record_readings(
        ledger, auditor, "auditor-2", cosigner, readings[:1], allow_test_group=True))
    sign_off_round(ledger, auditor, "auditor-2", cosigner, allow_test_group=True)
    from tally.audit_workflow import decrypt_round_as_trustee, measure_risk, publish_round_cvrs

    for index in (1, 3):
        decrypt_round_as_trustee(e.base.workspaces[index], ledger, allow_test_group=True)
    publish_round_cvrs(ledger, auditor, allow_test_group=True)
    _, risk = measure_risk(ledger, auditor, allow_test_group=True)
    assert risk.decision == "confirmed", risk
    end_audit(ledger, auditor, allow_test_group=True)
    _refused(refusals, "reading after the audit ended", ledger, lambda: record_readings(
        ledger, auditor, "auditor-2", cosigner, readings[:1], allow_test_group=True))
    _refused(refusals, "round after the audit ended", ledger,
             lambda: start_round(ledger, auditor, size=5, allow_test_group=True))
    return Audited(e, list(ledger.envelopes(0)), refusals, directory)


# --- the audit runs and is recomputed ---------------------------------------------------------


def test_whole_audit_verifies_and_confirms(audited: Audited) -> None:
    report, _verifier = verify_election(audited.envelopes, allow_test_group=True)
    assert report.ok, report.findings
    assert report.facts["audit_outcome"] == "confirmed"
    for check in ("CVR equality proofs (each device's CVRs = its cast ballots)",
                  "reconciliation recomputed (table, manifest digest, pairing)",
                  "audit parameters recomputed (populations, assertions, margins)",
                  "audit rounds (tickets recomputed)",
                  "audit readings (two board signatures)",
                  "sampled CVRs decrypted (combined and bounded)",
                  "risk measurements recomputed (assorters, discrepancies, p-values)"):
        assert report.checks.get(check), check


def test_tickets_and_risk_match_the_consistent_sampler_and_rlacalc(audited: Audited) -> None:
    """Code nobody here wrote: the round's tickets from the consistent-sampler package, the
    p-values and sample sizes from rlacalc (both from PyPI)."""
    _, verifier = verify_election(audited.envelopes, allow_test_group=True)
    from tally.audit_check import AuditChecker

    state = verifier.checker(AuditChecker).state
    assert state.seed is not None
    assert state.population is not None
    cards = [(b, p) for b, n in state.population.frame().items() for p in range(1, n + 1)]
    theirs = list(consistent_sampler.sampler(cards, seed=state.seed.seed.digits,
                                             take=len(state.tickets), with_replacement=True,
                                             output="tuple", digits=18))
    assert [(t.ticket_number, (t.batch, t.position), t.generation)
            for t in state.tickets] == theirs
    parameters = state.parameters
    assert parameters is not None
    last = state.rounds[-1].risk
    assert last is not None
    for risk in last.assertions:
        spec = parameters.contest(risk.contest_id)
        margin = next(a.margin for a in spec.assertions if a.label() == risk.assertion)
        c = risk.counts
        expected = rlacalc.KM_P_value(risk.draws, 1.03905, margin, c.o1, c.o2, c.u1, c.u2)
        assert risk.p_value == pytest.approx(min(1.0, expected), rel=1e-9)
        assert rlacalc.nmin(RISK_LIMIT, 1.03905, margin, 0, 0, 0, 0) >= 1
    # The first round's size: Arlo's estimate per contest, scaled to the frame.
    sizes = []
    for spec in parameters.contests:
        if not spec.assertions:
            continue
        worst = min(a.margin for a in spec.assertions)
        n = kaplan_markov_expected_sample_size(risk_limit=RISK_LIMIT, diluted_margin=worst,
                                               population=spec.population)
        sizes.append(-(-n * state.population.frame_size // spec.population))
    assert parameters.initial_round_size == max(sizes)


def test_published_cvrs_are_sorted_by_ballot_id_not_cast_order(audited: Audited) -> None:
    e = audited.election
    cast_order = {k: [c.ballot_id for c in e.cards if c.device_id == k] for k in e.kiosks}
    for index, raw in enumerate(audited.envelopes):
        entry = decode_envelope(raw).entry()
        if entry.entry_type != EntryType.CVRS:
            continue
        chunk = CvrChunk.from_payload(entry.payload, e.context.group, f"entry {index}")
        published = [c.ballot_id for c in chunk.cvrs]
        assert published == sorted(published)
        assert published != cast_order[chunk.device_id]  # a leak of cast order would match


def test_reconciliation_has_no_differences_for_honest_paper(audited: Audited) -> None:
    index = audited.index_of(EntryType.RECONCILIATION)
    table = parse_canonical_json(audited.entry(index).payload, "r")["table"]
    assert table["findings"] == []
    assert table["pairing"] == {"paired": 60}


# --- refusals leave the ledger unchanged --------------------------------------------------------


@pytest.mark.parametrize(("name", "error", "words"), [
    ("seed before parameters", StateError, "parameters before the seed"),
    ("seed after an amendment without new parameters", StateError,
     "parameters before the seed"),
    ("short seed", UsageError, "at least 20"),
    ("second seed", StateError, "only ever one"),
    ("amended reconciliation after the seed", StateError, "can no longer change"),
    ("reading of a card not in the sample", UsageError, "not in round 1's sample"),
    ("reading as 'ok' of a card with another ID", UsageError, "is 'id-differs'"),
    ("sign-off before every card is read", StateError, "not read yet"),
    ("reading signed twice by the same member", UsageError, "two different board members"),
    ("malformed readings file", EncodingError, "maybe"),
    ("a card read twice", UsageError, "already read"),
    ("reading after the audit ended", StateError, "audit ended"),
    ("round after the audit ended", StateError, "audit ended"),
])
def test_refusal_is_a_hard_error_and_leaves_the_ledger_unchanged(
        audited: Audited, name: str, error: type[Exception], words: str) -> None:
    refusal = audited.refusals[name]
    assert isinstance(refusal.error, error), refusal.error
    assert words in str(refusal.error)
    assert refusal.size_after == refusal.size_before


def test_ledger_refuses_a_second_seed_whoever_writes_it(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_SEED)
    envelopes = audited.envelopes[:index + 1]
    entry = sign_entry(audited.key("auditor-2"), EntryType.AUDIT_SEED, audited.entry(index)
                       .election_id, "auditor-2", _next_sequence(envelopes, "auditor-2"),
                       SeedEntry(AuditSeed("9" * 24), ("C",), "later").to_payload())
    forged = [*envelopes, Envelope(index + 1, leaf_hash_of(envelopes[-1]), entry.encode()).encode()]
    assert any("audit-seed entries are not accepted in the auditing phase" in f
               for f in findings(forged))


# --- the verifier's checks, one forgery at a time -------------------------------------------------


def _payload(audited: Audited, index: int) -> dict:
    return parse_canonical_json(audited.entry(index).payload, "payload")


def test_detects_audit_parameters_with_a_changed_margin(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_PARAMETERS)
    body = _payload(audited, index)
    body["contests"][0]["assertions"][0]["margin"] = "0.9"
    assert any("differ from those recomputed" in f
               for f in findings(audited.forged(index, canonical_json(body))))


def test_detects_a_seed_before_the_parameters(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_PARAMETERS)
    seed = audited.entry(audited.index_of(EntryType.AUDIT_SEED)).payload
    found = findings(audited.forged(index, seed, entry_type=EntryType.AUDIT_SEED))
    assert any("audit-seed entries are not accepted in the reconciled phase" in f for f in found)


def test_detects_round_tickets_that_are_not_the_samplers(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_ROUND)
    audit_round = AuditRound.from_payload(audited.entry(index).payload)
    swapped = replace(audit_round, tickets=audit_round.tickets[1:] + audit_round.tickets[:1])
    assert any("not the sampler's draws" in f
               for f in findings(audited.forged(index, swapped.to_payload())))


def test_detects_a_reading_of_a_card_not_in_the_sample(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_READING)
    e = audited.election
    body = _payload(audited, index)
    body.pop("board"), body.pop("cosignature")
    state = e.view().state
    drawn = set(state.rounds[0].to_read)
    outside = next((b.name, n) for b in state.manifest_batches
                   for n in range(1, len(b.cards) + 1) if (b.name, n) not in drawn)
    body["batch"], body["position"] = outside
    from tally.audit import BoardSigned

    signed = BoardSigned.sign(body, "auditor-1", "auditor-2", e.auditors["auditor-2"],
                              e.context.election_id)
    assert any("not a card to read in round 1" in f
               for f in findings(audited.forged(index, signed.to_payload())))


def test_detects_a_reading_as_ok_of_a_card_whose_id_is_not_the_manifests(
        audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_READING)
    e = audited.election
    body = _payload(audited, index)
    body.pop("board"), body.pop("cosignature")
    assert body["condition"] == "ok"
    body["ballot_id"] = "00" * 16
    from tally.audit import BoardSigned

    signed = BoardSigned.sign(body, "auditor-1", "auditor-2", e.auditors["auditor-2"],
                              e.context.election_id)
    assert any("the manifest lists" in f and "'id-differs'" in f
               for f in findings(audited.forged(index, signed.to_payload())))
    body["condition"] = "id-differs"  # entered as it should be: a worst-case card
    signed = BoardSigned.sign(body, "auditor-1", "auditor-2", e.auditors["auditor-2"],
                              e.context.election_id)
    assert not any("the manifest lists" in f
                   for f in findings(audited.forged(index, signed.to_payload())))


def test_detects_a_reading_without_the_second_members_signature(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_READING)
    body = _payload(audited, index)
    body["cosignature"] = "00" * 64
    assert any("audit-board signature does not verify" in f
               for f in findings(audited.forged(index, canonical_json(body))))


def test_detects_changed_decrypted_cvr(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_CVRS)
    body = _payload(audited, index)
    count = body["cvrs"][0]["counts"][0]
    count["count"] = 1 - count["count"]
    assert any("decrypted CVRs differ" in f
               for f in findings(audited.forged(index, canonical_json(body))))


def test_detects_a_risk_measurement_that_understates_the_risk(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_RISK)
    risk = AuditRisk.from_payload(audited.entry(index).payload)
    first = risk.assertions[0]
    lowered = replace(risk, assertions=(replace(first, p_value=first.p_value / 2),
                                        *risk.assertions[1:]))
    assert any("risk measurement differs" in f
               for f in findings(audited.forged(index, lowered.to_payload())))


def test_detects_an_end_confirmed_before_any_risk_confirmed(audited: Audited) -> None:
    from tally.audit import AuditEnd

    confirmed_early = audited.forged(audited.index_of(EntryType.AUDIT_SIGNOFF),
                                     AuditEnd("confirmed").to_payload(),
                                     entry_type=EntryType.AUDIT_END)
    found = findings(confirmed_early)
    assert any("'confirmed' without a round" in f for f in found), found


def test_detects_a_decision_other_than_confirmed_when_every_contest_met(audited: Audited
                                                                        ) -> None:
    index = audited.index_of(EntryType.AUDIT_RISK)
    risk = AuditRisk.from_payload(audited.entry(index).payload)
    assert risk.decision == "confirmed"
    found = findings(audited.forged(index, replace(risk, decision="continue").to_payload()))
    assert any("the decision is 'confirmed'" in f for f in found), found


def test_detects_a_hand_count_without_an_escalation(audited: Audited) -> None:
    from tally.audit import HandCount

    manifest = audited.election.context.manifest
    count = HandCount(tuple((c.id, s.id, 0) for c in manifest.contests for s in c.selections),
                      ("X",), "now")
    envelopes = audited.envelopes
    entry = sign_entry(audited.key("official-1"), EntryType.HAND_COUNT,
                       audited.entry(0).election_id, "official-1",
                       _next_sequence(envelopes, "official-1"), count.to_payload())
    forged = [*envelopes,
              Envelope(len(envelopes), leaf_hash_of(envelopes[-1]), entry.encode()).encode()]
    assert any("without an audit that escalated" in f for f in findings(forged))


def test_detects_a_reconciliation_whose_table_lies(audited: Audited) -> None:
    index = audited.index_of(EntryType.RECONCILIATION)
    body = _payload(audited, index)
    body["table"]["places"][0]["cast"] += 1
    assert any("reconciliation table differs" in f
               for f in findings(audited.forged(index, canonical_json(body))))


def test_detects_a_paper_manifest_changed_after_the_reconciliation(audited: Audited) -> None:
    index = audited.index_of(EntryType.PAPER_MANIFEST)
    body = _payload(audited, index)
    body["cards"] = body["cards"][1:]
    found = findings(audited.forged(index, canonical_json(body)) + audited.envelopes[index + 1:])
    assert any("manifest digest" in f or "chain broken" in f for f in found)


# --- CVRs on the ledger ----------------------------------------------------------------------


def _cvr_chunk(audited: Audited, device: str) -> tuple[int, CvrChunk]:
    e = audited.election
    for index, raw in enumerate(audited.envelopes):
        entry = decode_envelope(raw).entry()
        if entry.entry_type == EntryType.CVRS and entry.writer_id == device:
            return index, CvrChunk.from_payload(entry.payload, e.context.group, "c")
    raise AssertionError("no chunk")


def test_detects_cvrs_not_sorted_by_ballot_id(audited: Audited) -> None:
    index, chunk = _cvr_chunk(audited, "kiosk-a")
    shuffled = replace(chunk, cvrs=(chunk.cvrs[1], chunk.cvrs[0], *chunk.cvrs[2:]))
    assert any("not sorted by ballot ID" in f
               for f in findings(audited.forged(index, shuffled.to_payload())))


def test_detects_a_ballot_id_repeated_across_devices(audited: Audited) -> None:
    e = audited.election
    index_a, chunk_a = _cvr_chunk(audited, "kiosk-a")
    index_b, chunk_b = _cvr_chunk(audited, "kiosk-b")
    assert index_b > index_a
    reused = chunk_a.cvrs[0].ballot_id
    marked = _marked(e, chunk_a.cvrs[0].style_id)
    twin = encrypt_cvr(e.context, marked, device_id="kiosk-b", ballot_id=reused)
    cvrs = tuple(sorted((*chunk_b.cvrs, twin), key=lambda c: c.ballot_id))
    found = findings(audited.forged(index_b, replace(chunk_b, cvrs=cvrs).to_payload()))
    assert any("ballot ID repeated" in f for f in found)


def test_detects_a_cvr_for_a_spoiled_card(audited: Audited) -> None:
    e = audited.election
    index, chunk = _cvr_chunk(audited, "kiosk-a")
    spoiled = e.challenged[0]
    ghost = encrypt_cvr(e.context, _marked(e, "ward-1"), device_id="kiosk-a", ballot_id=spoiled)
    cvrs = tuple(sorted((*chunk.cvrs, ghost), key=lambda c: c.ballot_id))
    assert any("challenged (spoiled) card's" in f
               for f in findings(audited.forged(index, replace(chunk, cvrs=cvrs).to_payload())))


def test_detects_cvr_counts_per_style_that_differ_from_cast_ballots(audited: Audited) -> None:
    e = audited.election
    index, chunk = _cvr_chunk(audited, "kiosk-a")
    fewer = replace(chunk, cvrs=chunk.cvrs[1:])
    envelopes = audited.forged(index, fewer.to_payload())
    commitment_index = next(i for i in range(index + 1, len(audited.envelopes))
                            if audited.entry(i).entry_type == EntryType.CVR_COMMITMENT
                            and audited.entry(i).writer_id == "kiosk-a")
    commitment = commitment_of(e.context.extended_base_hash, "kiosk-a", fewer.cvrs, 1)
    middle = audited.envelopes[index + 1:commitment_index]
    envelopes += _rechain(envelopes, middle)
    original = audited.entry(commitment_index)
    entry = sign_entry(audited.key("kiosk-a"), EntryType.CVR_COMMITMENT, original.election_id,
                       "kiosk-a", original.sequence, commitment.to_payload())
    envelopes.append(Envelope(len(envelopes), leaf_hash_of(envelopes[-1]),
                              entry.encode()).encode())
    assert any("differ from valid cast ballots per style" in f for f in findings(envelopes))


def test_detects_a_commitment_whose_digest_is_not_the_cvrs(audited: Audited) -> None:
    index = next(i for i, raw in enumerate(audited.envelopes)
                 if decode_envelope(raw).entry().entry_type == EntryType.CVR_COMMITMENT)
    commitment = CvrCommitment.from_payload(audited.entry(index).payload, "c")
    forged = replace(commitment, digest=bytes(32))
    assert any("not the chained digest" in f
               for f in findings(audited.forged(index, forged.to_payload())))


def _rechain(before: list[bytes], envelopes: list[bytes]) -> list[bytes]:
    out = []
    previous = leaf_hash_of(before[-1])
    index = len(before)
    for raw in envelopes:
        rebuilt = Envelope(index, previous, decode_envelope(raw).entry_bytes).encode()
        out.append(rebuilt)
        previous, index = leaf_hash_of(rebuilt), index + 1
    return out


def _marked(e: AuditElection, style: str):
    from e2e.ballot import mark_ballot

    manifest = e.context.manifest
    return mark_ballot(manifest, style, {c.id: [c.selections[-1].id]
                                         for _, c in manifest.contests_of_style(style)})


def test_reading_entry_carries_every_contest_in_manifest_order(audited: Audited) -> None:
    reading = CardReading.from_json
    del reading
    e = audited.election
    bad = CardReading(1, "b", 1, None, "ok", (("mayor", ContestReading("blank")),))
    with pytest.raises(EncodingError, match="every contest"):
        bad.check_against(e.context.manifest)
    AuditParameters.from_payload(audited.entry(audited.index_of(
        EntryType.AUDIT_PARAMETERS)).payload)


def test_amended_reconciliation_replaces_the_first_and_needs_new_parameters(
        audited: Audited) -> None:
    first = audited.index_of(EntryType.RECONCILIATION, 0)
    second = audited.index_of(EntryType.RECONCILIATION, 1)
    parameters = [audited.index_of(EntryType.AUDIT_PARAMETERS, n) for n in (0, 1)]
    assert first < parameters[0] < second < parameters[1] < audited.index_of(
        EntryType.AUDIT_SEED)
    body = _payload(audited, parameters[1])
    assert body["reconciliation_index"] == second
    # Parameters that still name the first reconciliation are refused after the second.
    stale = _payload(audited, parameters[0])
    found = findings(audited.forged(parameters[1], canonical_json(stale)))
    assert any("another reconciliation than the one in force" in f for f in found), found


def test_audit_order_walk_refuses_steps_out_of_order() -> None:
    from tally.audit_verify import check_audit_order

    good = [(0, "voting-close"), (1, "tally"), (2, "results"), (3, "cvrs"),
            (4, "cvr-equality"), (5, "paper-manifest"), (6, "reconciliation"),
            (7, "audit-parameters"), (8, "reconciliation"), (9, "audit-parameters"),
            (10, "audit-seed"), (11, "audit-round"), (12, "audit-risk"), (13, "audit-end")]
    assert check_audit_order(good) == []
    late = [*good[:10], (10, "audit-seed"), (11, "reconciliation")]
    assert any("out of order" in p for _, p in check_audit_order(late))
    twice = [*good[:11], (11, "audit-seed")]
    assert any("a second audit-seed" in p for _, p in check_audit_order(twice))


def test_alpha_risk_function_gives_a_sequential_p_value(audited: Audited) -> None:
    from tally.audit import RiskFunction, assess
    from tally.audit_check import AuditChecker

    _, verifier = verify_election(audited.envelopes, allow_test_group=True)
    state = verifier.checker(AuditChecker).state
    assert state.parameters is not None
    alpha = replace(state.parameters, risk_function=RiskFunction("alpha"))
    risks = assess(audited.election.context.manifest, alpha, state.population, state.tickets,
                   state.readings, state.decrypted)
    for risk in risks:
        assert risk.p_value == min(risk.p_history, default=1.0)
        assert 0 < risk.p_value <= 1
    assert any(r.p_value < 1 for r in risks)


def _appended(audited: Audited, index: int) -> list[bytes]:
    """The envelopes up to and including ``index``, then a replay of that entry re-signed
    with its writer's next sequence number (a second copy of the same step)."""
    envelopes = audited.envelopes[:index + 1]
    original = audited.entry(index)
    entry = sign_entry(audited.key(original.writer_id), original.entry_type,
                       original.election_id, original.writer_id,
                       _next_sequence(envelopes, original.writer_id), original.payload)
    return [*envelopes, Envelope(index + 1, leaf_hash_of(envelopes[-1]),
                                 entry.encode()).encode()]


def test_detects_a_round_naming_other_ciphertexts_than_the_cvrs(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_ROUND)
    audit_round = AuditRound.from_payload(audited.entry(index).payload)
    ballot_id, device, contests = audit_round.decrypt[0]
    (first, row), *rest = contests
    swapped = ((first, (row[1], row[0], *row[2:])), *rest)
    forged = replace(audit_round, decrypt=((ballot_id, device, swapped),
                                           *audit_round.decrypt[1:]))
    found = findings(audited.forged(index, forged.to_payload()))
    assert any("ciphertexts are not the published CVR's" in f for f in found), found


def test_detects_a_round_that_leaves_out_a_cvr_to_decrypt(audited: Audited) -> None:
    index = audited.index_of(EntryType.AUDIT_ROUND)
    audit_round = AuditRound.from_payload(audited.entry(index).payload)
    forged = replace(audit_round, decrypt=audit_round.decrypt[1:])
    found = findings(audited.forged(index, forged.to_payload()))
    assert any("does not name exactly the CVRs" in f for f in found), found


def test_detects_a_signoff_that_does_not_cover_the_readings(audited: Audited) -> None:
    from tally.audit import BoardSigned

    e = audited.election
    index = audited.index_of(EntryType.AUDIT_SIGNOFF)
    body = _payload(audited, index)
    body.pop("board"), body.pop("cosignature")
    body["readings"] -= 1
    signed = BoardSigned.sign(body, "auditor-1", "auditor-2", e.auditors["auditor-2"],
                              e.context.election_id)
    found = findings(audited.forged(index, signed.to_payload()))
    assert any("does not cover exactly the round's readings" in f for f in found), found


def test_detects_a_second_set_of_sample_shares_from_one_trustee(audited: Audited) -> None:
    found = findings(_appended(audited, audited.index_of(EntryType.AUDIT_DECRYPTION_SHARE)))
    assert any("a second set of shares from trustee" in f for f in found), found


@pytest.mark.parametrize("change", ["response", "value"])
def test_detects_a_sample_share_with_a_bad_proof_or_value_in_the_reference_words(
        audited: Audited, change: str) -> None:
    """The verifier checks a round's shares as one batch (membership deferred); a bad proof
    or a partial value outside the subgroup is refused with the reference path's finding:
    the place (share, contest, selection) and the failing check, named."""
    index = audited.index_of(EntryType.AUDIT_DECRYPTION_SHARE)
    body = _payload(audited, index)
    share = body["shares"][-1]
    partial = share["partials"][-1]
    if change == "response":
        q = int(TEST_GROUP.q)
        partial["proof"][3] = format((int(partial["proof"][3], 16) + 1) % q, "x").rjust(
            2 * TEST_GROUP.q_bytes, "0")
        expected = (f"decryption share of trustee {share['trustee']} contest "
                    f"{partial['contest']} selection {partial['selection']}")
    else:
        partial["value"] = format(int(TEST_GROUP.p) - int(partial["value"], 16), "x").rjust(
            2 * TEST_GROUP.p_bytes, "0")
        expected = "not in the order-q subgroup"
    found = findings(audited.forged(index, canonical_json(body)))
    assert any(expected in f for f in found), found


def test_detects_a_second_cvr_equality_share_from_one_trustee(audited: Audited) -> None:
    found = findings(_appended(audited, audited.index_of(EntryType.CVR_EQUALITY_SHARE)))
    assert any("a second equality share" in f for f in found), found


def test_detects_cvr_chunks_out_of_sequence(audited: Audited) -> None:
    index, chunk = _cvr_chunk(audited, "kiosk-a")
    found = findings(audited.forged(index, replace(chunk, chunk=1).to_payload()))
    assert any("chunk 1, expected chunk 0" in f for f in found), found


def test_detects_an_equality_that_leaves_out_a_device(audited: Audited) -> None:
    index = audited.index_of(EntryType.CVR_EQUALITY)
    body = _payload(audited, index)
    body["devices"] = body["devices"][1:]
    found = findings(audited.forged(index, canonical_json(body)))
    assert any("the committed devices are" in f for f in found), found


def test_detects_an_equality_whose_combination_was_not_recomputed(audited: Audited) -> None:
    index = audited.index_of(EntryType.CVR_EQUALITY)
    body = _payload(audited, index)
    combined = body["devices"][0]["combined"]
    combined[0], combined[1] = combined[1], combined[0]
    found = findings(audited.forged(index, canonical_json(body)))
    assert any("differs from the one recomputed" in f for f in found), found


def test_detects_a_second_commitment_from_one_device(audited: Audited) -> None:
    index = next(i for i, raw in enumerate(audited.envelopes)
                 if decode_envelope(raw).entry().entry_type == EntryType.CVR_COMMITMENT)
    found = findings(_appended(audited, index))
    assert any("committed twice" in f for f in found), found
