"""A whole election through the CLI against `paperchain ledger serve`, with two witnesses.

Every step is a real ``paperchain`` process: the operator serves its directory on
127.0.0.1, every role writes with ``--ledger URL``, the witnesses sync with ``--once``
and then serve their copies, the tally starts at the head both cosigned, the record is
exported over HTTP and verified against the live ledger, receipts are checked against
the witnesses, and `ledger check` finds operator and witnesses consistent — until the
operator is replaced by one serving a rewritten history, whose equivocation `ledger
check` proves and `ledger verify-proof` confirms offline.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from e2e.identity import WriterIdentity
from e2e.ledger.promise import InclusionPromise
from paper.payload import ReceiptStatus, make_receipt
from tests.ledger.service_helpers import rewrite_history

pytestmark = pytest.mark.slow

MANIFEST = Path(__file__).resolve().parents[2] / "e2e" / "data" / "demo_manifest.json"
ELECTION = json.loads(MANIFEST.read_bytes())["election_id"]
PASSPHRASE = "witness cli test passphrase"


def env() -> dict[str, str]:
    return {**os.environ, "PAPERCHAIN_PASSPHRASE": PASSPHRASE}


def run(*args: str, cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "paperchain", *args], capture_output=True,
                          text=True, env=env(), cwd=cwd, timeout=600, check=False)
    assert done.returncode == code, f"{args}: {done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "paperchain", *args, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=env(), cwd=cwd)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, f"{args} printed no URL"
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        yield url
    finally:
        process.kill()
        process.wait(timeout=30)


def test_election_over_http_with_witnesses_through_the_cli(tmp_path: Path) -> None:
    run("ledger", "init", "--dir", "ledger", "--election-id", ELECTION, "--test-group",
        cwd=tmp_path)
    for witness in ("w1", "w2"):
        run("ledger", "witness", "init", "--dir", witness, "--witness-id", witness,
            "--election-id", ELECTION, "--test-group", cwd=tmp_path)
    run("election", "official-init", "--dir", "official", "--election-id", ELECTION,
        cwd=tmp_path)
    for i in (1, 2, 3):
        run("trustee", "init", "--dir", f"t{i}", "--election-id", ELECTION, "--index", str(i),
            "--name", f"Trustee {i}", cwd=tmp_path)
    run("vote", "device-init", "--dir", "kiosk", "--election-id", ELECTION, "--device-id",
        "kiosk-1", "--location", "City Hall", cwd=tmp_path)

    def witnesses_sync() -> None:
        for witness in ("w1", "w2"):
            run("ledger", "witness", "--url", url, "--dir", witness, "--once", cwd=tmp_path)

    with serving("ledger", "serve", "--dir", "ledger", cwd=tmp_path) as url:
        official = ("--official", "official", "--ledger", url)
        run("election", "setup", *official, "--manifest", str(MANIFEST), "--threshold", "2",
            "--trustee", "t1", "--trustee", "t2", "--trustee", "t3", "--device", "kiosk",
            "--witness", "w1", "--witness", "w2", "--witness-threshold", "2", cwd=tmp_path)
        witnesses_sync()
        for _ in range(3):
            for i in (1, 2, 3):
                run("trustee", "ceremony", "--dir", f"t{i}", "--ledger", url, cwd=tmp_path)
        run("election", "ceremony", *official, cwd=tmp_path)
        run("election", "open", *official, cwd=tmp_path)
        manifest = json.loads(MANIFEST.read_bytes())
        style = manifest["ballot_styles"][0]
        contest = next(c for c in manifest["contests"] if c["id"] == style["contests"][0])
        choices = tmp_path / "choices.json"
        choices.write_text(json.dumps({contest["id"]: [contest["selections"][0]["id"]]}))
        receipts = []
        for flags in ([], ["--challenge"]):
            done = run("vote", "cast", "--device", "kiosk", "--ledger", url, "--style",
                       style["id"], "--choices", str(choices), *flags, cwd=tmp_path)
            receipts.append(json.loads(done.stdout))
        run("vote", "close", "--device", "kiosk", "--ledger", url, cwd=tmp_path)
        run("election", "close", *official, cwd=tmp_path)
        early = run("tally", *official, cwd=tmp_path, code=2)
        assert "witness cosignatures" in early.stderr or "does not cover" in early.stderr
        witnesses_sync()  # the close-of-voting head, cosigned by both
        run("tally", *official, cwd=tmp_path)
        run("trustee", "decrypt", "--dir", "t1", "--ledger", url, cwd=tmp_path)
        run("trustee", "decrypt", "--dir", "t3", "--ledger", url, cwd=tmp_path)
        run("decrypt", *official, cwd=tmp_path)
        witnesses_sync()
        run("ledger", "export", "--ledger", url, "--out", "record", cwd=tmp_path)
        verified = run("verify", "record", "--test-group", "--json", "--ledger", url,
                       cwd=tmp_path)
        report = json.loads(verified.stdout)
        assert report["ok"] is True, report["findings"]
        assert report["checks"]["tally at a witness-cosigned close-of-voting head"] == 1
        assert report["checks"]["record and live ledger agree entry for entry"] > 0

        with serving("ledger", "witness", "serve", "--dir", "w1", cwd=tmp_path) as w1, \
                serving("ledger", "witness", "serve", "--dir", "w2", cwd=tmp_path) as w2:
            watchers = ("--witness", w1, "--witness", w2)
            for receipt, status in zip(receipts, ("cast", "challenged"), strict=True):
                done = run("receipt", "check", "--tracking-code", receipt["tracking_code"],
                           "--ledger", url, *watchers, "--test-group", cwd=tmp_path)
                assert json.loads(done.stdout)["status"] == status
            device = WriterIdentity.open(tmp_path / "kiosk", PASSPHRASE.encode())
            promise = receipts[0]["promise"]
            qr = make_receipt(device.key, ELECTION, bytes.fromhex(receipts[0]["tracking_code"]),
                              ReceiptStatus.CAST,
                              InclusionPromise(promise["index"],
                                               bytes.fromhex(promise["leaf_hash"]),
                                               bytes.fromhex(promise["signature"])),
                              test=True)
            done = run("receipt", "check", "--qr-payload", qr.to_bytes().hex(), "--ledger", url,
                       *watchers, "--test-group", cwd=tmp_path)
            assert json.loads(done.stdout)["status"] == "cast"
            consistent = run("ledger", "check", "--url", url, "--url", w1, "--url", w2,
                             cwd=tmp_path)
            assert "CONSISTENT" in consistent.stderr

            # The operator restarts on a history that drops the challenged ballot.
            rewritten = rewrite_history(tmp_path / "ledger", tmp_path / "rewritten",
                                        lambda entries: entries[:-6] + entries[-5:])
            shutil.rmtree(tmp_path / "ledger")
            (tmp_path / "rewritten").rename(tmp_path / "ledger")
            del rewritten
    with serving("ledger", "serve", "--dir", "ledger", cwd=tmp_path) as url, \
            serving("ledger", "witness", "serve", "--dir", "w1", cwd=tmp_path) as w1:
        caught = run("ledger", "check", "--url", url, "--url", w1, "--proof-out", "proof.json",
                     cwd=tmp_path, code=1)
        assert "EQUIVOCATION" in caught.stderr
    valid = run("ledger", "verify-proof", "proof.json", cwd=tmp_path)
    assert json.loads(valid.stdout)["valid"] is True
    proof = json.loads((tmp_path / "proof.json").read_bytes())
    proof["heads"].reverse()
    (tmp_path / "forged.json").write_text(json.dumps(proof))
    refused = run("ledger", "verify-proof", "forged.json", cwd=tmp_path, code=2)
    assert "error:" in refused.stderr
