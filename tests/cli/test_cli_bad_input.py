"""Bad input through ``paperchain election | trustee | vote | tally | decrypt | verify | demo``:
always ``error: <where>: <reason>`` (or click's usage error) and a non-zero exit, never a
traceback.

Files missing, truncated or of the wrong types; a manifest of a refused kind; a wrong
passphrase for a trustee's or a device's secrets; a ledger URL that is no URL; a record
whose files are truncated; non-numeric arguments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.record import export_record
from paperchain.cli import main

MANIFEST = Path(__file__).resolve().parents[2] / "e2e" / "data" / "demo_manifest.json"
PASSPHRASE = "cli test passphrase"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trustee's and a device's directories and an empty test-group ledger."""
    base = tmp_path_factory.mktemp("roles")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAPERCHAIN_PASSPHRASE", PASSPHRASE)
        for args in (["trustee", "init", "--dir", str(base / "t1"), "--election-id", "e1",
                      "--index", "1", "--name", "Trustee 1"],
                     ["vote", "device-init", "--dir", str(base / "kiosk"), "--election-id",
                      "e1", "--device-id", "kiosk-1", "--location", "Hall"],
                     ["ledger", "init", "--dir", str(base / "ledger"), "--election-id", "e1",
                      "--test-group"]):
            with pytest.raises(SystemExit) as done:
                main(args)
            assert done.value.code == 0, args
    return base


# --- election setup: the manifest -------------------------------------------------------------


def _manifest(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    document = json.loads(MANIFEST.read_bytes())
    change(document)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document))
    return path


def _setup(capsys: pytest.CaptureFixture[str], roles: Path, manifest: Path) -> tuple[int, str]:
    return run(capsys, "election", "setup", "--official", str(roles / "kiosk"), "--ledger",
               str(roles / "ledger"), "--manifest", str(manifest), "--threshold", "1",
               "--trustee", str(roles / "t1"))


def _set(path: list[object], value: object):  # type: ignore[no-untyped-def]
    def change(document: dict) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(("change", "words"), [
    (_set(["contests", 0, "vote_for"], "1"), "contests[0].vote_for: must be an integer"),
    (_set(["contests", 0, "kind"], "ranked-choice"), "ranked-choice contests are not supported"),
    (_set(["contests"], {"x": 1}), "contests: must be an array"),
    (_set(["contests", 5, "threshold"], [2, 3]), "contests[5].threshold: must be an object"),
    (_set(["contests", 5, "threshold"], {"numerator": 2, "denominator": 0}),
     "contests[5].threshold.denominator: must be at least 2"),
])
def test_setup_refuses_a_manifest_with_wrong_types(capsys, roles: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   change, words: str) -> None:
    code, err = _setup(capsys, roles, _manifest(tmp_path, change))
    assert code == 2
    assert err.startswith("error: ")
    assert words in err


@pytest.mark.parametrize(("content", "words"), [
    (MANIFEST.read_bytes()[:300], "not valid JSON"),
    (b"\xff\xfe{}", "UTF-16"),
    (b"", "empty"),
])
def test_setup_refuses_a_truncated_or_binary_manifest(capsys, roles: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      content: bytes, words: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    code, err = _setup(capsys, roles, path)
    assert code == 2
    assert words in err


def test_setup_refuses_a_missing_manifest(capsys, roles: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = _setup(capsys, roles, tmp_path / "missing.json")
    assert code == 2
    assert "does not exist" in err


def test_non_numeric_threshold_and_index_are_refused(capsys, roles: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "election", "setup", "--official", str(roles / "kiosk"),
                    "--ledger", str(roles / "ledger"), "--manifest", str(MANIFEST),
                    "--threshold", "two", "--trustee", str(roles / "t1"))
    assert code == 2
    assert "'two' is not a valid integer" in err
    code, err = run(capsys, "trustee", "init", "--dir", str(roles / "t9"), "--election-id",
                    "e1", "--index", "abc", "--name", "X")
    assert code == 2
    assert "'abc' is not a valid integer" in err


# --- secrets under a wrong passphrase ---------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("trustee", "ceremony", "--dir", "{t1}", "--ledger", "{ledger}"),
    ("trustee", "decrypt", "--dir", "{t1}", "--ledger", "{ledger}"),
    ("vote", "cast", "--device", "{kiosk}", "--ledger", "{ledger}", "--style", "ward-1",
     "--choices", str(MANIFEST)),
])
def test_wrong_passphrase_is_named_not_a_traceback(capsys, roles: Path, monkeypatch,  # type: ignore[no-untyped-def]
                                                   args: tuple[str, ...]) -> None:
    monkeypatch.setenv("PAPERCHAIN_PASSPHRASE", "not the passphrase")
    paths = {"t1": roles / "t1", "kiosk": roles / "kiosk", "ledger": roles / "ledger"}
    code, err = run(capsys, *(a.format(**paths) for a in args))
    assert code == 2
    assert "wrong passphrase, or the file was altered" in err
    assert ".secret" in err


