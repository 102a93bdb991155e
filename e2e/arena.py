"""Payloads handed to local worker processes through shared memory, not through a pipe.

A chunk of ballots sent to a ``ProcessPoolExecutor`` is pickled, written into a pipe,
read out of it in 64 kB pieces and unpickled: five copies of every payload byte, and the
pages of fresh buffers faulted in each time. Through a pipe, the workers of a 10⁵-ballot
tally pass spent ≈ 11 % of their CPU time on it (benchmarks/README.md). Here the verifier
writes a chunk's payloads once into a file in shared memory (``/dev/shm``) that the
workers map, and sends only where each payload lies (``ArenaRef``).

* Each chunk in flight has a slot of its own (a file), given back when its outcome is
  taken back; a slot grows (never shrinks) to the largest chunk it has held. A slot is
  written only while no worker reads it.
* The slots live in a directory of this process's own (mode 0700), removed at ``close``;
  their space is reserved when they grow (``posix_fallocate``), so a full ``/dev/shm``
  is an ``OSError`` at that point — the caller then sends that chunk through the pipe —
  never a ``SIGBUS`` in the middle of a write.
* A worker keeps the few files it has mapped most recently (``ChunkPieces``): a
  verifier's slots are reused chunk after chunk. When it maps a new file, it lets go of
  those already removed (a finished verifier's), whose pages would otherwise stay
  allocated for as long as they are mapped.
* A worker copies a payload out of its slot when its task's turn comes
  (``ChunkPieces``), not the whole chunk's first.

Nothing secret passes here: payloads are ledger entries, public bytes.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

__all__ = ["ArenaRef", "ChunkPieces", "PayloadArena"]

_GRAIN = 1 << 22  # slots grow in steps of 4 MiB
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 - only as mkdtemp's parent (a 0700 directory)


@dataclass(frozen=True, slots=True)
class ArenaRef:
    """Where a chunk's payloads lie: the slot's file, the size it was mapped at, and each
    payload's (start, end) in it."""

    path: str
    size: int
    spans: tuple[tuple[int, int], ...]


class PayloadArena:
    """The verifier's side: slots to write chunks' payloads into (see the module)."""

    def __init__(self) -> None:
        parent = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None
        self._directory = tempfile.mkdtemp(prefix="paperchain-chunks-", dir=parent)
        # removed at close, or when the arena is collected or the process exits, whichever
        # comes first
        self._remove = weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._owned: dict[str, _Slot] = {}  # every slot, by path
        self._free: list[_Slot] = []

    def put(self, payloads: Sequence[bytes]) -> ArenaRef:
        """Write a chunk's payloads into a free slot (made or grown as needed); the slot
        is the chunk's until ``give_back``. Raises ``OSError`` when the space cannot be
        had (the caller sends the chunk otherwise)."""
        need = sum(len(payload) for payload in payloads)
        slot = self._free.pop() if self._free else self._new_slot()
        try:
            slot.fit(need)
        except OSError:
            self._free.append(slot)
            raise
        spans = []
        at = 0
        view = slot.view
        for payload in payloads:
            end = at + len(payload)
            view[at:end] = payload
            spans.append((at, end))
            at = end
        return ArenaRef(slot.path, slot.size, tuple(spans))

    def give_back(self, ref: ArenaRef) -> None:
        """The chunk's outcome is back: its slot may be written again. (A chunk given up
        without its outcome keeps its slot: a worker may still be reading it.)"""
        slot = self._owned.get(ref.path)
        if slot is not None and slot not in self._free:
            self._free.append(slot)

    def close(self) -> None:
        """Unmap and remove every slot (workers' mappings stay valid until they let go)."""
        for slot in self._owned.values():
            slot.close()
        self._owned, self._free = {}, []
        self._remove()

    def _new_slot(self) -> _Slot:
        slot = _Slot(os.path.join(self._directory, f"slot-{len(self._owned) + 1}"))
        self._owned[slot.path] = slot
        return slot


class _Slot:
    """One file of the arena, mapped read-write in the verifier's process."""

    __slots__ = ("_map", "path", "size", "view")

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = 0
        self._map: mmap.mmap | None = None
        self.view = memoryview(b"")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(descriptor)

    def fit(self, need: int) -> None:
        if need <= self.size and self._map is not None:
            return
        size = max(_GRAIN, -(-need // _GRAIN) * _GRAIN)
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
_MAPPED_KEPT = 8


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
