"""Encrypted cast-vote records (CVRs): the kiosk's side.

docs/spec.md §19.1. When a voter casts, the kiosk also encrypts the same choices
as a CVR keyed by the ballot ID printed on the paper card (``e2e`` sees it as 16 bytes;
``paper.ids`` prints it). The CVR exists so that a risk-limiting audit can compare one
sampled card with one encrypted record without ever linking the card to the cast
ballot, its tracking code, or its place in cast order:

* fresh secrets: its own 32-byte master nonce ξ' (never the ballot's) gives
  r'_ij = H(cvr-selection-nonce; H_E, ξ', i, j) mod q, and proofs use their own seed;
* its proofs (a 0/1 proof per selection, a 0..L proof per contest — the ballot's own
  ``encrypt_contest``/``verify_contests``) are bound to (cvr-selection-proof /
  cvr-contest-proof; H_E, device ID, ballot ID, i [, j]): never to a sequence number,
  a tracking code, a ledger position or a time;
* the kiosk keeps CVRs until it publishes them in a ``CvrStore``, which holds them
  sorted by ballot ID (random), so neither memory nor its file keeps cast order;
* after the results the device publishes them sorted by ballot ID in ``cvrs`` entries
  of at most ``CHUNK`` CVRs, then a ``cvr-commitment``: the count, the number of
  chunks, the count per ballot style and the chained digest
  D_0 = H(cvr-chain; H_E, device ID), D_k = H(cvr-chain; D_{k-1}, H(cvr-digest; CVR_k)).

Payloads:

* ``cvrs``: ``{"version": 1, "device_id", "chunk": k (from 0), "cvrs": [CVR, ...]}``,
  a CVR being ``{"ballot_id": hex16, "style_id", "contests": [contest as in a ballot]}``;
* ``cvr-commitment``: ``{"version": 1, "device_id", "count", "chunks",
  "styles": [{"style_id", "count"}] (sorted by style), "digest": hex32}``.

The trustees' proof that a device's CVRs encrypt the same totals as its cast ballots
is ``tally.cvr`` (``e2e`` never imports ``tally``).
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gmpy2 import mpz

from e2e.ballot import (
    MAX_ID,
    ContestsView,
    EncryptedContest,
    EncryptedSelection,
    MarkedBallot,
    ProofBinding,
    batch_contest_failures,
    encrypt_contest,
    raw_decoders,
    read_contests,
    verify_contests,
)
from e2e.batch import all_members
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json, parse_json_object
from e2e.errors import (
    EncodingError,
    InvalidBallot,
    InvalidElement,
    InvalidExponent,
    PaperchainError,
    StateError,
    UsageError,
)
from e2e.group import ElementModP, ElementModQ, GroupParameters, _trusted_p, _trusted_q
from e2e.hashing import Tag, hash_fields
from e2e.keystore import atomic_write
from e2e.ledger.client import Writer
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.proofs import RangeBranch, RangeProof

__all__ = [
    "BALLOT_ID_BYTES",
    "CHUNK",
    "CvrChunk",
    "CvrCommitment",
    "CvrStore",
    "EncryptedCvr",
    "RawCvr",
    "admit_cvr_chunk",
    "chain_start",
    "ciphertexts_digest",
    "commitment_of",
    "cvr_binding",
    "cvr_selection_nonce",
    "encrypt_cvr",
    "locate_raw_cvr_failures",
    "publish_cvrs",
    "read_raw_cvr",
    "verify_cvr",
    "verify_cvr_chunk",
    "verify_raw_cvrs",
]

BALLOT_ID_BYTES = 16
CHUNK = 40
"""CVRs per ``cvrs`` entry: on the standard group a CVR of the demo manifest is about
170 kB with its proofs, so 40 keep an entry near 7 MB, under the 16 MB payload limit."""


# --- the record ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedCvr:
    """One card's encrypted choices, keyed by its ballot ID (no sequence, code or time)."""

    ballot_id: bytes
    style_id: str
    contests: tuple[EncryptedContest, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ballot_id, bytes) or len(self.ballot_id) != BALLOT_ID_BYTES:
            raise EncodingError(f"a ballot ID is exactly {BALLOT_ID_BYTES} bytes")

    @property
    def label(self) -> str:
        return f"CVR {self.ballot_id.hex()}"

    def ciphertext(self, contest: int, selection: int) -> Ciphertext | None:
        """The selection's ciphertext, or None if the CVR's style lacks the contest."""
        for encrypted in self.contests:
            if encrypted.index == contest:
                return encrypted.selections[selection].ciphertext
        return None

    def contest_indices(self) -> tuple[int, ...]:
        return tuple(c.index for c in self.contests)

    def ciphertexts(self) -> tuple[tuple[int, tuple[Ciphertext, ...]], ...]:
        """(contest index, the selections' ciphertexts) per contest."""
        return tuple((c.index, tuple(s.ciphertext for s in c.selections)) for c in self.contests)

    def ciphertexts_digest(self) -> bytes:
        return ciphertexts_digest(self.ballot_id, self.style_id, self.ciphertexts())

    def to_json(self) -> dict[str, object]:
        return {
            "ballot_id": self.ballot_id.hex(), "style_id": self.style_id,
            "contests": [
                {"index": c.index, "proof": _proof_json(c.proof),
                 "selections": [{"alpha": s.ciphertext.alpha.to_hex(),
                                 "beta": s.ciphertext.beta.to_hex(),
                                 "proof": _proof_json(s.proof)} for s in c.selections]}
                for c in self.contests],
        }

    @classmethod
    def from_json(cls, obj: ObjectReader, group: GroupParameters, *, trusted: bool = False
                  ) -> EncryptedCvr:
        """Decode with every element checked (0 < x < p, x^q = 1) as it is built; with
        ``trusted``, only the encoding is checked: for bytes this process verified before
        (``e2e.verdicts``), never for bytes seen for the first time."""
        element = _trusted_element(group) if trusted else _checked(group.element_from_hex)
        ballot_id, style_id, contests = _read_cvr(obj, element,
                                                  _checked(group.exponent_from_hex))
        return cls(ballot_id, style_id, tuple(
            EncryptedContest(index, tuple(
                EncryptedSelection(Ciphertext(alpha, beta), _range_proof(branches))
                for alpha, beta, branches in selections), _range_proof(branches))
            for index, selections, branches in contests))

    def digest(self) -> bytes:
        """H(cvr-digest; ballot ID, style, per contest [index, selections, proof]) — every
        element and proof value, as abstract values (never the JSON bytes)."""

        def proof(p: RangeProof) -> list[list[object]]:
            return [[b.commitment_g, b.commitment_k, b.challenge, b.response] for b in p.branches]

        return hash_fields(Tag.CVR_DIGEST, self.ballot_id, self.style_id, [
            [c.index, [[s.ciphertext.alpha, s.ciphertext.beta, proof(s.proof)]
                       for s in c.selections], proof(c.proof)]
            for c in self.contests])


