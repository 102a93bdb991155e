"""Plaintext CVRs: every CVR decrypted by the trustees, for an election whose policy is to
publish them.

docs/spec.md §19.11. Paperchain decrypts, by default, only the sampled cards' CVRs. An
election that publishes every plaintext CVR (to run Arlo, or to let anyone recount the
CVRs) pays for it in privacy: the ballot ID printed on a card then points to that card's
published choices, so a voter who noted the ID can show a coercer or a vote buyer how they
voted (the ID becomes a receipt). The trustees' software therefore decrypts every CVR
only when told, in so many words, that the election accepts this (the CLI's
``--accept-ballot-ids-as-receipts``).

Each trustee publishes, per ``cvrs`` entry (a device's chunk of CVRs), one
``cvr-plaintext-share`` entry: the chunk's CVRs' ciphertexts (which every verifier checks
against the published CVRs' ciphertext digests) and, per CVR, a
``tally.decrypt.DecryptionShare`` of each selection with its Chaum–Pedersen proof, subject
``cvr-plaintext/<ballot ID hex>@<index of the cvrs entry>``. Each entry is checkable on its
own. Once k trustees have published a valid share of a chunk, every verifier combines the
first k (by ledger order) with its own Lagrange coefficients and reads each selection's
count, which must be 0 or 1: the plaintext CVRs are a function of the verified ledger, and
``tally.audit_export`` writes them as NIST SP 1500-103 JSON and Dominion-format CSV.

Shares are accepted after the CVRs' equality is combined and before the audit's seed: the
published plaintext is fixed before the sample is drawn. ``PlaintextChecker`` keeps the
shares of a chunk only until k of them are in (then only the chunk's marks), so a trustee's
software publishes chunk by chunk and verifiers' memory follows the chunks in progress.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from e2e.batch import all_members
from e2e.context import ElectionContext
from e2e.cvr import ciphertexts_digest
from e2e.elgamal import Ciphertext, discrete_log
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import DecryptionError, EncodingError, PaperchainError, RecordError, StateError
from e2e.group import GroupParameters
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource
from e2e.trustee import TrusteeWorkspace
from e2e.verify import RecordVerifier
from tally.cvr import CvrChecker, cvr_chunk, located_at_entry, verify_share_once
from tally.decrypt import (
    DecryptionShare,
    compute_share,
    element_reader,
    lagrange_coefficient,
    shares_hold,
)

__all__ = [
    "ChunkCvr",
    "PlaintextChecker",
    "PlaintextShares",
    "decrypt_all_cvrs_as_trustee",
    "plaintext_subject",
]

Targets = list[tuple[int, int, Ciphertext]]


def plaintext_subject(ballot_id: bytes, cvrs_index: int) -> str:
    """The decryption subject of a CVR decrypted for publication."""
    return f"cvr-plaintext/{ballot_id.hex()}@{cvrs_index}"


@dataclass(frozen=True, slots=True)
class ChunkCvr:
    """A CVR's ciphertexts as a share entry repeats them: per contest, its selections'."""

    ballot_id: bytes
    contests: tuple[tuple[int, tuple[Ciphertext, ...]], ...]

    def targets(self) -> Targets:
        return [(index, j, ciphertext) for index, row in self.contests
                for j, ciphertext in enumerate(row)]


@dataclass(frozen=True, slots=True)
class PlaintextShares:
    """Payload of ``cvr-plaintext-share``: one trustee's shares of every CVR of one chunk."""

    cvrs_index: int
    cvrs: tuple[ChunkCvr, ...]
    shares: tuple[DecryptionShare, ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "cvrs_index": self.cvrs_index,
            "cvrs": [{"ballot_id": c.ballot_id.hex(), "contests": [
                {"index": index, "selections": [[x.alpha.to_hex(), x.beta.to_hex()]
                                                for x in row]}
                for index, row in c.contests]} for c in self.cvrs],
            "shares": [parse_canonical_json(s.to_payload(), "share") for s in self.shares]})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters,
                     where: str = "cvr-plaintext-share", *, deferred: bool = False
                     ) -> PlaintextShares:
        """Decode with every element checked; with ``deferred``, every check but subgroup
        membership, which the caller then establishes (``members``) or decodes again."""
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        element = element_reader(group, deferred=deferred)

        def cvr(r: ObjectReader) -> ChunkCvr:
            def contest(c: ObjectReader) -> tuple[int, tuple[Ciphertext, ...]]:
                rows = c.items("selections", 1000)
                out = []
                for n, pair in enumerate(rows):
                    place = f"{c.path('selections')}[{n}]"
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise EncodingError("an [alpha, beta] pair", place)
                    out.append(Ciphertext(element(pair[0], f"{place}[0]"),
                                          element(pair[1], f"{place}[1]")))
                return c.integer("index", 0, 10_000), tuple(out)

            return ChunkCvr(r.hex_bytes("ballot_id", 16),
                            tuple(r.mapped("contests", contest, 1000)))

        index = obj.integer("cvrs_index", 0)
        cvrs = tuple(obj.mapped("cvrs", cvr, 10_000))
        shares = tuple(DecryptionShare.from_payload(canonical_json(item), group,
                                                    f"{where}.shares[{n}]", deferred=deferred)
                       for n, item in enumerate(obj.items("shares", 10_000)))
        obj.done()
        return cls(index, cvrs, shares)

    def members(self) -> list:
        """Every element read, for one batched membership check (``e2e.batch.all_members``)."""
        out = [x.value for c in self.cvrs for _, row in c.contests for ct in row
               for x in (ct.alpha, ct.beta)]
        out.extend(x.value for s in self.shares for p in s.partials
                   for x in (p.value, p.proof.commitment_g, p.proof.commitment_a))
        return out

    @classmethod
    def admit(cls, data: bytes, group: GroupParameters, where: str = "payload"
              ) -> PlaintextShares:
        """Decoded with every element's membership established: at once when all hold,
        else by the checked decoder, which names the first element that does not."""
        try:
            provisional = cls.from_payload(data, group, where, deferred=True)
        except PaperchainError:
            provisional = None
        if provisional is not None and all_members(group, provisional.members()):
            return provisional
        return cls.from_payload(data, group, where)


