"""Each device's running products between loans: in memory up to a bound, the rest on disk.

A verifier keeps, per voting device, the running product of its valid cast ballots'
ciphertexts (``e2e.verify.CastAggregate``): the cast side of the device's CVR equality
proof (docs/spec.md §19.2). Packed (``e2e.parallel.Packed``), a ten-contest style's is
40 ciphertexts, 40 KiB; it waits in the verifier between the chunks it is lent to. With
200 devices that is 8 MiB, with 2,000 devices 80 MiB, and a jurisdiction may have more:
held in memory, the tally's memory grows with the number of devices.

``HeldProducts`` holds them in memory up to ``memory_bytes`` (16 MiB unless asked
otherwise) and writes the rest into a temporary file of this process, created on the
first overflow, so small elections never touch the disk:

* one extent per product, written with ``pwrite`` and read back with ``pread`` (never
  mapped: what the file holds is the operating system's cache, not this process's
  memory). A product taken back frees its extent for the next of the same size — a
  device's products all have its style's size — so the file stays near the size of one
  product per device;
* the file is created unlinked (``tempfile.TemporaryFile``): nothing is left behind if the
  process dies, and no other process can open it by name;
* every extent's SHA-256 digest stays in memory, and a product read back must match it:
  bytes changed on disk (by another process holding the file, or by the disk) raise
  ``StateError`` naming the device, never a wrong tally;
* the products are ciphertexts computed from the public record: nothing secret is
  written.

A device may hold several products (one came back while another was on loan); ``take``
returns them all, in the order they were added.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from e2e.errors import StateError

__all__ = ["HeldProducts"]

Packed = Mapping[int, bytes]  # e2e.parallel.Packed: per contest index, its α ‖ β bytes

_MEMORY_BYTES = 16 << 20


_LAYOUT = struct.Struct(">II")  # a contest's index and the length of its bytes


@dataclass(frozen=True, slots=True)
class _Extent:
    """One product on disk: where, how long, its contests (``_LAYOUT`` each, in order:
    8 bytes a contest, not a tuple of two numbers — this index stays in memory for every
    device), and its digest."""

    offset: int
    size: int
    layout: bytes
    digest: bytes


def _digest(blob: bytes | memoryview) -> bytes:
    return hashlib.sha256(blob).digest()  # (SHA-256: twice BLAKE2b's speed here, with SHA-NI)


class HeldProducts:
    """Per device, its products waiting for the next loan (module docstring).

    ``memory_bytes``: the bound on the bytes held in memory (16 MiB unless given).
    ``directory``: where the temporary file goes (default: the system's temp dir)."""

    def __init__(self, memory_bytes: int | None = None, *,
                 directory: str | Path | None = None) -> None:
        if memory_bytes is None:
            memory_bytes = _MEMORY_BYTES
        if memory_bytes < 0:
            raise ValueError("memory_bytes must be at least 0")
        self.memory_bytes = memory_bytes
        self._directory = directory
        self._held: dict[str, list[Packed | _Extent]] = {}
        self._in_memory = 0  # bytes of the products held in memory
        self._file: IO[bytes] | None = None
        self._owner = os.getpid()
        self._end = 0  # the file's length
        self._free: dict[int, list[int]] = {}  # size → offsets of free extents
        self._on_disk = 0  # bytes of the products held on disk
        self._lock = threading.Lock()

    # --- what the verifier asks -----------------------------------------------------------

    def add(self, device_id: str, packed: Packed) -> None:
        """One more product of the device's (kept in memory if it fits, else on disk)."""
        size = sum(len(blob) for blob in packed.values())
        with self._lock:
            item: Packed | _Extent
            if self._in_memory + size <= self.memory_bytes:
                item = packed
                self._in_memory += size
            else:
                item = self._write(packed, size)
            self._held.setdefault(device_id, []).append(item)

    def take(self, device_id: str) -> list[Packed] | None:
        """The device's products (all of them, oldest first), no longer held; None if it
        holds none."""
        with self._lock:
            items = self._held.pop(device_id, None)
            if items is None:
                return None
            out: list[Packed] = []
            for item in items:
                if isinstance(item, _Extent):
                    out.append(self._read(device_id, item))
                else:
                    self._in_memory -= sum(len(blob) for blob in item.values())
                    out.append(item)
            return out

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._held

    def __iter__(self) -> Iterator[str]:
        """The devices holding products (a copy of the list: safe to take while iterating)."""
        return iter(list(self._held))

    def __len__(self) -> int:
        return len(self._held)

    @property
    def in_memory(self) -> int:
        """Bytes of products held in memory (never more than ``memory_bytes``)."""
        return self._in_memory

    @property
    def on_disk(self) -> int:
        """Bytes of products held on disk."""
        return self._on_disk

    @property
    def file_size(self) -> int:
        """The length of the temporary file (0 before the first overflow)."""
        return self._end

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            self._in_memory = self._on_disk = self._end = 0
            self._free.clear()
            if self._file is not None and os.getpid() == self._owner:
                self._file.close()
            self._file = None

    # --- the file ---------------------------------------------------------------------

    def _fd(self) -> int:
        if os.getpid() != self._owner:  # (a pool worker forked from the verifier)
            raise StateError("a verifier's held products are read and written only by the "
                             "process that holds them")
        if self._file is None:
            self._file = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close() or GC)
                prefix="paperchain-products-",
                dir=None if self._directory is None else str(self._directory))
        return self._file.fileno()

    def _write(self, packed: Packed, size: int) -> _Extent:
        fd = self._fd()
        blob = b"".join(packed.values())
        free = self._free.get(size)
        if free:
            offset = free.pop()
        else:
            offset, self._end = self._end, self._end + size
        written = os.pwrite(fd, blob, offset)
        while written < size:  # (a short write: the rest)
            written += os.pwrite(fd, blob[written:], offset + written)
        self._on_disk += size
        layout = b"".join(_LAYOUT.pack(contest, len(b)) for contest, b in packed.items())
        return _Extent(offset, size, layout, _digest(blob))

    def _read(self, device_id: str, extent: _Extent) -> Packed:
        size = extent.size
        blob = os.pread(self._fd(), size, extent.offset)
        self._free.setdefault(size, []).append(extent.offset)
        self._on_disk -= size
        if len(blob) != size or not hmac.compare_digest(_digest(blob), extent.digest):
            raise StateError(f"device {device_id}'s running products changed in the "
                             "verifier's temporary file since they were written there: "
                             "the pass cannot go on from them")
        view = memoryview(blob)
        packed: dict[int, bytes] = {}
        at = 0
        for contest, length in _LAYOUT.iter_unpack(extent.layout):
            packed[contest] = bytes(view[at:at + length])
            at += length
        return packed
