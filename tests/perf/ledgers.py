"""Synthetic elections for the performance work's tests and benchmarks.

A closed key ceremony (``tests.strategies.CeremonyScript``: fixed keys, so the same
election every run), any number of devices, and ledgers written as bare envelopes:
setup, ceremony, voting open, the devices' ballots (and challenged ballots),
their closes, voting close. Nothing here checks anything: the verifier under test does.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import queue
import random
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from e2e.ballot import BallotOpening, MarkedBallot, chain_seed, encrypt_ballot, mark_ballot
from e2e.context import ElectionContext
from e2e.encoding import u32
from e2e.group import GroupParameters
from e2e.ledger.entry import (
    GENESIS_PREVIOUS,
    Entry,
    Envelope,
    decode_envelope,
    leaf_hash_of,
    sign_entry,
)
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.official import PhaseNote, build_setup
from e2e.parallel import bounded_map, encrypt_chain, link_chain
from e2e.setup import TrusteeInfo
from e2e.signing import SigningKey
from e2e.voting import CastBallot, ChallengedBallot, DeviceClose
from tests.strategies import CeremonyScript, _seed, election_context

__all__ = ["SyntheticElection", "bench_manifest", "envelopes_of", "interleave_record",
           "read_envelopes", "write_envelopes"]


def bench_manifest(contests: int = 10, selections: int = 4, vote_for: int = 1) -> Manifest:
    """``contests`` plurality contests of ``selections`` candidates, one ballot style."""
    manifest = {
        "version": 1, "election_id": "bench-election", "name": {"en": "Benchmark"},
        "jurisdiction": {"en": "Benchmark"}, "date": "2026-11-03", "languages": ["en"],
        "contests": [
            {"id": f"contest-{i}", "title": {"en": f"Contest {i}"}, "kind": "plurality",
             "vote_for": vote_for, "winners": vote_for,
             "selections": [{"id": f"candidate-{j}", "label": {"en": f"Candidate {j}"}}
                            for j in range(selections)]}
            for i in range(contests)],
        "ballot_styles": [{"id": "all", "label": {"en": "All"},
                           "contests": [f"contest-{i}" for i in range(contests)]}],
    }
    return Manifest.from_bytes(json.dumps(manifest, indent=1).encode())


def random_choices(manifest: Manifest, style_id: str, rng: random.Random
                   ) -> MarkedBallot:
    choices = {}
    for _, contest in manifest.contests_of_style(style_id):
        count = rng.randint(0, contest.limit)
        choices[contest.id] = rng.sample([s.id for s in contest.selections], count)
    return mark_ballot(manifest, style_id, choices)


@dataclass
class SyntheticElection:
    script: CeremonyScript
    context: ElectionContext
    device_keys: dict[str, SigningKey]
    official_key: SigningKey
    sequences: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, group: GroupParameters, manifest: Manifest, devices: int = 2
               ) -> SyntheticElection:
        base = CeremonyScript.create(group, manifest=manifest)
        keys = {f"kiosk-{d}": SigningKey(_seed("kiosk", d)) for d in range(1, devices + 1)}
        trustees = [TrusteeInfo(i, f"Trustee {i}", f"trustee-{i}", base.trustee_keys[i].verify_key,
                                bytes(base.box_keys[i].public_key)) for i in base.trustee_keys]
        setup = build_setup(
            manifest=manifest, group=group, threshold=2, trustees=trustees,
            officials=[("official-1", base.official_key.verify_key)],
            devices=[(d, k.verify_key, "Ward 1") for d, k in keys.items()],
            operator_key=SigningKey(_seed("operator")).verify_key, log_origin="bench",
        )
        script = CeremonyScript(setup, base.trustee_keys, base.box_keys, base.official_key)
        script.sequences["official-1"] = 1  # the setup entry is the official's first
        script.run_attempt()
        return cls(script, election_context(script), keys, base.official_key)

    @property
    def election_id(self) -> str:
        return self.script.setup.election_id

    def sign(self, writer_id: str, entry_type: str, payload: bytes) -> Entry:
        key = self.official_key if writer_id == "official-1" else self.device_keys[writer_id]
        sequence = self.sequences.get(writer_id, 0)
        self.sequences[writer_id] = sequence + 1
        return sign_entry(key, str(entry_type), self.election_id, writer_id, sequence, payload)

    def opening_entries(self) -> list[Entry]:
        """Setup, the ceremony, voting open."""
        self.sequences = {"official-1": 0}
        entries = [self.sign("official-1", EntryType.SETUP, self.script.setup.to_payload())]
        entries += [entry for _, entry in self.script.entries]
        self.sequences.update({w: s for w, s in self.script.sequences.items()
                               if w == "official-1"})
        entries.append(self.sign("official-1", EntryType.VOTING_OPEN, PhaseNote.encode("open")))
        return entries

    def chain(self, device_id: str, count: int, *, seed: int = 0, challenge_every: int = 0,
              session: str = "s1", compact: bool = False) -> list[Entry]:
        """``count`` ballots of one device, every ``challenge_every``-th challenged first."""
        context, rng = self.context, random.Random(f"{device_id}/{seed}")
        previous = chain_seed(context.extended_base_hash, device_id, session)
        entries, sequence = [], 1
        for n in range(count):
            marked = random_choices(context.manifest, "all" if self._one_style() else
                                    rng.choice(context.manifest.ballot_styles).id, rng)
            if challenge_every and n % challenge_every == challenge_every - 1:
                spoiled = encrypt_ballot(context, marked, device_id=device_id, session=session,
                                         sequence=sequence, previous_code=previous)
                payload = ChallengedBallot(spoiled.ballot, BallotOpening(
                    spoiled.opening().master_nonce, marked), rng.randbytes(16)).to_payload()
                entries.append(self.sign(device_id, EntryType.CHALLENGE, payload))
                previous, sequence = spoiled.ballot.tracking_code, sequence + 1
            pending = encrypt_ballot(context, marked, device_id=device_id, session=session,
                                     sequence=sequence, previous_code=previous)
            entries.append(self.sign(device_id, EntryType.BALLOT,
                                     CastBallot(pending.ballot).to_payload(compact=compact)))
            previous, sequence = pending.ballot.tracking_code, sequence + 1
        entries.append(self.sign(device_id, EntryType.DEVICE_CLOSE, DeviceClose(
            device_id, session, sequence - 1, previous).to_payload()))
        return entries

    def bulk_chains(self, counts: dict[str, int], executor: Executor | None, *, seed: int = 0,
                    session: str = "s1", per_task: int = 20, compact: bool = False
                    ) -> Iterator[Entry]:
        """Cast ballots of several devices, encrypted in parallel through ``executor``
        (``encrypt_chain``) and linked in order (``link_chain``); then each device's close."""
        context = self.context
        for device_id, count in counts.items():
            rng = random.Random(f"{device_id}/{seed}")
            marked = [random_choices(context.manifest, "all", rng) for _ in range(count)]
            parts = [(context, device_id, session, 1 + start, marked[start:start + per_task])
                     for start in range(0, count, per_task)]
            previous = chain_seed(context.extended_base_hash, device_id, session)
            for part in bounded_map(executor, encrypt_chain, parts, in_flight=8):
                for ballot in link_chain(context, part, previous):
                    previous = ballot.tracking_code
                    yield self.sign(device_id, EntryType.BALLOT,
                                    CastBallot(ballot).to_payload(compact=compact))
            yield self.sign(device_id, EntryType.DEVICE_CLOSE, DeviceClose(
                device_id, session, count, previous).to_payload())

    def closing_entries(self) -> list[Entry]:
        return [self.sign("official-1", EntryType.VOTING_CLOSE, PhaseNote.encode("closed"))]

    def _one_style(self) -> bool:
        return len(self.context.manifest.ballot_styles) == 1


