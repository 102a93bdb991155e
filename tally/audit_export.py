"""Exports of the audit: Arlo's batch manifest, the audit record, plaintext CVRs.

* ``batch_manifest_csv``: the paper manifest's batches as Arlo's ballot-manifest CSV
  (``tally.batch_manifest``: ``Batch Name``, ``Number of Ballots``, ``Container``);
* ``audit_record_csv``: one row per (draw, assertion) — ticket, card, ω, the
  overstatement assorter's value, the discrepancy, the risk after it;
* ``nist_cvr_report`` / ``dominion_cvr_csv``: plaintext CVRs as NIST SP 1500-103 JSON
  (the CastVoteRecordReport of the NIST CVR common data format, v1.0) and as the
  Dominion-style CSV Arlo reads for ballot-comparison audits.

**Plaintext CVRs and privacy (a documented trade-off).** Paperchain decrypts only the
sampled cards' CVRs, whose paper the audit board reads in public anyway, so by default
these exports hold the sampled CVRs alone. An election whose policy is to publish every
plaintext CVR (to run Arlo, or to let anyone recount the CVRs) has the trustees decrypt
every CVR on the ledger (``tally.cvr_plaintext``); once every CVR is decrypted and
verified, the exports also hold all of them (``cvrs-nist-1500-103.json``,
``cvrs-dominion.csv``). Then each CVR is published with its ballot ID, and a voter who
noted the ID printed on their card can point to their own vote in the published file: the
ballot ID becomes a receipt of the vote, which a coercer or vote buyer can demand. The
tracking code still links to nothing, but the ID alone is enough. This module never
decrypts anything: it formats what the verified ledger holds.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.keystore import atomic_write
from e2e.manifest import ContestKind, Manifest
from tally.batch_manifest import Batch, BatchManifest, format_batch_manifest_csv
from tally.reconcile import PaperBatch

__all__ = [
    "PlaintextCvr",
    "audit_record_csv",
    "batch_manifest_csv",
    "dominion_cvr_csv",
    "nist_cvr_report",
    "published_plaintext_cvrs",
    "sampled_plaintext_cvrs",
    "write_exports",
]


@dataclass(frozen=True, slots=True)
class PlaintextCvr:
    """A decrypted CVR: per contest on its style, the selection IDs it marks. ``batch`` and
    ``position`` say where its paired card is (None if no card pairs with it)."""

    ballot_id: str  # the printed form
    device_id: str
    style_id: str
    votes: Mapping[str, frozenset[str]]
    batch: str | None = None
    position: int | None = None


def batch_manifest_csv(batches: Sequence[PaperBatch]) -> str:
    """Arlo's ballot manifest: one row per batch, its scanned card count and container."""
    return format_batch_manifest_csv(BatchManifest(tuple(
        Batch(b.name, len(b.cards), b.container) for b in batches)))


