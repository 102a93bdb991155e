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
        big = [os.urandom(3 << 20), os.urandom(3 << 20)]  # past the slot's 4 MiB
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


def test_a_chunk_reads_its_payloads_and_lent_products_back_as_they_went_in(
        monkeypatch) -> None:
    loans = {"kiosk-2": [{0: b"a" * 8, 3: b"b" * 16}, {0: b"c" * 8}], "kiosk-1": [{1: b"d" * 4}]}
    tasks = [BallotTask(7, "ballot", b"", "ledger entry 7", verified=True),
             BallotTask(9, "ballot", b"", "ledger entry 9", verified=True)]
    seen = []
    monkeypatch.setattr(e2e.parallel, "verify_chunk",
                        lambda context, tasks, loans, payload_of: seen.append(
                            (tasks, loans, payload_of)))
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
