"""The bytes inside Paperchain's QR codes: compact, versioned, binary (never JSON).

docs/spec.md §18.1 is the normative text. Every payload starts with two bytes::

    0xA1            magic (high nibble 0xA) and format version (low nibble 1)
    kind            0x01 ballot record, 0x02 receipt

IDs (election, ballot style) are ``u8 length ‖ ASCII`` in the manifest's ID alphabet
(1–63 of ``a-z 0-9 -``), integers big-endian, flags bytes have every unassigned bit
zero. Decoders refuse other versions, unknown kinds, truncation, trailing bytes
(padding), reserved bits, malformed IDs, another election, and bad signatures, each
with a reason and the byte offset where it was found.

**Ballot record** (kind 0x01) — on the card that goes into the ballot box::

    A1 01 ‖ str(election ID) ‖ str(ballot style ID) ‖ ballot ID (16) ‖ flags (1)
          ‖ [remake number (1), iff flags.DUPLICATE] ‖ device signature (64)

and nothing else. The card shows the voter's choices in print, so anything that could
link it to the ledger or to cast order would break ballot secrecy: no choices, no
tracking code, no ledger hash or position, no device sequence number or time, and no
device ID (the signer is found by trying the election's registered keys). Flags:
bit 0 TEST, bit 1 DUPLICATE. A DUPLICATE card is an official's remake of a damaged
card: it carries the *original's* ballot ID, so it pairs with the same encrypted CVR in
the audit, and a remake number n ≥ 1 (the n-th remake of that card). If a remake and
its original both reach the count, the manifest sees the ID twice and flags both.
Original cards are signed by a kiosk's device key, remakes by a remake station's key;
a signature by the wrong kind of key is refused.

**Receipt** (kind 0x02) — taken home by the voter::

    A1 02 ‖ str(election ID) ‖ tracking code (32) ‖ status (1) ‖ flags (1)
          ‖ inclusion promise (104) ‖ device signature (64)

Status 0x01 CAST or 0x02 CHALLENGED; flags bit 0 TEST. The promise is the ledger's
signed promise for the entry that recorded the ballot: the cast ballot, or, for a
challenged ballot, the challenge entry holding its opening. A *challenge receipt* is
the receipt with status CHALLENGED: election ID, tracking code and the promise of the
challenge entry are exactly what the voter's own device needs to fetch the opening at
that index, check its leaf hash and the operator's signature, and check the opening.
The kiosk signs the whole receipt (tag RECEIPT), so a voter holding it can prove which
tracking code and status the kiosk gave them; no byte of it can change unnoticed.

**Inclusion promise** (104 bytes, ``e2e.ledger.promise``, docs/spec.md §7.5)::

    index (u64, < 2^63) ‖ leaf hash (32) ‖ operator signature (64)

the operator's Ed25519 signature with tag INCLUSION_PROMISE over ``u64be(index) ‖
leaf hash`` (the election is bound by the tagged message, e2e/signing.py).

Signatures cover ``signed_message(tag, election ID, payload bytes before the
signature)`` — the header included, so a signature never transfers between kinds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from e2e.errors import EncodingError, InvalidSignature, VerificationError
from e2e.ledger.promise import PROMISE_BYTES, InclusionPromise
from e2e.signing import SIGNATURE_BYTES, SignatureTag, SigningKey, VerifyKey
from paper.ids import BALLOT_ID_BYTES, TRACKING_CODE_BYTES, BallotId

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_ID_BYTES",
    "BallotRecordPayload",
    "ForeignElection",
    "PayloadError",
    "PayloadKind",
    "ReceiptPayload",
    "ReceiptStatus",
    "WrongPayloadKind",
    "decode_ballot_record",
    "decode_receipt",
    "make_ballot_record",
    "make_receipt",
    "parse_payload",
    "payload_kind",
]

MAGIC = 0xA
FORMAT_VERSION = 1
_HEADER_BYTE = (MAGIC << 4) | FORMAT_VERSION
# Election and style IDs as the manifest allows them (e2e/manifest.py): 1 to 63
# lowercase ASCII letters, digits or hyphens, starting with a letter or digit.
MAX_ID_BYTES = 63
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

_FLAG_TEST = 0x01
_FLAG_DUPLICATE = 0x02
_RECORD_FLAGS = _FLAG_TEST | _FLAG_DUPLICATE
_RECEIPT_FLAGS = _FLAG_TEST


class PayloadKind(IntEnum):
    """The second byte of every payload."""

    BALLOT_RECORD = 0x01
    RECEIPT = 0x02


class ReceiptStatus(IntEnum):
    CAST = 0x01
    CHALLENGED = 0x02


class PayloadError(EncodingError):
    """A QR payload is malformed: version, kind, length, padding, reserved bits, text."""


class WrongPayloadKind(PayloadError):
    """A well-formed payload of another kind (a receipt scanned as a ballot record)."""


class ForeignElection(VerificationError):
    """A well-formed payload of another election than the one expected."""


# ---------------------------------------------------------------------------- payloads


@dataclass(frozen=True, slots=True)
class BallotRecordPayload:
    """The ballot record's QR: which election, style and card, signed by its printer."""

    election_id: str
    style_id: str
    ballot_id: BallotId
    test: bool
    remake: int  # 0: the kiosk's original card; n >= 1: the n-th DUPLICATE remake
    signature: bytes

    def __post_init__(self) -> None:
        _check_text(self.election_id, MAX_ID_BYTES, "election ID")
        _check_text(self.style_id, MAX_ID_BYTES, "ballot style ID")
        if not isinstance(self.ballot_id, BallotId):
            raise PayloadError("ballot_id must be a BallotId")
        if not isinstance(self.test, bool):
            raise PayloadError("test must be a bool")
        if not isinstance(self.remake, int) or not 0 <= self.remake <= 255:
            raise PayloadError("the remake number is 0 (original) or 1..255")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_BYTES:
            raise PayloadError(f"a signature is exactly {SIGNATURE_BYTES} bytes")

    @property
    def duplicate(self) -> bool:
        """True for a remake of a damaged card (printed DUPLICATE)."""
        return self.remake > 0

    def signed_bytes(self) -> bytes:
        return _record_body(
            self.election_id, self.style_id, self.ballot_id, self.test, self.remake
        )

    def to_bytes(self) -> bytes:
        return self.signed_bytes() + self.signature


