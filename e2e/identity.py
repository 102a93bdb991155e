"""A writer's identity on disk: an official's, a device's or an auditor's signing key.

A writer directory holds ``writer.json`` (public: election, writer ID, role, Ed25519
public key) and ``writer.secret`` (the seed, encrypted at rest under the writer's
passphrase with ``e2e.keystore``; election, owner and kind inside the plaintext).
Trustees have their own richer directory (``e2e.trustee``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import SecretStoreError, UsageError
from e2e.keystore import MODERATE_LIMITS, KdfLimits, atomic_write, read_secret, write_secret
from e2e.setup import Role
from e2e.signing import SigningKey, VerifyKey

__all__ = ["WriterCard", "WriterIdentity"]

CARD = "writer.json"
KEY_FILE = "writer.secret"


@dataclass(frozen=True, slots=True)
class WriterCard:
    election_id: str
    writer_id: str
    role: Role
    key: VerifyKey
    location: str = ""

    def to_json(self) -> bytes:
        return canonical_json({"version": 1, "election_id": self.election_id,
                               "writer_id": self.writer_id, "role": str(self.role),
                               "key": self.key.to_hex(), "location": self.location})

    @classmethod
    def from_json(cls, data: bytes, where: str) -> WriterCard:
        obj = ObjectReader(parse_json_object(data, where), where)
        obj.version([1])
        card = cls(obj.string("election_id", 64), obj.string("writer_id", 64),
                   Role(obj.choice("role", list(Role))),
                   VerifyKey.from_hex(obj.string("key", 64), obj.path("key")),
                   obj.string("location", 256))
        obj.done()
        return card


@dataclass(frozen=True, slots=True)
class WriterIdentity:
    card: WriterCard
    key: SigningKey

    def __repr__(self) -> str:
        return f"WriterIdentity({self.card.writer_id}, {self.card.role})"

    @classmethod
    def create(cls, directory: Path, *, election_id: str, writer_id: str, role: Role,
               passphrase: bytes, location: str = "", limits: KdfLimits = MODERATE_LIMITS
               ) -> WriterIdentity:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / CARD).exists() or (directory / KEY_FILE).exists():
            raise UsageError("this directory already holds a writer identity", str(directory))
        key = SigningKey.generate()
        card = WriterCard(election_id, writer_id, role, key.verify_key, location)
        write_secret(directory / KEY_FILE, kind="writer-key", election_id=election_id,
                     owner=writer_id, secret={"seed": key.seed.hex()}, passphrase=passphrase,
                     limits=limits)
        atomic_write(directory / CARD, card.to_json())
        return cls(card, key)

    @classmethod
    def open(cls, directory: Path, passphrase: bytes) -> WriterIdentity:
        directory = Path(directory)
        try:
            raw = (directory / CARD).read_bytes()
        except OSError:
            raise UsageError("no writer identity here (writer.json missing)",
                             str(directory)) from None
        card = WriterCard.from_json(raw, str(directory / CARD))
        secret = read_secret(directory / KEY_FILE, kind="writer-key", election_id=card.election_id,
                             owner=card.writer_id, passphrase=passphrase)
        try:
            key = SigningKey(bytes.fromhex(str(secret["seed"])))
        except (KeyError, ValueError):
            raise SecretStoreError("writer key file content is malformed",
                                   str(directory)) from None
        if key.verify_key != card.key:
            raise SecretStoreError("writer.secret does not match writer.json", str(directory))
        return cls(card, key)

    @staticmethod
    def read_card(directory: Path) -> WriterCard:
        path = Path(directory) / CARD
        try:
            return WriterCard.from_json(path.read_bytes(), str(path))
        except OSError:
            raise UsageError("no writer identity here (writer.json missing)",
                             str(directory)) from None
