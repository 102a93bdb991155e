"""Bad input to ``paperchain scan``, ``paperchain print`` and ``paperchain receipt check``:
each is refused with a ``PaperchainError`` naming the file, row, option or byte (the CLI
prints it as ``error: where: reason`` and exits 2), never a traceback; a page that is
not a good card is a flagged result (exit 1), never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from election_helpers import SetupLedger, setup_only_ledger
from paper_helpers import qr_image
from PIL import Image
from test_paper_cli import _cards

from e2e.errors import PaperchainError
from e2e.group import STANDARD
from e2e.ledger.promise import InclusionPromise
from e2e.signing import SigningKey
from paper.ids import BallotId
from paper.payload import ReceiptStatus, make_ballot_record, make_receipt
from paperchain.commands.paper import print_group, scan
from paperchain.commands.receipt import receipt

_COMMANDS = {"scan": scan, "print": print_group, "receipt": receipt}


def _run(*args: str) -> Result:
    return CliRunner().invoke(_COMMANDS[args[0]], list(args[1:]), catch_exceptions=True)


def _refused(result: Result, *words: str) -> str:
    """The refusal's text; it must be a PaperchainError (exit 2 in the CLI) naming ``words``."""
    assert isinstance(result.exception, PaperchainError), repr(result.exception)
    text = str(result.exception)
    for word in words:
        assert word in text, text
    return text


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> SetupLedger:
    return setup_only_ledger(tmp_path_factory.mktemp("real") / "ledger", STANDARD)


