"""``paperchain kiosk serve`` and ``paperchain board serve`` as a poll worker starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from e2e.identity import WriterIdentity
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.service import bind_socket
from e2e.ledger.types import EntryType
from e2e.setup import Role, WriterInfo
from tests.strategies import FAST_KDF
from tests.web.web_helpers import WebElection

PASSPHRASE = "kiosk passphrase for the tests"


def free_port() -> int:
    sock = bind_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def start(args: list[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "paperchain", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start")


def stop(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return out.decode(), err.decode()


def test_kiosk_and_board_serve_from_the_command_line(web: WebElection, tmp_path: Path) -> None:
    device_dir = tmp_path / "kiosk-9"
    identity = WriterIdentity.create(device_dir, election_id=web.election_id,
                                     writer_id="kiosk-9", role=Role.DEVICE,
                                     passphrase=PASSPHRASE.encode(), location="Annex",
                                     limits=FAST_KDF)
    web.network.official().write(EntryType.REGISTER_WRITER, RegisterWriter(WriterInfo(
        "kiosk-9", Role.DEVICE, identity.card.key, "Annex")).to_payload())
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    (tmp_path / "secret").write_text("poll-worker-secret-cli\n")
    spool = tmp_path / "spool"
    spool.mkdir()
    port = free_port()
    kiosk_url = f"http://127.0.0.1:{port}"
    kiosk = start(["kiosk", "serve", "--election", web.election_id, "--device", str(device_dir),
                   "--ledger", web.network.url, "--session", "cli", "--port", str(port),
                   "--spool", str(spool), "--poll-worker-secret-file", str(tmp_path / "secret"),
                   "--check-url", "https://check.example", "--complaint-contact", "Clerk",
                   "--complaint-deadline", "2026-11-17", "--test-group",
                   "--passphrase-file", str(tmp_path / "passphrase")], kiosk_url + "/")
    try:
        api = f"{kiosk_url}/v1/elections/{web.election_id}"
        style = web.kiosk.manifest.ballot_styles[0].id
        token = httpx.post(f"{api}/activations", json={"version": 1, "style_id": style},
                           headers={"Authorization": "Bearer poll-worker-secret-cli"}
                           ).json()["token"]
        client = httpx.Client()
        session = client.post(f"{api}/session", json={"version": 1, "token": token,
                                                      "language": "en"}).json()
        choices = {c["id"]: [] for c in session["ballot"]["contests"]}
        assert client.post(f"{api}/ballot/print", json={"version": 1, "choices": choices}
                           ).status_code == 200
        cast = client.post(f"{api}/ballot/cast", json={"version": 1}).json()
        assert cast["status"] == "cast"
        assert len(list(spool.glob("*.pdf"))) == 2
    finally:
        out, err = stop(kiosk)
    assert cast["tracking_code"] not in out + err
    kept = {p.name for p in device_dir.iterdir()}
    assert "cvrs.json" in kept  # the encrypted CVRs, sorted by ballot ID, until published
    assert not any(name.endswith(".pdf") for name in kept)
    assert len(kept) == 3  # and the device's two identity files

    web.sync()
    port = free_port()
    board_url = f"http://127.0.0.1:{port}"
    witnesses = [a for w in web.network.witnesses
                 for a in ("--witness", web.network.witness_url(w))]
    board = start(["board", "serve", "--election", web.election_id, "--ledger", web.network.url,
                   *witnesses, "--port", str(port), "--test-group", "--no-verify",
                   "--setup-hash", web.site.setup_leaf_hash.hex()], board_url + "/")
    try:
        page = httpx.get(f"{board_url}/elections/{web.election_id}/board/entries")
        assert page.status_code == 200
        assert "kiosk-9" in page.text
    finally:
        out, err = stop(board)
    assert "GET /" not in out + err  # no access log
    wrong = subprocess.run([sys.executable, "-m", "paperchain", "board", "serve", "--election",
                            web.election_id, "--ledger", web.network.url, *witnesses,
                            "--setup-hash", "00" * 32, "--test-group"],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": "200"}, check=False)
    assert wrong.returncode == 2
    assert "not the pinned one" in wrong.stderr
