"""The key ceremony: joint Feldman VSS among n trustees with threshold k, on the ledger.

docs/spec.md §10. In attempt a, among participating trustees P (all n at first):

1. each dealer i ∈ P picks P_i(x) = a_i0 + a_i1·x + … + a_i,k-1·x^{k-1} (a_i0 ≠ 0) and
   publishes ``ceremony-commitments``: K_ij = g^{a_ij} for j = 0..k-1, each with a Schnorr
   proof bound to (H_B, i, j). K_i0 ≠ 1.
2. once every dealer has committed, each publishes ``ceremony-shares``: for each other
   recipient ℓ, P_i(ℓ) inside a NaCl box from dealer to recipient, together with the
   dealer's Ed25519 signature over (H_B, a, i, ℓ, P_i(ℓ)).
3. each recipient checks g^{P_i(ℓ)} = ∏_j K_ij^{ℓ^j}; a failing share gets a
   ``ceremony-complaint``; the dealer must answer with a ``ceremony-reveal`` of P_i(ℓ) in
   clear, which anyone checks. A valid reveal dismisses the complaint; an invalid or
   missing one leads to ``ceremony-abort`` excluding the dealer, and attempt a + 1
   starts among the rest (if at least k remain).
4. each trustee computes its key share s_ℓ = Σ_i P_i(ℓ), the joint key K = ∏_i K_i0
   (K ≠ 1), every verification key K_ℓ = ∏_i ∏_j K_ij^{ℓ^j} and
   H_E = H(H_B, K, commitments), and signs them in ``ceremony-confirm``; the official
   then writes ``ceremony-close`` carrying every participant's signature.

``replay_ceremony`` checks every ceremony entry of a ledger and returns the closed
ceremony, or raises naming the first failure; ``CeremonyProgress`` says what is
missing while it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json, u64
from e2e.encoding import field as bytes_field
from e2e.errors import (
    CeremonyError,
    EncodingError,
    InvalidProof,
    InvalidShare,
    InvalidSignature,
    RecordError,
)
from e2e.group import ElementModP, ElementModQ, GroupParameters
from e2e.hashing import Tag, extended_base_hash
from e2e.ledger.entry import Entry
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource
from e2e.proofs import ProofContext, SchnorrProof, prove_schnorr, verify_schnorr
from e2e.setup import ElectionSetup
from e2e.signing import SignatureTag, SigningKey, VerifyKey

__all__ = [
    "CEREMONY_TYPES",
    "Abort",
    "CeremonyOutcome",
    "CeremonyProgress",
    "CeremonyReplay",
    "Commitments",
    "Complaint",
    "Confirmation",
    "EncryptedShares",
    "Polynomial",
    "Reveal",
    "SharePlaintext",
    "close_message",
    "coefficient_context",
    "expected_share_image",
    "gather_close",
    "generate_polynomial",
    "joint_key",
    "prove_commitments",
    "replay_ceremony",
    "reveal_is_valid",
    "share_message",
    "sign_close",
    "verification_key",
    "verify_commitments",
    "verify_share",
    "verify_share_signature",
]

CEREMONY_TYPES = frozenset({
    EntryType.CEREMONY_COMMITMENTS, EntryType.CEREMONY_SHARES, EntryType.CEREMONY_COMPLAINT,
    EntryType.CEREMONY_REVEAL, EntryType.CEREMONY_ABORT, EntryType.CEREMONY_CONFIRM,
    EntryType.CEREMONY_CLOSE,
})


# --- polynomials, commitments, shares ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Polynomial:
    """A dealer's secret polynomial; coefficients[j] = a_ij. Never logged or printed."""

    coefficients: tuple[ElementModQ, ...]

    def evaluate(self, index: int) -> ElementModQ:
        """P(index) mod q by Horner's rule."""
        result = self.coefficients[-1]
        for coefficient in reversed(self.coefficients[:-1]):
            result = result * index + coefficient
        return result

    def __repr__(self) -> str:
        return f"Polynomial(degree={len(self.coefficients) - 1}, coefficients=<secret>)"


