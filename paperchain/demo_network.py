"""The demo's ledger network: the operator and two witnesses as real HTTP services.

``DemoNetwork.start`` serves the ledger directory's operator node on 127.0.0.1 (a free
port, in a background thread) and creates two witnesses, each with its own directory,
key and copy; every role of the demo then talks to the ledger over HTTP
(``HttpLedger``). ``sync_witnesses`` has each witness copy, check and cosign the
operator's latest head (and, after the first sync, serve its copy on its own port);
``export`` writes the record up to the newest head both witnesses cosigned, with the
heads history. ``stop`` shuts every server down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2e.errors import StateError
from e2e.ledger.heads import HeadPolicy
from e2e.ledger.history import cosigned_history
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.service import RunningServer, create_app, serve_in_thread
from e2e.ledger.witness import Witness, init_witness_directory, open_witness
from e2e.record import RecordSummary, export_record
from e2e.setup import ElectionSetup, WitnessInfo
from paperchain.wiring import open_ledger_node

__all__ = ["WITNESSES", "WITNESS_THRESHOLD", "DemoNetwork"]

WITNESSES = ("witness-1", "witness-2")
WITNESS_THRESHOLD = 2


@dataclass
class DemoNetwork:
    ledger: HttpLedger
    operator_server: RunningServer
    witnesses: list[Witness]
    witness_servers: list[RunningServer] = field(default_factory=list)

    @classmethod
    def start(cls, out: Path, election_id: str, test_group: bool) -> DemoNetwork:
        node, _ = open_ledger_node(out / "ledger")
        server = serve_in_thread(create_app(node))
        witnesses = []
        for witness_id in WITNESSES:
            directory = out / "witnesses" / witness_id
            init_witness_directory(directory, witness_id=witness_id, election_id=election_id,
                                   test_group=test_group)
            witnesses.append(open_witness(directory))
        return cls(HttpLedger(server.url), server, witnesses)

    @property
    def url(self) -> str:
        return self.operator_server.url

    def witness_infos(self) -> list[WitnessInfo]:
        return [WitnessInfo(w.config.witness_id, w.key.verify_key) for w in self.witnesses]

    def sync_witnesses(self, report: Callable[[str], None] = lambda _: None) -> None:
        """Every witness copies, checks and cosigns the operator's latest head, twice: the
        second round gathers the other witness's cosignature into each copy."""
        for _ in range(2):
            for witness in self.witnesses:
                result = witness.sync(self.ledger)
                if result.cosigned:
                    report(f"  {witness.config.witness_id}: {result.describe()}")
        if not self.witness_servers:
            self.witness_servers = [serve_in_thread(create_app(w.node())) for w in self.witnesses]
            for witness, server in zip(self.witnesses, self.witness_servers, strict=True):
                report(f"  {witness.config.witness_id} serves its copy on {server.url}")

    def export(self, record: Path, setup: ElectionSetup) -> RecordSummary:
        policy = HeadPolicy.from_setup(setup)
        final = self.ledger.cosigned_head()
        if final is None:
            raise StateError("no head has enough witness cosignatures to export")
        heads = cosigned_history(self.ledger, policy, final.size)
        return export_record(self.ledger.envelope_range(0, final.size),
                             setup.manifest.source_bytes, setup.election_id, record,
                             heads=[head.note(policy) for head in heads])

    def stop(self) -> None:
        for server in [*self.witness_servers, self.operator_server]:
            server.stop()
        self.ledger.close()
