"""Elections on a real ledger service for the HTTP, witness and heads tests.

``make_election`` builds a ledger directory, witness keys and a setup that registers
them, with the key ceremony scripted ahead (``CeremonyScript``: deterministic, fast);
``start_operator`` serves the directory on 127.0.0.1 (a free port) in a thread;
``Network`` adds witnesses, each with its own store and, once synced, its own server.
``rewrite_history`` is the dishonest operator: a copy of the store with entries
modified, dropped, reordered, truncated or replaced, under the same operator key.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from e2e.ballot import chain_seed, encrypt_ballot, mark_ballot
from e2e.context import ElectionContext
from e2e.group import TEST_GROUP
from e2e.ledger.client import Writer
from e2e.ledger.directory import init_ledger_directory, open_ledger_directory
from e2e.ledger.entry import Envelope, decode_entry, decode_envelope, sign_entry
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.node import LedgerNode
from e2e.ledger.operator import AppendResult, RegisterWriter
from e2e.ledger.service import RunningServer, create_app, serve_in_thread
from e2e.ledger.store import PendingEntry, open_store
from e2e.ledger.types import EntryType
from e2e.ledger.witness import Witness, WitnessConfig
from e2e.official import PhaseNote
from e2e.setup import ElectionSetup, Role, WitnessInfo, WriterInfo
from e2e.signing import SigningKey
from e2e.voting import CastBallot, ChallengedBallot
from paperchain.wiring import open_ledger_node
from tests.strategies import CeremonyScript, _seed, election_context

__all__ = [
    "Election",
    "Network",
    "StepClock",
    "make_election",
    "rewrite_history",
    "start_operator",
]



class StepClock:
    """A deterministic clock: each reading is ``step`` ms after the previous one."""

    def __init__(self, start: int = 1_800_000_000_000, step: int = 1000) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


@dataclass
class Election:
    directory: Path
    ledger_dir: Path
    script: CeremonyScript
    setup: ElectionSetup
    operator_key: SigningKey
    witness_keys: dict[str, SigningKey]
    official_key: SigningKey
    device_key: SigningKey
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def election_id(self) -> str:
        return self.setup.election_id

    def context(self) -> ElectionContext:
        return election_context(self.script)

    def setup_entry(self) -> bytes:
        return sign_entry(self.official_key, str(EntryType.SETUP), self.election_id,
                          "official-1", 0, self.setup.to_payload()).encode()

    def ceremony_entries(self) -> list[bytes]:
        return [entry.encode() for _, entry in self.script.entries]

    def official_entry(self, entry_type: EntryType, payload: bytes, sequence: int,
                       writer_id: str = "official-1") -> bytes:
        key = self.official_key
        return sign_entry(key, str(entry_type), self.election_id, writer_id, sequence,
                          payload).encode()

    def register_device(self, name: str, sequence: int) -> bytes:
        writer = WriterInfo(name, Role.DEVICE, SigningKey(_seed("extra", name)).verify_key,
                            "Annex")
        return self.official_entry(EntryType.REGISTER_WRITER, RegisterWriter(writer).to_payload(),
                                   sequence)


def make_election(directory: Path, *, witnesses: Sequence[str] = ("w1", "w2"),
                  threshold: int = 2, extra_officials: int = 0,
                  store_url: str = "sqlite:ledger.sqlite") -> Election:
    """A ledger directory and a setup registering its operator key and ``witnesses``."""
    ledger_dir = directory / "ledger"
    base = CeremonyScript.create(TEST_GROUP)
    init_ledger_directory(ledger_dir, election_id=base.setup.election_id, test_group=True,
                          store_url=store_url)
    config, operator_key, store = open_ledger_directory(ledger_dir)
    store.close()
    witness_keys = {w: SigningKey(_seed("witness", w)) for w in witnesses}
    officials = tuple(WriterInfo(f"official-{i}", Role.OFFICIAL,
                                 SigningKey(_seed("official", i)).verify_key)
                      for i in range(2, 2 + extra_officials))
    setup = dataclasses.replace(
        base.setup, operator_key=config.operator_key, log_origin=config.origin,
        writers=base.setup.writers + officials,
        witnesses=tuple(WitnessInfo(w, k.verify_key) for w, k in witness_keys.items()),
        witness_threshold=threshold)
    script = CeremonyScript(setup, base.trustee_keys, base.box_keys, base.official_key)
    script.sequences["official-1"] = 1  # the setup entry is official-1's first
    script.run_attempt()
    return Election(directory, ledger_dir, script, setup, operator_key, witness_keys,
                    base.official_key, SigningKey(_seed("kiosk-1")))


def start_operator(ledger_dir: Path, clock: Callable[[], int]) -> tuple[LedgerNode,
                                                                        RunningServer]:
    node, _ = open_ledger_node(ledger_dir, clock)
    return node, serve_in_thread(create_app(node))


@dataclass
class Network:
    """An operator service and witnesses, all on 127.0.0.1; ``close`` stops them."""

    election: Election
    clock: StepClock
    node: LedgerNode
    server: RunningServer
    client: HttpLedger
    witnesses: dict[str, Witness] = field(default_factory=dict)
    witness_servers: dict[str, RunningServer] = field(default_factory=dict)
    extra_servers: list[RunningServer] = field(default_factory=list)
    ballot_chain: tuple[int, bytes | None] = (0, None)

    @classmethod
    def start(cls, election: Election, clock: StepClock | None = None) -> Network:
        clock = clock or StepClock()
        node, server = start_operator(election.ledger_dir, clock)
        network = cls(election, clock, node, server, HttpLedger(server.url))
        for witness_id, key in election.witness_keys.items():
            directory = election.directory / "witnesses" / witness_id
            directory.mkdir(parents=True, exist_ok=True)
            config = WitnessConfig(directory, witness_id, election.election_id, True,
                                   key.verify_key, "sqlite:witness.sqlite")
            network.witnesses[witness_id] = Witness(
                config, key, open_store(config.store_location()), clock)
        return network

    @property
    def url(self) -> str:
        return self.server.url

    def append(self, entry_bytes: bytes) -> None:
        self.client.append_bytes(entry_bytes)

    def write_setup_and_ceremony(self) -> None:
        self.append(self.election.setup_entry())
        for raw in self.election.ceremony_entries():
            self.append(raw)

    def official(self) -> Writer:
        return Writer(self.client, self.election.official_key, "official-1")

    def open_voting(self) -> None:
        self.official().write(EntryType.VOTING_OPEN, PhaseNote.encode("open"))

    def cast(self, statuses: Sequence[str]) -> list[tuple[bytes, AppendResult]]:
        """kiosk-1 records one ballot per status ("cast" or "challenged"), in order."""
        context = self.election.context()
        manifest = context.manifest
        style = manifest.ballot_styles[0]
        _, contest = manifest.contests_of_style(style.id)[0]
        marked = mark_ballot(manifest, style.id, {contest.id: [contest.selections[0].id]})
        writer = Writer(self.client, self.election.device_key, "kiosk-1")
        done = []
        for status in statuses:
            sequence, previous = self.ballot_chain
            if previous is None:
                previous = chain_seed(context.extended_base_hash, "kiosk-1", "s1")
            pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1",
                                     sequence=sequence + 1, previous_code=previous)
            if status == "cast":
                result = writer.write(EntryType.BALLOT, CastBallot(pending.ballot).to_payload())
            else:
                payload = ChallengedBallot(pending.ballot, pending.opening(),
                                           _seed("paper", sequence)[:16])
                result = writer.write(EntryType.CHALLENGE, payload.to_payload())
            self.ballot_chain = (sequence + 1, pending.ballot.tracking_code)
            done.append((pending.ballot.tracking_code, result))
        return done

    def register_devices(self, names: Sequence[str]) -> None:
        for name in names:
            sequence = self.client.next_sequence("official-1")
            self.append(self.election.register_device(name, sequence))

    def sync(self, *names: str, source: HttpLedger | None = None) -> None:
        """Witnesses (all by default) sync from the operator; each then serves its copy."""
        for name in names or tuple(self.witnesses):
            witness = self.witnesses[name]
            witness.sync(source or self.client)
            if name not in self.witness_servers:
                self.witness_servers[name] = serve_in_thread(create_app(witness.node()))

    def witness_url(self, name: str) -> str:
        return self.witness_servers[name].url

    def replace_operator(self, ledger_dir: Path) -> None:
        """Stop the operator; serve ``ledger_dir`` (a rewritten copy) in its place."""
        self.server.stop()
        self.client.close()
        self.node.store.close()
        self.node, self.server = start_operator(ledger_dir, self.clock)
        self.client = HttpLedger(self.server.url)

    def close(self) -> None:
        for server in [*self.witness_servers.values(), *self.extra_servers, self.server]:
            server.stop()
        self.client.close()


@contextmanager
def running(election: Election, clock: StepClock | None = None) -> Iterator[Network]:
    network = Network.start(election, clock)
    try:
        yield network
    finally:
        network.close()


def rewrite_history(source_dir: Path, target_dir: Path,
                    transform: Callable[[list[bytes]], list[bytes]]) -> Path:
    """A copy of a ledger directory whose entries are ``transform``ed, re-chained and
    re-hashed under the same operator key: what a dishonest operator can do."""
    target_dir.mkdir(parents=True)
    for name in ("ledger.json", "operator.key"):
        shutil.copy2(source_dir / name, target_dir / name)
    config, _, store = open_ledger_directory(source_dir)
    entries = [decode_envelope(raw).entry_bytes for raw in store.envelopes(0, store.size())]
    store.close()
    target = open_store(str(target_dir / "ledger.sqlite"))
    pending = []
    for raw in transform(entries):
        entry = decode_entry(raw)
        pending.append(PendingEntry(entry_bytes=raw, writer_id=entry.writer_id,
                                    writer_seq=entry.sequence, entry_type=entry.entry_type))
    target.append(pending, lambda index, previous, raw: Envelope(index, previous, raw).encode())
    target.close()
    del config
    return target_dir
