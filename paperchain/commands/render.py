"""Tables people would rather look at than read: results and verification reports."""

from __future__ import annotations

from rich.table import Table

from e2e.manifest import Manifest
from e2e.verify import VerificationReport
from tally.results import Results, contest_results

__all__ = ["report_json", "report_table", "results_tables"]


def results_tables(manifest: Manifest, results: Results, ballots_per_contest: dict[int, int],
                   language: str = "en") -> list[Table]:
    tables = []
    for contest in contest_results(manifest, results, ballots_per_contest, language):
        table = Table(title=f"{contest.title} ({contest.kind}, {contest.ballots} ballots)",
                      title_justify="left")
        table.add_column("Selection")
        table.add_column("Votes", justify="right")
        table.add_column("Share", justify="right")
        table.add_column("")
        total = sum(v for _, v in contest.votes) or 1
        for label, votes in contest.votes:
            mark = "winner" if label in contest.winners else ""
            table.add_row(label, str(votes), f"{100 * votes / total:.1f}%", mark)
        if contest.note:
            table.caption = contest.note
        tables.append(table)
    return tables


def report_table(report: VerificationReport) -> Table:
    table = Table(title="Verification", title_justify="left")
    table.add_column("Check")
    table.add_column("Passed", justify="right")
    for name, count in report.checks.items():
        table.add_row(name, str(count))
    for finding in report.findings:
        table.add_row(f"[bold red]FAILED[/] {finding.where}", finding.problem)
    return table


def report_json(report: VerificationReport) -> dict[str, object]:
    facts = {k: v for k, v in report.facts.items()
             if isinstance(v, str | int | float | bool | dict)}
    results = report.facts.get("results")
    if isinstance(results, Results):
        facts["results"] = [{"contest": c, "selection": s, "count": n}
                            for c, s, _, n in results.counts]
    return {"ok": report.ok, "checks": report.checks,
            "findings": [{"where": f.where, "problem": f.problem} for f in report.findings],
            "facts": facts}