def audit_record_csv(report: Mapping[str, Any]) -> str:
    """One row per (draw, assertion) the draw is in, from an audit report's JSON form."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Draw", "Ticket Number", "Batch Name", "Ballot Position", "Card",
                     "Contest", "Assertion", "Overstatement", "Assorter Value", "Discrepancy",
                     "Risk After"])
    draws = {d["draw"]: d for d in report.get("draws", [])}
    for assertion in report.get("assertions", []):
        history = assertion["p_history"]
        for n, item in enumerate(assertion["draws_evaluated"]):
            draw = draws[item["draw"]]
            polling = "vote" in item  # ballot polling: no overstatement; the paper's vote
            writer.writerow([draw["draw"], draw["ticket_number"], draw["batch"],
                             draw["position"], draw["card"], assertion["contest"],
                             assertion["assertion"], "" if polling else repr(item["omega"]),
                             repr(item["value"]), item["vote" if polling else "discrepancy"],
                             repr(history[n]) if n < len(history) else ""])
    return out.getvalue()


def _selection_key(contest_id: str, selection_id: str) -> str:
    return f"{contest_id}--{selection_id}"


def nist_cvr_report(manifest: Manifest, cvrs: Sequence[PlaintextCvr], *, generated: str,
                    software: str) -> dict[str, Any]:
    """A NIST SP 1500-103 CastVoteRecordReport (JSON), one ``CVR`` per plaintext CVR."""
    contests, candidates = [], []
    for contest in manifest.contests:
        measure = contest.kind is ContestKind.SUPERMAJORITY
        selections = []
        for s in contest.selections:
            if measure:
                selections.append({"@id": _selection_key(contest.id, s.id),
                                   "@type": "CVR.BallotMeasureSelection",
                                   "Selection": s.label.english})
            else:
                selections.append({"@id": _selection_key(contest.id, s.id),
                                   "@type": "CVR.CandidateSelection", "CandidateIds": [s.id]})
                candidates.append({"@id": s.id, "@type": "CVR.Candidate",
                                   "Name": s.label.english})
        contests.append({
            "@id": contest.id,
            "@type": "CVR.BallotMeasureContest" if measure else "CVR.CandidateContest",
            "Name": contest.title.english, "VotesAllowed": contest.vote_for,
            "ContestSelection": selections})
    devices = sorted({c.device_id for c in cvrs})
    records = []
    for cvr in cvrs:
        snapshot = f"{cvr.ballot_id}-original"
        cvr_contests = []
        for contest_id, chosen in cvr.votes.items():
            contest = manifest.contest(contest_id)
            cvr_contests.append({
                "@type": "CVR.CVRContest", "ContestId": contest_id,
                "CVRContestSelection": [{
                    "@type": "CVR.CVRContestSelection",
                    "ContestSelectionId": _selection_key(contest_id, s.id),
                    "SelectionPosition": [{"@type": "CVR.SelectionPosition",
                                           "HasIndication": "yes", "IsAllocable": "yes",
                                           "NumberVotes": 1}]}
                    for s in contest.selections if s.id in chosen],
                "Undervotes": contest.vote_for - len(chosen)})
        records.append({
            "@type": "CVR.CVR", "BallotStyleId": cvr.style_id, "UniqueId": cvr.ballot_id,
            "CreatingDeviceId": cvr.device_id, "ElectionId": manifest.election_id,
            "CurrentSnapshotId": snapshot,
            "CVRSnapshot": [{"@id": snapshot, "@type": "CVR.CVRSnapshot", "Type": "original",
                             "CVRContest": cvr_contests}]})
    return {
        "@type": "CVR.CastVoteRecordReport", "Version": "1.0.0", "GeneratedDate": generated,
        "ReportGeneratingDeviceIds": devices,
        "ReportingDevice": [{"@id": d, "@type": "CVR.ReportingDevice",
                             "Application": software} for d in devices],
        "GpUnit": [{"@id": "jurisdiction", "@type": "CVR.GpUnit", "Type": "other",
                    "Name": manifest.jurisdiction.english}],
        "Election": [{"@id": manifest.election_id, "@type": "CVR.Election",
                      "Name": manifest.name.english, "ElectionScopeId": "jurisdiction",
                      "Contest": contests, "Candidate": candidates}],
        "CVR": records,
    }


def dominion_cvr_csv(manifest: Manifest, cvrs: Sequence[PlaintextCvr], *, software: str,
                     places: Mapping[str, str] | None = None) -> str:
    """Dominion's CVR export layout, as Arlo reads it: four header rows (election and
    version; contest per column with "(Vote For=k)"; selection names; the record
    columns), then one row per CVR with 1/0 per selection, blank for a contest not on its
    style. ``TabulatorNum`` is "1" (one manifest, no tabulators), ``BatchId`` and
    ``RecordId`` the paired card's batch and position, ``ImprintedId`` the ballot ID."""
    places = places or {}
    record_columns = ["CvrNumber", "TabulatorNum", "BatchId", "RecordId", "ImprintedId",
                      "CountingGroup", "PrecinctPortion", "BallotType"]
    blank = [""] * len(record_columns)
    columns = [(c, s) for c in manifest.contests for s in c.selections]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([manifest.name.english, software] + [""] * (len(record_columns) - 2
                                                                 + len(columns)))
    writer.writerow(blank + [f"{c.title.english} (Vote For={c.vote_for})" for c, _ in columns])
    writer.writerow(blank + [s.label.english for _, s in columns])
    writer.writerow(record_columns + [""] * len(columns))
    for number, cvr in enumerate(cvrs, start=1):
        row = [str(number), "1", cvr.batch or "", "" if cvr.position is None else
               str(cvr.position), cvr.ballot_id, "Election Day",
               places.get(cvr.device_id, ""), cvr.style_id]
        for contest, selection in columns:
            chosen = cvr.votes.get(contest.id)
            row.append("" if chosen is None else ("1" if selection.id in chosen else "0"))
        writer.writerow(row)
    return out.getvalue()


