"""``paperchain scan`` and ``paperchain print`` against real ledgers, and the capacity rule
at ``paperchain election setup``."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pypdfium2
import pytest
from click.testing import CliRunner, Result
from election_helpers import DEVICE, SetupLedger, setup_only_ledger
from test_paper_forms import _manifest_with_style

from e2e.group import STANDARD, TEST_GROUP
from paper.ids import BallotId
from paper.layout import PaperWriter
from paper.manifest_csv import read_manifest_csv
from paper.manifest_views import record_view
from paper.payload import make_ballot_record, make_receipt
from paper.samples import sample_election
from paperchain.commands.election import election
from paperchain.commands.paper import print_group, scan
from paperchain.demo_paper import mix_box

# The commands under test only, so another group's work in progress cannot break these.
_COMMANDS = {"scan": scan, "print": print_group, "election": election}


def _run(*args: str) -> Result:
    return CliRunner().invoke(_COMMANDS[args[0]], list(args[1:]), catch_exceptions=True)


def _cards(path: Path, ledger: SetupLedger, *, count: int, test: bool, seed: int,
           repeat: BallotId | None = None, key_of_election: str | None = None) -> list[BallotId]:
    """``count`` cards of the demo manifest into one PDF; the IDs in page order."""
    from e2e.manifest import demo_manifest

    manifest = demo_manifest()
    rng = random.Random(seed)
    ids = []
    with path.open("wb") as out, PaperWriter(out) as writer:
        for n in range(count):
            ballot_id = repeat if repeat is not None and n == count - 1 else BallotId.generate(
                rng.randbytes)
            view = record_view(manifest, "ward-1", "en", {"mayor": frozenset({"alice-adams"})},
                               ballot_id, test_mode=test)
            payload = make_ballot_record(ledger.device_key, key_of_election or ledger.election_id,
                                         "ward-1", ballot_id, test=test)
            writer.add_ballot_record(view, payload)
            ids.append(ballot_id)
    return ids


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> SetupLedger:
    """A real election (standard group): only its setup is needed to scan."""
    return setup_only_ledger(tmp_path_factory.mktemp("real") / "ledger", STANDARD)


@pytest.fixture(scope="module")
def test_election(tmp_path_factory: pytest.TempPathFactory) -> SetupLedger:
    return setup_only_ledger(tmp_path_factory.mktemp("test") / "ledger", TEST_GROUP)


# ---------------------------------------------------------------------------- scan


def test_scan_json_gives_one_object_per_page_and_the_manifest(real: SetupLedger,
                                                              tmp_path: Path) -> None:
    ids = _cards(tmp_path / "box-a.pdf", real, count=3, test=False, seed=1)
    manifest_csv = tmp_path / "manifest.csv"
    result = _run("scan", str(tmp_path / "box-a.pdf"), "--election", str(real.directory),
                  "--json", "--manifest-out", str(manifest_csv), "--polling-place", "Ward 1")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["page"] for line in lines] == [1, 2, 3]
    for line, ballot_id in zip(lines, ids, strict=True):
        assert line["ok"] is True
        assert line["kind"] == "ballot-record"
        assert line["ballot_id"] == str(ballot_id)
        assert line["file"].endswith("box-a.pdf")
        assert line["batch"] == "box-a"
        assert line["flags"] == []
        assert not {"choices", "votes", "mayor"} & set(line)
    rows = read_manifest_csv(manifest_csv.read_text())
    assert [(r.entry.batch, r.entry.position, r.entry.ballot_id) for r in rows] == [
        ("box-a", n, ballot_id) for n, ballot_id in enumerate(ids, start=1)]
    assert {r.polling_place for r in rows} == {"Ward 1"}


def test_scan_flags_a_test_card_in_a_real_election(real: SetupLedger, tmp_path: Path) -> None:
    _cards(tmp_path / "box.pdf", real, count=1, test=True, seed=2)
    result = _run("scan", str(tmp_path / "box.pdf"), "--election", str(real.directory),
                  "--json")
    assert result.exit_code == 1
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["ok"] is False
    assert line["problem"] == "test"
    assert line["flags"] == ["test-card"]


def test_scan_flags_a_real_card_in_a_test_election(test_election: SetupLedger,
                                                   tmp_path: Path) -> None:
    _cards(tmp_path / "box.pdf", test_election, count=1, test=False, seed=3)
    result = _run("scan", str(tmp_path / "box.pdf"), "--election",
                  str(test_election.directory), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["flags"] == ["not-test-card"]


def test_scan_flags_repeated_ids_across_batches(real: SetupLedger, tmp_path: Path) -> None:
    ids = _cards(tmp_path / "one.pdf", real, count=2, test=False, seed=4)
    _cards(tmp_path / "two.pdf", real, count=2, test=False, seed=5, repeat=ids[0])
    result = _run("scan", str(tmp_path / "one.pdf"), str(tmp_path / "two.pdf"),
                  "--election", str(real.directory), "--json")
    assert result.exit_code == 1
    flags = [json.loads(text)["flags"] for text in result.stdout.splitlines()]
    assert flags == [["repeated-id"], [], [], ["repeated-id"]]


def test_scan_flags_another_elections_card(real: SetupLedger, tmp_path: Path) -> None:
    _cards(tmp_path / "box.pdf", real, count=1, test=False, seed=6,
           key_of_election="another-election")
    result = _run("scan", str(tmp_path / "box.pdf"), "--election", str(real.directory),
                  "--json")
    assert json.loads(result.stdout)["flags"] == ["foreign-election"]


def test_scan_flags_a_receipt_in_the_box(real: SetupLedger, tmp_path: Path) -> None:
    from e2e.ledger.promise import InclusionPromise
    from e2e.signing import SigningKey
    from paper.layout import render_receipt
    from paper.payload import ReceiptStatus

    election = sample_election()
    view = election.receipt(random.Random(1), ReceiptStatus.CAST)
    payload = make_receipt(real.device_key, real.election_id, b"\x01" * 32, ReceiptStatus.CAST,
                           InclusionPromise.issue(SigningKey(b"\x02" * 32), real.election_id,
                                                  5, b"\x03" * 32), test=False)
    from dataclasses import replace

    (tmp_path / "box.pdf").write_bytes(render_receipt(replace(view, payload=payload)))
    result = _run("scan", str(tmp_path / "box.pdf"), "--election", str(real.directory),
                  "--json")
    assert json.loads(result.stdout)["flags"] == ["not-a-card"]


def _blank_page(path: Path) -> None:
    from paper.reports import ReportDocument

    out = io.BytesIO()
    with PaperWriter(out) as writer:
        writer.add_document(ReportDocument("A page with no QR code", ()))
    path.write_bytes(out.getvalue())


def test_unreadable_card_takes_a_typed_id_checked_by_its_check_character(
        real: SetupLedger, tmp_path: Path) -> None:
    _blank_page(tmp_path / "box.pdf")
    typed = str(BallotId(bytes(range(16))))
    result = _run("scan", str(tmp_path / "box.pdf"), "--election", str(real.directory),
                  "--json", "--manual", f"box:1={typed}")
    line = json.loads(result.stdout)
    assert line["flags"] == ["unreadable"]
    assert line["manual"] is True
    assert result.exit_code == 1
    typo = typed[:-1] + ("0" if typed[-1] != "0" else "1")
    refused = _run("scan", str(tmp_path / "box.pdf"), "--election", str(real.directory),
                   "--manual", f"box:1={typo}")
    assert "check symbol does not match" in str(refused.exception)


def test_scan_names_what_it_cannot_read(real: SetupLedger, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = _run("scan", str(tmp_path / "notes.txt"), "--election", str(real.directory))
    assert "cannot scan .txt" in str(result.exception)


# ---------------------------------------------------------------------------- print


def test_print_cover_sheets_from_a_scanned_manifest(real: SetupLedger, tmp_path: Path) -> None:
    _cards(tmp_path / "box-a.pdf", real, count=2, test=False, seed=7)
    _run("scan", str(tmp_path / "box-a.pdf"), "--election", str(real.directory),
         "--manifest-out", str(tmp_path / "m.csv"), "--polling-place", "Ward 1")
    result = _run("print", "cover-sheets", "--election", str(real.directory), "--manifest",
                  str(tmp_path / "m.csv"), "--container", "box-a=C-9",
                  "--seal", "box-a=S-1,S-2", "--out",
                  str(tmp_path / "sheets.pdf"))
    assert result.exit_code == 0, result.output
    document = pypdfium2.PdfDocument(tmp_path / "sheets.pdf")
    text = " ".join(document[0].get_textpage().get_text_range().split())
    assert "box-a" in text
    assert "C-9" in text
    assert "S-1, S-2" in text
    assert "Ward 1" in text
    assert "TEST" not in text


def test_print_test_deck_in_a_real_election_is_refused(real: SetupLedger,
                                                       tmp_path: Path) -> None:
    from e2e.identity import WriterIdentity
    from e2e.keystore import KdfLimits
    from e2e.setup import Role

    WriterIdentity.create(tmp_path / "kiosk", election_id=real.election_id, writer_id=DEVICE,
                          role=Role.DEVICE, passphrase=b"passphrase",
                          limits=KdfLimits(1, 8 * 1024))
    (tmp_path / "pass").write_text("passphrase\n")
    result = _run("print", "test-deck", "--election", str(real.directory), "--device",
                  str(tmp_path / "kiosk"), "--count", "2", "--out", str(tmp_path / "deck.pdf"),
                  "--passphrase-file", str(tmp_path / "pass"))
    assert "never reprinted from the digital record" in str(result.exception)
    assert not (tmp_path / "deck.pdf").exists()


def test_election_setup_refuses_a_style_that_cannot_fit_one_card(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(_manifest_with_style(40).source_bytes)
    for name in ("official", "ledger", "t1"):
        (tmp_path / name).mkdir()
    result = _run("election", "setup", "--official", str(tmp_path / "official"), "--ledger",
                  str(tmp_path / "ledger"), "--manifest", str(manifest), "--threshold", "1",
                  "--trustee", str(tmp_path / "t1"))
    assert "ballot style 'long'" in str(result.exception)
    assert "split the ballot style" in str(result.exception)


# ---------------------------------------------------------------------------- box order


def _spearman(order: list[int]) -> float:
    n = len(order)
    d2 = sum((position - cast) ** 2 for position, cast in enumerate(order))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_box_order_does_not_reveal_cast_order() -> None:
    cast = list(range(200))
    correlations = [_spearman(mix_box(cast, random.Random(seed))) for seed in range(50)]
    assert max(abs(c) for c in correlations) < 0.3
    assert abs(sum(correlations) / len(correlations)) < 0.05
    # The first card cast comes out anywhere, not near the top or the bottom of the box.
    firsts = [mix_box(cast, random.Random(seed)).index(0) for seed in range(50)]
    assert min(firsts) < 40
    assert max(firsts) > 160