@dataclass(slots=True)
class _Chunk:
    """A chunk's shares until k are in; then only who was combined."""

    shares: dict[int, tuple[list[Targets], tuple[DecryptionShare, ...]]] = field(
        default_factory=dict)
    combined: tuple[int, ...] | None = None
    trustees: set[int] = field(default_factory=set)


class PlaintextChecker:
    """Checks ``cvr-plaintext-share`` entries and combines each chunk's first k shares.

    ``plaintexts`` maps a ballot ID to the (contest, selection) pairs its CVR marks; the
    contests on its style are the CVR checker's ``CvrInfo.contests``."""

    entry_types = frozenset({EntryType.CVR_PLAINTEXT_SHARE})

    def __init__(self) -> None:
        self.chunks: dict[int, _Chunk] = {}
        self.plaintexts: dict[bytes, tuple[tuple[int, int], ...]] = {}
        self._chunk_ids: dict[int, list[bytes]] | None = None

    def chunk_ids(self, verifier: RecordVerifier) -> dict[int, list[bytes]]:
        """Per ``cvrs`` entry index, its CVRs' ballot IDs in order (sorted, as published)."""
        if self._chunk_ids is None:
            out: dict[int, list[bytes]] = {}
            for ballot_id, info in verifier.checker(CvrChecker).cvrs.items():
                out.setdefault(info.entry_index, []).append(ballot_id)
            self._chunk_ids = {i: sorted(ids) for i, ids in out.items()}
        return self._chunk_ids

    def shared(self, trustee: int) -> set[int]:
        """The chunks (``cvrs`` entry indices) this trustee published a valid share of."""
        return {i for i, chunk in self.chunks.items() if trustee in chunk.trustees}

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        context = verifier.context
        if context is None:
            raise RecordError("a CVR plaintext share before the key ceremony closed")
        with located_at_entry():
            self._check(verifier, context, entry)

    def _check(self, verifier: RecordVerifier, context: ElectionContext, entry: Entry) -> None:
        cvr_checker = verifier.checker(CvrChecker)
        if cvr_checker.equality is None:
            raise RecordError("CVR plaintext shares before the CVRs' equality was combined")
        payload = PlaintextShares.admit(entry.payload, context.group, "cvr-plaintext-share")
        ids = self.chunk_ids(verifier).get(payload.cvrs_index)
        if ids is None:
            raise RecordError(f"the shares name ledger entry {payload.cvrs_index}, which is "
                              "not an entry of published CVRs")
        listed = [c.ballot_id for c in payload.cvrs]
        if listed != ids:
            raise RecordError(f"the shares list {len(listed)} CVR(s) other than the "
                              f"{len(ids)} of ledger entry {payload.cvrs_index}, in its order")
        for cvr in payload.cvrs:
            info = cvr_checker.cvrs[cvr.ballot_id]
            if ciphertexts_digest(cvr.ballot_id, info.style_id, cvr.contests) != info.digest:
                raise RecordError("the ciphertexts are not the published CVR's",
                                  f"CVR {cvr.ballot_id.hex()}")
        if len(payload.shares) != len(payload.cvrs):
            raise RecordError("one share per CVR of the chunk")
        trustee = payload.shares[0].trustee
        setup = verifier.state.setup
        info = setup.trustee(trustee) if setup is not None else None
        if info is None or info.writer_id != entry.writer_id:
            raise RecordError(f"shares of trustee {trustee} written by {entry.writer_id!r}")
        chunk = self.chunks.setdefault(payload.cvrs_index, _Chunk())
        if trustee in chunk.trustees:
            raise RecordError(f"a second share from trustee {trustee} of ledger entry "
                              f"{payload.cvrs_index}'s CVRs")
        targets = [cvr.targets() for cvr in payload.cvrs]
        for share, cvr in zip(payload.shares, payload.cvrs, strict=True):
            if share.trustee != trustee or share.subject != plaintext_subject(
                    cvr.ballot_id, payload.cvrs_index):
                raise RecordError("a share names another trustee or CVR",
                                  f"CVR {cvr.ballot_id.hex()}")
        digest = hashlib.sha256(entry.payload).digest()
        if not shares_hold(context, list(zip(payload.shares, targets, strict=True))):
            for share, cvr, cvr_targets in zip(payload.shares, payload.cvrs, targets,
                                               strict=True):
                try:
                    verify_share_once(share, context, cvr_targets, entry.payload,
                                      payload_digest=digest)
                except PaperchainError as err:
                    raise RecordError(err.reason, f"CVR {cvr.ballot_id.hex()} "
                                                  f"{err.where or ''}".strip()) from None
            raise RecordError("the batch of shares does not verify")  # pragma: no cover
        chunk.trustees.add(trustee)
        verifier.report.passed("CVR plaintext shares (Chaum–Pedersen proofs)")
        if chunk.combined is not None:
            return
        chunk.shares[trustee] = (targets, payload.shares)
        if len(chunk.shares) < context.setup.threshold:
            return
        self._combine(verifier, context, payload, chunk)

    def _combine(self, verifier: RecordVerifier, context: ElectionContext,
                 payload: PlaintextShares, chunk: _Chunk) -> None:
        """M = ∏ M_ℓ^{w_ℓ} per selection over the chunk's k trustees (the weights computed
        once), and its count from β / M = g^t with t in {0, 1}. Not through
        ``tally.decrypt.combine``, whose per-process memo would keep every selection's M of
        every CVR (≈ 20 kB per CVR on the standard group) while only the marks matter."""
        group = context.group
        trustees = sorted(chunk.shares)
        weights = {t: lagrange_coefficient(group, t, trustees) for t in trustees}
        targets = chunk.shares[trustees[0]][0]
        for position, cvr in enumerate(payload.cvrs):
            shares = [chunk.shares[t][1][position] for t in trustees]
            marks = []
            for n, (contest, selection, ciphertext) in enumerate(targets[position]):
                combined = group.one
                for share in shares:
                    combined = combined * share.partials[n].value ** weights[share.trustee]
                try:
                    count = discrete_log(ciphertext.beta / combined, 1)
                except DecryptionError as err:
                    raise RecordError(f"the CVR does not decrypt to 0 or 1: {err.reason}",
                                      f"CVR {cvr.ballot_id.hex()} contest {contest} "
                                      f"selection {selection}") from None
                if count:
                    marks.append((contest, selection))
            self.plaintexts[cvr.ballot_id] = tuple(marks)
        chunk.combined, chunk.shares = tuple(trustees), {}
        verifier.report.passed("CVRs decrypted for publication (k shares combined)",
                               len(payload.cvrs))

    def complete(self, verifier: RecordVerifier) -> bool:
        """Whether every published CVR is decrypted (and there is at least one)."""
        total = len(verifier.checker(CvrChecker).cvrs)
        return total > 0 and len(self.plaintexts) == total

    def finish(self, verifier: RecordVerifier) -> None:
        if self.chunks:
            verifier.report.facts["plaintext_cvrs"] = {
                "decrypted": len(self.plaintexts),
                "published": len(verifier.checker(CvrChecker).cvrs)}


