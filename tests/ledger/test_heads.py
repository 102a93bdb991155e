"""Signed tree heads, cosignatures, the heads history, and offline equivocation proofs."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from e2e.errors import EncodingError, InvalidSignature, LedgerError
from e2e.group import TEST_GROUP
from e2e.ledger.entry import Envelope, sign_entry
from e2e.ledger.equivocation import (
    EquivocationKind,
    NotEquivocation,
    SetupEvidence,
    build_proof,
    verify_equivocation_proof,
)
from e2e.ledger.heads import (
    CosignedHead,
    HeadLog,
    HeadPolicy,
    HeadSigner,
    TreeHead,
    cosign_head,
    decode_note,
    sign_head,
    verify_cosigned_head,
)
from e2e.ledger.store import PendingEntry, StaleHead, open_store
from e2e.merkle import inclusion_proof_from_leaf_hashes, leaf_hash, root_from_leaf_hashes
from e2e.setup import WitnessInfo
from e2e.signing import SigningKey
from tests.ledger.service_helpers import StepClock
from tests.strategies import CeremonyScript

OPERATOR = SigningKey(bytes(range(32)))
WITNESSES = {name: SigningKey(bytes([i]) * 32) for i, name in enumerate(("w1", "w2", "w3"), 1)}
ORIGIN = "paperchain.ledger/test-election"
ELECTION = "test-election"


def policy(threshold: int = 2) -> HeadPolicy:
    return HeadPolicy(ELECTION, ORIGIN, OPERATOR.verify_key,
                      tuple(WitnessInfo(w, k.verify_key) for w, k in WITNESSES.items()), threshold)


def head(size: int = 5, time: int = 1000, root: bytes = b"\x11" * 32) -> TreeHead:
    return TreeHead(ORIGIN, ELECTION, size, root, time)


def cosigned(tree: TreeHead, *witnesses: str) -> CosignedHead:
    return CosignedHead(sign_head(OPERATOR, tree),
                        tuple(cosign_head(WITNESSES[w], w, tree, tree.time + 1) for w in witnesses))


def test_signed_note_round_trips_and_verifies() -> None:
    original = cosigned(head(), "w1", "w2")
    note = original.note(policy())
    root = base64.b64encode(b"\x11" * 32).decode()
    assert note.startswith(f"{ORIGIN}\n5\n{root}\n")
    assert "\nelection test-election\ntime 1000\n\n\u2014 " in note
    decoded = decode_note(note)
    assert decoded == original
    assert decoded.note(policy()) == note
    verify_cosigned_head(policy(), decoded)


def test_rejects_head_signed_by_another_key() -> None:
    forged = CosignedHead(sign_head(SigningKey(bytes(32)), head()))
    with pytest.raises(InvalidSignature, match="operator's signature"):
        policy(0).verify_signed(forged.signed)


def test_rejects_note_whose_size_was_changed() -> None:
    note = cosigned(head(), "w1", "w2").note(policy())
    tampered = decode_note(note.replace(f"{ORIGIN}\n5\n", f"{ORIGIN}\n6\n", 1))
    with pytest.raises(InvalidSignature):
        verify_cosigned_head(policy(), tampered)


@pytest.mark.parametrize(("old", "new"), [
    ("\n5\n", "\n05\n"),  # leading zero
    ("time 1000", "time +1000"),
    ("election test-election", "election  test-election"),
    ("\n\n\u2014", "\n\n-"),  # not an em dash
])
def test_refuses_non_canonical_note(old: str, new: str) -> None:
    note = cosigned(head(), "w1").note(policy())
    with pytest.raises(EncodingError):
        decode_note(note.replace(old, new, 1))


def test_refuses_note_with_a_witness_cosigning_twice() -> None:
    note = cosigned(head(), "w1").note(policy())
    line = note.splitlines(keepends=True)[-1]
    with pytest.raises(EncodingError, match="cosigns twice"):
        decode_note(note + line)


def test_refuses_note_with_trailing_text() -> None:
    with pytest.raises(EncodingError):
        decode_note(cosigned(head(), "w1").note(policy()) + "junk")


def test_head_needs_threshold_cosignatures_from_distinct_registered_witnesses() -> None:
    tree = head()
    verify_cosigned_head(policy(), cosigned(tree, "w1", "w3"))
    with pytest.raises(LedgerError, match="1 valid witness cosignature"):
        verify_cosigned_head(policy(), cosigned(tree, "w1"))
    stranger = SigningKey(b"\x09" * 32)
    unregistered = cosigned(tree, "w1").with_cosignatures(
        [cosign_head(stranger, "w9", tree, 2000)])
    with pytest.raises(LedgerError, match="1 valid"):
        verify_cosigned_head(policy(), unregistered)
    # w2's name over w3's signature counts for nobody.
    impostor = cosigned(tree, "w1").with_cosignatures([cosign_head(WITNESSES["w3"], "w2", tree,
                                                                   2000)])
    with pytest.raises(LedgerError, match="1 valid"):
        verify_cosigned_head(policy(), impostor)


def test_rejects_cosignature_of_another_head() -> None:
    signed = cosigned(head(size=5), "w1")
    other = cosign_head(WITNESSES["w2"], "w2", head(size=6), 2000)
    with pytest.raises(LedgerError, match="1 valid"):
        verify_cosigned_head(policy(), signed.with_cosignatures([other]))


def _store_with(tmp_path: Path, entries: int):  # -> SqlLogStore
    store = open_store(str(tmp_path / "s.sqlite"))
    store.append([PendingEntry(f"e{i}".encode(), "writer", i, "test")
                  for i in range(entries)], lambda i, previous, raw: raw + previous)
    return store


def test_head_times_strictly_increase_even_when_the_clock_stalls(tmp_path: Path) -> None:
    store = _store_with(tmp_path, 3)
    signer = HeadSigner(HeadLog(store), OPERATOR, ORIGIN, ELECTION, clock=lambda: 5000)
    first = signer.current()
    store.append([PendingEntry(b"e3", "writer", 3, "test")], lambda i, p, raw: raw + p)
    second = signer.current()
    assert first is not None
    assert second is not None
    assert (first.size, second.size) == (3, 4)
    assert second.time == first.time + 1
    assert signer.current() == second  # nothing new: no new head


def test_heads_history_lists_every_head_oldest_first(tmp_path: Path) -> None:
    store = _store_with(tmp_path, 1)
    log = HeadLog(store)
    signer = HeadSigner(log, OPERATOR, ORIGIN, ELECTION, StepClock())
    sizes = []
    for i in range(1, 5):
        sizes.append(signer.current().size)  # type: ignore[union-attr]
        store.append([PendingEntry(f"x{i}".encode(), "writer", i, "test")],
                     lambda i, p, raw: raw + p)
    assert [h.size for h in log.history()] == sizes == [1, 2, 3, 4]
    assert log.sizes_before(3, 10) == [2, 1]


def test_refuses_a_head_smaller_than_the_latest(tmp_path: Path) -> None:
    store = _store_with(tmp_path, 4)
    log = HeadLog(store)
    log.add(sign_head(OPERATOR, TreeHead(ORIGIN, ELECTION, 4, store.root(4), 10)),
            OPERATOR.verify_key)
    with pytest.raises(StaleHead):
        log.add(sign_head(OPERATOR, TreeHead(ORIGIN, ELECTION, 3, store.root(3), 11)),
                OPERATOR.verify_key)


# --- proofs of equivocation ------------------------------------------------------------------


def _setup_tree():  # -> (setup envelope, leaves)
    """A two-entry log whose first envelope is a real setup naming OPERATOR and WITNESSES."""
    script = CeremonyScript.create(TEST_GROUP)
    setup = dataclasses.replace(
        script.setup, operator_key=OPERATOR.verify_key, log_origin=ORIGIN,
        witnesses=tuple(WitnessInfo(w, k.verify_key) for w, k in WITNESSES.items()))
    entry = sign_entry(script.official_key, "setup", setup.election_id, "official-1", 0,
                       setup.to_payload())
    return Envelope(0, bytes(32), entry.encode()).encode(), setup.election_id


@pytest.fixture(scope="module")
def setup_tree() -> tuple[bytes, str]:
    return _setup_tree()


def _notes(envelope: bytes, election: str, tails: list[list[bytes]], times: list[int]
           ) -> tuple[list[str], list[list[bytes]]]:
    notes, trees = [], []
    for tail, time in zip(tails, times, strict=True):
        leaves = [leaf_hash(envelope), *tail]
        trees.append(leaves)
        tree = TreeHead(ORIGIN, election, len(leaves), root_from_leaf_hashes(leaves), time)
        notes.append(CosignedHead(sign_head(OPERATOR, tree)).note())
    return notes, trees


def _evidence(envelope: bytes, leaves: list[bytes]) -> SetupEvidence:
    return SetupEvidence(envelope, 0, tuple(inclusion_proof_from_leaf_hashes(leaves, 0)))


def test_same_size_proof_verifies_offline_and_refuses_tampering(setup_tree) -> None:
    envelope, election = setup_tree
    notes, trees = _notes(envelope, election, [[b"\x01" * 32], [b"\x02" * 32]], [10, 20])
    proof = build_proof(EquivocationKind.SAME_SIZE, election, OPERATOR.verify_key, notes,
                        _evidence(envelope, trees[0]))
    document = json.loads(proof.to_bytes())
    verify_equivocation_proof(json.dumps(document).encode())
    document["heads"][1] = document["heads"][0]
    with pytest.raises(NotEquivocation, match="different roots"):
        verify_equivocation_proof(json.dumps(document).encode())


def test_refuses_proof_about_another_operator(setup_tree) -> None:
    envelope, election = setup_tree
    notes, trees = _notes(envelope, election, [[b"\x01" * 32], [b"\x02" * 32]], [10, 20])
    proof = build_proof(EquivocationKind.SAME_SIZE, election, OPERATOR.verify_key, notes,
                        _evidence(envelope, trees[0]))
    with pytest.raises(NotEquivocation, match="another operator"):
        verify_equivocation_proof(proof.to_bytes(), operator_key=WITNESSES["w1"].verify_key)


def test_refuses_proof_whose_heads_are_not_the_operators(setup_tree) -> None:
    envelope, election = setup_tree
    notes, trees = _notes(envelope, election, [[b"\x01" * 32], [b"\x02" * 32]], [10, 20])
    document = json.loads(build_proof(EquivocationKind.SAME_SIZE, election, OPERATOR.verify_key,
                                      notes, _evidence(envelope, trees[0])).to_bytes())
    other = decode_note(notes[1])
    forged = CosignedHead(sign_head(SigningKey(b"\x07" * 32), other.head)).note()
    document["heads"][1] = forged
    with pytest.raises(NotEquivocation, match="not signed by the operator"):
        verify_equivocation_proof(json.dumps(document).encode())


def test_time_order_proof_needs_the_smaller_head_signed_later(setup_tree) -> None:
    envelope, election = setup_tree
    notes, trees = _notes(envelope, election, [[], [b"\x02" * 32]], [30, 20])
    build_proof(EquivocationKind.TIME_ORDER, election, OPERATOR.verify_key, notes,
                _evidence(envelope, trees[0]))
    honest, trees = _notes(envelope, election, [[], [b"\x02" * 32]], [10, 20])
    with pytest.raises(NotEquivocation, match="not signed later"):
        build_proof(EquivocationKind.TIME_ORDER, election, OPERATOR.verify_key, honest,
                    _evidence(envelope, trees[0]))


def test_refuses_proof_with_setup_evidence_from_another_tree(setup_tree) -> None:
    envelope, election = setup_tree
    notes, _ = _notes(envelope, election, [[b"\x01" * 32], [b"\x02" * 32]], [10, 20])
    bad = SetupEvidence(envelope, 0, (b"\x05" * 32,))
    with pytest.raises(NotEquivocation, match="setup evidence"):
        build_proof(EquivocationKind.SAME_SIZE, election, OPERATOR.verify_key, notes, bad)


def test_refuses_proof_with_unknown_field(setup_tree) -> None:
    envelope, election = setup_tree
    notes, trees = _notes(envelope, election, [[b"\x01" * 32], [b"\x02" * 32]], [10, 20])
    document = json.loads(build_proof(EquivocationKind.SAME_SIZE, election, OPERATOR.verify_key,
                                      notes, _evidence(envelope, trees[0])).to_bytes())
    document["verdict"] = "guilty"
    with pytest.raises(EncodingError, match="unknown key"):
        verify_equivocation_proof(json.dumps(document).encode())
