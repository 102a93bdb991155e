"""The official forms and reports, as ``paper.reports.ReportDocument``s.

Each builder takes plain values (counts, names, IDs — what the app layer read from the
ledger, the scanned manifest or the audit) and returns a document; ``paper.official``
prints them, stamping TEST on every page of a test election's. docs/spec.md §18.7
lists what each holds. Forms are in English, for officials.

* ``cover_sheet`` — a numbered batch cover sheet: polling place, batch, container and
  seal numbers, counts, two signatures, the transfer (chain-of-custody) log;
* ``close_of_polls_form`` — per polling place at the close: the devices' counts from
  the ledger, the hand counts to write in, differences, two signatures;
* ``reconciliation_form`` — per polling place and per batch: check-ins, cast and
  challenged ballots, SPOILED papers, cards scanned and flagged, the differences;
* ``retrieval_list`` — the cards an audit round draws, by batch and position, with
  the printed ballot ID to check, and the retrieval team's signatures;
* ``audit_board_form`` — one page per drawn card: what its printed text says, contest
  by contest, blind to the electronic record, signed by both board members;
* ``results_report`` and ``remake_form``.

Nothing here prints anything that could link a receipt to choices or to cast order:
batches and positions are box order, ballot IDs are those printed on the cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from e2e.errors import UsageError
from paper.reports import (
    ReportBanner,
    ReportChecklist,
    ReportDocument,
    ReportFields,
    ReportHeading,
    ReportSection,
    ReportSignatures,
    ReportTable,
)

__all__ = [
    "AuditBoardCard",
    "AuditContest",
    "BatchCount",
    "CloseOfPolls",
    "ContestResult",
    "CoverSheet",
    "DeviceCount",
    "ElectionHeading",
    "PlaceCount",
    "ReconciliationForm",
    "RemakeRecord",
    "ResultsSummary",
    "RetrievalItem",
    "RetrievalList",
    "audit_board_form",
    "close_of_polls_form",
    "cover_sheet",
    "reconciliation_form",
    "remake_form",
    "results_report",
    "retrieval_list",
]

_TRANSFER_ROWS = 8
_OFFICIALS = ("Official 1", "Official 2 (witness)")


@dataclass(frozen=True, slots=True)
class ElectionHeading:
    """What every form names: the election."""

    election_id: str
    name: str
    jurisdiction: str
    date: str

    def fields(self) -> tuple[tuple[str, str | None], ...]:
        return (("Election", f"{self.name} ({self.election_id})"),
                ("Jurisdiction", self.jurisdiction), ("Election date", self.date))


def _count(value: int | None) -> str | None:
    return None if value is None else str(value)


def _check_two(signers: Sequence[str], what: str) -> None:
    if len(signers) != 2 or len(set(signers)) != 2 or not all(s.strip() for s in signers):
        raise UsageError(f"{what} needs two signatures by two different people")


# ---------------------------------------------------------------------------- cover sheet


@dataclass(frozen=True, slots=True)
class CoverSheet:
    """A batch's cover sheet. ``None`` values print as lines to write on."""

    election: ElectionHeading
    number: int
    polling_place: str
    batch: str | None = None
    container: str | None = None
    seals: tuple[str, ...] = ()
    cards: int | None = None  # per the scanned manifest

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or self.number < 1:
            raise UsageError("cover sheets are numbered from 1")


def cover_sheet(sheet: CoverSheet) -> ReportDocument:
    sections: list[ReportSection] = [
        ReportBanner("Batch", sheet.batch) if sheet.batch else ReportFields("", (("Batch",
                                                                                None),)),
        ReportFields("", (*sheet.election.fields(), ("Polling place", sheet.polling_place),
                          ("Container number", sheet.container),
                          ("Seal numbers", ", ".join(sheet.seals) or None),
                          ("Cards counted by hand", None),
                          ("Cards in the scanned manifest", _count(sheet.cards)))),
        "Keep this sheet on top of its batch, in its sealed container. Count the cards by "
        "hand before sealing; any difference from the scanned manifest, a broken seal or a "
        "missing sheet goes on the reconciliation form.",
        ReportSignatures("Counted and sealed by", _OFFICIALS),
        ReportTable("Transfer log (chain of custody)",
                    ("Date and time", "Released by (name, signature)",
                     "Received by (name, signature)", "Seal numbers checked", "Seals intact?"),
                    (), blank_rows=_TRANSFER_ROWS, widths=(1.1, 2, 2, 1.4, 0.8)),
    ]
    return ReportDocument(f"Batch cover sheet No. {sheet.number:04d}", tuple(sections),
                          reference=f"cover sheet {sheet.number:04d}, {sheet.polling_place}")


