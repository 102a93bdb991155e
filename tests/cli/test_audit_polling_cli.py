"""The ballot-polling audit through the command line, and the refused option combinations.

An election on the test group without CVRs (``tests.tally.audit_helpers``, in process up
to its results), then the polling audit as separate ``paperchain`` processes: the
ID-level manifest and reconciliation right after the results, ``audit parameters --mode
polling``, the seed, a round and its retrieval list, the board's readings, sign-off, the
risk, the end, the record and ``audit verify``. The option checks need no ledger: a bad
combination is refused before anything is opened. A device run with ``vote cast
--no-cvrs`` keeps and publishes no CVR.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from e2e.errors import StateError
from e2e.group import TEST_GROUP
from e2e.identity import WriterIdentity
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.types import EntryType
from e2e.setup import Role, WriterInfo
from paper.ids import BallotId
from paper.manifest_csv import PlacedEntry, write_manifest_csv
from paper.scan import ManifestEntry
from paperchain.wiring import device_cvrs
from tests.cli.test_audit_cli import _readings, run
from tests.strategies import FAST_KDF, PASSPHRASE
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


@pytest.mark.slow
def test_a_device_run_with_no_cvrs_keeps_and_publishes_none(tmp_path: Path) -> None:
    """``paperchain vote cast --no-cvrs``: the ballot is cast (or challenged) as usual, but
    no CVR is encrypted, stored (no ``cvrs.json``) or published; the choice sticks to the
    device's directory and the opposite one is refused; closing publishes no CVR entry."""
    election = AuditElection.create(tmp_path, without_cvrs=("kiosk-a", "kiosk-b"))
    device = tmp_path / "kiosk-c"
    identity = WriterIdentity.create(device, election_id=election.context.election_id,
                                     writer_id="kiosk-c", role=Role.DEVICE,
                                     passphrase=PASSPHRASE, limits=FAST_KDF, location="Place A")
    election.official.write(EntryType.REGISTER_WRITER, RegisterWriter(
        WriterInfo("kiosk-c", Role.DEVICE, identity.card.key, "Place A")).to_payload())
    election.vote(_ballots(election)[:2])  # opens the polls; kiosks a and b keep no CVRs
    style, choices = _ballots(election)[0]
    (tmp_path / "choices.json").write_text(json.dumps(choices))
    cast = ("vote", "cast", "--device", "kiosk-c", "--ledger", "ledger", "--style", style,
            "--choices", "choices.json")
    statuses = [json.loads(run(*cast, *flags, "--no-cvrs", cwd=tmp_path).stdout)["status"]
                for flags in ((), ("--challenge",), ())]
    assert statuses == ["CAST", "CHALLENGED", "CAST"]
    assert not (device / "cvrs.json").exists()
    assert (device / "no-cvrs").exists()
    forgot = run(*cast, cwd=tmp_path, ok=False)  # the device's choice sticks
    assert forgot.returncode == 2
    assert "runs without CVRs" in forgot.stderr
    assert "Traceback" not in forgot.stderr
    publish = run("vote", "publish-cvrs", "--device", "kiosk-c", "--ledger", "ledger",
                  cwd=tmp_path, ok=False)
    assert publish.returncode == 2
    assert "none to publish" in publish.stderr
    run("vote", "close", "--device", "kiosk-c", "--ledger", "ledger", cwd=tmp_path)
    assert not (device / "cvrs.json").exists()
    kinds = [entry.entry_type for _, entry in election.ledger.entries(0)]
    assert kinds.count(EntryType.BALLOT) == 4
    assert kinds.count(EntryType.DEVICE_CLOSE) == 1
    assert not {EntryType.CVRS, EntryType.CVR_COMMITMENT} & set(kinds)
    help_text = " ".join(run("kiosk", "serve", "--help", cwd=tmp_path).stdout.split())
    assert "--no-cvrs" in help_text
    assert "no per-ballot record of choices exists anywhere" in help_text


def test_a_device_that_kept_cvrs_cannot_go_without(tmp_path: Path) -> None:
    (tmp_path / "cvrs.json").write_text("{}")
    with pytest.raises(StateError, match="already keeps CVRs"):
        device_cvrs(tmp_path, TEST_GROUP, True)
    assert not (tmp_path / "no-cvrs").exists()
    (tmp_path / "cvrs.json").unlink()
    assert device_cvrs(tmp_path, TEST_GROUP, True) is False
    assert device_cvrs(tmp_path, TEST_GROUP, None) is False  # closing follows the directory
    with pytest.raises(StateError, match="pass --no-cvrs"):
        device_cvrs(tmp_path, TEST_GROUP, False)
