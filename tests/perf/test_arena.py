"""Chunks' payloads through shared memory (``e2e.arena``): read back byte for byte, a
slot written again only once given back, grown slots re-mapped by the reader, a private
directory removed at the end, and a bounded number of files mapped by a worker."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import e2e.arena
import e2e.parallel
from e2e.arena import ChunkPieces, PayloadArena
from e2e.errors import RecordError
from e2e.parallel import BallotTask, loans_in_order, verify_chunk_in_arena


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.binary(max_size=300), max_size=6), min_size=1, max_size=5))
def test_chunks_read_back_exactly_what_was_put(chunks: list[list[bytes]]) -> None:
    arena = PayloadArena()
    try:
        refs = [arena.put(chunk) for chunk in chunks]  # all in flight at once
        assert len({ref.path for ref in refs}) == len(refs)
        for ref, chunk in zip(refs, chunks, strict=True):
            assert list(ChunkPieces(ref)) == chunk
    finally:
        arena.close()


def test_a_slot_is_written_again_only_once_given_back_and_grows_as_needed() -> None:
    arena = PayloadArena()
    try:
        first = arena.put([b"abc", b"", b"defg"])
        directory = os.path.dirname(first.path)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        second = arena.put([b"xyz"])
        assert second.path != first.path  # the first chunk may still be read
        assert list(ChunkPieces(first)) == [b"abc", b"", b"defg"]
        arena.give_back(first)
        third = arena.put([b"123"])
        assert third.path == first.path
        assert list(ChunkPieces(third)) == [b"123"]
        arena.give_back(third)
        big = [os.urandom(3 << 20), os.urandom(3 << 20)]  # past the slot's first size
        grown = arena.put(big)
        assert grown.path == first.path
        assert grown.size > first.size
        assert list(ChunkPieces(grown)) == big  # the reader maps the slot again at its new size
    finally:
        arena.close()
    assert not os.path.exists(directory)


def test_a_full_shared_memory_is_an_os_error_at_put_and_the_slot_stays_usable(
        monkeypatch) -> None:
    arena = PayloadArena()
    try:
        def no_space(*_: object) -> None:
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(os, "posix_fallocate", no_space)
            with pytest.raises(OSError, match="No space left"):
                arena.put([b"x" * 10])
        ref = arena.put([b"y" * 10])
        assert list(ChunkPieces(ref)) == [b"y" * 10]
    finally:
        arena.close()


def test_a_worker_keeps_few_files_mapped() -> None:
    arenas = [PayloadArena() for _ in range(e2e.arena._MAPPED_KEPT + 3)]
    try:
        for arena in arenas:
            list(ChunkPieces(arena.put([b"ballot"])))
        assert len(e2e.arena._MAPPED) <= e2e.arena._MAPPED_KEPT
    finally:
        for arena in arenas:
            arena.close()


_LOANS = {"kiosk-2": [{0: b"a" * 8, 3: b"b" * 16}, {0: b"c" * 8}], "kiosk-1": [{1: b"d" * 4}]}
_TASKS = [BallotTask(7, "ballot", b"", "ledger entry 7", verified=True),
          BallotTask(9, "ballot", b"", "ledger entry 9", verified=True)]


def _chunks_seen(monkeypatch) -> list[tuple]:  # type: ignore[type-arg]
    """What ``verify_chunk`` is called with, in place of running it."""
    seen: list[tuple] = []  # type: ignore[type-arg]
    monkeypatch.setattr(e2e.parallel, "verify_chunk",
                        lambda context, tasks, loans, payload_of: seen.append(
                            (tasks, loans, payload_of)))
    return seen


def test_a_chunk_reads_its_payloads_and_lent_products_back_as_they_went_in(
        monkeypatch) -> None:
    loans, tasks, seen = _LOANS, _TASKS, _chunks_seen(monkeypatch)
    layout, blobs = loans_in_order(loans)
    arena = PayloadArena()
    try:
        verify_chunk_in_arena(None, tasks, arena.put([b"first", b"second", *blobs]), layout)
        [(given, read, payload_of)] = seen
        assert given == tasks  # the payloads are read from the slot, task by task
        assert [payload_of(k) for k in range(len(given))] == [b"first", b"second"]
        assert read == loans
        # a slot holding more or fewer pieces than the chunk's layout says is refused,
        # not half-read
        longer = arena.put([b"first", b"second", *blobs, b"stray"])
        with pytest.raises(RecordError, match="holds 7 pieces where its layout says 6"):
            verify_chunk_in_arena(None, tasks, longer, layout)
        shorter = arena.put([b"first", b"second", *blobs[:-1]])
        with pytest.raises(RecordError, match="holds 5 pieces where its layout says 6"):
            verify_chunk_in_arena(None, tasks, shorter, layout)
        assert len(seen) == 1
    finally:
        arena.close()


def test_a_chunk_reads_lent_products_from_a_slot_of_their_own(monkeypatch) -> None:
    """The verifier writes a chunk's lent products into a slot of the chunk's own (its
    payloads stay in the window's slot): read back as they went in, and a slot of either
    kind holding other than the layout's count of pieces is refused."""
    loans, tasks, seen = _LOANS, _TASKS, _chunks_seen(monkeypatch)
    layout, blobs = loans_in_order(loans)
    arena = PayloadArena()
    try:
        window = arena.take()
        payloads = window.ref([window.append(b"first"), window.append(b"second")])
        lent = arena.put(blobs)
        assert lent.path != window.path
        verify_chunk_in_arena(None, tasks, payloads, layout, lent)
        [(_, read, payload_of)] = seen
        assert [payload_of(k) for k in range(len(tasks))] == [b"first", b"second"]
        assert read == loans
        with pytest.raises(RecordError, match="holds 3 pieces where its layout says 4"):
            verify_chunk_in_arena(None, tasks, payloads, layout, arena.put(blobs[:-1]))
        with pytest.raises(RecordError, match="holds 4 pieces where its layout says 2"):
            verify_chunk_in_arena(None, tasks, lent, layout, lent)
        assert len(seen) == 1
    finally:
        arena.close()


def test_windows_and_chunks_reuse_their_own_slots() -> None:
    """A slot keeps the size of the most it held: a window's slot given back is taken by
    the next window, never by a chunk's few lent products (``put``), and the other way
    round — else every slot would grow to a window's size."""
    arena = PayloadArena()
    try:
        window = arena.take()
        window.append(os.urandom(3 << 20))
        chunk = arena.put([b"lent product"])
        arena.give_back(chunk)
        arena.give_back(window)  # the last given back
        assert arena.put([b"next lent product"]).path == chunk.path
        assert arena.take().path == window.path
        assert arena.put([b"another"]).path not in {chunk.path, window.path}
    finally:
        arena.close()


def test_pieces_are_read_out_one_at_a_time_by_position() -> None:
    arena = PayloadArena()
    try:
        ref = arena.put([b"first", b"", b"third"])
        pieces = ChunkPieces(ref)
        assert len(pieces) == 3
        assert (pieces[0], pieces[1], pieces[-1]) == (b"first", b"", b"third")
        assert pieces[1:] == [b"", b"third"]
        assert list(pieces) == [b"first", b"", b"third"]
        with pytest.raises(IndexError):
            pieces[3]
    finally:
        arena.close()


def test_a_worker_lets_go_of_a_finished_verifiers_slots_when_it_maps_a_new_one() -> None:
    finished, live = PayloadArena(), PayloadArena()
    try:
        old = [finished.put([b"old ballot"]) for _ in range(3)]  # three slots in flight
        for ref in old:
            list(ChunkPieces(ref))
        finished.close()  # its files are removed; a worker's mappings would keep their pages
        assert all(ref.path in e2e.arena._MAPPED for ref in old)
        assert list(ChunkPieces(live.put([b"new ballot"]))) == [b"new ballot"]
        assert not any(ref.path in e2e.arena._MAPPED for ref in old)
    finally:
        live.close()


def _resident_kib(path: str) -> int:
    """This process's resident KiB in its mappings of ``path`` (removed or not)."""
    total, mapped = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split(maxsplit=5)
            if not head[0].endswith(":"):  # a mapping's first line: range, ..., path
                mapped = len(head) == 6 and head[5].split(" (deleted)")[0].strip() == path
            elif mapped and line.startswith("Rss:"):
                total += int(head[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc")
def test_closing_an_arena_frees_the_slots_no_chunk_reads_though_workers_map_them() -> None:
    """A worker keeps its mappings of a finished pass's slots until it maps a new one;
    the arena's close empties every slot given back, so their pages go at once, while a
    slot still out (a chunk given up) stays whole for the worker that may read it."""
    arena = PayloadArena()
    payload = bytes(range(256)) * 4096  # 1 MiB: the slot's pages, resident once read
    done = [arena.put([payload]) for _ in range(2)]
    out = arena.put([payload[::-1]])
    for ref in [*done, out]:
        assert list(ChunkPieces(ref)) == [payload if ref in done else payload[::-1]]
        assert _resident_kib(ref.path) >= 1024  # this process, as a worker, maps it
    for ref in done:
        arena.give_back(ref)
    arena.close()
    assert all(ref.path in e2e.arena._MAPPED for ref in [*done, out])  # still mapped ...
    assert [_resident_kib(ref.path) for ref in done] == [0, 0]  # ... and their pages gone
    assert _resident_kib(out.path) >= 1024
    assert list(ChunkPieces(out)) == [payload[::-1]]  # the one out is read as it was


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=2_000), max_size=40), st.data())
def test_payloads_appended_to_a_slot_read_back_exactly_as_written(
        payloads: list[bytes], data: st.DataObject) -> None:
    """A window's slot (``take``, ``append``): each payload read back by the verifier
    (``ArenaSlot.read``) and by a worker (``ChunkPieces``) exactly as written, in any
    selection and order of positions — and a ref handed out before later appends still
    reads the same."""
    arena = PayloadArena()
    try:
        slot = arena.take()
        spans = [slot.append(payload) for payload in payloads]
        assert [slot.read(span) for span in spans] == payloads
        chosen = data.draw(st.lists(st.integers(0, len(payloads) - 1), max_size=10)
                           if payloads else st.just([]))
        early = slot.ref([spans[k] for k in chosen])
        late = [slot.append(b"lent product %d" % k) for k in range(3)]
        assert list(ChunkPieces(early)) == [payloads[k] for k in chosen]
        assert list(ChunkPieces(slot.ref(late))) == [b"lent product %d" % k for k in range(3)]
    finally:
        arena.close()


