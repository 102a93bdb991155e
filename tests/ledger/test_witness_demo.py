"""The demo records the whole election through the ledger service, cosigned by two witnesses."""

from __future__ import annotations

import threading
from pathlib import Path

from e2e.ledger.heads import HeadPolicy, decode_note, verify_cosigned_head
from e2e.ledger.store import open_store
from e2e.record import RecordReader
from paperchain.demo import DemoConfig, run_demo
from tests.strategies import FAST_KDF


def test_demo_runs_operator_and_two_witnesses_over_http(tmp_path: Path) -> None:
    outcome = run_demo(DemoConfig(out=tmp_path / "demo", voters=6, test_group=True,
                                  kdf_limits=FAST_KDF))
    report = outcome.report
    assert report.ok, report.findings
    reader = RecordReader(outcome.record)
    entries = reader.summary.entries
    assert report.checks["tally at a witness-cosigned close-of-voting head"] == 1
    assert report.checks["record and live ledger agree entry for entry"] == entries
    policy = HeadPolicy.from_setup(outcome.context.setup)
    assert policy.threshold == 2
    heads = [decode_note(note) for note in reader.head_notes()]
    assert len(heads) >= 4  # setup, ceremony, close of voting, results (and more)
    assert heads[0].size == 1  # the ceremony itself ran on the witnessed ledger
    for head in heads:
        verify_cosigned_head(policy, head)
        assert policy.valid_cosigners(head) == ["witness-1", "witness-2"]
    assert heads[-1].size == entries
    for witness in ("witness-1", "witness-2"):
        copy = open_store(str(tmp_path / "demo" / "witnesses" / witness / "witness.sqlite"))
        assert copy.size() == entries
        assert copy.root(entries) == reader.summary.root
        copy.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("ledger-service")]
