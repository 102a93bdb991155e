"""Freed memory goes back to the operating system where a run changes phase (``e2e.memory``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from e2e.memory import return_freed_memory

_STATM = Path("/proc/self/statm")


def _resident_bytes() -> int:
    return int(_STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not _STATM.exists(),
                    reason="malloc_trim is glibc's; the resident set is read from /proc")
def test_free_pages_inside_the_heap_go_back_to_the_system() -> None:
    # 80 MB of blocks above pymalloc's 512-byte limit, so in the C heap, and one block
    # allocated after them: their space, once freed, is not the heap's top, which free()
    # would have handed back by itself — it stays resident until it is trimmed.
    blocks = [bytes(2_000) for _ in range(40_000)]
    pin = bytes(2_000)
    del blocks
    before = _resident_bytes()
    assert return_freed_memory()
    assert before - _resident_bytes() > 40 * 2**20
    assert len(pin) == 2_000


def test_without_malloc_trim_nothing_is_returned_and_nothing_fails(monkeypatch) -> None:
    import e2e.memory
    monkeypatch.setattr(e2e.memory, "_malloc_trim", lambda: None)
    assert return_freed_memory() is False
