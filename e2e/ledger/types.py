"""The closed set of ledger entry types, who may write each, and in which phase.

docs/spec.md §7.4. The election moves through phases, each opened by an entry:

    setup ─ ceremony ─(ceremony-close)→ ready ─(voting-open)→ voting
          ─(voting-close)→ closed ─(results)→ tallied ─(cvr-equality)→ cvrs-checked
          ─(reconciliation)→ reconciled ─(audit-parameters)→ audit-ready
          ─(audit-seed)→ auditing ─(audit-end)→ audit-done

After the results (docs/spec.md §19.4) the order is fixed by phases alone:
devices publish their encrypted CVRs and commitments and trustees their equality
shares (tallied); the official's ``cvr-equality`` combines them; where the election
publishes plaintext CVRs, trustees decrypt every CVR from then until the seed
(``cvr-plaintext-share``); the paper manifest and the reconciliation follow (for a
ballot-polling audit without CVRs, straight after the results, in ``tallied``; no CVR
step can follow them), and may be amended (a new ``reconciliation``, which sends an
``audit-ready`` election back to ``reconciled``, so the audit parameters must be
published again) until the seed; the seed is accepted once, in ``audit-ready`` only;
rounds follow; ``audit-end`` closes the audit, after which only a certified hand count
(when the audit escalated) is accepted.

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
    TALLIED = "tallied"  # results published: CVRs, CVR commitments, equality shares
    CVRS_CHECKED = "cvrs-checked"  # CVR equality combined: paper manifest, reconciliation
    RECONCILED = "reconciled"  # reconciliation committed: audit parameters (or amend)
    AUDIT_READY = "audit-ready"  # audit parameters published: the seed (or amend)
    AUDITING = "auditing"  # the seed is drawn: rounds
    AUDIT_DONE = "audit-done"  # the audit ended: a certified hand count, if it escalated


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
    CVRS = "cvrs"
    CVR_COMMITMENT = "cvr-commitment"
    CVR_EQUALITY_SHARE = "cvr-equality-share"
    CVR_EQUALITY = "cvr-equality"
    CVR_PLAINTEXT_SHARE = "cvr-plaintext-share"
    PAPER_MANIFEST = "paper-manifest"
    RECONCILIATION = "reconciliation"
    AUDIT_PARAMETERS = "audit-parameters"
    AUDIT_SEED = "audit-seed"
    AUDIT_ROUND = "audit-round"
    AUDIT_READING = "audit-reading"
    AUDIT_SIGNOFF = "audit-signoff"
    AUDIT_DECRYPTION_SHARE = "audit-decryption-share"
    AUDIT_CVRS = "audit-cvrs"
    AUDIT_RISK = "audit-risk"
    AUDIT_END = "audit-end"
    HAND_COUNT = "hand-count"
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
_AUDITOR = {Role.AUDITOR}
_AFTER_CEREMONY_STARTS = {Phase.CEREMONY, Phase.READY, Phase.VOTING, Phase.CLOSED,
                          Phase.TALLIED, Phase.CVRS_CHECKED, Phase.RECONCILED,
                          Phase.AUDIT_READY, Phase.AUDITING, Phase.AUDIT_DONE}
# The paper manifest and the reconciliation are amendable until the seed, never after.
_BEFORE_SEED = {Phase.CVRS_CHECKED, Phase.RECONCILED, Phase.AUDIT_READY}

ENTRY_RULES: dict[EntryType, EntryRule] = {
    EntryType.SETUP: _rule(_OFFICIAL, {Phase.SETUP}),
    EntryType.REGISTER_WRITER: _rule(_OFFICIAL, _AFTER_CEREMONY_STARTS),
    EntryType.REVOKE_WRITER: _rule(_OFFICIAL, _AFTER_CEREMONY_STARTS),
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
    EntryType.CVRS: _rule(_DEVICE, {Phase.TALLIED}),
    EntryType.CVR_COMMITMENT: _rule(_DEVICE, {Phase.TALLIED}),
    EntryType.CVR_EQUALITY_SHARE: _rule(_TRUSTEE, {Phase.TALLIED}),
    EntryType.CVR_EQUALITY: _rule(_OFFICIAL, {Phase.TALLIED}),
    # Every CVR decrypted, where the election publishes plaintext CVRs: after their
    # equality, before the seed (tally.cvr_plaintext).
    EntryType.CVR_PLAINTEXT_SHARE: _rule(_TRUSTEE, _BEFORE_SEED),
    # Also straight after the results, for a ballot-polling audit without CVRs (a
    # comparison audit's parameters need the combined CVR equality: tally.audit_check).
    EntryType.PAPER_MANIFEST: _rule(_OFFICIAL, {Phase.TALLIED, *_BEFORE_SEED}),
    EntryType.RECONCILIATION: _rule(_OFFICIAL, {Phase.TALLIED, *_BEFORE_SEED}),
    EntryType.AUDIT_PARAMETERS: _rule(_AUDITOR, {Phase.RECONCILED, Phase.AUDIT_READY}),
    EntryType.AUDIT_SEED: _rule(_AUDITOR, {Phase.AUDIT_READY}),
    EntryType.AUDIT_ROUND: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.AUDIT_READING: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.AUDIT_SIGNOFF: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.AUDIT_DECRYPTION_SHARE: _rule(_TRUSTEE, {Phase.AUDITING}),
    EntryType.AUDIT_CVRS: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.AUDIT_RISK: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.AUDIT_END: _rule(_AUDITOR, {Phase.AUDITING}),
    EntryType.HAND_COUNT: _rule(_OFFICIAL, {Phase.AUDIT_DONE}),
    # After voting (never beside the cast ballot it was printed for) and before the seed
    # (the paper the sample is drawn from is fixed then): e2e/remake.py.
    EntryType.CARD_REMAKE: _rule(_OFFICIAL, {Phase.CLOSED, Phase.TALLIED, Phase.CVRS_CHECKED,
                                             *_BEFORE_SEED}),
}

# The entry that moves the election into the next phase.
PHASE_AFTER: dict[EntryType, Phase] = {
    EntryType.SETUP: Phase.CEREMONY,
    EntryType.CEREMONY_CLOSE: Phase.READY,
    EntryType.VOTING_OPEN: Phase.VOTING,
    EntryType.VOTING_CLOSE: Phase.CLOSED,
    EntryType.RESULTS: Phase.TALLIED,
    EntryType.CVR_EQUALITY: Phase.CVRS_CHECKED,
    EntryType.RECONCILIATION: Phase.RECONCILED,
    EntryType.AUDIT_PARAMETERS: Phase.AUDIT_READY,
    EntryType.AUDIT_SEED: Phase.AUDITING,
    EntryType.AUDIT_END: Phase.AUDIT_DONE,
}
