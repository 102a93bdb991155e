"""``paperchain demo``: run a whole election on this machine with embedded defaults."""

from __future__ import annotations

from pathlib import Path

import click

from paperchain.commands.common import RichReporter, console, stderr
from paperchain.commands.render import report_table, results_tables
from paperchain.demo import DemoConfig, run_demo

__all__ = ["demo"]


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="An empty (or new) directory for every role's files and the public record.")
@click.option("--voters", type=click.IntRange(1, 100_000), default=300, show_default=True,
              help="How many simulated voters cast a ballot.")
@click.option("--test-group", is_flag=True,
              help="Use the small test group (fast, NOT secure); verify with --test-group.")
@click.option("--seed", type=int, default=2026, show_default=True,
              help="Seed of the simulated voters' choices (never of any cryptographic value).")
@click.option("--tamper", type=click.Choice(["paper", "cvr"]),
              help="paper: forge printed cards in the sealed batches (same ballot ID and QR "
                   "code, another choice printed: OUT/paper/boxes) so a contest's hand-count "
                   "winner flips; the audit board reads those pages and must not confirm it. "
                   "cvr: make a kiosk's CVR lie (the record fails verification on the CVR "
                   "equality proof; comparison audits only).")
@click.option("--audit-mode", type=click.Choice(["comparison", "polling"]),
              default="comparison", show_default=True,
              help="comparison: the kiosks keep encrypted CVRs and the audit compares each "
                   "sampled card with its CVR. polling: the kiosks run without CVRs (no "
                   "per-ballot record of choices exists anywhere: the privacy mode), the "
                   "reconciliation says so (--without-cvrs) and a BRAVO ballot-polling audit "
                   "samples the paper against the verified tally (more cards read).")
def demo(out: Path, voters: int, test_group: bool, seed: int, tamper: str | None,
         audit_mode: str) -> None:
    """Run a whole election end to end: ceremony, voting, challenges, tally, verification.

    \b
    Three trustees (threshold 2) run the key ceremony over the ledger; three kiosks in
    two polling places take the voters, some of whom challenge a ballot and check it
    before casting; the polls close; trustees 1 and 3 decrypt the tally while trustee 2
    stays away; a comparison audit at a 5% risk limit checks the results against the
    paper (report in OUT/audit); the public record lands in OUT/record and is verified.
    With --audit-mode polling the kiosks keep no CVRs and the audit polls the paper.

    Check it yourself afterwards:  paperchain verify OUT/record
                                   paperchain audit verify OUT/record
    """
    outcome = run_demo(DemoConfig(out=out, voters=voters, test_group=test_group, seed=seed,
                                  tamper=tamper, audit_mode=audit_mode), RichReporter())
    stderr.print(report_table(outcome.report))
    per_contest = outcome.report.facts.get("ballots_per_contest")
    for table in results_tables(outcome.context.manifest, outcome.results,
                                per_contest if isinstance(per_contest, dict) else {}):
        console.print(table)
    audit = outcome.audit
    if audit is not None:
        risks = ", ".join(f"{c} {p:.4f}" for c, p in audit.contests.items())
        stderr.print(f"Audit: {audit.outcome} after {audit.rounds} round(s), {audit.draws} "
                     f"draws, {audit.cards_read} cards read" + (f"; risk {risks}" if risks
                                                               else ""))
        for note in audit.notes:
            stderr.print(f"  {note}")
    if outcome.report.ok:
        stderr.print(f"[bold green]VERIFIED[/]: {outcome.cast} ballots cast, "
                     f"{outcome.challenged} challenged. Record: {outcome.record}")
    else:
        stderr.print(f"[bold red]NOT VERIFIED[/]: {len(outcome.report.findings)} finding(s)")
        raise SystemExit(1)
