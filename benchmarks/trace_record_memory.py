"""Which objects grow with the ballots while a record is verified and tallied (tracemalloc).

    .venv/bin/python benchmarks/trace_record_memory.py benchmarks/cache/scale-record-1000.bin
    .venv/bin/python benchmarks/trace_record_memory.py RECORD --bound 256   # small bounds
    .venv/bin/python benchmarks/trace_record_memory.py RECORD --root WORKTREE

In this process: a ``RecordVerifier`` pass over the record (a process pool of 2 workers,
started before tracing so that they are not traced), then the tally pass (a second
``RecordVerifier`` with the same verdicts, as ``bench_scale.py --child`` does). Prints
the memory still held after both passes, by file of allocation, compared with a snapshot
taken before them — what the verifier keeps per ballot — and how many verdict keys and
codes sit in memory. ``--bound N`` sets the in-memory bounds of the verdicts and codes
(``e2e.scratch``) to N. Not part of ``make bench``; figures in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--bound", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    import e2e.verify
    from e2e.parallel import local_pool
    from e2e.verdicts import VerdictCache
    from e2e.verify import RecordVerifier
    from tests.perf.ledgers import read_envelopes

    if args.bound:
        e2e.verify._CODES_IN_MEMORY = args.bound  # type: ignore[attr-defined]
        verdicts = VerdictCache(memory_limit=args.bound)  # type: ignore[call-arg]
    else:
        verdicts = VerdictCache()
    with local_pool(2) as pool:
        for future in [pool.submit(os.getpid) for _ in range(4)]:  # workers exist, untraced
            future.result()
        tracemalloc.start(5)
        before = tracemalloc.take_snapshot()
        started = time.perf_counter()
        options = {"executor": pool, "chunk_size": 64, "in_flight": 4, "verdicts": verdicts}
        first = RecordVerifier(None, **options)  # type: ignore[arg-type]
        report = first.run(read_envelopes(args.record))
        second = RecordVerifier(None, **options)  # type: ignore[arg-type]
        again = second.run(read_envelopes(args.record))
        gc.collect()
        after = tracemalloc.take_snapshot()
    print(f"{args.record.name}: verified {report.ok}, tally pass {again.ok}, "
          f"{first.aggregate.ballots} ballots, {time.perf_counter() - started:.0f} s")
    by_file = sorted(after.compare_to(before, "filename"), key=lambda s: -s.size_diff)[:8]
    print("held after both passes, by file (KiB):",
          {Path(s.traceback[0].filename).name: round(s.size_diff / 1024, 1) for s in by_file})
    codes = second.cast_codes
    print("verdict keys:", len(verdicts), "in memory:",
          getattr(verdicts, "in_memory", len(verdicts)), "| cast codes:", len(codes),
          "in memory:", getattr(codes, "in_memory", len(codes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
