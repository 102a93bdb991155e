"""The paper office: ledger, tally and paper wired together for ``paperchain print`` and
``paperchain scan`` (and the demo). The logic is in ``paper`` (forms, scanning,
official printing) and ``tally`` (results, audit); this module only reads the election
from a ledger or record and hands each the plain values it needs.

* ``ElectionSource`` — ``--election``: an election record directory, a ledger
  directory or a ledger service URL;
* ``scan_batches`` — scan files into the ID-level manifest, flags included;
* builders of the official documents from the source (cover sheets, close-of-polls and
  reconciliation forms, retrieval lists and audit-board forms, results and audit
  reports);
* ``remake_card`` — the remake procedure: ledger entry first, then card and form;
* ``print_test_deck`` — ballot records of random choices, test elections only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from e2e.ballot import mark_ballot
from e2e.errors import RecordError, UsageError
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.entry import Entry, decode_envelope
from e2e.ledger.types import EntryType
from e2e.manifest import ENGLISH, Manifest
from e2e.record import RecordReader
from e2e.remake import CardRemake
from e2e.signing import SigningKey
from paper.election import PaperElection
from paper.forms import (
    AuditBoardCard,
    AuditContest,
    BatchCount,
    CloseOfPolls,
    ContestResult,
    CoverSheet,
    DeviceCount,
    ElectionHeading,
    PlaceCount,
    ReconciliationForm,
    RemakeRecord,
    ResultsSummary,
    RetrievalItem,
    RetrievalList,
    audit_board_form,
    close_of_polls_form,
    cover_sheet,
    reconciliation_form,
    results_report,
    retrieval_list,
)
from paper.ids import BallotId
from paper.layout import render_ballot_record
from paper.manifest_csv import PlacedEntry
from paper.manifest_views import record_view
from paper.official import OfficialPrinter
from paper.payload import make_ballot_record
from paper.reports import ReportDocument
from paper.scan import CardFlag, PageResult, build_manifest, scan_files, self_check_ballot_record
from paperchain.wiring import open_ledger

__all__ = [
    "ElectionSource",
    "RemakeOutcome",
    "ScannedBatch",
    "audit_documents",
    "audit_report_document",
    "close_of_polls_documents",
    "cover_sheet_documents",
    "heading",
    "print_test_deck",
    "reconciliation_document",
    "remake_card",
    "results_document",
    "scan_batches",
]


@dataclass(frozen=True, slots=True)
class ElectionSource:
    """Where an election is read from: a record directory, or a ledger (dir or URL)."""

    spec: str
    election_id: str
    test_group: bool
    ledger: LedgerClient | None
    record: RecordReader | None

    @classmethod
    def open(cls, spec: str | Path, *, test_group: bool = False) -> ElectionSource:
        path = Path(str(spec))
        if path.is_dir() and (path / "record.json").exists():
            reader = RecordReader(path)
            return cls(str(spec), reader.summary.election_id, test_group, None, reader)
        client, config = open_ledger(spec)
        return cls(str(spec), config.election_id, config.test_group, client, None)

    def envelopes(self) -> Iterator[bytes]:
        if self.record is not None:
            return self.record.envelopes()
        if self.ledger is None:
            raise RecordError("no ledger or record to read")
        return self.ledger.envelopes(0)

    def entries(self) -> Iterator[tuple[int, Entry]]:
        for index, raw in enumerate(self.envelopes()):
            yield index, decode_envelope(raw, f"ledger entry {index}").entry()

    def paper_election(self) -> PaperElection:
        return PaperElection.read(self.entries(), election_id=self.election_id,
                                  allow_test_group=self.test_group)


def heading(manifest: Manifest, language: str = ENGLISH) -> ElectionHeading:
    return ElectionHeading(manifest.election_id, manifest.name.get(language),
                           manifest.jurisdiction.get(language), manifest.date.isoformat())


# ---------------------------------------------------------------------------- scanning


@dataclass(frozen=True, slots=True)
class ScannedBatch:
    """One batch to scan: its name, its files (pages in box order), its polling place."""

    name: str
    files: tuple[Path, ...]
    polling_place: str = ""


def scan_batches(election: PaperElection, batches: Sequence[ScannedBatch], *,
                 manual_ids: Mapping[tuple[str, int], str] | None = None, dpi: int = 150,
                 on_page: Callable[[str, int, PageResult], None] | None = None
                 ) -> list[PlacedEntry]:
    """Scan each batch's pages in order into the ID-level manifest (with the spoiled IDs
    from the ledger's challenge entries); ``on_page`` sees every page as it is read."""
    context = election.scan_context()

    def pages(batch: ScannedBatch) -> Iterator[PageResult]:
        for position, result in enumerate(scan_files(batch.files, context, dpi=dpi),
                                          start=1):
            if on_page is not None:
                on_page(batch.name, position, result)
            yield result

    manifest = build_manifest(((b.name, pages(b)) for b in batches),
                              spoiled=election.spoiled, manual_ids=manual_ids)
    places = {b.name: b.polling_place for b in batches}
    return [PlacedEntry(entry, places[entry.batch]) for entry in manifest.entries]


