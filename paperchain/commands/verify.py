"""``paperchain verify RECORD``: anyone checks a whole election record."""

from __future__ import annotations

import json
from pathlib import Path

import click

from e2e.manifest import Manifest
from e2e.record import RecordReader
from paperchain.commands.common import RichReporter, console, stderr
from paperchain.commands.render import report_json, report_table, results_tables
from paperchain.wiring import open_ledger
from tally.results import Results
from tally.verify import verify_record

__all__ = ["verify"]


@click.command()
@click.argument("record", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--test-group", is_flag=True,
              help="Accept a record on the small test group (refused by default).")
@click.option("--partial", is_flag=True,
              help="Check an election still in progress (no results yet is not a failure).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--ledger", "ledger_spec",
              help="Also check that the record and this live ledger (service URL or "
                   "directory) agree entry for entry, and that the ledger extends the "
                   "record's final head.")
def verify(record: Path, test_group: bool, partial: bool, as_json: bool,
           ledger_spec: str | None) -> None:
    """Check every claim an election record makes, from the record alone.

    \b
    Recomputes H_B and H_E, checks the key ceremony (proofs, complaints, signatures),
    every ballot (group elements, proofs, style, device signature and chain, no α
    used twice), every challenged ballot (re-encryption), the tally (exactly the valid
    cast ballots), every decryption share (keys derived from the commitments, Lagrange
    computed here, counts bounded), the record's Merkle root, and every signed head
    (operator signature, k-of-n witness cosignatures, root, strictly increasing time).

    Exits 0 when everything verifies, 1 when anything fails (each failure is named
    with its place in the ledger).
    """
    reporter = RichReporter()
    total = RecordReader(record).summary.entries
    with reporter.progress("Verifying", total) as advance:
        live = None if ledger_spec is None else open_ledger(ledger_spec)[0]
        report = verify_record(record, allow_test_group=test_group, require_results=not partial,
                               progress=lambda _: advance(1), ledger=live)
    if as_json:
        console.print_json(json.dumps(report_json(report)))
    else:
        stderr.print(report_table(report))
        manifest = report.facts.get("manifest")
        results = report.facts.get("results")
        per_contest = report.facts.get("ballots_per_contest")
        if isinstance(manifest, Manifest) and isinstance(results, Results) and isinstance(
                per_contest, dict):
            for table in results_tables(manifest, results, per_contest):
                console.print(table)
        verdict = "[bold green]VERIFIED[/]" if report.ok else (
            f"[bold red]NOT VERIFIED[/]: {len(report.findings)} finding(s)")
        stderr.print(verdict)
    if not report.ok:
        raise SystemExit(1)
