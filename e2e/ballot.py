"""Ballots: marking, encryption with proofs, tracking codes, verification, Benaloh openings.

docs/spec.md §11. A device encrypts a marked ballot of style S as its ``sequence``-th
ballot (from 1) in its chain:

* a master nonce ξ (32 bytes, CSPRNG) gives each selection's nonce
  r_ij = H(selection-nonce; H_E, ξ, i, j) mod q, where i is the contest index and j the
  selection index in the manifest;
* each selection (α, β) = (g^r, g^m·K^r) has a 0/1 proof with context
  (selection-proof; H_E, device ID, sequence, i, j);
* each contest's product of selections has a 0..L proof, L the contest's limit, with
  context (contest-proof; H_E, device ID, sequence, i) and nonce Σ_j r_ij;
* proof randomness comes from a separate fresh 32-byte seed, per proof label;
* the tracking code is H(tracking-code; H_E, previous code, device ID, style ID,
  [[α, β] of every selection, contest by contest]); a device's chain starts at
  H(tracking-code-seed; H_E, device ID, session).

A Benaloh challenge publishes ξ and the plaintext; anyone re-encrypts and compares
(``verify_opening``). After a cast the device drops ξ and the proof seed
(``PendingBallot.erase``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gmpy2 import mpz

from e2e.batch import BatchVerifier, RangeClaim
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext, encrypt
from e2e.encoding import (
    ObjectReader,
    Reader,
    canonical_json,
    field,
    parse_canonical_json,
    u32,
    u64,
)
from e2e.errors import (
    EncodingError,
    InvalidBallot,
    InvalidElement,
    InvalidExponent,
    InvalidProof,
    ManifestError,
    PaperchainError,
    UsageError,
)
from e2e.fixedbase import PrecomputedPool
from e2e.group import (
    ElementModP,
    ElementModQ,
    GroupParameters,
    _parse_hex,
    _trusted_p,
    _trusted_q,
    constant_time_equal,
)
from e2e.hashing import Field, Tag, hash_fields, hash_to_exponent
from e2e.manifest import Manifest
from e2e.nonces import DerivedNonces
from e2e.proofs import (
    ProofContext,
    RangeBranch,
    RangeProof,
    encode_nested,
    prove_range,
    verify_range,
)

__all__ = [
    "COMPACT_VERSION",
    "BallotOpening",
    "ContestsView",
    "EncryptedBallot",
    "EncryptedContest",
    "EncryptedSelection",
    "MarkedBallot",
    "PendingBallot",
    "ProofBinding",
    "RawBallot",
    "ballot_binding",
    "batch_contest_failures",
    "chain_seed",
    "contest_context",
    "encrypt_ballot",
    "encrypt_contest",
    "locate_raw_failures",
    "mark_ballot",
    "raw_decoders",
    "read_contests",
    "read_raw_ballot",
    "read_raw_compact",
    "selection_context",
    "selection_nonce",
    "tracking_code",
    "verify_ballot",
    "verify_ballots",
    "verify_contests",
    "verify_opening",
    "verify_raw_ballots",
]

MAX_ID = 64


# --- marking -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkedBallot:
    """A voter's choices, checked against the style: per contest on the style (in manifest
    order), the contest index and a 0/1 vote per selection."""

    style_id: str
    votes: tuple[tuple[int, tuple[int, ...]], ...]

    def __repr__(self) -> str:
        return f"MarkedBallot(style={self.style_id!r}, votes=<secret>)"

    def choices(self, manifest: Manifest) -> dict[str, frozenset[str]]:
        """contest ID → chosen selection IDs (for printing the paper record)."""
        result = {}
        for contest_index, votes in self.votes:
            contest = manifest.contests[contest_index]
            result[contest.id] = frozenset(
                s.id for s, vote in zip(contest.selections, votes, strict=True) if vote
            )
        return result


def mark_ballot(manifest: Manifest, style_id: str,
                choices: Mapping[str, Sequence[str] | frozenset[str]]) -> MarkedBallot:
    """Check a voter's choices (contest ID → chosen selection IDs) and refuse overvotes.

    Contests of the style missing from ``choices`` are undervoted (no selection).
    """
    style = manifest.style(style_id)
    on_style = dict((c.id, (i, c)) for i, c in manifest.contests_of_style(style.id))
    for contest_id in choices:
        if contest_id not in on_style:
            raise InvalidBallot(f"contest {contest_id!r} is not on ballot style {style_id!r}")
    votes = []
    for contest_index, contest in manifest.contests_of_style(style.id):
        chosen = list(choices.get(contest.id, ()))
        if len(set(chosen)) != len(chosen):
            raise InvalidBallot("a selection is chosen twice", f"contest {contest.id}")
        known = {s.id for s in contest.selections}
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise InvalidBallot(f"unknown selection(s) {unknown}", f"contest {contest.id}")
        if len(chosen) > contest.limit:
            raise InvalidBallot(
                f"overvote: {len(chosen)} choices where at most {contest.limit} are allowed",
                f"contest {contest.id}",
            )
        votes.append((contest_index,
                      tuple(1 if s.id in chosen else 0 for s in contest.selections)))
    return MarkedBallot(style.id, tuple(votes))


# --- encrypted values ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedSelection:
    ciphertext: Ciphertext
    proof: RangeProof


@dataclass(frozen=True, slots=True)
class EncryptedContest:
    index: int
    selections: tuple[EncryptedSelection, ...]
    proof: RangeProof

    def total(self) -> Ciphertext:
        total = self.selections[0].ciphertext
        for selection in self.selections[1:]:
            total = total * selection.ciphertext
        return total


@dataclass(frozen=True, slots=True)
class EncryptedBallot:
    device_id: str
    session: str
    sequence: int
    style_id: str
    previous_code: bytes
    tracking_code: bytes
    contests: tuple[EncryptedContest, ...]

    @property
    def label(self) -> str:
        return f"ballot {self.device_id}#{self.sequence}"

    def ciphertexts(self) -> list[list[Ciphertext]]:
        return [[s.ciphertext for s in c.selections] for c in self.contests]

    def to_json(self) -> dict[str, object]:
        return {
            "version": 1, "device_id": self.device_id, "session": self.session,
            "sequence": self.sequence, "style_id": self.style_id,
            "previous_code": self.previous_code.hex(), "tracking_code": self.tracking_code.hex(),
            "contests": [
                {"index": c.index, "proof": _proof_json(c.proof),
                 "selections": [
                     {"alpha": s.ciphertext.alpha.to_hex(), "beta": s.ciphertext.beta.to_hex(),
                      "proof": _proof_json(s.proof)}
                     for s in c.selections]}
                for c in self.contests
            ],
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, obj: ObjectReader, group: GroupParameters) -> EncryptedBallot:
        """Decode with every element checked (0 < x < p, x^q = 1) as it is built."""

        def element(text: object, where: str) -> ElementModP:
            try:
                return group.element_from_hex(text, where)
            except InvalidElement as err:  # the range and subgroup checks name no place
                raise (err if err.where else err.at(where)) from None

        def exponent(text: object, where: str) -> ElementModQ:
            try:
                return group.exponent_from_hex(text, where)
            except InvalidExponent as err:  # the range check names no place
                raise (err if err.where else err.at(where)) from None

        header, contests = _read_ballot(obj, element, exponent)

        def proof(branches: _Branches[ElementModP, ElementModQ]) -> RangeProof:
            return RangeProof(tuple(RangeBranch(*branch) for branch in branches))

        return cls(*header, contests=tuple(
            EncryptedContest(index, tuple(EncryptedSelection(Ciphertext(alpha, beta), proof(b))
                                          for alpha, beta, b in selections), proof(branches))
            for index, selections, branches in contests))

    @classmethod
    def from_bytes(cls, data: bytes, group: GroupParameters, where: str = "ballot"
                   ) -> EncryptedBallot:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        ballot = cls.from_json(obj, group)
        obj.done()
        return ballot

    def to_compact(self) -> bytes:
        """The compact binary form (``_read_compact`` documents it): the same ballot as
        ``to_json``, in half the bytes, read without a JSON parser."""
        def proof(p: RangeProof) -> list[bytes]:
            return [u32(len(p.branches))] + [
                b"".join((b.commitment_g.to_bytes(), b.commitment_k.to_bytes(),
                          b.challenge.to_bytes(), b.response.to_bytes())) for b in p.branches]

        parts = [COMPACT_VERSION.to_bytes(1, "big"), field(self.device_id.encode()),
                 field(self.session.encode()), u64(self.sequence), field(self.style_id.encode()),
                 self.previous_code, self.tracking_code, u32(len(self.contests))]
        for contest in self.contests:
            parts += [u32(contest.index), u32(len(contest.selections))]
            for selection in contest.selections:
                parts += [selection.ciphertext.alpha.to_bytes(),
                          selection.ciphertext.beta.to_bytes(), *proof(selection.proof)]
            parts += proof(contest.proof)
        return b"".join(parts)

    @classmethod
    def from_compact(cls, reader: Reader, group: GroupParameters, where: str
                     ) -> EncryptedBallot:
        """Decode the compact form with every element checked; the caller calls
        ``reader.end()``."""
        def element(data: bytes, place: str) -> ElementModP:
            try:
                return group.element_from_bytes(data, place)
            except InvalidElement as err:
                raise (err if err.where else err.at(place)) from None

        def exponent(data: bytes, place: str) -> ElementModQ:
            try:
                return group.exponent_from_bytes(data, place)
            except InvalidExponent as err:  # the range check names no place
                raise (err if err.where else err.at(place)) from None

        header, contests = _read_compact(reader, group, where, element, exponent)
        return cls(*header, contests=tuple(
            EncryptedContest(index, tuple(
                EncryptedSelection(Ciphertext(alpha, beta),
                                   RangeProof(tuple(RangeBranch(*x) for x in b)))
                for alpha, beta, b in selections),
                RangeProof(tuple(RangeBranch(*x) for x in branches)))
            for index, selections, branches in contests))


E = TypeVar("E")
X = TypeVar("X")
_Branches = list[tuple[E, E, X, X]]
_Header = tuple[str, str, int, str, bytes, bytes]


def read_contests(
    obj: ObjectReader, element: Callable[[object, str], E], exponent: Callable[[object, str], X]
) -> list[tuple[int, list[tuple[E, E, _Branches[E, X]]], _Branches[E, X]]]:
    """The ``contests`` list of a ballot's or a CVR's JSON form (index, selections with α,
    β and their proof branches, the contest's proof branches), read with the given element
    and exponent decoders: one reader for the checked and the batch paths of both."""

    def proof(reader: ObjectReader, key: str) -> _Branches[E, X]:
        branches = []
        for j, item in enumerate(reader.items(key, 1001)):
            where = f"{reader.path(key)}[{j}]"
            if not isinstance(item, list) or len(item) != 4:
                raise EncodingError("a proof branch is [a, b, challenge, response]", where)
            branches.append((element(item[0], f"{where}.a"), element(item[1], f"{where}.b"),
                             exponent(item[2], f"{where}.challenge"),
                             exponent(item[3], f"{where}.response")))
        return branches

    def selection(reader: ObjectReader) -> tuple[E, E, _Branches[E, X]]:
        alpha = element(reader.raw("alpha"), reader.path("alpha"))
        beta = element(reader.raw("beta"), reader.path("beta"))
        return alpha, beta, proof(reader, "proof")

    def contest(reader: ObjectReader
                ) -> tuple[int, list[tuple[E, E, _Branches[E, X]]], _Branches[E, X]]:
        return (reader.integer("index", 0, 10_000), reader.mapped("selections", selection, 1000),
                proof(reader, "proof"))

    return obj.mapped("contests", contest, 1000)


def _read_ballot(
    obj: ObjectReader, element: Callable[[object, str], E], exponent: Callable[[object, str], X]
) -> tuple[_Header, list[tuple[int, list[tuple[E, E, _Branches[E, X]]], _Branches[E, X]]]]:
    """The ballot's JSON form read with the given element and exponent decoders.

    One reader for both decoders, so the checked path (``EncryptedBallot.from_json``)
    and the batch path (``decode_ballots``, membership deferred to ``e2e.batch``)
    accept exactly the same structure, in the same order of checks.
    """
    obj.version([1])
    header = (obj.string("device_id", MAX_ID), obj.string("session", MAX_ID),
              obj.integer("sequence", 1), obj.string("style_id", MAX_ID),
              obj.hex_bytes("previous_code", 32), obj.hex_bytes("tracking_code", 32))
    return header, read_contests(obj, element, exponent)


COMPACT_VERSION = 1
"""Version byte of the compact binary form of a ballot."""


def _read_compact(
    reader: Reader, group: GroupParameters, where: str,
    element: Callable[[bytes, str], E], exponent: Callable[[bytes, str], X],
) -> tuple[_Header, list[tuple[int, list[tuple[E, E, _Branches[E, X]]], _Branches[E, X]]]]:
    """The compact binary form, with the given element and exponent decoders::

        ballot    = u8(1) ‖ field(device ID) ‖ field(session) ‖ u64(sequence)
                    ‖ field(style ID) ‖ previous code (32) ‖ tracking code (32)
                    ‖ u32(#contests) ‖ contest*
        contest   = u32(index) ‖ u32(#selections) ‖ selection* ‖ proof
        selection = α ‖ β ‖ proof
        proof     = u32(#branches) ‖ (a ‖ b ‖ c ‖ v)*

    elements in exactly p_bytes and exponents in exactly q_bytes big-endian bytes, text
    UTF-8 — every value the JSON form allows and no other (the same bounds: IDs of at
    most 64 characters, sequence 1..2^63−1, contest index 0..10,000, at most 1,000
    contests and selections and 1,001 branches), so both forms encode the same ballots.
    """
    version = reader.u8("compact ballot version")
    if version != COMPACT_VERSION:
        raise EncodingError(f"unsupported compact ballot version {version}", where)
    p_bytes, q_bytes = group.p_bytes, group.q_bytes

    def text(label: str) -> str:
        value = reader.text(label, 4 * MAX_ID)
        if len(value) > MAX_ID:
            raise EncodingError(f"longer than {MAX_ID} characters", f"{where}.{label}")
        return value

    def count(label: str, maximum: int) -> int:
        value = reader.u32(label)
        if value > maximum:
            raise EncodingError(f"more than {maximum} items", f"{where}.{label}")
        return value

    def proof(place: str) -> _Branches[E, X]:
        branches = []
        for j in range(count(f"{place}.proof", 1001)):
            here = f"{place}.proof[{j}]"
            branches.append((element(reader.fixed(p_bytes, f"{here}.a"), f"{here}.a"),
                             element(reader.fixed(p_bytes, f"{here}.b"), f"{here}.b"),
                             exponent(reader.fixed(q_bytes, f"{here}.challenge"),
                                      f"{here}.challenge"),
                             exponent(reader.fixed(q_bytes, f"{here}.response"),
                                      f"{here}.response")))
        return branches

    device_id, session = text("device_id"), text("session")
    sequence = reader.u64("sequence")
    if not 1 <= sequence <= 2**63 - 1:
        raise EncodingError(f"{sequence} is outside 1..{2**63 - 1}", f"{where}.sequence")
    header = (device_id, session, sequence, text("style_id"),
              reader.fixed(32, "previous_code"), reader.fixed(32, "tracking_code"))
    contests = []
    for i in range(count("contests", 1000)):
        place = f"{where}.contests[{i}]"
        index = reader.u32(f"{place}.index")
        if index > 10_000:
            raise EncodingError(f"{index} is outside 0..10000", f"{place}.index")
        selections = []
        for j in range(count(f"{place}.selections", 1000)):
            here = f"{place}.selections[{j}]"
            alpha = element(reader.fixed(p_bytes, f"{here}.alpha"), f"{here}.alpha")
            beta = element(reader.fixed(p_bytes, f"{here}.beta"), f"{here}.beta")
            selections.append((alpha, beta, proof(here)))
        contests.append((index, selections, proof(place)))
    return header, contests


def _proof_json(proof: RangeProof) -> list[list[str]]:
    return [[b.commitment_g.to_hex(), b.commitment_k.to_hex(), b.challenge.to_hex(),
             b.response.to_hex()] for b in proof.branches]


# --- hashes that bind a ballot ---------------------------------------------------------


def selection_context(extended_hash: bytes, device_id: str, sequence: int, contest: int,
                      selection: int) -> ProofContext:
    return ProofContext(Tag.SELECTION_PROOF, (extended_hash, device_id, sequence, contest,
                                              selection))


def contest_context(extended_hash: bytes, device_id: str, sequence: int, contest: int
                    ) -> ProofContext:
    return ProofContext(Tag.CONTEST_PROOF, (extended_hash, device_id, sequence, contest))


def selection_nonce(group: GroupParameters, extended_hash: bytes, master_nonce: bytes,
                    contest: int, selection: int) -> ElementModQ:
    return group.exponent_from_hash(
        hash_fields(Tag.SELECTION_NONCE, extended_hash, master_nonce, contest, selection))


def chain_seed(extended_hash: bytes, device_id: str, session: str) -> bytes:
    """The 'previous code' of a device's first ballot."""
    return hash_fields(Tag.TRACKING_CODE_SEED, extended_hash, device_id, session)


def tracking_code(extended_hash: bytes, previous_code: bytes, device_id: str, style_id: str,
                  ciphertexts: Sequence[Sequence[Ciphertext]]) -> bytes:
    return hash_fields(
        Tag.TRACKING_CODE, extended_hash, previous_code, device_id, style_id,
        encode_nested([[[c.alpha.to_bytes(), c.beta.to_bytes()] for c in contest]
                       for contest in ciphertexts]),
    )


@dataclass(frozen=True, slots=True)
class ProofBinding:
    """What a contest's proofs hash before their indices: two tags and the leading fields.

    A ballot's are (selection-proof / contest-proof; H_E, device ID, sequence) —
    ``ballot_binding``, the same preimages as ``selection_context``/``contest_context``;
    an encrypted CVR's (``e2e.cvr``) have their own tags and (H_E, device ID, ballot ID),
    so a proof made for one can never pass as the other's.
    """

    selection_tag: Tag
    contest_tag: Tag
    fields: tuple[Field, ...]

    def selection(self, contest: int, selection: int) -> ProofContext:
        return ProofContext(self.selection_tag, (*self.fields, contest, selection))

    def contest(self, contest: int) -> ProofContext:
        return ProofContext(self.contest_tag, (*self.fields, contest))


def ballot_binding(extended_hash: bytes, device_id: str, sequence: int) -> ProofBinding:
    """The binding of a cast or challenged ballot's proofs (docs/spec.md §11)."""
    return ProofBinding(Tag.SELECTION_PROOF, Tag.CONTEST_PROOF,
                        (extended_hash, device_id, sequence))


# --- encryption --------------------------------------------------------------------------


class PendingBallot:
    """An encrypted ballot before the voter decides, holding its secrets until then."""

    __slots__ = ("_master_nonce", "ballot", "marked")

    def __init__(self, ballot: EncryptedBallot, marked: MarkedBallot, master_nonce: bytes) -> None:
        self.ballot = ballot
        self.marked: MarkedBallot | None = marked
        self._master_nonce: bytes | None = master_nonce

    def __repr__(self) -> str:
        return f"PendingBallot({self.ballot.label}, secrets={'erased' if self.erased else 'held'})"

    @property
    def erased(self) -> bool:
        return self._master_nonce is None

    def opening(self) -> BallotOpening:
        """The Benaloh opening (for a challenge only)."""
        if self._master_nonce is None or self.marked is None:
            raise UsageError("the ballot's secrets were erased: it can no longer be challenged")
        return BallotOpening(self._master_nonce, self.marked)

    def erase(self) -> None:
        """Drop the master nonce and the plaintext (after a cast)."""
        self._master_nonce = None
        self.marked = None


def encrypt_ballot(
    context: ElectionContext, marked: MarkedBallot, *, device_id: str, session: str,
    sequence: int, previous_code: bytes, master_nonce: bytes | None = None,
    proof_seed: bytes | None = None, pool: PrecomputedPool | None = None,
) -> PendingBallot:
    """Encrypt ``marked`` with proofs; ``master_nonce``/``proof_seed`` only for test vectors.

    Every exponentiation is by g or K through the fixed-base tables (``e2e.fixedbase``),
    built once per process for this key. A ``pool`` (filled while the kiosk is idle)
    supplies the proof randomness with its powers, leaving g^r and K^r to compute per
    selection; it is ignored when a ``proof_seed`` is given (reproducible vectors).
    """
    group, extended = context.group, context.extended_base_hash
    master_nonce = master_nonce if master_nonce is not None else secrets.token_bytes(32)
    if proof_seed is not None:
        pool = None
    proof_seed = proof_seed if proof_seed is not None else secrets.token_bytes(32)
    if len(master_nonce) != 32 or len(proof_seed) != 32 or len(previous_code) != 32:
        raise UsageError("nonces, seeds and codes are 32 bytes")
    binding = ballot_binding(extended, device_id, sequence)
    contests = [
        encrypt_contest(context, contest_index, votes,
                        [selection_nonce(group, extended, master_nonce, contest_index, j)
                         for j in range(len(votes))], binding, proof_seed, pool=pool)
        for contest_index, votes in marked.votes]
    code = tracking_code(extended, previous_code, device_id, marked.style_id,
                         [[s.ciphertext for s in c.selections] for c in contests])
    ballot = EncryptedBallot(device_id, session, sequence, marked.style_id, previous_code, code,
                             tuple(contests))
    return PendingBallot(ballot, marked, master_nonce)


def encrypt_contest(context: ElectionContext, contest_index: int, votes: Sequence[int],
                    nonces: Sequence[ElementModQ], binding: ProofBinding, proof_seed: bytes,
                    *, pool: PrecomputedPool | None = None) -> EncryptedContest:
    """One contest: each vote (0/1) encrypted with its nonce and a 0/1 proof, and the
    product's 0..L proof with nonce Σ_j r_ij (docs/spec.md §11). Shared by ballots and
    encrypted CVRs (``e2e.cvr``), which differ only in ``binding`` and nonces."""
    group, key = context.group, context.joint_key
    limit = context.manifest.contests[contest_index].limit
    if len(nonces) != len(votes):
        raise UsageError("one nonce per selection")
    selections = []
    contest_nonce = group.zero_exponent()
    for selection_index, (vote, nonce) in enumerate(zip(votes, nonces, strict=True)):
        contest_nonce = contest_nonce + nonce
        ciphertext = encrypt(vote, nonce, key)
        proof = prove_range(ciphertext, vote, nonce, key, 1,
                            binding.selection(contest_index, selection_index),
                            DerivedNonces(proof_seed, contest_index, selection_index), pool=pool)
        selections.append(EncryptedSelection(ciphertext, proof))
    draft = EncryptedContest(contest_index, tuple(selections), RangeProof(()))
    contest_proof = prove_range(draft.total(), sum(votes), contest_nonce, key, limit,
                                binding.contest(contest_index),
                                DerivedNonces(proof_seed, contest_index, "contest"), pool=pool)
    return EncryptedContest(contest_index, tuple(selections), contest_proof)


# --- verification ------------------------------------------------------------------------


def verify_ballot(context: ElectionContext, ballot: EncryptedBallot, *, fast: bool = True
                  ) -> None:
    """Check a ballot on its own: style, shape, α ≠ 1, every proof, its tracking code.

    The chain link (previous code), the device's registration and sequence, and α
    uniqueness across ballots are checked by the ledger and the verifier, which see
    more than one ballot. Raises ``InvalidBallot`` or ``InvalidProof`` naming the place.

    ``fast`` (the default) checks every proof of the ballot as one batch (``e2e.batch``:
    the ballot's elements are already checked, so steps 1–2 are skipped); when the
    batch finds anything wrong, the simple path (``fast=False``, each equation on its
    own) runs and raises, so both paths report the same failure in the same words.
    """
    if fast and not _batch_flags(context, [_view(ballot)], trusted=True)[0]:
        return
    _verify_simple(context, ballot)


def verify_ballots(context: ElectionContext, ballots: Sequence[EncryptedBallot]
                   ) -> list[PaperchainError | None]:
    """``verify_ballot`` for many ballots with one batch: per ballot None or its error."""
    flags = _batch_flags(context, [_view(b) for b in ballots], trusted=True)
    return [_simple_error(context, b) if bad else None
            for b, bad in zip(ballots, flags, strict=True)]


def _verify_simple(context: ElectionContext, ballot: EncryptedBallot) -> None:
    """The reference verifier: every check on its own, in order, the first failure raised."""
    where = ballot.label
    extended = context.extended_base_hash
    verify_contests(context, ballot.style_id, ballot.contests,
                    ballot_binding(extended, ballot.device_id, ballot.sequence), where,
                    fast=False)
    code = tracking_code(extended, ballot.previous_code, ballot.device_id, ballot.style_id,
                         ballot.ciphertexts())
    if not constant_time_equal(code, ballot.tracking_code):
        raise InvalidBallot("tracking code is not the hash of the ballot", where)




def verify_contests(context: ElectionContext, style_id: str,
                    contests: Sequence[EncryptedContest], binding: ProofBinding, where: str,
                    *, fast: bool = False) -> None:
    """The style's contests in manifest order, each selection α ≠ 1 with its 0/1 proof and
    each contest's 0..L proof under ``binding``; raises ``InvalidBallot`` or
    ``InvalidProof`` naming the place. Shared by ballots and encrypted CVRs."""
    manifest, key = context.manifest, context.joint_key
    try:
        style = manifest.style(style_id)
    except (ManifestError, UsageError):
        raise InvalidBallot(f"unknown ballot style {style_id!r}", where) from None
    expected = manifest.contests_of_style(style.id)
    if [c.index for c in contests] != [i for i, _ in expected]:
        raise InvalidBallot("contests differ from the style's contests in manifest order", where)
    for encrypted, (contest_index, contest) in zip(contests, expected, strict=True):
        here = f"{where} contest {contest_index}"
        if len(encrypted.selections) != len(contest.selections):
            raise InvalidBallot(f"expected {len(contest.selections)} selections, got "
                                f"{len(encrypted.selections)}", here)
        for selection_index, selection in enumerate(encrypted.selections):
            there = f"{here} selection {selection_index}"
            if selection.ciphertext.alpha.is_one():
                raise InvalidBallot("α = 1 (a zero nonce) is refused", there)
            try:
                verify_range(selection.proof, selection.ciphertext, key, 1,
                             binding.selection(contest_index, selection_index), fast=fast)
            except InvalidProof as err:
                raise err.at(there) from None
        try:
            verify_range(encrypted.proof, encrypted.total(), key, contest.limit,
                         binding.contest(contest_index), fast=fast)
        except InvalidProof as err:
            raise err.at(here) from None


def _simple_error(context: ElectionContext, ballot: EncryptedBallot) -> PaperchainError | None:
    try:
        _verify_simple(context, ballot)
    except PaperchainError as err:
        return err
    return None


# --- the batch path -------------------------------------------------------------------
#
# A ballot is seen as a ``_BallotView``: its header and, per contest, the bare numbers of
# every selection (α, β, branches) and of the contest proof. Views come from decoded
# ``EncryptedBallot``s (elements already checked: ``trusted``) or from the JSON form read
# with membership deferred (``RawBallot``). ``_batch_flags`` runs every exact check of the
# simple path (style, shape, α ≠ 1, branch counts, Fiat–Shamir hashes, tracking code) and
# then ``e2e.batch`` over all proofs of all ballots at once; it returns which ballots
# fail. It never produces an error message: the simple path does that for the flagged
# ballots, so the two paths cannot word (or place) a failure differently.

_NumBranch = tuple[mpz, mpz, int, int]  # (a_j, b_j, c_j, v_j)
_LOWER_HEX = re.compile(r"[0-9a-f]*")


ContestsView = tuple[tuple[int, tuple[tuple[mpz, mpz, tuple[_NumBranch, ...]], ...],
                            tuple[_NumBranch, ...]], ...]
"""Contests as bare numbers: (index, ((α, β, branches), ...), contest branches) each, a
branch being (a_j, b_j, c_j, v_j)."""


@dataclass(frozen=True, slots=True)
class _BallotView:
    device_id: str
    sequence: int
    style_id: str
    previous_code: bytes
    tracking_code: bytes
    contests: ContestsView


def _view(ballot: EncryptedBallot) -> _BallotView:
    def branches(proof: RangeProof) -> tuple[_NumBranch, ...]:
        return tuple((b.commitment_g.value, b.commitment_k.value, int(b.challenge.value),
                      int(b.response.value)) for b in proof.branches)

    return _BallotView(
        ballot.device_id, ballot.sequence, ballot.style_id, ballot.previous_code,
        ballot.tracking_code,
        tuple((c.index, tuple((s.ciphertext.alpha.value, s.ciphertext.beta.value,
                               branches(s.proof)) for s in c.selections), branches(c.proof))
              for c in ballot.contests))


def _batch_flags(context: ElectionContext, views: Sequence[_BallotView], *, trusted: bool
                 ) -> list[bool]:
    """Which ballots fail any check (True = fails); see the comment above."""
    return [where is not None for where in _batch_failures(context, views, trusted=trusted)]


def _batch_failures(context: ElectionContext, views: Sequence[_BallotView], *, trusted: bool,
                    locate: bool = False) -> list[str | None]:
    """Per ballot None, or where it fails: "ballot" (style, shape, tracking code),
    "contest i", "contest i selection j" — the contest and selection located by the
    exact checks, or (``locate``) by bisection down to the claim (``e2e.batch``)."""
    verifier = BatchVerifier(context.group, context.joint_key.value, trusted_elements=trusted)
    return _failures(verifier, [_ballot_units(context, view, verifier) for view in views],
                     [[index for index, _, _ in view.contests] for view in views], locate)


def batch_contest_failures(context: ElectionContext,
                           items: Sequence[tuple[str, ContestsView, ProofBinding]], *,
                           locate: bool = False) -> list[str | None]:
    """The batch path for anything made of contests as a ballot is (encrypted CVRs,
    ``e2e.cvr``): per item (style ID, contests as bare numbers decoded with membership
    deferred, proof binding) None, or where it fails — "style" (style, contests),
    "contest i", "contest i selection j" — with every exact check of
    ``verify_contests`` and the proofs of all items checked as one batch, membership
    included (``e2e.batch``); failing units are named by bisection."""
    verifier = BatchVerifier(context.group, context.joint_key.value, trusted_elements=False)
    units = []
    for style_id, contests, binding in items:
        found = _contest_units(context, style_id, contests, binding, verifier)
        units.append(found if isinstance(found, str) else found[0])
    return _failures(verifier, units, [[index for index, _, _ in c] for _, c, _ in items],
                     locate, whole="style")


def _failures(verifier: BatchVerifier, found: Sequence[list[list[RangeClaim]] | str],
              contests: Sequence[Sequence[int]], locate: bool, whole: str = "ballot"
              ) -> list[str | None]:
    """Per item the exact checks' verdict (``found``: its units, or where it fails), then
    one batch over every unit of every item, bisected to name the failing ones."""
    failures: list[str | None] = [None] * len(found)
    units: list[list[RangeClaim]] = []
    owners: list[tuple[int, int]] = []
    for position, item_units in enumerate(found):
        if isinstance(item_units, str):
            failures[position] = whole if item_units == "ballot" else item_units
        else:
            units.extend(item_units)
            owners.extend((position, contest) for contest in contests[position])
    for unit in verifier.failing_units(units, screened=True):
        position, contest = owners[unit]
        if failures[position] is not None:
            continue
        failures[position] = f"contest {contest}"
        if locate:
            claim = verifier.first_failing_claim(units[unit])
            if claim is not None and claim < len(units[unit]) - 1:
                failures[position] = f"contest {contest} selection {claim}"
    return failures


def _ballot_units(context: ElectionContext, view: _BallotView, verifier: BatchVerifier
                  ) -> list[list[RangeClaim]] | str:
    """The ballot's claims, one unit per contest (its selections' claims, then the
    contest's), or where an exact check fails — in the simple path's order."""
    extended = context.extended_base_hash
    found = _contest_units(context, view.style_id, view.contests,
                           ballot_binding(extended, view.device_id, view.sequence), verifier)
    if isinstance(found, str):
        return found
    units, codes = found
    code = hash_fields(Tag.TRACKING_CODE, extended, view.previous_code, view.device_id,
                       view.style_id, encode_nested(codes))
    if not constant_time_equal(code, view.tracking_code):
        return "ballot"
    return units


def _contest_units(context: ElectionContext, style_id: str, contests: ContestsView,
                   binding: ProofBinding, verifier: BatchVerifier
                   ) -> tuple[list[list[RangeClaim]], list[list[list[bytes]]]] | str:
    """The claims of contests under ``binding``, one unit per contest (its selections'
    claims, then the contest's), and each selection's (α, β) bytes; or where an exact
    check of ``verify_contests`` fails ("ballot" for the style), in its order."""
    group, manifest = context.group, context.manifest
    p, p_bytes = group.p, group.p_bytes
    key_bytes = context.joint_key.to_bytes()
    try:
        style = manifest.style(style_id)
    except (ManifestError, UsageError):
        return "ballot"
    expected = manifest.contests_of_style(style.id)
    if [c[0] for c in contests] != [i for i, _ in expected]:
        return "ballot"
    units = []
    codes = []
    for (contest_index, selections, contest_branches), (_, contest) in zip(
            contests, expected, strict=True):
        if len(selections) != len(contest.selections):
            return f"contest {contest_index}"
        unit = []
        alpha_sum, beta_sum = mpz(1), mpz(1)
        row = []
        for selection_index, (alpha, beta, branches) in enumerate(selections):
            if alpha == 1:
                return f"contest {contest_index} selection {selection_index}"
            alpha_bytes = int(alpha).to_bytes(p_bytes, "big")
            beta_bytes = int(beta).to_bytes(p_bytes, "big")
            row.append([alpha_bytes, beta_bytes])
            claim = _claim(group, binding.selection(contest_index, selection_index),
                           key_bytes, alpha, beta, alpha_bytes, beta_bytes, 1, branches,
                           members=(alpha, beta))
            if claim is None or verifier.screen(claim) is not None:
                return f"contest {contest_index} selection {selection_index}"
            unit.append(claim)
            alpha_sum = alpha_sum * alpha % p
            beta_sum = beta_sum * beta % p
        codes.append(row)
        claim = _claim(group, binding.contest(contest_index),
                       key_bytes, alpha_sum, beta_sum, int(alpha_sum).to_bytes(p_bytes, "big"),
                       int(beta_sum).to_bytes(p_bytes, "big"), contest.limit, contest_branches,
                       members=(), composed_of=tuple(range(-len(unit), 0)))
        if claim is None or verifier.screen(claim) is not None:
            return f"contest {contest_index}"
        unit.append(claim)
        units.append(unit)
    return units, codes


def _claim(group: GroupParameters, context: ProofContext, key_bytes: bytes, alpha: mpz,
           beta: mpz, alpha_bytes: bytes, beta_bytes: bytes, limit: int,
           branches: Sequence[_NumBranch], *, members: tuple[mpz, ...],
           composed_of: tuple[int, ...] = ()) -> RangeClaim | None:
    """Step 0 of ``e2e.batch`` for one proof: branch count and Fiat–Shamir hash; the
    claim, or None if either fails. The hash preimage is the simple path's
    (``e2e.proofs``), the elements given as their fixed-width bytes."""
    if len(branches) != limit + 1:
        return None
    p_bytes = group.p_bytes
    expected = hash_to_exponent(
        group, context.tag, *context.fields, limit, key_bytes, alpha_bytes, beta_bytes,
        encode_nested([[int(a).to_bytes(p_bytes, "big"), int(b).to_bytes(p_bytes, "big")]
                       for a, b, _, _ in branches]))
    if sum(c for _, _, c, _ in branches) % int(group.q) != expected.value:
        return None
    return RangeClaim(alpha, beta, limit, tuple(a for a, _, _, _ in branches),
                      tuple(b for _, b, _, _ in branches), tuple(c for _, _, c, _ in branches),
                      tuple(v for _, _, _, v in branches), members, composed_of)


# --- the JSON form with membership deferred ----------------------------------------------


@dataclass(frozen=True, slots=True)
class RawBallot:
    """A ballot's JSON form decoded with every check of ``EncryptedBallot.from_json`` but
    subgroup membership (canonical encodings, 0 < x < p, 0 <= e < q, structure, no
    unknown keys). It is not an ``EncryptedBallot``: it becomes one only through
    ``verify_raw_ballots``, which establishes membership with the proofs (``e2e.batch``).
    """

    session: str
    view: _BallotView


def read_raw_ballot(obj: ObjectReader, group: GroupParameters) -> RawBallot:
    """Decode like ``EncryptedBallot.from_json`` (same reader, same order of checks) but
    leave x^q = 1 to the batch; the caller calls ``obj.done()`` as it would there."""
    element, exponent = raw_decoders(group)
    header, contests = _read_ballot(obj, element, exponent)
    return _raw(header, contests)


def raw_decoders(group: GroupParameters
                 ) -> tuple[Callable[[object, str], mpz], Callable[[object, str], int]]:
    """The JSON element and exponent decoders of the batch path: every check of
    ``group.element_from_hex`` / ``exponent_from_hex`` (canonical hex, 0 < x < p,
    0 <= e < q) but subgroup membership, which the batch establishes (``e2e.batch``)."""
    p, q = group.p, group.q
    p_width, q_width = 2 * group.p_bytes, 2 * group.q_bytes

    # The same strings as ``group.element_from_hex`` accepts (exactly ``width`` lowercase
    # hex digits), tested by a compiled pattern: ``str.strip`` with a character set costs
    # ≈ 15 µs per element, a noticeable share of a selection's verification.
    def element(text: object, where: str) -> mpz:
        if isinstance(text, str) and len(text) == p_width and _LOWER_HEX.fullmatch(text):
            x = mpz(text, 16)
        else:
            x = _parse_hex(text, p_width, where, InvalidElement)  # raises, with its words
        if not 0 < x < p:
            raise InvalidElement("not in range 0 < x < p", where)
        return x

    def exponent(text: object, where: str) -> int:
        if isinstance(text, str) and len(text) == q_width and _LOWER_HEX.fullmatch(text):
            e = mpz(text, 16)
        else:
            e = _parse_hex(text, q_width, where, InvalidExponent)
        if not 0 <= e < q:
            raise InvalidExponent("not in range 0 <= e < q", where)
        return int(e)

    return element, exponent


def read_raw_compact(reader: Reader, group: GroupParameters, where: str) -> RawBallot:
    """``read_raw_ballot`` for the compact form (``EncryptedBallot.from_compact``'s checks
    but membership); the caller calls ``reader.end()``."""
    p, q = group.p, int(group.q)

    def element(data: bytes, place: str) -> mpz:
        x = mpz(int.from_bytes(data, "big"))
        if not 0 < x < p:
            raise InvalidElement("not in range 0 < x < p", place)
        return x

    def exponent(data: bytes, place: str) -> int:
        e = int.from_bytes(data, "big")
        if not 0 <= e < q:
            raise InvalidExponent("not in range 0 <= e < q", place)
        return e

    header, contests = _read_compact(reader, group, where, element, exponent)
    return _raw(header, contests)


def _raw(header: _Header, contests: list[tuple[int, list[tuple[mpz, mpz, _Branches[mpz, int]]],
                                               _Branches[mpz, int]]]) -> RawBallot:
    device_id, session, sequence, style_id, previous_code, code = header
    return RawBallot(session, _BallotView(
        device_id, sequence, style_id, previous_code, code,
        tuple((index, tuple((alpha, beta, tuple(branches)) for alpha, beta, branches in selections),
               tuple(branches)) for index, selections, branches in contests)))


def verify_raw_ballots(context: ElectionContext, raws: Sequence[RawBallot]
                       ) -> list[EncryptedBallot | None]:
    """Verify decoded ballots as one batch (membership included): per ballot the verified
    ``EncryptedBallot``, or None when it fails — the caller then runs the simple path
    (checked decoding, ``verify_ballot(fast=False)``) for the failure and its words."""
    flags = _batch_flags(context, [raw.view for raw in raws], trusted=False)
    return [None if bad else _trusted_ballot(context.group, raw)
            for raw, bad in zip(raws, flags, strict=True)]


def locate_raw_failures(context: ElectionContext, raws: Sequence[RawBallot]
                        ) -> list[str | None]:
    """Where each decoded ballot fails, found by the batch path alone (exact checks, then
    bisection with fresh randomness down to the claim): None, "ballot", "contest i" or
    "contest i selection j". For diagnostics and for testing the two paths agree."""
    return _batch_failures(context, [raw.view for raw in raws], trusted=False, locate=True)


def _trusted_ballot(group: GroupParameters, raw: RawBallot) -> EncryptedBallot:
    """Build the ballot from numbers the batch has just shown to be in the subgroup."""
    def proof(branches: Sequence[_NumBranch]) -> RangeProof:
        return RangeProof(tuple(
            RangeBranch(_trusted_p(a, group), _trusted_p(b, group), _trusted_q(mpz(c), group),
                        _trusted_q(mpz(v), group)) for a, b, c, v in branches))

    view = raw.view
    return EncryptedBallot(
        view.device_id, raw.session, view.sequence, view.style_id, view.previous_code,
        view.tracking_code, tuple(
            EncryptedContest(index, tuple(
                EncryptedSelection(Ciphertext(_trusted_p(alpha, group), _trusted_p(beta, group)),
                                   proof(branches)) for alpha, beta, branches in selections),
                proof(branches))
            for index, selections, branches in view.contests))


# --- Benaloh challenge -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BallotOpening:
    """What a challenged ballot reveals: its master nonce and its plaintext."""

    master_nonce: bytes
    marked: MarkedBallot

    def to_json(self) -> dict[str, object]:
        return {"version": 1, "master_nonce": self.master_nonce.hex(),
                "votes": [{"index": i, "votes": list(v)} for i, v in self.marked.votes]}

    @classmethod
    def from_json(cls, obj: ObjectReader, style_id: str) -> BallotOpening:
        obj.version([1])
        nonce = obj.hex_bytes("master_nonce", 32)

        def contest(reader: ObjectReader) -> tuple[int, tuple[int, ...]]:
            votes = reader.items("votes", 1000)
            if any(v not in (0, 1) or isinstance(v, bool) for v in votes):
                raise EncodingError("votes are 0 or 1", reader.path("votes"))
            return reader.integer("index", 0, 10_000), tuple(votes)

        return cls(nonce, MarkedBallot(style_id, tuple(obj.mapped("votes", contest, 1000))))


def verify_opening(context: ElectionContext, ballot: EncryptedBallot, opening: BallotOpening
                   ) -> None:
    """Re-encrypt the published plaintext with the published nonce and compare (Benaloh)."""
    where = f"{ballot.label} (challenged)"
    group, key, extended = context.group, context.joint_key, context.extended_base_hash
    if [i for i, _ in opening.marked.votes] != [c.index for c in ballot.contests]:
        raise InvalidBallot("the opening's contests differ from the ballot's", where)
    for (contest_index, votes), contest in zip(opening.marked.votes, ballot.contests, strict=True):
        limit = context.manifest.contests[contest_index].limit
        if len(votes) != len(contest.selections):
            raise InvalidBallot("the opening's selections differ from the ballot's",
                                f"{where} contest {contest_index}")
        if sum(votes) > limit:
            raise InvalidBallot(f"the opening shows {sum(votes)} votes, more than {limit}",
                                f"{where} contest {contest_index}")
        for selection_index, (vote, selection) in enumerate(
                zip(votes, contest.selections, strict=True)):
            nonce = selection_nonce(group, extended, opening.master_nonce, contest_index,
                                    selection_index)
            # 8-bit windows: a verifier re-encrypts few ballots, and its workers should not
            # each hold the kiosk's 47 MiB tables for K (e2e.fixedbase).
            if encrypt(vote, nonce, key, window=8) != selection.ciphertext:
                raise InvalidBallot("re-encryption differs from the ballot",
                                    f"{where} contest {contest_index} selection {selection_index}")