def generate_polynomial(group: GroupParameters, k: int, nonces: NonceSource) -> Polynomial:
    coefficients = [nonces.next_exponent(group) for _ in range(k)]
    while coefficients[0].is_zero():  # a_i0 = 0 would make K_i0 = 1
        coefficients[0] = nonces.next_exponent(group)
    return Polynomial(tuple(coefficients))


def coefficient_context(base_hash: bytes, dealer: int, coefficient: int) -> ProofContext:
    """The Schnorr proof of K_ij hashes (H_B, i, j) before the statement (§10.1)."""
    return ProofContext(Tag.COEFFICIENT_PROOF, (base_hash, dealer, coefficient))


@dataclass(frozen=True, slots=True)
class Commitments:
    """Payload of ``ceremony-commitments``: K_i0..K_i,k-1 with their Schnorr proofs."""

    attempt: int
    dealer: int
    commitments: tuple[ElementModP, ...]
    proofs: tuple[SchnorrProof, ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "attempt": self.attempt, "dealer": self.dealer,
            "commitments": [c.to_hex() for c in self.commitments],
            "proofs": [_schnorr_json(p) for p in self.proofs],
        })

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> Commitments:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(
            attempt=obj.integer("attempt", 1, 1000), dealer=obj.integer("dealer", 1, 1000),
            commitments=tuple(obj.elements("commitments", group, 64)),
            proofs=tuple(obj.mapped("proofs", lambda r: _schnorr_from(r, group), 64)),
        )
        obj.done()
        return result


def _schnorr_json(proof: SchnorrProof) -> dict[str, str]:
    return {"commitment": proof.commitment.to_hex(), "challenge": proof.challenge.to_hex(),
            "response": proof.response.to_hex()}


def _schnorr_from(reader: ObjectReader, group: GroupParameters) -> SchnorrProof:
    return SchnorrProof(reader.element("commitment", group), reader.exponent("challenge", group),
                        reader.exponent("response", group))


def prove_commitments(
    polynomial: Polynomial, base_hash: bytes, attempt: int, dealer: int, nonces: NonceSource
) -> Commitments:
    group = polynomial.coefficients[0].group
    commitments = tuple(group.generator.pow_secret(a) for a in polynomial.coefficients)
    proofs = tuple(
        prove_schnorr(a, commitment, coefficient_context(base_hash, dealer, j), nonces)
        for j, (a, commitment) in enumerate(zip(polynomial.coefficients, commitments, strict=True))
    )
    return Commitments(attempt, dealer, commitments, proofs)


def verify_commitments(payload: Commitments, base_hash: bytes, threshold: int) -> None:
    """Exactly k commitments, each with a valid Schnorr proof for (H_B, i, j); K_i0 ≠ 1."""
    where = f"dealer {payload.dealer}"
    if len(payload.commitments) != threshold:
        raise InvalidProof(
            f"expected k = {threshold} commitments, got {len(payload.commitments)}", where
        )
    if len(payload.proofs) != threshold:
        raise InvalidProof(f"expected {threshold} proofs, got {len(payload.proofs)}", where)
    if payload.commitments[0].is_one():
        raise InvalidProof("K_i0 = 1 (a zero secret) is refused", where)
    for j, (commitment, proof) in enumerate(
        zip(payload.commitments, payload.proofs, strict=True)
    ):
        try:
            verify_schnorr(proof, commitment, coefficient_context(base_hash, payload.dealer, j))
        except InvalidProof as err:
            raise err.at(f"{where} coefficient {j}") from None


def expected_share_image(commitments: Sequence[ElementModP], recipient: int) -> ElementModP:
    """∏_j K_ij^{ℓ^j} — what g^{P_i(ℓ)} must equal."""
    group = commitments[0].group
    result = group.one
    power = 1
    for commitment in commitments:
        result = result * commitment ** group.exponent_of(power)
        power = power * recipient % int(group.q)
    return result