@pytest.fixture(scope="module")
def scanned(real: SetupLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding box.pdf (3 good cards) and its scanned manifest m.csv."""
    directory = tmp_path_factory.mktemp("scanned")
    _cards(directory / "box.pdf", real, count=3, test=False, seed=11)
    result = _run("scan", str(directory / "box.pdf"), "--election", str(real.directory),
                  "--manifest-out", str(directory / "m.csv"), "--polling-place", "Ward 1")
    assert result.exit_code == 0, result.output
    return directory


def _scan(real: SetupLedger, *args: str) -> Result:
    return _run("scan", *args, "--election", str(real.directory), "--json")


# ---------------------------------------------------------------------------- scan: files


@pytest.mark.parametrize(("name", "content"), [
    ("not-a-pdf.pdf", b"hello, this is not a PDF\n"),
    ("empty.pdf", b""),
    ("cut.pdf", None),  # the first 3000 bytes of a real card PDF
    ("fake.png", b"\x89PNG\r\n\x1a\ngarbage"),
    ("cut.png", None),  # the first 200 bytes of a real PNG
])
def test_scan_refuses_a_file_it_cannot_read_naming_it(real: SetupLedger, scanned: Path,
                                                      tmp_path: Path, name: str,
                                                      content: bytes | None) -> None:
    path = tmp_path / name
    if content is None and name.endswith(".pdf"):
        content = (scanned / "box.pdf").read_bytes()[:3000]
    elif content is None:
        qr_image(b"\xa1\x01x").save(tmp_path / "whole.png")
        content = (tmp_path / "whole.png").read_bytes()[:200]
    path.write_bytes(content)
    _refused(_scan(real, str(path)), name, "cannot read the file")


def test_scan_flags_a_png_with_no_qr_as_unreadable(real: SetupLedger, tmp_path: Path) -> None:
    Image.new("L", (400, 500), 255).save(tmp_path / "white.png")
    result = _scan(real, str(tmp_path / "white.png"))
    assert result.exit_code == 1
    line = json.loads(result.stdout)
    assert (line["ok"], line["kind"], line["problem"], line["flags"]) == (
        False, None, "unreadable", ["unreadable"])


def _record_bytes(real: SetupLedger) -> bytes:
    return make_ballot_record(real.device_key, real.election_id, "ward-1",
                              BallotId(bytes(range(16))), test=False).to_bytes()


@pytest.mark.parametrize(("change", "words"), [
    (lambda data: bytes([0xA2]) + data[1:], "unsupported payload version 2"),
    (lambda data: data[:40], "truncated"),
    (lambda data: data + b"\x00", "trailing"),
    (lambda data: b'{"ballot_id": "x"}', "not a Paperchain payload"),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "no registered voting device key"),
])
def test_scan_flags_a_bad_qr_payload_as_invalid_saying_why(real: SetupLedger, tmp_path: Path,
                                                           change, words) -> None:  # type: ignore[no-untyped-def]
    qr_image(change(_record_bytes(real))).save(tmp_path / "card.png")
    result = _scan(real, str(tmp_path / "card.png"))
    assert result.exit_code == 1
    line = json.loads(result.stdout)
    assert line["ok"] is False
    assert line["flags"] == ["invalid"]
    assert words in line["error"]


def test_scan_flags_a_receipt_qr_where_a_card_is_expected(real: SetupLedger,
                                                          tmp_path: Path) -> None:
    promise = InclusionPromise.issue(SigningKey(b"\x02" * 32), real.election_id, 5, b"\x03" * 32)
    payload = make_receipt(real.device_key, real.election_id, b"\x01" * 32, ReceiptStatus.CAST,
                           promise, test=False)
    qr_image(payload.to_bytes()).save(tmp_path / "receipt.png")
    result = _scan(real, str(tmp_path / "receipt.png"))
    line = json.loads(result.stdout)
    assert (line["kind"], line["problem"], line["flags"]) == ("receipt", "wrong-kind",
                                                              ["not-a-card"])
    assert "where a ballot record was expected" in line["error"]


def test_scan_refuses_an_unknown_election(scanned: Path, tmp_path: Path) -> None:
    _refused(_run("scan", str(scanned / "box.pdf"), "--election", str(tmp_path / "nowhere")),
             "nowhere", "not a ledger directory")
    _refused(_run("scan", str(scanned / "box.pdf"), "--election", str(tmp_path)),
             str(tmp_path), "not a ledger directory")


# ---------------------------------------------------------------------------- scan: --manual


def test_scan_refuses_a_typed_id_for_a_card_not_in_the_scan(real: SetupLedger,
                                                            scanned: Path) -> None:
    typed = str(BallotId(bytes(16)))
    box = str(scanned / "box.pdf")
    _refused(_scan(real, box, "--manual", f"box:9={typed}"), "batch 'box' position 9",
             "not in the scan")
    _refused(_scan(real, box, "--manual", f"elsewhere:1={typed}"), "--manual",
             "no batch 'elsewhere'")
    _refused(_scan(real, box, "--manual", f"box:0={typed}"), "--manual", "position from 1")
    _refused(_scan(real, box, "--manual", "box:1=0000"), "--manual box:1=0000", "26 symbols")
    _refused(_scan(real, box, "--manual", f"box:{'9' * 5000}={typed}"), "--manual")


# ---------------------------------------------------------------------------- manifest CSV


def _cover_sheets(real: SetupLedger, manifest: Path, out: Path) -> Result:
    return _run("print", "cover-sheets", "--election", str(real.directory), "--manifest",
                str(manifest), "--out", str(out))


def _edited(scanned: Path, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "edited.csv"
    path.write_bytes(edit((scanned / "m.csv").read_bytes()))
    return path


def _rows(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def _repeat_last_id(data: bytes, flag: bytes = b"") -> bytes:
    """Append a fourth card carrying the third card's ID."""
    rows = [row for row in _rows(data) if row]
    cells = rows[3].split(b",")
    cells[2], cells[5] = b"4", flag
    return b"\r\n".join([*rows, b",".join(cells)]) + b"\r\n"


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: b"\r\n".join(b",".join(r.split(b",")[:8]) for r in _rows(d)), "line 1"),
    (lambda d: b"\r\n".join([_rows(d)[0], *(b",".join(r.split(b",")[:8])
                                            for r in _rows(d)[1:] if r)]), "line 2"),
    (lambda d: _repeat_last_id(d), "line 4: ballot ID"),
    (lambda d: _repeat_last_id(d, b"repeated-id"), "line 4: ballot ID"),
    (lambda d: d.replace(b",,Ward 1,", b",repeated-id,Ward 1,", 1), "line 2: flagged repeated-id"),
    (lambda d: b"\xff\xfe" + d, "not UTF-8"),
    (lambda d: d.replace(b"\r\n1,box,1,", "\r\n1,box,\u00b9,".encode(), 1), "line 2"),
    (lambda d: d.replace(b"\r\n1,box,1,", b"\r\n1,box," + b"1" * 5000 + b",", 1), "line 2"),
    (lambda d: d.replace(b"\r\n1,box,2,", b"\r\n1,box,3,", 1), "line 3: position 3 out of order"),
    (lambda d: d + b'1,"box,4\r\n', "line 5"),
    (lambda d: b"", "line 1"),
])
def test_print_refuses_a_bad_manifest_csv_naming_the_line(real: SetupLedger, scanned: Path,
                                                          tmp_path: Path, edit, words) -> None:  # type: ignore[no-untyped-def]
    path = _edited(scanned, tmp_path, edit)
    _refused(_cover_sheets(real, path, tmp_path / "out.pdf"), str(path), words)
    assert not (tmp_path / "out.pdf").exists()


