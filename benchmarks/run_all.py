"""Run every ``benchmarks/bench_*.py`` script present, one after another (``make bench``).

Each script prints its own report; this runner adds a header per script, the time it
took and, at the end, a summary. A script that fails does not stop the others; the exit
status is non-zero if any failed. Options after ``--`` go to every script that defines
them, e.g. ``python benchmarks/run_all.py -- --quick`` (a script without ``--quick``
runs as it is). Scripts are run in name order with the same interpreter, from the
repository root.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _known(script: Path, options: list[str]) -> list[str]:
    """The flags among ``options`` that ``script`` defines (by its source's
    ``add_argument("--flag"`` lines); anything else in ``options`` is passed as given."""
    source = script.read_text(encoding="utf-8")
    return [o for o in options
            if not o.startswith("--") or f'"{o.split("=", 1)[0]}"' in source]


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    results = []
    for script in scripts:
        options = _known(script, extra)
        print(f"\n===== {script.name} {' '.join(options)} =====".rstrip(), flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(script), *options], cwd=ROOT,
                              check=False).returncode
        results.append((script.name, code, time.perf_counter() - started))
    print("\n===== summary =====")
    for name, code, seconds in results:
        print(f"{name:28} {'ok' if code == 0 else f'FAILED ({code})':12} {seconds:8.1f} s")
    print(f"{'total':28} {'':12} {sum(s for _, _, s in results):8.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