def verify_share(share: ElementModQ, commitments: Sequence[ElementModP], recipient: int,
                 dealer: int) -> None:
    group = share.group
    if group.g_pow(share) != expected_share_image(commitments, recipient):
        raise InvalidShare(
            f"share from dealer {dealer} to trustee {recipient} does not match the dealer's "
            "commitments"
        )


def share_message(base_hash: bytes, attempt: int, dealer: int, recipient: int,
                  share: ElementModQ) -> bytes:
    """What the dealer signs inside each encrypted share (tag ``ceremony-share``)."""
    return bytes_field(base_hash) + u64(attempt) + u64(dealer) + u64(recipient) + share.to_bytes()


@dataclass(frozen=True, slots=True)
class SharePlaintext:
    """The content of one NaCl box in ``ceremony-shares``."""

    attempt: int
    dealer: int
    recipient: int
    share: ElementModQ
    signature: bytes

    def __repr__(self) -> str:
        return (f"SharePlaintext(attempt={self.attempt}, dealer={self.dealer}, "
                f"recipient={self.recipient}, share=<secret>)")

    def to_bytes(self) -> bytes:
        return canonical_json({
            "version": 1, "attempt": self.attempt, "dealer": self.dealer,
            "recipient": self.recipient, "share": self.share.to_hex(),
            "signature": self.signature.hex(),
        })

    @classmethod
    def from_bytes(cls, data: bytes, group: GroupParameters, where: str) -> SharePlaintext:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.integer("attempt", 1, 1000), obj.integer("dealer", 1, 1000),
                     obj.integer("recipient", 1, 1000), obj.exponent("share", group),
                     obj.hex_bytes("signature", 64))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class EncryptedShares:
    """Payload of ``ceremony-shares``: recipient index → NaCl box bytes."""

    attempt: int
    dealer: int
    boxes: tuple[tuple[int, bytes], ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "attempt": self.attempt, "dealer": self.dealer,
            "shares": [{"recipient": r, "box": b.hex()} for r, b in self.boxes],
        })

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> EncryptedShares:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        boxes = obj.mapped("shares", lambda r: (r.integer("recipient", 1, 1000),
                                                r.hex_bytes("box", max_length=4096)), 64)
        result = cls(obj.integer("attempt", 1, 1000), obj.integer("dealer", 1, 1000),
                     tuple(boxes))
        obj.done()
        return result

    def box_for(self, recipient: int) -> bytes | None:
        for index, box in self.boxes:
            if index == recipient:
                return box
        return None


@dataclass(frozen=True, slots=True)
class Complaint:
    attempt: int
    dealer: int
    complainant: int
    reason: str

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "attempt": self.attempt, "dealer": self.dealer,
                               "complainant": self.complainant, "reason": self.reason})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> Complaint:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.integer("attempt", 1, 1000), obj.integer("dealer", 1, 1000),
                     obj.integer("complainant", 1, 1000), obj.string("reason", 1024))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class Reveal:
    """The dealer's answer to a complaint: P_i(ℓ) in clear, checked against the commitments."""

    attempt: int
    dealer: int
    recipient: int
    share: ElementModQ

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "attempt": self.attempt, "dealer": self.dealer,
                               "recipient": self.recipient, "share": self.share.to_hex()})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> Reveal:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.integer("attempt", 1, 1000), obj.integer("dealer", 1, 1000),
                     obj.integer("recipient", 1, 1000), obj.exponent("share", group))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class Abort:
    attempt: int
    excluded: tuple[int, ...]
    reason: str

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "attempt": self.attempt,
                               "excluded": list(self.excluded), "reason": self.reason})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> Abort:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        excluded = obj.items("excluded", 64)
        if not excluded or any(isinstance(i, bool) or not isinstance(i, int) for i in excluded):
            raise EncodingError("expected a non-empty list of trustee indices",
                                obj.path("excluded"))
        result = cls(obj.integer("attempt", 1, 1000), tuple(excluded), obj.string("reason", 1024))
        obj.done()
        return result