@dataclass(frozen=True, slots=True)
class ReceiptPayload:
    """The receipt's QR: the tracking code, CAST/CHALLENGED, the ledger's promise."""

    election_id: str
    tracking_code: bytes
    status: ReceiptStatus
    test: bool
    promise: InclusionPromise
    signature: bytes

    def __post_init__(self) -> None:
        _check_text(self.election_id, MAX_ID_BYTES, "election ID")
        code = self.tracking_code
        if not isinstance(code, bytes) or len(code) != TRACKING_CODE_BYTES:
            raise PayloadError(f"a tracking code is exactly {TRACKING_CODE_BYTES} bytes")
        if not isinstance(self.status, ReceiptStatus):
            raise PayloadError("status must be a ReceiptStatus")
        if not isinstance(self.test, bool):
            raise PayloadError("test must be a bool")
        if (
            not isinstance(self.promise, InclusionPromise)
            or not 0 <= self.promise.index < 2**63
            or len(self.promise.leaf_hash) != 32
            or len(self.promise.signature) != SIGNATURE_BYTES
        ):
            raise PayloadError("promise must be a well-formed InclusionPromise")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_BYTES:
            raise PayloadError(f"a signature is exactly {SIGNATURE_BYTES} bytes")

    def signed_bytes(self) -> bytes:
        return _receipt_body(
            self.election_id, self.tracking_code, self.status, self.test, self.promise
        )

    def to_bytes(self) -> bytes:
        return self.signed_bytes() + self.signature


def make_ballot_record(
    device_key: SigningKey,
    election_id: str,
    style_id: str,
    ballot_id: BallotId,
    *,
    test: bool,
    remake: int = 0,
) -> BallotRecordPayload:
    """Sign a ballot record payload: a kiosk's key for originals, a remake station's for remakes."""
    body = _record_body(election_id, style_id, ballot_id, test, remake)
    signature = device_key.sign(SignatureTag.PAPER_QR, election_id, body)
    return BallotRecordPayload(election_id, style_id, ballot_id, test, remake, signature)


def make_receipt(
    device_key: SigningKey,
    election_id: str,
    tracking_code: bytes,
    status: ReceiptStatus,
    promise: InclusionPromise,
    *,
    test: bool,
) -> ReceiptPayload:
    """Sign a receipt payload with the kiosk's device key (tag RECEIPT)."""
    body = _receipt_body(election_id, tracking_code, status, test, promise)
    signature = device_key.sign(SignatureTag.RECEIPT, election_id, body)
    return ReceiptPayload(election_id, tracking_code, status, test, promise, signature)


# ---------------------------------------------------------------------------- decoding


def payload_kind(data: bytes) -> PayloadKind:
    """The kind a payload claims (after checking magic and version), or raise."""
    reader = _Reader(data)
    return reader.header()


