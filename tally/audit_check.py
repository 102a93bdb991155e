"""The verifier's replay of the audit: reconciliation, parameters, seed, rounds, decision.

``AuditChecker`` plugs into ``e2e.verify.RecordVerifier`` and recomputes, from the
ledger alone, everything an audit entry claims (docs/spec.md §19.8): the
reconciliation table and the manifest digest, the pairing and every contest's
population and margins, the seed's form, each round's tickets and the CVRs it names
(their ciphertexts against the published CVRs), that each reading is of a card drawn
in its round and not read before and is signed by two board members, the sign-off,
the trustees' decryption shares and their combination, every assorter value,
discrepancy and p-value, the decision, and the end. The ledger's phases already
refuse any other order of the steps (``e2e.ledger.types``) and a second seed; the
order inside a round is checked here. The replayed ``AuditState`` is what the
workflow (``tally.audit_workflow``) reads before taking the next step, so the
auditor's software and every verifier agree by construction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from e2e.context import ElectionContext
from e2e.cvr import ciphertexts_digest
from e2e.elgamal import Ciphertext
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import DecryptionError, PaperchainError, RecordError
from e2e.group import GroupParameters
from e2e.ledger.entry import Entry
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.setup import Role
from e2e.verdicts import VERDICTS
from e2e.verify import RecordVerifier
from tally.audit import (
    AssertionRisk,
    AuditCvrs,
    AuditEnd,
    AuditParameters,
    AuditRisk,
    AuditRound,
    AuditShares,
    BoardSigned,
    CardReading,
    DecryptedCvr,
    HandCount,
    PollingRiskFunction,
    SeedEntry,
    assess,
    build_contest_specs,
    check_signed_reading,
    contest_risks,
    decide,
    draws_for,
    initial_round_size,
    readings_digest,
)
from tally.cvr import CvrChecker, located_at_entry, share_verdict, verify_share_once
from tally.decrypt import DecryptionShare, combine, shares_hold
from tally.pairing import CvrFacts, Population, pair_cards
from tally.reconcile import DeviceCounts, PaperBatch, Reconciliation
from tally.sampler import Ticket
from tally.verify import TallyChecker

__all__ = ["AuditChecker", "AuditState", "RoundState", "audit_subject", "deferred_shares",
           "round_targets"]

AUDIT_TYPES = frozenset({
    EntryType.PAPER_MANIFEST, EntryType.RECONCILIATION, EntryType.AUDIT_PARAMETERS,
    EntryType.AUDIT_SEED, EntryType.AUDIT_ROUND, EntryType.AUDIT_READING,
    EntryType.AUDIT_SIGNOFF, EntryType.AUDIT_DECRYPTION_SHARE, EntryType.AUDIT_CVRS,
    EntryType.AUDIT_RISK, EntryType.AUDIT_END, EntryType.HAND_COUNT})


def audit_subject(ballot_id: bytes, round_index: int) -> str:
    """The decryption subject of a sampled CVR: ``audit-cvr/<ballot ID>@<round entry>``."""
    return f"audit-cvr/{ballot_id.hex()}@{round_index}"


def round_targets(group: GroupParameters, audit_round: AuditRound
                  ) -> list[tuple[bytes, list[tuple[int, int, Ciphertext]]]]:
    """Per CVR named by the round: (ballot ID, [(contest, selection, ciphertext)])."""
    out = []
    for ballot_id, _, contests in audit_round.decrypt:
        targets = []
        for index, row in contests:
            for j, (alpha, beta) in enumerate(row):
                where = f"audit-round CVR {ballot_id.hex()} contest {index} selection {j}"
                targets.append((index, j, Ciphertext(group.element_from_hex(alpha, where),
                                                     group.element_from_hex(beta, where))))
        out.append((ballot_id, targets))
    return out


@dataclass(slots=True)
class RoundState:
    """One round as replayed: its entry, the cards to read, and what followed."""

    index: int
    entry: AuditRound
    to_read: list[tuple[str, int]]
    targets: list[tuple[bytes, list[tuple[int, int, Ciphertext]]]]  # round_targets, checked
    readings: list[CardReading] = field(default_factory=list)
    signoff_index: int | None = None
    shares: dict[int, list[DecryptionShare]] = field(default_factory=dict)
    cvrs_index: int | None = None
    risk: AuditRisk | None = None
    risk_index: int | None = None

    def unread(self, read: set[tuple[str, int]]) -> list[tuple[str, int]]:
        return [card for card in self.to_read if card not in read]


@dataclass(slots=True)
class AuditState:
    """Everything the audit's entries established so far, replayed in ledger order."""

    batches: dict[int, PaperBatch] = field(default_factory=dict)
    reconciliation: Reconciliation | None = None
    reconciliation_index: int | None = None
    population: Population | None = None  # in force: the polling one under polling parameters
    reconciled_population: Population | None = None  # the reconciliation's (CVRs paired)
    manifest_batches: list[PaperBatch] = field(default_factory=list)
    parameters: AuditParameters | None = None
    parameters_index: int | None = None
    seed: SeedEntry | None = None
    seed_index: int | None = None
    rounds: list[RoundState] = field(default_factory=list)
    readings: dict[tuple[str, int], CardReading] = field(default_factory=dict)
    reading_index: dict[tuple[str, int], int] = field(default_factory=dict)
    decrypted: dict[bytes, DecryptedCvr] = field(default_factory=dict)
    end: AuditEnd | None = None
    end_index: int | None = None
    hand_count: HandCount | None = None

    @property
    def tickets(self) -> list[Ticket]:
        return [t for r in self.rounds for t in r.entry.tickets]

    @property
    def current(self) -> RoundState | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def risks(self) -> list[AssertionRisk]:
        done = [r for r in self.rounds if r.risk is not None]
        return list(done[-1].risk.assertions) if done and done[-1].risk else []

    def reading_conflict(self, reading: CardReading) -> str | None:
        """Why a reading cannot stand as entered, or None: a card read as "ok" whose ID,
        as read off it, is not the one the manifest lists at its place. The board enters
        that card as "id-differs" (worst case), never as the manifest's card."""
        if reading.condition != "ok" or reading.ballot_id is None:
            return None
        batch = next((b for b in self.manifest_batches if b.name == reading.batch), None)
        if batch is None or not 1 <= reading.position <= len(batch.cards):
            return None
        listed = batch.cards[reading.position - 1].ballot_id
        if listed is None or listed == reading.ballot_id:
            return None
        return (f"card ({reading.batch!r}, {reading.position}) is read as 'ok' with ballot ID "
                f"{reading.ballot_id.hex()}, but the manifest lists {listed.hex()} there: a card "
                "with another ID is 'id-differs'")