# ---------------------------------------------------------------------------- close of polls


@dataclass(frozen=True, slots=True)
class DeviceCount:
    """A voting device's counts from the ledger (cast and challenged ballots)."""

    device_id: str
    cast: int
    challenged: int
    closed: bool


@dataclass(frozen=True, slots=True)
class CloseOfPolls:
    election: ElectionHeading
    polling_place: str
    devices: tuple[DeviceCount, ...]


def close_of_polls_form(form: CloseOfPolls) -> ReportDocument:
    cast = sum(d.cast for d in form.devices)
    challenged = sum(d.challenged for d in form.devices)
    rows = tuple((d.device_id, str(d.cast), str(d.challenged), "yes" if d.closed else "NO")
                 for d in form.devices)
    sections: list[ReportSection] = [
        ReportFields("", (*form.election.fields(), ("Polling place", form.polling_place))),
        ReportTable("Voting devices (from the public ledger)",
                    ("Device", "Ballots cast", "Ballots challenged", "Chain closed"),
                    (*rows, ("All devices", str(cast), str(challenged), ""))),
        ReportFields("Counted by hand at the close", (
            ("Voters checked in (poll book)", None),
            ("Ballot records in the ballot box", None),
            ("SPOILED papers in the spoiled envelope", None),
            ("Unused card stock", None),
            ("Batches (containers) sealed", None),
            ("Ballot box seal numbers", None))),
        f"Expected: {cast} card(s) in the ballot box (one per cast ballot) and {challenged} "
        "SPOILED paper(s) in the envelope (one per challenge). Explain every difference.",
        ReportTable("Differences and explanations", ("What differs", "Explanation"), (),
                    blank_rows=4, widths=(1, 2)),
        ReportSignatures("Signed at the close of polls", ("Poll worker 1", "Poll worker 2")),
    ]
    return ReportDocument("Close-of-polls form", tuple(sections),
                          reference=f"close of polls, {form.polling_place}")


# ---------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True, slots=True)
class PlaceCount:
    """One polling place: ledger counts, what officials entered, what was scanned."""

    polling_place: str
    check_ins: int | None
    cast: int
    challenged: int
    spoiled_envelope: int | None
    cards: int
    flagged: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class BatchCount:
    batch: str
    polling_place: str
    container: str | None
    declared: int | None  # the cover sheet's hand count
    scanned: int
    flagged: int


@dataclass(frozen=True, slots=True)
class ReconciliationForm:
    election: ElectionHeading
    places: tuple[PlaceCount, ...]
    batches: tuple[BatchCount, ...]
    findings: tuple[str, ...]


def _difference(a: int | None, b: int) -> str:
    return "" if a is None else f"{b - a:+d}" if b != a else "0"


def reconciliation_form(form: ReconciliationForm) -> ReportDocument:
    places = tuple((p.polling_place, _count(p.check_ins) or "", str(p.cast), str(p.challenged),
                    _count(p.spoiled_envelope) or "", str(p.cards), _difference(p.cast, p.cards))
                   for p in form.places)
    batches = tuple((b.batch, b.polling_place, b.container or "", _count(b.declared) or "",
                     str(b.scanned), str(b.flagged), _difference(b.declared, b.scanned))
                    for b in form.batches)
    flags = tuple((p.polling_place, flag, str(n)) for p in form.places for flag, n in p.flagged)
    sections: list[ReportSection] = [
        ReportFields("", form.election.fields()),
        ReportTable("Polling places",
                    ("Polling place", "Checked in", "Cast (ledger)", "Challenged (ledger)",
                     "SPOILED in envelope", "Cards scanned", "Cards − cast"), places),
        ReportTable("Batches (box order)", ("Batch", "Polling place", "Container",
                                            "Cover-sheet count", "Scanned", "Flagged",
                                            "Scanned − cover sheet"), batches),
        ReportTable("Flagged cards", ("Polling place", "Flag", "Cards"), flags)
        if flags else "No card was flagged by the scanner.",
        ReportHeading("Differences found"),
        *(form.findings or ("None.",)),
        ReportTable("Explanations", ("Difference", "Explanation"), (), blank_rows=4,
                    widths=(1, 2)),
        ReportSignatures("Reconciled by", _OFFICIALS),
    ]
    return ReportDocument("Reconciliation form", tuple(sections),
                          reference=f"reconciliation, {form.election.election_id}")


