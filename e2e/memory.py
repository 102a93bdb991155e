"""Memory the processes of a run hold: freed memory handed back to the operating system
where a run changes phase, and memory a forked worker inherited kept shared.

Numbers and payloads that a pass frees go back to the C allocator, but glibc's ``malloc``
keeps the free pages inside its heaps for later allocations: they still count in the
process's resident set. A pass leaves many such pages behind, of a shape the next phase
may never reuse. Measured at 10^3 ballots (``benchmarks/README.md``, "Memory"): after a
verification, each pool worker held ≈ 35 MiB of them (batch verification's working
numbers; a tally pass's worker only multiplies) and the verifier's process ≈ 55 MiB.

``malloc_trim(0)`` returns every whole free page of every heap (``madvise``). It walks
the heaps, a few milliseconds for a hundred MiB, so it runs only where a phase ends, never
per ballot:

* when a ``RecordVerifier`` pass ends (``e2e.verify``), in the verifier's process —
  right after the SQLite page caches of the α registry and the pass's sets of tracking
  codes are let go of, so that their pages go back too;
* when a worker's chunk is of the other kind than its previous one — with proofs to
  check, or only ciphertexts to multiply (``e2e.parallel.verify_chunk``): a worker's
  first tally chunk after a verification.

It frees nothing in use and moves no data. With a C library that has no ``malloc_trim``
(musl, macOS) this does nothing.

A local pool's workers are forked from the verifier's process (``e2e.parallel``): they
start with its pages, shared until either side writes to one. The cyclic garbage
collector writes into the header of every object it examines, so a worker's first full
collections would copy every page of the objects it inherited — the interpreter's
modules, the verifier's state at the fork — into memory of its own, though it reads
almost none of them. ``share_inherited_memory`` runs first in each worker and moves what
it inherited into the collector's permanent generation (``gc.freeze``), which collections
leave alone: those pages stay shared. Measured at 10^3 ballots (``benchmarks/README.md``,
verification then tally): the two workers' share of the tally's memory fell from ≈ 119 to
≈ 103 MiB. Objects the worker creates are collected as before; inherited ones are still
freed when their last reference goes, and only cycles among them would outlive the
worker's need — no more than the verifier's memory at the fork, shared with it.

Where a pass that checked proofs ends, a local pool's workers are renewed
(``e2e.parallel.LocalPool.renew``): trimming gives back only whole free pages, and what a
verification leaves in a worker — its working numbers' scattered free blocks, its copy of
the verifier's state at its first chunk — goes only with the worker. The tally's pass
then runs in workers forked from the verifier's process as it then is.
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable

__all__ = ["return_freed_memory", "share_inherited_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (AttributeError, OSError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def return_freed_memory() -> bool:
    """Give the C heaps' free pages back to the operating system (glibc's ``malloc_trim``).

    True when some memory was returned; False when none was, or when the C library cannot
    do this."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))


def share_inherited_memory() -> None:
    """In a freshly forked worker: leave the objects inherited from the parent out of
    garbage collection (``gc.freeze``), so that their pages stay shared with it."""
    gc.freeze()
