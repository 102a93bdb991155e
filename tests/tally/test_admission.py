"""The operator's admission checks for phase notes and every entry after the close of voting.

One small election runs from the polls' opening to the end of its audit on the operator
``paperchain.wiring`` builds. Before or after each honest step, a bad entry of the same
type is offered — a payload that does not decode canonically, or one that contradicts
what the ledger already holds (another writer's data, a tally or a close that is not
the ledger's, a second tally, a board cosignature that does not verify) — and must be
refused with its reason, leaving the ledger unchanged. The honest election, refusals
and all, then verifies without a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.encoding import canonical_json, parse_canonical_json
from e2e.errors import PaperchainError
from e2e.ledger.client import Writer
from e2e.ledger.entry import decode_envelope
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.official import PhaseNote, close_voting
from e2e.signing import SigningKey
from paperchain.wiring import open_ledger_node
from tally.audit import HandCount
from tally.audit_workflow import (
    decrypt_round_as_trustee,
    end_audit,
    measure_risk,
    publish_parameters,
    publish_round_cvrs,
    publish_seed,
    record_readings,
    sign_off_round,
    start_round,
)
from tally.cvr import decrypt_cvr_equality_as_trustee, publish_cvr_equality
from tally.verify import verify_election
from tally.workflow import decrypt_as_trustee, publish_results, publish_tally
from tests.tally.audit_helpers import SEED, AuditElection

BALLOTS = 60


class Tampering(Writer):
    """A writer that changes the payload (as a JSON object) before signing it."""

    def __init__(self, writer: Writer, change: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(writer.ledger, writer.key, writer.writer_id)
        self.change = change

    def write(self, entry_type: EntryType, payload: bytes) -> AppendResult:
        obj = parse_canonical_json(payload, "payload")
        self.change(obj)
        return super().write(entry_type, canonical_json(obj))


def _edit(payload: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    obj = parse_canonical_json(payload, "payload")
    change(obj)
    return canonical_json(obj)


@dataclass
class Admitted:
    refusals: dict[str, str]  # name -> the refusal's message ("" if it was accepted)
    findings: list[str]
    checked_types: frozenset[str]


def _run(directory: Path) -> Admitted:
    e = AuditElection.create(directory)
    ledger = e.ledger
    refusals: dict[str, str] = {}

    def refuse(name: str, action: Callable[[], object]) -> None:
        before = ledger.size()
        try:
            action()
        except PaperchainError as err:
            assert ledger.size() == before, name
            refusals[name] = str(err)
            return
        refusals[name] = ""

    def last_payload(kind: str) -> bytes:
        for _, entry in reversed(list(ledger.entries(0))):
            if entry.entry_type == kind:
                return entry.payload
        raise AssertionError(f"no {kind} entry")

    trustee = {i: Writer(ledger, w.signing_key, w.card.writer_id)
               for i, w in e.base.workspaces.items()}
    kiosk = {name: Writer(ledger, key, name) for name, key in e.kiosk_keys.items()}
    official = e.official

    # Phase notes.
    refuse("voting-open without a version", lambda: official.write(
        EntryType.VOTING_OPEN, canonical_json({"note": "open"})))
    refuse("voting-open not canonical", lambda: official.write(
        EntryType.VOTING_OPEN, b'{"note": "open", "version": 1}'))
    e.vote([(style, choices) for style, choices in _ballots(e)])
    for device in e.kiosks.values():
        device.close()
    refuse("voting-close of another version", lambda: official.write(
        EntryType.VOTING_CLOSE, canonical_json({"note": "closed", "version": 2})))
    refuse("voting-close with an unknown key", lambda: official.write(
        EntryType.VOTING_CLOSE, canonical_json({"note": "closed", "version": 1, "x": 1})))
    close_voting(official)

    # The tally, the decryption shares, the results.
    refuse("tally that does not decode", lambda: official.write(EntryType.TALLY, b"{}"))
    refuse("tally naming another close", lambda: publish_tally(
        ledger, Tampering(official, lambda o: o.update(close_index=o["close_index"] - 1)),
        allow_test_group=True))
    refuse("tally at a head not covering the close", lambda: publish_tally(
        ledger, Tampering(official, lambda o: o["close_head"].update(size=o["close_index"])),
        allow_test_group=True))
    publish_tally(ledger, official, allow_test_group=True)
    refuse("second tally", lambda: official.write(EntryType.TALLY, last_payload("tally")))
    decrypt_as_trustee(e.base.workspaces[1], ledger, allow_test_group=True)
    share = last_payload(EntryType.DECRYPTION_SHARE)
    refuse("decryption share for another subject", lambda: trustee[1].write(
        EntryType.DECRYPTION_SHARE, _edit(share, lambda o: o.update(subject="tally@1"))))
    refuse("second decryption share", lambda: trustee[1].write(
        EntryType.DECRYPTION_SHARE, share))
    refuse("decryption share of another trustee", lambda: trustee[2].write(
        EntryType.DECRYPTION_SHARE, share))
    refuse("decryption share with an element outside the group", lambda: trustee[2].write(
        EntryType.DECRYPTION_SHARE, _edit(share, _break_first_element)))
    decrypt_as_trustee(e.base.workspaces[3], ledger, allow_test_group=True)
    refuse("results for another tally", lambda: publish_results(
        ledger, Tampering(official, lambda o: o.update(tally_index=o["tally_index"] - 1)),
        allow_test_group=True))
    refuse("results combining a share not on the ledger", lambda: publish_results(
        ledger, Tampering(official, lambda o: o.update(trustees=[1, 2])),
        allow_test_group=True))
    publish_results(ledger, official, allow_test_group=True)
    for name, key in e.auditors.items():
        _register_auditor(official, name, key)

    # CVRs, commitments, the equality proof.
    e.kiosks["kiosk-a"].publish_cvrs()
    chunk = last_payload(EntryType.CVRS)
    commitment = last_payload(EntryType.CVR_COMMITMENT)
    refuse("CVRs after the device's commitment", lambda: kiosk["kiosk-a"].write(
        EntryType.CVRS, chunk))
    refuse("CVRs of another device", lambda: kiosk["kiosk-b"].write(EntryType.CVRS, chunk))
    refuse("CVR chunk out of order", lambda: kiosk["kiosk-b"].write(EntryType.CVRS, _edit(
        chunk, lambda o: o.update(device_id="kiosk-b", chunk=1))))
    refuse("empty CVR chunk", lambda: kiosk["kiosk-b"].write(EntryType.CVRS, _edit(
        chunk, lambda o: o.update(device_id="kiosk-b", cvrs=[]))))
    refuse("CVRs with an element outside the group", lambda: kiosk["kiosk-b"].write(
        EntryType.CVRS, _edit(chunk, _break_cvr_element)))
    refuse("CVRs that do not decode", lambda: kiosk["kiosk-b"].write(
        EntryType.CVRS, canonical_json({"version": 1, "device_id": "kiosk-b"})))
    refuse("commitment of another device", lambda: kiosk["kiosk-b"].write(
        EntryType.CVR_COMMITMENT, commitment))
    refuse("commitment made twice", lambda: kiosk["kiosk-a"].write(
        EntryType.CVR_COMMITMENT, commitment))
    refuse("commitment to chunks not on the ledger", lambda: kiosk["kiosk-b"].write(
        EntryType.CVR_COMMITMENT, _edit(commitment, lambda o: o.update(device_id="kiosk-b"))))
    e.kiosks["kiosk-b"].publish_cvrs()
    decrypt_cvr_equality_as_trustee(e.base.workspaces[1], ledger, allow_test_group=True)
    refuse("CVR equality share of another trustee", lambda: trustee[2].write(
        EntryType.CVR_EQUALITY_SHARE, last_payload(EntryType.CVR_EQUALITY_SHARE)))
    decrypt_cvr_equality_as_trustee(e.base.workspaces[3], ledger, allow_test_group=True)
    refuse("CVR equality that does not decode", lambda: official.write(
        EntryType.CVR_EQUALITY, canonical_json({"version": 1})))
    _, failed = publish_cvr_equality(ledger, official, allow_test_group=True)
    assert failed == []

    # The paper, the audit.
    refuse("paper manifest that does not decode", lambda: official.write(
        EntryType.PAPER_MANIFEST, canonical_json({"version": 1, "name": "box"})))
    refuse("reconciliation that does not decode", lambda: official.write(
        EntryType.RECONCILIATION, b"[]"))
    e.reconcile()
    auditor = e.auditor()
    refuse("audit parameters that do not decode", lambda: auditor.write(
        EntryType.AUDIT_PARAMETERS, canonical_json({"version": 1, "risk_limit": "0.1"})))
    publish_parameters(ledger, auditor, risk_limit=0.1, allow_test_group=True)
    refuse("audit seed that does not decode", lambda: auditor.write(
        EntryType.AUDIT_SEED, canonical_json({"version": 1, "seed": 12})))
    publish_seed(ledger, auditor, SEED, rolled_by=("A", "B"), rolled_at="2026-11-10T15:00",
                 allow_test_group=True)
    refuse("audit round that does not decode", lambda: auditor.write(
        EntryType.AUDIT_ROUND, canonical_json({"version": 1, "round": 1})))
    _, audit_round = start_round(ledger, auditor, allow_test_group=True)
    readings = e.read_cards()
    cosigner = e.auditors["auditor-2"]

    def reading_with(change: Callable[[dict[str, Any]], None]) -> Callable[[], object]:
        return lambda: record_readings(ledger, Tampering(auditor, change), "auditor-2",
                                       cosigner, readings[:1], allow_test_group=True)

    refuse("reading whose cosignature does not verify", reading_with(
        lambda o: o.update(cosignature="00" * 64)))
    refuse("reading cosigned by a non-auditor", reading_with(
        lambda o: o.update(board=["auditor-1", "kiosk-a"])))
    refuse("reading of a contest not in the manifest", reading_with(
        lambda o: o["contests"][0].update(contest="no-such-contest")))
    refuse("reading with an unknown key", reading_with(lambda o: o.update(extra=1)))
    record_readings(ledger, auditor, "auditor-2", cosigner, readings, allow_test_group=True)

    def signoff_with(change: Callable[[dict[str, Any]], None]) -> Callable[[], object]:
        return lambda: sign_off_round(ledger, Tampering(auditor, change), "auditor-2",
                                      cosigner, allow_test_group=True)

    refuse("sign-off whose cosignature does not verify", signoff_with(
        lambda o: o.update(cosignature="11" * 64)))
    refuse("sign-off with an extra key", signoff_with(lambda o: o.update(note="x")))
    sign_off_round(ledger, auditor, "auditor-2", cosigner, allow_test_group=True)
    if audit_round.decrypt:
        decrypt_round_as_trustee(e.base.workspaces[1], ledger, allow_test_group=True)
        refuse("audit decryption share of another trustee", lambda: trustee[2].write(
            EntryType.AUDIT_DECRYPTION_SHARE, last_payload(EntryType.AUDIT_DECRYPTION_SHARE)))
        refuse("audit decryption share with an element outside the group", lambda: trustee[1].write(
            EntryType.AUDIT_DECRYPTION_SHARE, _edit(last_payload(
                EntryType.AUDIT_DECRYPTION_SHARE), _break_audit_share_element)))
        decrypt_round_as_trustee(e.base.workspaces[3], ledger, allow_test_group=True)
        refuse("audit CVRs that do not decode", lambda: auditor.write(
            EntryType.AUDIT_CVRS, canonical_json({"version": 1})))
        publish_round_cvrs(ledger, auditor, allow_test_group=True)
    refuse("audit risk that does not decode", lambda: auditor.write(
        EntryType.AUDIT_RISK, canonical_json({"version": 1, "round": 1})))
    measure_risk(ledger, auditor, allow_test_group=True)
    refuse("audit end that does not decode", lambda: auditor.write(
        EntryType.AUDIT_END, canonical_json({"version": 1, "outcome": "maybe"})))
    end_audit(ledger, auditor, allow_test_group=True)
    envelopes = list(ledger.envelopes(0))
    report, _ = verify_election(envelopes, allow_test_group=True)
    refuse("hand count that does not decode", lambda: official.write(
        EntryType.HAND_COUNT, canonical_json({"version": 1, "counts": {}})))
    count = HandCount((), ("Clerk",), "2026-11-12T09:00").to_payload()
    official.write(EntryType.HAND_COUNT, count)
    refuse("second hand count", lambda: official.write(EntryType.HAND_COUNT, count))
    node, _ = open_ledger_node(directory / "ledger")
    try:
        checked = node.operator.checked_types if node.operator is not None else frozenset()
    finally:
        node.store.close()
    return Admitted(refusals, [str(f) for f in report.findings], checked)


def _ballots(e: AuditElection) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = e.context.manifest
    out = []
    for i in range(BALLOTS):
        style = manifest.ballot_styles[i % 2]
        out.append((style.id, {contest.id: [contest.selections[1 if i % 7 == 6 else 0].id]
                               for _, contest in manifest.contests_of_style(style.id)}))
    return out


def _break_cvr_element(obj: dict[str, Any]) -> None:
    """kiosk-b's first chunk, the last CVR's first β becomes 4 (of the right width): a
    square, so only the batched x^q test (or the checked decoder) sees it is outside G_q."""
    obj.update(device_id="kiosk-b", chunk=0)
    selection = obj["cvrs"][-1]["contests"][0]["selections"][0]
    selection["beta"] = "4".zfill(len(selection["beta"]))


def _break_audit_share_element(obj: dict[str, Any]) -> None:
    """The last sampled CVR's last partial decryption becomes 4, a square outside G_q."""
    partial = obj["shares"][-1]["partials"][-1]
    partial["value"] = "4".zfill(len(partial["value"]))