class AuditChecker:
    """See the module docstring. ``state`` is the audit as replayed so far."""

    entry_types = AUDIT_TYPES

    def __init__(self) -> None:
        self.state = AuditState()

    # --- context from the other checkers -----------------------------------------------------

    @staticmethod
    def _context(verifier: RecordVerifier) -> ElectionContext:
        if verifier.context is None:
            raise RecordError("audit entry before the key ceremony closed")
        return verifier.context

    @staticmethod
    def counts(verifier: RecordVerifier) -> dict[tuple[int, int], int]:
        """The decrypted results: (contest, selection) → count."""
        results = verifier.checker(TallyChecker).results
        if results is None:
            raise RecordError("audit entry before the results")
        return {(c, s): n for c, s, _, n in results.counts}

    @staticmethod
    def cvr_facts(verifier: RecordVerifier) -> dict[bytes, CvrFacts]:
        checker = verifier.checker(CvrChecker)
        return {b: CvrFacts(i.device_id, i.style_id, i.contests) for b, i in checker.cvrs.items()}

    @staticmethod
    def device_counts(verifier: RecordVerifier) -> list[DeviceCounts]:
        """Per device writer: its polling place, valid cast ballots, challenges (its chain's
        other entries) and CVRs."""
        cvrs = verifier.checker(CvrChecker)
        out = []
        for writer in sorted(verifier.state.writers.values(), key=lambda w: w.writer_id):
            if writer.role != Role.DEVICE:
                continue
            cast = sum(verifier.aggregate.device_styles.get(writer.writer_id, {}).values())
            chain = verifier.chains.chains.get(writer.writer_id) if verifier.chains else None
            total = chain.count if chain is not None else 0
            device = cvrs.devices.get(writer.writer_id)
            out.append(DeviceCounts(writer.writer_id, writer.location or "(no polling place)",
                                    cast, total - cast, device.count if device else 0))
        return out

    def population_for(self, verifier: RecordVerifier, batches: list[PaperBatch]) -> Population:
        context = self._context(verifier)
        return pair_cards(context.manifest, [(b.name, b.cards) for b in batches],
                          self.cvr_facts(verifier),
                          dict(verifier.aggregate.ballots_per_contest))

    def expected_reconciliation(self, verifier: RecordVerifier, manifest_entries: list[int],
                                places: Any, note: str) -> tuple[Reconciliation, Population,
                                                                 list[PaperBatch]]:
        batches = []
        for index in manifest_entries:
            batch = self.state.batches.get(index)
            if batch is None:
                raise RecordError(f"ledger entry {index} is not a paper-manifest entry before "
                                  "this reconciliation")
            batches.append(batch)
        names = [b.name for b in batches]
        if len(set(names)) != len(names):
            raise RecordError("a batch name appears twice in the manifest")
        population = self.population_for(verifier, batches)
        expected = Reconciliation.compute(manifest_entries, batches, places,
                                          self.device_counts(verifier), population,
                                          self.cvr_facts(verifier), note)
        return expected, population, batches

    def polling_population(self, verifier: RecordVerifier) -> Population:
        """A polling audit's population (``tally.audit_polling.POLLING_RULES``): the
        reconciliation's batches with no CVR paired, so every card holds every contest."""
        context = self._context(verifier)
        return pair_cards(context.manifest,
                          [(b.name, b.cards) for b in self.state.manifest_batches], {},
                          dict(verifier.aggregate.ballots_per_contest))

    def expected_parameters(self, verifier: RecordVerifier, risk_limit: float,
                            risk_function: Any, software: str) -> AuditParameters:
        context = self._context(verifier)
        state = self.state
        if state.reconciled_population is None or state.reconciliation_index is None:
            raise RecordError("audit parameters before a reconciliation")
        tally_index = verifier.checker(TallyChecker).tally_index or 0
        if isinstance(risk_function, PollingRiskFunction):
            population = self.polling_population(verifier)
            specs = build_contest_specs(context.manifest, self.counts(verifier), population,
                                        risk_function)
            size = initial_round_size(specs, risk_limit, 0.0, population.frame_size,
                                      polling=True)
            return AuditParameters(state.reconciliation_index, tally_index, risk_limit,
                                   risk_function, specs, tuple(population.frame().items()),
                                   size, software, "polling")
        if verifier.checker(CvrChecker).equality is None:
            raise RecordError("comparison audit parameters without a combined CVR equality "
                              "proof (a ballot-polling audit needs none)")
        specs = build_contest_specs(context.manifest, self.counts(verifier),
                                    state.reconciled_population)
        frame = tuple(state.reconciled_population.frame().items())
        size = initial_round_size(specs, risk_limit, risk_function.gamma,
                                  state.reconciled_population.frame_size)
        return AuditParameters(state.reconciliation_index, tally_index, risk_limit,
                               risk_function, specs, frame, size, software)

    # --- the pass ------------------------------------------------------------------------

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        context = self._context(verifier)
        kind = entry.entry_type
        handler = {
            EntryType.PAPER_MANIFEST: self._paper_manifest,
            EntryType.RECONCILIATION: self._reconciliation,
            EntryType.AUDIT_PARAMETERS: self._parameters,
            EntryType.AUDIT_SEED: self._seed,
            EntryType.AUDIT_ROUND: self._round,
            EntryType.AUDIT_READING: self._reading,
            EntryType.AUDIT_SIGNOFF: self._signoff,
            EntryType.AUDIT_DECRYPTION_SHARE: self._share,
            EntryType.AUDIT_CVRS: self._cvrs,
            EntryType.AUDIT_RISK: self._risk,
            EntryType.AUDIT_END: self._end,
            EntryType.HAND_COUNT: self._hand_count,
        }[EntryType(kind)]
        with located_at_entry():
            handler(verifier, context, index, entry)

    def _paper_manifest(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                        entry: Entry) -> None:
        self.state.batches[index] = PaperBatch.from_payload(entry.payload)
        verifier.report.passed("paper manifest batches")

    def _reconciliation(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                        entry: Entry) -> None:
        published = Reconciliation.from_payload(entry.payload)
        if verifier.checker(CvrChecker).failed_devices:
            raise RecordError("reconciliation after a failed CVR equality proof")
        expected, population, batches = self.expected_reconciliation(
            verifier, list(published.manifest_entries), published.places, published.note)
        published.check_against(expected)
        state = self.state
        # A new reconciliation replaces the previous one, and any parameters based on it.
        state.reconciliation, state.reconciliation_index = published, index
        state.population, state.manifest_batches = population, batches
        state.reconciled_population = population
        state.parameters, state.parameters_index = None, None
        verifier.report.passed("reconciliation recomputed (table, manifest digest, pairing)")
        verifier.report.facts["reconciliation_findings"] = list(expected.table["findings"])

    def _parameters(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                    entry: Entry) -> None:
        published = AuditParameters.from_payload(entry.payload)
        expected = self.expected_parameters(verifier, published.risk_limit,
                                            published.risk_function, published.software)
        if published.reconciliation_index != expected.reconciliation_index:
            raise RecordError("the parameters name another reconciliation than the one in force")
        if published.to_json() != expected.to_json():
            mine, theirs = published.to_json(), expected.to_json()
            differing = sorted(k for k in mine if mine[k] != theirs.get(k))
            raise RecordError(f"the audit parameters differ from those recomputed from the "
                              f"results and the reconciliation (in {differing})")
        self.state.parameters, self.state.parameters_index = published, index
        # The population in force: the polling one (no CVRs) or the reconciliation's.
        self.state.population = (self.polling_population(verifier) if published.polling
                                 else self.state.reconciled_population)
        verifier.report.passed("audit parameters recomputed (populations, assertions, margins)")

    def _seed(self, verifier: RecordVerifier, context: ElectionContext, index: int,
              entry: Entry) -> None:
        if self.state.seed is not None:  # the phases refuse it first; kept as a second lock
            raise RecordError(f"a second seed (the first is at ledger entry "
                              f"{self.state.seed_index})")
        seed = SeedEntry.from_payload(entry.payload)
        if self.state.parameters is None:
            raise RecordError("the seed before the audit parameters")
        self.state.seed, self.state.seed_index = seed, index
        verifier.report.passed("audit seed (once, after the parameters)")
        verifier.report.facts["audit_seed"] = seed.seed.digits

    def _round(self, verifier: RecordVerifier, context: ElectionContext, index: int,
               entry: Entry) -> None:
        state = self.state
        if state.seed is None or state.parameters is None or state.population is None:
            raise RecordError("a round before the seed")
        if state.end is not None:
            raise RecordError("a round after the audit ended")
        previous = state.current
        if previous is not None and (previous.risk is None or previous.risk.decision
                                     != "continue"):
            raise RecordError("a new round before the previous round's risk said 'continue'")
        audit_round = AuditRound.from_payload(entry.payload)
        expected_number = len(state.rounds) + 1
        if audit_round.round != expected_number:
            raise RecordError(f"round {audit_round.round}, expected {expected_number}")
        drawn = len(state.tickets)
        if audit_round.draws_before != drawn or not audit_round.tickets:
            raise RecordError(f"the round must continue after draw {drawn} with one or more "
                              "draws")
        expected_tickets = draws_for(state.seed.seed, state.population.frame(),
                                     len(audit_round.tickets), drawn)
        if audit_round.tickets != expected_tickets:
            raise RecordError("the round's tickets are not the sampler's draws from the seed "
                              "and the manifest")
        to_read, to_decrypt = self.new_cards(audit_round.tickets)
        cvrs = verifier.checker(CvrChecker).cvrs
        named = [b for b, _, _ in audit_round.decrypt]
        if named != to_decrypt:
            raise RecordError("the round does not name exactly the CVRs of its newly drawn "
                              "paired cards, in draw order")
        targets = round_targets(context.group, audit_round)
        for (ballot_id, device, contests), (_, flat) in zip(audit_round.decrypt, targets,
                                                           strict=True):
            info = cvrs[ballot_id]
            rows, at = [], 0
            for i, row in contests:
                rows.append((i, tuple(c for _, _, c in flat[at:at + len(row)])))
                at += len(row)
            if device != info.device_id or ciphertexts_digest(
                    ballot_id, info.style_id, rows) != info.digest:
                raise RecordError("the round's ciphertexts are not the published CVR's",
                                  f"CVR {ballot_id.hex()}")
        state.rounds.append(RoundState(index, audit_round, to_read, targets))
        verifier.report.passed("audit rounds (tickets recomputed)")

    def new_cards(self, tickets: tuple[Ticket, ...] | list[Ticket]
                  ) -> tuple[list[tuple[str, int]], list[bytes]]:
        """Cards first drawn in ``tickets`` (not phantoms, not drawn before), and the CVRs of
        those that pair, both in draw order."""
        state = self.state
        if state.population is None:
            return [], []
        seen = {(t.batch, t.position) for t in state.tickets}
        to_read: list[tuple[str, int]] = []
        to_decrypt: list[bytes] = []
        for ticket in tickets:
            card = (ticket.batch, ticket.position)
            pair = state.population.pair_at(*card)
            if card in seen or pair is None:
                continue
            seen.add(card)
            to_read.append(card)
            if pair.cvr is not None:
                to_decrypt.append(pair.cvr)
        return to_read, to_decrypt

    def _board(self, verifier: RecordVerifier, context: ElectionContext, index: int,
               entry: Entry, signed: BoardSigned) -> None:
        cosigner = verifier.state.writers.get(signed.board[1])
        if cosigner is None or cosigner.role != Role.AUDITOR:
            raise RecordError(f"the cosigner {signed.board[1]!r} is not a registered auditor")
        verifier.state.writer_at(signed.board[1], index)  # not revoked
        signed.verify(entry.writer_id, cosigner.key, context.election_id)

    def _reading(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                 entry: Entry) -> None:
        signed = BoardSigned.from_payload(entry.payload, "audit-reading")
        reading = check_signed_reading(signed)
        current = self.state.current
        if current is None or self.state.end is not None:
            raise RecordError("a reading outside a round of the audit")
        card = (reading.batch, reading.position)
        if reading.round != current.entry.round or card not in current.to_read:
            raise RecordError(f"a reading of ({reading.batch!r}, {reading.position}), which is "
                              f"not a card to read in round {current.entry.round}")
        if card in self.state.readings:
            raise RecordError("this card was already read")
        if current.signoff_index is not None:
            raise RecordError("a reading after the round's sign-off")
        reading.check_against(context.manifest)
        conflict = self.state.reading_conflict(reading)
        if conflict is not None:
            raise RecordError(conflict)
        self._board(verifier, context, index, entry, signed)
        current.readings.append(reading)
        self.state.readings[card] = reading
        self.state.reading_index[card] = index
        verifier.report.passed("audit readings (two board signatures)")

    def _signoff(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                 entry: Entry) -> None:
        signed = BoardSigned.from_payload(entry.payload, "audit-signoff")
        current = self.state.current
        if current is None or current.signoff_index is not None:
            raise RecordError("a sign-off outside a round, or twice")
        body = signed.body
        expected = {"version": 1, "round": current.entry.round,
                    "readings": len(current.readings),
                    "digest": readings_digest(current.readings).hex()}
        if body != expected:
            raise RecordError("the sign-off does not cover exactly the round's readings")
        unread = current.unread(set(self.state.readings))
        if unread:
            raise RecordError(f"sign-off with {len(unread)} card(s) of the round unread")
        self._board(verifier, context, index, entry, signed)
        current.signoff_index = index
        verifier.report.passed("audit round sign-offs (two board signatures)")

    def _share(self, verifier: RecordVerifier, context: ElectionContext, index: int,
               entry: Entry) -> None:
        """An audit round's shares: the batch path (``_round_shares(fast=True)``) accepts,
        or the reference path (checked decoding, each proof on its own) decides — so a
        refused entry gets exactly the reference's finding."""
        try:
            trustee, shares = self._round_shares(verifier, context, entry, fast=True)
        except PaperchainError:
            trustee, shares = self._round_shares(verifier, context, entry, fast=False)
        current = self.state.current
        if current is None:
            raise RecordError("a decryption of sampled CVRs outside a round")
        current.shares[trustee] = shares
        verifier.report.passed("sampled CVR decryption shares (Chaum–Pedersen proofs)")

    def _round_shares(self, verifier: RecordVerifier, context: ElectionContext, entry: Entry,
                      *, fast: bool) -> tuple[int, list[DecryptionShare]]:
        """Every check of a round's shares entry; ``fast`` decodes with membership deferred
        and verifies the proofs not verified before as one batch
        (``tally.decrypt.shares_hold``), raising if anything at all fails."""
        current = self.state.current
        if current is None or current.signoff_index is None:
            raise RecordError("a decryption of sampled CVRs before the board signed off the "
                              "round's readings")
        if current.cvrs_index is not None:
            raise RecordError("a decryption share after the round's CVRs were combined")
        payload = (deferred_shares(entry.payload, context.group) if fast
                   else AuditShares.from_payload(entry.payload, context.group))
        setup = verifier.state.setup
        if payload.round != current.entry.round:
            raise RecordError("shares for another round")
        targets = current.targets
        if len(payload.shares) != len(targets):
            raise RecordError("one share per CVR named by the round")
        trustee = payload.shares[0].trustee if payload.shares else None
        if trustee is None:
            raise RecordError("no shares")
        info = setup.trustee(trustee) if setup is not None else None
        if info is None or info.writer_id != entry.writer_id:
            raise RecordError(f"shares of trustee {trustee} written by {entry.writer_id!r}")
        if trustee in current.shares:
            raise RecordError(f"a second set of shares from trustee {trustee}")
        payload_digest = hashlib.sha256(entry.payload).digest()  # once, not once per CVR
        pairs = [(share, cvr_targets)
                 for share, (_, cvr_targets) in zip(payload.shares, targets, strict=True)]
        if fast:
            verdicts = [share_verdict(share, context, cvr_targets, payload_digest)
                        for share, cvr_targets in pairs]
            if not all(v in VERDICTS for v in verdicts):
                if not shares_hold(context, pairs):
                    raise RecordError("the batch of shares does not verify")
                for verdict in verdicts:
                    VERDICTS.add(verdict)
        for share, (ballot_id, cvr_targets) in zip(payload.shares, targets, strict=True):
            if share.trustee != trustee or share.subject != audit_subject(ballot_id,
                                                                           current.index):
                raise RecordError("a share names another trustee or CVR",
                                  f"CVR {ballot_id.hex()}")
            verify_share_once(share, context, cvr_targets, entry.payload,
                              payload_digest=payload_digest)
        return trustee, list(payload.shares)

    def _cvrs(self, verifier: RecordVerifier, context: ElectionContext, index: int,
              entry: Entry) -> None:
        current = self.state.current
        if current is None or current.signoff_index is None or current.cvrs_index is not None:
            raise RecordError("combined CVRs outside a signed-off round, or twice")
        published = AuditCvrs.from_payload(entry.payload)
        expected = combine_round(context, current)
        if published.round != current.entry.round or published.cvrs != expected.cvrs:
            raise RecordError("the decrypted CVRs differ from the combination of the valid "
                              "shares (with the verifier's Lagrange coefficients)")
        for cvr in published.cvrs:
            self.state.decrypted[cvr.ballot_id] = cvr
        current.cvrs_index = index
        verifier.report.passed("sampled CVRs decrypted (combined and bounded)")

    def _risk(self, verifier: RecordVerifier, context: ElectionContext, index: int,
              entry: Entry) -> None:
        current = self.state.current
        if current is None or current.signoff_index is None or current.risk is not None:
            raise RecordError("a risk measurement outside a signed-off round, or twice")
        if current.entry.decrypt and current.cvrs_index is None:
            raise RecordError("a risk measurement before the round's CVRs were decrypted")
        published = AuditRisk.from_payload(entry.payload)
        expected = self.expected_risk(context.manifest, published.decision)
        if published.decision == "confirmed" and expected.decision != "confirmed":
            raise RecordError("'confirmed' while a contest's risk exceeds the risk limit")
        if expected.decision == "confirmed" and published.decision != "confirmed":
            raise RecordError("every contest met the risk limit: the decision is 'confirmed'")
        if published.to_payload() != expected.to_payload():
            raise RecordError("the risk measurement differs from the one recomputed from the "
                              "readings and the decrypted CVRs")
        current.risk, current.risk_index = published, index
        verifier.report.passed("risk measurements recomputed (assorters, discrepancies, "
                               "p-values)")

    def expected_risk(self, manifest: Manifest, decision: str) -> AuditRisk:
        """The risk entry for the current round, with ``decision`` if it is allowed."""
        state = self.state
        current = state.current
        if state.parameters is None or state.population is None or current is None:
            raise RecordError("no audit round to measure")
        tickets = state.tickets
        risks = assess(manifest, state.parameters, state.population, tickets, state.readings,
                       state.decrypted)
        recommended, more = decide(state.parameters, risks, state.population.frame_size,
                                   len(tickets))
        if recommended == "confirmed":
            decision = "confirmed"
        elif decision == "confirmed":
            decision = recommended
        met = contest_risks(state.parameters, risks)
        return AuditRisk(current.entry.round, len(tickets), tuple(risks),
                         tuple(met.items()), decision, more if recommended == "continue" else 0)

    def _end(self, verifier: RecordVerifier, context: ElectionContext, index: int,
             entry: Entry) -> None:
        state = self.state
        end = AuditEnd.from_payload(entry.payload)
        if state.seed is None:
            raise RecordError("the audit ends before its seed")
        last = state.current
        if end.outcome == "confirmed":
            if last is None or last.risk is None or last.risk.decision != "confirmed":
                raise RecordError("'confirmed' without a round whose risk confirmed every "
                                  "contest")
        elif last is not None and last.risk is None:
            raise RecordError("the audit ends in the middle of a round")
        state.end, state.end_index = end, index
        verifier.report.passed("audit end")
        verifier.report.facts["audit_outcome"] = end.outcome

    def _hand_count(self, verifier: RecordVerifier, context: ElectionContext, index: int,
                    entry: Entry) -> None:
        state = self.state
        if state.end is None or state.end.outcome != "full-hand-count":
            raise RecordError("a hand count without an audit that escalated to one")
        if state.hand_count is not None:
            raise RecordError("a second hand count")
        count = HandCount.from_payload(entry.payload)
        count.check_against(context.manifest)
        state.hand_count = count
        verifier.report.passed("certified hand count (replaces the E2E result)")
        verifier.report.facts["certified_result"] = "full hand count"

    def finish(self, verifier: RecordVerifier) -> None:
        state = self.state
        verifier.report.facts["audit"] = summary(state)
        if state.end is not None and state.end.outcome == "full-hand-count" and (
                state.hand_count is None):
            verifier.report.facts["certified_result"] = "awaiting the full hand count"