# ---------------------------------------------------------------------------- forms


def cover_sheet_documents(election: PaperElection, *, rows: Sequence[PlacedEntry] = (),
                          polling_place: str | None = None, count: int = 0, first: int = 1,
                          containers: Mapping[str, str] | None = None,
                          seals: Mapping[str, Sequence[str]] | None = None
                          ) -> list[ReportDocument]:
    """One numbered cover sheet per batch of a scanned manifest (counts filled in), or
    ``count`` blank ones for ``polling_place`` (to fill in by hand)."""
    title = heading(election.setup.manifest)
    containers = containers or {}
    seals = seals or {}
    sheets: list[CoverSheet] = []
    if rows:
        batches: dict[str, list[PlacedEntry]] = {}
        for row in rows:
            batches.setdefault(row.entry.batch, []).append(row)
        for number, (name, cards) in enumerate(batches.items(), start=first):
            sheets.append(CoverSheet(title, number, cards[0].polling_place or "", name,
                                     containers.get(name), tuple(seals.get(name, ())),
                                     len(cards)))
    else:
        if not polling_place:
            raise UsageError("blank cover sheets need a polling place")
        sheets = [CoverSheet(title, first + n, polling_place) for n in range(count)]
    return [cover_sheet(sheet) for sheet in sheets]


def close_of_polls_documents(election: PaperElection) -> list[ReportDocument]:
    """One close-of-polls form per polling place, with its devices' ledger counts."""
    title = heading(election.setup.manifest)
    return [close_of_polls_form(CloseOfPolls(title, place, tuple(
        DeviceCount(d.device_id, d.cast, d.challenged, d.closed)
        for d in election.devices if d.location == place)))
        for place in election.polling_places()]


def reconciliation_document(election: PaperElection, rows: Sequence[PlacedEntry], *,
                            check_ins: Mapping[str, int] | None = None,
                            spoiled_envelope: Mapping[str, int] | None = None,
                            declared: Mapping[str, int] | None = None) -> ReportDocument:
    """The reconciliation form: ledger counts per polling place against the scanned
    manifest, the cover sheets' counts against each batch, and the differences."""
    check_ins, spoiled_envelope, declared = check_ins or {}, spoiled_envelope or {}, declared or {}
    places = sorted({*election.polling_places(), *(r.polling_place for r in rows)})
    counted = [r for r in rows if not r.entry.flags & _NOT_COUNTED]
    findings: list[str] = []
    place_counts = []
    for place in places:
        devices = [d for d in election.devices if d.location == place]
        cast = sum(d.cast for d in devices)
        challenged = sum(d.challenged for d in devices)
        here = [r for r in rows if r.polling_place == place]
        cards = sum(1 for r in counted if r.polling_place == place)
        flags: dict[str, int] = {}
        for row in here:
            for flag in row.entry.flags:
                flags[flag.value] = flags.get(flag.value, 0) + 1
        place_counts.append(PlaceCount(place, check_ins.get(place), cast, challenged,
                                       spoiled_envelope.get(place), cards,
                                       tuple(sorted(flags.items()))))
        if cards != cast:
            findings.append(f"{place}: {cards} counted cards for {cast} cast ballots")
        if place in check_ins and check_ins[place] != cast:
            findings.append(f"{place}: {check_ins[place]} voters checked in for {cast} cast "
                            "ballots")
        if place in spoiled_envelope and spoiled_envelope[place] != challenged:
            findings.append(f"{place}: {spoiled_envelope[place]} SPOILED papers for "
                            f"{challenged} challenges")
    batch_counts = []
    batches: dict[str, list[PlacedEntry]] = {}
    for row in rows:
        batches.setdefault(row.entry.batch, []).append(row)
    for name, cards in batches.items():
        flagged = sum(1 for r in cards if r.entry.flags)
        batch_counts.append(BatchCount(name, cards[0].polling_place, None, declared.get(name),
                                       len(cards), flagged))
        if name in declared and declared[name] != len(cards):
            findings.append(f"batch {name}: cover sheet says {declared[name]}, "
                            f"{len(cards)} scanned")
    return reconciliation_form(ReconciliationForm(heading(election.setup.manifest),
                                                  tuple(place_counts), tuple(batch_counts),
                                                  tuple(findings)))


