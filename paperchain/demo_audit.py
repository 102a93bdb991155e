"""The demo's comparison audit: after the results, against the demo's paper.

``run_demo`` (``paperchain.demo``) calls ``audit_demo_election`` once the results are
published. Its steps are the real ones, through the same library functions the CLI
calls (``tally.cvr``, ``tally.audit_workflow``):

1. each kiosk publishes its encrypted CVRs (sorted by ballot ID) and their commitment;
2. the present trustees publish their CVR equality shares and the official combines
   them (``--tamper cvr`` makes one kiosk's CVR lie: the equality fails, the failure is
   recorded on the ledger for every verifier to see, and the audit stops there);
3. the paper: each polling place's ballot box, mixed (a box does not keep cast order,
   and the ID-level manifest must not either), counted into batches of at most
   ``BATCH_SIZE`` cards; the ID-level manifest lists each card's ballot ID, as scanned
   from the printed cards (``paperchain.demo_paper``). ``--tamper paper`` then forges
   enough cards in the sealed batches to flip a contest's hand-count winner: each is
   replaced by a card with the same ballot ID and a copy of its QR code but other printed
   choices (``demo_paper.forge_cards``), so the manifest still matches and only reading
   the printed text can tell;
4. the official publishes the paper manifest and the reconciliation; two auditors,
   registered by the official, publish the parameters (risk limit 5%), the seed, and
   run rounds: retrieval, blind readings of the cards' printed text (the pages of the
   batch PDFs, ``paperchain.demo_board``) signed by both, trustees' decryption of the
   sampled CVRs, the risk; until every contest is confirmed or the audit escalates to a
   full hand count of the paper, whose certified counts then go on the ledger;
5. the audit report (JSON and PDF) is written to ``OUT/audit``.

With ``mode="polling"`` (``paperchain demo --audit-mode polling``) the kiosks ran without
CVRs (``VotingDevice(..., cvrs=False)``): steps 1–2 do not exist, the reconciliation is
published ``without_cvrs``, and a BRAVO ballot-polling audit samples the same paper
against the verified tally (rounds of blind readings, no CVR decrypted; ``--tamper cvr``
has nothing to act on and is refused).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from e2e.context import ElectionContext
from e2e.errors import UsageError
from e2e.identity import WriterIdentity
from e2e.keystore import KdfLimits
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.setup import Role, WriterInfo
from e2e.trustee import TrusteeWorkspace
from e2e.voting import VotingDevice
from paperchain.demo_board import BatchPapers
from tally.audit import CardReading, ContestReading, HandCount
from tally.audit_polling import PollingRiskFunction
from tally.audit_workflow import (
    AuditLedger,
    decrypt_round_as_trustee,
    end_audit,
    measure_risk,
    publish_hand_count,
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

if TYPE_CHECKING:
    from paperchain.demo_paper import ScannedPaper

__all__ = ["AUDIT_MODES", "BATCH_SIZE", "DemoAudit", "DemoCard", "audit_demo_election",
           "tamper_paper"]

BATCH_SIZE = 100
RISK_LIMIT = 0.05
TAMPER_CHOICES = ("paper", "cvr")
AUDIT_MODES = ("comparison", "polling")


@dataclass(slots=True)
class DemoCard:
    """A paper ballot record a demo kiosk printed: its ID, style and printed choices."""

    ballot_id: bytes
    style_id: str
    choices: dict[str, frozenset[str]]
    device_id: str
    spoiled: bool = False


@dataclass(slots=True)
class DemoAudit:
    """What the demo's audit did."""

    outcome: str  # "confirmed", "full-hand-count", "cvr-equality-failed", "not run"
    rounds: int = 0
    draws: int = 0
    cards_read: int = 0
    contests: dict[str, float] = field(default_factory=dict)
    tampered: str | None = None
    report: Path | None = None
    notes: list[str] = field(default_factory=list)


class _Reporter:
    def step(self, message: str) -> None: ...


def demo_seed(seed: int) -> str:
    """The demo's audit seed: 24 digits derived from ``--seed`` (a real audit rolls dice)."""
    digest = hashlib.sha256(f"paperchain demo audit seed {seed}".encode()).digest()
    return f"{int.from_bytes(digest, 'big') % 10**24:024d}"


