"""Self-contained proofs that the ledger operator signed two things that cannot both be true.

docs/spec.md §16.3. A proof is one JSON object that anyone checks offline
with ``verify_equivocation_proof`` — no network, no record, only the proof::

    {"version": 1, "kind": K, "election_id": E, "operator_key": hex,
     "heads": [signed note, ...],
     "setup": {"envelope": hex, "head": h, "proof": [hex, ...]},
     ... material of the kind ...}

``setup`` ties the key to the election: the envelope at index 0 of ``heads[h]``'s tree
(with its inclusion proof) is a ``setup`` entry naming ``operator_key``, the election
and the heads' origin. Kinds, each a contradiction the operator alone could have made:

* ``same-size`` — two heads of the same size with different roots.
* ``time-order`` — a smaller head with a time not before a larger one's: heads grow and
  their times strictly increase, so the smaller one was signed after the larger one.
* ``inconsistent`` — a leaf index below both sizes, and at that index a different leaf
  hash in each head's tree, each with an inclusion proof (``leaf``: index, hashes,
  proofs). The trees then share no common prefix of that length: no consistency proof
  between them can exist.
* ``broken-promise`` — the operator's signed inclusion promise (index, leaf hash), and a
  head larger than the index whose tree holds, with an inclusion proof, a *different*
  leaf at that index: the promised entry is not where the operator promised it.

A consistency proof that fails proves nothing by itself (anyone can write a bad
proof); ``paperchain ledger check`` turns such a failure into an ``inconsistent`` proof
by finding the first index where the two parties' copies differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import EncodingError, InvalidSignature, LedgerError, PaperchainError
from e2e.ledger.entry import decode_envelope, leaf_hash_of
from e2e.ledger.heads import CosignedHead, SignedHead, decode_note
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.types import EntryType
from e2e.merkle import verify_inclusion
from e2e.setup import ElectionSetup
from e2e.signing import VerifyKey

__all__ = [
    "EquivocationKind",
    "EquivocationProof",
    "LeafEvidence",
    "NotEquivocation",
    "SetupEvidence",
    "build_proof",
    "decode_equivocation_proof",
    "verify_equivocation_proof",
]

PROOF_VERSION = 1
MAX_PROOF_BYTES = 32 << 20


class NotEquivocation(LedgerError):
    """The material does not prove what the proof claims."""


class EquivocationKind(StrEnum):
    SAME_SIZE = "same-size"
    TIME_ORDER = "time-order"
    INCONSISTENT = "inconsistent"
    BROKEN_PROMISE = "broken-promise"


@dataclass(frozen=True, slots=True)
class SetupEvidence:
    """The setup's envelope at index 0 of ``heads[head]``'s tree, with its inclusion proof."""

    envelope: bytes
    head: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class LeafEvidence:
    """Leaf ``index`` as it is in each head's tree (``hashes[i]`` in ``heads[i]``), proven."""

    index: int
    hashes: tuple[bytes, ...]
    proofs: tuple[tuple[bytes, ...], ...]


@dataclass(frozen=True, slots=True)
class EquivocationProof:
    kind: EquivocationKind
    election_id: str
    operator_key: VerifyKey
    heads: tuple[SignedHead, ...]
    setup: SetupEvidence
    leaf: LeafEvidence | None = None
    promise: InclusionPromise | None = None
    notes: tuple[str, ...] = ()  # the signed notes as received, cosignatures included

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": PROOF_VERSION, "kind": str(self.kind), "election_id": self.election_id,
            "operator_key": self.operator_key.to_hex(),
            "heads": list(self.notes) if self.notes else [_bare_note(h) for h in self.heads],
            "setup": {"envelope": self.setup.envelope.hex(), "head": self.setup.head,
                      "proof": [p.hex() for p in self.setup.proof]},
        }
        if self.leaf is not None:
            document["leaf"] = {"index": self.leaf.index,
                                "hashes": [h.hex() for h in self.leaf.hashes],
                                "proofs": [[p.hex() for p in proof] for proof in self.leaf.proofs]}
        if self.promise is not None:
            document["promise"] = self.promise.to_bytes().hex()
        return document

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def describe(self) -> str:
        """One sentence saying what this proof shows."""
        heads = self.heads
        if self.kind == EquivocationKind.SAME_SIZE:
            return (f"the operator signed two different roots for size {heads[0].size}: "
                    f"{heads[0].root.hex()[:16]}… and {heads[1].root.hex()[:16]}…")
        if self.kind == EquivocationKind.TIME_ORDER:
            return (f"the operator signed a head of size {heads[0].size} at time "
                    f"{heads[0].time}, not before its head of size {heads[1].size} at time "
                    f"{heads[1].time}: the log shrank")
        if self.kind == EquivocationKind.INCONSISTENT and self.leaf is not None:
            return (f"the operator's heads of sizes {heads[0].size} and {heads[1].size} hold "
                    f"different entries at index {self.leaf.index}: one history was rewritten")
        if self.promise is not None:
            return (f"the operator promised entry {self.promise.leaf_hash.hex()[:16]}… at "
                    f"index {self.promise.index}, but its head of size {heads[0].size} holds "
                    "another entry there")
        return str(self.kind)


