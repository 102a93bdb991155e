"""The ballot-polling audit through the command line, and the refused option combinations.

An election on the test group without CVRs (``tests.tally.audit_helpers``, in process up
to its results), then the polling audit as separate ``paperchain`` processes: the
ID-level manifest and reconciliation right after the results, ``audit parameters --mode
polling``, the seed, a round and its retrieval list, the board's readings, sign-off, the
risk, the end, the record and ``audit verify``. The option checks need no ledger: a bad
combination is refused before anything is opened.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from paper.ids import BallotId
from paper.manifest_csv import PlacedEntry, write_manifest_csv
from paper.scan import ManifestEntry
from tests.cli.test_audit_cli import _readings, run
from tests.tally.audit_helpers import KIOSKS, AuditElection


def _ballots(election: AuditElection) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = election.context.manifest
    out = []
    for n in range(12):
        style = manifest.ballot_styles[n % 2]
        out.append((style.id, {c.id: [c.selections[0].id, c.selections[1].id][:c.vote_for]
                               for _, c in manifest.contests_of_style(style.id)}))
    return out


@pytest.mark.slow
def test_polling_audit_through_the_cli(tmp_path: Path) -> None:
    tmp = tmp_path
    election = AuditElection.create(tmp)
    election.vote(_ballots(election))
    election.close_and_tally()  # no CVRs: straight to the paper
    cards = {c.ballot_id: c for c in election.cards}
    rows = []
    for box, (device, place) in enumerate(KIOSKS, start=1):
        mine = [c for c in election.cards if c.device_id == device]
        rows += [PlacedEntry(ManifestEntry(f"Box {box}", n, BallotId(c.ballot_id), frozenset(),
                                           f"scan{box}.pdf:{n}", False, c.style_id), place)
                 for n, c in enumerate(mine, start=1)]
    (tmp / "manifest.csv").write_text(write_manifest_csv(rows))
    places = [{"polling_place": p.polling_place, "check_ins": p.check_ins,
               "spoiled_envelope": p.spoiled_envelope, "explanation": ""}
              for p in election.places()]
    (tmp / "inputs.json").write_text(json.dumps({"version": 1, "note": "", "places": places}))
    early = run("audit", "reconcile", "--official", "official", "--ledger", "ledger",
                "--manifest", "manifest.csv", "--inputs", "inputs.json", cwd=tmp, ok=False)
    assert early.returncode != 0
    assert "not combined yet" in early.stderr  # the comparison road, unless told otherwise
    run("audit", "reconcile", "--official", "official", "--ledger", "ledger",
        "--manifest", "manifest.csv", "--inputs", "inputs.json", "--without-cvrs", cwd=tmp)
    comparison = run("audit", "parameters", "--auditor", "auditor-1", "--ledger", "ledger",
                     cwd=tmp, ok=False)
    assert comparison.returncode != 0
    assert "--mode polling" in comparison.stderr
    assert "Traceback" not in comparison.stderr
    done = run("audit", "parameters", "--auditor", "auditor-1", "--ledger", "ledger",
               "--mode", "polling", "--risk-limit", "0.1", cwd=tmp)
    assert "polling, bravo" in done.stderr
    run("audit", "seed", "--auditor", "auditor-1", "--ledger", "ledger", "--seed",
        "31415926535897932384626", "--rolled-by", "Ann", "--rolled-by", "Bo", cwd=tmp)
    run("audit", "round", "--auditor", "auditor-1", "--ledger", "ledger", "--size", "5",
        "--retrieval-list", "round-1.csv", cwd=tmp)
    readings = _readings(tmp, tmp / "round-1.csv", cards, rows)
    run("audit", "read", "--auditor", "auditor-1", "--cosigner", "auditor-2", "--ledger",
        "ledger", "--readings", str(readings), cwd=tmp)
    run("audit", "sign-off", "--auditor", "auditor-1", "--cosigner", "auditor-2", "--ledger",
        "ledger", cwd=tmp)
    risk = run("audit", "risk", "--auditor", "auditor-1", "--ledger", "ledger",
               "--decision", "escalate", cwd=tmp)
    assert "winner" in risk.stdout
    assert "Decision: escalate" in risk.stderr
    run("audit", "end", "--auditor", "auditor-1", "--ledger", "ledger", cwd=tmp)
    run("ledger", "export", "--ledger", "ledger", "--out", "record", cwd=tmp)
    verified = run("audit", "verify", "record", "--test-group", "--json", cwd=tmp)
    result = json.loads(verified.stdout)
    assert result["ok"] is True, result["findings"]
    assert result["summary"]["outcome"] == "full-hand-count"
    assert result["checks"]["tickets recomputed from the seed and the manifest"] == 5
    run("audit", "report", "--record", "record", "--test-group", "--out", "report", cwd=tmp)
    assert (tmp / "report" / "report.pdf").read_bytes().startswith(b"%PDF")
    report = json.loads((tmp / "report" / "report.json").read_text())
    assert report["parameters"]["mode"] == "polling"
    assert {"winner_draws", "loser_draws"} <= set(report["assertions"][0])
    votes = {d["vote"] for a in report["assertions"] for d in a["draws_evaluated"]}
    assert votes <= {"winner", "loser", "neither"}
    assert "winner" in votes
    run("audit", "export", "--record", "record", "--test-group", "--out", "exports", cwd=tmp)
    with (tmp / "exports" / "audit-record.csv").open() as handle:
        record_rows = list(csv.DictReader(handle))
    assert len(record_rows) == sum(a["draws"] for a in report["assertions"])
    assert {r["Discrepancy"] for r in record_rows} <= {"winner", "loser", "neither"}
    assert {r["Overstatement"] for r in record_rows} == {""}
    assert (tmp / "exports" / "batch-manifest.csv").read_text().startswith(
        "Batch Name,Number of Ballots")


@pytest.mark.parametrize(("options", "message"), [
    (("--mode", "polling", "--gamma", "1.1"), "--gamma is a comparison"),
    (("--mode", "polling", "--risk-function", "kaplan-markov"), "use bravo or alpha"),
    (("--mode", "polling", "--risk-function", "alpha"), "needs --eta explicit"),
    (("--mode", "polling", "--eta", "0.6"), "--eta is ALPHA's"),
    (("--mode", "polling", "--risk-function", "alpha", "--eta", "0.4"), "above 1/2"),
    (("--mode", "polling", "--risk-function", "alpha", "--eta", "lots"), "'reported' or a"),
    (("--risk-function", "bravo"), "add --mode polling"),
    (("--eta", "reported"), "--mode polling"),
])
def test_parameters_refuse_bad_combinations_before_opening_anything(
        tmp_path: Path, options: tuple[str, ...], message: str) -> None:
    done = run("audit", "parameters", "--ledger", str(tmp_path / "no-ledger"), "--auditor",
               str(tmp_path), *options, cwd=tmp_path, ok=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_parameters_help_teaches_the_polling_mode(tmp_path: Path) -> None:
    done = run("audit", "parameters", "--help", cwd=tmp_path)
    text = " ".join(done.stdout.split())
    for phrase in ("--mode [comparison|polling]", "BRAVO", "--eta", "'reported'",
                   "against the verified tally", "the worst case"):
        assert phrase in text, phrase