def place_batches(cards: Sequence[DemoCard], places: dict[str, str], rng: random.Random
                  ) -> list[tuple[str, str, list[DemoCard]]]:
    """Each polling place's box, mixed, in batches: (batch name, place, cards)."""
    out = []
    for number, place in enumerate(sorted(set(places.values())), start=1):
        box = [c for c in cards if not c.spoiled and places[c.device_id] == place]
        rng.shuffle(box)  # the box mixes the cards: box order is not cast order
        for start in range(0, len(box), BATCH_SIZE):
            name = f"Place {number} box {start // BATCH_SIZE + 1}"
            out.append((name, place, box[start:start + BATCH_SIZE]))
    return out


def tamper_paper(manifest: Manifest, cards: list[DemoCard], counts: dict[tuple[int, int], int],
                 rng: random.Random) -> tuple[str, list[DemoCard]]:
    """Choose the cards to forge so that the plurality contest with the widest margin gets
    another hand-count winner: cards voting for the reported winner (and not the runner-up)
    are changed to vote for the runner-up, one more than half the margin. Returns the
    contest ID and the changed cards (their ``choices`` now what the forgery prints)."""
    best: tuple[int, int, int, int] | None = None  # margin, contest, winner, runner-up
    for index, contest in enumerate(manifest.contests):
        if contest.kind != "plurality" or contest.vote_for != 1:
            continue
        ranked = sorted(range(len(contest.selections)), key=lambda j: -counts[(index, j)])
        margin = counts[(index, ranked[0])] - counts[(index, ranked[1])]
        if best is None or margin > best[0]:
            best = (margin, index, ranked[0], ranked[1])
    if best is None:
        raise UsageError("no single-winner plurality contest to tamper with")
    margin, index, winner, runner_up = best
    contest = manifest.contests[index]
    w_id, r_id = contest.selections[winner].id, contest.selections[runner_up].id
    candidates = [c for c in cards if not c.spoiled and c.choices.get(contest.id) == {w_id}]
    rng.shuffle(candidates)
    changed = margin // 2 + 1
    for card in candidates[:changed]:
        card.choices[contest.id] = frozenset({r_id})
    return contest.id, candidates[:changed]


def _readings(context: ElectionContext, cards: dict[tuple[str, int], DemoCard],
              to_read: Sequence[tuple[str, int]], round_number: int) -> list[CardReading]:
    """What the demo's audit board reads: each card's printed text, contest by contest."""
    manifest = context.manifest
    out = []
    for batch, position in to_read:
        card = cards.get((batch, position))
        if card is None:  # no card of this election at that place: the board says so
            out.append(CardReading(round_number, batch, position, None, "not-found", ()))
            continue
        on_card = {c.id for _, c in manifest.contests_of_style(card.style_id)}
        contests = []
        for contest in manifest.contests:
            if contest.id not in on_card:
                reading = ContestReading("not-on-card")
            elif card.choices.get(contest.id):
                reading = ContestReading("votes", frozenset(card.choices[contest.id]))
            else:
                reading = ContestReading("blank")
            contests.append((contest.id, reading))
        out.append(CardReading(round_number, batch, position, card.ballot_id, "ok",
                               tuple(contests)))
    return out


def _paper_readings(context: ElectionContext, board: BatchPapers, paper: Sequence[PaperBatch],
                    to_read: Sequence[tuple[str, int]], round_number: int
                    ) -> list[CardReading]:
    """What the demo's audit board reads on the paper: each card's printed text."""
    styles: dict[tuple[str, int], str] = {}
    ids: dict[tuple[str, int], bytes | None] = {}
    for batch in paper:
        for position, card in enumerate(batch.cards, start=1):
            ids[(batch.name, position)] = card.ballot_id
            if card.style_id is not None:
                styles[(batch.name, position)] = card.style_id
    return board.read(context.manifest, round_number, to_read, styles, ids)


def _paper_hand_count(context: ElectionContext, board: BatchPapers,
                      paper: Sequence[PaperBatch], when: str) -> HandCount:
    """A full hand count of the paper: every card of every batch, read as printed."""
    every = [(batch.name, position) for batch in paper
             for position in range(1, len(batch.cards) + 1)]
    totals: dict[tuple[str, str], int] = {}
    for reading in _paper_readings(context, board, paper, every, 0):
        for contest_id, contest in reading.contests:
            for selection_id in contest.votes:
                totals[(contest_id, selection_id)] = totals.get((contest_id, selection_id),
                                                                0) + 1
    counts = tuple((c.id, s.id, totals.get((c.id, s.id), 0))
                   for c in context.manifest.contests for s in c.selections)
    return HandCount(counts, ("Demo hand-count board",), when,
                     "full hand count of every card after the audit escalated")