def test_a_slot_grown_by_appends_keeps_what_was_written_for_readers_of_either_size() -> None:
    arena = PayloadArena()
    try:
        slot = arena.take()
        first = slot.append(b"first ballot")
        before = slot.ref([first])
        list(ChunkPieces(before))  # a worker maps the slot at its first size
        big = os.urandom(5 << 20)  # past the slot's first size: the file and mapping grow
        second = slot.append(big)
        after = slot.ref([first, second])
        assert after.size > before.size
        assert list(ChunkPieces(after)) == [b"first ballot", big]  # mapped again, larger
        assert list(ChunkPieces(before)) == [b"first ballot"]
        assert slot.read(first) == b"first ballot"
    finally:
        arena.close()


def test_a_slot_reads_nothing_outside_what_was_written_and_is_emptied_when_taken_again(
        ) -> None:
    arena = PayloadArena()
    try:
        slot = arena.take()
        span = slot.append(b"ballot")
        with pytest.raises(ValueError, match="outside the 6 bytes written"):
            slot.read((0, 7))
        with pytest.raises(ValueError, match="outside"):
            slot.read((4, 2))
        assert arena.take() is not slot  # not given back: still the window's
        arena.give_back(slot)
        again = arena.take()
        assert again is slot
        assert again.length == 0
        with pytest.raises(ValueError, match="outside the 0 bytes written"):
            again.read(span)
    finally:
        arena.close()


