"""The verifier's core: one streaming pass over the ledger, every check of docs/spec.md §13.

``RecordVerifier.run`` reads envelopes in order (memory does not hold the ledger) and
checks, for each one: its index and chain link; its entry's encoding, election,
writer registration and revocation, signature, sequence number, role and phase
(the same rules the operator applies at admission); then its content — the
ceremony's proofs, complaints and closing signatures; every ballot's style, proofs,
tracking code, device chain and α uniqueness; every challenged ballot's
re-encryption; every device close. Entries after the close of voting (tally,
decryption, results, audit) go to ``EntryChecker``s that other packages provide.

Problems are gathered as ``Finding``s naming the ledger position and the failure;
an invalid ballot is reported and excluded from ``aggregate`` (the encrypted sum of
the valid cast ballots), never silently counted or silently dropped.

Scale (DESIGN.md). The pass stays one pass in ledger order, but a ballot's
cryptography — decoding, proofs (batched, ``e2e.batch``), α digests and the partial
sums — runs in chunks through an executor (``e2e.parallel``: a process pool, or Dask).
Everything that depends on order stays here: envelopes, signatures, writers,
sequences, phases, device chains, and α uniqueness (``e2e.alphas``, on disk). Chunks'
outcomes are applied in ledger order and each finding is put where the one-by-one
pass would have put it. Verdicts this process reached before — a ballot's proofs, an
entry's signature — are reused (``e2e.verdicts``: keyed by H_E and the leaf hash,
stored in ledger order), so the tally, each trustee's recomputation and the final
verification check each ballot once. What is kept per ballot — those verdicts, the
tracking codes — is held in memory up to a fixed bound and on disk beyond it
(``e2e.scratch``), so memory stays flat as the ledger grows. What is kept per device —
its running products, the cast side of its CVR equality proof — waits in memory up to a
bound and on disk beyond it (``e2e.held_products``), and a chunk is lent the products of
at most ``devices_per_chunk`` devices, so memory stays flat as devices are added too.
``fast=False`` runs the simple reference pass (checked decoding, each proof on its own, α
in memory) for comparison.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

from gmpy2 import mpz

from e2e.alphas import AlphaRegistry, registry_for
from e2e.arena import ArenaRef, ArenaSlot, PayloadArena
from e2e.ballot import EncryptedBallot, verify_ballot, verify_opening
from e2e.ceremony import CEREMONY_TYPES, CeremonyReplay
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext
from e2e.errors import PaperchainError, RecordError
from e2e.group import GroupParameters, _trusted_p
from e2e.held_products import HeldProducts
from e2e.ledger.entry import GENESIS_PREVIOUS, Entry, decode_envelope, leaf_hash_of
from e2e.ledger.operator import LedgerState
from e2e.ledger.types import EntryType
from e2e.memory import return_freed_memory
from e2e.official import PhaseNote
from e2e.parallel import (
    BallotOutcome,
    BallotTask,
    ChunkOutcome,
    LocalPool,
    Packed,
    PackedPartial,
    Products,
    fold_packed,
    fold_products,
    is_local,
    loans_in_order,
    pack_products,
    shared_executor,
    strip_proofs,
    verified_rows,
    verify_chunk,
    verify_chunk_in_arena,
)
from e2e.remake import CardRemake, check_remake
from e2e.scratch import KeySet
from e2e.verdicts import VERDICTS, VerdictCache
from e2e.voting import CastBallot, ChallengedBallot, DeviceChains, DeviceClose, alpha_keys

__all__ = [
    "CastAggregate",
    "EntryChecker",
    "Finding",
    "RecordVerifier",
    "VerificationReport",
]


@dataclass(frozen=True, slots=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(slots=True)
class VerificationReport:
    """What was checked (name → how many passed) and what failed."""

    checks: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def passed(self, name: str, count: int = 1) -> None:
        self.checks[name] = self.checks.get(name, 0) + count

    def fail(self, where: str, problem: str) -> None:
        self.findings.append(Finding(where, problem))

    def fail_with(self, error: PaperchainError, where: str) -> None:
        located = error.where or where
        self.findings.append(Finding(located, error.reason))


class CastAggregate:
    """The encrypted tally of valid cast ballots: per (contest, selection) the product.

    Also per device (``device_totals``, ``device_styles``): the cast-ballot side of each
    device's CVR equality proof (docs/spec.md §19.2).

    Held as each device's running products, packed as bytes (``e2e.parallel.Packed``: the
    verifier only stores and forwards them), which the verifier lends to the chunk that
    next holds one of the device's ballots (``lend``) and takes back with the chunk's
    outcome (``merge``): the multiplications run in the workers, whether the ledger holds
    each device's ballots together or interleaves the devices as an election day does.
    Between loans they wait in ``e2e.held_products.HeldProducts``: in memory up to a bound
    (``held_memory``), the rest in a temporary file, so the verifier's memory does not grow
    with the number of devices. A device may hold several products while one is on loan;
    they are folded into one when lent again or when the totals are read. ``totals`` is
    computed on reading, one device at a time (its products folded and each ballot taken
    back divided out; over devices their product), and ``device_totals`` computes a
    device's products when asked for them; either may only be read when nothing is on
    loan. The reference pass (``add``) multiplies here, in this process.
    """

    __slots__ = ("_cache", "_device_cache", "_group", "_held", "_here", "_lent", "_removed",
                 "ballots", "ballots_per_contest", "ballots_per_style", "device_styles")

    def __init__(self, held_memory: int | None = None) -> None:
        self.ballots_per_contest: dict[int, int] = {}
        self.ballots_per_style: dict[str, int] = {}
        self.ballots = 0
        self.device_styles: dict[str, dict[str, int]] = {}
        # per device: its products not on loan
        self._held = HeldProducts(held_memory)
        self._here: dict[str, Products] = {}  # per device: the reference pass's (``add``)
        self._removed: dict[str, Products] = {}  # per device: ballots taken back
        self._lent = 0  # products on loan to chunks in flight
        self._group: GroupParameters | None = None
        self._cache: dict[tuple[int, int], Ciphertext] | None = None
        self._device_cache: tuple[str, dict[tuple[int, int], Ciphertext]] | None = None

    def _changed(self) -> None:
        self._cache = self._device_cache = None

    def _count(self, device_id: str, style_id: str, contests: Iterable[int], n: int) -> None:
        self.ballots += n
        self.ballots_per_style[style_id] = self.ballots_per_style.get(style_id, 0) + n
        styles = self.device_styles.setdefault(device_id, {})
        styles[style_id] = styles.get(style_id, 0) + n
        for contest in contests:
            self.ballots_per_contest[contest] = self.ballots_per_contest.get(contest, 0) + n

    def add(self, group: GroupParameters, ballot: EncryptedBallot) -> None:
        """One valid cast ballot (the reference pass: multiplied in here)."""
        self._group = group
        self._count(ballot.device_id, ballot.style_id, (c.index for c in ballot.contests), 1)
        rows = {c.index: [[s.ciphertext.alpha.value, s.ciphertext.beta.value]
                          for s in c.selections] for c in ballot.contests}
        here = self._here.get(ballot.device_id)
        if here is None:
            self._here[ballot.device_id] = rows
        else:
            fold_products(group.p, here, rows)
        self._changed()

    def lend(self, devices: Iterable[str]) -> dict[str, list[Packed]]:
        """These devices' products, for a chunk to multiply into (``verify_chunk``); until
        ``merge`` takes them back they are on loan."""
        loans = {d: held for d in devices if (held := self._held.take(d))}
        if loans:
            self._lent += len(loans)
            self._changed()
        return loans

    def merge(self, group: GroupParameters, partial: PackedPartial, returned: int = 0
              ) -> None:
        """Take back a chunk's products (``returned`` of them were lent to it) and fold in
        its counts: the same totals and counts as ``add`` for each of its counted ballots,
        multiplication being commutative."""
        if returned > self._lent:
            raise RecordError("a chunk returned products that were not lent to it")
        self._lent -= returned
        self._group = group
        for device_id, products in partial.products.items():
            self._held.add(device_id, products)
        for device_id, styles in partial.styles.items():
            for style_id, count in styles.items():
                self._count(device_id, style_id, (), count)
        for contest, count in partial.contests.items():
            self.ballots_per_contest[contest] = self.ballots_per_contest.get(contest, 0) + count
        self._changed()

    def remove(self, group: GroupParameters, device_id: str, style_id: str,
               rows: Sequence[tuple[int, Sequence[tuple[mpz, mpz]]]]) -> None:
        """Take back one ballot merged with its chunk that the ordered checks then refused
        (a broken chain or a repeated α): its ciphertexts are divided out when the totals
        are read, its counts dropped now."""
        def take(counts: dict, key: object) -> None:  # type: ignore[type-arg]
            counts[key] -= 1
            if not counts[key]:
                del counts[key]

        self.ballots -= 1
        take(self.ballots_per_style, style_id)
        take(self.device_styles[device_id], style_id)
        if not self.device_styles[device_id]:
            del self.device_styles[device_id]
        for contest_index, _ in rows:
            take(self.ballots_per_contest, contest_index)
        fold_products(group.p, self._removed.setdefault(device_id, {}),
                      {contest_index: [list(pair) for pair in row] for contest_index, row in rows})
        self._changed()

    def _devices(self) -> list[str]:
        """The devices holding products (the reference pass's or merged ones)."""
        return list(dict.fromkeys([*self._held, *self._here]))

    def _device_products(self, device_id: str) -> dict[tuple[int, int], Ciphertext] | None:
        """One device's products per (contest, selection), its ballots taken back divided
        out; None if it holds none. Its products are folded into one and held again."""
        if self._lent:
            raise RecordError("the tally's products are read while chunks still hold some")
        cached = self._device_cache
        if cached is not None and cached[0] == device_id:
            return cached[1]
        group = self._group
        if group is None:  # nothing was ever added or merged
            return None
        width = group.p_bytes
        held = self._held.take(device_id)
        first = fold_packed(group.p, width, held) if held else None
        here = self._here.pop(device_id, None)
        if here is not None:
            first = here if first is None else fold_products(group.p, first, here)
        if first is None:
            return None
        self._held.add(device_id, pack_products(first, width))  # folded once for all
        removed = self._removed.get(device_id, {})
        device: dict[tuple[int, int], Ciphertext] = {}
        for contest_index, row in first.items():
            out = removed.get(contest_index)
            for j, (alpha, beta) in enumerate(row):
                ciphertext = Ciphertext(_trusted_p(alpha, group), _trusted_p(beta, group))
                if out is not None:
                    ciphertext = ciphertext / Ciphertext(_trusted_p(out[j][0], group),
                                                         _trusted_p(out[j][1], group))
                device[(contest_index, j)] = ciphertext
        self._device_cache = (device_id, device)
        return device

    @property
    def totals(self) -> dict[tuple[int, int], Ciphertext]:
        """Per (contest, selection) the product of the valid cast ballots' ciphertexts:
        computed once per change, one device at a time (no device's products kept)."""
        if self._cache is not None:
            return self._cache
        if self._lent:
            raise RecordError("the tally's products are read while chunks still hold some")
        totals: dict[tuple[int, int], Ciphertext] = {}
        for device_id in self._devices():
            device = self._device_products(device_id)
            for key, ciphertext in (device or {}).items():
                current = totals.get(key)
                totals[key] = ciphertext if current is None else current * ciphertext
        self._device_cache = None
        self._cache = totals
        return totals

    @property
    def device_totals(self) -> Mapping[str, dict[tuple[int, int], Ciphertext]]:
        """The same per device: a view that computes a device's products when asked."""
        return _DeviceTotals(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CastAggregate):
            return NotImplemented
        return (self.ballots == other.ballots
                and self.ballots_per_contest == other.ballots_per_contest
                and self.ballots_per_style == other.ballots_per_style
                and self.device_styles == other.device_styles
                and self.totals == other.totals
                and dict(self.device_totals) == dict(other.device_totals))

    __hash__ = None  # type: ignore[assignment]

    def device_total(self, context: ElectionContext, device_id: str, contest: int,
                     selection: int) -> Ciphertext:
        """One device's product for one selection: (1, 1) when none of its ballots holds it."""
        return (self._device_products(device_id) or {}).get(
            (contest, selection), Ciphertext.identity(context.group))

    def total(self, context: ElectionContext, contest: int, selection: int) -> Ciphertext:
        """The product for one selection: (1, 1) when no valid cast ballot holds it."""
        return self.totals.get((contest, selection), Ciphertext.identity(context.group))


class _DeviceTotals(Mapping[str, dict[tuple[int, int], Ciphertext]]):
    """``CastAggregate.device_totals``: each device's products, computed when asked."""

    __slots__ = ("_aggregate",)

    def __init__(self, aggregate: CastAggregate) -> None:
        self._aggregate = aggregate

    def __getitem__(self, device_id: str) -> dict[tuple[int, int], Ciphertext]:
        device = self._aggregate._device_products(device_id)
        if device is None:
            raise KeyError(device_id)
        return device

    def __iter__(self) -> Iterator[str]:
        # (a device holding products has some to compute: none is computed to list it)
        aggregate = self._aggregate
        return iter(aggregate._devices() if aggregate._group is not None else [])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class EntryChecker(Protocol):
    """Checks entries of some types (e.g. tally, decryption shares) during the pass."""

    entry_types: frozenset[str]

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        """Raise a PaperchainError (it becomes a finding) or return None."""
        ...

    def finish(self, verifier: RecordVerifier) -> None:
        """After the last entry: raise for anything missing."""
        ...


T = TypeVar("T")

_CODES_IN_MEMORY = 4_096  # tracking codes (and spoiled paper IDs) held in memory per set
_DEVICES_PER_CHUNK = 128  # devices whose products are lent to one chunk, at most

_VOTING_TYPES = frozenset({EntryType.BALLOT, EntryType.CHALLENGE, EntryType.DEVICE_CLOSE})
_PHASE_TYPES = frozenset({EntryType.SETUP, EntryType.REGISTER_WRITER, EntryType.REVOKE_WRITER,
                          EntryType.VOTING_OPEN, EntryType.VOTING_CLOSE})


class _WindowPayloads:
    """The payloads of one window of ballots (see "Windows" in ``RecordVerifier``), kept
    where its chunks will read them. For a local process pool: in a slot of the arena
    (``e2e.arena``), written as each ballot is queued, so that this process keeps no copy
    of its own — three windows' worth of payloads (filling, ready, in flight) would
    otherwise be held twice, as bytes here and in shared memory. Otherwise (this process,
    a Dask cluster's pipe), or when shared memory cannot be had: as bytes."""

    __slots__ = ("_arena", "_held", "_slot", "_spans")

    def __init__(self, arena: PayloadArena | None) -> None:
        self._arena = arena
        self._slot: ArenaSlot | None = arena.take() if arena is not None else None
        self._spans: list[tuple[int, int]] = []  # in the slot, by position
        self._held: list[bytes] = []  # or here, by position

    @property
    def in_arena(self) -> bool:
        return self._slot is not None

    def add(self, payload: bytes) -> int:
        """Keep a ballot's payload; its position in the window."""
        if self._slot is not None:
            try:
                self._spans.append(self._slot.append(payload))
                return len(self._spans) - 1
            except OSError:  # no room in shared memory: this window's payloads stay here
                self._held = [self._slot.read(span) for span in self._spans]
                self._spans = []
                self.release()
        self._held.append(payload)
        return len(self._held) - 1

    def payload(self, at: int) -> bytes:
        """A payload kept (read back out of shared memory: a rare path's)."""
        return self._slot.read(self._spans[at]) if self._slot is not None else self._held[at]

    def chunk_ref(self, positions: Sequence[int]) -> ArenaRef | None:
        """Where a chunk's payloads lie, for ``verify_chunk_in_arena``; None when the
        window is not in shared memory."""
        if self._slot is None:
            return None
        return self._slot.ref([self._spans[at] for at in positions])

    def release(self) -> None:
        """Every chunk of the window is back and its outcomes applied: its slot goes back
        to the arena."""
        if self._slot is not None and self._arena is not None:
            self._arena.give_back(self._slot)
        self._slot = None


@dataclass(frozen=True, slots=True)
class _Queued:
    """A ballot entry sent to a chunk: what applying its outcome in order needs."""

    index: int
    kind: str
    writer_id: str
    where: str
    leaf: bytes
    window: _WindowPayloads  # where the task's payload is kept, at position ``at``: without
    at: int  # proofs when verified (``verified_rows`` reads it back on a rare path)
    mark: int  # len(report.findings) when it was queued ...
    inserted: int  # ... and how many findings had been inserted before then
    verified: bool  # the verdict by leaf hash is already held (none to add)
    known: int | None  # the α registry's answer when it was queued, if it had one ...
    generation: int  # ... and the registry's generation then (e2e.alphas)
    weight: float  # the share of the entry's payload bytes sent (1: all, with proofs)


@dataclass(slots=True)
class _Flight:
    """A chunk sent: its outcome (or the future of it), its entries, the devices whose
    products were lent to it, and its ballots' outcomes once taken back (``landed``).
    Landed, it keeps neither the future nor the products that came back with it: they
    are the aggregate's (``CastAggregate.merge``), and held here until the window is
    applied they would be a second copy of every device's products in flight."""

    pending: Future[ChunkOutcome] | ChunkOutcome | None
    queued: list[_Queued]
    lent: tuple[str, ...]
    # its own slot of shared memory (not its window's), if any: its lent products, or
    # (a window not in shared memory) its payloads and lent products
    slot: ArenaRef | None = None
    landed: tuple[BallotOutcome, ...] | None = None

    def back(self) -> bool:
        return not isinstance(self.pending, Future) or self.pending.done()


class _CachedSignatureEntry(Entry):
    """An entry whose signature check consults the process's verdicts first (keyed by the
    writer's key and the envelope's leaf hash, which covers the signed bytes)."""

    __slots__ = ("_index", "_leaf", "_verdicts")

    def verify_signature(self, key: object) -> None:
        verdict = VerdictCache.signature(key.key_bytes, self._leaf)  # type: ignore[attr-defined]
        if self._verdicts.has(verdict, self._index):
            return
        Entry.verify_signature(self, key)  # type: ignore[arg-type]
        self._verdicts.add(verdict, self._index)

    @classmethod
    def wrap(cls, entry: Entry, index: int, leaf: bytes, verdicts: VerdictCache) -> Entry:
        wrapped = cls(entry.entry_type, entry.election_id, entry.writer_id, entry.sequence,
                      entry.payload, entry.signature)
        object.__setattr__(wrapped, "_index", index)
        object.__setattr__(wrapped, "_leaf", leaf)
        object.__setattr__(wrapped, "_verdicts", verdicts)
        return wrapped


class RecordVerifier:
    """One pass over a ledger's envelopes; see the module docstring.

    ``executor``: where ballot chunks run — "auto" (the default) starts in this process
    and moves to the process-wide pool (``e2e.parallel.shared_executor``) once the
    ledger holds more than a few chunks of ballots; an ``Executor`` (a process pool, a
    Dask cluster's); or None (always here). ``fast=False`` is the reference pass.
    ``chunk_size``: ballots per chunk, a ballot sent without its proofs counting for the
    share of the bytes it keeps (see ``_queue_ballot``). ``held_memory``: bytes of the
    devices' running products kept in memory between loans (``CastAggregate``); the rest
    wait in a temporary file (``e2e.held_products``; 16 MiB unless given).
    ``devices_per_chunk``: at most this many devices' running products lent to one chunk
    (see "Windows" below).
    """

    def __init__(self, election_id: str | None, *, allow_test_group: bool = False,
                 checkers: Sequence[EntryChecker] = (),
                 progress: Callable[[int], None] | None = None,
                 executor: Executor | Literal["auto"] | None = "auto", chunk_size: int = 64,
                 in_flight: int | None = None, fast: bool = True,
                 verdicts: VerdictCache | None = None, held_memory: int | None = None,
                 devices_per_chunk: int = _DEVICES_PER_CHUNK) -> None:
        self.report = VerificationReport()
        self.state = LedgerState(election_id or "", allow_test_group)
        self._expected_election = election_id
        self.ceremony: CeremonyReplay | None = None
        self.context: ElectionContext | None = None
        self.chains: DeviceChains | None = None
        self.aggregate = CastAggregate(held_memory)
        # Per ballot: in memory up to a bound, the rest in this process's scratch store
        # (e2e.scratch), so that memory does not grow with the ledger.
        self.spoiled_paper_ids = KeySet(_CODES_IN_MEMORY)
        self.card_remakes: dict[bytes, int] = {}  # paper ballot ID → remakes so far
        self.cast_codes = KeySet(_CODES_IN_MEMORY)
        self.challenged_codes = KeySet(_CODES_IN_MEMORY)
        self.voting_close_index: int | None = None
        self.leaf_hashes_seen = 0
        self._alphas: set[bytes] = set()  # the reference pass (fast=False) only
        self._checkers = {t: c for c in checkers for t in c.entry_types}
        self._all_checkers = tuple(checkers)
        self._progress = progress
        self.fast = fast
        self._executor = executor
        self._chunk_size = max(1, chunk_size)
        self._devices_per_chunk = max(1, devices_per_chunk)
        # Chunks in flight, at most (see "Windows" below): enough to keep every worker busy,
        # few enough that memory (each chunk holds its payloads) does not grow with the
        # ledger.
        self._in_flight_limit = in_flight or 2 * (os.cpu_count() or 1)
        self._verdicts = verdicts if verdicts is not None else VERDICTS
        self._registry: AlphaRegistry | None = None
        self._last_ballot = -1  # ledger index of the last ballot given to the α registry
        self._batch: list[tuple[BallotTask, _Queued]] = []  # the window being filled
        self._batch_weight = 0.0  # in full ballots (see _queue_ballot)
        self._batch_devices: set[str] = set()  # the devices of its ballots
        self._batch_payloads: _WindowPayloads | None = None  # its payloads
        # The next window, cut into chunks, those not sent yet (see "Windows" below).
        self._ready: list[list[tuple[BallotTask, _Queued]]] | None = None
        self._window: list[_Flight] = []  # the window in flight, by chunk
        self._next: list[_Flight] = []  # the next window's chunks already sent
        self._chunks_sent = 0
        self._insertions = 0
        self._arena: PayloadArena | None = None  # local workers' payloads (e2e.arena)
        self._checked_proofs = False  # some ballot's proofs were checked (not a verdict)

    def checker(self, kind: type[T]) -> T:
        """The plugged-in checker of this class."""
        for checker in self._all_checkers:
            if isinstance(checker, kind):
                return checker
        raise RecordError(f"no {kind.__name__} is plugged into this verifier")

    # --- the pass ------------------------------------------------------------------------

    def run(self, envelopes: Iterable[bytes]) -> VerificationReport:
        previous = GENESIS_PREVIOUS
        index = -1
        try:
            try:
                for index, raw in enumerate(envelopes):
                    previous = self._envelope(index, raw, previous)
                    if self._progress is not None:
                        self._progress(index)
                    if self.state.setup is None:  # nothing after a refused setup can be
                        self.report.fail("ledger", "stopped: without a valid setup entry "
                                                   "no later entry can be checked")
                        break
            except PaperchainError as err:  # the record itself is unreadable past here
                self._drain()
                self.report.fail_with(err, f"record after entry {index}")
            self._drain()
        finally:
            if self._arena is not None:
                self._arena.close()
                self._arena = None
        self._finish(index + 1)
        self._release_caches()
        return_freed_memory()  # what the pass freed, for the next phase or pass (e2e.memory)
        self._renew_workers()
        return self.report

    def _renew_workers(self) -> None:
        """A pass that checked proofs is over: the local pool it used lets its workers
        go, and the next pass (a tally's: ciphertexts only) starts new ones, forked from
        this process as it is then (``e2e.parallel.LocalPool``). The old ones held the
        verification's leftovers and their copy of this process's state at its first
        chunk: at 10^5 ballots, tens of MiB a worker (benchmarks/README.md). A pass
        that checked none (the tally's, after a verification) keeps its workers."""
        pool = self._pool() if self._checked_proofs else None  # (the one chunks went to)
        if isinstance(pool, LocalPool):
            pool.renew()

    def _release_caches(self) -> None:
        """The pass is over: the SQLite page caches of the α registry and of this pass's
        sets of codes go (what they hold stays on disk). Filled by this pass's inserts,
        they would otherwise stay full through the next pass, which reads few of those
        pages (a tally pass: the registry's answers, in ledger order; another pass's
        codes). The verdicts' cache is left alone: it is small (1 MiB at most), and the
        next pass reads the verdicts in ledger order, each page once (e2e.verdicts)."""
        if self._registry is not None:
            self._registry.release_memory()
        for keys in (self.cast_codes, self.challenged_codes, self.spoiled_paper_ids):
            keys.release_memory()

    def _envelope(self, index: int, raw: bytes, previous: bytes) -> bytes:
        where = f"ledger entry {index}"
        leaf = leaf_hash_of(raw)
        try:
            envelope = decode_envelope(raw, where)
        except PaperchainError as err:
            self.report.fail_with(err, where)
            return leaf
        if envelope.index != index:
            self.report.fail(where, f"envelope says index {envelope.index}")
        elif envelope.previous != previous:
            self.report.fail(where, "chain broken: previous-hash link does not match")
        else:
            self.report.passed("envelopes chained")
        try:
            entry = envelope.entry()
        except PaperchainError as err:
            self.report.fail_with(err, where)
            return leaf
        if index == 0 and self._expected_election is None:
            self.state.election_id = entry.election_id
        where = f"{where} ({entry.entry_type} by {entry.writer_id})"
        if self.fast:
            entry = _CachedSignatureEntry.wrap(entry, index, leaf, self._verdicts)
        try:
            self.state.check(index, entry)
        except PaperchainError as err:
            self.report.fail(where, f"refused by the ledger rules: {err.reason}")
            return leaf
        self.report.passed("entry signatures, writers, sequences, phases")
        self._content(index, entry, where, leaf)
        self.state.observe(index, entry)
        if entry.entry_type == EntryType.VOTING_CLOSE:
            self.voting_close_index = index
        if entry.entry_type == EntryType.SETUP and self.state.setup is not None:
            self.ceremony = CeremonyReplay(self.state.setup)
            self.report.facts["election_id"] = self.state.setup.election_id
            self.report.facts["group"] = self.state.setup.group.name
            self.report.facts["manifest_hash"] = self.state.setup.manifest.digest.hex()
        return leaf

    def _content(self, index: int, entry: Entry, where: str, leaf: bytes = b"") -> None:
        kind = entry.entry_type
        if kind not in (EntryType.BALLOT, EntryType.CHALLENGE):
            self._drain()  # every later check sees the ballots before it applied
        try:
            if self.fast and kind in (EntryType.BALLOT, EntryType.CHALLENGE):
                self._queue_ballot(index, entry, where, leaf)
                return
            if kind in CEREMONY_TYPES:
                self._ceremony_entry(index, entry)
            elif kind in _VOTING_TYPES:
                self._voting_entry(index, entry, where)
            elif kind in (EntryType.VOTING_OPEN, EntryType.VOTING_CLOSE):
                PhaseNote.decode(entry.payload, where)
            elif kind in _PHASE_TYPES:
                pass
            elif kind == EntryType.CARD_REMAKE:
                self._card_remake(index, entry)
            elif kind in self._checkers:
                self._checkers[kind].check(self, index, entry)
                self.report.passed(f"{kind} entries")
            else:
                self.report.fail(where, f"no check is known for entry type {kind!r}")
        except PaperchainError as err:
            # Always name the ledger entry, also when a check names a place inside it
            # ("tally contest 0 selection 1", "device kiosk-1 close").
            inside = err.where is not None and not err.where.startswith(where)
            self.report.fail_with(err.at(where) if inside else err, where)

    def _ceremony_entry(self, index: int, entry: Entry) -> None:
        if self.ceremony is None:
            raise RecordError("ceremony entry before the setup")
        self.ceremony.apply(index, entry)
        self.report.passed("ceremony entries (proofs, complaints, signatures)")
        outcome = self.ceremony.outcome
        if outcome is not None and self.state.setup is not None:
            self.context = ElectionContext(self.state.setup, outcome)
            self.chains = DeviceChains(outcome.extended_base_hash)
            self.report.facts["joint_key_fingerprint"] = hashlib.sha256(
                outcome.joint_key.to_bytes()).hexdigest()[:32]
            self.report.facts["extended_base_hash"] = outcome.extended_base_hash.hex()

    def _voting_entry(self, index: int, entry: Entry, where: str) -> None:
        if self.context is None or self.chains is None:
            raise RecordError("voting entry before the key ceremony closed")
        context, chains = self.context, self.chains
        if entry.entry_type == EntryType.DEVICE_CLOSE:
            close = DeviceClose.from_payload(entry.payload, where)
            chains.check_close(entry.writer_id, close)
            chains.mark_closed(close)
            self.report.passed("device chains closed")
            return
        if entry.entry_type == EntryType.BALLOT:
            ballot = CastBallot.from_payload(entry.payload, context.group, where).ballot
            opening = None
        else:
            challenged = ChallengedBallot.from_payload(entry.payload, context.group, where)
            ballot, opening = challenged.ballot, challenged.opening
        problem = chains.follow(entry.writer_id, ballot)
        if problem is None:
            try:
                verify_ballot(context, ballot, fast=self.fast)
                if opening is not None:
                    verify_opening(context, ballot, opening)
            except PaperchainError as err:
                problem = err
        repeated = [key for key in alpha_keys(ballot) if key in self._alphas]
        self._alphas.update(alpha_keys(ballot))
        if problem is None and repeated:
            problem = RecordError(f"{len(repeated)} α value(s) already used by an earlier ballot")
        if problem is not None:
            excluded = " — excluded from the tally" if opening is None else ""
            self.report.fail(where, f"invalid {entry.entry_type}: {problem}{excluded}")
            return
        if opening is None:
            self.aggregate.add(context.group, ballot)
            self.cast_codes.add(ballot.tracking_code)
            self.report.passed("cast ballots verified")
        else:
            self.spoiled_paper_ids.add(challenged.paper_ballot_id)
            self.challenged_codes.add(ballot.tracking_code)
            self.report.passed("challenged ballots re-encrypted")

    def _card_remake(self, index: int, entry: Entry) -> None:
        """e2e/remake.py: two signatures, the style, TEST, not spoiled paper, numbering."""
        setup = self.state.setup
        if setup is None:
            raise RecordError("card remake before the setup")
        remake = CardRemake.from_payload(entry.payload, f"ledger entry {index}")
        check_remake(remake, writer_id=entry.writer_id, election_id=setup.election_id,
                     manifest=setup.manifest, test_election=setup.test_election,
                     writer_at=lambda writer_id: self.state.writer_at(writer_id, index),
                     spoiled=self.spoiled_paper_ids, last_remake=self.card_remakes)
        self.card_remakes[remake.ballot_id] = remake.remake
        self.report.passed("card remakes (two signatures, style, TEST, numbering)")

    # --- ballots in chunks (fast) ---------------------------------------------------------

    def _queue_ballot(self, index: int, entry: Entry, where: str, leaf: bytes) -> None:
        if self.context is None or self.chains is None:
            raise RecordError("voting entry before the key ceremony closed")
        extended = self.context.extended_base_hash
        if self._registry is None:
            self._registry = registry_for(extended)
        kind = entry.entry_type
        by_leaf = self._verdicts.has(VerdictCache.ballot_by_leaf(extended, kind, leaf), index)
        # ... or admitted by this process's ledger operator (its verdict is by payload)
        verified = by_leaf or VerdictCache.ballot_by_payload(
            extended, kind, entry.payload) in self._verdicts
        # A verified cast ballot's worker only multiplies its ciphertexts: send those alone.
        payload = (strip_proofs(self.context, entry.payload)
                   if verified and kind == EntryType.BALLOT else entry.payload)
        self._checked_proofs = self._checked_proofs or not verified
        known = self._registry.known(index, leaf)
        if self._batch_payloads is None:
            self._batch_payloads = _WindowPayloads(self._arena_for(self._pool()))
        window = self._batch_payloads
        at = window.add(payload)
        # (in shared memory, the task goes without it: the chunk's ArenaRef says where)
        task = BallotTask(index, kind, b"" if window.in_arena else payload, where, verified,
                          digests=known is None)
        # A chunk holds chunk_size ballots' worth of payload bytes: a ballot sent without
        # its proofs counts for its share, so a tally pass's chunks hold ≈ 3.6 times as many
        # (fewer chunks to send, fewer devices' products to lend per ballot).
        weight = len(payload) / max(1, len(entry.payload))
        self._batch.append((task, _Queued(index, kind, entry.writer_id, where, leaf,
                                          window, at, len(self.report.findings),
                                          self._insertions, by_leaf, known,
                                          self._registry.generation, weight)))
        self._batch_weight += weight
        if kind == EntryType.BALLOT:
            self._batch_devices.add(entry.writer_id)
        chunks = self._window_chunks()
        if (self._batch_weight >= self._chunk_size * chunks
                or len(self._batch_devices) >= self._devices_per_chunk * chunks):
            self._close_window()
        elif self._window:
            self._poll()  # chunks back already: the workers get the ready ones at once

    def _pool(self) -> Executor | None:
        if self._executor == "auto":
            # Small ledgers (tests, a demo's first steps) stay in this process; a pool pays
            # off once there are several chunks to share.
            return shared_executor() if self._chunks_sent >= 4 else None
        return self._executor

    def _window_chunks(self) -> int:
        """Chunks per window: half of ``in_flight`` (a window in flight, one ready, one
        being filled); one in this process."""
        return max(1, self._in_flight_limit // 2) if self._pool() is not None else 1

    # Windows. Ballots are sent in windows of a few chunks: one window in flight, the next
    # ready, a third being filled. A window's ballots go by device (each device's in ledger
    # order), so that a chunk holds few devices with several ballots each, and each
    # device's running product is lent to one chunk (``CastAggregate.lend``): on an
    # election day's ledger, where every window holds ballots of every device, chunks in
    # ledger order would each hold nearly every device, and each device's products would
    # be sent, returned and folded once per chunk instead of once per window. Each chunk
    # of the window in flight that comes back makes room for one of the ready window's
    # (the one whose devices' products are home), so no worker waits for another's chunk.
    # Outcomes are applied in ledger order, a window at a time, once all of its chunks are
    # back (``_settle``), so findings and checks are those of the one-by-one pass.
    # A window closes at ``chunk_size`` ballots' worth of bytes per chunk, or at
    # ``devices_per_chunk`` devices per chunk, whichever comes first, and a chunk holds
    # ballots of at most ``devices_per_chunk`` devices: with many devices (thousands, each
    # with a ballot or two in a window) every ballot needs its device's products lent and
    # returned, as many bytes again as the ballot's ciphertexts, and this bounds what is
    # lent per chunk in flight — in shared memory, in the workers and on the way back —
    # however many devices the election has.
    # A window's payloads are kept once (``_WindowPayloads``): for a local pool, in its
    # slot of shared memory from the moment each ballot is queued until the window's
    # outcomes are applied — the three windows are most of what this process holds.

    def _close_window(self) -> None:
        """The window being filled is complete: it goes as the one in flight comes back."""
        if not self._batch:
            return
        if self._ready is not None:
            self._settle()  # waits for the window in flight; the ready one is then sent
        self._ready = self._cut(self._batch)
        self._batch, self._batch_weight, self._batch_payloads = [], 0.0, None
        self._batch_devices = set()
        if not self._window:
            self._settle()  # nothing in flight: the ready window goes now

    def _cut(self, window: list[tuple[BallotTask, _Queued]]
             ) -> list[list[tuple[BallotTask, _Queued]]]:
        """A window's chunks: its ballots by device (stable: each device's in ledger
        order), ``chunk_size`` full ballots' worth of bytes each, and cast ballots of at most
        ``devices_per_chunk`` devices."""
        chunks: list[list[tuple[BallotTask, _Queued]]] = [[]]
        weight = 0.0
        devices: set[str] = set()  # whose products the chunk will be lent
        for task, item in sorted(window, key=lambda pair: pair[1].writer_id):
            lent = item.kind == EntryType.BALLOT and item.writer_id not in devices
            if weight >= self._chunk_size or (lent and len(devices) >= self._devices_per_chunk):
                chunks.append([])
                weight = 0.0
                devices = set()
            chunks[-1].append((task, item))
            weight += item.weight
            if item.kind == EntryType.BALLOT:
                devices.add(item.writer_id)
        return chunks

    def _send(self, chunk: list[tuple[BallotTask, _Queued]]) -> _Flight:
        if self.context is None:
            raise RecordError("voting entry before the key ceremony closed")
        tasks = [task for task, _ in chunk]
        queued = [item for _, item in chunk]
        window = queued[0].window  # (a chunk is cut from one window)
        self._chunks_sent += 1
        pool = self._pool()
        # The running products of the chunk's devices go with it (a ballot's writer is its
        # device; were it not, the ballot starts a product of its own: still counted
        # once). A device whose product is out with another chunk starts a second one,
        # folded with the first when the totals are read.
        loans = self.aggregate.lend(dict.fromkeys(
            item.writer_id for item in queued if item.kind == EntryType.BALLOT))
        layout, lent = loans_in_order(loans)
        ref = own = lent_ref = None
        if is_local(pool):
            ref = window.chunk_ref([item.at for item in queued])
            # The lent products go into a slot of the chunk's own, given back when it
            # lands: appended to the window's slot, they would stay until the window's
            # last chunk is applied, and every window's slot would grow to hold them.
            if ref is not None and lent:
                lent_ref = own = self._to_arena(pool, lent)
                if lent_ref is None:
                    ref = None
        if ref is None:  # the payloads go another way: those in shared memory read back
            tasks = [task if task.payload else replace(task, payload=window.payload(item.at))
                     for task, item in zip(tasks, queued, strict=True)]
            # (a window filled before the pool started, or no room for the products)
            ref = own = self._to_arena(pool, [task.payload for task in tasks] + lent)
        if pool is None:
            return _Flight(verify_chunk(self.context, tasks, loans), queued, tuple(loans))
        outcome: Future[ChunkOutcome]
        if ref is not None:
            light = [task if not task.payload else replace(task, payload=b"")
                     for task in tasks]
            outcome = pool.submit(verify_chunk_in_arena, self.context, light, ref, layout,
                                  lent_ref)
        else:
            outcome = pool.submit(verify_chunk, self.context, tasks, loans)
        return _Flight(outcome, queued, tuple(loans), own)

    def _arena_for(self, pool: Executor | None) -> PayloadArena | None:
        """The shared memory a local process pool's chunks are read from (``e2e.arena``);
        None for other executors, or when it cannot be had."""
        if not is_local(pool):
            return None
        if self._arena is None:
            try:
                self._arena = PayloadArena()
            except OSError:
                return None
        return self._arena

    def _to_arena(self, pool: Executor | None, blobs: list[bytes]) -> ArenaRef | None:
        """A chunk's lent products (and its payloads, when its window's are not in shared
        memory) written into a slot of its own, for a local process pool's workers
        (``e2e.arena``), given back when the chunk lands; None for other executors, or when
        shared memory cannot be had (the pipe then carries them, as it does to a Dask
        cluster)."""
        arena = self._arena_for(pool)
        if arena is None:
            return None
        try:
            return arena.put(blobs)
        except OSError:
            return None

    def _send_one_ready(self) -> None:
        """Send the ready chunk with the fewest devices whose products are out."""
        if not self._ready:
            return
        out = {device for flight in self._window if flight.landed is None
               for device in flight.lent}
        best = min(range(len(self._ready)), key=lambda k: sum(
            item.writer_id in out for _, item in self._ready[k]))  # type: ignore[index]
        self._next.append(self._send(self._ready.pop(best)))

    def _land(self, flight: _Flight) -> None:
        """Take a chunk's products back (a chunk that raises is taken out of the window
        first: the drain after the error does not wait for it again; the products lent to
        it stay out, so no totals are read from this pass) and send a ready chunk."""
        if self.context is None:
            raise RecordError("voting entry before the key ceremony closed")
        try:
            try:
                outcome = (flight.pending.result() if isinstance(flight.pending, Future)
                           else flight.pending)
            finally:
                if flight.slot is not None and self._arena is not None:
                    self._arena.give_back(flight.slot)
        except BaseException:
            self._window = self._next + [self._send(c) for c in self._ready or []]
            self._next, self._ready = [], None
            raise
        self.aggregate.merge(self.context.group, outcome.partial, len(flight.lent))
        flight.landed, flight.pending = outcome.outcomes, None
        del outcome
        self._send_one_ready()

    def _poll(self) -> None:
        """Without waiting: take back the chunks in flight that are back; once all are."""
        for flight in self._window:
            if flight.landed is None and flight.back():
                self._land(flight)
        if all(flight.landed is not None for flight in self._window):
            self._settle()

    def _settle(self) -> None:
        """Take back the window in flight, chunk by chunk as they come, each making room
        for one of the ready window's; send the rest of the ready window; then apply the
        landed window's outcomes, in ledger order."""
        waiting = [flight for flight in self._window if flight.landed is None]
        while waiting:
            futures = [f.pending for f in waiting if isinstance(f.pending, Future)]
            if len(futures) == len(waiting):
                wait(futures, return_when=FIRST_COMPLETED)
            for flight in [f for f in waiting if f.back()]:
                waiting.remove(flight)
                self._land(flight)
        landed = [(result, item) for flight in self._window if flight.landed is not None
                  for result, item in zip(flight.landed, flight.queued, strict=True)]
        self._window = self._next + [self._send(chunk) for chunk in self._ready or []]
        self._next, self._ready = [], None
        landed.sort(key=lambda pair: pair[1].index)
        for result, item in landed:
            self._apply(result, item)
        for window in {id(item.window): item.window for _, item in landed}.values():
            window.release()  # its chunks are back and applied: no one reads it again

    def _drain(self) -> None:
        """Send every ballot queued and apply every outcome, in order."""
        if not self.fast:
            return
        self._close_window()
        while self._window or self._ready is not None:
            self._settle()

    def _insert_finding(self, item: _Queued, finding: Finding) -> None:
        """Where the one-by-one pass would have appended it: after the findings that came
        before this entry, before those of later entries found while it was in flight."""
        self.report.findings.insert(item.mark + self._insertions - item.inserted, finding)
        self._insertions += 1

    def _apply(self, result: BallotOutcome, item: _Queued) -> None:
        """The in-order part of a ballot's checks, exactly as the reference pass does it."""
        context, chains, registry = self.context, self.chains, self._registry
        if context is None or chains is None or registry is None:
            raise RecordError("voting entry before the key ceremony closed")
        if result.decode_error is not None or result.header is None:
            error = (result.decode_error.error() if result.decode_error is not None
                     else RecordError("the ballot does not decode"))
            self._insert_finding(item, Finding(error.where or item.where, error.reason))
            return
        header = result.header
        problem = chains.follow(item.writer_id, header)
        if problem is None and result.verify_error is not None:
            problem = result.verify_error.error()
        # The answer given to this ballot of this ledger prefix before, if any: the one read
        # when it was queued, unless the registry has forgotten rows since (an earlier
        # ballot of a diverging pass), when it is asked again, in order.
        repeated = (item.known if item.generation == registry.generation
                    else registry.known(item.index, item.leaf))
        if repeated is None:
            digests = result.digests
            if digests is None:  # forgotten meanwhile: the digests were not computed
                _, rows = verified_rows(context, item.window.payload(item.at))
                digests = tuple(hashlib.sha256(int(a).to_bytes(context.group.p_bytes, "big"))
                                .digest() for _, row in rows for a, _ in row)
            repeated = registry.register(item.index, item.leaf, digests, self._last_ballot)
        self._last_ballot = item.index
        if not item.verified and result.decode_error is None and result.verify_error is None:
            self._verdicts.add(VerdictCache.ballot_by_leaf(context.extended_base_hash,
                                                           item.kind, item.leaf), item.index)
        if problem is None and repeated:
            problem = RecordError(f"{repeated} α value(s) already used by an earlier ballot")
        cast = item.kind == EntryType.BALLOT
        if problem is not None:
            excluded = " — excluded from the tally" if cast else ""
            self._insert_finding(item, Finding(
                item.where, f"invalid {item.kind}: {problem}{excluded}"))
            if result.counted:
                _, rows = verified_rows(context, item.window.payload(item.at))
                self.aggregate.remove(context.group, header.device_id, header.style_id, rows)
            return
        if cast:
            self.cast_codes.add(header.tracking_code)
            self.report.passed("cast ballots verified")
        else:
            if result.paper_ballot_id is not None:
                self.spoiled_paper_ids.add(result.paper_ballot_id)
            self.challenged_codes.add(header.tracking_code)
            self.report.passed("challenged ballots re-encrypted")

    def _finish(self, size: int) -> None:
        self.report.facts["ledger_entries"] = size
        if self.state.setup is None:
            self.report.fail("ledger", "no election setup")
            return
        if self.context is None:
            self.report.fail("ledger", "the key ceremony never closed")
            return
        if self.chains is not None:
            for device in self.chains.unclosed():
                self.report.fail(f"device {device}",
                                 "its chain was never closed (its tail may be cut)")
        self.report.facts["cast_ballots_valid"] = self.aggregate.ballots
        for checker in self._all_checkers:
            try:
                checker.finish(self)
            except PaperchainError as err:
                self.report.fail_with(err, "record")