def joint_key(commitments: Mapping[int, Sequence[ElementModP]]) -> ElementModP:
    """K = ∏_i K_i0."""
    values = list(commitments.values())
    result = values[0][0]
    for dealer_commitments in values[1:]:
        result = result * dealer_commitments[0]
    return result


def verification_key(commitments: Mapping[int, Sequence[ElementModP]], index: int) -> ElementModP:
    """K_ℓ = g^{s_ℓ} = ∏_i ∏_j K_ij^{ℓ^j}, derived from the commitments (never read)."""
    values = list(commitments.values())
    result = expected_share_image(values[0], index)
    for dealer_commitments in values[1:]:
        result = result * expected_share_image(dealer_commitments, index)
    return result


def close_message(extended_hash: bytes, attempt: int, key: ElementModP,
                  verification_keys: Mapping[int, ElementModP]) -> bytes:
    """What every participant signs (tag ``ceremony-close``): H_E, attempt, K, each K_ℓ."""
    parts = [bytes_field(extended_hash), u64(attempt), key.to_bytes()]
    for index in sorted(verification_keys):
        parts.append(u64(index) + verification_keys[index].to_bytes())
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """Payload of ``ceremony-confirm`` (one trustee) — and, with every signature, of
    ``ceremony-close`` (the official gathers them)."""

    attempt: int
    extended_base_hash: bytes
    joint_key: ElementModP
    verification_keys: tuple[tuple[int, ElementModP], ...]
    signatures: tuple[tuple[int, bytes], ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "attempt": self.attempt,
            "extended_base_hash": self.extended_base_hash.hex(),
            "joint_key": self.joint_key.to_hex(),
            "verification_keys": [{"index": i, "key": k.to_hex()}
                                  for i, k in self.verification_keys],
            "signatures": [{"index": i, "signature": s.hex()} for i, s in self.signatures],
        })

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> Confirmation:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        keys = obj.mapped("verification_keys",
                          lambda r: (r.integer("index", 1, 1000), r.element("key", group)), 64)
        signatures = obj.mapped("signatures", lambda r: (r.integer("index", 1, 1000),
                                                         r.hex_bytes("signature", 64)), 64)
        result = cls(obj.integer("attempt", 1, 1000), obj.hex_bytes("extended_base_hash", 32),
                     obj.element("joint_key", group), tuple(keys), tuple(signatures))
        obj.done()
        return result


# --- replaying the ceremony from the ledger ---------------------------------------------


@dataclass(frozen=True, slots=True)
class CeremonyOutcome:
    """A closed ceremony: what every later step of the election builds on."""

    attempt: int
    participants: tuple[int, ...]
    base_hash: bytes
    extended_base_hash: bytes
    joint_key: ElementModP
    commitments: Mapping[int, tuple[ElementModP, ...]]
    verification_keys: Mapping[int, ElementModP]


@dataclass(slots=True)
class CeremonyProgress:
    """Where an attempt stands while the ceremony runs (rebuilt from the ledger)."""

    attempt: int
    participants: tuple[int, ...]
    base_hash: bytes
    commitments: dict[int, Commitments] = field(default_factory=dict)
    shares: dict[int, EncryptedShares] = field(default_factory=dict)
    complaints: dict[tuple[int, int], Complaint] = field(default_factory=dict)
    reveals: dict[tuple[int, int], Reveal] = field(default_factory=dict)
    confirmations: dict[int, Confirmation] = field(default_factory=dict)
    excluded: tuple[int, ...] = ()
    outcome: CeremonyOutcome | None = None

    @property
    def all_committed(self) -> bool:
        return set(self.commitments) == set(self.participants)

    @property
    def all_dealt(self) -> bool:
        return set(self.shares) == set(self.participants)

    def unanswered_complaints(self) -> list[Complaint]:
        return [c for key, c in self.complaints.items() if key not in self.reveals]

    def commitment_values(self) -> dict[int, tuple[ElementModP, ...]]:
        return {i: self.commitments[i].commitments for i in sorted(self.commitments)}

    def expected_outcome(self) -> tuple[bytes, ElementModP, dict[int, ElementModP]]:
        """(H_E, K, verification keys) every participant should sign, once all committed."""
        values = self.commitment_values()
        key = joint_key(values)
        extended = extended_base_hash(self.base_hash, key, [values[i] for i in sorted(values)])
        return extended, key, {i: verification_key(values, i) for i in self.participants}