def test_print_takes_repeated_ids_that_the_scanner_flagged(real: SetupLedger, scanned: Path,
                                                           tmp_path: Path) -> None:
    def flag_both(data: bytes) -> bytes:
        repeated = _repeat_last_id(data, b"repeated-id")
        last_card = _rows(repeated)[3]
        return repeated.replace(last_card, last_card.replace(b",ward-1,,", b",ward-1,repeated-id,"))

    path = _edited(scanned, tmp_path, flag_both)
    result = _cover_sheets(real, path, tmp_path / "out.pdf")
    assert result.exit_code == 0, result.output


def test_print_refuses_a_count_that_is_not_ascii_digits(real: SetupLedger, scanned: Path,
                                                        tmp_path: Path) -> None:
    for count in ("\u00b2", "-1", "1" * 5000):
        _refused(_run("print", "reconciliation", "--election", str(real.directory),
                      "--manifest", str(scanned / "m.csv"), "--check-ins", f"Ward 1={count}",
                      "--out", str(tmp_path / "out.pdf")), "--check-ins", "is not a count")


# ---------------------------------------------------------------------------- receipt check


@pytest.mark.parametrize(("qr", "words"), [
    (lambda receipt, card: "zz", "--qr-payload: must be hexadecimal"),
    (lambda receipt, card: "", "--qr-payload byte 0: empty payload"),
    (lambda receipt, card: receipt[:60], "--qr-payload byte 27: truncated"),
    (lambda receipt, card: "a2" + receipt[2:], "--qr-payload byte 0: unsupported payload version"),
    (lambda receipt, card: card, "--qr-payload byte 1: this is a ballot record, not a receipt"),
    (lambda receipt, card: receipt + "00", "--qr-payload byte 229: 1 unexpected trailing"),
    (lambda receipt, card: receipt, "--qr-payload: the ledger operator's inclusion promise"),
])
def test_receipt_check_refuses_a_bad_qr_payload_naming_the_byte(real: SetupLedger,
                                                                qr, words) -> None:  # type: ignore[no-untyped-def]
    promise = InclusionPromise.issue(SigningKey(b"\x02" * 32), real.election_id, 5, b"\x03" * 32)
    payload = make_receipt(real.device_key, real.election_id, b"\x01" * 32, ReceiptStatus.CAST,
                           promise, test=False)
    hex_qr = qr(payload.to_bytes().hex(), _record_bytes(real).hex())
    _refused(_run("receipt", "check", "--ledger", str(real.directory), "--qr-payload", hex_qr),
             words)


# ---------------------------------------------------------------------------- oversized pages


def _giant_pdf(path: Path) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument.new()
    document.new_page(5000, 5000)  # 1.76 m square: 108 million pixels at 150 dpi
    document.save(str(path))
    document.close()


def _bomb_png(path: Path) -> None:
    Image.new("1", (20000, 20000), 1).save(path)  # 90 kB, 400 million pixels


@pytest.mark.parametrize(("name", "make", "words"), [
    ("giant.pdf", _giant_pdf, "page 1 is 1764 × 1764 mm, too large"),
    ("bomb.png", _bomb_png, "exceeds limit"),
])
def test_scan_refuses_a_page_too_large_to_render(real: SetupLedger, tmp_path: Path, name: str,
                                                 make, words: str) -> None:  # type: ignore[no-untyped-def]
    make(tmp_path / name)
    _refused(_scan(real, str(tmp_path / name)), name, "cannot read the file", words)


@pytest.mark.parametrize(("make", "words"), [
    (_giant_pdf, "too large to be a ballot record"),
    (_bomb_png, "neither a PDF nor an image"),
])
def test_kiosk_read_back_refuses_a_page_too_large_to_render(tmp_path: Path, make,
                                                            words: str) -> None:  # type: ignore[no-untyped-def]
    from e2e.manifest import demo_manifest
    from paper.readback import read_back_scan

    path = tmp_path / ("scan.pdf" if make is _giant_pdf else "scan.png")
    make(path)
    with pytest.raises(PaperchainError, match=words):
        read_back_scan(path.read_bytes(), manifest=demo_manifest(),
                       style_id="ward-1", language="en", device_keys=())


# ---------------------------------------------------------------------------- print remake


