"""Encrypted CVRs on the ledger: their checks, and the proof that they add up.

docs/spec.md §19.2. After the results, each device publishes its encrypted
CVRs sorted by ballot ID (``cvrs`` entries) and a ``cvr-commitment`` (``e2e.cvr``).
Then, per device D and per (contest i, selection j) of the manifest, the quotient

    Q_Dij = ∏_{CVRs of D} (α', β')_ij  /  ∏_{valid cast ballots of D} (α, β)_ij

encrypts (CVR total − cast total). Each trustee publishes a ``cvr-equality-share``: a
``tally.decrypt.DecryptionShare`` of every Q_Dij of one device, subject
``cvr-equality/<device>@<index of its commitment>``, with Chaum–Pedersen proofs. The
official's ``cvr-equality`` lists, per device, the trustees combined and each combined
M = ∏ M_ℓ^{w_ℓ}; the verifier recomputes M with its own Lagrange coefficients and
requires β_Q / M = g^0, i.e. M = β_Q: the device's CVRs encrypt exactly the totals of
its cast ballots. Only these differences (zero) are decrypted: nothing about any
single CVR or ballot.

``CvrChecker`` (an ``e2e.verify.EntryChecker``) also checks every CVR's proofs, that a
device's CVRs are strictly increasing by ballot ID across its chunks, that no ballot
ID repeats anywhere or names a spoiled (challenged) card, and that each commitment's
count, chunks, digest and per-style counts match what was published — and that the
per-style counts equal the device's valid cast ballots per style.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from e2e.context import ElectionContext
from e2e.cvr import CvrChunk, CvrCommitment, chain_start, verify_cvr_chunk
from e2e.elgamal import Ciphertext
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import DecryptionError, PaperchainError, RecordError, StateError
from e2e.group import ElementModP, GroupParameters, _trusted_p
from e2e.hashing import Tag, hash_fields
from e2e.held_products import HeldProducts
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource
from e2e.parallel import Products, fold_packed, fold_products, pack_products
from e2e.trustee import TrusteeWorkspace
from e2e.verdicts import VERDICTS, VerdictCache
from e2e.verify import RecordVerifier
from tally.decrypt import (
    DecryptionShare,
    combine,
    compute_share,
    lagrange_coefficient,
    verify_share,
)

__all__ = [
    "CvrChecker",
    "CvrEquality",
    "CvrInfo",
    "DeviceEquality",
    "cvr_chunk",
    "decrypt_cvr_equality_as_trustee",
    "equality_subject",
    "equality_targets",
    "located_at_entry",
    "publish_cvr_equality",
    "share_verdict",
    "verify_share_once",
]


def equality_subject(device_id: str, commitment_index: int) -> str:
    return f"cvr-equality/{device_id}@{commitment_index}"


@dataclass(frozen=True, slots=True)
class CvrInfo:
    """What the verifier keeps of each CVR: enough to pair it with a card and to recognise
    its ciphertexts when the audit decrypts it (``ciphertexts_digest``)."""

    device_id: str
    style_id: str
    contests: tuple[int, ...]
    digest: bytes  # e2e.cvr.ciphertexts_digest
    entry_index: int  # the ``cvrs`` entry that published it


@dataclass(slots=True)
class _Device:
    chunks: int = 0
    count: int = 0
    last_id: bytes = b""
    digest: bytes = b""
    styles: dict[str, int] = field(default_factory=dict)
    commitment_index: int | None = None
    shares: dict[int, DecryptionShare] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceEquality:
    """One device in a ``cvr-equality`` entry: its commitment, the trustees combined and
    M per (contest, selection) of the manifest, in manifest order."""

    device_id: str
    commitment_index: int
    trustees: tuple[int, ...]
    combined: tuple[ElementModP, ...]


@dataclass(frozen=True, slots=True)
class CvrEquality:
    """Payload of ``cvr-equality``: every committed device, sorted by device ID."""

    devices: tuple[DeviceEquality, ...]

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "devices": [
            {"device_id": d.device_id, "commitment_index": d.commitment_index,
             "trustees": list(d.trustees), "combined": [m.to_hex() for m in d.combined]}
            for d in self.devices]})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> CvrEquality:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])

        def device(r: ObjectReader) -> DeviceEquality:
            trustees = r.items("trustees", 64)
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in trustees):
                raise RecordError("trustee indices are integers", r.path("trustees"))
            return DeviceEquality(r.string("device_id", 64), r.integer("commitment_index"),
                                  tuple(trustees), tuple(r.elements("combined", group, 1 << 20)))

        result = cls(tuple(obj.mapped("devices", device, 100_000)))
        obj.done()
        return result


def equality_targets(context: ElectionContext, cvr_products: dict[tuple[int, int], Ciphertext],
                     cast: Callable[[int, int], Ciphertext]) -> list[tuple[int, int, Ciphertext]]:
    """(contest, selection, Q) for every selection of the manifest, in manifest order."""
    identity = Ciphertext.identity(context.group)
    return [(i, j, cvr_products.get((i, j), identity) / cast(i, j))
            for i, contest in enumerate(context.manifest.contests)
            for j in range(len(contest.selections))]


class CvrChecker:
    """The ledger pass's checks of ``cvrs``, ``cvr-commitment``, ``cvr-equality-share`` and
    ``cvr-equality`` entries (module docstring). ``require`` makes their absence a failure;
    ``complete`` makes CVRs without a combined equality proof one (a record still in
    progress has them)."""

    entry_types = frozenset({EntryType.CVRS, EntryType.CVR_COMMITMENT,
                             EntryType.CVR_EQUALITY_SHARE, EntryType.CVR_EQUALITY})

    def __init__(self, require: bool = False, complete: bool = True) -> None:
        self.require = require
        self.complete = complete
        self.devices: dict[str, _Device] = {}
        self.cvrs: dict[bytes, CvrInfo] = {}
        self.equality: CvrEquality | None = None
        self.equality_index: int | None = None
        self.failed_devices: list[str] = []
        # per device, the running product of its CVRs' ciphertexts, packed: in memory up to
        # a bound, the rest on disk (e2e.held_products), as the cast side's are
        self._products = HeldProducts()

    # --- helpers for later steps (the audit, trustees) --------------------------------------

    def committed_devices(self) -> list[str]:
        return sorted(d for d, state in self.devices.items() if state.commitment_index is not None)

    def targets(self, verifier: RecordVerifier, device_id: str
                ) -> list[tuple[int, int, Ciphertext]]:
        context = _context(verifier)
        return equality_targets(context, self.cvr_products(context, device_id),
                                lambda i, j: verifier.aggregate.device_total(context, device_id,
                                                                             i, j))

    def cvr_products(self, context: ElectionContext, device_id: str
                     ) -> dict[tuple[int, int], Ciphertext]:
        """Per (contest, selection) the product of the device's CVRs' ciphertexts (none
        for a device without CVRs)."""
        group = context.group
        products = self._fold(group, device_id, {})
        return {(i, j): Ciphertext(_trusted_p(alpha, group), _trusted_p(beta, group))
                for i, row in products.items() for j, (alpha, beta) in enumerate(row)}

    def _fold(self, group: GroupParameters, device_id: str, more: Products) -> Products:
        """The device's CVR products with ``more`` multiplied in, held again (folded)."""
        held = self._products.take(device_id)
        products = fold_packed(group.p, group.p_bytes, held) if held else {}
        fold_products(group.p, products, more)
        if products:
            self._products.add(device_id, pack_products(products, group.p_bytes))
        return products

    def ballots_per_style(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for info in self.cvrs.values():
            counts[info.style_id] = counts.get(info.style_id, 0) + 1
        return counts

    # --- the pass ------------------------------------------------------------------------

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        context = _context(verifier)
        kind = entry.entry_type
        with located_at_entry():
            if kind == EntryType.CVRS:
                self._chunk(verifier, context, index, entry)
            elif kind == EntryType.CVR_COMMITMENT:
                self._commitment(verifier, context, index, entry)
            elif kind == EntryType.CVR_EQUALITY_SHARE:
                self._share(verifier, context, entry)
            else:
                self._equality(verifier, context, index, entry)

    def _chunk(self, verifier: RecordVerifier, context: ElectionContext, index: int,
               entry: Entry) -> None:
        summary = _chunk_summary(context, entry.payload)
        if summary.device_id != entry.writer_id:
            raise RecordError(f"CVRs of device {summary.device_id!r} written by "
                              f"{entry.writer_id!r}")
        state = self.devices.setdefault(summary.device_id, _Device())
        if not state.digest:
            state.digest = chain_start(context.extended_base_hash, summary.device_id)
        if state.commitment_index is not None:
            raise RecordError("CVRs after the device's commitment")
        if summary.chunk != state.chunks:
            raise RecordError(f"chunk {summary.chunk}, expected chunk {state.chunks}")
        if not summary.cvrs:
            raise RecordError("an empty chunk of CVRs")
        state.chunks += 1
        for ballot_id, style_id, contests, ciphertexts, digest in summary.cvrs:
            where = f"device {summary.device_id} CVR {ballot_id.hex()}"
            if ballot_id <= state.last_id:
                raise RecordError("CVRs are not sorted by ballot ID (strictly increasing)", where)
            state.last_id = ballot_id
            if ballot_id in self.cvrs:
                raise RecordError(f"ballot ID repeated: device {self.cvrs[ballot_id].device_id}"
                                  " published a CVR with the same ID", where)
            if ballot_id in verifier.spoiled_paper_ids:
                raise RecordError("the ballot ID is a challenged (spoiled) card's", where)
            state.digest = hash_fields(Tag.CVR_CHAIN, state.digest, digest)
            state.count += 1
            state.styles[style_id] = state.styles.get(style_id, 0) + 1
            self.cvrs[ballot_id] = CvrInfo(summary.device_id, style_id, contests, ciphertexts,
                                           index)
        self._fold(context.group, summary.device_id, summary.products)
        verifier.report.passed("CVRs verified (proofs, order, unique IDs)", len(summary.cvrs))

    def _commitment(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                    entry: Entry) -> None:
        commitment = CvrCommitment.from_payload(entry.payload, "cvr-commitment")
        device = commitment.device_id
        if device != entry.writer_id:
            raise RecordError(f"commitment of device {device!r} written by {entry.writer_id!r}")
        state = self.devices.setdefault(device, _Device())
        if state.commitment_index is not None:
            raise RecordError(f"device {device} committed twice")
        digest = state.digest or chain_start(context.extended_base_hash, device)
        if (commitment.count, commitment.chunks) != (state.count, state.chunks):
            raise RecordError(f"the commitment says {commitment.count} CVRs in "
                              f"{commitment.chunks} entries; the ledger holds {state.count} in "
                              f"{state.chunks}", f"device {device}")
        if commitment.digest != digest:
            raise RecordError("the commitment's digest is not the chained digest of the "
                              "published CVRs", f"device {device}")
        if dict(commitment.styles) != state.styles:
            raise RecordError("the commitment's counts per style differ from the CVRs'",
                              f"device {device}")
        cast_styles = verifier.aggregate.device_styles.get(device, {})
        if state.styles != cast_styles:
            raise RecordError(f"CVRs per style {dict(sorted(state.styles.items()))} differ from "
                              f"valid cast ballots per style {dict(sorted(cast_styles.items()))}",
                              f"device {device}")
        state.commitment_index = index
        verifier.report.passed("CVR commitments (count, digest, counts per style)")

    def _share(self, verifier: RecordVerifier, context: ElectionContext, entry: Entry) -> None:
        share = DecryptionShare.from_payload(entry.payload, context.group, "cvr-equality-share")
        setup = verifier.state.setup
        trustee = setup.trustee(share.trustee) if setup is not None else None
        if trustee is None or trustee.writer_id != entry.writer_id:
            raise RecordError(f"share for trustee {share.trustee} written by {entry.writer_id!r}")
        device = next((d for d, s in self.devices.items() if s.commitment_index is not None
                       and share.subject == equality_subject(d, s.commitment_index)), None)
        if device is None:
            raise RecordError(f"share for {share.subject!r}, which names no device's commitment")
        state = self.devices[device]
        if share.trustee in state.shares:
            raise RecordError(f"a second equality share from trustee {share.trustee} for "
                              f"device {device}")
        verify_share_once(share, context, self.targets(verifier, device), entry.payload)
        state.shares[share.trustee] = share
        verifier.report.passed("CVR equality shares (Chaum–Pedersen proofs)")

    def _equality(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                  entry: Entry) -> None:
        equality = CvrEquality.from_payload(entry.payload, context.group, "cvr-equality")
        committed = self.committed_devices()
        listed = [d.device_id for d in equality.devices]
        if listed != committed:
            raise RecordError(f"the equality lists devices {listed}; the committed devices are "
                              f"{committed}")
        missing = [d for d in _devices_with_chains(verifier) if d not in committed]
        if missing:
            raise RecordError(f"device(s) {missing} closed a chain but never committed CVRs")
        self.equality, self.equality_index = equality, index
        for item in equality.devices:
            where = f"cvr-equality device {item.device_id}"
            state = self.devices[item.device_id]
            if item.commitment_index != state.commitment_index:
                raise RecordError("names another commitment than the device's", where)
            absent = [t for t in item.trustees if t not in state.shares]
            if absent:
                raise RecordError(f"combines trustees {absent} without a valid share", where)
            targets = self.targets(verifier, item.device_id)
            shares = [state.shares[t] for t in item.trustees]
            try:
                combined = combine(context, shares, targets, {})
            except DecryptionError as err:
                if err.where is None:
                    raise
                self.failed_devices.append(item.device_id)
                raise RecordError(
                    "the device's CVRs do not encrypt the same totals as its valid cast "
                    "ballots: the equality proof fails (β/M ≠ g^0)",
                    f"{where} {err.where}") from None
            if tuple(m for _, _, m, _ in combined) != item.combined:
                raise RecordError("a combined partial decryption differs from the one "
                                  "recomputed with the verifier's Lagrange coefficients", where)
        verifier.report.passed("CVR equality proofs (each device's CVRs = its cast ballots)",
                               len(equality.devices))
        verifier.report.facts["cvr_equality_index"] = index

    def finish(self, verifier: RecordVerifier) -> None:
        verifier.report.facts["cvrs"] = len(self.cvrs)
        if not self.devices and self.equality is None:
            if self.require:
                raise RecordError("no encrypted CVRs on the ledger")
            return
        if self.equality is None and self.complete:
            raise RecordError("CVRs were published but no CVR equality proof was combined")


@contextmanager
def located_at_entry() -> Iterator[None]:
    """Keep a finding at its ledger entry: a ``where`` inside the entry (a device, a CVR,
    a selection) moves into the reason, so the verifier names the entry's position."""
    try:
        yield
    except PaperchainError as err:
        if err.where is None:
            raise
        raise type(err)(f"{err.where}: {err.reason}") from None


def verify_share_once(share: DecryptionShare, context: ElectionContext,
                      targets: Sequence[tuple[int, int, Ciphertext]], payload: bytes, *,
                      payload_digest: bytes | None = None) -> None:
    """``verify_share``, skipped for an entry whose shares this process verified before
    against the same targets (H_E, the payload and the targets' digest in the key).
    ``payload_digest`` is SHA-256 of ``payload``, for a caller checking many shares of one
    entry (an audit round's): hashed once, not once per share."""
    if payload_digest is None:
        payload_digest = hashlib.sha256(payload).digest()
    verdict = share_verdict(share, context, targets, payload_digest)
    if verdict in VERDICTS:
        return
    verify_share(share, context, targets)
    VERDICTS.add(verdict)


def share_verdict(share: DecryptionShare, context: ElectionContext,
                  targets: Sequence[tuple[int, int, Ciphertext]], payload_digest: bytes
                  ) -> bytes:
    """The key of "this entry's share verifies against these targets" (``e2e.verdicts``):
    H_E, SHA-256 of the entry's payload, the targets' digest and the share's subject."""
    digest = hashlib.sha256(b"".join(c.alpha.to_bytes() + c.beta.to_bytes()
                                     for _, _, c in targets)).digest()
    return VerdictCache.key(b"decryption-share", context.extended_base_hash,
                            payload_digest, digest, share.subject.encode())


@dataclass(frozen=True, slots=True)
class _ChunkSummary:
    """What the pass needs of a ``cvrs`` entry whose every CVR verified: per CVR its ID,
    style, contests, ciphertexts digest and digest, and the chunk's products (read only:
    ``CvrChecker._fold`` multiplies them into a copy)."""

    device_id: str
    chunk: int
    cvrs: tuple[tuple[bytes, str, tuple[int, ...], bytes, bytes], ...]
    products: Products


# Summaries of chunks verified in this process, by (H_E, payload digest): the tally, each
# trustee and every audit step run the whole pass, and a chunk's proofs and digests are a
# function of its bytes (the same reasoning as e2e.verdicts; bounded, never persisted).
_SUMMARIES: OrderedDict[bytes, _ChunkSummary] = OrderedDict()
_SUMMARY_LIMIT = 100_000


def _chunk_summary(context: ElectionContext, payload: bytes) -> _ChunkSummary:
    """The chunk's summary, verifying every CVR's proofs unless this process did before."""
    key = VerdictCache.key(b"cvr-chunk", context.extended_base_hash,
                           hashlib.sha256(payload).digest())
    known = _SUMMARIES.get(key) if key in VERDICTS else None
    if known is not None:
        return known
    chunk = verify_cvr_chunk(context, payload, "cvrs")  # batched; the simple path on refusal
    p = context.group.p
    products: Products = {}
    rows = []
    for cvr in chunk.cvrs:
        fold_products(p, products, {contest_index: [[c.alpha.value, c.beta.value] for c in row]
                                    for contest_index, row in cvr.ciphertexts()})
        rows.append((cvr.ballot_id, cvr.style_id, cvr.contest_indices(),
                     cvr.ciphertexts_digest(), cvr.digest()))
    summary = _ChunkSummary(chunk.device_id, chunk.chunk, tuple(rows), products)
    VERDICTS.add(key)
    _SUMMARIES[key] = summary
    while len(_SUMMARIES) > _SUMMARY_LIMIT:
        _SUMMARIES.popitem(last=False)
    return summary


def cvr_chunk(context: ElectionContext, payload: bytes, where: str) -> CvrChunk:
    """A ``cvrs`` entry decoded, elements trusted if this process verified its bytes."""
    key = VerdictCache.key(b"cvr-chunk", context.extended_base_hash,
                           hashlib.sha256(payload).digest())
    return CvrChunk.from_payload(payload, context.group, where, trusted=key in VERDICTS)


def _context(verifier: RecordVerifier) -> ElectionContext:
    if verifier.context is None:
        raise RecordError("CVR entries before the key ceremony closed")
    return verifier.context


def _devices_with_chains(verifier: RecordVerifier) -> list[str]:
    if verifier.chains is None:
        return []
    return sorted(verifier.chains.chains)


# --- the trustees' and the official's steps -------------------------------------------------


def _verified(ledger: LedgerClient, allow_test_group: bool,
              progress: Callable[[int], None] | None) -> tuple[RecordVerifier, CvrChecker]:
    # tally.verify assembles every checker, this one included: imported here, not at the top.
    from tally.verify import verify_election

    report, verifier = verify_election(ledger.envelopes(0), election_id=ledger.election_id,
                                       allow_test_group=allow_test_group, require_results=False,
                                       progress=progress)
    if not report.ok:
        raise RecordError(f"the ledger does not verify ({len(report.findings)} finding(s); "
                          f"first: {report.findings[0]})")
    return verifier, verifier.checker(CvrChecker)


def decrypt_cvr_equality_as_trustee(
    workspace: TrusteeWorkspace, ledger: LedgerClient, *, allow_test_group: bool = False,
    nonces: NonceSource | None = None, progress: Callable[[int], None] | None = None,
) -> list[AppendResult]:
    """Verify the whole ledger, recompute every device's quotients from it, then publish this
    trustee's share for each committed device that lacks one. Refused until every device
    that closed a chain has committed its CVRs."""
    verifier, checker = _verified(ledger, allow_test_group, progress)
    context = verifier.context
    if context is None or verifier.report.facts.get("results") is None:
        raise StateError("the results are not published yet")
    missing = [d for d in _devices_with_chains(verifier) if d not in checker.committed_devices()]
    if missing:
        raise StateError(f"device(s) {missing} have not committed their CVRs yet (a device "
                         "run without CVRs never does: a comparison audit needs CVRs from "
                         "every device; without them, audit by ballot polling)")
    if checker.equality is not None:
        raise StateError("the CVR equality is already combined")
    key_share = workspace.key_share(context.group)
    writer = Writer(ledger, workspace.signing_key, workspace.card.writer_id)
    results = []
    for device in checker.committed_devices():
        state = checker.devices[device]
        if workspace.card.index in state.shares or state.commitment_index is None:
            continue
        share = compute_share(key_share, context,
                              equality_subject(device, state.commitment_index),
                              checker.targets(verifier, device), nonces)
        results.append(writer.write(EntryType.CVR_EQUALITY_SHARE, share.to_payload()))
    return results


def publish_cvr_equality(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False,
                         record_failure: bool = False,
                         progress: Callable[[int], None] | None = None
                         ) -> tuple[AppendResult, list[str]]:
    """Combine, per committed device, the shares of the first k trustees who gave one.

    Returns the entry and the devices whose CVRs do not add up to their cast ballots. Such
    a failure raises ``DecryptionError`` (nothing is written) unless ``record_failure``:
    then the combination goes on the ledger as it is, for every verifier to see fail.
    """
    verifier, checker = _verified(ledger, allow_test_group, progress)
    context = verifier.context
    if context is None:
        raise StateError("the key ceremony has not closed")
    devices = checker.committed_devices()
    missing = [d for d in _devices_with_chains(verifier) if d not in devices]
    if missing:
        raise StateError(f"device(s) {missing} have not committed their CVRs yet (a device "
                         "run without CVRs never does: a comparison audit needs CVRs from "
                         "every device; without them, audit by ballot polling)")
    k = context.setup.threshold
    items, failed = [], []
    for device in devices:
        state = checker.devices[device]
        trustees = sorted(state.shares)[:k]
        if len(trustees) < k:
            raise DecryptionError(f"{len(trustees)} valid equality share(s) for device "
                                  f"{device}; the threshold is {k}")
        targets = checker.targets(verifier, device)
        shares = [state.shares[t] for t in trustees]
        combined = _combine_unbounded(context, shares, targets)
        if any(m != q.beta for m, (_, _, q) in zip(combined, targets, strict=True)):
            failed.append(device)
        items.append(DeviceEquality(device, state.commitment_index or 0, tuple(trustees),
                                    tuple(combined)))
    if failed and not record_failure:
        raise DecryptionError(f"the CVRs of device(s) {failed} do not encrypt the same totals "
                              "as their cast ballots")
    appended = writer.write(EntryType.CVR_EQUALITY, CvrEquality(tuple(items)).to_payload())
    return appended, failed


def _combine_unbounded(context: ElectionContext, shares: Sequence[DecryptionShare],
                       targets: Sequence[tuple[int, int, Ciphertext]]) -> list[ElementModP]:
    """M = ∏ M_ℓ^{w_ℓ} per target, without taking a logarithm (a failed equality has none)."""
    group = context.group
    indices = [s.trustee for s in shares]
    weights = {i: lagrange_coefficient(group, i, indices) for i in indices}
    out = []
    for position in range(len(targets)):
        value = group.one
        for share in shares:
            value = value * share.partials[position].value ** weights[share.trustee]
        out.append(value)
    return out