def _hand_count(context: ElectionContext, cards: Sequence[DemoCard], when: str) -> HandCount:
    counts = []
    for contest in context.manifest.contests:
        for selection in contest.selections:
            counts.append((contest.id, selection.id, sum(
                1 for c in cards if not c.spoiled and selection.id in c.choices.get(contest.id,
                                                                                     ()))))
    return HandCount(tuple(counts), ("Demo hand-count board",), when,
                     "full hand count of every card after the audit escalated")


def audit_demo_election(
    *, out: Path, ledger: LedgerClient, context: ElectionContext, official: WriterIdentity,
    trustees: Sequence[TrusteeWorkspace], absent: int, kiosks: Sequence[VotingDevice],
    cards: list[DemoCard], seed: int, tamper: str | None, test_group: bool,
    kdf_limits: KdfLimits, passphrase: Callable[[str], bytes], reporter: _Reporter,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    scanned: ScannedPaper | None = None, mode: str = "comparison",
) -> DemoAudit:
    """Steps 1–5 of the module docstring; returns what happened. ``scanned`` is the ID-level
    manifest the demo scanned from its printed cards and the batches' PDFs
    (``paperchain.demo_paper``): the audit board reads those pages. Without it (a unit
    test's shortcut), the manifest is built from the cards the kiosks issued and the
    board reads what they say (``--tamper paper`` then changes only those records)."""
    if tamper not in (None, *TAMPER_CHOICES):
        raise UsageError(f"--tamper is one of {list(TAMPER_CHOICES)}")
    if mode not in AUDIT_MODES:
        raise UsageError(f"--audit-mode is one of {list(AUDIT_MODES)}")
    polling = mode == "polling"
    if polling and tamper == "cvr":
        raise UsageError("--tamper cvr needs CVRs: a ballot-polling demo has none")
    if polling and any(k.keeps_cvrs for k in kiosks):
        raise UsageError("a ballot-polling demo runs its kiosks without CVRs")
    allow = test_group
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311 - the demo's simulation, not a secret
    audit = DemoAudit("not run", tampered=tamper)
    official_writer = Writer(ledger, official.key, official.card.writer_id)

    if polling:
        reporter.step("No CVRs: the kiosks ran without them (no per-ballot record of choices "
                      "exists); the audit polls the paper against the verified tally")
    elif _cvr_steps(context, ledger, official_writer, trustees, absent, kiosks, tamper,
                    allow, audit, reporter):
        return audit

    # 3. The paper (and --tamper paper).
    places = {k.device_id: _location(ledger, k.device_id) for k in kiosks}
    if tamper == "paper":
        view = AuditLedger.read(ledger, allow_test_group=allow)
        counts = {(c, s): n for c, s, _, n in view.verifier.report.facts["results"].counts}
        contest_id, changed = tamper_paper(context.manifest, cards, counts, rng)
        forged = len(changed)
        if scanned is not None and scanned.files:
            from paperchain.demo_paper import forge_cards

            forged = forge_cards(scanned.files, context.manifest,
                                 {c.ballot_id: dict(c.choices) for c in changed})
        audit.notes.append(f"tampered: {forged} cards forged (same ballot ID and QR code, "
                           f"another {contest_id!r} choice printed) so the hand-count winner "
                           "differs from the reported one")
        reporter.step(f"Tampered paper: {forged} cards in the sealed batches replaced by "
                      f"forgeries with the same ballot ID and QR code that print another "
                      f"{contest_id!r} vote (the hand count would elect the runner-up)")
    board: BatchPapers | None = None
    if scanned is not None:  # the paper the demo printed, mixed, batched and scanned back
        paper, at_position = scanned.batches, scanned.cards_at
        if scanned.files:
            board = BatchPapers(scanned.files)
    else:
        batches = place_batches(cards, places, rng)
        paper = [PaperBatch(name, place, f"Seal {n:04d}", len(box),
                            tuple(ManifestCard(c.ballot_id, frozenset(), c.style_id)
                                  for c in box))
                 for n, (name, place, box) in enumerate(batches, start=1)]
        at_position = {(name, p): card for name, _, box in batches
                       for p, card in enumerate(box, start=1)}
    cast_per_place: dict[str, int] = {}
    spoiled_per_place: dict[str, int] = {}
    for card in cards:
        bucket = spoiled_per_place if card.spoiled else cast_per_place
        bucket[places[card.device_id]] = bucket.get(places[card.device_id], 0) + 1
    inputs = [PlaceInput(place, cast_per_place.get(place, 0), spoiled_per_place.get(place, 0),
                         "") for place in sorted(set(places.values()))]
    _, reconciliation = publish_reconciliation(ledger, official_writer, paper, inputs,
                                               note="demo: paper counted by the demo",
                                               allow_test_group=allow, without_cvrs=polling)
    reporter.step(f"Paper manifest: {sum(len(b.cards) for b in paper)} cards in {len(paper)} "
                  f"batches; reconciliation findings: "
                  f"{len(reconciliation.table['findings'])}")

    # 4. Auditors, parameters, seed, rounds.
    boards = _auditors(out, ledger, official_writer, context, kdf_limits, passphrase)
    first, second = boards
    auditor = Writer(ledger, first.key, first.card.writer_id)
    _, parameters = publish_parameters(
        ledger, auditor, risk_limit=RISK_LIMIT,
        risk_function=PollingRiskFunction("bravo") if polling else None, allow_test_group=allow)
    publish_seed(ledger, auditor, demo_seed(seed), rolled_by=("Demo auditor 1",
                                                              "Demo auditor 2"),
                 rolled_at=clock().isoformat(timespec="seconds"), allow_test_group=allow)
    reporter.step(f"Audit parameters: {'BRAVO ballot polling' if polling else 'comparison'}, "
                  f"risk limit {RISK_LIMIT:.0%}, "
                  f"{sum(len(c.assertions) for c in parameters.contests)} assertions; seed "
                  f"{demo_seed(seed)}; first round of {parameters.initial_round_size} draws")
    while True:
        view = AuditLedger.read(ledger, allow_test_group=allow)
        current = view.state.current
        if current is not None and current.risk is not None and (
                current.risk.decision != "continue"):
            break
        if parameters.initial_round_size == 0 and current is None:
            break
        _, audit_round = start_round(ledger, auditor, allow_test_group=allow)
        view = AuditLedger.read(ledger, allow_test_group=allow)
        current = view.state.current
        if current is None:
            break
        if board is not None:
            readings = _paper_readings(context, board, paper, current.to_read,
                                       audit_round.round)
        else:
            readings = _readings(context, at_position, current.to_read, audit_round.round)
        record_readings(ledger, auditor, second.card.writer_id, second.key, readings,
                        allow_test_group=allow)
        sign_off_round(ledger, auditor, second.card.writer_id, second.key,
                       allow_test_group=allow)
        if audit_round.decrypt:
            for trustee in trustees:
                if trustee.card.index != absent:
                    decrypt_round_as_trustee(trustee, ledger, allow_test_group=allow)
            publish_round_cvrs(ledger, auditor, allow_test_group=allow)
        _, risk = measure_risk(ledger, auditor, allow_test_group=allow)
        worst = max((p for _, p in risk.contests), default=0.0)
        reporter.step(f"  round {audit_round.round}: {len(audit_round.tickets)} draws, "
                      f"{len(current.to_read)} cards read, largest risk {worst:.4f} → "
                      f"{risk.decision}")
    end_audit(ledger, auditor, allow_test_group=allow)
    view = AuditLedger.read(ledger, allow_test_group=allow)
    state = view.state
    audit.outcome = state.end.outcome if state.end is not None else "not run"
    audit.rounds, audit.draws, audit.cards_read = (len(state.rounds), len(state.tickets),
                                                   len(state.readings))
    last = next((r.risk for r in reversed(state.rounds) if r.risk is not None), None)
    audit.contests = dict(last.contests) if last is not None else {}
    if audit.outcome == "full-hand-count":
        when = clock().isoformat(timespec="seconds")
        count = (_hand_count(context, cards, when) if board is None
                 else _paper_hand_count(context, board, paper, when))
        publish_hand_count(ledger, official_writer, count, allow_test_group=allow)
        reporter.step("Audit escalated: a full hand count of every card was certified and "
                      "replaces the E2E result")
    else:
        reporter.step(f"Audit confirmed every contest at risk limit {RISK_LIMIT:.0%} after "
                      f"{audit.draws} draws ({audit.cards_read} cards read)")
    audit.report = _write_report(out, ledger, allow)
    return audit


