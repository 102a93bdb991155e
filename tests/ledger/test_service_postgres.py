"""The operator, its HTTP service and two witnesses over a PostgreSQL store.

The same interface as SQLite (``LogStore``): admission, promises, proofs, cosignatures,
and a restart of the operator that rebuilds its state from the store. The cluster comes
from ``tests/pgcluster.py`` (tests/ledger/conftest.py): skipped when the PostgreSQL
binaries are missing, a failure under CI=true.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.errors import PaperchainError
from e2e.ledger.heads import HeadPolicy, verify_cosigned_head
from e2e.merkle import verify_inclusion
from tests.ledger.service_helpers import make_election, running
from tests.ledger.store_helpers import new_store_url


def test_operator_service_and_witnesses_on_postgres(request: pytest.FixtureRequest,
                                                    tmp_path: Path) -> None:
    url = new_store_url(request, "postgres", tmp_path)
    election = make_election(tmp_path, store_url=url)
    assert not (election.ledger_dir / "ledger.sqlite").exists()
    with running(election) as network:
        network.write_setup_and_ceremony()
        network.sync()
        policy = HeadPolicy.from_setup(election.setup)
        head = network.client.cosigned_head()
        assert head is not None
        verify_cosigned_head(policy, head)
        for index in (0, head.size - 1):
            leaf = network.client.leaf_hashes(index, index + 1)[0]
            verify_inclusion(leaf, index, head.size, network.client.inclusion_proof(
                index, head.size), head.root)
        with pytest.raises(PaperchainError, match="sequence number 0 is replayed"):
            network.append(election.setup_entry())

        network.replace_operator(election.ledger_dir)  # a restart over the same database
        with pytest.raises(PaperchainError, match="sequence number 0 is replayed"):
            network.append(election.setup_entry())
        network.register_devices(["kiosk-7", "kiosk-8"])
        network.sync()
        later = network.client.cosigned_head()
        assert later is not None
        assert later.size == head.size + 2
        verify_cosigned_head(policy, later)
