"""``paperchain audit verify RECORD``: the audit recomputed from the published record alone.

One pass of the whole verifier (``tally.verify.verify_election``: every check of the
election, and the audit's replay ``tally.audit_check``, which recomputes the
reconciliation, the pairing and populations, the parameters, each round's tickets, the
CVRs each round names, every reading's place and signatures, the decryptions, every
assorter value, discrepancy and p-value, and the decisions), the record's Merkle root
(``e2e.record``), and then, as second locks independent of the pass's incremental
state:

* the order of the audit's entries on the ledger, walked from the entry types alone
  (close → results → CVR equality → reconciliation → parameters → seed, once → rounds →
  end → hand count), whatever the phases said;
* every ticket drawn, recomputed in one stream from the seed and the frame;
* every assertion's risk after all draws, recomputed from the readings and the
  decrypted CVRs, against the last published risk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.errors import PaperchainError
from e2e.ledger.entry import decode_envelope
from e2e.ledger.types import EntryType
from e2e.record import RecordReader
from e2e.verify import VerificationReport
from tally.audit import assess, contest_risks, draws_for
from tally.audit_check import AuditChecker

__all__ = ["AuditVerification", "check_audit_order", "verify_audit"]

# The audit's steps in ledger order: each type may appear only after every type of an
# earlier step has had its turn (repeats within a step are allowed where the phases allow).
_ORDER: tuple[frozenset[str], ...] = (
    frozenset({EntryType.VOTING_CLOSE}),
    frozenset({EntryType.TALLY, EntryType.DECRYPTION_SHARE, EntryType.RESULTS}),
    frozenset({EntryType.CVRS, EntryType.CVR_COMMITMENT, EntryType.CVR_EQUALITY_SHARE,
               EntryType.CVR_EQUALITY}),
    frozenset({EntryType.PAPER_MANIFEST, EntryType.RECONCILIATION,
               EntryType.AUDIT_PARAMETERS, EntryType.CVR_PLAINTEXT_SHARE}),
    frozenset({EntryType.AUDIT_SEED}),
    frozenset({EntryType.AUDIT_ROUND, EntryType.AUDIT_READING, EntryType.AUDIT_SIGNOFF,
               EntryType.AUDIT_DECRYPTION_SHARE, EntryType.AUDIT_CVRS, EntryType.AUDIT_RISK}),
    frozenset({EntryType.AUDIT_END}),
    frozenset({EntryType.HAND_COUNT}),
)
_ONCE = frozenset({EntryType.VOTING_CLOSE, EntryType.TALLY, EntryType.RESULTS,
                   EntryType.CVR_EQUALITY, EntryType.AUDIT_SEED, EntryType.AUDIT_END,
                   EntryType.HAND_COUNT})


def check_audit_order(entry_types: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """Problems (where, what) with the order of the audit's steps in ``entry_types``
    ((index, type) in ledger order); an empty list when the order is the documented one."""
    problems = []
    step = -1
    seen: dict[str, int] = {}
    for index, kind in entry_types:
        at = next((n for n, types in enumerate(_ORDER) if kind in types), None)
        if at is None:
            continue
        where = f"ledger entry {index} ({kind})"
        if kind in _ONCE and kind in seen:
            problems.append((where, f"a second {kind} (the first is at ledger entry "
                                    f"{seen[kind]})"))
        seen.setdefault(kind, index)
        if at < step:
            problems.append((where, f"out of order: after {'/'.join(sorted(_ORDER[step]))}"))
        step = max(step, at)
    return problems


@dataclass(slots=True)
class AuditVerification:
    """What ``verify_audit`` checked and found, and the audit's outcome."""

    report: VerificationReport
    checks: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "findings": self.findings,
                "summary": self.summary}

    def summary_lines(self) -> list[str]:
        lines = []
        for contest, risk in self.summary.get("contests", {}).items():
            lines.append(f"{contest}: risk {risk:.6g}")
        lines.append(f"outcome: {self.summary.get('outcome') or 'in progress'}")
        return lines


def verify_audit(record: Path, *, allow_test_group: bool = False) -> AuditVerification:
    """See the module docstring."""
    from tally.verify import verify_election

    reader = RecordReader(record)
    types: list[tuple[int, str]] = []

    def watched() -> Any:
        for index, raw in enumerate(reader.envelopes()):
            with contextlib.suppress(PaperchainError):  # the pass reports it itself
                types.append((index, decode_envelope(raw).entry().entry_type))
            yield raw

    report, verifier = verify_election(watched(), election_id=reader.summary.election_id,
                                       allow_test_group=allow_test_group)
    result = AuditVerification(report, dict(report.checks), [str(f) for f in report.findings])
    setup = verifier.state.setup
    if setup is not None and setup.manifest.source_bytes != reader.manifest_bytes:
        result.findings.append("record manifest.json: differs from the manifest in the setup")
    for where, problem in check_audit_order(types):
        result.findings.append(f"{where}: {problem}")
    if not any(p for p in check_audit_order(types)):
        result.checks["audit steps in ledger order"] = sum(
            1 for _, kind in types if any(kind in step for step in _ORDER))
    state = verifier.checker(AuditChecker).state
    if state.reconciliation is None or state.parameters is None or state.seed is None:
        result.findings.append("record: no audit to verify (reconciliation, parameters and "
                               "seed are needed)")
        return result
    if state.population is not None:
        tickets = state.tickets
        again = draws_for(state.seed.seed, state.population.frame(), len(tickets), 0)
        if list(again) != tickets:
            result.findings.append("audit: the rounds' tickets are not the sampler's stream")
        else:
            result.checks["tickets recomputed from the seed and the manifest"] = len(tickets)
        measured = [r for r in state.rounds if r.risk is not None]
        if measured and verifier.context is not None:
            last = measured[-1]
            drawn = sum(len(r.entry.tickets) for r in state.rounds[:state.rounds.index(last)
                                                                  + 1])
            risks = assess(verifier.context.manifest, state.parameters, state.population,
                           tickets[:drawn], state.readings, state.decrypted)
            if last.risk is not None and [r.to_json() for r in risks] != [
                    r.to_json() for r in last.risk.assertions]:
                result.findings.append("audit: the last risk differs from the recomputed one")
            else:
                result.checks["assertion risks recomputed (assorters, discrepancies, "
                              "p-values)"] = len(risks)
            result.summary["contests"] = contest_risks(state.parameters, risks)
        result.checks["cards paired (pairing rules recomputed)"] = len(state.population.pairs)
    result.summary["outcome"] = None if state.end is None else state.end.outcome
    result.summary["rounds"] = len(state.rounds)
    result.summary["draws"] = len(state.tickets)
    result.summary["hand_count"] = state.hand_count is not None
    return result
