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

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext, encrypt
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import EncodingError, InvalidBallot, InvalidProof, ManifestError, UsageError
from e2e.group import ElementModQ, GroupParameters, constant_time_equal
from e2e.hashing import Tag, hash_fields
from e2e.manifest import Manifest
from e2e.nonces import DerivedNonces
from e2e.proofs import ProofContext, RangeBranch, RangeProof, prove_range, verify_range

__all__ = [
    "BallotOpening",
    "EncryptedBallot",
    "EncryptedContest",
    "EncryptedSelection",
    "MarkedBallot",
    "PendingBallot",
    "chain_seed",
    "contest_context",
    "encrypt_ballot",
    "mark_ballot",
    "selection_context",
    "selection_nonce",
    "tracking_code",
    "verify_ballot",
    "verify_opening",
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
        obj.version([1])

        def selection(reader: ObjectReader) -> EncryptedSelection:
            ciphertext = Ciphertext(reader.element("alpha", group), reader.element("beta", group))
            return EncryptedSelection(ciphertext, _proof_from(reader, "proof", group))

        def contest(reader: ObjectReader) -> EncryptedContest:
            return EncryptedContest(reader.integer("index", 0, 10_000),
                                    tuple(reader.mapped("selections", selection, 1000)),
                                    _proof_from(reader, "proof", group))

        ballot = cls(
            device_id=obj.string("device_id", MAX_ID), session=obj.string("session", MAX_ID),
            sequence=obj.integer("sequence", 1), style_id=obj.string("style_id", MAX_ID),
            previous_code=obj.hex_bytes("previous_code", 32),
            tracking_code=obj.hex_bytes("tracking_code", 32),
            contests=tuple(obj.mapped("contests", contest, 1000)),
        )
        return ballot

    @classmethod
    def from_bytes(cls, data: bytes, group: GroupParameters, where: str = "ballot"
                   ) -> EncryptedBallot:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        ballot = cls.from_json(obj, group)
        obj.done()
        return ballot


def _proof_json(proof: RangeProof) -> list[list[str]]:
    return [[b.commitment_g.to_hex(), b.commitment_k.to_hex(), b.challenge.to_hex(),
             b.response.to_hex()] for b in proof.branches]


def _proof_from(reader: ObjectReader, key: str, group: GroupParameters) -> RangeProof:
    branches = []
    for j, item in enumerate(reader.items(key, 1001)):
        where = f"{reader.path(key)}[{j}]"
        if not isinstance(item, list) or len(item) != 4:
            raise EncodingError("a proof branch is [a, b, challenge, response]", where)
        branches.append(RangeBranch(
            group.element_from_hex(item[0], f"{where}.a"),
            group.element_from_hex(item[1], f"{where}.b"),
            group.exponent_from_hex(item[2], f"{where}.challenge"),
            group.exponent_from_hex(item[3], f"{where}.response"),
        ))
    return RangeProof(tuple(branches))


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
        [[[c.alpha, c.beta] for c in contest] for contest in ciphertexts],
    )


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
    proof_seed: bytes | None = None,
) -> PendingBallot:
    """Encrypt ``marked`` with proofs; ``master_nonce``/``proof_seed`` only for test vectors."""
    group, key, extended = context.group, context.joint_key, context.extended_base_hash
    master_nonce = master_nonce if master_nonce is not None else secrets.token_bytes(32)
    proof_seed = proof_seed if proof_seed is not None else secrets.token_bytes(32)
    if len(master_nonce) != 32 or len(proof_seed) != 32 or len(previous_code) != 32:
        raise UsageError("nonces, seeds and codes are 32 bytes")
    manifest = context.manifest
    contests = []
    for contest_index, votes in marked.votes:
        limit = manifest.contests[contest_index].limit
        selections = []
        contest_nonce = group.zero_exponent()
        for selection_index, vote in enumerate(votes):
            nonce = selection_nonce(group, extended, master_nonce, contest_index, selection_index)
            contest_nonce = contest_nonce + nonce
            ciphertext = encrypt(vote, nonce, key)
            proof = prove_range(
                ciphertext, vote, nonce, key, 1,
                selection_context(extended, device_id, sequence, contest_index, selection_index),
                DerivedNonces(proof_seed, contest_index, selection_index),
            )
            selections.append(EncryptedSelection(ciphertext, proof))
        total = sum(votes)
        draft = EncryptedContest(contest_index, tuple(selections), RangeProof(()))
        contest_proof = prove_range(
            draft.total(), total, contest_nonce, key, limit,
            contest_context(extended, device_id, sequence, contest_index),
            DerivedNonces(proof_seed, contest_index, "contest"),
        )
        contests.append(EncryptedContest(contest_index, tuple(selections), contest_proof))
    code = tracking_code(extended, previous_code, device_id, marked.style_id,
                         [[s.ciphertext for s in c.selections] for c in contests])
    ballot = EncryptedBallot(device_id, session, sequence, marked.style_id, previous_code, code,
                             tuple(contests))
    return PendingBallot(ballot, marked, master_nonce)


# --- verification ------------------------------------------------------------------------


def verify_ballot(context: ElectionContext, ballot: EncryptedBallot) -> None:
    """Check a ballot on its own: style, shape, α ≠ 1, every proof, its tracking code.

    The chain link (previous code), the device's registration and sequence, and α
    uniqueness across ballots are checked by the ledger and the verifier, which see
    more than one ballot. Raises ``InvalidBallot`` or ``InvalidProof`` naming the place.
    """
    where = ballot.label
    manifest, key, extended = context.manifest, context.joint_key, context.extended_base_hash
    try:
        style = manifest.style(ballot.style_id)
    except ManifestError:
        raise InvalidBallot(f"unknown ballot style {ballot.style_id!r}", where) from None
    expected = manifest.contests_of_style(style.id)
    if [c.index for c in ballot.contests] != [i for i, _ in expected]:
        raise InvalidBallot("contests differ from the style's contests in manifest order", where)
    for encrypted, (contest_index, contest) in zip(ballot.contests, expected, strict=True):
        here = f"{where} contest {contest_index}"
        if len(encrypted.selections) != len(contest.selections):
            raise InvalidBallot(f"expected {len(contest.selections)} selections, got "
                                f"{len(encrypted.selections)}", here)
        for selection_index, selection in enumerate(encrypted.selections):
            there = f"{here} selection {selection_index}"
            if selection.ciphertext.alpha.is_one():
                raise InvalidBallot("α = 1 (a zero nonce) is refused", there)
            try:
                verify_range(selection.proof, selection.ciphertext, key, 1, selection_context(
                    extended, ballot.device_id, ballot.sequence, contest_index, selection_index))
            except InvalidProof as err:
                raise err.at(there) from None
        try:
            verify_range(encrypted.proof, encrypted.total(), key, contest.limit,
                         contest_context(extended, ballot.device_id, ballot.sequence,
                                         contest_index))
        except InvalidProof as err:
            raise err.at(here) from None
    code = tracking_code(extended, ballot.previous_code, ballot.device_id, ballot.style_id,
                         ballot.ciphertexts())
    if not constant_time_equal(code, ballot.tracking_code):
        raise InvalidBallot("tracking code is not the hash of the ballot", where)


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
            if encrypt(vote, nonce, key) != selection.ciphertext:
                raise InvalidBallot("re-encryption differs from the ballot",
                                    f"{where} contest {contest_index} selection {selection_index}")

