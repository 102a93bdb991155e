"""A whole small election on the test group, in process, up to its audit.

``AuditElection.create`` runs the key ceremony (``tests.strategies.WorkspaceElection``),
registers two kiosks in two polling places and two auditors, and ``vote`` casts ballots
whose printed cards (``Card``) are kept as the paper; ``close_and_tally`` closes the
polls and publishes the decrypted results; ``publish_cvrs`` and ``prove_equality`` take
the CVR steps; ``paper_batches`` builds the ID-level manifest from the cards;
``run_audit`` runs every round to the end. Every step is the library's own
(``tally.cvr``, ``tally.audit_workflow``), so tests can stop anywhere and tamper.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from e2e.ballot import mark_ballot
from e2e.context import ElectionContext, load_context
from e2e.group import TEST_GROUP
from e2e.identity import WriterIdentity
from e2e.ledger.client import Writer
from e2e.ledger.directory import init_ledger_directory
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.types import EntryType
from e2e.manifest import demo_manifest
from e2e.official import build_setup, close_voting, open_voting
from e2e.setup import Role, WriterInfo
from e2e.signing import SigningKey
from e2e.trustee import TrusteeWorkspace
from e2e.voting import VotingDevice
from paperchain.wiring import open_local_ledger
from tally.audit import CardReading, ContestReading
from tally.audit_check import RoundState
from tally.audit_workflow import (
    AuditLedger,
    decrypt_round_as_trustee,
    end_audit,
    measure_risk,
    publish_parameters,
    publish_reconciliation,
    publish_round_cvrs,
    publish_seed,
    record_readings,
    sign_off_round,
    start_round,
)
from tally.cvr import decrypt_cvr_equality_as_trustee, publish_cvr_equality
from tally.pairing import ManifestCard
from tally.reconcile import PaperBatch, PlaceInput
from tally.workflow import decrypt_as_trustee, publish_results, publish_tally
from tests.strategies import FAST_KDF, PASSPHRASE, WorkspaceElection

__all__ = ["SEED", "AuditElection", "Card"]

SEED = "31415926535897932384626"
KIOSKS = (("kiosk-a", "Place A"), ("kiosk-b", "Place B"))


def _workspace_election(directory: Path) -> WorkspaceElection:
    """``WorkspaceElection`` on a ledger directory whose operator node signs heads (the
    tally starts at a signed close-of-voting head; no witnesses, so none cosign)."""
    manifest = demo_manifest()
    workspaces = {
        i: TrusteeWorkspace.create(directory / f"trustee-{i}", election_id=manifest.election_id,
                                   index=i, name=f"Trustee {i}", passphrase=PASSPHRASE,
                                   limits=FAST_KDF)
        for i in (1, 2, 3)}
    config = init_ledger_directory(directory / "ledger", election_id=manifest.election_id,
                                   test_group=True)
    ledger, _ = open_local_ledger(directory / "ledger")
    official = WriterIdentity.create(directory / "official", election_id=manifest.election_id,
                                     writer_id="official-1", role=Role.OFFICIAL,
                                     passphrase=PASSPHRASE, limits=FAST_KDF).key
    setup = build_setup(
        manifest=manifest, group=TEST_GROUP, threshold=2,
        trustees=[w.card.info() for w in workspaces.values()],
        officials=[("official-1", official.verify_key)],
        operator_key=config.operator_key, log_origin=config.origin)
    writer = Writer(ledger, official, "official-1")
    writer.write(EntryType.SETUP, setup.to_payload())
    return WorkspaceElection(directory, workspaces, ledger, writer, setup)


@dataclass
class Card:
    """A printed card: its ballot ID, style and the choices printed on it."""

    ballot_id: bytes
    style_id: str
    choices: dict[str, frozenset[str]]
    device_id: str


@dataclass
class AuditElection:
    base: WorkspaceElection
    context: ElectionContext
    kiosks: dict[str, VotingDevice]
    kiosk_keys: dict[str, SigningKey]
    auditors: dict[str, SigningKey]
    cards: list[Card] = field(default_factory=list)
    challenged: list[bytes] = field(default_factory=list)
    spoiled_at: dict[str, int] = field(default_factory=dict)  # device → SPOILED papers

    @property
    def ledger(self):
        return self.base.ledger

    @property
    def official(self) -> Writer:
        return self.base.official

    def auditor(self, name: str = "auditor-1") -> Writer:
        return Writer(self.ledger, self.auditors[name], name)

    @classmethod
    def create(cls, directory: Path, *, without_cvrs: Sequence[str] = ()) -> AuditElection:
        """``without_cvrs``: the kiosks run without CVRs (``VotingDevice(..., cvrs=False)``)."""
        base = _workspace_election(directory)
        keys = {name: SigningKey.generate() for name, _ in KIOSKS}
        for name, place in KIOSKS:
            base.official.write(EntryType.REGISTER_WRITER, RegisterWriter(
                WriterInfo(name, Role.DEVICE, keys[name].verify_key, place)).to_payload())
        base.run()
        context = load_context(base.ledger, True)
        auditors = {
            f"auditor-{i}": WriterIdentity.create(
                directory / f"auditor-{i}", election_id=context.election_id,
                writer_id=f"auditor-{i}", role=Role.AUDITOR, passphrase=PASSPHRASE,
                limits=FAST_KDF).key
            for i in (1, 2)}
        kiosks = {name: VotingDevice(context, base.ledger, keys[name], name, "day",
                                     False if name in without_cvrs else None)
                  for name, _ in KIOSKS}
        return cls(base, context, kiosks, keys, auditors)

    def vote(self, ballots: Sequence[tuple[str, dict[str, list[str]]]], *,
             challenge_every: int = 0) -> None:
        """Cast ``ballots`` (style, choices), alternating kiosks, keeping each card."""
        if not self.cards and not self.challenged:
            open_voting(self.official)
        names = [n for n, _ in KIOSKS]
        for number, (style, choices) in enumerate(ballots):
            name = names[number % len(names)]
            kiosk = self.kiosks[name]
            marked = mark_ballot(self.context.manifest, style, choices)
            kiosk.encrypt(marked)
            if challenge_every and number % challenge_every == challenge_every - 1:
                spoiled = secrets.token_bytes(16)
                kiosk.challenge(spoiled)
                self.challenged.append(spoiled)
                self.spoiled_at[name] = self.spoiled_at.get(name, 0) + 1
                kiosk.encrypt(marked)
            card = Card(secrets.token_bytes(16), style,
                        {c: frozenset(v) for c, v in choices.items()}, name)
            kiosk.cast(card.ballot_id)
            self.cards.append(card)

    def close_and_tally(self) -> None:
        for kiosk in self.kiosks.values():
            kiosk.close()
        close_voting(self.official)
        publish_tally(self.ledger, self.official, allow_test_group=True)
        for index in (1, 3):
            decrypt_as_trustee(self.base.workspaces[index], self.ledger, allow_test_group=True)
        publish_results(self.ledger, self.official, allow_test_group=True)
        for name, key in self.auditors.items():
            self.official.write(EntryType.REGISTER_WRITER, RegisterWriter(
                WriterInfo(name, Role.AUDITOR, key.verify_key)).to_payload())

    def publish_cvrs(self) -> None:
        for kiosk in self.kiosks.values():
            kiosk.publish_cvrs()

    def prove_equality(self, *, record_failure: bool = False) -> list[str]:
        for index in (1, 3):
            decrypt_cvr_equality_as_trustee(self.base.workspaces[index], self.ledger,
                                            allow_test_group=True)
        _, failed = publish_cvr_equality(self.ledger, self.official, allow_test_group=True,
                                         record_failure=record_failure)
        return failed

    def paper_batches(self, cards: Sequence[Card] | None = None, *, size: int = 25,
                      shuffle: int = 7, flags: dict[int, frozenset[str]] | None = None
                      ) -> list[PaperBatch]:
        """Each polling place's cards, mixed, in batches of ``size`` (manifest order)."""
        cards = list(self.cards if cards is None else cards)
        random.Random(shuffle).shuffle(cards)
        flags = flags or {}
        places = dict(KIOSKS)
        batches = []
        for place in sorted(set(places.values())):
            box = [(n, c) for n, c in enumerate(cards) if places[c.device_id] == place]
            for start in range(0, len(box), size):
                part = box[start:start + size]
                batches.append(PaperBatch(
                    f"{place} box {start // size + 1}", place, None, len(part),
                    tuple(ManifestCard(c.ballot_id, flags.get(n, frozenset()), c.style_id)
                          for n, c in part)))
        return batches

    def places(self) -> list[PlaceInput]:
        places = dict(KIOSKS)
        out = []
        for place in sorted(set(places.values())):
            cast = sum(1 for c in self.cards if places[c.device_id] == place)
            spoiled = sum(n for d, n in self.spoiled_at.items() if places[d] == place)
            out.append(PlaceInput(place, cast, spoiled, ""))
        return out

    def reconcile(self, batches: Sequence[PaperBatch] | None = None) -> None:
        publish_reconciliation(self.ledger, self.official,
                               self.paper_batches() if batches is None else batches,
                               self.places(), allow_test_group=True)

    def start(self, risk_limit: float = 0.1) -> None:
        publish_parameters(self.ledger, self.auditor(), risk_limit=risk_limit,
                           allow_test_group=True)
        publish_seed(self.ledger, self.auditor(), SEED, rolled_by=("A", "B"),
                     rolled_at="2026-11-10T15:00:00+00:00", allow_test_group=True)

    def view(self) -> AuditLedger:
        return AuditLedger.read(self.ledger, allow_test_group=True)

    def read_cards(self, paper: dict[tuple[str, int], Card] | None = None,
                   override: Callable[[CardReading], CardReading] | None = None,
                   only: Sequence[tuple[str, int]] | None = None) -> list[CardReading]:
        """What the board reads on the current round's cards (or ``only`` those): their
        printed choices."""
        view = self.view()
        current = view.state.current
        if current is None:
            raise AssertionError("no round")
        paper = paper if paper is not None else self.paper_at(view)
        readings = []
        manifest = self.context.manifest
        for batch, position in (current.to_read if only is None else only):
            card = paper[(batch, position)]
            on_card = {c.id for _, c in manifest.contests_of_style(card.style_id)}
            contests = []
            for contest in manifest.contests:
                if contest.id not in on_card:
                    reading = ContestReading("not-on-card")
                elif card.choices.get(contest.id):
                    reading = ContestReading("votes", card.choices[contest.id])
                else:
                    reading = ContestReading("blank")
                contests.append((contest.id, reading))
            found = CardReading(current.entry.round, batch, position, card.ballot_id, "ok",
                                tuple(contests))
            readings.append(override(found) if override else found)
        return readings

    def paper_at(self, view: AuditLedger) -> dict[tuple[str, int], Card]:
        by_id = {c.ballot_id: c for c in self.cards}
        out = {}
        for batch in view.state.manifest_batches:
            for position, card in enumerate(batch.cards, start=1):
                if card.ballot_id in by_id:
                    out[(batch.name, position)] = by_id[card.ballot_id]
        return out

    def run_round(self, reader: Callable[[RoundState], list[CardReading]] | None = None,
                  size: int | None = None) -> str:
        """One round: draws, the board's readings (``reader`` of the open round, or the
        cards' printed choices), sign-off, decryption, risk; the decision."""
        _, audit_round = start_round(self.ledger, self.auditor(), size=size,
                                     allow_test_group=True)
        current = self.view().state.current
        if current is None:
            raise AssertionError("no round")
        record_readings(self.ledger, self.auditor(), "auditor-2", self.auditors["auditor-2"],
                        self.read_cards() if reader is None else reader(current),
                        allow_test_group=True)
        sign_off_round(self.ledger, self.auditor(), "auditor-2", self.auditors["auditor-2"],
                       allow_test_group=True)
        if audit_round.decrypt:
            for index in (1, 3):
                decrypt_round_as_trustee(self.base.workspaces[index], self.ledger,
                                         allow_test_group=True)
            publish_round_cvrs(self.ledger, self.auditor(), allow_test_group=True)
        _, risk = measure_risk(self.ledger, self.auditor(), allow_test_group=True)
        return risk.decision

    def run_audit(self, max_rounds: int = 5) -> str:
        decision = "continue"
        for _ in range(max_rounds):
            decision = self.run_round()
            if decision != "continue":
                break
        end_audit(self.ledger, self.auditor(), allow_test_group=True)
        return decision
