"""Child process of the kill -9 test: appends batches of 1-4 entries until it is killed.

    python crash_child.py STORE_URL WRITER_ID

After each ``append`` returns it prints one line per entry, ``INDEX LEAF_HASH_HEX``, and
flushes: every line the parent reads is an acknowledged append.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e2e.ledger.store import open_store
from tests.ledger.store_helpers import make_envelope, pending


def main(url: str, writer: str) -> None:
    store = open_store(url)
    seq, batch = 0, 1
    print("ready", flush=True)
    while True:
        entries = [pending(writer, seq + i, keys=(f"{writer}:{seq + i}".encode(),))
                   for i in range(batch)]
        appended = store.append(entries, make_envelope)
        sys.stdout.write("".join(f"{a.index} {a.leaf_hash.hex()}\n" for a in appended))
        sys.stdout.flush()
        seq += batch
        batch = batch % 4 + 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
