"""Ledger storage: durable appends per second, proof latency and memory at 10^4..10^6 entries.

    .venv/bin/python benchmarks/bench_ledger.py                      # SQLite, 10^4, 10^5
    .venv/bin/python benchmarks/bench_ledger.py --sizes 10000,100000,1000000  # + 10^6
    .venv/bin/python benchmarks/bench_ledger.py --sizes 10000 --json # one size, JSON on stdout
    .venv/bin/python benchmarks/bench_ledger.py --postgres           # PostgreSQL instead

For each size n a store of n entries is built once into benchmarks/cache/ and reused by
later runs (the 10^6 SQLite store takes about a minute to build and 0.8 GB of disk).
Entries are ``--entry-bytes`` random bytes (default 512: a ballot's ciphertexts are
larger, a registration smaller) with one 32-byte unique key each (like a ballot's α),
from 100 writers in turn. Then, in a fresh child process per size (so its peak RSS is
its own):

* proofs — ``root(n)``, ``inclusion_proof(i, n)`` and ``consistency_proof(m, n)`` for
  random i and m, each timed alone (median, p95, max) and verified with
  ``e2e.merkle.verify_*``; ``subtree rows`` is the most subtree hashes one proof read;
* streaming — ``envelopes(0, n)`` end to end, checking the chain (what a witness that
  copies the whole log does), in constant memory;
* durable appends on a copy of the store at size n — single-entry transactions (each
  one commit, so one fsync of the WAL: SQLite WAL + synchronous=FULL; PostgreSQL
  synchronous_commit=on with fsync on) and batches of 100 and 1000 entries;
* peak RSS of that child process, and its RSS before opening the store.

The unit of the crypto benchmarks, one 4096-bit ``gmpy2.powmod`` with a 256-bit
exponent, is measured in the same run for scale. Figures vary with the disk's fsync
latency far more than with the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2e.ledger.store import (  # noqa: E402
    GENESIS_PREVIOUS_HASH,
    PendingEntry,
    open_store,
)
from e2e.merkle import leaf_hash, verify_consistency, verify_inclusion  # noqa: E402

CACHE = ROOT / "benchmarks" / "cache"
WRITERS = 100
BUILD_BATCH = 10_000
PROOF_SAMPLES = 200
SINGLE_APPENDS = 200
BATCHED = ((100, 20), (1000, 5))  # (entries per batch, batches)


def make_envelope(index: int, previous: bytes, entry: bytes) -> bytes:
    """The shape of the ledger's envelopes (index, previous leaf hash, entry)."""
    return index.to_bytes(8, "big") + previous + entry


def _entries(start: int, count: int, entry_bytes: int, tag: str = "") -> list[PendingEntry]:
    rng = random.Random(f"{tag}{start}")
    return [
        PendingEntry(
            entry_bytes=rng.randbytes(entry_bytes),
            writer_id=f"{tag}device-{i % WRITERS:03d}",
            writer_seq=i // WRITERS,
            entry_type="ballot",
            unique_keys=(hashlib.sha256(f"{tag}alpha-{i}".encode()).digest(),),
        )
        for i in range(start, start + count)
    ]


