"""Work that grows with the number of ballots, in chunks through a ``concurrent.futures`` executor.

DESIGN.md, "Scale". Three kinds of chunk run here:

* ``verify_chunk`` — the verifier's per-ballot cryptography for a run of ``ballot`` and
  ``challenge`` entries: decoding, batch verification (``e2e.batch``), the α digests and
  the valid cast ballots' ciphertexts multiplied into their devices' running products,
  which the verifier lends to the chunk and takes back packed as bytes. ``RecordVerifier``
  keeps everything that depends on ledger order (chains, sequences, phases, α uniqueness)
  in its own process and applies the chunks' outcomes in order (``e2e.verify``). A cast
  ballot this process has verified before (the tally's pass) is sent without its proofs
  (``strip_proofs``: a quarter of the bytes), and its worker only multiplies.
* ``encrypt_chain`` — bulk encryption for benchmarks and tests: a run of consecutive
  ballots of one device chain, linked afterwards by ``link_chain``.

``make_executor`` gives a local process pool by default, or — with a scheduler address —
a Dask distributed cluster's executor. **Dask workers are then part of the verifier's
trusted base**: they compute verdicts the verifier accepts, so a verifier must run
them itself, on machines it trusts, never on a cluster someone else controls.

Chunks carry the ``ElectionContext`` (≈ 10 kB pickled) so any worker can serve any
chunk; results carry no secret. Memory stays flat: the caller bounds the number of
chunks in flight (``bounded_map``) and every chunk's payloads are dropped once applied.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from gmpy2 import mpz

from e2e.arena import ArenaRef, ChunkPieces
from e2e.ballot import (
    EncryptedBallot,
    MarkedBallot,
    encrypt_ballot,
    tracking_code,
    verify_ballot,
    verify_opening,
)
from e2e.context import ElectionContext
from e2e.encoding import parse_json_object
from e2e.errors import PaperchainError, RecordError, UsageError
from e2e.fixedbase import prepare
from e2e.ledger.types import EntryType
from e2e.memory import return_freed_memory, share_inherited_memory
from e2e.voting import (
    COMPACT_MAGIC,
    BallotHeader,
    ChallengedBallot,
    check_cast_payloads,
    pickled_by_fields,
)

__all__ = [
    "BallotOutcome",
    "BallotTask",
    "ChunkOutcome",
    "ErrorInfo",
    "LoanLayout",
    "LocalPool",
    "Packed",
    "PackedPartial",
    "PartialAggregate",
    "Products",
    "bounded_map",
    "encrypt_chain",
    "fold_packed",
    "fold_products",
    "is_local",
    "link_chain",
    "loans_in_order",
    "local_pool",
    "make_executor",
    "pack_products",
    "shared_executor",
    "strip_proofs",
    "unpack_products",
    "use_scheduler",
    "verified_rows",
    "verify_chunk",
    "verify_chunk_in_arena",
]

T = TypeVar("T")
R = TypeVar("R")


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A local process pool (``workers`` processes, default: one per CPU), or the executor
    of the Dask distributed scheduler at ``scheduler`` (whose workers the verifier must
    trust as it trusts itself — see the module docstring)."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - dask[distributed] is a dependency
            raise UsageError("--scheduler needs dask[distributed]") from err
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise UsageError(f"cannot use the Dask scheduler at {scheduler!r}: "
                             f"{str(err)[:200] or type(err).__name__}") from None
        return client.get_executor()
    return local_pool(workers)


def local_pool(workers: int | None = None) -> LocalPool:
    """A pool of ``workers`` local processes (default: one per CPU); see ``LocalPool``."""
    return LocalPool(workers or os.cpu_count() or 1)


class LocalPool(Executor):
    """A process pool on this machine whose workers can be renewed between passes.

    Each worker first keeps what it inherited from this process out of garbage
    collection, so that those pages stay shared instead of being copied into each worker
    (``e2e.memory``). The workers start at the first chunk submitted, forked from this
    process as it then is. ``renew`` lets them go once their chunks are done, and the
    next chunk starts new ones: the verifier calls it where a pass that checked proofs
    ends (``RecordVerifier.run``), so that the tally's pass after a verification runs in
    workers that hold nothing of it — neither the verification's leftover numbers and
    free heap pages, nor their copy of this process's state at its first chunk, which
    this process has since let go of. Measured at 10^5 ballots in
    ``benchmarks/README.md`` ("A window's payloads kept once, and the workers renewed
    after a verification").
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise UsageError(f"a pool needs at least one worker, not {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.renewals = 0

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                 initializer=share_inherited_memory)
            return self._pool.submit(fn, *args, **kwargs)

    def renew(self) -> None:
        """Let the workers go once the chunks submitted are done (this waits for them);
        the next chunk starts new ones."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                self.renewals += 1
        if pool is not None:
            pool.shutdown(wait=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def worker_pids(self) -> list[int]:
        """The process IDs of the workers running now (none before the first chunk)."""
        with self._lock:
            pool = self._pool
        return list(getattr(pool, "_processes", None) or {}) if pool is not None else []


def is_local(executor: Executor | None) -> bool:
    """Whether the executor's workers are processes of this machine, which can read
    chunks' payloads from shared memory (``e2e.arena``)."""
    return isinstance(executor, LocalPool | ProcessPoolExecutor)


# Workers are forked (Linux's default), not spawned: a spawned worker re-imports the
# caller's main module, and ``python -m paperchain`` would then run the command again in
# every worker. A fork copies only the forking thread; the workers run ``verify_chunk``
# and ``encrypt_chain`` only, which take no lock another thread (a ledger service in the
# demo) could hold at the fork — no logging, no printing, no I/O but their arguments.
_shared: Executor | None = None
_shared_lock = threading.Lock()


def use_scheduler(address: str) -> None:
    """From now on, ``shared_executor`` (what ``RecordVerifier`` uses by default, hence the
    verification, tally and decryption commands) is the Dask scheduler's at ``address``
    instead of a local process pool (``paperchain --scheduler ADDRESS``). Its workers
    become part of the verifier's trusted base."""
    global _shared
    executor = make_executor(scheduler=address)
    with _shared_lock:
        previous, _shared = _shared, executor
    if previous is not None:
        previous.shutdown(wait=False)


def shared_executor() -> Executor:
    """The process-wide executor: one local worker process per CPU, started on first use
    and shut down at exit, unless ``use_scheduler`` named a Dask scheduler; what
    ``RecordVerifier`` uses by default once a ledger holds many ballots."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = local_pool()
            atexit.register(_shared.shutdown, cancel_futures=True)
        return _shared


def bounded_map(executor: Executor | None, function: Callable[..., R],
                argument_chunks: Iterable[tuple[Any, ...]], in_flight: int) -> Iterator[R]:
    """``function(*args)`` for each chunk, results in order, at most ``in_flight`` chunks
    submitted and not yet consumed (so memory does not grow with the input). Without an
    executor the chunks run here, one by one."""
    if executor is None:
        for args in argument_chunks:
            yield function(*args)
        return
    pending: deque[Future[R]] = deque()
    for args in argument_chunks:
        pending.append(executor.submit(function, *args))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# --- verification chunks ---------------------------------------------------------------


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class BallotTask:
    """One ``ballot`` or ``challenge`` entry's payload to check.

    ``verified``: this process already verified these exact bytes under this H_E
    (``e2e.verdicts``), so only what the ledger order needs is extracted.
    ``digests``: the α digests are wanted (not when the α registry already answered).
    """

    index: int
    kind: str
    payload: bytes
    where: str
    verified: bool = False
    digests: bool = True


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A ``PaperchainError`` that crosses a process boundary with its reason and place
    intact (pickling an exception keeps only its message)."""

    kind: type[PaperchainError]
    reason: str
    where: str | None

    @classmethod
    def of(cls, error: PaperchainError) -> ErrorInfo:
        return cls(type(error), error.reason, error.where)

    def error(self) -> PaperchainError:
        try:
            return self.kind(self.reason, self.where)
        except TypeError:  # a subclass with another constructor: keep the words
            return RecordError(self.reason, self.where)


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class BallotOutcome:
    """What one entry's payload showed; ``counted`` cast ballots are in the partial sums."""

    index: int
    header: BallotHeader | None
    digests: tuple[bytes, ...] | None
    decode_error: ErrorInfo | None
    verify_error: ErrorInfo | None
    paper_ballot_id: bytes | None
    counted: bool


Products = dict[int, list[list[mpz]]]
"""One device's products of cast ciphertexts, as bare numbers mod p: per contest index, per
selection ``[α, β]`` (lists, so a product is updated in place)."""


def _multiply_row(p: mpz, held: Products, contest_index: int,
                  row: Sequence[Sequence[mpz]]) -> None:
    """Multiply one contest's ciphertexts into ``held`` in place: two products mod p per
    selection, which is the whole cost of a tally pass's worker."""
    mine = held.get(contest_index)
    if mine is None:
        held[contest_index] = [[alpha, beta] for alpha, beta in row]
        return
    if len(mine) != len(row):  # the decoder's style check makes this impossible
        raise RecordError(f"contest {contest_index} has {len(row)} selections here "
                          f"and {len(mine)} in an earlier ballot")
    for product, (alpha, beta) in zip(mine, row, strict=True):
        product[0] = product[0] * alpha % p
        product[1] = product[1] * beta % p


def fold_products(p: mpz, held: Products, other: Products) -> Products:
    """Multiply ``other`` into ``held`` (in place) and return ``held``."""
    for contest_index, row in other.items():
        _multiply_row(p, held, contest_index, row)
    return held


Packed = dict[int, bytes]
"""One device's products as they travel between processes and wait in the verifier: per
contest index, each selection's α ‖ β, ``p_bytes`` big-endian each — the layout of a
ballot sent without its proofs. Bytes cost the verifier a copy where numbers would cost
it ≈ 1.4 µs each to pickle and as much to read back."""


def pack_products(products: Products, width: int) -> Packed:
    return {contest_index: b"".join(value.to_bytes(width, "big")
                                    for pair in row for value in pair)
            for contest_index, row in products.items()}


def unpack_products(packed: Mapping[int, bytes], width: int) -> Products:
    """``pack_products`` undone; only for products this verifier's own chunks computed."""
    from_bytes = mpz.from_bytes
    products: Products = {}
    for contest_index, blob in packed.items():
        if len(blob) % (2 * width):
            raise RecordError(f"contest {contest_index}'s products are {len(blob)} bytes, "
                              f"not whole pairs of {width}-byte numbers")
        products[contest_index] = [
            [from_bytes(blob[k:k + width], "big"), from_bytes(blob[k + width:k + 2 * width], "big")]
            for k in range(0, len(blob), 2 * width)]
    return products


def fold_packed(p: mpz, width: int, held: Sequence[Mapping[int, bytes]]) -> Products:
    """One device's packed products (at least one), unpacked and multiplied into one."""
    first, *rest = (unpack_products(packed, width) for packed in held)
    for other in rest:
        fold_products(p, first, other)
    return first


@dataclass(frozen=True, slots=True)
class PackedPartial:
    """A chunk's ``PartialAggregate`` on its way back to the verifier: products packed."""

    products: dict[str, Packed]
    styles: dict[str, dict[str, int]]
    contests: dict[int, int]


class PartialAggregate:
    """Products of the counted cast ballots' ciphertexts per device (``Products``), and
    their counts per device, style and contest.

    A chunk may start from products it was lent (``lent``): the verifier keeps each
    device's running product and hands it to the next chunk holding one of that device's
    ballots, so the multiplications happen in the workers whatever the ledger's order of
    devices — a chunk returns every product it was lent, multiplied or not (``pack``).

    One device's products are held as numbers at a time (the device of the ballot being
    added): a chunk's ballots come by device (``RecordVerifier._cut``), so each device's
    lent products are read (out of shared memory, ``_LentPieces``), unpacked and folded
    when its first ballot comes, and packed again when the next device's does. A worker
    then holds one device's numbers, not a chunk's hundred devices' (≈ 85 KiB each as
    numbers), nor the chunk's lent bytes read out all at once; a device lent but not
    multiplied (its ballots all refused) goes back as it came. Ballots of a device out of
    order (only a refused one's, whose writer is another device) still multiply into the
    one product: it is unpacked again."""

    __slots__ = ("_device", "_loans", "_open", "_packed", "contests", "p", "styles", "width")

    def __init__(self, p: mpz, width: int,
                 loans: Mapping[str, Sequence[Mapping[int, bytes]]] | None = None) -> None:
        self.p = p
        self.width = width
        self.styles: dict[str, dict[str, int]] = {}
        self.contests: dict[int, int] = {}
        # lent, not opened yet
        self._loans = {device_id: held for device_id, held in (loans or {}).items() if held}
        self._device: str | None = None  # the device whose products are open ...
        self._open: Products = {}  # ... and they, as numbers
        self._packed: dict[str, Packed] = {}  # closed: packed, to go back

    @classmethod
    def lent(cls, p: mpz, width: int,
             loans: Mapping[str, Sequence[Mapping[int, bytes]]] | None) -> PartialAggregate:
        """Start from the lent products: one or more per device (several are folded into
        one when the device is opened, or when packed)."""
        return cls(p, width, loans)

    def _close(self) -> None:
        if self._device is not None:
            self._packed[self._device] = pack_products(self._open, self.width)
            self._device, self._open = None, {}

    def _open_device(self, device_id: str) -> Products:
        if self._device == device_id:
            return self._open
        self._close()
        if device_id in self._packed:  # (closed: opened again)
            products = unpack_products(self._packed.pop(device_id), self.width)
        elif held := self._loans.pop(device_id, None):
            products = fold_packed(self.p, self.width, held)
        else:
            products = {}
        self._device, self._open = device_id, products
        return products

    def pack(self) -> PackedPartial:
        """The chunk's products, to go back to the verifier: every device's, lent or
        multiplied here. A device lent one product and not multiplied goes back as it
        came; several are folded into one."""
        self._close()
        loans, self._loans = self._loans, {}
        for device_id, held in loans.items():
            self._packed[device_id] = (
                {contest: bytes(blob) for contest, blob in held[0].items()} if len(held) == 1
                else pack_products(fold_packed(self.p, self.width, held), self.width))
        return PackedPartial(self._packed, self.styles, self.contests)

    def add(self, device_id: str, style_id: str,
            rows: Sequence[tuple[int, Sequence[tuple[mpz, mpz]]]]) -> None:
        """Multiply one counted ballot into its device's products."""
        styles = self.styles.setdefault(device_id, {})
        styles[style_id] = styles.get(style_id, 0) + 1
        totals = self._open_device(device_id)
        contests, p = self.contests, self.p
        for contest_index, row in rows:
            contests[contest_index] = contests.get(contest_index, 0) + 1
            _multiply_row(p, totals, contest_index, row)


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    outcomes: tuple[BallotOutcome, ...]
    partial: PackedPartial


def _digest(value: mpz, width: int) -> bytes:
    return hashlib.sha256(int(value).to_bytes(width, "big")).digest()


STRIPPED_MAGIC = b"PCCS"
"""Leads ``strip_proofs``'s form, which no decoder accepts: only ``verified_rows`` reads it."""


def verified_rows(context: ElectionContext, payload: bytes
                  ) -> tuple[BallotHeader, list[tuple[int, list[tuple[mpz, mpz]]]]]:
    """Header and ciphertexts of a ``ballot``/``challenge`` payload this process has already
    decoded and verified in full (``e2e.verdicts``), or of its ``strip_proofs`` form: read
    without checks, never on unverified bytes."""
    magic = payload[:4]
    if magic in (COMPACT_MAGIC, STRIPPED_MAGIC):
        return _compact_rows(context, payload, proofs=magic == COMPACT_MAGIC)
    obj = parse_json_object(payload, "payload")
    ballot = obj["ballot"]
    header = BallotHeader(ballot["device_id"], ballot["session"], ballot["sequence"],
                          ballot["style_id"], bytes.fromhex(ballot["previous_code"]),
                          bytes.fromhex(ballot["tracking_code"]))
    rows = [(contest["index"], [(mpz(s["alpha"], 16), mpz(s["beta"], 16))
                                for s in contest["selections"]])
            for contest in ballot["contests"]]
    return header, rows


_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HEADER_TEXTS = 3  # device ID, session, style ID (the sequence between the 2nd and 3rd)


def _header_end(payload: bytes) -> int:
    """Offset of u32(#contests) in a compact (or stripped) payload."""
    offset = 6  # magic, payload version, compact ballot version
    for k in range(_HEADER_TEXTS):
        offset += 4 + _U32.unpack_from(payload, offset)[0] + (8 if k == 1 else 0)
    return offset + 64  # previous and tracking codes


def strip_proofs(context: ElectionContext, payload: bytes) -> bytes:
    """A verified compact ``ballot`` payload without its proofs, for a chunk whose worker
    only multiplies ciphertexts (a quarter of the bytes to send): ``STRIPPED_MAGIC``, then
    the compact layout (``EncryptedBallot.to_compact``) with every ``proof`` left out.
    Any other payload is returned as it is. Never on unverified bytes."""
    if payload[:4] != COMPACT_MAGIC:
        return payload
    group = context.group
    branch = 2 * group.p_bytes + 2 * group.q_bytes
    width = 2 * group.p_bytes
    u32 = _U32.unpack_from
    view = memoryview(payload)
    offset = _header_end(payload)
    parts: list[bytes | memoryview] = [STRIPPED_MAGIC, view[4:offset + 4]]
    offset += 4
    for _ in range(u32(payload, offset - 4)[0]):
        parts.append(view[offset:offset + 8])  # u32(index) ‖ u32(#selections)
        offset += 8
        for _ in range(u32(payload, offset - 4)[0]):
            end = offset + width
            parts.append(view[offset:end])  # α ‖ β
            offset = end + 4 + u32(payload, end)[0] * branch
        offset += 4 + u32(payload, offset)[0] * branch  # the contest's proof
    if offset != len(payload):
        raise RecordError("the payload does not end where its layout does", "payload")
    return b"".join(parts)


def _compact_rows(context: ElectionContext, payload: bytes, *, proofs: bool
                  ) -> tuple[BallotHeader, list[tuple[int, list[tuple[mpz, mpz]]]]]:
    """``verified_rows`` of a compact payload (``proofs``) or of its stripped form: the
    ciphertexts sliced out at their offsets, the proofs skipped by length. The payload
    passed the checked decoder before, so offsets are read without bounds messages; a
    truncated payload still raises (``struct.error``), never misreads."""
    p_bytes, q_bytes = context.group.p_bytes, context.group.q_bytes
    branch = 2 * p_bytes + 2 * q_bytes
    u32, u64, from_bytes = _U32.unpack_from, _U64.unpack_from, mpz.from_bytes
    offset = 6  # magic, payload version, compact ballot version

    def text() -> str:
        nonlocal offset
        (length,) = u32(payload, offset)
        offset += 4 + length
        return payload[offset - length:offset].decode("utf-8")

    device_id, session = text(), text()
    (sequence,) = u64(payload, offset)
    offset += 8
    style_id = text()
    header = BallotHeader(device_id, session, sequence, style_id,
                          payload[offset:offset + 32], payload[offset + 32:offset + 64])
    offset += 64
    (contests,) = u32(payload, offset)
    offset += 4
    rows = []
    for _ in range(contests):
        index, selections = u32(payload, offset)[0], u32(payload, offset + 4)[0]
        offset += 8
        row = []
        for _ in range(selections):
            middle = offset + p_bytes
            end = middle + p_bytes
            row.append((from_bytes(payload[offset:middle], "big"),
                        from_bytes(payload[middle:end], "big")))
            offset = end + 4 + u32(payload, end)[0] * branch if proofs else end
        if proofs:
            offset += 4 + u32(payload, offset)[0] * branch
        rows.append((index, row))
    if offset != len(payload):
        raise RecordError("the payload does not end where its layout does", "payload")
    return header, rows


_last_phase: bool | None = None  # this process's previous chunk: with proofs to check?


def _phase(checks_proofs: bool) -> None:
    """A chunk of the other kind than this process's previous one (with proofs to check,
    or only ciphertexts to multiply) starts another phase: the free pages the last one
    left in the heaps go back to the system first (``e2e.memory``)."""
    global _last_phase
    if _last_phase is not None and _last_phase != checks_proofs:
        return_freed_memory()
    _last_phase = checks_proofs


def verify_chunk(context: ElectionContext, tasks: Sequence[BallotTask],
                 loans: Mapping[str, Sequence[Mapping[int, bytes]]] | None = None,
                 payload_of: Callable[[int], bytes] | None = None) -> ChunkOutcome:
    """The per-ballot cryptography of a run of entries (runs in a worker); see above.

    ``loans``: devices' running products to multiply this chunk's counted ballots into
    (``PartialAggregate.lent``); the outcome's partial returns all of them.
    ``payload_of``: where task k's payload is read when its turn comes (shared memory,
    ``verify_chunk_in_arena``), instead of ``task.payload``: a tally chunk's worker then
    holds one payload at a time, not the chunk's copy of them all.

    Fresh cast ballots are decoded and verified as one batch (``check_cast_payloads``:
    same verdict and words as the simple path); challenged ones by the checked decoder,
    ``verify_ballot`` and ``verify_opening``; already-verified ones are only read.
    """
    group = context.group
    width = group.p_bytes
    read = payload_of if payload_of is not None else (lambda k: tasks[k].payload)
    fresh = [(read(k), t.where) for k, t in enumerate(tasks)
             if t.kind == EntryType.BALLOT and not t.verified]
    _phase(any(not task.verified for task in tasks))
    checked = iter(check_cast_payloads(context, fresh))
    del fresh
    partial = PartialAggregate.lent(group.p, width, loans)
    outcomes = []
    for k, task in enumerate(tasks):
        decode_error = verify_error = None
        header = None
        rows: list[tuple[int, list[tuple[mpz, mpz]]]] = []
        paper_id = None
        if task.verified:
            payload = read(k)
            header, rows = verified_rows(context, payload)
            if task.kind == EntryType.CHALLENGE:
                paper_id = bytes.fromhex(parse_json_object(payload, "payload")
                                         ["paper_ballot_id"])
        elif task.kind == EntryType.BALLOT:
            result = next(checked)
            if result.decode_error is not None:
                decode_error = ErrorInfo.of(result.decode_error)
            elif result.ballot is not None:
                header = BallotHeader.of(result.ballot)
                rows = [(c.index, [(s.ciphertext.alpha.value, s.ciphertext.beta.value)
                                   for s in c.selections]) for c in result.ballot.contests]
                if result.verify_error is not None:
                    verify_error = ErrorInfo.of(result.verify_error)
        else:
            try:
                challenged = ChallengedBallot.from_payload(read(k), group, task.where)
            except PaperchainError as err:
                decode_error = ErrorInfo.of(err)
            else:
                header = BallotHeader.of(challenged.ballot)
                rows = [(c.index, [(s.ciphertext.alpha.value, s.ciphertext.beta.value)
                                   for s in c.selections]) for c in challenged.ballot.contests]
                paper_id = challenged.paper_ballot_id
                try:
                    verify_ballot(context, challenged.ballot)
                    verify_opening(context, challenged.ballot, challenged.opening)
                except PaperchainError as err:
                    verify_error = ErrorInfo.of(err)
        counted = (task.kind == EntryType.BALLOT and header is not None
                   and decode_error is None and verify_error is None)
        if counted and header is not None:
            partial.add(header.device_id, header.style_id, rows)
        digests = (tuple(_digest(alpha, width) for _, row in rows for alpha, _ in row)
                   if task.digests and header is not None else None)
        outcomes.append(BallotOutcome(task.index, header, digests, decode_error, verify_error,
                                      paper_id, counted))
    return ChunkOutcome(tuple(outcomes), partial.pack())


LoanLayout = tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]
"""Lent products written into shared memory, in this order: per device, per product, per
contest (its number here), the contest's packed bytes."""


