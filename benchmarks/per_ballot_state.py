"""What the verifier keeps per ballot, alone: memory as the ballot count grows.

    .venv/bin/python benchmarks/per_ballot_state.py                # 10^3 .. 3·10^5 ballots
    .venv/bin/python benchmarks/per_ballot_state.py --root WORKTREE   # another checkout

Per ballot, what a ``RecordVerifier`` pass adds: two verdict keys (the ballot's, by leaf
hash, and its entry's signature's) to a ``VerdictCache`` and one cast tracking code —
then every 1,000th verdict looked up again, as the tally pass does. Prints the memory
Python objects hold (``tracemalloc``) and the process's VmRSS after each size, and the
time per ballot. Not part of ``make bench`` (not a ``bench_*.py``): the figures are in
benchmarks/README.md, "Memory made flat".
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import tracemalloc
from pathlib import Path


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout to import (default: this one)")
    parser.add_argument("--sizes", default="1000,10000,100000,300000")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from e2e.verdicts import VerdictCache
    try:
        from e2e.scratch import KeySet
        codes: object = KeySet(4096)
    except ImportError:  # a checkout before e2e/scratch.py: a set, as RecordVerifier had
        codes = set()
    tracemalloc.start()
    verdicts = VerdictCache()
    done = 0
    started = time.perf_counter()
    for size in (int(n) for n in args.sizes.split(",")):
        for i in range(done, size):
            ballot = i.to_bytes(8, "big")
            verdicts.add(VerdictCache.key(b"leaf", ballot))
            verdicts.add(VerdictCache.key(b"signature", ballot))
            codes.add(hashlib.sha256(ballot).digest())  # type: ignore[attr-defined]
        done = size
        step = max(1, size // 1000)
        if not all(VerdictCache.key(b"leaf", i.to_bytes(8, "big")) in verdicts
                   for i in range(0, size, step)):
            raise RuntimeError("a verdict was lost")
        traced, _ = tracemalloc.get_traced_memory()
        print(f"{size:>8} ballots: traced {traced / 2**20:6.2f} MiB, VmRSS {_rss_mib():6.1f} MiB,"
              f" {len(verdicts)} verdict keys, {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