@pytest.fixture(scope="module")
def officials(real: SetupLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two writer identities (passphrase file 'pass'), enough to reach the remake's checks."""
    from e2e.identity import WriterIdentity
    from e2e.keystore import KdfLimits
    from e2e.setup import Role

    directory = tmp_path_factory.mktemp("officials")
    for name in ("official", "cosigner"):
        WriterIdentity.create(directory / name, election_id=real.election_id, writer_id=name,
                              role=Role.OFFICIAL, passphrase=b"passphrase",
                              limits=KdfLimits(1, 8 * 1024))
    (directory / "pass").write_text("passphrase\n")
    return directory


@pytest.mark.parametrize(("ballot_id", "style", "words"), [
    ("123", "ward-1", "--ballot-id"),
    (str(BallotId(bytes(16))), "no-such-style", "no-such-style"),
])
def test_print_remake_refused_leaves_no_file_behind(real: SetupLedger, officials: Path,
                                                    tmp_path: Path, ballot_id: str, style: str,
                                                    words: str) -> None:
    out = tmp_path / "remake.pdf"
    result = _run("print", "remake", "--ledger", str(real.directory),
                  "--official", str(officials / "official"),
                  "--cosigner", str(officials / "cosigner"),
                  "--passphrase-file", str(officials / "pass"),
                  "--cosigner-passphrase-file", str(officials / "pass"),
                  "--ballot-id", ballot_id, "--style", style, "--reason", "torn",
                  "--original-kept-in", "envelope 1", "--out", str(out))
    _refused(result, words)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the PDF nor a .part


# ---------------------------------------------------------------------------- long PDFs


def test_scan_reopens_long_pdfs_and_still_reads_every_page_in_order(
        real: SetupLedger, scanned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PDFium's per-page caches are dropped by reopening the file every _REOPEN_PAGES pages
    # (benchmarks/README.md, "scan memory"); here every 2 pages of a 3-card file.
    import paper.scan

    monkeypatch.setattr(paper.scan, "_REOPEN_PAGES", 2)
    expected = [json.loads(line) for line in _scan(real, str(scanned / "box.pdf")).stdout
                .splitlines()]
    assert [(line["page"], line["ok"]) for line in expected] == [(1, True), (2, True), (3, True)]
    monkeypatch.setattr(paper.scan, "_REOPEN_PAGES", 1000)
    again = [json.loads(line) for line in _scan(real, str(scanned / "box.pdf")).stdout
             .splitlines()]
    assert again == expected


# ---------------------------------------------------------------------------- print results


@pytest.mark.slow
def test_print_results_of_a_test_election_is_stamped_test_on_every_page(
        tmp_path: Path) -> None:
    import pypdfium2

    from paperchain.demo import DemoConfig, run_demo
    from tests.strategies import FAST_KDF

    outcome = run_demo(DemoConfig(out=tmp_path / "demo", voters=4, test_group=True,
                                  kdf_limits=FAST_KDF, audit=False))
    out = tmp_path / "results.pdf"
    refused = _run("print", "results", str(outcome.record), "--out", str(out))
    _refused(refused)  # a test election's record needs --test-group
    assert not out.exists()
    result = _run("print", "results", str(outcome.record), "--test-group", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = pypdfium2.PdfDocument(out)
    texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    document.close()
    assert "Mayor" in texts[0] or "mayor" in texts[0].lower()
    assert all("TEST" in text for text in texts)


def test_print_results_of_a_real_election_is_never_stamped_test(
        real: SetupLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --test-group only lets a test election's record verify; whether the report is
    # stamped TEST follows the election's setup (here: a real one), never the flag.
    import pypdfium2

    import paperchain.commands.paper as commands
    from paper.reports import ReportDocument

    monkeypatch.setattr(commands, "results_document",
                        lambda record, test_group: ReportDocument("Results", ()))
    out = tmp_path / "results.pdf"
    result = _run("print", "results", str(real.directory), "--test-group", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = pypdfium2.PdfDocument(out)
    assert "TEST" not in document[0].get_textpage().get_text_range()
    document.close()


# ---------------------------------------------------------------------------- receipt check


def test_receipt_check_takes_the_tracking_code_as_printed_or_in_hex(real: SetupLedger) -> None:
    from paper.ids import format_tracking_code

    code = bytes(range(7, 39))
    printed = format_tracking_code(code)  # what the receipt shows, in groups of four
    answers = []
    for form in (printed, printed.lower().replace(" ", "-"), code.hex(), code.hex().upper()):
        result = _run("receipt", "check", "--ledger", str(real.directory), "--tracking-code",
                      form)
        assert result.exit_code == 1, result.output  # not on this ledger, but read
        answers.append(result.stdout)
    assert len(set(answers)) == 1
    typo = printed[:-1] + ("0" if printed[-1] != "0" else "1")
    _refused(_run("receipt", "check", "--ledger", str(real.directory), "--tracking-code", typo),
             "--tracking-code", "check symbol does not match")
    _refused(_run("receipt", "check", "--ledger", str(real.directory), "--tracking-code",
                  code.hex()[:-2]), "--tracking-code", "53 in all")