def loans_in_order(loans: Mapping[str, Sequence[Packed]]
                   ) -> tuple[LoanLayout, list[bytes]]:
    """The lent products as ``verify_chunk_in_arena`` reads them back: layout and bytes."""
    layout = tuple((device_id, tuple(tuple(packed) for packed in held))
                   for device_id, held in loans.items())
    return layout, [blob for held in loans.values() for packed in held
                    for blob in packed.values()]


def verify_chunk_in_arena(context: ElectionContext, tasks: Sequence[BallotTask],
                          ref: ArenaRef, layout: LoanLayout = (),
                          lent: ArenaRef | None = None) -> ChunkOutcome:
    """``verify_chunk`` of tasks sent without their payloads and lent products, which a
    local verifier wrote into shared memory instead of the pipe (``e2e.arena``): the
    payloads in ``ref``, then the products (``loans_in_order``) — in a slot of their own
    (``lent``), or after the payloads in ``ref``. Each payload is read out when its task's
    turn comes, and each device's products when its first ballot does."""
    read = ChunkPieces(ref)
    lent_pieces = sum(len(contests) for _, held in layout for contests in held)
    if lent is None:  # the products after the payloads
        products, first = read, len(tasks)
        counts = ((read, len(tasks) + lent_pieces),)
    else:
        products, first = ChunkPieces(lent), 0
        counts = ((read, len(tasks)), (products, lent_pieces))
    for pieces, expected in counts:
        if len(pieces) != expected:
            raise RecordError(f"a chunk's shared memory holds {len(pieces)} pieces where "
                              f"its layout says {expected}", "chunk")
    at = iter(range(first, first + lent_pieces))
    loans = {device_id: [_LentPieces(products, {contest: next(at) for contest in contests})
                         for contests in held]
             for device_id, held in layout}
    return verify_chunk(context, tasks, loans, read.__getitem__)


