"""The key ceremony (docs/spec.md §10) and the threshold arithmetic it enables (§14.2).

Two harnesses: ``CeremonyScript`` writes the ceremony's ledger entries directly (fast,
deterministic, every payload at hand to mutate) and ``WorkspaceElection`` runs trustee
workspaces against a real ledger, for the complaint stories: a share inconsistent with
its dealer's commitments is resolved both ways — a valid reveal dismisses the complaint
and the ceremony closes; an invalid or missing reveal aborts the attempt, which is
recorded, and the ceremony restarts and closes without that dealer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from e2e.ceremony import (
    Abort,
    Commitments,
    Complaint,
    Polynomial,
    Reveal,
    expected_share_image,
    joint_key,
    prove_commitments,
    verification_key,
    verify_commitments,
    verify_share,
)
from e2e.elgamal import encrypt
from e2e.encoding import canonical_json
from e2e.errors import (
    CeremonyError,
    DecryptionError,
    EncodingError,
    InvalidElement,
    InvalidExponent,
    InvalidProof,
    InvalidShare,
    PaperchainError,
    RecordError,
    UsageError,
)
from e2e.group import STANDARD, TEST_GROUP, ElementModQ
from e2e.hashing import base_hash, extended_base_hash
from e2e.ledger.client import Writer
from e2e.ledger.types import EntryType
from e2e.nonces import DerivedNonces
from e2e.official import abort_ceremony
from e2e.trustee import KeyShare
from tally.decrypt import combine, compute_share, lagrange_coefficient
from tally.decrypt import verify_share as verify_dshare
from tally.verify import verify_election
from tests.strategies import CeremonyScript, WorkspaceElection

GROUP = TEST_GROUP


def _script() -> CeremonyScript:
    return CeremonyScript.create(GROUP)


def _commit_all(script: CeremonyScript, attempt: int = 1) -> None:
    for dealer in script.progress().participants:
        script.add_trustee(dealer, EntryType.CEREMONY_COMMITMENTS,
                           script.commitments(dealer, attempt).to_payload())


def _deal_all(script: CeremonyScript, attempt: int = 1) -> None:
    for dealer in script.progress().participants:
        script.add_trustee(dealer, EntryType.CEREMONY_SHARES,
                           script.shares(dealer, attempt).to_payload())


def _offer(script: CeremonyScript, writer: str, kind: EntryType, payload: bytes) -> None:
    """Replay the transcript with one more entry (raises what the replay raises)."""
    script.progress([script.entry(writer, kind, payload)])


# --- the honest ceremony -------------------------------------------------------------------------


def test_ceremony_closes_with_joint_key_verification_keys_and_extended_hash(closed_script
                                                                            ) -> None:  # type: ignore[no-untyped-def]
    script: CeremonyScript = closed_script
    outcome = script.progress().outcome
    assert outcome is not None
    assert outcome.participants == (1, 2, 3)
    secret = sum(int(script.polynomial(i).coefficients[0].value) for i in (1, 2, 3))
    assert outcome.joint_key == GROUP.g_pow(secret)
    for trustee in (1, 2, 3):
        assert outcome.verification_keys[trustee] == GROUP.g_pow(script.key_share(trustee))
    rows = [outcome.commitments[i] for i in (1, 2, 3)]
    assert outcome.base_hash == base_hash(GROUP, script.setup.manifest.digest, 3, 2)
    assert outcome.extended_base_hash == extended_base_hash(outcome.base_hash,
                                                            outcome.joint_key, rows)


def test_verification_key_is_the_product_of_committed_share_images() -> None:
    polynomials = {i: Polynomial((GROUP.exponent_of(10 * i + 1), GROUP.exponent_of(10 * i + 2)))
                   for i in (1, 2, 3)}
    commitments = {i: tuple(GROUP.g_pow(a) for a in p.coefficients)
                   for i, p in polynomials.items()}
    for recipient in (1, 2, 3):
        share = sum(int(p.evaluate(recipient).value) for p in polynomials.values())
        assert verification_key(commitments, recipient) == GROUP.g_pow(share)
        for dealer, polynomial in polynomials.items():
            verify_share(polynomial.evaluate(recipient), commitments[dealer], recipient, dealer)
    assert joint_key(commitments) == GROUP.g_pow(11 + 21 + 31)


def test_rejects_share_inconsistent_with_its_commitments() -> None:
    polynomial = Polynomial((GROUP.exponent_of(5), GROUP.exponent_of(7)))
    commitments = tuple(GROUP.g_pow(a) for a in polynomial.coefficients)
    with pytest.raises(InvalidShare, match="does not match the dealer's commitments"):
        verify_share(polynomial.evaluate(2) + 1, commitments, 2, 1)
    with pytest.raises(InvalidShare, match="does not match"):
        verify_share(polynomial.evaluate(2), commitments, 3, 1)  # another recipient's share
    assert expected_share_image(commitments, 2) == GROUP.g_pow(5 + 7 * 2)


def test_dealer_with_a_zero_higher_coefficient_can_commit() -> None:
    script = _script()
    polynomial = Polynomial((GROUP.exponent_of(9), GROUP.zero_exponent()))
    payload = prove_commitments(polynomial, script.progress().base_hash, 1, 1,
                                DerivedNonces(bytes(32)))
    assert payload.commitments[1].is_one()
    verify_commitments(payload, script.progress().base_hash, 2)


# --- commitments: K_i0, k, copied and moved proofs ---------------------------------------------


def test_rejects_dealer_whose_k_i0_is_one() -> None:
    script = _script()
    polynomial = Polynomial((GROUP.zero_exponent(), GROUP.exponent_of(3)))
    payload = prove_commitments(polynomial, script.progress().base_hash, 1, 1,
                                DerivedNonces(bytes(32)))
    with pytest.raises(InvalidProof, match="K_i0 = 1"):
        verify_commitments(payload, script.progress().base_hash, 2)
    with pytest.raises(InvalidProof, match="K_i0 = 1"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, payload.to_payload())


@pytest.mark.parametrize("count", [1, 3])
def test_rejects_dealer_with_other_than_k_commitments(count: int) -> None:
    script = _script()
    polynomial = Polynomial(tuple(GROUP.exponent_of(100 + j) for j in range(count)))
    payload = prove_commitments(polynomial, script.progress().base_hash, 1, 1,
                                DerivedNonces(bytes(32)))
    with pytest.raises(InvalidProof, match=f"expected k = 2 commitments, got {count}"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, payload.to_payload())


def test_rejects_schnorr_proofs_copied_from_another_trustee() -> None:
    script = _script()
    script.add_trustee(1, EntryType.CEREMONY_COMMITMENTS, script.commitments(1).to_payload())
    copied = Commitments.from_payload(script.entries[-1][1].payload, GROUP, "copy")
    as_dealer_2 = Commitments(1, 2, copied.commitments, copied.proofs)
    with pytest.raises(InvalidProof, match="Schnorr challenge is not the hash") as caught:
        _offer(script, "trustee-2", EntryType.CEREMONY_COMMITMENTS, as_dealer_2.to_payload())
    assert "dealer 2 coefficient 0" in str(caught.value)
    with pytest.raises(RecordError, match="trustee 2 wrote an entry in the name of trustee 1"):
        _offer(script, "trustee-2", EntryType.CEREMONY_COMMITMENTS, copied.to_payload())


def test_rejects_commitments_proved_for_another_election() -> None:
    script = _script()
    other = base_hash(GROUP, bytes(32), 3, 2)  # another manifest
    payload = prove_commitments(script.polynomial(1), other, 1, 1, DerivedNonces(bytes(32)))
    with pytest.raises(InvalidProof, match="Schnorr challenge is not the hash"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, payload.to_payload())


def test_rejects_commitments_replayed_from_an_aborted_attempt() -> None:
    script = _script()
    _commit_all(script)
    old = Commitments.from_payload(script.entries[0][1].payload, GROUP, "old")
    script.add("official-1", EntryType.CEREMONY_ABORT, Abort(1, (3,), "silent").to_payload())
    assert script.progress().attempt == 2
    with pytest.raises(RecordError, match="entry for attempt 1 during attempt 2"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, old.to_payload())
    relabelled = Commitments(2, 1, old.commitments, old.proofs)  # H_B now has n = 2
    with pytest.raises(InvalidProof, match="Schnorr challenge is not the hash"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, relabelled.to_payload())


def test_rejects_dealer_committing_twice() -> None:
    script = _script()
    payload = script.commitments(1).to_payload()
    script.add_trustee(1, EntryType.CEREMONY_COMMITMENTS, payload)
    with pytest.raises(RecordError, match="dealer 1 committed twice"):
        _offer(script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, payload)


def test_rejects_joint_key_one_from_a_rushing_dealer() -> None:
    # Dealer 3 waits for the others' K_i0 and picks a_30 = -(a_10 + a_20): K = 1.
    script = _script()
    for dealer in (1, 2):
        script.add_trustee(dealer, EntryType.CEREMONY_COMMITMENTS,
                           script.commitments(dealer).to_payload())
    cancel = -(script.polynomial(1).coefficients[0] + script.polynomial(2).coefficients[0])
    script.polynomials[(3, 1)] = Polynomial((cancel, GROUP.exponent_of(12345)))
    script.add_trustee(3, EntryType.CEREMONY_COMMITMENTS, script.commitments(3).to_payload())
    _deal_all(script)
    assert script.progress().expected_outcome()[1].is_one()
    with pytest.raises(RecordError, match="joint key K = 1 is refused"):
        _offer(script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1))


# --- the order of the ceremony's steps -----------------------------------------------------------


def test_rejects_shares_before_every_dealer_committed() -> None:
    script = _script()
    script.add_trustee(1, EntryType.CEREMONY_COMMITMENTS, script.commitments(1).to_payload())
    with pytest.raises(RecordError, match="shares sent before every dealer committed"):
        _offer(script, "trustee-1", EntryType.CEREMONY_SHARES, script.shares(1).to_payload())


def test_rejects_confirmation_before_every_dealer_dealt() -> None:
    script = _script()
    _commit_all(script)
    script.add_trustee(1, EntryType.CEREMONY_SHARES, script.shares(1).to_payload())
    with pytest.raises(RecordError, match="confirmation before every dealer sent shares"):
        _offer(script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1))


def test_rejects_a_second_confirmation_from_one_trustee() -> None:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    script.add_trustee(1, EntryType.CEREMONY_CONFIRM, script.confirm(1))
    with pytest.raises(RecordError, match="trustee 1 confirmed twice"):
        _offer(script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1))


def test_rejects_ceremony_entry_from_a_writer_who_is_no_trustee() -> None:
    script = _script()
    with pytest.raises(RecordError, match="'official-1' is not a trustee"):
        _offer(script, "official-1", EntryType.CEREMONY_COMMITMENTS,
               script.commitments(1).to_payload())


def test_rejects_ceremony_entry_after_the_close(closed_script) -> None:  # type: ignore[no-untyped-def]
    script: CeremonyScript = closed_script
    with pytest.raises(RecordError, match="after the ceremony closed"):
        _offer(script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1))


def test_rejects_close_without_every_confirmation() -> None:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    for trustee in (1, 2):
        script.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, script.confirm(trustee))
    with pytest.raises(RecordError, match=r"without the confirmation of trustees \[3\]"):
        _offer(script, "official-1", EntryType.CEREMONY_CLOSE, script.close())


def test_rejects_close_with_an_unanswered_complaint() -> None:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    script.add_trustee(1, EntryType.CEREMONY_COMPLAINT,
                       Complaint(1, 3, 1, "bad share").to_payload())
    for trustee in (2, 3):
        script.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, script.confirm(trustee))
    with pytest.raises(RecordError, match="confirms with its own complaint unanswered"):
        _offer(script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1))
    with pytest.raises(RecordError, match="closed with an unanswered complaint"):
        _offer(script, "official-1", EntryType.CEREMONY_CLOSE, script.close())


def test_rejects_reveal_without_a_complaint() -> None:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    reveal = Reveal(1, 3, 1, script.polynomial(3).evaluate(1))
    with pytest.raises(RecordError, match="reveal without a complaint"):
        _offer(script, "trustee-3", EntryType.CEREMONY_REVEAL, reveal.to_payload())


def _complained(valid_reveal: bool | None) -> CeremonyScript:
    """Trustee 1 complains about dealer 3, who reveals a valid, an invalid, or no share."""
    script = _script()
    _commit_all(script)
    _deal_all(script)
    script.add_trustee(1, EntryType.CEREMONY_COMPLAINT,
                       Complaint(1, 3, 1, "share does not match").to_payload())
    if valid_reveal is not None:
        share = script.polynomial(3).evaluate(1) + (0 if valid_reveal else 1)
        script.add_trustee(3, EntryType.CEREMONY_REVEAL, Reveal(1, 3, 1, share).to_payload())
    return script


def test_valid_reveal_dismisses_the_complaint_and_the_ceremony_closes() -> None:
    script = _complained(valid_reveal=True)
    for trustee in (1, 2, 3):
        script.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, script.confirm(trustee))
    script.add("official-1", EntryType.CEREMONY_CLOSE, script.close())
    assert script.progress().outcome is not None


def test_rejects_close_after_an_invalid_reveal() -> None:
    script = _complained(valid_reveal=False)
    for trustee in (1, 2, 3):
        script.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, script.confirm(trustee))
    with pytest.raises(RecordError, match="dealer 3's reveal is invalid"):
        _offer(script, "official-1", EntryType.CEREMONY_CLOSE, script.close())


def test_rejects_second_reveal_for_one_complaint() -> None:
    script = _complained(valid_reveal=False)
    again = Reveal(1, 3, 1, script.polynomial(3).evaluate(1))
    with pytest.raises(RecordError, match="second reveal"):
        _offer(script, "trustee-3", EntryType.CEREMONY_REVEAL, again.to_payload())


@pytest.mark.parametrize("valid_reveal", [False, None], ids=["invalid reveal", "no reveal"])
def test_abort_excludes_the_dealer_and_the_ceremony_restarts_and_closes_without_it(
    valid_reveal: bool | None,
) -> None:
    script = _complained(valid_reveal)
    script.add("official-1", EntryType.CEREMONY_ABORT, Abort(1, (3,), "dealer 3").to_payload())
    progress = script.progress()
    assert (progress.attempt, progress.participants) == (2, (1, 2))
    assert progress.base_hash == base_hash(GROUP, script.setup.manifest.digest, 2, 2)
    script.run_attempt(2)
    outcome = script.progress().outcome
    assert outcome is not None
    assert outcome.participants == (1, 2)
    assert set(outcome.verification_keys) == {1, 2}
    assert outcome.joint_key == script.polynomial(1, 2).coefficients[0].group.g_pow(
        script.polynomial(1, 2).coefficients[0] + script.polynomial(2, 2).coefficients[0])


def test_rejects_abort_excluding_a_dealer_without_cause() -> None:
    script = _complained(valid_reveal=True)
    with pytest.raises(RecordError, match="excludes trustee 3 without an unresolved complaint"):
        _offer(script, "official-1", EntryType.CEREMONY_ABORT, Abort(1, (3,), "x").to_payload())
    with pytest.raises(RecordError, match="excludes trustee 2 without"):
        _offer(script, "official-1", EntryType.CEREMONY_ABORT, Abort(1, (2,), "x").to_payload())


def test_rejects_abort_excluding_a_trustee_who_does_not_take_part() -> None:
    script = _complained(valid_reveal=None)
    with pytest.raises(RecordError, match="excludes trustee 4, who does not take part"):
        _offer(script, "official-1", EntryType.CEREMONY_ABORT,
               Abort(1, (3, 4), "x").to_payload())


def test_abort_that_leaves_fewer_than_k_trustees_ends_the_ceremony() -> None:
    script = _script()
    with pytest.raises(CeremonyError, match="fewer than the threshold 2"):
        _offer(script, "official-1", EntryType.CEREMONY_ABORT,
               Abort(1, (2, 3), "silent").to_payload())


# --- every single-field mutation of a ceremony payload --------------------------------------------

Edit = Callable[[dict[str, Any]], None]
OTHER_ELEMENT = GROUP.g_pow(424242).to_hex()
NOT_IN_SUBGROUP = format(GROUP.p - GROUP.g_pow(424242).value, "x").rjust(2 * GROUP.p_bytes, "0")


def _set(*path: object, value: object) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        holder: Any = document
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value
    return edit


def _call(method: str, *path: object, arg: object = None) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        holder: Any = document
        for key in path:
            holder = holder[key]
        getattr(holder, method)(*(() if arg is None else (arg,)))
    return edit


def _stage_commitments() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _script()
    return script, "trustee-1", EntryType.CEREMONY_COMMITMENTS, script.commitments(1).to_payload()


def _stage_shares() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _script()
    _commit_all(script)
    return script, "trustee-1", EntryType.CEREMONY_SHARES, script.shares(1).to_payload()


def _stage_complaint() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    return (script, "trustee-1", EntryType.CEREMONY_COMPLAINT,
            Complaint(1, 3, 1, "bad share").to_payload())


def _stage_reveal() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _complained(valid_reveal=None)
    return (script, "trustee-3", EntryType.CEREMONY_REVEAL,
            Reveal(1, 3, 1, script.polynomial(3).evaluate(1)).to_payload())


def _stage_abort() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _complained(valid_reveal=None)
    return script, "official-1", EntryType.CEREMONY_ABORT, Abort(1, (3,), "x").to_payload()


def _stage_confirm() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    return script, "trustee-1", EntryType.CEREMONY_CONFIRM, script.confirm(1)


def _stage_close() -> tuple[CeremonyScript, str, EntryType, bytes]:
    script = _script()
    _commit_all(script)
    _deal_all(script)
    for trustee in (1, 2, 3):
        script.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, script.confirm(trustee))
    return script, "official-1", EntryType.CEREMONY_CLOSE, script.close()


STAGES = {
    "commitments": _stage_commitments, "shares": _stage_shares, "complaint": _stage_complaint,
    "reveal": _stage_reveal, "abort": _stage_abort, "confirm": _stage_confirm,
    "close": _stage_close,
}

MUTATIONS: list[tuple[str, str, Edit, type[PaperchainError], str]] = [
    # every payload: version, unknown key, attempt
    *[(stage, "version", _set("version", value=2), EncodingError, "unsupported version 2")
      for stage in STAGES],
    *[(stage, "unknown key", _set("note", value="x"), EncodingError, "unknown key")
      for stage in STAGES],
    *[(stage, "attempt", _set("attempt", value=2), RecordError, "entry for attempt 2 during")
      for stage in STAGES],
    # ceremony-commitments
    ("commitments", "dealer", _set("dealer", value=2), RecordError, "in the name of trustee 2"),
    ("commitments", "commitments[0]", _set("commitments", 0, value=OTHER_ELEMENT), InvalidProof,
     "coefficient 0: Schnorr challenge"),
    ("commitments", "commitments[1]", _set("commitments", 1, value=OTHER_ELEMENT), InvalidProof,
     "coefficient 1: Schnorr challenge"),
    ("commitments", "commitments[1] outside the subgroup",
     _set("commitments", 1, value=NOT_IN_SUBGROUP), InvalidElement, "order-q subgroup"),
    ("commitments", "commitments + 1", _call("append", "commitments", arg=OTHER_ELEMENT),
     InvalidProof, "expected k = 2 commitments, got 3"),
    ("commitments", "proofs - 1", _call("pop", "proofs"), InvalidProof,
     "expected 2 proofs, got 1"),
    ("commitments", "proofs[0].commitment", _set("proofs", 0, "commitment", value=OTHER_ELEMENT),
     InvalidProof, "coefficient 0: Schnorr challenge"),
    ("commitments", "proofs[1].challenge",
     _set("proofs", 1, "challenge", value=GROUP.exponent_of(1).to_hex()), InvalidProof,
     "coefficient 1: Schnorr challenge"),
    ("commitments", "proofs[0].response",
     _set("proofs", 0, "response", value=GROUP.exponent_of(1).to_hex()), InvalidProof,
     "coefficient 0: Schnorr equation"),
    ("commitments", "proofs[0].response non-canonical",
     _set("proofs", 0, "response", value=format(GROUP.q + 1, "x").rjust(32, "0")),
     InvalidExponent, "0 <= e < q"),
    # ceremony-shares
    ("shares", "dealer", _set("dealer", value=3), RecordError, "in the name of trustee 3"),
    ("shares", "recipient", _set("shares", 0, "recipient", value=1), RecordError,
     r"shares go to \[1, 3\], expected exactly \[2, 3\]"),
    ("shares", "shares - 1", _call("pop", "shares"), RecordError, "expected exactly"),
    ("shares", "box", _set("shares", 0, "box", value="ZZ"), EncodingError, "lowercase hex"),
    # ceremony-complaint
    ("complaint", "dealer", _set("dealer", value=1), RecordError, "about dealer 1, who sent no"),
    ("complaint", "complainant", _set("complainant", value=2), RecordError,
     "in the name of trustee 2"),
    ("complaint", "reason", _set("reason", value=7), EncodingError, "expected a string"),
    # ceremony-reveal
    ("reveal", "dealer", _set("dealer", value=2), RecordError, "in the name of trustee 2"),
    ("reveal", "recipient", _set("recipient", value=2), RecordError, "reveal without a complaint"),
    ("reveal", "share", _set("share", value="0" * 31), InvalidExponent, "exactly 32 hex digits"),
    # ceremony-abort
    ("abort", "excluded", _set("excluded", value=[2]), RecordError,
     "excludes trustee 2 without"),
    ("abort", "excluded empty", _set("excluded", value=[]), EncodingError, "non-empty list"),
    ("abort", "excluded not integers", _set("excluded", value=["3"]), EncodingError,
     "non-empty list"),
    # ceremony-confirm and ceremony-close
    *[(stage, "extended_base_hash", _set("extended_base_hash", value="00" * 32), RecordError,
       "H_E differs") for stage in ("confirm", "close")],
    *[(stage, "joint_key", _set("joint_key", value=OTHER_ELEMENT), RecordError,
       "joint key K differs") for stage in ("confirm", "close")],
    *[(stage, "verification_keys[1].key", _set("verification_keys", 1, "key", value=OTHER_ELEMENT),
       RecordError, "verification keys differ") for stage in ("confirm", "close")],
    *[(stage, "verification_keys - 1", _call("pop", "verification_keys"), RecordError,
       "verification keys differ") for stage in ("confirm", "close")],
    *[(stage, "signatures[0].signature", _set("signatures", 0, "signature", value="00" * 64),
       RecordError, "closing signature: ceremony-close signature does not verify")
      for stage in ("confirm", "close")],
    ("confirm", "signatures[0].index", _set("signatures", 0, "index", value=2), RecordError,
     r"expected signatures of trustees \[1\], got \[2\]"),
    ("close", "signatures - 1", _call("pop", "signatures"), RecordError,
     r"expected signatures of trustees \[1, 2, 3\], got \[1, 2\]"),
]


@pytest.mark.parametrize(("stage", "name", "edit", "error", "reason"), MUTATIONS,
                         ids=[f"{m[0]}.{m[1]}" for m in MUTATIONS])
def test_rejects_ceremony_payload_with_one_field_changed(
    stage: str, name: str, edit: Edit, error: type[PaperchainError], reason: str,
) -> None:
    script, writer, kind, payload = STAGES[stage]()
    _offer(script, writer, kind, payload)  # the honest payload is accepted
    document = json.loads(payload)
    edit(document)
    with pytest.raises(error, match=reason):
        _offer(script, writer, kind, canonical_json(document))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_rejects_ceremony_payload_that_is_not_canonical_json(stage: str) -> None:
    script, writer, kind, payload = STAGES[stage]()
    spaced = json.dumps(json.loads(payload), sort_keys=True, indent=1).encode()
    with pytest.raises(EncodingError, match="not in canonical JSON form"):
        _offer(script, writer, kind, spaced)


# --- the real ceremony: workspaces and a ledger ------------------------------------------------


def _tamper_to_trustee_1(recipient: int, share: ElementModQ) -> ElementModQ:
    return share + 1 if recipient == 1 else share


def _complaint_round(election: WorkspaceElection) -> None:
    """Dealer 3 sends trustee 1 a bad share; rounds run until trustee 1 has complained,
    with dealer 3 kept silent once it has dealt."""
    for _ in range(6):
        progress = election.progress()
        if (3, 1) in progress.complaints:
            return
        election.round(silent=(3,) if 3 in progress.shares else (),
                       tamper={3: _tamper_to_trustee_1})
    raise AssertionError("trustee 1 never complained")


def test_workspace_ceremony_with_valid_reveal_closes_among_all(tmp_path: Path) -> None:
    election = WorkspaceElection.create(tmp_path, GROUP)
    _complaint_round(election)
    done = election.run()
    assert "trustee 3: attempt 1: revealed the share for trustee 1" in done
    outcome = election.progress().outcome
    assert outcome is not None
    assert (outcome.attempt, outcome.participants) == (1, (1, 2, 3))
    for index, workspace in election.workspaces.items():
        share = workspace.key_share(GROUP)
        assert GROUP.g_pow(share.secret) == outcome.verification_keys[index]
    report, _ = verify_election(election.ledger.envelopes(0), allow_test_group=True,
                                require_results=False)
    assert report.ok, report.findings


def test_workspace_ceremony_with_invalid_reveal_aborts_and_closes_without_the_dealer(
    tmp_path: Path,
) -> None:
    election = WorkspaceElection.create(tmp_path, GROUP)
    _complaint_round(election)
    dealer = election.workspaces[3]
    wrong = Reveal(1, 3, 1, GROUP.exponent_of(1))
    Writer(election.ledger, dealer.signing_key, "trustee-3").write(EntryType.CEREMONY_REVEAL,
                                                                    wrong.to_payload())
    done = election.run(silent=(3,))
    assert "official: aborted attempt 1: excluded dealer(s) [3]" in done
    outcome = election.progress().outcome
    assert outcome is not None
    assert (outcome.attempt, outcome.participants) == (2, (1, 2))
    kinds = [entry.entry_type for _, entry in election.ledger.entries(0)]
    assert kinds.count(EntryType.CEREMONY_ABORT) == 1
    report, _ = verify_election(election.ledger.envelopes(0), allow_test_group=True,
                                require_results=False)
    assert report.ok, report.findings


def test_workspace_ceremony_with_missing_reveal_aborts_and_closes_without_the_dealer(
    tmp_path: Path,
) -> None:
    election = WorkspaceElection.create(tmp_path, GROUP)
    _complaint_round(election)
    assert election.run(silent=(3,)) == []  # waiting for dealer 3, who never answers
    abort_ceremony(election.ledger, election.official, [3], "dealer 3 did not reveal",
                   allow_test_group=True)
    election.run(silent=(3,))
    outcome = election.progress().outcome
    assert outcome is not None
    assert (outcome.attempt, outcome.participants) == (2, (1, 2))
    report, _ = verify_election(election.ledger.envelopes(0), allow_test_group=True,
                                require_results=False)
    assert report.ok, report.findings


def test_ledger_refuses_copied_commitments_at_admission(tmp_path: Path) -> None:
    election = WorkspaceElection.create(tmp_path, GROUP)
    election.workspaces[1].advance(election.ledger, allow_test_group=True)
    first = next(e for _, e in election.ledger.entries(0)
                 if e.entry_type == EntryType.CEREMONY_COMMITMENTS)
    copied = Commitments.from_payload(first.payload, GROUP, "copy")
    size = election.ledger.size()
    writer = Writer(election.ledger, election.workspaces[2].signing_key, "trustee-2")
    with pytest.raises(InvalidProof, match="Schnorr challenge"):
        writer.write(EntryType.CEREMONY_COMMITMENTS,
                     Commitments(1, 2, copied.commitments, copied.proofs).to_payload())
    assert election.ledger.size() == size


# --- threshold decryption: Lagrange coefficients and shares -------------------------------------


def test_any_k_key_shares_reconstruct_the_joint_secret(closed_script) -> None:  # type: ignore[no-untyped-def]
    script: CeremonyScript = closed_script
    secret = script.group.zero_exponent()
    for dealer in (1, 2, 3):
        secret = secret + script.polynomial(dealer).coefficients[0]
    for subset in [(1, 2), (1, 3), (2, 3), (1, 2, 3)]:
        total = script.group.zero_exponent()
        for index in subset:
            total = total + lagrange_coefficient(script.group, index, subset) * script.key_share(
                index)
        assert total == secret


def test_lagrange_coefficients_for_1_and_3() -> None:
    for group in (GROUP, STANDARD):
        w1 = lagrange_coefficient(group, 1, [1, 3])
        w3 = lagrange_coefficient(group, 3, [1, 3])
        assert w1 * 2 == group.exponent_of(3)  # 3 / (3 - 1)
        assert w3 * 2 == -group.exponent_of(1)  # 1 / (1 - 3)


@pytest.mark.parametrize("indices", [[0, 1], [1, 1, 3], [3, 1, 3], [-1, 1]])
def test_rejects_lagrange_indices_that_are_zero_or_repeated(indices: list[int]) -> None:
    with pytest.raises(UsageError, match="distinct and non-zero"):
        lagrange_coefficient(GROUP, 1, indices)


def test_rejects_lagrange_index_outside_its_set() -> None:
    with pytest.raises(UsageError, match="index 2 is not among"):
        lagrange_coefficient(GROUP, 2, [1, 3])


def _shares(script: CeremonyScript, context, targets, trustees):  # type: ignore[no-untyped-def]
    outcome = script.progress().outcome
    return [compute_share(KeyShare(t, script.key_share(t), outcome.extended_base_hash,
                                   outcome.joint_key), context, "tally@9", targets,
                          DerivedNonces(bytes([t]) * 32))
            for t in trustees]


def test_threshold_decryption_by_any_two_trustees(closed_script, context) -> None:  # type: ignore[no-untyped-def]
    key = context.joint_key
    targets = [(0, j, encrypt(m, GROUP.exponent_of(50 + j), key)) for j, m in enumerate([3, 0, 7])]
    for trustees in combinations((1, 2, 3), 2):
        shares = _shares(closed_script, context, targets, trustees)
        for share in shares:
            verify_dshare(share, context, targets)
        counts = [count for *_, count in combine(context, shares, targets, {0: 10})]
        assert counts == [3, 0, 7]


def test_rejects_decryption_from_repeated_or_too_few_trustees(closed_script, context) -> None:  # type: ignore[no-untyped-def]
    targets = [(0, 0, encrypt(1, GROUP.exponent_of(5), context.joint_key))]
    one = _shares(closed_script, context, targets, [1])
    with pytest.raises(DecryptionError, match="two shares come from the same trustee"):
        combine(context, one + one, targets, {0: 5})
    with pytest.raises(DecryptionError, match="the threshold is 2"):
        combine(context, one, targets, {0: 5})


def test_rejects_count_beyond_the_number_of_ballots(closed_script, context) -> None:  # type: ignore[no-untyped-def]
    targets = [(0, 0, encrypt(6, GROUP.exponent_of(5), context.joint_key))]
    shares = _shares(closed_script, context, targets, [1, 2])
    with pytest.raises(DecryptionError, match=r"in 0\.\.5"):
        combine(context, shares, targets, {0: 5})


def test_rejects_decryption_share_moved_to_another_ciphertext_subject_or_trustee(
    closed_script, context,  # type: ignore[no-untyped-def]
) -> None:
    key = context.joint_key
    targets = [(0, 0, encrypt(1, GROUP.exponent_of(5), key)),
               (0, 1, encrypt(0, GROUP.exponent_of(6), key))]
    share = _shares(closed_script, context, targets, [2])[0]
    swapped = [(0, 0, targets[1][2]), (0, 1, targets[0][2])]
    with pytest.raises(InvalidProof, match="Chaum–Pedersen challenge"):
        verify_dshare(share, context, swapped)
    with pytest.raises(InvalidProof, match="Chaum–Pedersen challenge"):
        verify_dshare(dataclasses.replace(share, subject="tally@10"), context, targets)
    as_trustee_1 = dataclasses.replace(share, trustee=1,
                                       verification_key=context.ceremony.verification_keys[1])
    with pytest.raises(InvalidProof, match="Chaum–Pedersen challenge"):
        verify_dshare(as_trustee_1, context, targets)
    with pytest.raises(InvalidShare, match="not the one derived"):
        verify_dshare(dataclasses.replace(share, trustee=1), context, targets)
    with pytest.raises(InvalidShare, match="holds no key share"):
        verify_dshare(dataclasses.replace(share, trustee=4), context, targets)


def test_verified_share_verdict_does_not_cover_a_tampered_share_or_other_targets(
    closed_script, context,  # type: ignore[no-untyped-def]
) -> None:
    key = context.joint_key
    targets = [(0, 0, encrypt(1, GROUP.exponent_of(7), key)),
               (0, 1, encrypt(0, GROUP.exponent_of(8), key))]
    share = _shares(closed_script, context, targets, [1])[0]
    verify_dshare(share, context, targets)  # remembered as verified in this process
    verify_dshare(share, context, targets)
    first = share.partials[0]
    forged_value = dataclasses.replace(first, value=first.value * GROUP.generator)
    forged = dataclasses.replace(share, partials=(forged_value, *share.partials[1:]))
    with pytest.raises(InvalidProof, match="Chaum–Pedersen"):
        verify_dshare(forged, context, targets)
    swapped = [(0, 0, targets[1][2]), (0, 1, targets[0][2])]
    with pytest.raises(InvalidProof, match="Chaum–Pedersen"):
        verify_dshare(share, context, swapped)


def test_trustee_refuses_to_decrypt_with_a_share_of_another_ceremony(closed_script, context
                                                                     ) -> None:  # type: ignore[no-untyped-def]
    outcome = closed_script.progress().outcome
    share = KeyShare(1, closed_script.key_share(1), bytes(32), outcome.joint_key)
    with pytest.raises(DecryptionError, match="another ceremony"):
        compute_share(share, context, "tally@9", [])
    wrong = KeyShare(1, closed_script.key_share(2), outcome.extended_base_hash, outcome.joint_key)
    with pytest.raises(DecryptionError, match="does not match the ceremony's verification key"):
        compute_share(wrong, context, "tally@9", [])


def test_coefficients_are_erased_at_the_first_decryption_after_the_close(tmp_path: Path
                                                                         ) -> None:
    """A trustee who takes no ceremony step after the official closed it (the CLI's usual
    order) still holds its coefficients; its first decryption erases them, and only for
    the ceremony that closed."""
    election = WorkspaceElection.create(tmp_path, GROUP)
    for _ in range(6):
        if election.progress().outcome is not None:
            break
        election.round()
    outcome = election.progress().outcome
    assert outcome is not None
    workspace = election.workspaces[1]
    secrets = [workspace.directory / name for name in ("polynomial.secret", "received.secret")]
    assert all(path.exists() for path in secrets)
    assert not workspace.erase_ceremony_secrets(bytes(32))  # not this ceremony's close
    assert all(path.exists() for path in secrets)
    assert workspace.erase_ceremony_secrets(outcome.extended_base_hash)
    assert not any(path.exists() for path in secrets)
    assert GROUP.g_pow(workspace.key_share(GROUP).secret) == outcome.verification_keys[1]
    assert not workspace.erase_ceremony_secrets(outcome.extended_base_hash)