class CeremonyReplay:
    """Applies ceremony entries one at a time, in ledger order, checking each."""

    def __init__(self, setup: ElectionSetup) -> None:
        self.setup = setup
        self.progress = _new_attempt(setup, 1, tuple(t.index for t in setup.trustees))

    @property
    def outcome(self) -> CeremonyOutcome | None:
        return self.progress.outcome

    def apply(self, index: int, entry: Entry) -> None:
        """Check one entry (envelope and signature already checked); raise naming it."""
        if entry.entry_type not in CEREMONY_TYPES:
            return
        where = f"ledger entry {index} ({entry.entry_type})"
        if self.progress.outcome is not None:
            raise RecordError("ceremony entry after the ceremony closed", where)
        try:
            self.progress = _apply(self.setup, self.setup.group, self.progress, entry, where)
        except (EncodingError, InvalidProof, InvalidShare, RecordError, CeremonyError) as err:
            raise err.at(where) from None


def replay_ceremony(
    setup: ElectionSetup, entries: Iterable[tuple[int, Entry]]
) -> CeremonyProgress:
    """Check every ceremony entry in ledger order and return the current attempt's state.

    ``entries`` are (ledger index, entry) pairs whose envelope and signature are already
    checked; non-ceremony entries are ignored. Raises ``RecordError``/``InvalidProof``/
    ``InvalidShare`` naming the first bad entry. The ceremony is closed when
    ``progress.outcome`` is set.
    """
    replay = CeremonyReplay(setup)
    for index, entry in entries:
        replay.apply(index, entry)
    return replay.progress


def _new_attempt(setup: ElectionSetup, attempt: int, participants: tuple[int, ...]
                 ) -> CeremonyProgress:
    if len(participants) < setup.threshold:
        raise CeremonyError(
            f"only {len(participants)} trustees remain, fewer than the threshold "
            f"{setup.threshold}: the ceremony cannot restart"
        )
    return CeremonyProgress(attempt, participants, setup.base_hash(len(participants)))


def _trustee_index(setup: ElectionSetup, entry: Entry) -> int:
    for trustee in setup.trustees:
        if trustee.writer_id == entry.writer_id:
            return trustee.index
    raise RecordError(f"writer {entry.writer_id!r} is not a trustee")