def ciphertexts_digest(ballot_id: bytes, style_id: str,
                       contests: Sequence[tuple[int, Sequence[Ciphertext]]]) -> bytes:
    """H(cvr-ciphertexts; ballot ID, style, [[index, [[α, β], ...]], ...]): what a verifier
    keeps of each CVR, to recognise its ciphertexts when the audit decrypts them."""
    return hash_fields(Tag.CVR_CIPHERTEXTS, ballot_id, style_id,
                       [[index, [[c.alpha, c.beta] for c in row]] for index, row in contests])


def _proof_json(proof: RangeProof) -> list[list[str]]:
    return [[b.commitment_g.to_hex(), b.commitment_k.to_hex(), b.challenge.to_hex(),
             b.response.to_hex()] for b in proof.branches]


E = TypeVar("E")
T = TypeVar("T")
X = TypeVar("X")


def _checked(decode: Callable[[object, str], T]) -> Callable[[object, str], T]:
    """``decode`` with its range and subgroup refusals (which name no place) located."""
    def located(text: object, where: str) -> T:
        try:
            return decode(text, where)
        except (InvalidElement, InvalidExponent) as err:
            raise (err if err.where else err.at(where)) from None

    return located


def _trusted_element(group: GroupParameters) -> Callable[[object, str], ElementModP]:
    width = 2 * group.p_bytes

    def element(text: object, where: str) -> ElementModP:
        if (not isinstance(text, str) or len(text) != width
                or text.strip("0123456789abcdef")):
            raise EncodingError(f"expected {width} lowercase hex digits", where)
        return _trusted_p(mpz(text, 16), group)

    return element


