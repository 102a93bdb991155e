"""Memory the processes of a run hold (``e2e.memory``): freed memory given back where a run
changes phase, inherited memory kept shared, SQLite page caches let go of between passes."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import platform
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from e2e.memory import return_freed_memory

if TYPE_CHECKING:
    from e2e.scratch import KeySet

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


def _private_dirty_bytes() -> int:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no Private_Dirty in smaps_rollup")


def _copied_by_a_full_collection() -> int:
    """In a worker: how much memory a full garbage collection made its own."""
    import gc
    before = _private_dirty_bytes()
    gc.collect()
    return _private_dirty_bytes() - before


def _frozen_objects() -> int:
    import gc
    return gc.get_freeze_count()


def test_the_verifiers_pools_leave_inherited_objects_out_of_collection() -> None:
    from e2e.parallel import local_pool, make_executor, shared_executor
    with local_pool(1) as pool:
        assert pool.submit(_frozen_objects).result() > 0
    with make_executor(1) as pool:  # what --workers and the benchmarks start
        assert pool.submit(_frozen_objects).result() > 0
    # the process-wide pool RecordVerifier uses by default
    assert shared_executor().submit(_frozen_objects).result() > 0


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists()
                    or multiprocessing.get_all_start_methods()[0] != "fork",
                    reason="workers forked; private memory read from /proc")
def test_a_workers_collections_do_not_copy_what_it_inherited() -> None:
    # 400,000 small lists (≈ 40 MB of objects the collector tracks), made before the
    # workers fork: a plain pool's worker copies their pages into its own memory at its
    # first full collection; a local_pool worker leaves them shared with this process.
    from concurrent.futures import ProcessPoolExecutor

    from e2e.parallel import local_pool
    inherited = [[i] for i in range(400_000)]
    with ProcessPoolExecutor(max_workers=1) as plain:
        copied_plain = plain.submit(_copied_by_a_full_collection).result()
    with local_pool(1) as pool:
        copied_frozen = pool.submit(_copied_by_a_full_collection).result()
    # the effect is there to be avoided (≈ 50 MiB here) ...
    assert copied_plain > 20 * 2**20, f"plain pool's worker copied {copied_plain} bytes"
    # ... and is avoided (≈ 0)
    assert copied_frozen < 4 * 2**20, f"local_pool's worker copied {copied_frozen} bytes"
    assert len(inherited) == 400_000


def test_a_key_set_keeps_every_key_when_its_page_cache_goes() -> None:
    from e2e.scratch import KeySet
    codes = KeySet(1)
    codes.release_memory()  # nothing on disk yet: nothing to do
    for n in range(300):
        codes.add(n.to_bytes(4, "big"))
    codes.release_memory()
    assert all(n.to_bytes(4, "big") in codes for n in range(300))
    for n in range(250, 400):  # adds after the release: new keys and keys already held
        codes.add(n.to_bytes(4, "big"))
    assert len(codes) == 400
    assert sorted(codes) == [n.to_bytes(4, "big") for n in range(400)]


def test_the_alpha_registry_keeps_its_answers_when_its_page_cache_goes() -> None:
    from e2e.alphas import AlphaRegistry
    registry = AlphaRegistry()
    try:
        digest = [bytes([n]) * 32 for n in range(6)]
        assert registry.register(0, b"leaf-0", digest[:3], -1) == 0
        registry.release_memory()
        assert registry.known(0, b"leaf-0") == 0
        assert registry.register(1, b"leaf-1", digest[2:5], 0) == 1  # digest[2] again
        registry.release_memory()
        assert registry.known(1, b"leaf-1") == 1
        assert registry.register(2, b"leaf-2", digest[5:], 1) == 0
    finally:
        registry.close()


def _sqlite_memory_used() -> Callable[[], int] | None:
    """SQLite's own count of the memory it holds, when the ``sqlite3`` module runs on
    the shared library ctypes can load (else None)."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        used = ctypes.CDLL(name).sqlite3_memory_used
    except (AttributeError, OSError):
        return None
    used.restype = ctypes.c_int64
    return lambda: int(used())


