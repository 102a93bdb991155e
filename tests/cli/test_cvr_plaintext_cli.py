"""Publishing every plaintext CVR through the command line: the trustees' command is
refused without the explicit acceptance that ballot IDs become receipts (nothing
written), then two trustees decrypt every CVR, the record is exported and verified, and
``paperchain audit export`` writes all CVRs as NIST SP 1500-103 JSON and Dominion CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from paper.ids import BallotId
from tests.cli.test_audit_cli import _ballots, run
from tests.tally.audit_helpers import AuditElection

pytestmark = pytest.mark.slow


def test_plaintext_cvrs_published_and_exported_through_the_cli(tmp_path: Path) -> None:
    tmp = tmp_path
    election = AuditElection.create(tmp)
    election.vote(_ballots(election))
    election.close_and_tally()
    election.publish_cvrs()
    assert election.prove_equality() == []
    election.reconcile()
    size = election.ledger.size()
    refused = run("audit", "cvr-plaintext-share", "--trustee", "trustee-1", "--ledger",
                  "ledger", cwd=tmp, ok=False)
    assert refused.returncode == 2
    assert "--accept-ballot-ids-as-receipts" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert election.ledger.size() == size
    for i in (1, 3):
        done = run("audit", "cvr-plaintext-share", "--trustee", f"trustee-{i}", "--ledger",
                   "ledger", "--accept-ballot-ids-as-receipts", cwd=tmp)
        assert "Published 2 plaintext share entries" in done.stderr  # one chunk per kiosk
    again = run("audit", "cvr-plaintext-share", "--trustee", "trustee-1", "--ledger",
                "ledger", "--accept-ballot-ids-as-receipts", cwd=tmp)
    assert "Published 0 plaintext share entries" in again.stderr
    run("ledger", "export", "--ledger", "ledger", "--out", "record", cwd=tmp)
    verified = run("verify", "record", "--test-group", "--json", cwd=tmp)
    facts = json.loads(verified.stdout)
    assert facts["ok"] is True, facts
    run("audit", "export", "--record", "record", "--test-group", "--out", "exports", cwd=tmp)
    nist = json.loads((tmp / "exports" / "cvrs-nist-1500-103.json").read_text())
    cards = {str(BallotId(c.ballot_id)): c for c in election.cards}
    assert sorted(r["UniqueId"] for r in nist["CVR"]) == sorted(cards)
    for record in nist["CVR"]:
        card = cards[record["UniqueId"]]
        for contest in record["CVRSnapshot"][0]["CVRContest"]:
            chosen = {s["ContestSelectionId"].split("--", 1)[1]
                      for s in contest["CVRContestSelection"]}
            assert chosen == set(card.choices.get(contest["ContestId"], ()))
    rows = list(csv.reader(io.StringIO((tmp / "exports" / "cvrs-dominion.csv").read_text())))
    assert sorted(r[4] for r in rows[4:]) == sorted(cards)
