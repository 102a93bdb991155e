"""Ledger entries (signed by their writer) and envelopes (chained by the operator).

docs/spec.md §7.2–7.3. An entry is what a writer signs::

    signed  = field(type) ‖ field(writer ID) ‖ u64(sequence) ‖ field(payload)
    entry   = "PCLE" ‖ u8(1) ‖ field(type) ‖ field(election ID) ‖ field(writer ID)
              ‖ u64(sequence) ‖ field(payload) ‖ field(signature)

with the signature Ed25519 under the tag ``ledger-entry`` and the election ID
(``e2e.signing``). The operator wraps each accepted entry in an envelope::

    envelope = "PCEV" ‖ u8(1) ‖ u64(index) ‖ previous leaf hash (32) ‖ field(entry)

whose RFC 9162 leaf hash SHA-256(0x00 ‖ envelope) is the entry's one identifier and
the next envelope's ``previous``. The first envelope's ``previous`` is 32 zero bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from e2e.encoding import Reader, field, u8, u64
from e2e.errors import EncodingError, LedgerError
from e2e.signing import SignatureTag, SigningKey, VerifyKey

__all__ = [
    "GENESIS_PREVIOUS",
    "Entry",
    "Envelope",
    "check_chain",
    "decode_entry",
    "decode_envelope",
    "leaf_hash_of",
    "sign_entry",
]

ENTRY_MAGIC = b"PCLE"
ENVELOPE_MAGIC = b"PCEV"
FORMAT_VERSION = 1
GENESIS_PREVIOUS = bytes(32)
MAX_PAYLOAD = 16 << 20
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.:")


def _check_name(value: str, label: str) -> None:
    if not 1 <= len(value) <= 64 or not set(value) <= _NAME_CHARS:
        raise EncodingError(f"{label} {value!r} must be 1-64 characters of [a-z0-9-_.:]")


@dataclass(frozen=True, slots=True)
class Entry:
    """A typed, signed ledger entry (its payload's meaning depends on ``entry_type``)."""

    entry_type: str
    election_id: str
    writer_id: str
    sequence: int
    payload: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        return _signed_bytes(self.entry_type, self.writer_id, self.sequence, self.payload)

    def encode(self) -> bytes:
        return b"".join((
            ENTRY_MAGIC, u8(FORMAT_VERSION), field(self.entry_type.encode()),
            field(self.election_id.encode()), field(self.writer_id.encode()),
            u64(self.sequence), field(self.payload), field(self.signature),
        ))

    def verify_signature(self, key: VerifyKey) -> None:
        key.verify(SignatureTag.LEDGER_ENTRY, self.election_id, self.signed_bytes(),
                   self.signature)


def _signed_bytes(entry_type: str, writer_id: str, sequence: int, payload: bytes) -> bytes:
    return field(entry_type.encode()) + field(writer_id.encode()) + u64(sequence) + field(payload)


def sign_entry(
    key: SigningKey, entry_type: str, election_id: str, writer_id: str, sequence: int,
    payload: bytes,
) -> Entry:
    """Build and sign an entry (the writer's side)."""
    _check_name(entry_type, "entry type")
    _check_name(writer_id, "writer ID")
    if not 0 <= sequence < 2**63:
        raise EncodingError("sequence number out of range")
    if len(payload) > MAX_PAYLOAD:
        raise EncodingError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    signature = key.sign(
        SignatureTag.LEDGER_ENTRY, election_id,
        _signed_bytes(entry_type, writer_id, sequence, payload),
    )
    return Entry(entry_type, election_id, writer_id, sequence, payload, signature)


def decode_entry(data: bytes, where: str = "entry") -> Entry:
    """Parse entry bytes, refusing any other magic, version, truncation or trailing bytes."""
    reader = Reader(data, where)
    reader.expect(ENTRY_MAGIC, "entry magic")
    version = reader.u8("version")
    if version != FORMAT_VERSION:
        raise EncodingError(f"unsupported entry version {version}", where)
    entry_type = reader.text("entry type", 64)
    election_id = reader.text("election ID", 64)
    writer_id = reader.text("writer ID", 64)
    sequence = reader.u64("sequence")
    payload = reader.field("payload", MAX_PAYLOAD)
    signature = reader.field("signature", 64)
    reader.end()
    try:
        _check_name(entry_type, "entry type")
        _check_name(writer_id, "writer ID")
    except EncodingError as err:
        raise err.at(where) from None
    if sequence >= 2**63:
        raise EncodingError("sequence number out of range", where)
    return Entry(entry_type, election_id, writer_id, sequence, payload, signature)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The operator's wrapper: position in the log and the previous envelope's leaf hash."""

    index: int
    previous: bytes
    entry_bytes: bytes

    def encode(self) -> bytes:
        return ENVELOPE_MAGIC + u8(FORMAT_VERSION) + u64(self.index) + self.previous + field(
            self.entry_bytes
        )

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash_of(self.encode())

    def entry(self) -> Entry:
        return decode_entry(self.entry_bytes, f"entry {self.index}")


def decode_envelope(data: bytes, where: str = "envelope") -> Envelope:
    reader = Reader(data, where)
    reader.expect(ENVELOPE_MAGIC, "envelope magic")
    version = reader.u8("version")
    if version != FORMAT_VERSION:
        raise EncodingError(f"unsupported envelope version {version}", where)
    index = reader.u64("index")
    previous = reader.fixed(32, "previous leaf hash")
    entry_bytes = reader.field("entry", MAX_PAYLOAD + 4096)
    reader.end()
    return Envelope(index, previous, entry_bytes)


def leaf_hash_of(envelope_bytes: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 ‖ envelope)."""
    digest = hashlib.sha256(b"\x00")
    digest.update(envelope_bytes)  # no copy of a ballot's envelope (≈ 150 kB at 10 contests)
    return digest.digest()


def check_chain(envelope: Envelope, expected_index: int, expected_previous: bytes) -> None:
    """Raise LedgerError unless the envelope is at ``expected_index`` after its predecessor."""
    if envelope.index != expected_index:
        raise LedgerError(f"envelope says index {envelope.index}", f"ledger entry {expected_index}")
    if envelope.previous != expected_previous:
        raise LedgerError("previous-hash link does not match the preceding envelope",
                          f"ledger entry {expected_index}")
