"""A whole election through the command line, as separate roles would run it.

Every step is a real ``paperchain`` process working on real files; the election runs
on the test group (the standard group runs in ``make demo`` and the demo test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.errors import PaperchainError  # noqa: F401 - the CLI must map these to exit 2

pytestmark = pytest.mark.slow

MANIFEST = Path(__file__).resolve().parents[2] / "e2e" / "data" / "demo_manifest.json"
ELECTION = json.loads(MANIFEST.read_bytes())["election_id"]


def run(*args: str, ok: bool = True, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAPERCHAIN_PASSPHRASE": "cli test passphrase"}
    done = subprocess.run([sys.executable, "-m", "paperchain", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600, check=False)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stderr}"
    return done


def test_whole_election_through_the_cli(tmp_path: Path) -> None:
    run("ledger", "init", "--dir", "ledger", "--election-id", ELECTION, "--test-group",
        cwd=tmp_path)
    run("election", "official-init", "--dir", "official", "--election-id", ELECTION,
        cwd=tmp_path)
    for i in (1, 2, 3):
        run("trustee", "init", "--dir", f"t{i}", "--election-id", ELECTION, "--index", str(i),
            "--name", f"Trustee {i}", cwd=tmp_path)
    run("vote", "device-init", "--dir", "kiosk", "--election-id", ELECTION, "--device-id",
        "kiosk-1", "--location", "City Hall", cwd=tmp_path)
    run("election", "setup", "--official", "official", "--ledger", "ledger", "--manifest",
        str(MANIFEST), "--threshold", "2", "--trustee", "t1", "--trustee", "t2", "--trustee",
        "t3", "--device", "kiosk", cwd=tmp_path)
    for _ in range(3):
        for i in (1, 2, 3):
            run("trustee", "ceremony", "--dir", f"t{i}", "--ledger", "ledger", cwd=tmp_path)
    closed = run("election", "ceremony", "--official", "official", "--ledger", "ledger",
                 cwd=tmp_path)
    assert "closed the ceremony" in closed.stderr
    run("election", "open", "--official", "official", "--ledger", "ledger", cwd=tmp_path)
    manifest = json.loads(MANIFEST.read_bytes())
    style = manifest["ballot_styles"][0]
    contest = next(c for c in manifest["contests"] if c["id"] == style["contests"][0])
    choices = tmp_path / "choices.json"
    choices.write_text(json.dumps({contest["id"]: [contest["selections"][0]["id"]]}))
    receipts = []
    for challenge in (False, True, False):
        flags = ["--challenge"] if challenge else []
        done = run("vote", "cast", "--device", "kiosk", "--ledger", "ledger", "--style",
                   style["id"], "--choices", str(choices), *flags, cwd=tmp_path)
        receipts.append(json.loads(done.stdout))
    assert [r["status"] for r in receipts] == ["CAST", "CHALLENGED", "CAST"]
    overvote = tmp_path / "overvote.json"
    overvote.write_text(json.dumps({contest["id"]: [s["id"] for s in contest["selections"]]}))
    refused = run("vote", "cast", "--device", "kiosk", "--ledger", "ledger", "--style",
                  style["id"], "--choices", str(overvote), ok=False, cwd=tmp_path)
    assert refused.returncode == 2
    assert "overvote" in refused.stderr
    assert "Traceback" not in refused.stderr
    run("vote", "close", "--device", "kiosk", "--ledger", "ledger", cwd=tmp_path)
    run("election", "close", "--official", "official", "--ledger", "ledger", cwd=tmp_path)
    run("tally", "--official", "official", "--ledger", "ledger", cwd=tmp_path)
    assert (tmp_path / "t1" / "polynomial.secret").exists()  # no ceremony step since the close
    run("trustee", "decrypt", "--dir", "t1", "--ledger", "ledger", cwd=tmp_path)
    assert not (tmp_path / "t1" / "polynomial.secret").exists()  # erased by the decryption
    assert not (tmp_path / "t1" / "received.secret").exists()
    short = run("decrypt", "--official", "official", "--ledger", "ledger", ok=False,
                cwd=tmp_path)
    assert short.returncode == 2
    assert "threshold is 2" in short.stderr
    run("trustee", "decrypt", "--dir", "t3", "--ledger", "ledger", cwd=tmp_path)
    results = run("decrypt", "--official", "official", "--ledger", "ledger", cwd=tmp_path)
    assert contest["selections"][0]["label"]["en"] in results.stdout
    run("ledger", "export", "--ledger", "ledger", "--out", "record", cwd=tmp_path)
    refused = run("verify", "record", ok=False, cwd=tmp_path)
    assert refused.returncode == 1
    assert "--test-group" in refused.stderr
    verified = run("verify", "record", "--test-group", "--json", cwd=tmp_path)
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert report["checks"]["cast ballots verified"] == 2
    assert report["checks"]["challenged ballots re-encrypted"] == 1
    counts = {(r["contest"], r["selection"]): r["count"] for r in report["facts"]["results"]}
    first_contest = [c["id"] for c in manifest["contests"]].index(contest["id"])
    assert counts[(first_contest, 0)] == 2
