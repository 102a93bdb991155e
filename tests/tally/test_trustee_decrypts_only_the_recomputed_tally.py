"""A trustee recomputes the tally from the ledger itself and decrypts nothing else.

``decrypt_as_trustee`` re-verifies the whole ledger it is shown before computing a share:
shown a ledger whose ``tally`` entry (properly signed by the official) is not the product
of exactly the valid cast ballots — one selection's total multiplied by an encryption of
1 — it refuses, names the tally, and writes nothing. Shown the true ledger, it decrypts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.elgamal import encrypt
from e2e.errors import RecordError
from e2e.ledger.entry import Envelope, decode_envelope, sign_entry
from e2e.ledger.types import EntryType
from e2e.official import close_voting
from tally.aggregate import TallyStatement
from tally.workflow import decrypt_as_trustee, publish_tally
from tests.tally.audit_helpers import AuditElection

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tallied(tmp_path_factory: pytest.TempPathFactory) -> AuditElection:
    election = AuditElection.create(tmp_path_factory.mktemp("tally") / "e")
    election.vote([("ward-1", {"mayor": ["alice-adams"]}),
                   ("ward-2", {"mayor": ["bruno-okafor"]}),
                   ("ward-1", {"mayor": ["alice-adams"]})])
    for kiosk in election.kiosks.values():
        kiosk.close()
    close_voting(election.official)
    publish_tally(election.ledger, election.official, allow_test_group=True)
    return election


class _ForgedTally:
    """The election's ledger as a forger shows it: its last entry, the tally, replaced."""

    def __init__(self, election: AuditElection) -> None:
        self._ledger = election.ledger
        raws = list(self._ledger.envelopes(0))
        envelope = decode_envelope(raws[-1])
        entry = envelope.entry()
        assert entry.entry_type == EntryType.TALLY
        context = election.context
        statement = TallyStatement.from_payload(entry.payload, context, "tally")
        (c, s, total), *rest = statement.totals
        one_more = total * encrypt(1, context.group.exponent_of(12345), context.joint_key)
        forged = TallyStatement(statement.close_index, statement.ballots,
                                statement.ballots_per_contest, ((c, s, one_more), *rest),
                                statement.close_head_size, statement.close_head_root)
        signed = sign_entry(election.official.key, str(EntryType.TALLY), entry.election_id,
                            entry.writer_id, entry.sequence, forged.to_payload())
        self._raws = [*raws[:-1], Envelope(envelope.index, envelope.previous,
                                           signed.encode()).encode()]
        self.tally_index = envelope.index

    @property
    def election_id(self) -> str:
        return self._ledger.election_id

    def envelopes(self, start: int = 0) -> Iterator[bytes]:
        yield from self._raws[start:]

    def __getattr__(self, name: str) -> object:
        return getattr(self._ledger, name)


def test_trustee_refuses_to_decrypt_a_tally_it_cannot_recompute(tallied: AuditElection) -> None:
    forged = _ForgedTally(tallied)
    size = tallied.ledger.size()
    with pytest.raises(RecordError) as refused:
        decrypt_as_trustee(tallied.base.workspaces[1], forged,  # type: ignore[arg-type]
                           allow_test_group=True, heads=tallied.ledger)
    message = str(refused.value)
    assert "the ledger does not verify" in message
    assert f"ledger entry {forged.tally_index} (tally by official-1)" in message
    assert "not the product of exactly the valid cast ballots" in message
    assert tallied.ledger.size() == size  # no share was written


def test_trustee_decrypts_the_tally_it_recomputes(tallied: AuditElection) -> None:
    appended = decrypt_as_trustee(tallied.base.workspaces[3], tallied.ledger,
                                  allow_test_group=True)
    entry = dict(tallied.ledger.entries(appended.index))[appended.index]
    assert entry.entry_type == EntryType.DECRYPTION_SHARE
    assert entry.writer_id == "trustee-3"