def test_a_pass_that_reads_known_answers_keeps_the_registrys_cache_small() -> None:
    """After ``release_memory`` (a pass is over), a pass that finds every ballot known (a
    tally's) reads the ``ballots`` rows through a small cache, not the 16 MiB one; the
    next ballot registered gets the large cache back."""
    from e2e.alphas import AlphaRegistry
    used = _sqlite_memory_used() or (lambda: 0)

    def cache_kib() -> int:
        return -int(registry._db.execute("PRAGMA cache_size").fetchone()[0])

    registry = AlphaRegistry()
    try:
        count = 40_000  # ≈ 2 MB of ballots rows
        for index in range(count):
            digest = index.to_bytes(32, "big")
            assert registry.register(index, digest[::-1], [digest], index - 1) == 0
        assert cache_kib() == 16_384
        filled = used()
        registry.release_memory()
        released = used()
        assert cache_kib() == 256
        answers = [registry.known(index, index.to_bytes(32, "big")[::-1])
                   for index in range(count)]
        assert answers == [0] * count
        if filled - released > 2**20:  # (SQLite's memory is measurable here)
            assert used() - released < 2**19  # the whole table would be ≈ 2 MB
        assert registry.known(5, b"another leaf") is None
        assert cache_kib() == 256
        digest = count.to_bytes(32, "big")
        assert registry.register(count, digest[::-1], [digest], count - 1) == 0
        assert cache_kib() == 16_384
    finally:
        registry.close()


def _sqlite_memory_and_a_full_cache() -> tuple[Callable[[], int], KeySet]:
    """SQLite's count of its memory, and a set of 100,000 random keys (≈ 4.5 MB on disk)
    whose 16 MiB page cache holds them all; skips where that count does not see them."""
    import secrets

    from e2e.scratch import KeySet
    used = _sqlite_memory_used()
    if used is None:
        pytest.skip("SQLite's shared library is not loadable here")
    before = used()
    codes = KeySet(1, cache_kib=16_384)
    for _ in range(100_000):
        codes.add(secrets.token_bytes(32))
    if used() - before < 2 * 2**20:
        pytest.skip("this Python's sqlite3 does not use the shared library ctypes loads")
    return used, codes


def test_letting_the_page_cache_go_gives_back_sqlites_memory() -> None:
    used, codes = _sqlite_memory_and_a_full_cache()
    filled = used()
    codes.release_memory()
    assert filled - used() > 2 * 2**20
    assert len(codes) == 100_000


def test_a_scratch_store_s_page_cache_stays_within_its_bound() -> None:
    """The caches a pass keeps do not grow with the ballots: ≈ 4.5 MB of keys on disk,
    of codes (random) and of verdicts (in ledger order), and SQLite holds no more than
    the sets' bounds (2 MiB and 1 MiB) for them."""
    import secrets

    from e2e.scratch import KeySet
    from e2e.verdicts import VerdictCache
    used, big = _sqlite_memory_and_a_full_cache()  # the measure sees an unbounded cache
    big.clear()
    before = used()
    codes = KeySet(1)
    verdicts = VerdictCache(memory_limit=1)
    for position in range(1, 100_001):
        codes.add(secrets.token_bytes(32))
        verdicts.add(secrets.token_bytes(32), position)
    held = used() - before
    assert held < (2_048 + 1_024 + 512) * 1024, f"SQLite holds {held} bytes"
    assert len(codes) == len(verdicts) == 100_000


def test_a_local_pool_starts_its_workers_lazily_and_renews_them() -> None:
    """``LocalPool``: no worker before the first chunk; ``renew`` waits for the chunks
    submitted and lets the workers go; the next chunk runs in new ones; after shutdown
    nothing is accepted."""
    from e2e.errors import UsageError
    from e2e.parallel import LocalPool, local_pool

    with pytest.raises(UsageError, match="at least one worker"):
        LocalPool(0)
    pool = local_pool(2)
    try:
        assert pool.worker_pids() == []
        assert pool.submit(os.getpid).result() != os.getpid()
        first = set(pool.worker_pids())
        assert len(first) == 2
        slow = pool.submit(_sleep_then, 0.3, "done")
        pool.renew()  # waits for the chunk in flight: it is not lost
        assert slow.result(timeout=0) == "done"
        assert pool.worker_pids() == []
        assert pool.renewals == 1
        assert pool.submit(os.getpid).result() not in first
        assert not set(pool.worker_pids()) & first
        assert not any(Path(f"/proc/{pid}").exists() for pid in first)  # exited, reaped
    finally:
        pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(os.getpid)


def _sleep_then(seconds: float, value: str) -> str:
    import time
    time.sleep(seconds)
    return value