def _break_first_element(obj: dict[str, Any]) -> None:
    """The first partial decryption becomes 2 (of the right width), not in the subgroup."""
    value = obj["partials"][0]["value"]
    obj["partials"][0]["value"] = "2".zfill(len(value))


def _register_auditor(official: Writer, name: str, key: SigningKey) -> None:
    from e2e.ledger.operator import RegisterWriter
    from e2e.setup import Role, WriterInfo

    official.write(EntryType.REGISTER_WRITER, RegisterWriter(
        WriterInfo(name, Role.AUDITOR, key.verify_key)).to_payload())


@pytest.fixture(scope="module")
def admitted(tmp_path_factory: pytest.TempPathFactory) -> Admitted:
    return _run(tmp_path_factory.mktemp("admission"))


REFUSALS = [
    ("voting-open without a version", "missing key 'version'"),
    ("voting-open not canonical", "canonical"),
    ("voting-close of another version", "version"),
    ("voting-close with an unknown key", "'x'"),
    ("tally that does not decode", "version"),
    ("tally naming another close", "names the close of voting at entry"),
    ("tally at a head not covering the close", "must cover the close of voting"),
    ("second tally", "a second tally entry"),
    ("decryption share for another subject", "share for 'tally@1'"),
    ("second decryption share", "a second decryption share from trustee 1"),
    ("decryption share of another trustee", "a decryption share of trustee 1 written by"),
    ("decryption share with an element outside the group", "not in the order-q subgroup"),
    ("results for another tally", "results for the tally at entry"),
    ("results combining a share not on the ledger", "trustees [2] that are not on the ledger"),
    ("CVRs after the device's commitment", "CVRs after the device's commitment"),
    ("CVRs of another device", "CVRs of device 'kiosk-a' written by 'kiosk-b'"),
    ("CVR chunk out of order", "chunk 1, expected chunk 0"),
    ("empty CVR chunk", "an empty chunk of CVRs"),
    ("CVRs with an element outside the group", "not in the order-q subgroup"),
    ("CVRs that do not decode", "missing key 'chunk'"),
    ("commitment of another device", "commitment of device 'kiosk-a' written by 'kiosk-b'"),
    ("commitment made twice", "committed twice"),
    ("commitment to chunks not on the ledger", "the ledger holds 0"),
    ("CVR equality share of another trustee", "a CVR equality share of trustee 1 written by"),
    ("CVR equality that does not decode", "missing key"),
    ("paper manifest that does not decode", "missing key"),
    ("reconciliation that does not decode", "expected a JSON object"),
    ("audit parameters that do not decode", "payload"),
    ("audit seed that does not decode", "payload"),
    ("audit round that does not decode", "missing key"),
    ("reading whose cosignature does not verify", "signature does not verify"),
    ("reading cosigned by a non-auditor", "'kiosk-a' is not a registered auditor"),
    ("reading of a contest not in the manifest", "every contest of the manifest once"),
    ("reading with an unknown key", "'extra'"),
    ("sign-off whose cosignature does not verify", "signature does not verify"),
    ("sign-off with an extra key", "exactly version, round, readings and digest"),
    ("audit decryption share of another trustee",
     "an audit decryption share of trustee 1 written by"),
    ("audit decryption share with an element outside the group", "not in the order-q subgroup"),
    ("audit CVRs that do not decode", "missing key"),
    ("audit risk that does not decode", "missing key"),
    ("audit end that does not decode", "outcome"),
    ("hand count that does not decode", "payload"),
    ("second hand count", "a second hand-count entry"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "words"), REFUSALS, ids=[n for n, _ in REFUSALS])
def test_bad_entry_is_refused_at_admission(admitted: Admitted, name: str, words: str) -> None:
    if name not in admitted.refusals:
        pytest.fail(f"{name}: the step was not reached")
    message = admitted.refusals[name]
    assert message, f"{name}: accepted"
    assert words in message, message


@pytest.mark.slow
def test_honest_election_is_admitted_and_verifies(admitted: Admitted) -> None:
    assert admitted.findings == []


@pytest.mark.slow
def test_every_entry_type_but_the_setup_has_a_content_check(admitted: Admitted) -> None:
    assert set(EntryType) - admitted.checked_types == {EntryType.SETUP}


def test_refusal_names_the_entry_offered(tmp_path: Path) -> None:
    """A phase note refused at admission says where (the index offered) and why."""
    e = AuditElection.create(tmp_path)
    with pytest.raises(PaperchainError) as refused:
        e.official.write(EntryType.VOTING_OPEN, PhaseNote.encode("x")[:-1])
    assert "entry offered at index" in str(refused.value)
    assert decode_envelope(list(e.ledger.envelopes(0))[-1]).entry().entry_type != \
        EntryType.VOTING_OPEN
