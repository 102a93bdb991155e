"""Build a record of another shape than ``bench_scale.py``'s: for probes of how the tally
scales with the ballot count (few contests, so 10^6 ballots fit on a disk) and with the
number of devices.

    .venv/bin/python benchmarks/build_scale_record.py 1000000 --contests 1 --candidates 2 \\
        --devices 200 --out /tmp/records          # 10^6 one-contest ballots: 31 min, 8.9 GB
    .venv/bin/python benchmarks/build_scale_record.py 10000 --devices 2000 --out /tmp/records

The record is ``bench_scale.py``'s kind (the standard group, a closed 2-of-3 ceremony,
compact payloads, seeded choices) written to ``OUT/record-N-CxS-Ddev-interleaved.bin``
(and the sequential record it is derived from), then measured with
``tally_pass_harness.py RECORD --memory --tenths``. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scale  # (it puts its own tree first on sys.path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ballots", type=int, help="cast ballots in the record")
    parser.add_argument("--contests", type=int, default=10, help="plurality contests (10)")
    parser.add_argument("--candidates", type=int, default=4, help="per contest (4)")
    parser.add_argument("--devices", type=int, default=200, help="voting devices (200)")
    parser.add_argument("--out", type=Path, required=True, help="directory of the record")
    parser.add_argument("--workers", type=int, default=2, help="encrypting processes (2)")
    args = parser.parse_args()
    for name in ("ballots", "contests", "candidates", "devices", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.candidates < 2:
        parser.error("--candidates must be at least 2")
    if args.devices > args.ballots:
        parser.error("every device casts at least one ballot: --devices ≤ ballots")

    def election(_size: int):  # -> SyntheticElection
        from e2e.group import STANDARD
        from paperchain.benchcore import bench_manifest
        from tests.perf.ledgers import SyntheticElection
        return SyntheticElection.create(
            STANDARD, bench_manifest(contests=args.contests, selections=args.candidates),
            devices=args.devices)

    shape = f"{args.contests}x{args.candidates}-{args.devices}dev"

    def record_path(size: int, compact: bool, layout: str) -> Path:
        return args.out / f"record-{size}-{shape}-{layout}.bin"

    print(bench_scale.ensure_record(args.ballots, workers=args.workers, layout="interleaved",
                                    election_of=election, path_of=record_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
