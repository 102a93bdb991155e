"""The public ledger (DESIGN.md, "The ledger"): envelopes chained by hash, the leaves of an
RFC 9162 Merkle tree (``e2e.merkle``), kept by a ``LogStore`` (``e2e.ledger.store``:
SQLite by default, PostgreSQL at scale), signed tree heads and witness cosignatures.
"""

__all__: list[str] = []