_Branches = list[tuple[E, E, X, X]]


def _read_cvr(obj: ObjectReader, element: Callable[[object, str], E],
              exponent: Callable[[object, str], X]
              ) -> tuple[bytes, str, list[tuple[int, list[tuple[E, E, _Branches[E, X]]],
                                                _Branches[E, X]]]]:
    """A CVR's JSON form read with the given element and exponent decoders: one reader for
    the checked path (``EncryptedCvr.from_json``) and the batch path (``read_raw_cvr``,
    membership deferred to ``e2e.batch``), so both accept exactly the same structure in
    the same order of checks."""

    return (obj.hex_bytes("ballot_id", BALLOT_ID_BYTES), obj.string("style_id", MAX_ID),
            read_contests(obj, element, exponent))


def _range_proof(branches: Sequence[tuple[ElementModP, ElementModP, ElementModQ, ElementModQ]]
                 ) -> RangeProof:
    return RangeProof(tuple(RangeBranch(*branch) for branch in branches))


# --- encryption and verification -------------------------------------------------------------


def cvr_binding(extended_hash: bytes, device_id: str, ballot_id: bytes) -> ProofBinding:
    """(cvr-selection-proof / cvr-contest-proof; H_E, device ID, ballot ID, ...)."""
    return ProofBinding(Tag.CVR_SELECTION_PROOF, Tag.CVR_CONTEST_PROOF,
                        (extended_hash, device_id, ballot_id))


def cvr_selection_nonce(group: GroupParameters, extended_hash: bytes, master_nonce: bytes,
                        contest: int, selection: int) -> ElementModQ:
    """r'_ij = H(cvr-selection-nonce; H_E, ξ', i, j) mod q — its own tag, its own ξ'."""
    return group.exponent_from_hash(
        hash_fields(Tag.CVR_SELECTION_NONCE, extended_hash, master_nonce, contest, selection))


def encrypt_cvr(context: ElectionContext, marked: MarkedBallot, *, device_id: str,
                ballot_id: bytes, master_nonce: bytes | None = None,
                proof_seed: bytes | None = None) -> EncryptedCvr:
    """The CVR of ``marked`` for the card ``ballot_id``; the secrets are fresh and dropped
    on return (``master_nonce``/``proof_seed`` are parameters for test vectors only)."""
    if not isinstance(ballot_id, bytes) or len(ballot_id) != BALLOT_ID_BYTES:
        raise UsageError(f"a paper ballot ID is {BALLOT_ID_BYTES} bytes")
    master_nonce = master_nonce if master_nonce is not None else secrets.token_bytes(32)
    proof_seed = proof_seed if proof_seed is not None else secrets.token_bytes(32)
    if len(master_nonce) != 32 or len(proof_seed) != 32:
        raise UsageError("nonces and seeds are 32 bytes")
    group, extended = context.group, context.extended_base_hash
    binding = cvr_binding(extended, device_id, ballot_id)
    contests = tuple(
        encrypt_contest(context, contest_index, votes,
                        [cvr_selection_nonce(group, extended, master_nonce, contest_index, j)
                         for j in range(len(votes))], binding, proof_seed)
        for contest_index, votes in marked.votes)
    return EncryptedCvr(ballot_id, marked.style_id, contests)


def verify_cvr(context: ElectionContext, device_id: str, cvr: EncryptedCvr) -> None:
    """Style, shape, α ≠ 1 and every proof of one CVR of ``device_id``; raises
    ``InvalidBallot`` or ``InvalidProof`` naming the place."""
    verify_contests(context, cvr.style_id, cvr.contests,
                    cvr_binding(context.extended_base_hash, device_id, cvr.ballot_id),
                    f"device {device_id} {cvr.label}", fast=True)


@dataclass(frozen=True, slots=True)
class RawCvr:
    """A CVR's JSON form decoded with every check of ``EncryptedCvr.from_json`` but subgroup
    membership. Not an ``EncryptedCvr``: it becomes one only through
    ``verify_raw_cvrs``, which establishes membership with the proofs (``e2e.batch``)."""

    ballot_id: bytes
    style_id: str
    contests: ContestsView