def _cvr_steps(context: ElectionContext, ledger: LedgerClient, official_writer: Writer,
               trustees: Sequence[TrusteeWorkspace], absent: int,
               kiosks: Sequence[VotingDevice], tamper: str | None, allow: bool,
               audit: DemoAudit, reporter: _Reporter) -> bool:
    """Steps 1–2: CVRs, then their equality proof. True when the equality failed (the
    audit stops there)."""
    # 1. CVRs (and --tamper cvr: one kiosk's CVR records another vote than its ballot).
    if tamper == "cvr":
        _tamper_one_cvr(context, kiosks[0])
        audit.notes.append(f"tampered: one CVR of {kiosks[0].device_id} changed")
    for kiosk in kiosks:
        kiosk.publish_cvrs()
    reporter.step(f"CVRs published: {sum(len(k.cvrs) for k in kiosks)} encrypted CVRs, sorted "
                  "by ballot ID, with one commitment per kiosk")

    # 2. The equality proofs.
    for trustee in trustees:
        if trustee.card.index != absent:
            decrypt_cvr_equality_as_trustee(trustee, ledger, allow_test_group=allow)
    _, failed = publish_cvr_equality(ledger, official_writer, allow_test_group=allow,
                                     record_failure=True)
    if failed:
        audit.outcome = "cvr-equality-failed"
        reporter.step(f"CVR equality FAILED for {failed}: the failure is on the ledger; the "
                      "audit cannot compare paper with these CVRs")
        return True
    reporter.step("CVR equality proven: each kiosk's CVRs encrypt exactly its cast ballots' "
                  "totals (nothing else decrypted)")
    return False