def _status_mib(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _peak_rss_mib() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a
    # child would report the parent's peak (the process that just built a store).
    return _status_mib("VmHWM")


def _quantiles(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1e3,
        "max_ms": ordered[-1] * 1e3,
    }


# ----------------------------------------------------------------------- backends


class Sqlite:
    name = "sqlite"

    def __init__(self, entry_bytes: int) -> None:
        self.entry_bytes = entry_bytes

    def location(self, size: int) -> str:
        return str(CACHE / f"ledger-{size}-{self.entry_bytes}B.sqlite")

    def discard(self, location: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(location + suffix).unlink(missing_ok=True)

    def copy(self, location: str) -> str:
        target = location.replace(".sqlite", "-appends.sqlite")
        self.discard(target)
        shutil.copyfile(location, target)  # closed cleanly: no WAL left to copy
        return target

    def drop_copy(self, copy: str) -> None:
        self.discard(copy)

    def disk_bytes(self, location: str) -> int:
        return os.path.getsize(location)

    def stop(self) -> None:
        pass


class Postgres:
    name = "postgres"

    def __init__(self, entry_bytes: int) -> None:
        from tests.pgcluster import start_cluster

        self.entry_bytes = entry_bytes
        # Kept between runs like the SQLite files; fsync on, as a real deployment.
        self.cluster = start_cluster(base=CACHE / "postgres", durable=True)

    def _dbname(self, size: int) -> str:
        return f"ledger_{size}_{self.entry_bytes}b"

    def location(self, size: int) -> str:
        name = self._dbname(size)
        import psycopg

        with psycopg.connect(self.cluster.url(), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                admin.execute(f'CREATE DATABASE "{name}"')
        return self.cluster.url(name)

    @staticmethod
    def _name_in(url: str) -> str:
        return urllib.parse.urlsplit(url).path.lstrip("/")

    def discard(self, location: str) -> None:
        name = self._name_in(location)
        self.cluster.drop_database(name)
        self.cluster.create_database(name)

    def copy(self, location: str) -> str:
        name = self._name_in(location)
        target = name + "_appends"
        self.cluster.drop_database(target)
        self.cluster._admin(f'CREATE DATABASE "{target}" TEMPLATE "{name}"')
        return self.cluster.url(target)

    def drop_copy(self, copy: str) -> None:
        self.cluster.drop_database(self._name_in(copy))

    def disk_bytes(self, location: str) -> int:
        import psycopg

        with psycopg.connect(location) as connection:
            return int(connection.execute("SELECT pg_database_size(current_database())")
                       .fetchone()[0])

    def stop(self) -> None:
        self.cluster.stop()


# ----------------------------------------------------------------- build (parent)


def ensure_built(
    backend: Sqlite | Postgres, size: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Build the store of ``size`` entries unless the cache already holds it."""
    location = backend.location(size)
    try:
        with open_store(location) as store:
            if store.size() == size:
                return {"location": location, "built_seconds": None}
    except Exception as error:  # an unreadable leftover: rebuild it
        log(f"  discarding unusable cached store ({error})")
    backend.discard(location)
    log(f"  building {size:,} entries into {location} ...")
    start = time.perf_counter()
    with open_store(location) as store:
        for first in range(0, size, BUILD_BATCH):
            store.append(_entries(first, min(BUILD_BATCH, size - first), backend.entry_bytes),
                         make_envelope)
    seconds = time.perf_counter() - start
    log(f"  built in {seconds:.1f} s ({size / seconds:,.0f} entries/s in batches of "
        f"{BUILD_BATCH:,})")
    return {"location": location, "built_seconds": seconds}


# ---------------------------------------------------------- measure (child process)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def measure(location: str, copy: str, size: int, entry_bytes: int) -> dict[str, Any]:
    baseline = _rss_mib()
    rng = random.Random(size)
    result: dict[str, Any] = {"size": size, "rss_before_open_mib": baseline}
    with open_store(location) as store:
        # Count the subtree hashes each proof reads: wrap the store's one lookup.
        counts: list[int] = []
        lookup = store._subtree_hashes

        def counting(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
            counts.append(len(nodes))
            return lookup(nodes)

        store._subtree_hashes = counting  # type: ignore[method-assign]
        root_seconds = []
        for _ in range(20):
            seconds, root = _timed(lambda: store.root(size))
            root_seconds.append(seconds)
        inclusion, consistency = [], []
        for _ in range(PROOF_SAMPLES):
            index = rng.randrange(size)
            seconds, proof = _timed(lambda index=index: store.inclusion_proof(index, size))
            inclusion.append(seconds)
            verify_inclusion(store.leaf_hash(index), index, size, proof, root)
        rows_inclusion = max(counts)
        counts.clear()
        for _ in range(PROOF_SAMPLES):
            old = rng.randrange(1, size)
            seconds, proof = _timed(lambda old=old: store.consistency_proof(old, size))
            consistency.append(seconds)
            verify_consistency(old, size, proof, store.root(old), root)
        rows_consistency = max(counts)
        result |= {
            "root": _quantiles(root_seconds),
            "inclusion": _quantiles(inclusion),
            "consistency": _quantiles(consistency),
            "subtree_rows_max": {"inclusion": rows_inclusion, "consistency": rows_consistency},
        }
        start, previous = time.perf_counter(), GENESIS_PREVIOUS_HASH
        for index, envelope in enumerate(store.envelopes(0, size)):
            if envelope[8:40] != previous or int.from_bytes(envelope[:8], "big") != index:
                raise RuntimeError(f"envelope {index} breaks the chain")
            previous = leaf_hash(envelope)
        result["stream_envelopes_per_s"] = size / (time.perf_counter() - start)
        result["peak_rss_after_reads_mib"] = _peak_rss_mib()
    with open_store(copy) as store:
        latencies = []
        for i in range(SINGLE_APPENDS):
            batch = _entries(i, 1, entry_bytes, tag="single-")
            seconds, _ = _timed(lambda batch=batch: store.append(batch, make_envelope))
            latencies.append(seconds)
        result["append_single"] = {"per_s": len(latencies) / sum(latencies)} | _quantiles(latencies)
        offset = SINGLE_APPENDS
        for per_batch, batches in BATCHED:
            elapsed = 0.0
            for _ in range(batches):
                batch = _entries(offset, per_batch, entry_bytes, tag="batch-")
                offset += per_batch
                seconds, _ = _timed(lambda batch=batch: store.append(batch, make_envelope))
                elapsed += seconds
            result[f"append_batch_{per_batch}"] = {
                "entries_per_s": per_batch * batches / elapsed,
                "batch_ms": elapsed / batches * 1e3,
            }
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


# ------------------------------------------------------------------------ report


def powmod_ms() -> float:
    import gmpy2

    from e2e.group import STANDARD

    exponent = gmpy2.mpz(random.Random(1).getrandbits(256))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            gmpy2.powmod(STANDARD.g, exponent, STANDARD.p)
        best = min(best, (time.perf_counter() - start) / 20)
    return best * 1e3


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Backend **{report['backend']}**, entries of {report['entry_bytes']} bytes + one "
        f"32-byte unique key; {report['machine']}; one 4096-bit powmod = "
        f"{report['powmod_ms']:.2f} ms in the same run.",
        "",
        "| entries | store on disk | root | inclusion proof | consistency proof "
        "| subtree rows read | stream all envelopes |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        lines.append(
            f"| {r['size']:,} | {r['disk_bytes'] / 2**20:,.0f} MiB "
            f"| {r['root']['median_ms']:.2f} ms "
            f"| {r['inclusion']['median_ms']:.2f} ms (p95 {r['inclusion']['p95_ms']:.2f}) "
            f"| {r['consistency']['median_ms']:.2f} ms (p95 {r['consistency']['p95_ms']:.2f}) "
            f"| ≤ {r['subtree_rows_max']['inclusion']} / ≤ {r['subtree_rows_max']['consistency']} "
            f"| {r['stream_envelopes_per_s']:,.0f} /s |"
        )
    lines += [
        "",
        "| entries | durable single appends | latency (p95) | batches of 100 "
        "| batches of 1000 | build (batches of 10,000) | peak RSS (before open) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        built = (f"{r['size'] / r['built_seconds']:,.0f} /s" if r["built_seconds"]
                 else "cached")
        lines.append(
            f"| {r['size']:,} | {r['append_single']['per_s']:,.0f} /s "
            f"| {r['append_single']['median_ms']:.2f} ms ({r['append_single']['p95_ms']:.2f}) "
            f"| {r['append_batch_100']['entries_per_s']:,.0f} /s "
            f"| {r['append_batch_1000']['entries_per_s']:,.0f} /s | {built} "
            f"| {r['peak_rss_mib']:.0f} MiB ({r['rss_before_open_mib']:.0f}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated store sizes (default 10000,100000; the full "
                             "figures: 10000,100000,1000000)")
    parser.add_argument("--entry-bytes", type=int, default=512,
                        help="bytes per entry (default 512)")
    parser.add_argument("--postgres", action="store_true",
                        help="measure the PostgreSQL store (a cluster kept in benchmarks/cache)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--measure", nargs=4, metavar=("LOCATION", "COPY", "SIZE", "BYTES"),
                        help=argparse.SUPPRESS)  # the child process's entry point
    args = parser.parse_args(argv)
    if args.measure:
        location, copy, size, entry_bytes = args.measure
        print(json.dumps(measure(location, copy, int(size), int(entry_bytes))))
        return

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    CACHE.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backend: Sqlite | Postgres = (Postgres if args.postgres else Sqlite)(args.entry_bytes)
    report: dict[str, Any] = {
        "backend": backend.name,
        "entry_bytes": args.entry_bytes,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        "powmod_ms": powmod_ms(),
        "sizes": [],
    }
    try:
        for size in sizes:
            log(f"{backend.name}: {size:,} entries")
            built = ensure_built(backend, size, log)
            copy = backend.copy(built["location"])
            try:
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", built["location"], copy, str(size),
                     str(args.entry_bytes)],
                    check=True, capture_output=True, text=True,
                )
            finally:
                backend.drop_copy(copy)
            result = json.loads(child.stdout)
            result["built_seconds"] = built["built_seconds"]
            result["disk_bytes"] = backend.disk_bytes(built["location"])
            report["sizes"].append(result)
            log(f"  inclusion {result['inclusion']['median_ms']:.2f} ms, "
                f"{result['append_single']['per_s']:,.0f} durable appends/s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB")
    finally:
        backend.stop()
    print(json.dumps(report, indent=2) if args.json else markdown(report))


if __name__ == "__main__":
    main()