def parse_payload(data: bytes) -> BallotRecordPayload | ReceiptPayload:
    """Parse any payload's structure, checking no signature and no election.

    For display and diagnosis only (a scanner reporting what a foreign card says);
    anything that trusts a payload goes through ``decode_ballot_record`` or
    ``decode_receipt``.
    """
    reader = _Reader(data)
    kind = reader.header()
    if kind is PayloadKind.BALLOT_RECORD:
        return _parse_record(reader)
    return _parse_receipt(reader)


def decode_ballot_record(
    data: bytes,
    *,
    election_id: str,
    device_keys: Sequence[VerifyKey],
    remake_keys: Sequence[VerifyKey] = (),
) -> BallotRecordPayload:
    """Parse and verify a ballot record QR; return it or raise.

    Raises ``PayloadError`` (``WrongPayloadKind`` for a receipt), ``ForeignElection``,
    or ``InvalidSignature`` if no registered key of the right kind signed it: a kiosk's
    ``device_keys`` for an original card, a remake station's ``remake_keys`` for a
    DUPLICATE.
    """
    reader = _Reader(data)
    kind = reader.header()
    if kind is not PayloadKind.BALLOT_RECORD:
        raise WrongPayloadKind(f"this is a {_KIND_NAMES[kind]}, not a ballot record", "byte 1")
    record = _parse_record(reader)
    _check_election(record.election_id, election_id)
    keys = remake_keys if record.duplicate else device_keys
    signer = "remake station" if record.duplicate else "voting device"
    _verify_by_any(
        keys, SignatureTag.PAPER_QR, election_id, record.signed_bytes(), record.signature, signer
    )
    return record


def decode_receipt(
    data: bytes,
    *,
    election_id: str,
    device_keys: Sequence[VerifyKey],
    operator_key: VerifyKey,
) -> ReceiptPayload:
    """Parse and verify a receipt QR (device signature and the operator's promise)."""
    reader = _Reader(data)
    kind = reader.header()
    if kind is not PayloadKind.RECEIPT:
        raise WrongPayloadKind(f"this is a {_KIND_NAMES[kind]}, not a receipt", "byte 1")
    receipt = _parse_receipt(reader)
    _check_election(receipt.election_id, election_id)
    _verify_by_any(
        device_keys,
        SignatureTag.RECEIPT,
        election_id,
        receipt.signed_bytes(),
        receipt.signature,
        "voting device",
    )
    try:
        receipt.promise.verify(operator_key, election_id)
    except InvalidSignature as err:
        raise InvalidSignature(
            "the ledger operator's inclusion promise does not verify", err.where
        ) from None
    return receipt


# ---------------------------------------------------------------------------- internals

_KIND_NAMES = {PayloadKind.BALLOT_RECORD: "ballot record", PayloadKind.RECEIPT: "receipt"}


def _check_text(value: object, limit: int, what: str, where: str | None = None) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value) or len(value) > limit:
        raise PayloadError(
            f"the {what} must be 1 to {limit} lowercase ASCII letters, digits or hyphens, "
            f"starting with a letter or digit, not {value!r}",
            where,
        )


def _text_field(value: str) -> bytes:
    raw = value.encode("ascii")
    return bytes([len(raw)]) + raw


def _record_body(
    election_id: str, style_id: str, ballot_id: BallotId, test: bool, remake: int
) -> bytes:
    _check_text(election_id, MAX_ID_BYTES, "election ID")
    _check_text(style_id, MAX_ID_BYTES, "ballot style ID")
    if not isinstance(remake, int) or not 0 <= remake <= 255:
        raise PayloadError("the remake number is 0 (original) or 1..255")
    flags = (_FLAG_TEST if test else 0) | (_FLAG_DUPLICATE if remake else 0)
    return (
        bytes([_HEADER_BYTE, PayloadKind.BALLOT_RECORD])
        + _text_field(election_id)
        + _text_field(style_id)
        + ballot_id.value
        + bytes([flags])
        + (bytes([remake]) if remake else b"")
    )


def _receipt_body(
    election_id: str,
    tracking_code: bytes,
    status: ReceiptStatus,
    test: bool,
    promise: InclusionPromise,
) -> bytes:
    _check_text(election_id, MAX_ID_BYTES, "election ID")
    if not isinstance(tracking_code, bytes) or len(tracking_code) != TRACKING_CODE_BYTES:
        raise PayloadError(f"a tracking code is exactly {TRACKING_CODE_BYTES} bytes")
    return (
        bytes([_HEADER_BYTE, PayloadKind.RECEIPT])
        + _text_field(election_id)
        + tracking_code
        + bytes([ReceiptStatus(status), _FLAG_TEST if test else 0])
        + promise.to_bytes()
    )