def sampled_plaintext_cvrs(manifest: Manifest, decrypted: Mapping[bytes, Any],
                           pairs: Mapping[bytes, tuple[str, int]],
                           devices: Mapping[bytes, tuple[str, str]],
                           printed: Callable[[bytes], str]) -> list[PlaintextCvr]:
    """The CVRs the audit decrypted (only those), with their cards' places."""
    out = []
    for ballot_id in sorted(decrypted):
        cvr = decrypted[ballot_id]
        votes: dict[str, set[str]] = {}
        for contest_index, selection, _, count in cvr.counts:
            contest = manifest.contests[contest_index]
            chosen = votes.setdefault(contest.id, set())
            if count:
                chosen.add(contest.selections[selection].id)
        device, style = devices[ballot_id]
        batch, position = pairs.get(ballot_id, (None, None))
        out.append(PlaintextCvr(printed(ballot_id), device, style,
                                {c: frozenset(v) for c, v in votes.items()}, batch, position))
    return out


def published_plaintext_cvrs(manifest: Manifest, plaintexts: Mapping[bytes, Any],
                             infos: Mapping[bytes, Any], pairs: Mapping[bytes, tuple[str, int]],
                             printed: Callable[[bytes], str]) -> list[PlaintextCvr]:
    """Every CVR the trustees decrypted for publication (``tally.cvr_plaintext``), sorted
    by ballot ID (never cast order), each contest of its style with its marks."""
    out = []
    for ballot_id in sorted(plaintexts):
        info = infos[ballot_id]
        marks = plaintexts[ballot_id]
        votes = {manifest.contests[i].id: frozenset(
            manifest.contests[i].selections[j].id for c, j in marks if c == i)
            for i in info.contests}
        batch, position = pairs.get(ballot_id, (None, None))
        out.append(PlaintextCvr(printed(ballot_id), info.device_id, info.style_id, votes,
                                batch, position))
    return out


def write_exports(view: Any, report: Mapping[str, Any], directory: Path,
                  printed: Callable[[bytes], str] = bytes.hex) -> list[Path]:
    """Every export of a verified audit (``tally.audit_workflow.AuditLedger``) into
    ``directory``: batch-manifest.csv, audit-record.json, audit-record.csv, the sampled
    CVRs as NIST SP 1500-103 JSON and Dominion CSV, and — only where the trustees decrypted
    every CVR for publication — all CVRs in both forms. ``printed`` gives a ballot ID's
    printed form (``paper.ids``; the app layer passes it: ``tally`` imports no ``paper``)."""
    from tally.cvr import CvrChecker
    from tally.cvr_plaintext import PlaintextChecker

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = view.state
    written = []

    def put(name: str, data: bytes) -> None:
        atomic_write(directory / name, data)
        written.append(directory / name)

    if state.manifest_batches:
        put("batch-manifest.csv", batch_manifest_csv(state.manifest_batches).encode())
    put("audit-record.json", (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    put("audit-record.csv", audit_record_csv(report).encode())
    context = view.verifier.context
    if context is not None and state.population is not None:
        infos = view.verifier.checker(CvrChecker).cvrs
        pairs = {p.cvr: (p.batch, p.position) for p in state.population.pairs
                 if p.cvr is not None}
        devices = {b: (i.device_id, i.style_id) for b, i in infos.items()}
        places = {w.writer_id: w.location for w in view.verifier.state.writers.values()}
        cvrs = sampled_plaintext_cvrs(context.manifest, state.decrypted, pairs, devices,
                                      printed)
        software = str(report.get("parameters", {}).get("software", "paperchain"))
        generated = state.seed.rolled_at if state.seed is not None else ""
        put("sampled-cvrs-nist-1500-103.json", (json.dumps(
            nist_cvr_report(context.manifest, cvrs, generated=generated, software=software),
            indent=1) + "\n").encode())
        put("sampled-cvrs-dominion.csv", dominion_cvr_csv(
            context.manifest, cvrs, software=software, places=places).encode())
        plaintext = view.verifier.checker(PlaintextChecker)
        if plaintext.complete(view.verifier):
            every = published_plaintext_cvrs(context.manifest, plaintext.plaintexts, infos,
                                             pairs, printed)
            put("cvrs-nist-1500-103.json", (json.dumps(
                nist_cvr_report(context.manifest, every, generated=generated,
                                software=software), indent=1) + "\n").encode())
            put("cvrs-dominion.csv", dominion_cvr_csv(
                context.manifest, every, software=software, places=places).encode())
    return written
