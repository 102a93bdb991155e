"""Encrypted CVRs on the kiosk: what they hold, what their proofs are bound to, and that
nothing about cast order survives in the store or in its file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.ballot import ballot_binding, encrypt_ballot, mark_ballot, verify_contests
from e2e.context import ElectionContext
from e2e.cvr import (
    CvrChunk,
    CvrCommitment,
    CvrStore,
    EncryptedCvr,
    commitment_of,
    cvr_binding,
    encrypt_cvr,
    verify_cvr,
)
from e2e.encoding import ObjectReader, parse_canonical_json
from e2e.errors import EncodingError, InvalidBallot, InvalidProof, UsageError


def _marked(context: ElectionContext, pick: int = 0):
    manifest = context.manifest
    return mark_ballot(manifest, "ward-1", {c.id: [c.selections[pick].id]
                                           for _, c in manifest.contests_of_style("ward-1")})


def _cvr(context: ElectionContext, ballot_id: bytes, pick: int = 0) -> EncryptedCvr:
    return encrypt_cvr(context, _marked(context, pick), device_id="kiosk-1",
                       ballot_id=ballot_id)


@pytest.fixture(scope="module")
def cvrs(context: ElectionContext) -> list[EncryptedCvr]:
    # Cast order: IDs descending, so sorted order is the reverse of cast order.
    return [_cvr(context, bytes([n]) * 16) for n in (9, 7, 5, 3)]


def test_cvr_verifies_under_its_own_binding(context: ElectionContext,
                                            cvrs: list[EncryptedCvr]) -> None:
    verify_cvr(context, "kiosk-1", cvrs[0])


def test_cvr_proof_is_bound_to_its_ballot_id(context: ElectionContext,
                                             cvrs: list[EncryptedCvr]) -> None:
    moved = EncryptedCvr(bytes(16), cvrs[0].style_id, cvrs[0].contests)
    with pytest.raises(InvalidProof):
        verify_cvr(context, "kiosk-1", moved)


def test_cvr_proof_is_bound_to_its_device(context: ElectionContext,
                                          cvrs: list[EncryptedCvr]) -> None:
    with pytest.raises(InvalidProof):
        verify_cvr(context, "kiosk-2", cvrs[0])


def test_cvr_proof_never_passes_as_a_ballot_proof(context: ElectionContext,
                                                  cvrs: list[EncryptedCvr]) -> None:
    """Its own tags: a CVR cannot be replayed as a ballot (or a ballot as a CVR)."""
    with pytest.raises(InvalidProof):
        verify_contests(context, "ward-1", cvrs[0].contests,
                        ballot_binding(context.extended_base_hash, "kiosk-1", 1), "cvr")


def test_cvr_holds_no_tracking_code_sequence_position_or_time(cvrs: list[EncryptedCvr]) -> None:
    assert set(cvrs[0].to_json()) == {"ballot_id", "style_id", "contests"}
    binding = cvr_binding(b"h" * 32, "kiosk-1", cvrs[0].ballot_id)
    assert binding.fields == (b"h" * 32, "kiosk-1", cvrs[0].ballot_id)


def test_cvr_nonces_are_not_the_ballots(context: ElectionContext) -> None:
    marked = _marked(context)
    seed = bytes(range(32))
    ballot = encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=1,
                            previous_code=bytes(32), master_nonce=seed).ballot
    cvr = encrypt_cvr(context, marked, device_id="kiosk-1", ballot_id=bytes(16),
                      master_nonce=seed)  # even with the same master nonce: another tag
    ballot_alphas = {s.ciphertext.alpha for c in ballot.contests for s in c.selections}
    cvr_alphas = {s.ciphertext.alpha for c in cvr.contests for s in c.selections}
    assert not ballot_alphas & cvr_alphas


def test_cvr_refuses_a_ballot_id_that_is_not_16_bytes(context: ElectionContext) -> None:
    with pytest.raises(UsageError):
        encrypt_cvr(context, _marked(context), device_id="kiosk-1", ballot_id=b"short")


def test_store_keeps_ballot_id_order_never_cast_order(cvrs: list[EncryptedCvr]) -> None:
    store = CvrStore()
    for cvr in cvrs:  # cast order: 9, 7, 5, 3
        store.add(cvr)
    assert [c.ballot_id[0] for c in store] == [3, 5, 7, 9]


def test_store_file_keeps_ballot_id_order_never_cast_order(context: ElectionContext,
                                                           cvrs: list[EncryptedCvr],
                                                           tmp_path: Path) -> None:
    path = tmp_path / "cvrs.json"
    store = CvrStore(path, context.group)
    for cvr in cvrs:
        store.add(cvr)
    on_disk = [bytes.fromhex(c["ballot_id"])[0] for c in json.loads(path.read_bytes())["cvrs"]]
    assert on_disk == [3, 5, 7, 9]
    assert [c.ballot_id for c in CvrStore(path, context.group)] == [c.ballot_id for c in store]


def test_store_refuses_a_repeated_ballot_id(cvrs: list[EncryptedCvr]) -> None:
    store = CvrStore()
    store.add(cvrs[0])
    with pytest.raises(InvalidBallot, match="already stored"):
        store.add(cvrs[0])
    assert len(store) == 1


def test_chunk_round_trips_and_refuses_unknown_keys(context: ElectionContext,
                                                    cvrs: list[EncryptedCvr]) -> None:
    chunk = CvrChunk("kiosk-1", 0, tuple(sorted(cvrs, key=lambda c: c.ballot_id)))
    again = CvrChunk.from_payload(chunk.to_payload(), context.group, "chunk")
    assert again == chunk
    body = parse_canonical_json(chunk.to_payload(), "c")
    body["cvrs"][0]["sequence"] = 1
    from e2e.encoding import canonical_json

    with pytest.raises(EncodingError, match="unknown key"):
        CvrChunk.from_payload(canonical_json(body), context.group, "chunk")


def test_trusted_decoding_refuses_malformed_elements(context: ElectionContext,
                                                     cvrs: list[EncryptedCvr]) -> None:
    body = cvrs[0].to_json()
    body["contests"][0]["selections"][0]["alpha"] = "zz"
    with pytest.raises(EncodingError):
        EncryptedCvr.from_json(ObjectReader(body, "cvr"), context.group, trusted=True)


def test_commitment_covers_count_chunks_styles_and_every_cvr(context: ElectionContext,
                                                              cvrs: list[EncryptedCvr]) -> None:
    ordered = sorted(cvrs, key=lambda c: c.ballot_id)
    commitment = commitment_of(context.extended_base_hash, "kiosk-1", ordered, 1)
    assert (commitment.count, commitment.chunks, commitment.styles) == (4, 1, (("ward-1", 4),))
    assert CvrCommitment.from_payload(commitment.to_payload(), "c") == commitment
    other = commitment_of(context.extended_base_hash, "kiosk-1", ordered[:3], 1)
    assert other.digest != commitment.digest
