"""The election setup: the first ledger entry, naming everything that is trusted.

docs/spec.md §9. The setup (entry type ``setup``, written by an official) fixes the
group, the manifest (its exact bytes), the threshold k, the trustees (index, name,
Ed25519 signing key, X25519 key for receiving shares), every other writer with its
role, the witnesses and how many cosignatures a head needs, and the ledger
operator's key and log origin. Every key is checked at registration: Ed25519 keys
must be canonical points of prime order (``VerifyKey``), X25519 keys must not be of
small order. H_B is computed from it (``base_hash``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import nacl.bindings
import nacl.exceptions

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import InvalidParameters, InvalidSignature, RecordError
from e2e.group import STANDARD, TEST_GROUP, GroupParameters
from e2e.hashing import base_hash
from e2e.manifest import Manifest
from e2e.signing import VerifyKey

__all__ = [
    "ElectionSetup",
    "Role",
    "TrusteeInfo",
    "WitnessInfo",
    "WriterInfo",
    "check_box_key",
    "group_by_name",
]

MAX_TRUSTEES = 64


class Role(StrEnum):
    OFFICIAL = "official"
    DEVICE = "device"
    TRUSTEE = "trustee"
    AUDITOR = "auditor"
    WITNESS = "witness"


def group_by_name(name: str, allow_test_group: bool) -> GroupParameters:
    """The pinned group of that name; the test group only when explicitly allowed."""
    if name == STANDARD.name:
        return STANDARD
    if name == TEST_GROUP.name:
        if not allow_test_group:
            raise InvalidParameters(
                "this record uses the test group; only the standard group is accepted "
                "(pass --test-group to check a test election)"
            )
        return TEST_GROUP
    raise InvalidParameters(f"unknown group {name!r}: only {STANDARD.name!r} is accepted")


def check_box_key(key: bytes, where: str) -> bytes:
    """An X25519 public key: 32 bytes whose shared secret with a random key is not all zero."""
    if len(key) != 32:
        raise InvalidSignature("an X25519 key must be 32 bytes", where)
    try:
        probe = nacl.bindings.crypto_scalarmult(bytes(range(1, 33)), key)
    except nacl.exceptions.CryptoError:  # libsodium refuses an all-zero shared secret
        probe = bytes(32)
    if probe == bytes(32):
        raise InvalidSignature("X25519 key of small order refused", where)
    return key


@dataclass(frozen=True, slots=True)
class WriterInfo:
    writer_id: str
    role: Role
    key: VerifyKey
    location: str = ""  # polling place of a device; empty otherwise


@dataclass(frozen=True, slots=True)
class TrusteeInfo:
    index: int
    name: str
    writer_id: str
    signing_key: VerifyKey
    box_key: bytes


@dataclass(frozen=True, slots=True)
class WitnessInfo:
    witness_id: str
    key: VerifyKey
    url: str = ""


@dataclass(frozen=True, slots=True)
class ElectionSetup:
    """Everything the first ledger entry fixes; see the module docstring."""

    group: GroupParameters
    manifest: Manifest
    threshold: int
    trustees: tuple[TrusteeInfo, ...]
    writers: tuple[WriterInfo, ...]
    witnesses: tuple[WitnessInfo, ...]
    witness_threshold: int
    operator_key: VerifyKey
    log_origin: str

    def __post_init__(self) -> None:
        n = len(self.trustees)
        if not 1 <= n <= MAX_TRUSTEES:
            raise RecordError(f"expected 1..{MAX_TRUSTEES} trustees, got {n}", "setup.trustees")
        if not 1 <= self.threshold <= n:
            raise RecordError(f"threshold k = {self.threshold} must satisfy 1 <= k <= n = {n}",
                              "setup.threshold")
        indices = [t.index for t in self.trustees]
        if indices != list(range(1, n + 1)):
            raise RecordError("trustee indices must be 1..n, distinct, in order", "setup.trustees")
        ids = [w.writer_id for w in self.writers]
        if len(set(ids)) != len(ids):
            raise RecordError("a writer ID is registered twice", "setup.writers")
        keys = [w.key.key_bytes for w in self.writers] + [t.key.key_bytes for t in self.witnesses]
        if len(set(keys)) != len(keys):
            raise RecordError("one signing key is registered twice", "setup")
        for trustee in self.trustees:
            writer = self.writer(trustee.writer_id)
            if writer is None or writer.role != Role.TRUSTEE or writer.key != trustee.signing_key:
                raise RecordError(f"trustee {trustee.index} is not registered as a trustee writer",
                                  "setup.trustees")
        if not any(w.role == Role.OFFICIAL for w in self.writers):
            raise RecordError("no official is registered", "setup.writers")
        witness_ids = [w.witness_id for w in self.witnesses]
        if len(set(witness_ids)) != len(witness_ids):
            raise RecordError("a witness ID is registered twice", "setup.witnesses")
        for position, witness_id in enumerate(witness_ids):
            # A witness signs its cosignature lines under this name (docs/spec.md §16.2),
            # where a name must be 1-64 printable ASCII characters without spaces or '+':
            # a setup naming any other witness could never reach its threshold.
            if (not 1 <= len(witness_id) <= 64 or not witness_id.isascii()
                    or not witness_id.isprintable() or " " in witness_id or "+" in witness_id):
                raise RecordError(f"witness ID {witness_id[:80]!r} must be 1-64 printable ASCII "
                                  "characters without spaces or '+'",
                                  f"setup.witnesses[{position}].witness_id")
        if not 0 <= self.witness_threshold <= len(self.witnesses):
            raise RecordError("witness threshold exceeds the number of witnesses",
                              "setup.witness_threshold")
        if self.manifest.election_id != self.election_id:
            raise RecordError("manifest election ID differs", "setup")

    @property
    def election_id(self) -> str:
        return self.manifest.election_id

    @property
    def n(self) -> int:
        return len(self.trustees)

    @property
    def test_election(self) -> bool:
        """Whether this is a test election: one on the test group, which no verifier
        accepts without ``--test-group``. Its paper, forms and remakes are stamped TEST
        (docs/spec.md §18.7.1); a real election's never are."""
        return self.group.name == TEST_GROUP.name

    def writer(self, writer_id: str) -> WriterInfo | None:
        return self._writers_by_id().get(writer_id)

    def _writers_by_id(self) -> Mapping[str, WriterInfo]:
        return {w.writer_id: w for w in self.writers}

    def trustee(self, index: int) -> TrusteeInfo:
        for trustee in self.trustees:
            if trustee.index == index:
                return trustee
        raise RecordError(f"no trustee with index {index}")

    def writers_with_role(self, role: Role) -> Sequence[WriterInfo]:
        return [w for w in self.writers if w.role == role]

    def base_hash(self, participating: int | None = None) -> bytes:
        """H_B for a ceremony among ``participating`` trustees (all n by default)."""
        n = self.n if participating is None else participating
        return base_hash(self.group, self.manifest.digest, n, self.threshold)

    # --- payload --------------------------------------------------------------------

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1,
            "election_id": self.election_id,
            "group": self.group.name,
            "manifest": self.manifest.source_bytes.hex(),
            "threshold": self.threshold,
            "trustees": [
                {"index": t.index, "name": t.name, "writer_id": t.writer_id,
                 "signing_key": t.signing_key.to_hex(), "box_key": t.box_key.hex()}
                for t in self.trustees
            ],
            "writers": [
                {"writer_id": w.writer_id, "role": str(w.role), "key": w.key.to_hex(),
                 "location": w.location}
                for w in self.writers
            ],
            "witnesses": [
                {"witness_id": w.witness_id, "key": w.key.to_hex(), "url": w.url}
                for w in self.witnesses
            ],
            "witness_threshold": self.witness_threshold,
            "operator": {"key": self.operator_key.to_hex(), "origin": self.log_origin},
        })

    @classmethod
    def from_payload(cls, data: bytes, allow_test_group: bool, where: str = "setup"
                     ) -> ElectionSetup:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        election_id = obj.string("election_id", 64)
        group = group_by_name(obj.string("group"), allow_test_group)
        manifest = Manifest.from_bytes(obj.hex_bytes("manifest", max_length=1 << 20))
        if manifest.election_id != election_id:
            raise RecordError("the manifest's election ID differs from the setup's", where)

        def trustee(t: ObjectReader) -> TrusteeInfo:
            return TrusteeInfo(
                t.integer("index", 1, MAX_TRUSTEES), t.string("name", 128),
                t.string("writer_id", 64), _key(t, "signing_key"),
                check_box_key(t.hex_bytes("box_key", 32), t.path("box_key")),
            )

        def writer(w: ObjectReader) -> WriterInfo:
            return WriterInfo(w.string("writer_id", 64), Role(w.choice("role", list(Role))),
                              _key(w, "key"), w.string("location", 256))

        def witness(w: ObjectReader) -> WitnessInfo:
            return WitnessInfo(w.string("witness_id", 64), _key(w, "key"), w.string("url", 512))

        trustees = obj.mapped("trustees", trustee, MAX_TRUSTEES)
        writers = obj.mapped("writers", writer, 100_000)
        witnesses = obj.mapped("witnesses", witness, 64)
        operator = obj.obj("operator")
        operator_key = _key(operator, "key")
        origin = operator.string("origin", 256)
        operator.done()
        setup = cls(
            group=group, manifest=manifest, threshold=obj.integer("threshold", 1, MAX_TRUSTEES),
            trustees=tuple(trustees), writers=tuple(writers), witnesses=tuple(witnesses),
            witness_threshold=obj.integer("witness_threshold", 0, 64),
            operator_key=operator_key, log_origin=origin,
        )
        obj.done()
        return setup


def _key(reader: ObjectReader, key: str) -> VerifyKey:
    return VerifyKey.from_hex(reader.string(key, 64), reader.path(key))
