"""The ledger operator for an election: base rules plus the ceremony's and voting's checks.

``election_operator`` builds a ``LedgerOperator`` that also refuses ceremony entries
that break the ceremony's rules (bad proofs, out-of-turn steps), a ``voting-open`` or
``voting-close`` whose payload is not a canonical ``PhaseNote``, ballots that fail
their proofs, style, device chain or α uniqueness, and card remakes that break their
rules (``e2e.remake``). Checks for entries after the close of voting (tally, CVRs,
audit) are added by the packages that define them (``tally.admission``, wired in by
``paperchain.wiring``); they find the election context in ``state.extras["context"]``
once the key ceremony has closed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

from e2e.ceremony import CEREMONY_TYPES, CeremonyReplay
from e2e.context import ElectionContext
from e2e.errors import LedgerError
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AdmissionCheck, LedgerOperator, LedgerState
from e2e.ledger.store import LogStore
from e2e.ledger.types import EntryType
from e2e.official import PhaseNote
from e2e.remake import CardRemake, RemakeTracker, check_remake
from e2e.signing import SigningKey
from e2e.voting import observe_voting, voting_admission_checks

__all__ = ["election_operator"]


def election_operator(
    store: LogStore, operator_key: SigningKey, election_id: str, *,
    allow_test_group: bool = False,
    extra_checks: Mapping[str, AdmissionCheck] | None = None,
    extra_observers: Sequence[Callable[[LedgerState, int, Entry], None]] = (),
) -> LedgerOperator:
    context_of: dict[str, ElectionContext] = {}

    def replay(state: LedgerState) -> CeremonyReplay:
        current = state.extras.get("ceremony")
        if not isinstance(current, CeremonyReplay):
            if state.setup is None:
                raise LedgerError("ceremony entries need the election setup first")
            current = CeremonyReplay(state.setup)
            state.extras["ceremony"] = current
        return current

    def check_ceremony(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        trial = copy.deepcopy(replay(state))  # dry run: the real state moves on acceptance
        trial.apply(index, entry)
        return ()

    def remakes(state: LedgerState) -> RemakeTracker:
        current = state.extras.get("remakes")
        if not isinstance(current, RemakeTracker):
            current = RemakeTracker()
            state.extras["remakes"] = current
        return current

    def check_card_remake(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        if state.setup is None:
            raise LedgerError("a card remake needs the election setup first")
        remake = CardRemake.from_payload(entry.payload, "payload")
        tracker = remakes(state)
        check_remake(remake, writer_id=entry.writer_id, election_id=state.election_id,
                     manifest=state.setup.manifest, test_election=state.setup.test_election,
                     writer_at=lambda writer_id: state.writer_at(writer_id, index),
                     spoiled=tracker.spoiled, last_remake=tracker.last_remake)
        return (b"remake:" + remake.ballot_id + bytes([remake.remake]),)

    def observe(state: LedgerState, index: int, entry: Entry) -> None:
        if entry.entry_type in (EntryType.CHALLENGE, EntryType.CARD_REMAKE):
            remakes(state).observe(entry, f"entry {index}")
        if entry.entry_type in CEREMONY_TYPES:
            current = replay(state)
            current.apply(index, entry)
            if current.outcome is not None and state.setup is not None:
                context_of["context"] = ElectionContext(state.setup, current.outcome)
                state.extras["context"] = context_of["context"]  # for extra_checks
        observe_voting(state, index, entry, context_of)

    def check_phase_note(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        PhaseNote.decode(entry.payload, "payload")
        return ()

    checks: dict[str, AdmissionCheck] = {t: check_ceremony for t in CEREMONY_TYPES}
    checks[EntryType.VOTING_OPEN] = check_phase_note
    checks[EntryType.VOTING_CLOSE] = check_phase_note
    checks.update(voting_admission_checks(context_of))
    checks[EntryType.CARD_REMAKE] = check_card_remake
    checks.update(extra_checks or {})
    return LedgerOperator(store, operator_key, election_id, allow_test_group=allow_test_group,
                          checks=checks, observers=(observe, *extra_observers))