def _location(ledger: LedgerClient, device_id: str) -> str:
    from e2e.ledger.client import read_setup

    for writer in read_setup(ledger, True).writers:
        if writer.writer_id == device_id:
            return writer.location or "(no polling place)"
    return "(no polling place)"


def _auditors(out: Path, ledger: LedgerClient, official: Writer, context: ElectionContext,
              limits: KdfLimits, passphrase: Callable[[str], bytes]
              ) -> tuple[WriterIdentity, WriterIdentity]:
    """Two audit-board members, registered by the official (``register-writer``)."""
    members = []
    for number in (1, 2):
        writer_id = f"auditor-{number}"
        identity = WriterIdentity.create(out / "auditors" / writer_id,
                                         election_id=context.election_id, writer_id=writer_id,
                                         role=Role.AUDITOR, passphrase=passphrase(writer_id),
                                         limits=limits)
        official.write(EntryType.REGISTER_WRITER, RegisterWriter(
            WriterInfo(writer_id, Role.AUDITOR, identity.card.key)).to_payload())
        members.append(identity)
    return members[0], members[1]


def _tamper_one_cvr(context: ElectionContext, kiosk: VotingDevice) -> None:
    """Replace one stored CVR by the encryption of other choices (with valid proofs): a
    lying kiosk. Only the equality proof can catch it."""
    from e2e.ballot import mark_ballot
    from e2e.cvr import CvrStore, encrypt_cvr

    stored = list(kiosk.cvrs)
    if not stored:
        return
    victim = stored[0]
    manifest = context.manifest
    style = manifest.style(victim.style_id)
    choices = {}
    for _, contest in manifest.contests_of_style(style.id):
        choices[contest.id] = [contest.selections[-1].id]  # a vote for the last selection
    lie = encrypt_cvr(context, mark_ballot(manifest, style.id, choices),
                      device_id=kiosk.device_id, ballot_id=victim.ballot_id)
    replaced = CvrStore()
    for cvr in stored:
        replaced.add(lie if cvr.ballot_id == victim.ballot_id else cvr)
    kiosk.cvrs = replaced


def _write_report(out: Path, ledger: LedgerClient, allow: bool) -> Path:
    from paperchain.audit_report import audit_report, write_report

    view = AuditLedger.read(ledger, allow_test_group=allow)
    report = audit_report(view)
    directory = out / "audit"
    write_report(report, directory)
    (directory / "README.txt").write_text(
        "The demo's risk-limiting audit: report.json, report.pdf, audit-record.csv.\n"
        "Recompute it from the public record: paperchain audit verify ../record"
        + (" --test-group" if allow else "") + "\n")
    return directory


def new_card(style_id: str, choices: dict[str, list[str]], device_id: str, spoiled: bool
             ) -> DemoCard:
    """A card as the kiosk prints it: a fresh random ballot ID (``paper.ids``: 128 bits)."""
    return DemoCard(secrets.token_bytes(16), style_id,
                    {c: frozenset(v) for c, v in choices.items()}, device_id, spoiled)