def read_raw_cvr(obj: ObjectReader, group: GroupParameters) -> RawCvr:
    """Decode like ``EncryptedCvr.from_json`` (same reader, same order of checks) but leave
    x^q = 1 to the batch; the caller calls ``obj.done()`` as it would there."""
    element, exponent = raw_decoders(group)
    ballot_id, style_id, contests = _read_cvr(obj, element, exponent)
    return RawCvr(ballot_id, style_id, tuple(
        (index, tuple((alpha, beta, tuple(branches)) for alpha, beta, branches in selections),
         tuple(branches)) for index, selections, branches in contests))


def _batch_items(context: ElectionContext, device_id: str, raws: Sequence[RawCvr]
                 ) -> list[tuple[str, ContestsView, ProofBinding]]:
    extended = context.extended_base_hash
    return [(raw.style_id, raw.contests, cvr_binding(extended, device_id, raw.ballot_id))
            for raw in raws]


def verify_raw_cvrs(context: ElectionContext, device_id: str, raws: Sequence[RawCvr]
                    ) -> list[EncryptedCvr | None]:
    """Verify decoded CVRs of ``device_id`` as one batch, membership included (Jacobi,
    batched x^q, one random linear combination of every proof's equations; ``e2e.batch``):
    per CVR the verified ``EncryptedCvr``, or None when it fails — the caller then runs
    the simple path (checked decoding, ``verify_cvr``) for the failure and its words."""
    failures = batch_contest_failures(context, _batch_items(context, device_id, raws))
    return [None if failure is not None else _trusted_cvr(context.group, raw)
            for raw, failure in zip(raws, failures, strict=True)]


def locate_raw_cvr_failures(context: ElectionContext, device_id: str, raws: Sequence[RawCvr]
                            ) -> list[str | None]:
    """Where each decoded CVR fails, found by the batch path alone (exact checks, then
    bisection with fresh randomness down to the claim): None, "style", "contest i" or
    "contest i selection j". For diagnostics and for testing that both paths agree."""
    return batch_contest_failures(context, _batch_items(context, device_id, raws), locate=True)


def _trusted_cvr(group: GroupParameters, raw: RawCvr) -> EncryptedCvr:
    """Build the CVR from numbers the batch has just shown to be in the subgroup."""
    def proof(branches: Sequence[tuple[mpz, mpz, int, int]]) -> RangeProof:
        return RangeProof(tuple(
            RangeBranch(_trusted_p(a, group), _trusted_p(b, group), _trusted_q(mpz(c), group),
                        _trusted_q(mpz(v), group)) for a, b, c, v in branches))

    return EncryptedCvr(raw.ballot_id, raw.style_id, tuple(
        EncryptedContest(index, tuple(
            EncryptedSelection(Ciphertext(_trusted_p(alpha, group), _trusted_p(beta, group)),
                               proof(branches)) for alpha, beta, branches in selections),
            proof(branches))
        for index, selections, branches in raw.contests))


# --- the kiosk's store -----------------------------------------------------------------------


