"""Small elections on real ledgers, for the paper's ledger-facing tests.

``voted_ledger`` runs a test-group election on a SQLite ledger through the real
operator (every admission check): the setup, the key ceremony (``CeremonyScript``:
fixed keys), an auditor registered as the official's second signer, a kiosk casting
and challenging ballots with paper ballot IDs, and — unless told to stop while voting
— the close. ``setup_only_ledger`` is a ledger holding only a setup, on either group
(enough for scanning: keys and test mode come from the setup).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from e2e.ballot import mark_ballot
from e2e.context import ElectionContext
from e2e.election_ledger import election_operator
from e2e.group import STANDARD, GroupParameters
from e2e.ledger.client import LocalLedger, Writer
from e2e.ledger.directory import init_ledger_directory
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.store_sqlite import SqliteLogStore
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest, demo_manifest
from e2e.official import PhaseNote, build_setup
from e2e.setup import Role, TrusteeInfo, WriterInfo
from e2e.signing import SigningKey
from e2e.voting import VotingDevice
from paper.ids import BallotId
from paperchain.wiring import open_local_ledger
from tests.strategies import CeremonyScript, _seed, election_context

DEVICE = "kiosk-1"
OFFICIAL = "official-1"
AUDITOR = "auditor-1"


@dataclass
class VotedLedger:
    ledger: LocalLedger
    context: ElectionContext
    official_key: SigningKey
    device_key: SigningKey
    auditor_key: SigningKey
    device: VotingDevice
    cast: list[BallotId] = field(default_factory=list)
    spoiled: list[BallotId] = field(default_factory=list)

    @property
    def election_id(self) -> str:
        return self.context.election_id

    def official(self) -> Writer:
        return Writer(self.ledger, self.official_key, OFFICIAL)

    def close(self) -> None:
        self.device.close()
        self.official().write(EntryType.VOTING_CLOSE, PhaseNote.encode("closed"))


def voted_ledger(directory: Path, group: GroupParameters, *, cast: int = 3, challenged: int = 1,
                 close: bool = True, seed: int = 1) -> VotedLedger:
    script = CeremonyScript.create(group)
    script.sequences[OFFICIAL] = 1  # the setup entry is the official's first
    script.run_attempt()
    operator_key = SigningKey(_seed("operator"))
    operator = election_operator(SqliteLogStore(str(directory / "ledger.sqlite")), operator_key,
                                 script.setup.election_id, allow_test_group=True)
    ledger = LocalLedger(operator)
    official = Writer(ledger, script.official_key, OFFICIAL)
    official.write(EntryType.SETUP, script.setup.to_payload())
    for _, entry in script.entries:
        ledger.append(entry)
    auditor_key = SigningKey(_seed("auditor", seed))
    official.write(EntryType.REGISTER_WRITER, RegisterWriter(
        WriterInfo(AUDITOR, Role.AUDITOR, auditor_key.verify_key)).to_payload())
    official.write(EntryType.VOTING_OPEN, PhaseNote.encode("open"))
    context = election_context(script)
    device_key = SigningKey(_seed(DEVICE))
    device = VotingDevice(context, ledger, device_key, DEVICE, "day")
    voted = VotedLedger(ledger, context, script.official_key, device_key, auditor_key, device)
    rng = random.Random(seed)
    manifest = context.manifest
    for n in range(cast + challenged):
        style = manifest.ballot_styles[n % len(manifest.ballot_styles)]
        choices = {c.id: [c.selections[rng.randrange(len(c.selections))].id]
                   for _, c in manifest.contests_of_style(style.id)}
        device.encrypt(mark_ballot(manifest, style.id, choices))
        ballot_id = BallotId.generate()
        if n < challenged:
            device.challenge(ballot_id.value)
            voted.spoiled.append(ballot_id)
        else:
            device.cast(ballot_id.value)
            voted.cast.append(ballot_id)
    if close:
        voted.close()
    return voted


@dataclass
class SetupLedger:
    directory: Path
    election_id: str
    official_key: SigningKey
    device_key: SigningKey
    test_election: bool


def setup_only_ledger(directory: Path, group: GroupParameters,
                      manifest: Manifest | None = None) -> SetupLedger:
    """A ledger directory whose only entry is the setup (the key ceremony not begun)."""
    manifest = manifest or demo_manifest()
    config = init_ledger_directory(directory, election_id=manifest.election_id,
                                   test_group=group.name != STANDARD.name)
    official = SigningKey(_seed("official"))
    device = SigningKey(_seed(DEVICE))
    script = CeremonyScript.create(group, manifest=manifest)
    trustees = [TrusteeInfo(i, f"Trustee {i}", f"trustee-{i}", key.verify_key,
                            bytes(script.box_keys[i].public_key))
                for i, key in script.trustee_keys.items()]
    setup = build_setup(manifest=manifest, group=group, threshold=2, trustees=trustees,
                        officials=[(OFFICIAL, official.verify_key)],
                        devices=[(DEVICE, device.verify_key, "Ward 1")],
                        operator_key=config.operator_key, log_origin=config.origin)
    ledger, _ = open_local_ledger(directory)
    Writer(ledger, official, OFFICIAL).write(EntryType.SETUP, setup.to_payload())
    return SetupLedger(directory, manifest.election_id, official, device, setup.test_election)