# Cards that are not this election's real ballot records, or not this box's.
_NOT_COUNTED = frozenset({CardFlag.FOREIGN_ELECTION, CardFlag.TEST_CARD, CardFlag.NOT_TEST_CARD,
                          CardFlag.SPOILED, CardFlag.INVALID, CardFlag.NOT_A_CARD})


def audit_documents(source: ElectionSource, round_number: int, *,
                    board_forms: bool = True) -> list[ReportDocument]:
    """A round's retrieval list, then one audit-board form per card it draws."""
    from tally.audit_check import AuditChecker
    from tally.audit_workflow import AuditLedger
    from tally.audit_workflow import retrieval_list as retrieval_rows
    from tally.verify import verify_election

    report, verifier = verify_election(source.envelopes(), election_id=source.election_id,
                                       allow_test_group=source.test_group,
                                       require_results=False)
    if not report.ok:
        raise RecordError(f"the election does not verify ({len(report.findings)} finding(s); "
                          f"first: {report.findings[0]})")
    view = AuditLedger(verifier, verifier.checker(AuditChecker))
    state = view.state
    batches = state.manifest_batches
    rows = retrieval_rows(state, batches, round_number)
    cards = {(b.name, n): card for b in batches for n, card in enumerate(b.cards, start=1)}
    setup = verifier.state.setup
    if setup is None:
        raise RecordError("no election setup")
    manifest = setup.manifest
    title = heading(manifest)
    items = []
    forms = []
    seed = state.seed.seed.digits if state.seed is not None else None
    for row in rows:
        card = cards.get((row.batch, row.position))
        printed = (None if card is None or card.ballot_id is None
                   else str(BallotId(card.ballot_id)))
        items.append(RetrievalItem(row.batch, row.position, printed, row.container or None))
        if board_forms and not row.phantom:
            style = card.style_id if card is not None else None
            forms.append(audit_board_form(AuditBoardCard(
                title, round_number, row.batch, row.position, printed, style,
                _audit_contests(manifest, style))))
    return [retrieval_list(RetrievalList(title, round_number, tuple(items), seed)), *forms]


def _audit_contests(manifest: Manifest, style_id: str | None) -> tuple[AuditContest, ...]:
    contests = (manifest.contests if style_id is None or style_id not in
                {s.id for s in manifest.ballot_styles}
                else tuple(c for _, c in manifest.contests_of_style(style_id)))
    return tuple(AuditContest(c.title.english, c.vote_for,
                              tuple(s.label.english for s in c.selections)) for c in contests)


def results_document(record: Path, *, test_group: bool = False) -> ReportDocument:
    """The results report of a record, verified first (its findings are printed)."""
    from tally.results import Results, contest_results
    from tally.verify import verify_record

    report = verify_record(record, allow_test_group=test_group)
    manifest = Manifest.from_bytes(RecordReader(record).manifest_bytes)
    results = report.facts.get("results")
    per_contest = report.facts.get("ballots_per_contest")
    contests = []
    if isinstance(results, Results) and isinstance(per_contest, dict):
        for contest in contest_results(manifest, results, per_contest):
            contests.append(ContestResult(contest.title, str(contest.kind), contest.ballots,
                                          tuple(contest.votes), tuple(contest.winners),
                                          contest.note or ""))
    return results_report(ResultsSummary(
        heading(manifest), tuple(contests), report.ok, tuple(report.checks.items()),
        tuple(str(f) for f in report.findings),
        RecordReader(record).summary.root.hex()))


