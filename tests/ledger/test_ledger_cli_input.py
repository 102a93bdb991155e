"""`paperchain ledger …` with bad input: a clear error and exit 2, never a traceback.

Also: `ledger serve` runs uvicorn without an access log, so no lookup (a tracking code
asked about, an entry fetched, a client's address) is ever written down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from e2e.ledger.store import open_store
from paperchain.cli import main

PASSPHRASE = "ledger cli input test"


def cli(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """Run ``paperchain ARGS`` in process; check the exit code; return stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    err = capsys.readouterr().err
    assert exited.value.code == code, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def ledger_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAPERCHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(tmp_path)
    cli(capsys, "ledger", "init", "--dir", "L", "--election-id", "e1", "--test-group")
    return tmp_path / "L"


class _FakeServer:
    configs: ClassVar[list[Any]] = []

    def __init__(self, config: Any) -> None:
        _FakeServer.configs.append(config)

    def run(self, sockets: list[Any]) -> None:
        for sock in sockets:
            sock.close()


def test_serve_runs_without_an_access_log(ledger_dir: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("paperchain.commands.ledger.uvicorn.Server", _FakeServer)
    _FakeServer.configs.clear()
    cli(capsys, "ledger", "serve", "--dir", str(ledger_dir))
    (config,) = _FakeServer.configs
    assert config.access_log is False
    assert config.log_level == "warning"


@pytest.mark.parametrize(("damage", "words"), [
    (lambda db: db.write_bytes(b"garbage\n" * 64), "file is not a database"),
    (lambda db: db.write_bytes(db.read_bytes()[:100]), "cannot open the SQLite store"),
    (lambda db: (db.unlink(), db.mkdir()), "unable to open database file"),
], ids=["not-sqlite", "truncated", "a-directory"])
def test_damaged_sqlite_store_is_a_clear_error(ledger_dir: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               damage: Any, words: str) -> None:
    db = ledger_dir / "ledger.sqlite"
    open_store(str(db)).close()  # the store is created on first open
    for extra in ledger_dir.glob("ledger.sqlite-*"):
        extra.unlink()  # without its write-ahead log, SQLite cannot repair the file
    damage(db)
    err = cli(capsys, "ledger", "serve", "--dir", str(ledger_dir), code=2)
    assert words in err
    assert "ledger.sqlite" in err
    err = cli(capsys, "ledger", "export", "--ledger", str(ledger_dir), "--out", "x", code=2)
    assert words in err


@pytest.mark.parametrize("store", ["mysql:x", "sqlite:", "ledger.sqlite"])
def test_init_refuses_an_unknown_store_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str) -> None:
    err = cli(capsys, "ledger", "init", "--dir", str(tmp_path / "L"), "--election-id", "e1",
              "--store", store, code=2)
    assert "--store" in err
    assert not (tmp_path / "L").exists()
    err = cli(capsys, "ledger", "witness", "init", "--dir", str(tmp_path / "W"),
              "--witness-id", "w1", "--election-id", "e1", "--store", store, code=2)
    assert "--store" in err
    assert not (tmp_path / "W").exists()


def test_unknown_store_in_ledger_json_is_refused(ledger_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = ledger_dir / "ledger.json"
    config.write_bytes(config.read_bytes().replace(b'"sqlite:ledger.sqlite"', b'"mysql:x"'))
    err = cli(capsys, "ledger", "serve", "--dir", str(ledger_dir), code=2)
    assert "use sqlite:FILE or a postgresql:// URL" in err
    assert "ledger.json" in err


def test_unreachable_postgres_store_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERCHAIN_PASSPHRASE", PASSPHRASE)
    cli(capsys, "ledger", "init", "--dir", str(tmp_path / "L"), "--election-id", "e1",
        "--store", "postgresql://paperchain:secret@127.0.0.1:1/nowhere")
    err = cli(capsys, "ledger", "serve", "--dir", str(tmp_path / "L"), code=2)
    assert "cannot open the PostgreSQL store" in err
    assert "secret" not in err


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_serve_on_an_impossible_address_is_a_clear_error(
        ledger_dir: Path, capsys: pytest.CaptureFixture[str], host: str) -> None:
    err = cli(capsys, "ledger", "serve", "--dir", str(ledger_dir), "--host", host, code=2)
    assert f"cannot listen on {host}" in err


@pytest.mark.parametrize(("args", "words"), [
    (("ledger", "serve", "--dir", "L", "--port", "abc"), "not a valid integer"),
    (("ledger", "serve", "--dir", "L", "--port", "99999"), "not in the range"),
    (("ledger", "serve", "--dir", "nowhere"), "does not exist"),
    (("ledger", "witness", "--url", "http://127.0.0.1:1", "--dir", "L", "--interval", "x"),
     "not a valid float"),
    (("ledger", "witness", "--url", "http://127.0.0.1:1", "--dir", "L", "--once"),
     "not a witness directory"),
    (("ledger", "witness", "--dir", "L", "--once"), "give --url"),
    (("ledger", "check", "--url", "ftp://x"), "not an http:// or https:// URL"),
    (("ledger", "export", "--ledger", "http://127.0.0.1:1", "--out", "x"),
     "cannot reach the ledger service"),
    (("ledger", "verify-proof", "truncated.json"), "malformed JSON"),
    (("ledger", "verify-proof", "other.json"), "missing key 'version'"),
    (("ledger", "verify-proof", "other.json", "--operator-key", "zz"), "64 lowercase hex"),
])
def test_bad_arguments_are_clear_errors(ledger_dir: Path, capsys: pytest.CaptureFixture[str],
                                        args: tuple[str, ...], words: str) -> None:
    Path("truncated.json").write_bytes(b'{"version": 1, "kind": "same-si')
    Path("other.json").write_bytes(b'{"a": 1}')
    err = cli(capsys, *args, code=2)
    assert words in err
