"""The audit through the command line, as its roles would run it, on real files.

An election on the test group with two kiosks and ten voters, run in process up to its
results and CVRs (``tests.tally.audit_helpers``; the election's own commands are
``tests.cli.test_election_cli``'s), then every step of the audit as a separate
``paperchain`` process: CVRs, equality proofs, the ID-level manifest (the CSV
``paperchain scan`` writes) and reconciliation, two auditors, parameters, a refused short
seed, the seed, a round with its retrieval list, the board's readings (a malformed file
refused first), sign-off, decryption, risk, the end, the certified hand count, the
record, ``audit verify``, the exports and the report.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from paper.ids import BallotId
from paper.manifest_csv import PlacedEntry, write_manifest_csv
from paper.scan import ManifestEntry
from tests.strategies import PASSPHRASE
from tests.tally.audit_helpers import KIOSKS, AuditElection, Card

pytestmark = pytest.mark.slow

MANIFEST = Path(__file__).resolve().parents[2] / "e2e" / "data" / "demo_manifest.json"
ELECTION = json.loads(MANIFEST.read_bytes())["election_id"]


def run(*args: str, ok: bool = True, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAPERCHAIN_PASSPHRASE": PASSPHRASE.decode()}
    done = subprocess.run([sys.executable, "-m", "paperchain", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600, check=False)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stderr}"
    return done


def _ballots(election: AuditElection) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = election.context.manifest
    out = []
    for n in range(10):
        style = manifest.ballot_styles[n % 2]
        out.append((style.id, {c.id: [c.selections[n % 3 == 0].id]
                               for _, c in manifest.contests_of_style(style.id)}))
    return out


def _readings(tmp: Path, retrieval: Path, cards: dict[bytes, Card],
              rows: list[PlacedEntry]) -> Path:
    """The board's readings of the retrieval list's cards: their printed choices."""
    where = {(r.entry.batch, r.entry.position): r.entry.ballot_id for r in rows}
    manifest = json.loads(MANIFEST.read_bytes())
    with retrieval.open() as handle:
        listed = list(csv.DictReader(handle))
    readings = []
    for row in listed:
        if row["Phantom"] == "Y":
            continue
        ballot_id = where[(row["Batch Name"], int(row["Ballot Position"]))]
        card = cards[ballot_id.value]
        readings.append({
            "round": 1, "batch": row["Batch Name"], "position": int(row["Ballot Position"]),
            "ballot_id": str(ballot_id), "condition": "ok",
            "contests": {c["id"]: ({"reading": "votes", "votes": sorted(card.choices[c["id"]])}
                                   if card.choices.get(c["id"]) else {"reading": "blank"})
                         for c in manifest["contests"] if c["id"] in card.choices}})
    path = tmp / "readings.json"
    path.write_text(json.dumps({"version": 1, "readings": readings}))
    return path


def test_audit_through_the_cli(tmp_path: Path) -> None:
    tmp = tmp_path
    election = AuditElection.create(tmp)  # up to the results and the CVRs, in process
    election.vote(_ballots(election))
    election.close_and_tally()
    election.publish_cvrs()
    for i in (1, 3):
        run("audit", "cvr-equality-share", "--trustee", f"trustee-{i}", "--ledger", "ledger",
            cwd=tmp)
    run("audit", "cvr-equality", "--official", "official", "--ledger", "ledger", cwd=tmp)
    cards = {c.ballot_id: c for c in election.cards}
    rows = [PlacedEntry(ManifestEntry("Box 1", n, BallotId(c.ballot_id), frozenset(),
                                      f"scan.pdf:{n}", False, c.style_id), KIOSKS[0][1])
            for n, c in enumerate(c for c in election.cards if c.device_id == "kiosk-a")]
    rows = [PlacedEntry(replace(r.entry, position=n), r.polling_place)
            for n, r in enumerate(rows, start=1)]
    rows += [PlacedEntry(ManifestEntry("Box 2", n, BallotId(c.ballot_id), frozenset(),
                                       f"scan2.pdf:{n}", False, c.style_id), KIOSKS[1][1])
             for n, c in enumerate((c for c in election.cards if c.device_id == "kiosk-b"),
                                   start=1)]
    (tmp / "manifest.csv").write_text(write_manifest_csv(rows))
    places = [{"polling_place": p.polling_place, "check_ins": p.check_ins,
               "spoiled_envelope": p.spoiled_envelope, "explanation": ""}
              for p in election.places()]
    places[0]["check_ins"] += 1
    (tmp / "inputs.json").write_text(json.dumps({"version": 1, "note": "", "places": places}))
    done = run("audit", "reconcile", "--official", "official", "--ledger", "ledger",
               "--manifest", "manifest.csv", "--inputs", "inputs.json", cwd=tmp)
    assert "check-ins" in done.stdout
    run("audit", "auditor-init", "--dir", "auditor-3", "--election-id", ELECTION,
        "--writer-id", "auditor-3", cwd=tmp)
    run("audit", "register-auditor", "--official", "official", "--ledger", "ledger",
        "--auditor", "auditor-3", cwd=tmp)
    run("audit", "parameters", "--auditor", "auditor-1", "--ledger", "ledger",
        "--risk-limit", "0.1", cwd=tmp)
    short = run("audit", "seed", "--auditor", "auditor-1", "--ledger", "ledger", "--seed",
                "12345", "--rolled-by", "Ann", cwd=tmp, ok=False)
    assert short.returncode == 2
    assert "at least 20" in short.stderr
    run("audit", "seed", "--auditor", "auditor-1", "--ledger", "ledger", "--seed",
        "31415926535897932384626", "--rolled-by", "Ann", "--rolled-by", "Bo", cwd=tmp)
    run("audit", "round", "--auditor", "auditor-1", "--ledger", "ledger", "--size", "4",
        "--retrieval-list", "round-1.csv", cwd=tmp)
    bad = tmp / "bad.json"
    bad.write_text('{"version": 1, "readings": [{"round": 1}]}')
    refused = run("audit", "read", "--auditor", "auditor-1", "--cosigner", "auditor-3",
                  "--ledger", "ledger", "--readings", "bad.json", cwd=tmp, ok=False)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    readings = _readings(tmp, tmp / "round-1.csv", cards, rows)
    run("audit", "read", "--auditor", "auditor-1", "--cosigner", "auditor-3", "--ledger",
        "ledger", "--readings", str(readings), cwd=tmp)
    run("audit", "sign-off", "--auditor", "auditor-1", "--cosigner", "auditor-3", "--ledger",
        "ledger", cwd=tmp)
    for i in (1, 3):
        run("audit", "decrypt", "--trustee", f"trustee-{i}", "--ledger", "ledger", cwd=tmp)
    run("audit", "combine", "--auditor", "auditor-1", "--ledger", "ledger", cwd=tmp)
    risk = run("audit", "risk", "--auditor", "auditor-1", "--ledger", "ledger",
               "--decision", "escalate", cwd=tmp)
    assert "Decision: escalate" in risk.stderr
    run("audit", "end", "--auditor", "auditor-1", "--ledger", "ledger", cwd=tmp)
    manifest = election.context.manifest
    counts = {c.id: {s.id: sum(1 for card in election.cards
                               if s.id in card.choices.get(c.id, ())) for s in c.selections}
              for c in manifest.contests}
    (tmp / "hand.json").write_text(json.dumps({"version": 1, "counts": counts,
                                               "certified_by": ["Canvass board"],
                                               "certified_at": "2026-11-12", "note": ""}))
    run("audit", "hand-count", "--official", "official", "--ledger", "ledger", "--counts",
        "hand.json", cwd=tmp)
    run("ledger", "export", "--ledger", "ledger", "--out", "record", cwd=tmp)
    verified = run("audit", "verify", "record", "--test-group", "--json", cwd=tmp)
    result = json.loads(verified.stdout)
    assert result["ok"] is True, result["findings"]
    assert result["summary"]["outcome"] == "full-hand-count"
    assert result["checks"]["tickets recomputed from the seed and the manifest"] == 4
    run("audit", "export", "--record", "record", "--test-group", "--out", "exports", cwd=tmp)
    exported = {p.name for p in (tmp / "exports").iterdir()}
    assert {"batch-manifest.csv", "audit-record.json", "audit-record.csv",
            "sampled-cvrs-nist-1500-103.json", "sampled-cvrs-dominion.csv"} <= exported
    assert (tmp / "exports" / "batch-manifest.csv").read_text().startswith(
        "Batch Name,Number of Ballots")
    run("audit", "report", "--record", "record", "--test-group", "--out", "report", cwd=tmp)
    assert (tmp / "report" / "report.pdf").read_bytes().startswith(b"%PDF")