def decrypt_all_cvrs_as_trustee(
    workspace: TrusteeWorkspace, ledger: LedgerClient, *, accept_ids_as_receipts: bool,
    allow_test_group: bool = False, nonces: NonceSource | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_done: Callable[[int, int], None] | None = None,
) -> list[AppendResult]:
    """This trustee's share of every published CVR, one entry per chunk, for an election
    that publishes plaintext CVRs. Verifies the whole ledger first; refused unless
    ``accept_ids_as_receipts`` (see the module docstring), before the CVRs' equality is
    combined, and once the audit's seed is drawn. Chunks this trustee already shared are
    skipped, so an interrupted run resumes. ``chunk_done(done, total)`` after each entry."""
    if not accept_ids_as_receipts:
        raise StateError("decrypting every CVR makes each printed ballot ID a receipt of "
                         "that voter's choices; do it only where the election's policy is to "
                         "publish plaintext CVRs, and say so explicitly")
    from tally.audit_workflow import AuditLedger  # it imports the checkers this one uses

    view = AuditLedger.read(ledger, allow_test_group=allow_test_group, progress=progress)
    verifier = view.verifier
    context = verifier.context
    if context is None or verifier.checker(CvrChecker).equality is None:
        raise StateError("the CVRs' equality is not combined yet: there is nothing verified "
                         "to decrypt")
    if view.state.seed is not None:
        raise StateError("the audit's seed is drawn: plaintext CVRs are published before the "
                         "sample, never after")
    checker = verifier.checker(PlaintextChecker)
    index = workspace.card.index
    todo = sorted(set(checker.chunk_ids(verifier)) - checker.shared(index))
    key_share = workspace.key_share(context.group)
    writer = Writer(ledger, workspace.signing_key, workspace.card.writer_id)
    results = []
    for done, cvrs_index in enumerate(todo, start=1):
        cvrs = _chunk_cvrs(ledger, context, cvrs_index)
        shares = tuple(compute_share(key_share, context,
                                     plaintext_subject(c.ballot_id, cvrs_index),
                                     c.targets(), nonces) for c in cvrs)
        results.append(writer.write(EntryType.CVR_PLAINTEXT_SHARE,
                                    PlaintextShares(cvrs_index, cvrs, shares).to_payload()))
        if chunk_done is not None:
            chunk_done(done, len(todo))
    return results


def _chunk_cvrs(ledger: LedgerClient, context: ElectionContext, cvrs_index: int
                ) -> tuple[ChunkCvr, ...]:
    for index, entry in ledger.entries(cvrs_index):
        chunk = cvr_chunk(context, entry.payload, f"ledger entry {index}")
        return tuple(ChunkCvr(c.ballot_id, c.ciphertexts()) for c in chunk.cvrs)
    raise RecordError(f"ledger entry {cvrs_index} is gone")