def _apply(setup: ElectionSetup, group: GroupParameters, progress: CeremonyProgress,
           entry: Entry, where: str) -> CeremonyProgress:
    kind = entry.entry_type
    if kind == EntryType.CEREMONY_ABORT:
        abort = Abort.from_payload(entry.payload, where)
        _same_attempt(abort.attempt, progress)
        _check_abort(progress, abort)
        remaining = tuple(i for i in progress.participants if i not in abort.excluded)
        return _new_attempt(setup, progress.attempt + 1, remaining)
    if kind == EntryType.CEREMONY_CLOSE:
        close = Confirmation.from_payload(entry.payload, group, where)
        _same_attempt(close.attempt, progress)
        progress.outcome = _check_close(setup, progress, close)
        return progress
    sender = _trustee_index(setup, entry)
    if sender not in progress.participants:
        raise RecordError(f"trustee {sender} does not take part in attempt {progress.attempt}")
    if kind == EntryType.CEREMONY_COMMITMENTS:
        commitments = Commitments.from_payload(entry.payload, group, where)
        _same_attempt(commitments.attempt, progress)
        _from_sender(commitments.dealer, sender)
        if sender in progress.commitments:
            raise RecordError(f"dealer {sender} committed twice")
        verify_commitments(commitments, progress.base_hash, setup.threshold)
        progress.commitments[sender] = commitments
    elif kind == EntryType.CEREMONY_SHARES:
        shares = EncryptedShares.from_payload(entry.payload, where)
        _same_attempt(shares.attempt, progress)
        _from_sender(shares.dealer, sender)
        if not progress.all_committed:
            raise RecordError("shares sent before every dealer committed")
        if sender in progress.shares:
            raise RecordError(f"dealer {sender} sent shares twice")
        recipients = sorted(r for r, _ in shares.boxes)
        expected = sorted(i for i in progress.participants if i != sender)
        if recipients != expected:
            raise RecordError(f"shares go to {recipients}, expected exactly {expected}")
        progress.shares[sender] = shares
    elif kind == EntryType.CEREMONY_COMPLAINT:
        complaint = Complaint.from_payload(entry.payload, where)
        _same_attempt(complaint.attempt, progress)
        _from_sender(complaint.complainant, sender)
        if complaint.dealer not in progress.shares or complaint.dealer == sender:
            raise RecordError(f"complaint about dealer {complaint.dealer}, who sent no share")
        progress.complaints[(complaint.dealer, complaint.complainant)] = complaint
    elif kind == EntryType.CEREMONY_REVEAL:
        reveal = Reveal.from_payload(entry.payload, group, where)
        _same_attempt(reveal.attempt, progress)
        _from_sender(reveal.dealer, sender)
        key = (reveal.dealer, reveal.recipient)
        if key not in progress.complaints:
            raise RecordError("reveal without a complaint (a share published for no reason)")
        if key in progress.reveals:
            raise RecordError("second reveal for one complaint")
        progress.reveals[key] = reveal
    elif kind == EntryType.CEREMONY_CONFIRM:
        confirmation = Confirmation.from_payload(entry.payload, group, where)
        _same_attempt(confirmation.attempt, progress)
        if sender in progress.confirmations:
            raise RecordError(f"trustee {sender} confirmed twice")
        _check_confirmation(setup, progress, sender, confirmation)
        progress.confirmations[sender] = confirmation
    return progress


def _same_attempt(attempt: int, progress: CeremonyProgress) -> None:
    if attempt != progress.attempt:
        raise RecordError(f"entry for attempt {attempt} during attempt {progress.attempt}")


def _from_sender(claimed: int, sender: int) -> None:
    if claimed != sender:
        raise RecordError(f"trustee {sender} wrote an entry in the name of trustee {claimed}")


def reveal_is_valid(progress: CeremonyProgress, reveal: Reveal) -> bool:
    try:
        verify_share(reveal.share, progress.commitments[reveal.dealer].commitments,
                     reveal.recipient, reveal.dealer)
    except InvalidShare:
        return False
    return True


def _check_abort(progress: CeremonyProgress, abort: Abort) -> None:
    """An abort must exclude exactly the dealers shown to cheat, or who never answered."""
    justified: set[int] = set()
    for (dealer, _), complaint in progress.complaints.items():
        reveal = progress.reveals.get((dealer, complaint.complainant))
        if reveal is None or not reveal_is_valid(progress, reveal):
            justified.add(dealer)
    silent = {i for i in progress.participants
              if i not in progress.commitments
              or (progress.all_committed and i not in progress.shares)}
    for dealer in abort.excluded:
        if dealer not in progress.participants:
            raise RecordError(f"abort excludes trustee {dealer}, who does not take part")
        if dealer not in justified and dealer not in silent:
            raise RecordError(
                f"abort excludes trustee {dealer} without an unresolved complaint or a "
                "missing step"
            )