class CvrStore:
    """A kiosk's CVRs until it publishes them: always sorted by ballot ID.

    Insertion order (cast order) is never kept: the list is kept sorted with ``bisect``,
    and with a ``path`` the whole sorted set is rewritten atomically after each add (a
    file appended to would keep cast order). A repeated ballot ID is refused.
    """

    __slots__ = ("_by_id", "_cvrs", "_path")

    def __init__(self, path: Path | None = None, group: GroupParameters | None = None) -> None:
        self._path = None if path is None else Path(path)
        self._cvrs: list[EncryptedCvr] = []
        self._by_id: list[bytes] = []
        if self._path is not None and self._path.exists():
            if group is None:
                raise UsageError("reading a CVR file needs the election's group")
            for cvr in _read_store(self._path, group):
                self._insert(cvr)

    def __len__(self) -> int:
        return len(self._cvrs)

    def __iter__(self) -> Iterator[EncryptedCvr]:
        return iter(tuple(self._cvrs))

    def __contains__(self, ballot_id: object) -> bool:
        return isinstance(ballot_id, bytes) and self._position(ballot_id) is not None

    def _position(self, ballot_id: bytes) -> int | None:
        at = bisect.bisect_left(self._by_id, ballot_id)
        return at if at < len(self._by_id) and self._by_id[at] == ballot_id else None

    def _insert(self, cvr: EncryptedCvr) -> None:
        if self._position(cvr.ballot_id) is not None:
            raise InvalidBallot("a CVR with this ballot ID is already stored", cvr.label)
        at = bisect.bisect_left(self._by_id, cvr.ballot_id)
        self._by_id.insert(at, cvr.ballot_id)
        self._cvrs.insert(at, cvr)

    def check_new(self, ballot_id: bytes) -> None:
        """Raise unless no stored CVR has this ballot ID (before the ballot is cast)."""
        if ballot_id in self:
            raise InvalidBallot("a CVR with this ballot ID is already stored: print a new card",
                                f"CVR {ballot_id.hex()}")

    def add(self, cvr: EncryptedCvr) -> None:
        self._insert(cvr)
        if self._path is not None:
            atomic_write(self._path, canonical_json(
                {"version": 1, "cvrs": [c.to_json() for c in self._cvrs]}))


def _read_store(path: Path, group: GroupParameters) -> list[EncryptedCvr]:
    where = str(path)
    obj = ObjectReader(parse_json_object(path.read_bytes(), where), where)
    obj.version([1])
    cvrs = obj.mapped("cvrs", lambda r: EncryptedCvr.from_json(r, group), 10_000_000)
    obj.done()
    return cvrs


# --- ledger payloads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CvrChunk:
    """Payload of a ``cvrs`` entry: the ``chunk``-th run of a device's CVRs by ballot ID."""

    device_id: str
    chunk: int
    cvrs: tuple[EncryptedCvr, ...]

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "device_id": self.device_id, "chunk": self.chunk,
                               "cvrs": [c.to_json() for c in self.cvrs]})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str, *,
                     trusted: bool = False) -> CvrChunk:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.string("device_id", MAX_ID), obj.integer("chunk", 0, 10_000_000),
                     tuple(obj.mapped("cvrs", lambda r: EncryptedCvr.from_json(
                         r, group, trusted=trusted), 100_000)))
        obj.done()
        return result


def _read_raw_chunk(group: GroupParameters, payload: bytes, where: str
                    ) -> tuple[str, int, list[RawCvr]]:
    """(device ID, chunk number, CVRs) of a ``cvrs`` payload decoded canonically with
    subgroup membership deferred (``read_raw_cvr``): the fast paths' common first step."""
    obj = ObjectReader(parse_canonical_json(payload, where), where)
    obj.version([1])
    device_id, number = obj.string("device_id", MAX_ID), obj.integer("chunk", 0, 10_000_000)
    raws = obj.mapped("cvrs", lambda r: read_raw_cvr(r, group), 100_000)
    obj.done()
    return device_id, number, raws


def admit_cvr_chunk(group: GroupParameters, payload: bytes, where: str
                    ) -> tuple[str, int, int]:
    """(device ID, chunk number, CVRs) of a ``cvrs`` payload that decodes canonically with
    every element in the subgroup — ``CvrChunk.from_payload``'s verdict, for the ledger's
    admission (which checks no proof). Membership is checked for all the chunk's elements
    at once (``e2e.batch.all_members``: Jacobi, then one batched x^q); anything refused
    sends the payload through the checked decoder, which raises naming the place."""
    try:
        device_id, number, raws = _read_raw_chunk(group, payload, where)
        elements: list[mpz] = []
        for raw in raws:
            for _, selections, contest_branches in raw.contests:
                for alpha, beta, branches in selections:
                    elements += (alpha, beta)
                    elements += (x for a, b, _, _ in branches for x in (a, b))
                elements += (x for a, b, _, _ in contest_branches for x in (a, b))
        if all_members(group, elements):
            return device_id, number, len(raws)
    except PaperchainError:
        pass
    chunk = CvrChunk.from_payload(payload, group, where)  # raises, naming the place
    return chunk.device_id, chunk.chunk, len(chunk.cvrs)


