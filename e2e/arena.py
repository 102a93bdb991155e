"""Payloads handed to local worker processes through shared memory, not through a pipe.

A chunk of ballots sent to a ``ProcessPoolExecutor`` is pickled, written into a pipe,
read out of it in 64 kB pieces and unpickled: five copies of every payload byte, and the
pages of fresh buffers faulted in each time. Through a pipe, the workers of a 10⁵-ballot
tally pass spent ≈ 11 % of their CPU time on it (benchmarks/README.md). Here the verifier
writes a chunk's payloads once into a file in shared memory (``/dev/shm``) that the
workers map, and sends only where each payload lies (``ArenaRef``).

* A slot is the caller's from ``take`` (or ``put``) until ``give_back``. Payloads are
  appended to it (``ArenaSlot.append``): the verifier writes each ballot's payload into
  its window's slot as it queues the ballot, and keeps no copy of its own (it reads one
  back, ``ArenaSlot.read``, only on a rare path). A chunk's lent products go into a
  slot of the chunk's own (``put``), given back as soon as the chunk is back. Bytes once
  written are never written again while the slot is out: workers may be reading them;
  appending after them is safe. A slot grows (never shrinks) to the most it has held, so
  windows' slots and chunks' are reused apart.
* The slots live in a directory of this process's own (mode 0700, its name carrying its
  PID namespace and process ID), removed at ``close``, when the arena is collected or
  when the process exits. A process killed outright removes nothing, and ``/dev/shm``
  is memory: a new arena first removes the directories of this kind whose process is
  gone.
* Slots' space is reserved when they grow (``posix_fallocate``), so a full ``/dev/shm``
  is an ``OSError`` at that point — the caller then keeps the payloads as bytes and
  sends them through the pipe — never a ``SIGBUS`` in the middle of a write.
* A worker keeps the few files it has mapped most recently (``ChunkPieces``): a
  verifier's slots are reused chunk after chunk. When it maps a new file, it lets go of
  those already removed (a finished verifier's). A removed file's pages stay allocated
  for as long as any process maps it, so ``close`` first empties (truncates) every slot
  no chunk reads any more: its pages go at once, not when the workers next get a chunk.
* A worker copies a payload out of its slot when its task's turn comes
  (``ChunkPieces``), not the whole chunk's first.

Nothing secret passes here: payloads are ledger entries, public bytes.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

__all__ = ["ArenaRef", "ArenaSlot", "ChunkPieces", "PayloadArena", "remove_abandoned"]

_GRAIN = 1 << 20  # slots grow in steps of 1 MiB
_PREFIX = "paperchain-chunks-"  # then its PID namespace, "-", process ID, "-", letters
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 - only as mkdtemp's parent (a 0700 directory)


@dataclass(frozen=True, slots=True)
class ArenaRef:
    """Where a chunk's payloads lie: the slot's file, the size it was mapped at, and each
    payload's (start, end) in it."""

    path: str
    size: int
    spans: tuple[tuple[int, int], ...]


class PayloadArena:
    """The verifier's side: slots to write payloads into (see the module)."""

    def __init__(self) -> None:
        parent = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else tempfile.gettempdir()
        remove_abandoned(parent)
        self._directory = tempfile.mkdtemp(prefix=f"{_own_prefix()}{os.getpid()}-", dir=parent)
        # removed at close, or when the arena is collected or the process exits, whichever
        # comes first
        self._remove = weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._owned: dict[str, ArenaSlot] = {}  # every slot, by path
        # Free slots, by use: a slot keeps the size of the most it has held, so windows'
        # slots (``take``) and chunks' (``put``: a chunk's lent products, a few MiB) are
        # reused apart — one pool for both would grow every slot to a window's size.
        self._free: list[ArenaSlot] = []
        self._free_chunks: list[ArenaSlot] = []
        self._home: dict[str, list[ArenaSlot]] = {}  # by path: the free list it goes back to

    def take(self) -> ArenaSlot:
        """A free slot, emptied (made if none is free): the caller's until ``give_back``.
        Its space is had as payloads are appended (``ArenaSlot.append``)."""
        return self._take(self._free)

    def put(self, payloads: Sequence[bytes]) -> ArenaRef:
        """Write a chunk's payloads into a free slot of the chunks' own (made or grown as
        needed); the slot is the chunk's until ``give_back``. Raises ``OSError`` when the
        space cannot be had (the caller sends the chunk otherwise)."""
        slot = self._take(self._free_chunks)
        try:
            slot.fit(sum(len(payload) for payload in payloads))
            spans = [slot.append(payload) for payload in payloads]
        except OSError:
            self._free_chunks.append(slot)
            raise
        return slot.ref(spans)

    def give_back(self, held: ArenaRef | ArenaSlot) -> None:
        """The slot's readers are done (its chunks' outcomes are back): it may be written
        again. (A chunk given up without its outcome keeps its slot: a worker may still
        be reading it.)"""
        slot = self._owned.get(held.path)
        free = self._home.get(held.path)
        if slot is not None and free is not None and slot not in free:
            free.append(slot)

    def _take(self, free: list[ArenaSlot]) -> ArenaSlot:
        slot = free.pop() if free else self._new_slot()
        self._home[slot.path] = free
        slot.length = 0
        return slot

    def close(self) -> None:
        """Unmap and remove every slot. A free slot (no chunk reads it) is emptied first,
        so that its pages go now: a worker keeps its mappings of a finished pass's slots
        until it maps a slot of the next pass (``_mapping``), and a removed file's pages
        stay allocated while any process maps it — a whole pass's shared memory, held by
        an idle pool between passes and again beside the next pass's first windows. A
        slot still out (a chunk given up without its outcome) is only removed: a worker
        may still be reading it, and stays able to."""
        free = {id(slot) for slot in [*self._free, *self._free_chunks]}
        for slot in self._owned.values():
            slot.close()
            if id(slot) in free:
                with contextlib.suppress(OSError):
                    os.truncate(slot.path, 0)
        self._owned, self._free, self._free_chunks, self._home = {}, [], [], {}
        self._remove()

    def _new_slot(self) -> ArenaSlot:
        slot = ArenaSlot(os.path.join(self._directory, f"slot-{len(self._owned) + 1}"))
        self._owned[slot.path] = slot
        return slot