def _check_confirmation(setup: ElectionSetup, progress: CeremonyProgress, sender: int,
                        confirmation: Confirmation) -> None:
    if not progress.all_dealt:
        raise RecordError("confirmation before every dealer sent shares")
    for (dealer, complainant), _ in progress.complaints.items():
        if complainant == sender and (dealer, complainant) not in progress.reveals:
            raise RecordError(f"trustee {sender} confirms with its own complaint unanswered")
    _check_signed_outcome(setup, progress, confirmation, {sender})


def _check_signed_outcome(setup: ElectionSetup, progress: CeremonyProgress,
                          signed: Confirmation, signers: set[int]) -> None:
    extended, key, keys = progress.expected_outcome()
    if signed.extended_base_hash != extended:
        raise RecordError("H_E differs from the one recomputed from the commitments")
    if signed.joint_key != key:
        raise RecordError("joint key K differs from the product of the K_i0")
    if key.is_one():
        raise RecordError("joint key K = 1 is refused")
    if dict(signed.verification_keys) != keys or len(signed.verification_keys) != len(keys):
        raise RecordError("verification keys differ from those derived from the commitments")
    by_index = dict(signed.signatures)
    if set(by_index) != signers or len(signed.signatures) != len(signers):
        raise RecordError(f"expected signatures of trustees {sorted(signers)}, "
                          f"got {sorted(by_index)}")
    message = close_message(extended, progress.attempt, key, keys)
    for index, signature in by_index.items():
        try:
            setup.trustee(index).signing_key.verify(
                SignatureTag.CEREMONY_CLOSE, setup.election_id, message, signature
            )
        except InvalidSignature as err:
            raise RecordError(f"trustee {index}'s closing signature: {err.reason}") from None


def _check_close(setup: ElectionSetup, progress: CeremonyProgress, close: Confirmation
                 ) -> CeremonyOutcome:
    if progress.unanswered_complaints():
        raise RecordError("ceremony closed with an unanswered complaint")
    for reveal in progress.reveals.values():
        if not reveal_is_valid(progress, reveal):
            raise RecordError(f"ceremony closed although dealer {reveal.dealer}'s reveal is "
                              "invalid (it must abort)")
    missing = set(progress.participants) - set(progress.confirmations)
    if missing:
        raise RecordError(f"ceremony closed without the confirmation of trustees {sorted(missing)}")
    _check_signed_outcome(setup, progress, close, set(progress.participants))
    extended, key, keys = progress.expected_outcome()
    return CeremonyOutcome(
        attempt=progress.attempt, participants=progress.participants,
        base_hash=progress.base_hash, extended_base_hash=extended, joint_key=key,
        commitments=progress.commitment_values(), verification_keys=keys,
    )


def sign_close(key: SigningKey, setup: ElectionSetup, progress: CeremonyProgress,
               index: int) -> Confirmation:
    """A trustee's ``ceremony-confirm`` for the current attempt."""
    extended, joint, keys = progress.expected_outcome()
    message = close_message(extended, progress.attempt, joint, keys)
    signature = key.sign(SignatureTag.CEREMONY_CLOSE, setup.election_id, message)
    return Confirmation(progress.attempt, extended, joint, tuple(sorted(keys.items())),
                        ((index, signature),))


def gather_close(progress: CeremonyProgress) -> Confirmation:
    """The official's ``ceremony-close``: every participant's signature in one entry."""
    extended, joint, keys = progress.expected_outcome()
    signatures = tuple(sorted(
        (index, dict(c.signatures)[index]) for index, c in progress.confirmations.items()
    ))
    return Confirmation(progress.attempt, extended, joint, tuple(sorted(keys.items())), signatures)


def verify_share_signature(key: VerifyKey, election_id: str, base_hash: bytes,
                           plaintext: SharePlaintext) -> None:
    key.verify(SignatureTag.CEREMONY_SHARE, election_id,
               share_message(base_hash, plaintext.attempt, plaintext.dealer,
                             plaintext.recipient, plaintext.share),
               plaintext.signature)