def _bare_note(signed: SignedHead) -> str:
    return CosignedHead(signed).note()


# --- decoding ----------------------------------------------------------------------------


def _hash_list(reader: ObjectReader, key: str, limit: int = 64) -> tuple[bytes, ...]:
    items = reader.items(key, limit)
    result = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or len(item) != 64 or item.strip("0123456789abcdef"):
            raise EncodingError("expected 64 lowercase hex digits", f"{reader.path(key)}[{i}]")
        result.append(bytes.fromhex(item))
    return tuple(result)


def decode_equivocation_proof(data: bytes | Mapping[str, Any],
                              where: str = "equivocation proof") -> EquivocationProof:
    """Parse a proof strictly (unknown fields and versions refused); nothing is checked."""
    if isinstance(data, bytes):
        data = parse_json_object(data, where, MAX_PROOF_BYTES)
    obj = ObjectReader(dict(data), where)
    obj.version([PROOF_VERSION])
    kind = EquivocationKind(obj.choice("kind", [str(k) for k in EquivocationKind]))
    election_id = obj.string("election_id", 64)
    operator_key = VerifyKey.from_hex(obj.string("operator_key", 64), obj.path("operator_key"))
    notes = obj.items("heads", 2)
    heads = []
    for i, note in enumerate(notes):
        if not isinstance(note, str):
            raise EncodingError("a head is a signed note (text)", f"{where}.heads[{i}]")
        heads.append(decode_note(note, f"{where}.heads[{i}]").signed)
    setup_reader = obj.obj("setup")
    setup = SetupEvidence(setup_reader.hex_bytes("envelope", max_length=64 << 20),
                          setup_reader.integer("head", 0, 1), _hash_list(setup_reader, "proof"))
    setup_reader.done()
    leaf = None
    if obj.has("leaf"):
        leaf_reader = obj.obj("leaf")
        hashes = _hash_list(leaf_reader, "hashes", 2)
        proofs = tuple(
            _hash_list(ObjectReader({"proof": p}, leaf_reader.path(f"proofs[{i}]")), "proof")
            for i, p in enumerate(leaf_reader.items("proofs", 2)))
        leaf = LeafEvidence(leaf_reader.integer("index"), hashes, proofs)
        leaf_reader.done()
    promise = None
    if obj.has("promise"):
        promise = InclusionPromise.from_bytes(obj.hex_bytes("promise", 104), obj.path("promise"))
    obj.done()
    return EquivocationProof(kind, election_id, operator_key, tuple(heads), setup, leaf,
                             promise, tuple(str(n) for n in notes))


# --- verification ------------------------------------------------------------------------


def _check_setup(proof: EquivocationProof) -> ElectionSetup:
    evidence = proof.setup
    if evidence.head >= len(proof.heads):
        raise NotEquivocation("the setup evidence names a head the proof does not hold")
    head = proof.heads[evidence.head]
    try:
        verify_inclusion(leaf_hash_of(evidence.envelope), 0, head.size, evidence.proof, head.root)
        envelope = decode_envelope(evidence.envelope, "setup envelope")
        entry = envelope.entry()
        if envelope.index != 0 or entry.entry_type != EntryType.SETUP:
            raise NotEquivocation("the setup evidence is not the ledger's setup entry")
        # The group is irrelevant to who signs heads: a test-group election's operator can
        # equivocate too, so the setup is read whatever its group.
        setup = ElectionSetup.from_payload(entry.payload, allow_test_group=True)
        official = setup.writer(entry.writer_id)
        if official is None:
            raise NotEquivocation("the setup entry is not signed by a writer it registers")
        entry.verify_signature(official.key)
    except NotEquivocation:
        raise
    except PaperchainError as err:
        raise NotEquivocation(f"the setup evidence does not hold: {err}") from None
    if setup.operator_key != proof.operator_key:
        raise NotEquivocation("the setup registers another operator key than the proof names")
    if setup.election_id != proof.election_id:
        raise NotEquivocation("the setup is for another election than the proof names")
    return setup


