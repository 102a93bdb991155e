"""Ballot secrecy on paper (DESIGN.md, "Paper"): guards that fail as soon as a field that
could reveal cast order, a device sequence number, a ledger position or a time is added
to what a card or receipt carries, to the PDFs' metadata, or to what a scan outputs.

Each test pins the *whole* set of fields, so a new one has to be argued for here.
(CVR numbering is guarded in tests/e2e/test_cvr.py and tests/tally/test_audit_flow.py;
the ballot ID's independence of issue order in test_paper_ids.py; box order in
test_paper_cli.py.)"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pypdfium2
import pytest
from click.testing import CliRunner
from election_helpers import SetupLedger, setup_only_ledger
from test_paper_cli import _cards

from e2e.group import STANDARD
from paper.layout import render_ballot_record, render_receipt
from paper.manifest_csv import HEADER, write_manifest_csv
from paper.payload import BallotRecordPayload, ReceiptPayload, ReceiptStatus
from paper.samples import sample_election, small_style
from paper.scan import ManifestEntry, PageResult
from paper.views import BallotRecordView, ReceiptView
from paperchain.commands.paper import scan

ELECTION = sample_election()


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_card_payload_and_view_hold_nothing_that_links_to_the_ledger_or_cast_order() -> None:
    # No choices, tracking code, ledger hash or index, device ID or sequence number, time.
    assert _names(BallotRecordPayload) == {"election_id", "style_id", "ballot_id", "test",
                                           "remake", "signature"}
    assert _names(BallotRecordView) == {"election_name", "jurisdiction", "date", "style_label",
                                        "language", "contests", "ballot_id", "test_mode",
                                        "remake", "strings"}


def test_receipt_payload_and_view_hold_nothing_that_links_to_the_card() -> None:
    # No ballot ID and no choices: the receipt cannot be matched with a card.
    assert _names(ReceiptPayload) == {"election_id", "tracking_code", "status", "test",
                                      "promise", "signature"}
    assert _names(ReceiptView) == {"election_name", "jurisdiction", "date", "language",
                                   "payload", "check_url", "complaint_contact",
                                   "complaint_deadline", "strings"}


@pytest.mark.parametrize("kind", ["card", "receipt"])
def test_pdf_files_carry_no_metadata_time_or_file_id(kind: str) -> None:
    rng = random.Random(5)
    if kind == "card":
        pdf = render_ballot_record(*ELECTION.record(small_style(), "precinct-12-b", rng))
    else:
        pdf = render_receipt(ELECTION.receipt(rng, ReceiptStatus.CAST))
    for marker in (b"/Info", b"/ID", b"/CreationDate", b"/ModDate", b"/Producer", b"D:20"):
        assert marker not in pdf, marker
    document = pypdfium2.PdfDocument(pdf)
    assert not any(document.get_metadata_dict().values())
    document.close()


def test_scan_results_and_manifest_rows_hold_only_where_the_card_is_and_its_id() -> None:
    assert _names(PageResult) == {"file", "page", "ok", "kind", "fields", "error", "problem",
                                  "payload"}
    assert _names(ManifestEntry) == {"batch", "position", "ballot_id", "flags", "source",
                                     "manual", "style_id"}
    assert HEADER == ("version", "batch", "position", "ballot_id", "style_id", "flags",
                      "polling_place", "source", "manual")
    assert write_manifest_csv([]).splitlines()[0] == ",".join(HEADER)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> SetupLedger:
    return setup_only_ledger(tmp_path_factory.mktemp("real") / "ledger", STANDARD)


def test_scan_json_lines_hold_exactly_the_specified_keys(real: SetupLedger,
                                                         tmp_path: Path) -> None:
    _cards(tmp_path / "box.pdf", real, count=2, test=False, seed=21)
    result = CliRunner().invoke(scan, [str(tmp_path / "box.pdf"), "--election",
                                       str(real.directory), "--json"])
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        assert set(json.loads(line)) == {
            "file", "page", "ok", "kind", "election_id", "style_id", "ballot_id", "test",
            "duplicate", "remake", "batch", "position", "flags", "manual"}
    # The summary on stderr counts cards and flags, nothing else.
    assert result.stderr.strip().splitlines()[-1] == "2 cards in 1 batches: none flagged"


def test_every_ballot_id_printed_for_real_comes_from_secrets() -> None:
    # BallotId.generate() defaults to secrets.token_bytes (test_paper_ids.py); a call site
    # handing it anything else (a counter, the nonce, a seeded generator) would make IDs
    # predictable or linkable to cast order. Only the made-up sample election may.
    import ast

    root = Path(__file__).resolve().parents[2]
    allowed = {root / "paper" / "samples.py"}
    calls = []
    for package in ("paper", "paperchain", "e2e", "tally"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "generate"
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "BallotId"):
                    calls.append(path)
                    if path not in allowed:
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        assert not node.args, f"{where}: BallotId.generate must use secrets"
                        assert not node.keywords, f"{where}: BallotId.generate must use secrets"
    assert {p.name for p in calls} >= {"kiosk.py", "demo_paper.py"}  # the search finds them