class _Reader:
    """Reads fields in order, naming the byte offset of anything it refuses."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise PayloadError("a payload is bytes")
        self._data = bytes(data)
        self._offset = 0

    def take(self, size: int, what: str) -> bytes:
        start = self._offset
        if start + size > len(self._data):
            raise PayloadError(
                f"truncated: {what} needs {size} bytes, {len(self._data) - start} left",
                f"byte {start}",
            )
        self._offset = start + size
        return self._data[start : start + size]

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def text(self, limit: int, what: str) -> str:
        start = self._offset
        size = self.byte(f"the {what}'s length")
        if not 1 <= size <= limit:
            raise PayloadError(
                f"the {what} must be 1 to {limit} bytes, not {size}", f"byte {start}"
            )
        raw = self.take(size, f"the {what}")
        text = raw.decode("latin-1")  # any byte maps to one char; the pattern then checks
        _check_text(text, limit, what, f"byte {start + 1}")
        return text

    def header(self) -> PayloadKind:
        if not self._data:
            raise PayloadError("empty payload", "byte 0")
        first = self.byte("the header")
        if first >> 4 != MAGIC:
            raise PayloadError(
                f"not a Paperchain payload (first byte 0x{first:02x})", "byte 0"
            )
        if first & 0x0F != FORMAT_VERSION:
            raise PayloadError(
                f"unsupported payload version {first & 0x0F} (this reader knows "
                f"{FORMAT_VERSION})",
                "byte 0",
            )
        kind = self.byte("the kind")
        try:
            return PayloadKind(kind)
        except ValueError:
            raise PayloadError(f"unknown payload kind 0x{kind:02x}", "byte 1") from None

    def flags(self, allowed: int) -> int:
        start = self._offset
        value = self.byte("the flags")
        if value & ~allowed:
            raise PayloadError(f"reserved flag bits set (0x{value:02x})", f"byte {start}")
        return value

    def end(self) -> None:
        extra = len(self._data) - self._offset
        if extra:
            raise PayloadError(f"{extra} unexpected trailing bytes", f"byte {self._offset}")

    @property
    def offset(self) -> int:
        return self._offset


def _parse_record(reader: _Reader) -> BallotRecordPayload:
    election_id = reader.text(MAX_ID_BYTES, "election ID")
    style_id = reader.text(MAX_ID_BYTES, "ballot style ID")
    ballot_id = BallotId(reader.take(BALLOT_ID_BYTES, "the ballot ID"))
    flags = reader.flags(_RECORD_FLAGS)
    remake = 0
    if flags & _FLAG_DUPLICATE:
        where = f"byte {reader.offset}"
        remake = reader.byte("the remake number")
        if remake == 0:
            raise PayloadError("a DUPLICATE card's remake number starts at 1", where)
    signature = reader.take(SIGNATURE_BYTES, "the signature")
    reader.end()
    return BallotRecordPayload(
        election_id, style_id, ballot_id, bool(flags & _FLAG_TEST), remake, signature
    )


def _parse_receipt(reader: _Reader) -> ReceiptPayload:
    election_id = reader.text(MAX_ID_BYTES, "election ID")
    tracking_code = reader.take(TRACKING_CODE_BYTES, "the tracking code")
    where = f"byte {reader.offset}"
    status_byte = reader.byte("the status")
    try:
        status = ReceiptStatus(status_byte)
    except ValueError:
        raise PayloadError(f"unknown receipt status 0x{status_byte:02x}", where) from None
    flags = reader.flags(_RECEIPT_FLAGS)
    where = f"byte {reader.offset}"
    try:
        promise = InclusionPromise.from_bytes(
            reader.take(PROMISE_BYTES, "the inclusion promise")
        )
    except PayloadError:
        raise
    except EncodingError as err:
        raise PayloadError(f"inclusion promise: {err.reason}", where) from None
    signature = reader.take(SIGNATURE_BYTES, "the signature")
    reader.end()
    return ReceiptPayload(
        election_id, tracking_code, status, bool(flags & _FLAG_TEST), promise, signature
    )


def _check_election(found: str, expected: str) -> None:
    if found != expected:
        raise ForeignElection(
            f"this card belongs to election {found!r}, not {expected!r}", "election ID"
        )


def _verify_by_any(
    keys: Sequence[VerifyKey],
    tag: SignatureTag,
    election_id: str,
    message: bytes,
    signature: bytes,
    signer: str,
) -> None:
    """Accept if any registered key verifies; the payload names no signer on purpose."""
    for key in keys:
        try:
            key.verify(tag, election_id, message, signature)
        except InvalidSignature:
            continue
        return
    raise InvalidSignature(
        f"no registered {signer} key signed this ({len(keys)} tried)", "signature"
    )