def test_truncated_secret_file_is_named(capsys, roles: Path, tmp_path: Path, monkeypatch  # type: ignore[no-untyped-def]
                                        ) -> None:
    monkeypatch.setenv("PAPERCHAIN_PASSPHRASE", PASSPHRASE)
    trustee = tmp_path / "t1"
    import shutil
    shutil.copytree(roles / "t1", trustee)
    secret = trustee / "identity.secret"
    secret.write_bytes(secret.read_bytes()[:40])
    code, err = run(capsys, "trustee", "ceremony", "--dir", str(trustee), "--ledger",
                    str(roles / "ledger"))
    assert code == 2
    assert "identity.secret" in err


# --- the ledger argument ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999x"])
def test_ledger_url_that_is_no_url_is_refused(capsys, roles: Path, url: str) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "tally", "--official", str(roles / "kiosk"), "--ledger", url)
    assert code == 2
    assert "not a valid ledger URL" in err


@pytest.mark.parametrize("args", [
    ("ledger", "check", "--url", "http://[::1", "--url", "http://127.0.0.1:9"),
    ("receipt", "check", "--ledger", "{ledger}", "--witness", "http://[::1", "--tracking-code",
     "00" * 32, "--test-group"),  # the tracking code is checked first: it must be valid
])
def test_service_url_that_is_no_url_is_refused_by_every_command(capsys, roles: Path,  # type: ignore[no-untyped-def]
                                                                args: tuple[str, ...]) -> None:
    code, err = run(capsys, *(a.format(ledger=roles / "ledger") for a in args))
    assert code == 2
    assert "error: not a valid URL: Invalid port" in err


def test_missing_ledger_directory_is_named(capsys, roles: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "decrypt", "--official", str(roles / "kiosk"), "--ledger",
                    str(tmp_path / "nope"))
    assert code == 2
    assert "not a ledger directory" in err


# --- verify: records that are not records -----------------------------------------------------


@pytest.fixture
def empty_record(tmp_path: Path) -> Path:
    """A record of no entries: well-formed files, an election that never began."""
    export_record([], MANIFEST.read_bytes(), "e1", tmp_path / "record")
    return tmp_path / "record"


def test_verify_reports_a_record_without_a_setup(capsys, empty_record: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "verify", str(empty_record), "--test-group")
    assert code == 1
    assert "NOT VERIFIED" in err


@pytest.mark.parametrize("damage", ["truncated", "types", "missing"])
def test_verify_refuses_a_broken_record_json(capsys, empty_record: Path, damage: str) -> None:  # type: ignore[no-untyped-def]
    path = empty_record / "record.json"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:30])
    elif damage == "types":
        document = json.loads(path.read_bytes())
        document["entries"] = "0"
        path.write_text(json.dumps(document))
    else:
        path.unlink()
    code, err = run(capsys, "verify", str(empty_record), "--test-group")
    assert code == 2
    assert err.startswith("error: ")
    assert "record" in err


def test_verify_finds_a_truncated_ledger(capsys, empty_record: Path) -> None:  # type: ignore[no-untyped-def]
    ledger = empty_record / "ledger.bin"
    ledger.write_bytes(ledger.read_bytes() + b"\x00\x00\x01\x00garbage")
    code, err = run(capsys, "verify", str(empty_record), "--test-group")
    assert code == 1
    assert "NOT VERIFIED" in err


def test_verify_of_a_missing_directory_is_a_usage_error(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "verify", str(tmp_path / "nope"))
    assert code == 2
    assert "does not exist" in err


# --- demo -------------------------------------------------------------------------------------


def test_demo_refuses_a_directory_that_is_not_empty(capsys, roles: Path) -> None:  # type: ignore[no-untyped-def]
    code, err = run(capsys, "demo", "--out", str(roles / "t1"), "--test-group", "--voters", "2")
    assert code == 2
    assert "may hold another election" in err