# ---------------------------------------------------------------------------- audit


@dataclass(frozen=True, slots=True)
class RetrievalItem:
    """One card to retrieve: where it is (box order) and the ID printed on it."""

    batch: str
    position: int
    ballot_id: str | None  # None for a card whose ID the manifest lacks
    container: str | None = None


@dataclass(frozen=True, slots=True)
class RetrievalList:
    election: ElectionHeading
    round: int
    items: tuple[RetrievalItem, ...]
    seed: str | None = None


def retrieval_list(sheet: RetrievalList) -> ReportDocument:
    items = sorted(set(sheet.items), key=lambda i: (i.batch, i.position))
    per_batch: dict[str, int] = {}
    for item in items:
        per_batch[item.batch] = per_batch.get(item.batch, 0) + 1
    containers = {i.batch: i.container or "" for i in items}
    rows = tuple((str(n), i.batch, i.container or "", str(i.position), i.ballot_id or "(none)",
                  "", "") for n, i in enumerate(items, start=1))
    sections: list[ReportSection] = [
        ReportFields("", (*sheet.election.fields(), ("Audit round", str(sheet.round)),
                          ("Seed", sheet.seed), ("Cards to retrieve", str(len(items))))),
        "Open each container in front of the retrieval team and record it on its cover "
        "sheet's transfer log. Count from the top of the batch: position 1 is the first "
        "card. Check the ballot ID printed on the card against this list, put a marker card "
        "in its place, and hand the card to an audit board. A card that is missing, has "
        "another ID, or is stamped SPOILED, TEST or DUPLICATE is reported, not replaced.",
        ReportTable("Batches", ("Batch", "Container", "Cards"),
                    tuple((b, containers[b], str(n)) for b, n in per_batch.items())),
        ReportTable("Cards", ("#", "Batch", "Container", "Position", "Ballot ID (check it)",
                              "Retrieved", "ID matches"), rows,
                    widths=(0.45, 1.4, 1.0, 0.9, 4.5, 1.0, 0.9), ruled=True),
        ReportSignatures("Retrieved by", ("Retrieval team member 1",
                                          "Retrieval team member 2")),
    ]
    return ReportDocument(f"Retrieval list, audit round {sheet.round}", tuple(sections),
                          reference=f"retrieval, round {sheet.round}")


@dataclass(frozen=True, slots=True)
class AuditContest:
    """A contest as the board sees it: its title, limit and every option."""

    title: str
    vote_for: int
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditBoardCard:
    """One drawn card for an audit board; ``contests`` are those of its ballot style
    (every contest of the manifest if the style is unknown)."""

    election: ElectionHeading
    round: int
    batch: str
    position: int
    ballot_id: str | None
    style: str | None
    contests: tuple[AuditContest, ...]


def audit_board_form(card: AuditBoardCard) -> ReportDocument:
    sections: list[ReportSection] = [
        ReportFields("", (*card.election.fields()[:1], ("Audit round", str(card.round)),
                          ("Batch", card.batch), ("Position", str(card.position)),
                          ("Ballot ID expected", card.ballot_id or "(none: read it from the "
                                                                   "card)"),
                          ("Ballot style", card.style or "(unknown: read every contest)"))),
        "Record only what the printed text of the card says. This form does not show, and "
        "the board must not see, the electronic record of this card. If a contest shows "
        "something else (more choices than allowed, unreadable), write it in the notes.",
        ReportChecklist("The card", (
            "Found at this position", "Its printed ballot ID matches",
            "Stamped DUPLICATE (a remake)", "SPOILED, TEST or not a card: stop, tell the "
                                            "coordinator"), columns=2),
    ]
    for contest in card.contests:
        sections.append(ReportChecklist(
            f"{contest.title} — vote for up to {contest.vote_for}",
            (*contest.options, "No selection printed", "Contest not on this card"),
            columns=2))
    sections += [
        ReportFields("", (("Notes", None), ("", None))),
        ReportSignatures("Audit board (both agree on every entry)",
                         ("Board member 1", "Board member 2")),
    ]
    return ReportDocument(f"Audit board form: round {card.round}, {card.batch}, "
                          f"position {card.position}", tuple(sections),
                          reference=f"audit board, round {card.round}")


