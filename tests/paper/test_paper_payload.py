"""QR payloads: layouts as specified, round trips, and every way a decoder refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.errors import PaperchainError
from e2e.ledger.promise import InclusionPromise
from e2e.signing import InvalidSignature, SignatureTag, SigningKey
from paper.ids import BallotId
from paper.payload import (
    BallotRecordPayload,
    ForeignElection,
    PayloadError,
    PayloadKind,
    ReceiptPayload,
    ReceiptStatus,
    WrongPayloadKind,
    decode_ballot_record,
    decode_receipt,
    make_ballot_record,
    make_receipt,
    parse_payload,
    payload_kind,
)

DEVICE = SigningKey(bytes([1]) * 32)
OTHER_DEVICE = SigningKey(bytes([2]) * 32)
REMAKE = SigningKey(bytes([3]) * 32)
OPERATOR = SigningKey(bytes([4]) * 32)
ELECTION = "springfield-2026-general"
DEVICES = (DEVICE.verify_key, OTHER_DEVICE.verify_key)
VECTORS = Path(__file__).parents[1] / "vectors" / "paper_payloads.json"

ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
ballot_ids = st.binary(min_size=16, max_size=16).map(BallotId)


def _record(**changes: object) -> BallotRecordPayload:
    fields: dict[str, object] = {"election_id": ELECTION, "style_id": "ward-1",
                                 "ballot_id": BallotId(bytes(range(16))), "test": False,
                                 "remake": 0}
    fields.update(changes)
    key = REMAKE if fields["remake"] else DEVICE
    return make_ballot_record(key, fields.pop("election_id"), fields.pop("style_id"),
                              fields.pop("ballot_id"), **fields)


def _promise(index: int = 42, election: str = ELECTION, key: SigningKey = OPERATOR
             ) -> InclusionPromise:
    return InclusionPromise.issue(key, election, index, bytes(range(32)))


def _receipt(status: ReceiptStatus = ReceiptStatus.CAST, **changes: object) -> ReceiptPayload:
    promise = changes.pop("promise", _promise())
    return make_receipt(DEVICE, ELECTION, bytes(range(100, 132)), status, promise,
                        test=bool(changes.pop("test", False)))


def _decode_record(data: bytes) -> BallotRecordPayload:
    return decode_ballot_record(data, election_id=ELECTION, device_keys=DEVICES,
                                remake_keys=(REMAKE.verify_key,))


def _decode_receipt(data: bytes) -> ReceiptPayload:
    return decode_receipt(data, election_id=ELECTION, device_keys=DEVICES,
                          operator_key=OPERATOR.verify_key)


def _signed(body: bytes, key: SigningKey = DEVICE, tag: SignatureTag = SignatureTag.PAPER_QR
            ) -> bytes:
    """Sign hand-made bytes, so a structural check is tested with a valid signature."""
    return body + key.sign(tag, ELECTION, body)


# ---------------------------------------------------------------------------- layouts


def test_ballot_record_layout_is_exactly_as_specified() -> None:
    record = _record()
    data = record.to_bytes()
    election, style = ELECTION.encode(), b"ward-1"
    # An independent reading of docs/spec.md §18.1.2.
    assert data[:2] == b"\xa1\x01"
    assert data[2] == len(election)
    assert data[3 : 3 + len(election)] == election
    at = 3 + len(election)
    assert data[at] == len(style)
    assert data[at + 1 : at + 1 + len(style)] == style
    at += 1 + len(style)
    assert data[at : at + 16] == bytes(range(16))
    assert data[at + 16] == 0  # flags
    assert len(data) == at + 17 + 64  # the signature, and nothing else
    DEVICE.verify_key.verify(SignatureTag.PAPER_QR, ELECTION, data[:-64], data[-64:])


def test_ballot_record_holds_nothing_but_its_fields() -> None:
    # 2 header + 1+len(election) + 1+len(style) + 16 ID + 1 flags + 64 signature: no room
    # for choices, a tracking code, a ledger position, a sequence number or a time.
    assert len(_record().to_bytes()) == 2 + 1 + len(ELECTION) + 1 + 6 + 16 + 1 + 64
    assert len(_record(remake=2).to_bytes()) == 2 + 1 + len(ELECTION) + 1 + 6 + 16 + 1 + 1 + 64


def test_receipt_layout_is_exactly_as_specified() -> None:
    receipt = _receipt(ReceiptStatus.CHALLENGED, test=True)
    data = receipt.to_bytes()
    election = ELECTION.encode()
    assert data[:3] == b"\xa1\x02" + bytes([len(election)])
    at = 3 + len(election)
    assert data[at : at + 32] == bytes(range(100, 132))
    assert data[at + 32 : at + 34] == b"\x02\x01"  # CHALLENGED, TEST
    assert data[at + 34 : at + 34 + 104] == _promise().to_bytes()
    assert len(data) == at + 34 + 104 + 64
    DEVICE.verify_key.verify(SignatureTag.RECEIPT, ELECTION, data[:-64], data[-64:])


def test_payloads_match_the_published_vectors() -> None:
    vectors = json.loads(VECTORS.read_text())
    for vector in vectors["ballot_records"]:
        record = make_ballot_record(
            SigningKey(bytes.fromhex(vector["signing_key_seed"])), vector["election_id"],
            vector["style_id"], BallotId.parse(vector["ballot_id"]), test=vector["test"],
            remake=vector["remake"])
        assert record.to_bytes().hex() == vector["payload"]
        assert str(record.ballot_id) == vector["ballot_id"]
    for vector in vectors["receipts"]:
        promise = InclusionPromise.issue(
            SigningKey(bytes.fromhex(vector["operator_key_seed"])), vector["election_id"],
            vector["index"], bytes.fromhex(vector["leaf_hash"]))
        receipt = make_receipt(
            SigningKey(bytes.fromhex(vector["signing_key_seed"])), vector["election_id"],
            bytes.fromhex(vector["tracking_code"]), ReceiptStatus[vector["status"]], promise,
            test=vector["test"])
        assert receipt.to_bytes().hex() == vector["payload"]


# ---------------------------------------------------------------------------- round trips


@given(ids, ids, ballot_ids, st.booleans(), st.integers(0, 255))
@settings(max_examples=60)
def test_ballot_record_round_trips(
    election: str, style: str, ballot_id: BallotId, test: bool, remake: int
) -> None:
    key = REMAKE if remake else DEVICE
    record = make_ballot_record(key, election, style, ballot_id, test=test, remake=remake)
    decoded = decode_ballot_record(record.to_bytes(), election_id=election,
                                   device_keys=(DEVICE.verify_key,),
                                   remake_keys=(REMAKE.verify_key,))
    assert decoded == record
    assert parse_payload(record.to_bytes()) == record


@given(st.binary(min_size=32, max_size=32), st.sampled_from(ReceiptStatus), st.booleans(),
       st.integers(0, 2**63 - 1), st.binary(min_size=32, max_size=32))
@settings(max_examples=40)
def test_receipt_round_trips(
    code: bytes, status: ReceiptStatus, test: bool, index: int, leaf: bytes
) -> None:
    promise = InclusionPromise.issue(OPERATOR, ELECTION, index, leaf)
    receipt = make_receipt(DEVICE, ELECTION, code, status, promise, test=test)
    assert _decode_receipt(receipt.to_bytes()) == receipt
    assert payload_kind(receipt.to_bytes()) is PayloadKind.RECEIPT


@given(st.data())
@settings(max_examples=30)
def test_every_truncation_is_refused(data: st.DataObject) -> None:
    payload = data.draw(st.sampled_from([_record(), _record(remake=3, test=True), _receipt()]))
    raw = payload.to_bytes()
    decode = _decode_record if isinstance(payload, BallotRecordPayload) else _decode_receipt
    for length in range(len(raw)):
        with pytest.raises(PayloadError):
            decode(raw[:length])


@given(st.data())
@settings(max_examples=200)
def test_every_single_byte_change_is_refused_or_caught_by_a_signature(
    data: st.DataObject,
) -> None:
    payload = data.draw(st.sampled_from([_record(), _record(remake=1), _receipt(),
                                         _receipt(ReceiptStatus.CHALLENGED, test=True)]))
    raw = bytearray(payload.to_bytes())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    decode = _decode_record if isinstance(payload, BallotRecordPayload) else _decode_receipt
    with pytest.raises((PayloadError, ForeignElection, InvalidSignature)):
        decode(bytes(raw))


# ---------------------------------------------------------------------------- refusals


def test_rejects_trailing_bytes() -> None:
    with pytest.raises(PayloadError, match="trailing"):
        _decode_record(_record().to_bytes() + b"\x00")
    with pytest.raises(PayloadError, match="trailing"):
        _decode_receipt(_receipt().to_bytes() + b"\x00")


def test_rejects_another_version() -> None:
    raw = bytearray(_record().to_bytes())
    raw[0] = 0xA2
    with pytest.raises(PayloadError, match="unsupported payload version 2"):
        _decode_record(bytes(raw))


def test_rejects_bytes_that_are_not_a_paperchain_payload() -> None:
    with pytest.raises(PayloadError, match="not a Paperchain payload"):
        _decode_record(b'{"election": "springfield"}')
    with pytest.raises(PayloadError, match="empty"):
        _decode_record(b"")


def test_rejects_an_unknown_kind() -> None:
    raw = bytearray(_record().to_bytes())
    raw[1] = 0x07
    with pytest.raises(PayloadError, match="unknown payload kind 0x07"):
        payload_kind(bytes(raw))


def test_rejects_a_receipt_scanned_as_a_ballot_record() -> None:
    with pytest.raises(WrongPayloadKind, match="receipt, not a ballot record"):
        _decode_record(_receipt().to_bytes())


def test_rejects_a_ballot_record_scanned_as_a_receipt() -> None:
    with pytest.raises(WrongPayloadKind, match="ballot record, not a receipt"):
        _decode_receipt(_record().to_bytes())


def test_rejects_another_elections_card() -> None:
    other = make_ballot_record(DEVICE, "shelbyville-2026-general", "ward-1",
                               BallotId(bytes(16)), test=False)
    with pytest.raises(ForeignElection, match="shelbyville-2026-general"):
        _decode_record(other.to_bytes())


def test_rejects_another_elections_receipt() -> None:
    promise = _promise(election="shelbyville-2026-general")
    other = make_receipt(DEVICE, "shelbyville-2026-general", bytes(32), ReceiptStatus.CAST,
                         promise, test=False)
    with pytest.raises(ForeignElection):
        _decode_receipt(other.to_bytes())


def test_rejects_a_card_signed_by_an_unregistered_key() -> None:
    forged = make_ballot_record(SigningKey(bytes([9]) * 32), ELECTION, "ward-1",
                                BallotId(bytes(16)), test=False)
    with pytest.raises(InvalidSignature, match="no registered voting device key"):
        _decode_record(forged.to_bytes())


def test_rejects_a_signature_made_for_another_election() -> None:
    # The election is in the signed message, not only in the payload.
    body = _record().signed_bytes()
    signature = DEVICE.sign(SignatureTag.PAPER_QR, "shelbyville-2026-general", body)
    with pytest.raises(InvalidSignature):
        _decode_record(body + signature)


def test_rejects_a_signature_made_with_another_tag() -> None:
    body = _record().signed_bytes()
    with pytest.raises(InvalidSignature):
        _decode_record(_signed(body, tag=SignatureTag.RECEIPT))


def test_rejects_a_remake_signed_by_a_voting_device() -> None:
    remake = make_ballot_record(DEVICE, ELECTION, "ward-1", BallotId(bytes(16)), test=False,
                                remake=1)
    with pytest.raises(InvalidSignature, match="remake station"):
        _decode_record(remake.to_bytes())


def test_rejects_an_original_card_signed_by_a_remake_station() -> None:
    card = make_ballot_record(REMAKE, ELECTION, "ward-1", BallotId(bytes(16)), test=False)
    with pytest.raises(InvalidSignature, match="voting device"):
        _decode_record(card.to_bytes())


def test_rejects_reserved_flag_bits_even_when_signed() -> None:
    body = bytearray(_record().signed_bytes())
    body[-1] |= 0x80
    with pytest.raises(PayloadError, match="reserved flag bits"):
        _decode_record(_signed(bytes(body)))


def test_rejects_a_duplicate_with_remake_number_zero() -> None:
    body = _record().signed_bytes()[:-1] + b"\x02\x00"  # DUPLICATE, remake 0
    with pytest.raises(PayloadError, match="remake number starts at 1"):
        _decode_record(_signed(body, REMAKE))


def test_rejects_ids_outside_the_manifest_alphabet_even_when_signed() -> None:
    body = bytearray(_record().signed_bytes())
    at = 3 + len(ELECTION) + 1
    body[at] = ord("W")  # "ward-1" -> "Ward-1"
    with pytest.raises(PayloadError, match="ballot style ID must be"):
        _decode_record(_signed(bytes(body)))


def test_rejects_a_zero_length_id() -> None:
    body = b"\xa1\x01\x00"
    with pytest.raises(PayloadError, match="must be 1 to 63 bytes, not 0"):
        _decode_record(_signed(body))


def test_rejects_an_unknown_receipt_status_even_when_signed() -> None:
    body = bytearray(_receipt().signed_bytes())
    at = 3 + len(ELECTION) + 32
    body[at] = 0x03
    with pytest.raises(PayloadError, match="unknown receipt status"):
        _decode_receipt(_signed(bytes(body), tag=SignatureTag.RECEIPT))


def test_rejects_a_receipt_whose_promise_the_operator_did_not_sign() -> None:
    receipt = _receipt(promise=_promise(key=SigningKey(bytes([8]) * 32)))
    with pytest.raises(InvalidSignature, match="inclusion promise"):
        _decode_receipt(receipt.to_bytes())


def test_rejects_a_promise_index_out_of_range_even_when_signed() -> None:
    body = bytearray(_receipt().signed_bytes())
    at = 3 + len(ELECTION) + 34
    body[at] = 0x80  # index >= 2^63
    with pytest.raises(PayloadError, match="inclusion promise"):
        _decode_receipt(_signed(bytes(body), tag=SignatureTag.RECEIPT))


def test_rejects_a_receipt_the_device_did_not_sign() -> None:
    body = _receipt().signed_bytes()
    with pytest.raises(InvalidSignature, match="voting device"):
        _decode_receipt(_signed(body, SigningKey(bytes([7]) * 32), SignatureTag.RECEIPT))


def test_errors_say_where() -> None:
    raw = _record().to_bytes()
    with pytest.raises(PayloadError) as caught:
        _decode_record(raw[:40])
    at = 2 + 1 + len(ELECTION) + 1 + len("ward-1")
    assert caught.value.where == f"byte {at}"
    assert f"ballot ID needs 16 bytes, {40 - at} left" in caught.value.reason


def test_refuses_to_build_malformed_payloads() -> None:
    with pytest.raises(PayloadError):
        _record(style_id="Ward 1")
    with pytest.raises(PayloadError):
        _record(remake=256)
    with pytest.raises(PaperchainError):
        BallotRecordPayload(ELECTION, "ward-1", BallotId(bytes(16)), False, 0, b"short")
