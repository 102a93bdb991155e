"""The compact ballot payload (version 2) and the precomputed proof-randomness pool."""

from __future__ import annotations

import struct

import pytest

from e2e.ballot import encrypt_ballot, mark_ballot, verify_ballot
from e2e.errors import EncodingError, InvalidElement, RecordError
from e2e.fixedbase import PrecomputedPool
from e2e.group import TEST_GROUP
from e2e.parallel import STRIPPED_MAGIC, strip_proofs, verified_rows
from e2e.voting import BallotHeader, CastBallot, check_cast_payloads

G = TEST_GROUP


@pytest.fixture(scope="module")
def ballot(context):  # the session's closed ceremony on the test group, demo manifest
    marked = mark_ballot(context.manifest, "ward-2", {
        "mayor": ["bruno-okafor"], "city-council": ["grace-lee", "farid-haddad"]})
    return encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=1,
                          previous_code=bytes(32)).ballot


def test_compact_and_json_payloads_carry_the_same_ballot(context, ballot) -> None:
    compact = CastBallot(ballot).to_payload(compact=True)
    assert compact[:5] == b"PCCB\x02"
    assert CastBallot.from_payload(compact, G, "p").ballot == ballot
    assert CastBallot.from_payload(CastBallot(ballot).to_payload(), G, "p").ballot == ballot
    checked = check_cast_payloads(context, [(compact, "p")])[0]
    assert checked.decode_error is None
    assert checked.verify_error is None
    assert checked.ballot == ballot


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: b + b"\x00", "trailing"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:4] + b"\x03" + b[5:], "unsupported version 3"),
    (lambda b: b[:5] + b"\x07" + b[6:], "unsupported compact ballot version 7"),
])
def test_compact_payload_refuses_what_it_does_not_know(context, ballot, change, words) -> None:
    payload = change(CastBallot(ballot).to_payload(compact=True))
    with pytest.raises(EncodingError, match=words):
        CastBallot.from_payload(payload, G, "p")
    checked = check_cast_payloads(context, [(payload, "p")])[0]
    assert checked.decode_error is not None
    assert words in str(checked.decode_error)


def test_compact_payload_refuses_an_element_outside_the_subgroup(context, ballot) -> None:
    payload = bytearray(CastBallot(ballot).to_payload(compact=True))
    start = payload.index(ballot.contests[0].selections[0].ciphertext.beta.to_bytes())
    beta = int.from_bytes(payload[start:start + G.p_bytes], "big")
    payload[start:start + G.p_bytes] = (int(G.p) - beta).to_bytes(G.p_bytes, "big")
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        CastBallot.from_payload(bytes(payload), G, "p")
    checked = check_cast_payloads(context, [(bytes(payload), "p")])[0]
    assert "contests[0].selections[0].beta" in str(checked.decode_error)


def test_proofs_from_the_pool_verify_and_use_each_entry_once(context) -> None:
    pool = PrecomputedPool(G, context.joint_key.value)
    pool.fill(60, 30)
    marked = mark_ballot(context.manifest, "ward-1", {"parks-commission": ["pablo-diaz"]})
    first = encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=1,
                           previous_code=bytes(32), pool=pool).ballot
    left = len(pool)
    second = encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=2,
                            previous_code=bytes(32), pool=pool).ballot
    assert len(pool) < left
    for ballot in (first, second):
        verify_ballot(context, ballot, fast=False)
    commitments = {b.commitment_g for c in first.contests for s in c.selections
                   for b in s.proof.branches}
    assert not commitments & {b.commitment_g for c in second.contests for s in c.selections
                              for b in s.proof.branches}


def _rows(ballot) -> list[tuple[int, list[tuple[int, int]]]]:
    return [(c.index, [(s.ciphertext.alpha.value, s.ciphertext.beta.value)
                       for s in c.selections]) for c in ballot.contests]


def test_verified_rows_read_the_ballot_from_every_form(context, ballot) -> None:
    compact = CastBallot(ballot).to_payload(compact=True)
    stripped = strip_proofs(context, compact)
    assert stripped[:4] == STRIPPED_MAGIC
    assert len(stripped) < len(compact) / 2
    for payload in (compact, stripped, CastBallot(ballot).to_payload()):
        header, rows = verified_rows(context, payload)
        assert header == BallotHeader.of(ballot)
        assert rows == _rows(ballot)
    json_payload = CastBallot(ballot).to_payload()
    assert strip_proofs(context, json_payload) is json_payload


def test_stripped_form_is_refused_as_a_ballot(context, ballot) -> None:
    stripped = strip_proofs(context, CastBallot(ballot).to_payload(compact=True))
    with pytest.raises(EncodingError):
        CastBallot.from_payload(stripped, G, "p")
    assert check_cast_payloads(context, [(stripped, "p")])[0].decode_error is not None


def test_verified_rows_refuse_a_truncated_or_longer_payload(context, ballot) -> None:
    compact = CastBallot(ballot).to_payload(compact=True)
    for payload in (compact, strip_proofs(context, compact)):
        with pytest.raises(RecordError, match="does not end"):
            verified_rows(context, payload + b"\x00")
        with pytest.raises((RecordError, struct.error)):
            verified_rows(context, payload[:-1])