def test_a_pass_that_checked_proofs_renews_its_local_workers_and_a_tally_pass_keeps_them(
        ) -> None:
    """A verification ends by renewing the workers of the local pool it used, so the
    tally's pass after it runs in new ones (what the verification left in the old ones
    goes with them); the tally's pass, every verdict already held, keeps its workers."""
    from e2e.group import TEST_GROUP
    from e2e.manifest import demo_manifest
    from e2e.parallel import local_pool
    from e2e.verdicts import VerdictCache
    from e2e.verify import RecordVerifier
    from tests.perf.ledgers import SyntheticElection, envelopes_of

    election = SyntheticElection.create(TEST_GROUP, demo_manifest(), devices=2)
    envelopes = list(envelopes_of([*election.opening_entries(),
                                   *election.chain("kiosk-1", 6, challenge_every=3),
                                   *election.chain("kiosk-2", 5),
                                   *election.closing_entries()]))
    verdicts = VerdictCache()
    pool = local_pool(2)
    seen: list[set[int]] = []
    try:
        def one_pass() -> RecordVerifier:
            verifier = RecordVerifier(election.election_id, allow_test_group=True,
                                      executor=pool, chunk_size=2, in_flight=2,
                                      verdicts=verdicts)
            assert verifier.run(envelopes).ok
            return verifier

        def noted(fn):  # type: ignore[no-untyped-def]
            def inner(*args, **kwargs):  # type: ignore[no-untyped-def]
                seen[-1].update(pool.worker_pids())
                return fn(*args, **kwargs)
            return inner

        submit = pool.submit
        pool.submit = noted(submit)  # type: ignore[method-assign]
        seen.append(set())
        verification = one_pass()
        assert pool.renewals == 1
        assert pool.worker_pids() == []
        seen.append(set())
        tally = one_pass()
        assert pool.renewals == 1  # the tally's pass keeps its workers ...
        assert seen[0]  # the verification's chunks ran in workers
        assert set(pool.worker_pids()) == seen[1]  # ... alive after it: the same ones
        assert seen[0].isdisjoint(seen[1])  # new ones, not the verification's
        assert tally.aggregate == verification.aggregate
    finally:
        pool.shutdown()


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_in_use() -> Callable[[], int]:
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _Mallinfo2
    def in_use() -> int:
        info = mallinfo2()
        return info.uordblks + info.hblkhd

    return in_use


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                    reason="the C heap in use (GMP's numbers included) is read by glibc's "
                           "mallinfo2")
def test_a_chunk_holds_one_devices_products_as_numbers_at_a_time() -> None:
    """A tally chunk's worker is lent a hundred devices' products (4096-bit numbers, ten
    contests of four selections each) and multiplies one ballot into each, device after
    device: the products it returns (3.9 MiB of bytes) are what its heap grows by, not
    those and every device's unpacked numbers besides (≈ 8 MiB before they were opened
    one device at a time)."""
    from gmpy2 import mpz

    from e2e.parallel import PartialAggregate
    heap_in_use = _heap_in_use()
    width, rng = 512, random.Random(7)
    p = mpz(2) ** 4096 - 1

    def number() -> mpz:
        return mpz(rng.getrandbits(4095) | 1)

    loans = {f"device-{k}": [{contest: b"".join(number().to_bytes(width, "big")
                                                for _ in range(8)) for contest in range(10)}]
             for k in range(100)}
    ballots = {device: [(contest, [(number(), number()) for _ in range(4)])
                        for contest in range(10)] for device in loans}
    start = peak = heap_in_use()
    partial = PartialAggregate.lent(p, width, loans)
    for device, rows in ballots.items():
        partial.add(device, "style", rows)
        peak = max(peak, heap_in_use())
    back = partial.pack()
    peak = max(peak, heap_in_use())
    returned = sum(len(blob) for packed in back.products.values() for blob in packed.values())
    assert returned == 100 * 10 * 8 * width
    assert peak - start < returned + 2**20


def test_the_verifiers_memory_for_devices_products_stays_within_its_bound() -> None:
    """2,000 devices' running products (40 KiB each, a ten-contest style's: 78 MiB in all)
    merged into the cast aggregate: those past its bound wait on disk
    (``e2e.held_products``), so what Python holds grows by the bound and a small index per
    device, not by every device's bytes — and each device's come back whole when lent."""
    import tracemalloc

    from e2e.group import TEST_GROUP
    from e2e.parallel import PackedPartial
    from e2e.verify import CastAggregate

    devices, size = 2_000, 40 * 1024
    aggregate = CastAggregate(held_memory=2**20)

    def product(k: int) -> dict[int, bytes]:
        return {contest: bytes([k % 251, contest]) * (size // 20) for contest in range(10)}

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for k in range(devices):
            aggregate.merge(TEST_GROUP, PackedPartial({f"device-{k}": product(k)},
                                                      {f"device-{k}": {"style": 1}}, {}))
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert aggregate.ballots == devices
    assert grown < 2**20 + devices * 1_024  # the bound, and ≈ 0.7 KiB a device (counts, index)
    for k in (0, 999, devices - 1):
        assert aggregate.lend([f"device-{k}"]) == {f"device-{k}": [product(k)]}
