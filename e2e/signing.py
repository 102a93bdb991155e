"""Ed25519 signatures over ``tag ‖ election ID ‖ bytes`` (PyNaCl / libsodium).

Each use has its own tag (``SignatureTag``), so a signature made for one purpose
(a tree head, say) can never pass as another (a ballot). The signed message is

    field("paperchain/v1/sig/" + tag) ‖ field(election ID) ‖ field(message)

with ``field(b) = u32be(len(b)) ‖ b`` (docs/spec.md §6). Public keys are refused at
registration unless they are canonical encodings of points of the prime-order
subgroup that are not of small order (libsodium's ``crypto_core_ed25519_is_valid_point``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

import nacl.bindings
import nacl.exceptions
import nacl.signing

from e2e.errors import EncodingError, InvalidSignature

__all__ = [
    "SIGNATURE_BYTES",
    "SignatureTag",
    "SigningKey",
    "VerifyKey",
    "signed_message",
]

SIGNATURE_BYTES = 64


class SignatureTag(StrEnum):
    LEDGER_ENTRY = "ledger-entry"
    BALLOT = "ballot"
    PAPER_QR = "paper-qr"
    RECEIPT = "receipt"
    TREE_HEAD = "tree-head"
    COSIGNATURE = "cosignature"
    INCLUSION_PROMISE = "inclusion-promise"
    CEREMONY_MESSAGE = "ceremony-message"
    CEREMONY_SHARE = "ceremony-share"
    CEREMONY_CLOSE = "ceremony-close"
    DEVICE_CLOSE = "device-close"
    AUDIT_BOARD = "audit-board"
    CARD_REMAKE = "card-remake"


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def signed_message(tag: SignatureTag, election_id: str, message: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers."""
    return (
        _field(("paperchain/v1/sig/" + str(tag)).encode())
        + _field(election_id.encode("utf-8"))
        + _field(message)
    )


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A registered Ed25519 public key: 32 bytes, canonical, prime order, not small order."""

    key_bytes: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key_bytes, bytes) or len(self.key_bytes) != 32:
            raise InvalidSignature("an Ed25519 public key must be exactly 32 bytes")
        if not nacl.bindings.crypto_core_ed25519_is_valid_point(self.key_bytes):
            raise InvalidSignature(
                "Ed25519 public key refused: not canonical, small order, or not in the "
                "prime-order subgroup"
            )

    @classmethod
    def from_hex(cls, text: object, where: str = "verify key") -> VerifyKey:
        if not isinstance(text, str) or len(text) != 64 or text.strip("0123456789abcdef"):
            raise EncodingError("expected 64 lowercase hex digits", where)
        try:
            return cls(bytes.fromhex(text))
        except InvalidSignature as err:
            raise err.at(where) from None

    def to_hex(self) -> str:
        return self.key_bytes.hex()

    def verify(self, tag: SignatureTag, election_id: str, message: bytes, signature: bytes) -> None:
        """Return None if ``signature`` is valid for (tag, election, message), else raise."""
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            raise InvalidSignature(f"a signature must be exactly {SIGNATURE_BYTES} bytes")
        try:
            nacl.signing.VerifyKey(self.key_bytes).verify(
                signed_message(tag, election_id, message), signature
            )
        except nacl.exceptions.BadSignatureError:
            raise InvalidSignature(f"{tag} signature does not verify") from None


class SigningKey:
    """An Ed25519 private key. Never printed, never logged: its repr shows only the public key."""

    __slots__ = ("_key",)

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise EncodingError("an Ed25519 seed must be 32 bytes")
        self._key = nacl.signing.SigningKey(seed)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        """The 32-byte secret seed, for encrypted storage only."""
        return bytes(self._key)

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(bytes(self._key.verify_key))

    def sign(self, tag: SignatureTag, election_id: str, message: bytes) -> bytes:
        return self._key.sign(signed_message(tag, election_id, message)).signature

    def __repr__(self) -> str:
        return f"SigningKey(public={self.verify_key.to_hex()[:16]}…)"
