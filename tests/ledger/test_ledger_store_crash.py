"""kill -9 during bulk appends loses no acknowledged entry, and the store reopens whole.

A child process appends batches as fast as it can and prints each acknowledged index
after ``append`` returns; the parent kills it with SIGKILL at a random moment (so also
in the middle of a transaction), reopens the store and checks that every acknowledged
entry is there with its leaf hash, that the envelopes chain, that the persisted tree is
the tree of the envelopes, and that the log after the crash extends the log before it
(a consistency proof). Three rounds per backend, each continuing the same log.

What this proves is crash safety of the *process*: the operating system keeps what was
written before the kill. Surviving power loss rests on SQLite's WAL with
synchronous=FULL (asserted in test_ledger_store.py) and PostgreSQL's
synchronous_commit=on.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.ledger.store import open_store
from e2e.merkle import verify_consistency, verify_inclusion
from tests.ledger.store_helpers import check_store

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 3


def _stderr(child: subprocess.Popen[str]) -> str:
    return child.stderr.read() if child.stderr else ""


def _run_and_kill(
    store_url: str, writer: str, acks_before_kill: int, delay: float
) -> dict[int, str]:
    """Start the child, let it acknowledge some appends, SIGKILL it; every ack it printed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), store_url, writer],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    acknowledged: dict[int, str] = {}
    try:
        if child.stdout is None or child.stdout.readline().strip() != "ready":
            raise AssertionError(f"the child did not start: {_stderr(child)}")
        while len(acknowledged) < acks_before_kill:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the child died: {_stderr(child)}")
            index, leaf = line.split()
            acknowledged[int(index)] = leaf
        time.sleep(delay)  # land the kill anywhere in the next transactions
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # Lines written before the kill are acknowledged appends too.
    for line in child.stdout.read().splitlines() if child.stdout else []:
        parts = line.split()
        if len(parts) == 2:  # a line cut by the kill was never acknowledged in full
            acknowledged[int(parts[0])] = parts[1]
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()
    assert child.returncode == -signal.SIGKILL
    return acknowledged


@pytest.mark.slow
def test_sigkill_during_bulk_appends_loses_no_acknowledged_entry(store_url: str) -> None:
    rng = random.Random(20240917)
    previous_size, previous_root = 0, b""
    for round_number in range(ROUNDS):
        acknowledged = _run_and_kill(
            store_url, f"writer-{round_number}", rng.randint(20, 80), rng.uniform(0, 0.02)
        )
        with open_store(store_url) as store:
            hashes = check_store(store)  # the chain and the persisted tree agree
            size = len(hashes)
            for index, leaf in acknowledged.items():
                assert index < size, f"acknowledged entry {index} lost (size {size})"
                assert hashes[index].hex() == leaf
            root = store.root(size)
            if previous_size:
                proof = store.consistency_proof(previous_size, size)
                verify_consistency(previous_size, size, proof, previous_root, root)
            for index in rng.sample(range(size), 10):
                verify_inclusion(hashes[index], index, size, store.inclusion_proof(index, size),
                                 root)
            assert size > previous_size
            previous_size, previous_root = size, root