def envelopes_of(entries: Iterable[Entry]) -> Iterator[bytes]:
    return _chained(entry.encode() for entry in entries)


def _chained(entries: Iterable[bytes]) -> Iterator[bytes]:
    """Encoded entries wrapped in envelopes, indexed and chained from the genesis hash."""
    previous = GENESIS_PREVIOUS
    for index, entry_bytes in enumerate(entries):
        raw = Envelope(index, previous, entry_bytes).encode()
        previous = leaf_hash_of(raw)
        yield raw


def write_envelopes(path: Path, envelopes: Iterable[bytes]) -> int:
    count = 0
    with path.open("wb") as out:
        for raw in envelopes:
            out.write(u32(len(raw)))
            out.write(raw)
            count += 1
    return count


def interleave_record(source: Path, target: Path) -> int:
    """Write ``source``'s record with its devices' entries taken in turn — one ballot of
    each device, then the next — each device's own order (its close last) kept, and the
    envelopes chained again; entries and signatures are unchanged. ``bulk_chains`` writes
    each device's ballots together; an election day's ledger interleaves its devices,
    and a verifier's chunks then hold ballots of many devices at once. Reads the source
    twice (an index of offsets, then the entries in their new order), so memory holds
    offsets only. Returns the number of envelopes written."""
    before: list[tuple[int, int]] = []  # (offset, length) of the entries before the ballots
    after: list[tuple[int, int]] = []
    devices: dict[str, deque[tuple[int, int]]] = {}
    with source.open("rb") as record:
        offset = 0
        while header := record.read(4):
            length = int.from_bytes(header, "big")
            entry = decode_envelope(record.read(length)).entry()
            place = (offset + 4, length)
            if entry.entry_type in (EntryType.BALLOT, EntryType.CHALLENGE,
                                    EntryType.DEVICE_CLOSE):
                devices.setdefault(entry.writer_id, deque()).append(place)
            else:
                (after if devices else before).append(place)
            offset += 4 + length

    def in_turn() -> Iterator[tuple[int, int]]:
        yield from before
        waiting = list(devices.values())
        while waiting:
            for places in waiting:
                yield places.popleft()
            waiting = [places for places in waiting if places]
        yield from after

    descriptor = os.open(source, os.O_RDONLY)
    try:
        partial = target.with_suffix(".partial")
        count = write_envelopes(partial, _chained(  # each entry's own bytes, not re-encoded
            decode_envelope(os.pread(descriptor, length, offset)).entry_bytes
            for offset, length in in_turn()))
        partial.rename(target)
    finally:
        os.close(descriptor)
    return count