def remove_abandoned(parent: str) -> list[str]:
    """Remove the arena directories under ``parent`` whose process is gone (killed before
    it could remove its own); those removed. Only this user's, of processes in this PID
    namespace (a ``/dev/shm`` shared with another container holds others, whose process
    IDs mean nothing here); a live process's are left alone."""
    removed: list[str] = []
    prefix = _own_prefix()
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        owner = name.removeprefix(prefix).partition("-")[0]
        if not name.startswith(prefix) or not owner.isdigit() or _alive(int(owner)):
            continue
        path = os.path.join(parent, name)
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@functools.cache
def _own_prefix() -> str:
    """The directories' names: the prefix, this PID namespace, then the process ID."""
    try:
        namespace = "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit())
    except OSError:  # (no /proc: one namespace)
        namespace = ""
    return f"{_PREFIX}{namespace or '0'}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (EPERM: it exists, another user's)
        return True
    return True


class ArenaSlot:
    """One file of the arena, mapped read-write in the verifier's process; ``length``
    bytes of it written since it was taken."""

    __slots__ = ("_map", "length", "path", "size", "view")

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = 0
        self.length = 0
        self._map: mmap.mmap | None = None
        self.view = memoryview(b"")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(descriptor)

    def append(self, payload: bytes) -> tuple[int, int]:
        """Write a payload after those already written; its (start, end). Raises
        ``OSError`` when the slot cannot grow to hold it (nothing written then)."""
        start = self.length
        end = start + len(payload)
        self.fit(end)
        self.view[start:end] = payload
        self.length = end
        return start, end

    def read(self, span: tuple[int, int]) -> bytes:
        """A payload written here, copied out."""
        start, end = span
        if not 0 <= start <= end <= self.length:
            raise ValueError(f"span {span} is outside the {self.length} bytes written")
        return bytes(self.view[start:end])

    def ref(self, spans: Sequence[tuple[int, int]]) -> ArenaRef:
        """Where a chunk's pieces lie in this slot, for a worker (``ChunkPieces``)."""
        return ArenaRef(self.path, self.size, tuple(spans))

    def fit(self, need: int) -> None:
        """Grow the file and its mapping to hold ``need`` bytes (what is written stays)."""
        if need <= self.size and self._map is not None:
            return
        size = max(_GRAIN, -(-need // _GRAIN) * _GRAIN, self.size)
        descriptor = os.open(self.path, os.O_RDWR)
        try:
            os.posix_fallocate(descriptor, 0, size)  # ENOSPC now, not SIGBUS on a write
            self.close()
            self._map = mmap.mmap(descriptor, size)
        finally:
            os.close(descriptor)
        self.size = size
        self.view = memoryview(self._map)

    def close(self) -> None:
        self.view.release()
        self.view = memoryview(b"")
        if self._map is not None:
            self._map.close()
            self._map = None


# --- the workers' side -----------------------------------------------------------------

_MAPPED: OrderedDict[str, tuple[int, mmap.mmap]] = OrderedDict()
_MAPPED_KEPT = 16


def _mapping(ref: ArenaRef) -> mmap.mmap:
    """The worker's mapping of a chunk's slot (mapped again when the slot has grown)."""
    held = _MAPPED.get(ref.path)
    if held is None or held[0] < ref.size:
        if held is not None:
            held[1].close()
        else:  # a new file: a finished verifier's removed slots are let go of first
            for path in [path for path in _MAPPED if not os.path.exists(path)]:
                _MAPPED.pop(path)[1].close()
        descriptor = os.open(ref.path, os.O_RDONLY)
        try:
            held = (ref.size, mmap.mmap(descriptor, ref.size, prot=mmap.PROT_READ))
        finally:
            os.close(descriptor)
        _MAPPED[ref.path] = held
        while len(_MAPPED) > _MAPPED_KEPT:
            _MAPPED.popitem(last=False)[1][1].close()
    _MAPPED.move_to_end(ref.path)
    return held[1]


class ChunkPieces(Sequence[bytes]):
    """A chunk's pieces in its slot, each copied out only when it is read (in a worker
    process): a worker that takes them one at a time holds one, not the chunk's all."""

    __slots__ = ("_ref",)

    def __init__(self, ref: ArenaRef) -> None:
        self._ref = ref

    def __len__(self) -> int:
        return len(self._ref.spans)

    @overload
    def __getitem__(self, k: int) -> bytes: ...

    @overload
    def __getitem__(self, k: slice) -> list[bytes]: ...

    def __getitem__(self, k: int | slice) -> bytes | list[bytes]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        start, end = self._ref.spans[k]
        return _mapping(self._ref)[start:end]
