"""A/B harness for the tally pass alone: NOT a verification, NOT a benchmark of record.

    .venv/bin/python benchmarks/tally_pass_harness.py RECORD [--passes N] [--chunk-size 64]
        [--in-flight 4] [--devices-per-chunk N] [--held-memory BYTES] [--memory [--tenths]]
        [--profile FILE]

The tally pass (the trustee's recomputation) reuses the verdicts of a verification in the
same process. A real verification of the 10^5 record takes ≈ 45 min; to compare versions
of the tally pass in minutes, this harness fills the process's verdicts with a pass whose
proof checks (``e2e.ballot._batch_flags``) and signature checks are switched off — so
that first pass proves nothing, and its report is not printed as one — then restores them
and times ``--passes`` real tally passes (every envelope read, hashed and chained, every
verdict looked up, every α answer checked, every ciphertext multiplied), each checked
against the first pass's totals. ``--chunk-size 64,48`` gives the passes these chunk sizes
in turn; ``--memory`` samples the whole job's memory through each pass (``JobMemory``:
the processes' proportional set sizes and the shared memory, every 0.1 s) and prints its
peak; ``--tenths`` adds the peak in each tenth of the record's entries, to see whether
memory grows as a pass goes on. ``--devices-per-chunk`` and ``--held-memory`` set the
verifier's options of those names (``e2e.verify.RecordVerifier``) for every pass. Run
it from the tree to measure (``cd OTHER-TREE && …/tally_pass_harness.py``: the code under
the current directory is imported). The figures of record come from
``bench_scale.py --child RECORD 2 - tally``, which verifies for real first.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import JobMemory, _workers_cpu_s  # (it puts its own tree first on sys.path ...)

sys.path.insert(0, os.getcwd())  # ... and the tree measured is the current directory's

if TYPE_CHECKING:
    from e2e.verify import CastAggregate


def _outcome(aggregate: CastAggregate) -> str:
    """A digest of what a pass computed: its counts and every product, overall and per
    device. The harness compares passes by it and keeps no pass's totals into the next:
    an aggregate whose totals were read holds its devices' ciphertexts as objects
    (≈ 17 MiB at 200 devices), and comparing two aggregates, as this harness did before,
    added ≈ 34 MiB to the main process's part of every later pass."""
    digest = hashlib.sha256()
    counts = (aggregate.ballots, sorted(aggregate.ballots_per_contest.items()),
              sorted(aggregate.ballots_per_style.items()),
              sorted((device, sorted(styles.items()))
                     for device, styles in aggregate.device_styles.items()))
    digest.update(repr(counts).encode())
    devices = aggregate.device_totals  # (each device's computed when asked: one at a time)
    for device in ["", *sorted(devices)]:
        totals = aggregate.totals if not device else devices[device]
        digest.update(device.encode() + b"\0")
        for key in sorted(totals):
            ciphertext = totals[key]
            digest.update(repr(key).encode() + int(ciphertext.alpha.value).to_bytes(1024, "big")
                          + int(ciphertext.beta.value).to_bytes(1024, "big"))
    return digest.hexdigest()


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not chunk sizes: {text!r} (e.g. 64 or 64,48)") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"chunk sizes are at least 1: {text!r}")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path)
    parser.add_argument("--passes", type=int, default=2, help="timed tally passes")
    parser.add_argument("--chunk-size", type=_sizes, default=(64,),
                        help="chunk size of the passes, or sizes they take in turn: 64,48")
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--devices-per-chunk", type=int, default=None,
                        help="devices whose products one chunk is lent, at most (the "
                             "verifier's default unless given)")
    parser.add_argument("--held-memory", type=int, default=None,
                        help="bytes of devices' products held in memory between loans (the "
                             "verifier's default unless given; the rest on disk)")
    parser.add_argument("--memory", action="store_true",
                        help="print each pass's whole-job memory peak (main, workers, shm)")
    parser.add_argument("--tenths", action="store_true",
                        help="with --memory: also the peak in each tenth of the record")
    parser.add_argument("--profile", type=Path, help="cProfile the last pass into this file")
    args = parser.parse_args()
    if args.devices_per_chunk is not None and args.devices_per_chunk < 1:
        parser.error("--devices-per-chunk must be at least 1")
    if args.held_memory is not None and args.held_memory < 0:
        parser.error("--held-memory must be at least 0 (bytes)")

    import e2e.ballot
    from e2e.ledger.entry import Entry
    from e2e.memory import return_freed_memory
    from e2e.parallel import local_pool
    from e2e.verdicts import VerdictCache
    from e2e.verify import RecordVerifier
    from tests.perf.ledgers import read_envelopes

    executor = local_pool(2)
    verdicts = VerdictCache()

    at = [0]  # the ledger index a pass has read up to (for --tenths)

    def reached(index: int) -> None:
        at[0] = index

    shape = {name: value for name, value in (("devices_per_chunk", args.devices_per_chunk),
                                             ("held_memory", args.held_memory))
             if value is not None}

    def tally_pass(chunk_size: int = args.chunk_size[0]) -> RecordVerifier:
        return RecordVerifier(None, executor=executor, chunk_size=chunk_size, **shape,
                              in_flight=args.in_flight, verdicts=verdicts, progress=reached)

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
    entries = at[0] + 1
    reference = _outcome(filled.aggregate)
    del filled
    gc.collect()  # (outside the timing: no pass's state lives on into the next)
    pids = executor.worker_pids  # (the fill checked "proofs": the pool renewed its workers)
    for n in range(args.passes):
        profiler = None
        if args.profile is not None and n == args.passes - 1:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        size = args.chunk_size[n % len(args.chunk_size)]
        at[0] = 0
        tenth = (lambda: min(9, at[0] * 10 // entries)) if args.tenths else None
        memory = JobMemory(pids, interval=0.1, where=tenth).start() if args.memory else None
        workers, started, cpu = _workers_cpu_s(pids), time.perf_counter(), time.process_time()
        again = tally_pass(size)
        report = again.run(read_envelopes(args.record))
        wall, main_cpu = time.perf_counter() - started, time.process_time() - cpu
        if memory is not None:
            memory.stop()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        if not report.ok or _outcome(again.aggregate) != reference:
            raise SystemExit("a tally pass gave another result")
        del again
        gc.collect()
        return_freed_memory()  # (what the digest above freed: not the next pass's memory)
        line = (f"chunks of {size:3d}: tally pass wall {wall:6.2f} s   main CPU {main_cpu:5.2f} s"
                f"   workers' CPU {_workers_cpu_s(pids) - workers:5.2f} s")
        if memory is not None:
            parts = memory.at_peak
            line += (f"   whole job {memory.peak_kib / 1024:5.1f} MiB (main "
                     f"{parts['main'] / 1024:.1f}, workers {parts['workers'] / 1024:.1f}, "
                     f"shared memory {parts['shared_memory'] / 1024:.1f})")
        print(line, flush=True)
        if memory is not None and memory.peak_by_where:
            print("    peak by tenth of the record (MiB): " + ", ".join(
                f"{memory.peak_by_where.get(n, 0) / 1024:.1f}" for n in range(10)), flush=True)
    executor.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