class _LentPieces(Mapping[int, bytes]):
    """One lent product in shared memory (``Packed``), each contest's bytes copied out
    when read: when its device is opened (``PartialAggregate``), not at the chunk's start."""

    __slots__ = ("_at", "_pieces")

    def __init__(self, pieces: ChunkPieces, at: dict[int, int]) -> None:
        self._pieces = pieces
        self._at = at  # contest index → the piece holding its bytes

    def __getitem__(self, contest: int) -> bytes:
        return self._pieces[self._at[contest]]

    def __iter__(self) -> Iterator[int]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


# --- bulk encryption -------------------------------------------------------------------


def encrypt_chain(context: ElectionContext, device_id: str, session: str, sequence: int,
                  ballots: Sequence[MarkedBallot]) -> list[EncryptedBallot]:
    """Encrypt consecutive ballots of one device chain from ``sequence`` on, unlinked.

    A ballot's proofs bind H_E, the device, its sequence number and its indices — not
    the previous tracking code — so the ballots of one chain can be encrypted in
    parallel and linked afterwards, in order, by ``link_chain`` (a hash per ballot). For
    benchmarks and tests; a kiosk encrypts one ballot at a time. The fixed-base tables
    for g and K are built once in this process (``prepare``)."""
    prepare(context.group, context.group.g, context.joint_key.value)
    encrypted = []
    for offset, marked in enumerate(ballots):
        pending = encrypt_ballot(context, marked, device_id=device_id, session=session,
                                 sequence=sequence + offset, previous_code=bytes(32))
        pending.erase()
        encrypted.append(pending.ballot)
    return encrypted


def link_chain(context: ElectionContext, ballots: Iterable[EncryptedBallot],
               previous_code: bytes) -> Iterator[EncryptedBallot]:
    """The ballots of ``encrypt_chain`` with their previous and tracking codes set in order."""
    for ballot in ballots:
        code = tracking_code(context.extended_base_hash, previous_code, ballot.device_id,
                             ballot.style_id, ballot.ciphertexts())
        yield replace(ballot, previous_code=previous_code, tracking_code=code)
        previous_code = code
