"""What paper needs to know of an election, read from its ledger entries.

``PaperElection.read`` follows a ledger (or an election record's envelopes) from the
setup on, applying the ledger's own rules to every entry (signature, registered and
unrevoked writer, role, phase: ``e2e.ledger.operator.LedgerState``) without checking
ballots' cryptography — ``paperchain verify`` does that. It keeps:

* the keys a scanner trusts: every registered voting device's (original cards and
  receipts), every official's (remade DUPLICATE cards are signed by the official who
  records the remake), the ledger operator's (receipts' inclusion promises);
* whether this is a test election (TEST on every page);
* the IDs of challenged ballots' papers (SPOILED), from the challenge entries;
* the recorded card remakes (ballot ID, remake number → style), from ``card-remake``;
* per device: its polling place, cast and challenged ballots, whether it closed —
  counts of ledger entries by writer, nothing about any ballot's content.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from e2e.encoding import parse_json_object
from e2e.errors import LedgerError
from e2e.ledger.entry import Entry
from e2e.ledger.operator import LedgerState
from e2e.ledger.types import EntryType
from e2e.remake import CardRemake
from e2e.setup import ElectionSetup, Role
from e2e.signing import VerifyKey
from paper.ids import BallotId
from paper.scan import ScanContext

__all__ = ["DeviceTally", "PaperElection"]


@dataclass(slots=True)
class DeviceTally:
    """A device's ledger counts: ballots cast, challenged; whether its chain closed."""

    device_id: str
    location: str
    cast: int = 0
    challenged: int = 0
    closed: bool = False


@dataclass(frozen=True, slots=True)
class PaperElection:
    setup: ElectionSetup
    device_keys: tuple[VerifyKey, ...]
    official_keys: tuple[VerifyKey, ...]
    spoiled: frozenset[BallotId]
    remakes: Mapping[tuple[BallotId, int], str]
    devices: tuple[DeviceTally, ...]
    entries: int
    phase: str
    notes: tuple[str, ...] = field(default=())

    @property
    def election_id(self) -> str:
        return self.setup.election_id

    @property
    def test_election(self) -> bool:
        return self.setup.test_election

    def scan_context(self) -> ScanContext:
        """What a scanner of this election's ballot box trusts (cards and receipts)."""
        return ScanContext(self.election_id, self.device_keys, remake_keys=self.official_keys,
                           operator_key=self.setup.operator_key,
                           test_election=self.test_election,
                           recorded_remakes=frozenset(self.remakes.items()))

    def polling_places(self) -> tuple[str, ...]:
        return tuple(sorted({d.location for d in self.devices}))

    @classmethod
    def read(cls, entries: Iterable[tuple[int, Entry]], *, election_id: str,
             allow_test_group: bool = False) -> PaperElection:
        """Follow ``entries`` (index, entry) from the setup; raise ``LedgerError`` on an
        entry the ledger's rules refuse."""
        state = LedgerState(election_id, allow_test_group)
        spoiled: set[BallotId] = set()
        remakes: dict[tuple[BallotId, int], str] = {}
        tallies: dict[str, DeviceTally] = {}
        count = 0
        for index, entry in entries:
            try:
                state.check(index, entry)
            except LedgerError as err:
                raise err.at(f"ledger entry {index}") from None
            state.observe(index, entry)
            count = index + 1
            kind = entry.entry_type
            if kind in (EntryType.BALLOT, EntryType.CHALLENGE, EntryType.DEVICE_CLOSE):
                writer = state.writers[entry.writer_id]
                tally = tallies.setdefault(entry.writer_id,
                                           DeviceTally(entry.writer_id, writer.location))
                if kind == EntryType.BALLOT:
                    tally.cast += 1
                elif kind == EntryType.CHALLENGE:
                    tally.challenged += 1
                    paper = parse_json_object(entry.payload, f"ledger entry {index}").get(
                        "paper_ballot_id")
                    if isinstance(paper, str) and len(paper) == 32:
                        spoiled.add(BallotId(bytes.fromhex(paper)))
                else:
                    tally.closed = True
            elif kind == EntryType.CARD_REMAKE:
                remake = CardRemake.from_payload(entry.payload, f"ledger entry {index}")
                remakes[(BallotId(remake.ballot_id), remake.remake)] = remake.style_id
        setup = state.setup
        if setup is None:
            raise LedgerError("the ledger holds no election setup")
        for writer in state.writers.values():
            if writer.role is Role.DEVICE and writer.writer_id not in tallies:
                tallies[writer.writer_id] = DeviceTally(writer.writer_id, writer.location)
        writers = list(state.writers.values())
        return cls(
            setup=setup,
            device_keys=tuple(w.key for w in writers if w.role is Role.DEVICE),
            official_keys=tuple(w.key for w in writers if w.role is Role.OFFICIAL),
            spoiled=frozenset(spoiled), remakes=dict(remakes),
            devices=tuple(sorted(tallies.values(), key=lambda t: t.device_id)),
            entries=count, phase=str(state.phase))