def audit_report_document(source: ElectionSource) -> bytes:
    """The audit report PDF (``paperchain.audit_report``) of a verified ledger or record."""
    from paperchain.audit_report import audit_report, render_audit_pdf
    from tally.audit_check import AuditChecker
    from tally.audit_workflow import AuditLedger
    from tally.verify import verify_election

    report, verifier = verify_election(source.envelopes(), election_id=source.election_id,
                                       allow_test_group=source.test_group,
                                       require_results=False)
    if not report.ok:
        raise RecordError(f"the election does not verify ({len(report.findings)} finding(s))")
    setup = verifier.state.setup
    return render_audit_pdf(audit_report(AuditLedger(verifier, verifier.checker(AuditChecker))),
                            test=setup is not None and setup.test_election)


# ---------------------------------------------------------------------------- remakes


@dataclass(frozen=True, slots=True)
class RemakeOutcome:
    ballot_id: BallotId
    remake: int
    ledger_index: int


def remake_card(printer: OfficialPrinter, ledger: LedgerClient, election: PaperElection, *,
                official_id: str, official_key: SigningKey, cosigner_id: str,
                cosigner_key: SigningKey, ballot_id: BallotId, style_id: str,
                choices: Mapping[str, Sequence[str]], reason: str, original_kept_in: str,
                language: str = ENGLISH) -> RemakeOutcome:
    """Remake a damaged card (docs/spec.md §18.6) from what both people read on it.

    The choices are checked against the style (no overvote), the ``card-remake`` entry
    is written (the ledger refuses it without two signatures, for spoiled paper, out of
    its phases or numbering), and only then is the DUPLICATE card printed — signed by
    the official's key, checked like a kiosk checks its cards — with its remake form.
    """
    if printer.test_election != election.test_election:
        raise UsageError("the printer's test mode differs from the election's")
    manifest = election.setup.manifest
    marked = mark_ballot(manifest, style_id, choices)
    number = max((n for (bid, n) in election.remakes if bid == ballot_id), default=0) + 1
    test = election.test_election
    remake = CardRemake.sign(ballot_id=ballot_id.value, remake=number, style_id=style_id,
                             test=test, reason=reason, original_kept_in=original_kept_in,
                             writer_id=official_id, cosigner_id=cosigner_id,
                             cosigner=cosigner_key, election_id=election.election_id)
    view = replace(record_view(manifest, style_id, language, marked.choices(manifest),
                               ballot_id, test_mode=test), remake=number)
    payload = make_ballot_record(official_key, election.election_id, style_id, ballot_id,
                                 test=test, remake=number)
    self_check_ballot_record(render_ballot_record(view, payload), view,
                             election_id=election.election_id, style_id=style_id,
                             signer_key=official_key.verify_key)
    result = Writer(ledger, official_key, official_id).write(EntryType.CARD_REMAKE,
                                                             remake.to_payload())
    chosen = marked.choices(manifest)
    record = RemakeRecord(
        heading(manifest), str(ballot_id), number, style_id, reason, original_kept_in,
        tuple((c.title.english, tuple(s.label.english for s in c.selections
                                      if s.id in chosen.get(c.id, ())))
              for _, c in manifest.contests_of_style(style_id)),
        (official_id, cosigner_id), result.index)
    printer.remake(view, payload, record)
    return RemakeOutcome(ballot_id, number, result.index)


def print_test_deck(printer: OfficialPrinter, election: PaperElection, device_key: SigningKey,
                    count: int, *, seed: int, language: str = ENGLISH,
                    progress: Callable[[int], None] | None = None) -> None:
    """``count`` ballot records of random choices, for logic and accuracy testing.

    A ballot record printed from anything but a voter's live choices is a reprint from
    the digital record; ``OfficialPrinter`` refuses it outside a test election.
    """
    manifest = election.setup.manifest
    rng = random.Random(seed)  # noqa: S311 - test choices, not secrets
    for _ in range(count):
        style = rng.choice(manifest.ballot_styles)
        choices = {c.id: rng.sample([s.id for s in c.selections], rng.randint(0, c.vote_for))
                   for _, c in manifest.contests_of_style(style.id)}
        marked = mark_ballot(manifest, style.id, choices)
        ballot_id = BallotId.generate()
        view = record_view(manifest, style.id, language, marked.choices(manifest), ballot_id,
                           test_mode=election.test_election)
        payload = make_ballot_record(device_key, election.election_id, style.id, ballot_id,
                                     test=election.test_election)
        printer.reprint_ballot_record(view, payload)
        if progress is not None:
            progress(1)