def _check_heads(proof: EquivocationProof, setup: ElectionSetup, count: int) -> None:
    if len(proof.heads) != count:
        raise NotEquivocation(f"a {proof.kind} proof holds {count} head(s), not "
                              f"{len(proof.heads)}")
    for i, signed in enumerate(proof.heads):
        if signed.head.election_id != proof.election_id or signed.head.origin != setup.log_origin:
            raise NotEquivocation(f"head {i} names another election or log")
        try:
            signed.verify(proof.operator_key)
        except InvalidSignature:
            raise NotEquivocation(f"head {i} is not signed by the operator key") from None


def _check_leaf(proof: EquivocationProof, expected: int) -> LeafEvidence:
    leaf = proof.leaf
    if leaf is None or len(leaf.hashes) != expected or len(leaf.proofs) != expected:
        raise NotEquivocation(f"a {proof.kind} proof needs {expected} proven leaf hash(es)")
    for i, (digest, path) in enumerate(zip(leaf.hashes, leaf.proofs, strict=True)):
        head = proof.heads[i]
        try:
            verify_inclusion(digest, leaf.index, head.size, path, head.root)
        except LedgerError as err:
            raise NotEquivocation(f"leaf {leaf.index} in head {i}: {err.reason}") from None
    return leaf


def verify_equivocation_proof(data: bytes | Mapping[str, Any] | EquivocationProof, *,
                              operator_key: VerifyKey | None = None) -> EquivocationProof:
    """Return the proof if it shows what its kind claims, else raise ``NotEquivocation``.

    With ``operator_key``, also refuse a proof about any other operator.
    """
    proof = data if isinstance(data, EquivocationProof) else decode_equivocation_proof(data)
    if operator_key is not None and proof.operator_key != operator_key:
        raise NotEquivocation("the proof is about another operator key")
    setup = _check_setup(proof)
    kind = proof.kind
    if kind == EquivocationKind.BROKEN_PROMISE:
        _check_heads(proof, setup, 1)
        promise = proof.promise
        if promise is None:
            raise NotEquivocation("a broken-promise proof needs the promise")
        try:
            promise.verify(proof.operator_key, proof.election_id)
        except InvalidSignature:
            raise NotEquivocation("the promise is not signed by the operator key") from None
        leaf = _check_leaf(proof, 1)
        if leaf.index != promise.index:
            raise NotEquivocation("the proven leaf is not at the promised index")
        if leaf.hashes[0] == promise.leaf_hash:
            raise NotEquivocation("the promised entry is where it was promised")
        return proof
    if proof.promise is not None:
        raise NotEquivocation(f"a {kind} proof holds no promise")
    _check_heads(proof, setup, 2)
    first, second = proof.heads
    if kind == EquivocationKind.SAME_SIZE:
        if first.size != second.size or first.root == second.root:
            raise NotEquivocation("the two heads are not of one size with different roots")
    elif kind == EquivocationKind.TIME_ORDER:
        if not (first.size < second.size and first.time >= second.time):
            raise NotEquivocation("the smaller head is not signed later than the larger one")
    else:
        leaf = _check_leaf(proof, 2)
        if leaf.hashes[0] == leaf.hashes[1]:
            raise NotEquivocation(f"both trees hold the same leaf at index {leaf.index}")
    if kind != EquivocationKind.INCONSISTENT and proof.leaf is not None:
        raise NotEquivocation(f"a {kind} proof holds no leaves")
    return proof


def build_proof(kind: EquivocationKind, election_id: str, operator_key: VerifyKey,
                notes: Sequence[str], setup: SetupEvidence, *, leaf: LeafEvidence | None = None,
                promise: InclusionPromise | None = None) -> EquivocationProof:
    """Assemble a proof and check it before anyone sees it (raises ``NotEquivocation``)."""
    heads = tuple(decode_note(note).signed for note in notes)
    proof = EquivocationProof(kind, election_id, operator_key, heads, setup, leaf, promise,
                              tuple(notes))
    return verify_equivocation_proof(proof)