_BLOCK = 4 << 20  # bytes per read of a record file
_BATCH = 16  # envelopes handed over at a time
_READ_AHEAD = 2  # batches read ahead of the consumer (≈ 5 MB at ten contests)


def _blocks(path: Path, direct: bool) -> Iterator[memoryview]:
    """The file's bytes, in order, in blocks of ``_BLOCK``: each a view of one buffer,
    valid until the next is asked for.

    ``direct``: read with ``O_DIRECT`` where the system and file system allow it
    (Linux; not tmpfs), so a record larger than the page cache is streamed without
    filling the cache: on our VM a buffered cold read of the 15 GB 10^5-ballot record
    costs ≈ 20 s of kernel CPU, a direct one ≈ 1 s. Otherwise an ordinary read.
    """
    flag = getattr(os, "O_DIRECT", 0) if direct else 0
    try:
        descriptor = os.open(path, os.O_RDONLY | flag)
    except OSError:
        if not flag:
            raise
        flag = 0
        descriptor = os.open(path, os.O_RDONLY)
    try:
        buffer = mmap.mmap(-1, _BLOCK)  # page-aligned, as O_DIRECT needs
        whole = memoryview(buffer)
        offset = 0
        while True:
            try:
                count = os.preadv(descriptor, [buffer], offset)
            except OSError as err:
                if not flag or err.errno != errno.EINVAL:
                    raise
                os.close(descriptor)  # the file system refuses direct reads after all
                flag = 0
                descriptor = os.open(path, os.O_RDONLY)
                continue
            if count == 0:
                return
            yield whole[:count]
            if count < _BLOCK:  # the end (a direct read may not start at an odd offset)
                return
            offset += count
    finally:
        os.close(descriptor)


def _split(blocks: Iterable[memoryview]) -> Iterator[list[bytes]]:
    """Envelopes (u32 length, bytes) out of a stream of blocks, in batches of ``_BATCH``.
    A truncated tail is yielded short, for the verifier to refuse."""
    batch: list[bytes] = []
    part = bytearray()  # an envelope (or its length) that runs over a block's end
    need: int | None = None  # the length of the envelope being read, once known
    for view in blocks:
        position, end = 0, len(view)
        while position < end:
            if need is None:
                if not part and position + 4 <= end:
                    need = int.from_bytes(view[position:position + 4], "big")
                    position += 4
                else:
                    take = min(4 - len(part), end - position)
                    part += view[position:position + take]
                    position += take
                    if len(part) < 4:
                        break
                    need = int.from_bytes(part, "big")
                    part = bytearray()
                    continue
            if not part and position + need <= end:
                batch.append(bytes(view[position:position + need]))
                position += need
            else:
                take = min(need - len(part), end - position)
                part += view[position:position + take]
                position += take
                if len(part) < need:
                    break
                batch.append(bytes(part))
                part = bytearray()
            need = None
            if len(batch) >= _BATCH:
                yield batch
                batch = []
    if need is not None or part:
        batch.append(bytes(part))
    if batch:
        yield batch


def read_envelopes(path: Path, *, direct: bool = True) -> Iterator[bytes]:
    """The envelopes of a record written by ``write_envelopes``, read ahead by a thread
    (file reads run while the verifier works; at most ``_READ_AHEAD`` batches held)."""
    handoff: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(_READ_AHEAD)
    stop = threading.Event()

    def put(item: list[bytes] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in _split(_blocks(path, direct)):
                if not put(batch):
                    return
            put(None)
        except BaseException as err:  # handed to the consumer, raised there
            put(err)

    reader = threading.Thread(target=produce, name="record-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        reader.join()
