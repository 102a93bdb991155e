"""kill -9 of the ledger service during bulk appends over HTTP, then a restart.

`paperchain ledger serve` runs as a real process on 127.0.0.1; four officials append
register-writer entries concurrently, each remembering every acknowledged (index, leaf
hash). The process is killed with SIGKILL mid-stream and started again on the same
directory: every acknowledged entry must be there, at its index, and a witness copying
the whole ledger from the restarted service must check every envelope, chain link,
signature, sequence number and the head's root.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from e2e.errors import PaperchainError
from e2e.ledger.entry import decode_entry, sign_entry
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.store import open_store
from e2e.ledger.witness import Witness, WitnessConfig
from e2e.signing import SigningKey
from tests.ledger.service_helpers import Election, StepClock, make_election
from tests.strategies import _seed

pytestmark = pytest.mark.slow

OFFICIALS = 4


def serve(ledger_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paperchain", "ledger", "serve", "--dir", str(ledger_dir),
         "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready:
        process.kill()
        raise AssertionError("the service printed no URL within a minute")
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return process, url


def official_key(number: int, election: Election) -> SigningKey:
    return election.official_key if number == 1 else SigningKey(_seed("official", number))


def test_kill_9_during_bulk_appends_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    election = make_election(tmp_path, extra_officials=OFFICIALS - 1)
    process, url = serve(election.ledger_dir)
    acknowledged: dict[int, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()
    try:
        client = HttpLedger(url)
        client.append_bytes(election.setup_entry())

        def writer(number: int) -> None:
            name = f"official-{number}"
            key = official_key(number, election)
            with HttpLedger(url, timeout=10) as own:
                sequence = own.next_sequence(name)
                while not stop.is_set():
                    payload = election.register_device(f"o{number}-{sequence}", 0)
                    raw = _resign(payload, key, name, sequence, election)
                    try:
                        result = own.append_bytes(raw)
                    except PaperchainError:
                        return  # the service is gone
                    with lock:
                        acknowledged[result.index] = result.leaf_hash
                    sequence += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, OFFICIALS + 1)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert len(acknowledged) >= 150
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
    process, url = serve(election.ledger_dir)
    try:
        restarted = HttpLedger(url)
        size = restarted.size()
        assert size >= max(acknowledged) + 1
        leaves = restarted.leaf_hashes(0, size)
        for index, leaf in acknowledged.items():
            assert leaves[index] == leaf, f"acknowledged entry {index} lost or changed"
        # A witness copies and checks everything the restarted service holds.
        key = election.witness_keys["w1"]
        directory = tmp_path / "w1"
        directory.mkdir()
        config = WitnessConfig(directory, "w1", election.election_id, True, key.verify_key,
                               "sqlite:w.sqlite")
        witness = Witness(config, key, open_store(config.store_location()), StepClock())
        result = witness.sync(restarted)
        assert result.cosigned
        assert result.new_entries == size
        # Appends continue where each writer's last durable entry left off.
        for number in range(1, OFFICIALS + 1):
            name = f"official-{number}"
            sequence = restarted.next_sequence(name)
            raw = _resign(election.register_device(f"after-{number}", 0),
                          official_key(number, election), name, sequence, election)
            assert restarted.append_bytes(raw).index == size + number - 1
    finally:
        process.kill()
        process.wait(timeout=30)


def _resign(raw: bytes, key: SigningKey, writer_id: str, sequence: int,
            election: Election) -> bytes:
    entry = decode_entry(raw)
    return sign_entry(key, entry.entry_type, election.election_id, writer_id, sequence,
                      entry.payload).encode()
