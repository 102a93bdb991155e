"""The closed set of ledger entry types, who may write each, and in which phase.

docs/spec.md §7.4. The election moves through phases, each opened by an entry:

    setup ─ ceremony ─(ceremony-close)→ ready ─(voting-open)→ voting
          ─(voting-close)→ closed ─(results)→ tallied ─(audit entries)→ …

An entry type is admitted only from a writer of its role, and only in its phases.
The ledger operator enforces this at admission and the verifier re-checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from e2e.setup import Role

__all__ = ["ENTRY_RULES", "PHASE_AFTER", "EntryRule", "EntryType", "Phase"]


class Phase(StrEnum):
    SETUP = "setup"  # nothing on the ledger yet
    CEREMONY = "ceremony"  # after the setup entry, until ceremony-close
    READY = "ready"  # key ceremony closed, voting not yet open
    VOTING = "voting"
    CLOSED = "closed"  # voting closed: tally, decryption, CVRs, reconciliation
    TALLIED = "tallied"  # results published: audit


class EntryType(StrEnum):
    SETUP = "setup"
    REGISTER_WRITER = "register-writer"
    REVOKE_WRITER = "revoke-writer"
    CEREMONY_COMMITMENTS = "ceremony-commitments"
    CEREMONY_SHARES = "ceremony-shares"
    CEREMONY_COMPLAINT = "ceremony-complaint"
    CEREMONY_REVEAL = "ceremony-reveal"
    CEREMONY_ABORT = "ceremony-abort"
    CEREMONY_CONFIRM = "ceremony-confirm"
    CEREMONY_CLOSE = "ceremony-close"
    VOTING_OPEN = "voting-open"
    BALLOT = "ballot"
    CHALLENGE = "challenge"
    DEVICE_CLOSE = "device-close"
    VOTING_CLOSE = "voting-close"
    TALLY = "tally"
    DECRYPTION_SHARE = "decryption-share"
    RESULTS = "results"
    CARD_REMAKE = "card-remake"


@dataclass(frozen=True, slots=True)
class EntryRule:
    roles: frozenset[Role]
    phases: frozenset[Phase]


def _rule(roles: set[Role], phases: set[Phase]) -> EntryRule:
    return EntryRule(frozenset(roles), frozenset(phases))


_OFFICIAL = {Role.OFFICIAL}
_TRUSTEE = {Role.TRUSTEE}
_DEVICE = {Role.DEVICE}

ENTRY_RULES: dict[EntryType, EntryRule] = {
    EntryType.SETUP: _rule(_OFFICIAL, {Phase.SETUP}),
    EntryType.REGISTER_WRITER: _rule(_OFFICIAL, {Phase.CEREMONY, Phase.READY, Phase.VOTING,
                                                 Phase.CLOSED, Phase.TALLIED}),
    EntryType.REVOKE_WRITER: _rule(_OFFICIAL, {Phase.CEREMONY, Phase.READY, Phase.VOTING,
                                               Phase.CLOSED, Phase.TALLIED}),
    EntryType.CEREMONY_COMMITMENTS: _rule(_TRUSTEE, {Phase.CEREMONY}),
    EntryType.CEREMONY_SHARES: _rule(_TRUSTEE, {Phase.CEREMONY}),
    EntryType.CEREMONY_COMPLAINT: _rule(_TRUSTEE, {Phase.CEREMONY}),
    EntryType.CEREMONY_REVEAL: _rule(_TRUSTEE, {Phase.CEREMONY}),
    EntryType.CEREMONY_CONFIRM: _rule(_TRUSTEE, {Phase.CEREMONY}),
    EntryType.CEREMONY_ABORT: _rule(_OFFICIAL, {Phase.CEREMONY}),
    EntryType.CEREMONY_CLOSE: _rule(_OFFICIAL, {Phase.CEREMONY}),
    EntryType.VOTING_OPEN: _rule(_OFFICIAL, {Phase.READY}),
    EntryType.BALLOT: _rule(_DEVICE, {Phase.VOTING}),
    EntryType.CHALLENGE: _rule(_DEVICE, {Phase.VOTING}),
    EntryType.DEVICE_CLOSE: _rule(_DEVICE, {Phase.VOTING, Phase.CLOSED}),
    EntryType.VOTING_CLOSE: _rule(_OFFICIAL, {Phase.VOTING}),
    EntryType.TALLY: _rule(_OFFICIAL, {Phase.CLOSED}),
    EntryType.DECRYPTION_SHARE: _rule(_TRUSTEE, {Phase.CLOSED}),
    EntryType.RESULTS: _rule(_OFFICIAL, {Phase.CLOSED}),
    # After voting (never beside the cast ballot it was printed for): e2e/remake.py.
    EntryType.CARD_REMAKE: _rule(_OFFICIAL, {Phase.CLOSED, Phase.TALLIED}),
}

# The entry that moves the election into the next phase.
PHASE_AFTER: dict[EntryType, Phase] = {
    EntryType.SETUP: Phase.CEREMONY,
    EntryType.CEREMONY_CLOSE: Phase.READY,
    EntryType.VOTING_OPEN: Phase.VOTING,
    EntryType.VOTING_CLOSE: Phase.CLOSED,
    EntryType.RESULTS: Phase.TALLIED,
}