def test_an_append_that_finds_no_room_writes_nothing(monkeypatch) -> None:
    arena = PayloadArena()
    try:
        slot = arena.take()
        kept = slot.append(b"kept")

        def no_space(*_: object) -> None:
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(os, "posix_fallocate", no_space)
            with pytest.raises(OSError, match="No space left"):
                slot.append(b"z" * (5 << 20))
        assert slot.length == 4
        assert slot.read(kept) == b"kept"
    finally:
        arena.close()


def test_a_killed_verifier_s_shared_memory_is_removed_by_the_next_arena(
        monkeypatch, tmp_path) -> None:
    """A process killed outright (SIGKILL) cannot remove its slots, and ``/dev/shm`` is
    memory: the next arena removes the directories of processes that are gone — and only
    those: a live process's, another PID namespace's and unrelated ones stay."""
    import subprocess
    import sys
    import textwrap

    monkeypatch.setattr(e2e.arena, "_SHARED_MEMORY", str(tmp_path))
    script = textwrap.dedent(f"""
        import os, signal, e2e.arena
        e2e.arena._SHARED_MEMORY = {str(tmp_path)!r}
        arena = e2e.arena.PayloadArena()
        arena.put([b"ballot" * 1000])
        print(os.path.dirname(arena.take().path), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False)
    assert killed.returncode == -9
    abandoned = killed.stdout.strip()
    assert os.path.isdir(abandoned)
    assert os.listdir(abandoned)
    dead_pid = os.path.basename(abandoned).removeprefix(e2e.arena._own_prefix()).split("-")[0]
    live = tmp_path / f"{e2e.arena._own_prefix()}{os.getpid()}-live"
    elsewhere = tmp_path / f"{e2e.arena._PREFIX}1-{dead_pid}-other-namespace"
    unrelated = tmp_path / "paperchain-chunks-notes"
    for directory in (live, elsewhere, unrelated):
        directory.mkdir()
    arena = PayloadArena()
    try:
        assert not os.path.exists(abandoned)
        assert all(d.is_dir() for d in (live, elsewhere, unrelated))
    finally:
        arena.close()
