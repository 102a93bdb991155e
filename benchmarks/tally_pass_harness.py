"""A/B harness for the tally pass alone: NOT a verification, NOT a benchmark of record.

    .venv/bin/python benchmarks/tally_pass_harness.py RECORD [--passes N] [--chunk-size 64]
        [--in-flight 4] [--profile FILE]

The tally pass (the trustee's recomputation) reuses the verdicts of a verification in the
same process. A real verification of the 10^5 record takes ≈ 45 min; to compare versions
of the tally pass in minutes, this harness fills the process's verdicts with a pass whose
proof checks (``e2e.ballot._batch_flags``) and signature checks are switched off — so
that first pass proves nothing, and its report is not printed as one — then restores them
and times ``--passes`` real tally passes (every envelope read, hashed and chained, every
verdict looked up, every α answer checked, every ciphertext multiplied), each checked
against the first pass's totals. Run it from the tree to measure (``cd OTHER-TREE &&
…/tally_pass_harness.py``: the code under the current directory is imported). The
figures of record come from ``bench_scale.py --child RECORD 2 - tally``, which verifies
for real first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import _workers_cpu_s  # (it puts its own tree first on sys.path ...)

sys.path.insert(0, os.getcwd())  # ... and the tree measured is the current directory's


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path)
    parser.add_argument("--passes", type=int, default=2, help="timed tally passes")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--profile", type=Path, help="cProfile the last pass into this file")
    args = parser.parse_args()

    import e2e.ballot
    from e2e.ledger.entry import Entry
    from e2e.parallel import local_pool
    from e2e.verdicts import VerdictCache
    from e2e.verify import RecordVerifier
    from tests.perf.ledgers import read_envelopes

    executor = local_pool(2)
    verdicts = VerdictCache()

    def tally_pass() -> RecordVerifier:
        return RecordVerifier(None, executor=executor, chunk_size=args.chunk_size,
                              in_flight=args.in_flight, verdicts=verdicts)

    checks, signatures = e2e.ballot._batch_flags, Entry.verify_signature
    e2e.ballot._batch_flags = lambda context, views, **_: [False] * len(views)  # type: ignore
    Entry.verify_signature = lambda self, key: None  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        filled = tally_pass()
        if not filled.run(read_envelopes(args.record)).ok:
            raise SystemExit("the record does not even decode and chain")
    finally:
        e2e.ballot._batch_flags, Entry.verify_signature = checks, signatures
    print(f"verdicts filled WITHOUT checking proofs or signatures in "
          f"{time.perf_counter() - started:.1f} s ({filled.aggregate.ballots} ballots)")
    pids = executor.worker_pids  # (the fill checked "proofs": the pool renewed its workers)
    for n in range(args.passes):
        profiler = None
        if args.profile is not None and n == args.passes - 1:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        workers, started, cpu = _workers_cpu_s(pids), time.perf_counter(), time.process_time()
        again = tally_pass()
        report = again.run(read_envelopes(args.record))
        wall, main_cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        if not report.ok or again.aggregate != filled.aggregate:
            raise SystemExit("a tally pass gave another result")
        print(f"tally pass wall {wall:6.2f} s   main CPU {main_cpu:5.2f} s   workers' CPU "
              f"{_workers_cpu_s(pids) - workers:5.2f} s")
    executor.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
