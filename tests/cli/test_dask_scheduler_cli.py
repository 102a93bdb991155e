"""``paperchain --scheduler ADDRESS`` against a Dask cluster started apart, as on real machines.

The other Dask tests use a ``LocalCluster`` inside the test's process. Here the
scheduler and its workers are separate ``dask`` processes, found through a scheduler
file and reached over TCP on 127.0.0.1 — the way a jurisdiction would start them on
its own machines — and the verifier is a separate ``paperchain`` process: the same
verdict as without the cluster, with the ballot chunks run by the cluster's workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.group import TEST_GROUP
from e2e.manifest import demo_manifest
from e2e.record import export_record
from tests.perf.ledgers import SyntheticElection, envelopes_of

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
BALLOTS = 2 * 150  # more than four chunks of 64: the verifier moves to the shared executor


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    election = SyntheticElection.create(TEST_GROUP, demo_manifest(), devices=2)
    entries = [*election.opening_entries(),
               *election.chain("kiosk-1", BALLOTS // 2, compact=True),
               *election.chain("kiosk-2", BALLOTS // 2, compact=True),
               *election.closing_entries()]
    directory = tmp_path_factory.mktemp("dask") / "record"
    export_record(envelopes_of(entries), election.context.manifest.source_bytes,
                  election.election_id, directory)
    return directory


@contextlib.contextmanager
def _cluster(tmp: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers, each its own ``dask`` process."""
    scheduler_file = tmp / "scheduler.json"
    logs = [open(tmp / name, "w") for name in ("scheduler.log", "workers.log")]  # noqa: SIM115
    processes = [subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=logs[0], stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                pytest.fail(f"the scheduler did not start: {(tmp / 'scheduler.log').read_text()}")
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        processes.append(subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1"],
            stdout=logs[1], stderr=subprocess.STDOUT))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def _verify(record: Path, *options: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "paperchain", *options, "verify", str(record), "--test-group",
         "--partial", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_cluster_started_apart_verifies_the_record_with_the_same_report(
        record: Path, tmp_path: Path) -> None:
    alone = _verify(record)
    with _cluster(tmp_path) as address:
        clustered = _verify(record, "--scheduler", address)
        with distributed.Client(address, timeout="30s") as client:
            prefixes = client.run_on_scheduler(
                lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "verify_chunk" in prefixes  # the ballots' chunks ran on the cluster's workers
    assert clustered == alone
    assert clustered["ok"] is True