def verify_cvr_chunk(context: ElectionContext, payload: bytes, where: str) -> CvrChunk:
    """A ``cvrs`` payload decoded and every CVR of it verified (``verify_cvr``'s checks),
    or the first failure raised.

    The fast path decodes with membership deferred (``read_raw_cvr``) and checks all the
    chunk's CVRs as one batch (``verify_raw_cvrs``). Anything it refuses — a decoding
    error or a flagged CVR — sends the whole payload down the simple path (checked
    decoding of every element, then each CVR's proofs in order), which raises: the two
    paths refuse the same payloads, with the same error at the same place."""
    group = context.group
    try:
        device_id, number, raws = _read_raw_chunk(group, payload, where)
        cvrs = verify_raw_cvrs(context, device_id, raws)
    except PaperchainError:
        cvrs = [None]
    if all(cvr is not None for cvr in cvrs):
        return CvrChunk(device_id, number, tuple(c for c in cvrs if c is not None))
    chunk = CvrChunk.from_payload(payload, group, where)
    for cvr in chunk.cvrs:
        verify_cvr(context, chunk.device_id, cvr)
    return chunk  # the batch's 2^-126 error, never an honest chunk: the reference accepts


@dataclass(frozen=True, slots=True)
class CvrCommitment:
    """Payload of a ``cvr-commitment``: what the device's ``cvrs`` entries add up to."""

    device_id: str
    count: int
    chunks: int
    styles: tuple[tuple[str, int], ...]  # (style ID, CVRs of that style), sorted
    digest: bytes  # D_count of the module docstring

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "device_id": self.device_id, "count": self.count,
            "chunks": self.chunks, "digest": self.digest.hex(),
            "styles": [{"style_id": s, "count": n} for s, n in self.styles]})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> CvrCommitment:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        styles = obj.mapped("styles", lambda r: (r.string("style_id", MAX_ID),
                                                 r.integer("count")), 10_000)
        result = cls(obj.string("device_id", MAX_ID), obj.integer("count"),
                     obj.integer("chunks", 0, 10_000_000), tuple(styles),
                     obj.hex_bytes("digest", 32))
        obj.done()
        if list(result.styles) != sorted(result.styles) or len(
                {s for s, _ in result.styles}) != len(result.styles):
            raise EncodingError("styles must be listed once each, sorted", f"{where}.styles")
        return result


def chain_start(extended_hash: bytes, device_id: str) -> bytes:
    """D_0 = H(cvr-chain; H_E, device ID)."""
    return hash_fields(Tag.CVR_CHAIN, extended_hash, device_id)


def commitment_of(extended_hash: bytes, device_id: str, cvrs: Iterable[EncryptedCvr],
                  chunks: int) -> CvrCommitment:
    """The commitment to ``cvrs`` (in ballot-ID order) published in ``chunks`` entries."""
    digest = chain_start(extended_hash, device_id)
    styles: dict[str, int] = {}
    count = 0
    for cvr in cvrs:
        digest = hash_fields(Tag.CVR_CHAIN, digest, cvr.digest())
        styles[cvr.style_id] = styles.get(cvr.style_id, 0) + 1
        count += 1
    return CvrCommitment(device_id, count, chunks, tuple(sorted(styles.items())), digest)


def publish_cvrs(writer: Writer, extended_hash: bytes, device_id: str,
                 cvrs: Sequence[EncryptedCvr], chunk: int = CHUNK) -> list[AppendResult]:
    """Write ``cvrs`` (sorted by ballot ID, as a ``CvrStore`` yields them) in ``cvrs``
    entries, then the ``cvr-commitment``."""
    if chunk < 1:
        raise UsageError("a chunk holds at least one CVR")
    ids = [c.ballot_id for c in cvrs]
    if ids != sorted(ids) or len(set(ids)) != len(ids):
        raise StateError("CVRs are published sorted by ballot ID, each ID once")
    results = []
    pieces = [tuple(cvrs[i:i + chunk]) for i in range(0, len(cvrs), chunk)]
    for number, piece in enumerate(pieces):
        results.append(writer.write(EntryType.CVRS,
                                    CvrChunk(device_id, number, piece).to_payload()))
    commitment = commitment_of(extended_hash, device_id, cvrs, len(pieces))
    results.append(writer.write(EntryType.CVR_COMMITMENT, commitment.to_payload()))
    return results