def deferred_shares(data: bytes, group: GroupParameters,
                     where: str = "audit-decryption-share") -> AuditShares:
    """``AuditShares.from_payload`` with each share decoded with membership deferred
    (``DecryptionShare.from_payload(deferred=True)``): provisional until
    ``tally.decrypt.shares_hold`` accepts them."""
    obj = ObjectReader(parse_canonical_json(data, where), where)
    obj.version([1])
    items = obj.items("shares", 1_000_000)
    shares = tuple(DecryptionShare.from_payload(canonical_json(item), group,
                                                f"{where}.shares[{n}]", deferred=True)
                   for n, item in enumerate(items))
    result = AuditShares(obj.integer("round", 1), shares)
    obj.done()
    return result


def combine_round(context: ElectionContext, current: RoundState) -> AuditCvrs:
    """The decrypted CVRs of a round from the first k trustees' shares (by index)."""
    k = context.setup.threshold
    trustees = sorted(current.shares)[:k]
    if len(trustees) < k:
        raise RecordError(f"{len(trustees)} trustee(s) decrypted the round's CVRs; the "
                          f"threshold is {k}")
    out = []
    for position, (ballot_id, cvr_targets) in enumerate(current.targets):
        shares = [current.shares[t][position] for t in trustees]
        try:
            combined = combine(context, shares, cvr_targets,
                               {i: 1 for i, _, _ in cvr_targets})
        except DecryptionError as err:
            raise RecordError(f"a sampled CVR does not decrypt to 0 or 1: {err.reason}",
                              f"CVR {ballot_id.hex()}") from None
        out.append(DecryptedCvr(ballot_id, tuple(trustees), tuple(
            (i, j, m.to_hex(), n) for i, j, m, n in combined)))
    return AuditCvrs(current.entry.round, tuple(out))


def summary(state: AuditState) -> dict[str, Any]:
    """A short account of the audit so far, for reports."""
    if state.parameters is None and state.reconciliation is None:
        return {"status": "no audit"}
    out: dict[str, Any] = {"reconciled": state.reconciliation is not None}
    if state.parameters is not None:
        out["risk_limit"] = state.parameters.risk_limit
        out["risk_function"] = state.parameters.risk_function.name
    out["seed"] = None if state.seed is None else state.seed.seed.digits
    out["rounds"] = len(state.rounds)
    out["draws"] = len(state.tickets)
    out["cards_read"] = len(state.readings)
    out["cvrs_decrypted"] = len(state.decrypted)
    last = next((r.risk for r in reversed(state.rounds) if r.risk is not None), None)
    if last is not None:
        out["contests"] = {c: p for c, p in last.contests}
        out["decision"] = last.decision
    out["outcome"] = None if state.end is None else state.end.outcome
    out["hand_count"] = state.hand_count is not None
    return out