# ---------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class ContestResult:
    title: str
    kind: str
    ballots: int
    votes: tuple[tuple[str, int], ...]
    winners: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class ResultsSummary:
    election: ElectionHeading
    contests: tuple[ContestResult, ...]
    verified: bool
    checks: tuple[tuple[str, int], ...]
    findings: tuple[str, ...]
    record_root: str | None = None


def results_report(summary: ResultsSummary) -> ReportDocument:
    verdict = ("VERIFIED: every check of the public record passed." if summary.verified
               else f"NOT VERIFIED: {len(summary.findings)} finding(s); see below.")
    sections: list[ReportSection] = [
        ReportFields("", (*summary.election.fields(),
                          ("Record root", summary.record_root))),
        verdict,
        "These are the end-to-end verifiable results: the decryption of the encrypted sum "
        "of exactly the valid cast ballots on the public ledger. A risk-limiting audit of "
        "the paper confirms the winners; if it escalates, a full hand count replaces them.",
    ]
    for contest in summary.contests:
        total = sum(n for _, n in contest.votes) or 1
        rows = tuple((label, str(n), f"{100 * n / total:.1f}%",
                      "winner" if label in contest.winners else "")
                     for label, n in contest.votes)
        sections.append(ReportTable(f"{contest.title} ({contest.kind}, {contest.ballots} "
                                    "ballots)", ("Selection", "Votes", "Share", ""), rows,
                                    widths=(3, 1, 1, 1)))
        if contest.note:
            sections.append(contest.note)
    sections.append(ReportTable("Verification", ("Check", "Passed"),
                                tuple((name, str(n)) for name, n in summary.checks)))
    if summary.findings:
        sections += [ReportHeading("Findings"), *summary.findings]
    return ReportDocument("Election results", tuple(sections),
                          reference=f"results, {summary.election.election_id}")


@dataclass(frozen=True, slots=True)
class RemakeRecord:
    """The form kept with a damaged card and its remake (e2e/remake.py)."""

    election: ElectionHeading
    ballot_id: str
    remake: int
    style: str
    reason: str
    original_kept_in: str
    choices: tuple[tuple[str, tuple[str, ...]], ...]  # contest title, choices as read
    board: tuple[str, str]
    ledger_index: int | None = None

    def __post_init__(self) -> None:
        _check_two(self.board, "a remake")


def remake_form(record: RemakeRecord) -> ReportDocument:
    rows = tuple((title, ", ".join(chosen) or "no selection") for title, chosen in record.choices)
    sections: list[ReportSection] = [
        ReportBanner("Remake of a damaged card: new card stamped", f"DUPLICATE {record.remake}"),
        ReportFields("", (*record.election.fields(), ("Ballot ID (original and remake)",
                                                      record.ballot_id),
                          ("Ballot style", record.style), ("Why it was remade", record.reason),
                          ("Original kept in", record.original_kept_in),
                          ("Ledger entry", None if record.ledger_index is None
                           else f"card-remake at index {record.ledger_index}"),
                          ("Board (ledger writers)", " and ".join(record.board)))),
        ReportTable("What the damaged card's printed text says (read by both)",
                    ("Contest", "Choices"), rows, widths=(1, 2)),
        "The remake was printed from the damaged card's text, never from the digital "
        "record. Attach the damaged original to this form and keep both in the container "
        "named above; the remake goes into the batch in the original's place.",
        ReportChecklist("Checked by both", ("The remake's printed text matches the original's",
                                            "The remake is stamped DUPLICATE with this number",
                                            "The original is attached to this form")),
        ReportSignatures("Remade by", ("Official who wrote the ledger entry",
                                       "Second official or auditor")),
    ]
    return ReportDocument(f"Card remake record: DUPLICATE {record.remake}", tuple(sections),
                          reference=f"remake {record.ballot_id} #{record.remake}")
