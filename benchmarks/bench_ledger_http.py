"""The ledger over HTTP: durable appends per second, read latencies, a witness's copy rate.

    .venv/bin/python benchmarks/bench_ledger_http.py              # ~1 min
    .venv/bin/python benchmarks/bench_ledger_http.py --json       # the figures as JSON
    .venv/bin/python benchmarks/bench_ledger_http.py --appends 500 --clients 1,4,8

What it runs: `paperchain ledger serve` as its own process on 127.0.0.1 (uvicorn, one
worker, SQLite store with WAL + synchronous=FULL) over a fresh ledger whose setup
registers eight officials. Clients are ``HttpLedger`` objects in this process, one
thread each, each writing as its own official (so sequence numbers never collide):

* **appends** — ``register-writer`` entries (≈ 300 bytes). Each one goes through every
  admission check (decode, writer, Ed25519 signature, sequence, role, phase, payload),
  is committed durably (one WAL fsync per entry: the operator acknowledges nothing
  before it is on disk) and answered with the signed inclusion promise. Figures:
  acknowledged appends per second over the run, and per-append latency (median, p95)
  as a client sees it. Ballots cost their proof checks on top (``bench_crypto.py``).
* **reads** — on the resulting log: ``GET /v1/head`` after an append (the operator
  signs a new head), ``GET /v1/proofs/inclusion`` and ``/v1/proofs/consistency`` for
  random indices, and a page of 500 envelopes.
* **witness** — a witness copying the whole log over HTTP from scratch, checking every
  envelope, chain link, signature and admission rule, then the root, and cosigning.

The unit of the crypto benchmarks (one 4096-bit ``gmpy2.powmod``) is measured for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gmpy2  # noqa: E402
import nacl.public  # noqa: E402

from e2e.group import STANDARD  # noqa: E402
from e2e.ledger.directory import init_ledger_directory  # noqa: E402
from e2e.ledger.entry import sign_entry  # noqa: E402
from e2e.ledger.http_client import HttpLedger  # noqa: E402
from e2e.ledger.operator import RegisterWriter  # noqa: E402
from e2e.ledger.store import open_store  # noqa: E402
from e2e.ledger.witness import Witness, WitnessConfig  # noqa: E402
from e2e.manifest import demo_manifest  # noqa: E402
from e2e.merkle import root_from_leaf_hashes, verify_consistency, verify_inclusion  # noqa: E402
from e2e.official import build_setup  # noqa: E402
from e2e.setup import Role, TrusteeInfo, WitnessInfo, WriterInfo  # noqa: E402
from e2e.signing import SigningKey  # noqa: E402

OFFICIALS = 8


def powmod_unit(rounds: int = 20) -> float:
    p = int(STANDARD.p)
    base, exponent = 3, (1 << 255) + 12345
    start = time.perf_counter()
    for _ in range(rounds):
        gmpy2.powmod(base, exponent, p)
    return (time.perf_counter() - start) / rounds


class Election:
    """A ledger directory and a setup with ``OFFICIALS`` officials and one witness."""

    def __init__(self, directory: Path) -> None:
        manifest = demo_manifest()
        self.election_id = manifest.election_id
        config = init_ledger_directory(directory / "ledger", election_id=self.election_id)
        self.ledger_dir = directory / "ledger"
        self.officials = {f"official-{i}": SigningKey.generate() for i in range(1, OFFICIALS + 1)}
        self.witness_key = SigningKey.generate()
        trustees = [TrusteeInfo(i, f"Trustee {i}", f"trustee-{i}",
                                SigningKey.generate().verify_key,
                                bytes(nacl.public.PrivateKey.generate().public_key))
                    for i in (1, 2, 3)]
        self.setup = build_setup(
            manifest=manifest, group=STANDARD, threshold=2, trustees=trustees,
            officials=[(name, key.verify_key) for name, key in self.officials.items()],
            witnesses=[WitnessInfo("w1", self.witness_key.verify_key)], witness_threshold=1,
            operator_key=config.operator_key, log_origin=config.origin)
        self.device_key = SigningKey.generate().verify_key

    def setup_entry(self) -> bytes:
        return sign_entry(self.officials["official-1"], "setup", self.election_id, "official-1",
                          0, self.setup.to_payload()).encode()

    def registration(self, official: str, sequence: int) -> bytes:
        writer = WriterInfo(f"{official}-d{sequence}", Role.DEVICE, self.device_key, "Annex")
        return sign_entry(self.officials[official], "register-writer", self.election_id,
                          official, sequence, RegisterWriter(writer).to_payload()).encode()


def serve(ledger_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paperchain", "ledger", "serve", "--dir", str(ledger_dir),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready:
        process.kill()
        raise SystemExit("the ledger service did not start")
    return process, process.stdout.readline().strip()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_appends(url: str, election: Election, clients: int, total: int,
                next_sequence: dict[str, int]) -> dict[str, Any]:
    names = list(election.officials)[:clients]
    per_client = total // clients
    latencies: list[float] = []
    lock = threading.Lock()

    def client(name: str) -> None:
        own = []
        with HttpLedger(url) as http:
            for _ in range(per_client):
                raw = election.registration(name, next_sequence[name])
                start = time.perf_counter()
                http.append_bytes(raw)
                own.append(time.perf_counter() - start)
                next_sequence[name] += 1
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(name,)) for name in names]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"clients": clients, "appends": len(latencies),
            "per_second": len(latencies) / elapsed,
            "latency_median_ms": 1000 * statistics.median(latencies),
            "latency_p95_ms": 1000 * percentile(latencies, 0.95)}


def timed(calls: int, work: Any) -> dict[str, float]:
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        work(i)
        samples.append(time.perf_counter() - start)
    return {"median_ms": 1000 * statistics.median(samples),
            "p95_ms": 1000 * percentile(samples, 0.95)}


def run_reads(url: str, election: Election, next_sequence: dict[str, int]) -> dict[str, Any]:
    rng = random.Random(2026)  # which indices to ask for: not cryptography
    with HttpLedger(url) as http:
        head = http.latest_head()
        assert head is not None
        size = head.size
        leaves = http.leaf_hashes(0, size)

        def inclusion(_: int) -> None:
            index = rng.randrange(size)
            verify_inclusion(leaves[index], index, size, http.inclusion_proof(index, size),
                             head.root)

        older = {m: root_from_leaf_hashes(leaves[:m])
                 for m in rng.sample(range(1, size), min(20, size - 1))}

        def consistency(_: int) -> None:
            first = rng.choice(list(older))
            proof = http.consistency_proof(first, size)
            verify_consistency(first, size, proof, older[first], head.root)

        def new_head(_: int) -> None:
            name = "official-1"
            http.append_bytes(election.registration(name, next_sequence[name]))
            next_sequence[name] += 1
            http.latest_head()

        def page(_: int) -> None:
            start = rng.randrange(max(1, size - 500))
            for _ in http.envelope_range(start, min(size, start + 500)):
                pass

        return {"log_size": size, "inclusion_proof": timed(200, inclusion),
                "consistency_proof": timed(100, consistency),
                "append_then_signed_head": timed(50, new_head),
                "page_of_500_envelopes": timed(20, page)}


def run_witness(url: str, election: Election, directory: Path) -> dict[str, Any]:
    config = WitnessConfig(directory, "w1", election.election_id, False,
                           election.witness_key.verify_key, "sqlite:witness.sqlite")
    witness = Witness(config, election.witness_key, open_store(config.store_location()))
    with HttpLedger(url) as http:
        start = time.perf_counter()
        result = witness.sync(http)
        elapsed = time.perf_counter() - start
    return {"entries": result.new_entries, "seconds": elapsed,
            "entries_per_second": result.new_entries / elapsed, "cosigned": result.cosigned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=400,
                        help="appends per client configuration (default 400)")
    parser.add_argument("--clients", default="1,4", help="client counts, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    unit = powmod_unit()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-http-", dir=ROOT / "benchmarks"
                                     ) as work:
        election = Election(Path(work))
        process, url = serve(election.ledger_dir)
        try:
            with HttpLedger(url) as http:
                http.append_bytes(election.setup_entry())
            sequences = {name: 0 for name in election.officials}
            sequences["official-1"] = 1
            appends = [run_appends(url, election, int(c), args.appends, sequences)
                       for c in args.clients.split(",")]
            reads = run_reads(url, election, sequences)
            witness_dir = Path(work) / "witness"
            witness_dir.mkdir()
            witness = run_witness(url, election, witness_dir)
        finally:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    figures = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_average": os.getloadavg()[0],
                           "powmod_unit_ms": 1000 * unit},
               "appends": appends, "reads": reads, "witness": witness}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}, powmod unit {1000 * unit:.2f} ms")
    print("\ndurable appends over HTTP (register-writer entries, one fsync each)")
    for row in appends:
        print(f"  {row['clients']} client(s): {row['per_second']:7.1f} appends/s, latency "
              f"median {row['latency_median_ms']:.1f} ms, p95 {row['latency_p95_ms']:.1f} ms")
    print(f"\nreads over HTTP on a log of {reads['log_size']} entries (median / p95)")
    for name in ("inclusion_proof", "consistency_proof", "append_then_signed_head",
                 "page_of_500_envelopes"):
        print(f"  {name.replace('_', ' '):28} {reads[name]['median_ms']:7.2f} / "
              f"{reads[name]['p95_ms']:7.2f} ms")
    print(f"\nwitness copy from scratch: {witness['entries']} entries in "
          f"{witness['seconds']:.1f} s = {witness['entries_per_second']:.0f} entries/s, "
          f"cosigned: {witness['cosigned']}")


if __name__ == "__main__":
    main()
