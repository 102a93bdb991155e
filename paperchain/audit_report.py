"""The audit report and the audit record's exports, from a verified ledger or record.

* ``audit_report``: one JSON-able object — parameters, reconciliation findings, each
  round, each draw's assorter values and discrepancies, the risk of every assertion
  after every draw holding its contest, the decision, the outcome, a certified hand
  count if any;
* ``write_report``: ``report.json``, ``audit-record.csv`` (one row per draw and
  assertion: ω, the overstatement assorter's value, the discrepancy, the p-value after
  it) and ``report.pdf`` (``paper.layout.render_report``: tables and the risk plot).

The app layer's only job here is to arrange what ``tally`` computed; nothing is
computed twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e.keystore import atomic_write
from paper.layout import ReportDocument, ReportPlot, ReportTable, render_report
from tally.audit import DrawEvaluation, assess
from tally.audit_export import audit_record_csv
from tally.audit_workflow import AuditLedger

__all__ = ["audit_record_csv", "audit_report", "render_audit_pdf", "write_report"]


def audit_report(view: AuditLedger) -> dict[str, Any]:
    """The report of the audit replayed in ``view`` (see the module docstring)."""
    state = view.state
    context = view.verifier.context
    out: dict[str, Any] = {"version": 1, "election_id": view.verifier.state.election_id}
    if state.reconciliation is not None:
        table = state.reconciliation.table
        out["reconciliation"] = {"ledger_index": state.reconciliation_index,
                                 "findings": table.get("findings", []),
                                 "places": table.get("places", []),
                                 "devices": table.get("devices", []),
                                 "batches": table.get("batches", []),
                                 "pairing": table.get("pairing", {}),
                                 "contests": table.get("contests", [])}
    parameters = state.parameters
    if parameters is None or context is None or state.population is None:
        out["status"] = "no audit parameters yet"
        return out
    out["parameters"] = {"ledger_index": state.parameters_index,
                         **json.loads(parameters.to_payload())}
    out["seed"] = None if state.seed is None else {
        "digits": state.seed.seed.digits, "rolled_by": list(state.seed.rolled_by),
        "rolled_at": state.seed.rolled_at, "ledger_index": state.seed_index}
    evaluations: dict[str, list[DrawEvaluation]] = {}
    risks = assess(context.manifest, parameters, state.population, state.tickets,
                   state.readings, state.decrypted, evaluations) if _complete(view) else []
    draws = []
    for number, ticket in enumerate(state.tickets, start=1):
        pair = state.population.pair_at(ticket.batch, ticket.position)
        draws.append({
            "draw": number, "ticket_number": ticket.ticket_number, "batch": ticket.batch,
            "position": ticket.position, "generation": ticket.generation,
            "card": "phantom" if pair is None else pair.reason,
            "ballot_id": None if pair is None or pair.ballot_id is None else pair.ballot_id.hex(),
        })
    out["draws"] = draws
    out["rounds"] = [{
        "round": r.entry.round, "ledger_index": r.index, "draws": len(r.entry.tickets),
        "cards_read": len(r.readings), "cvrs_decrypted": len(r.entry.decrypt),
        "decision": None if r.risk is None else r.risk.decision,
        "next_round_size": None if r.risk is None else r.risk.next_round_size,
        "risk": None if r.risk is None else {c: p for c, p in r.risk.contests},
    } for r in state.rounds]
    out["assertions"] = [{
        **risk.to_json(), "p_history": list(risk.p_history),
        "draws_evaluated": [({"draw": e.draw, "value": e.value, "vote": e.side}
                             if e.side is not None else  # ballot polling: no overstatement
                             {"draw": e.draw, "omega": e.omega, "value": e.value,
                              "discrepancy": _kind(e)})
                            for e in evaluations.get(f"{risk.contest_id}: {risk.assertion}", [])],
    } for risk in risks]
    out["outcome"] = None if state.end is None else state.end.outcome
    if state.hand_count is not None:
        out["hand_count"] = {
            "certified_by": list(state.hand_count.certified_by),
            "certified_at": state.hand_count.certified_at,
            "counts": [{"contest": c, "selection": s, "count": n}
                       for c, s, n in state.hand_count.counts]}
        out["certified_result"] = "the full hand count (it replaces the E2E result)"
    elif state.end is not None and state.end.outcome == "confirmed":
        out["certified_result"] = "the E2E result, confirmed by the audit"
    return out


def _complete(view: AuditLedger) -> bool:
    """Whether every draw so far has what ``assess`` needs (readings, decrypted CVRs)."""
    state = view.state
    if state.population is None:
        return False
    for ticket in state.tickets:
        pair = state.population.pair_at(ticket.batch, ticket.position)
        if pair is None:
            continue
        if (ticket.batch, ticket.position) not in state.readings:
            return False
        if pair.cvr is not None and pair.cvr not in state.decrypted:
            return False
    return True


def _kind(evaluation: DrawEvaluation) -> str:
    counts = evaluation.counts
    for name in ("o1", "o2", "u1", "u2"):
        if getattr(counts, name):
            return name
    return ""


def render_audit_pdf(report: dict[str, Any], *, test: bool = False) -> bytes:
    """The report as a PDF: summary, reconciliation, contests, the risk over the sample.
    ``test``: a test election's, stamped TEST on every page (docs/spec.md §18.7.1)."""
    sections: list[str | ReportTable | ReportPlot] = []
    parameters = report.get("parameters")
    outcome = report.get("outcome") or "in progress"
    sections.append(f"Election {report['election_id']}. Outcome: {outcome}. "
                    f"{report.get('certified_result', '')}")
    reconciliation = report.get("reconciliation")
    if reconciliation is not None:
        rows = tuple((p["polling_place"], _s(p["check_ins"]), _s(p["cast"]),
                      _s(p["challenges"]), _s(p["spoiled_envelope"]), _s(p["cards"]),
                      _s(p["cvrs"])) for p in reconciliation["places"])
        sections.append(ReportTable("Reconciliation by polling place",
                                    ("Polling place", "Check-ins", "Cast", "Challenges",
                                     "Spoiled", "Cards", "CVRs"), rows))
        findings = reconciliation["findings"] or ["no differences"]
        sections.append("Findings: " + "; ".join(findings))
    if parameters is not None:
        sections.append(f"Risk limit {parameters['risk_limit']}; risk function "
                        f"{parameters['risk_function']['name']}; seed "
                        f"{(report.get('seed') or {}).get('digits', '(not drawn)')}; "
                        f"software {parameters['software']}.")
        rows = tuple((c["contest"], str(c["population"]), str(c["phantoms"]),
                      ", ".join(c["winners"]) or "-",
                      "; ".join(f"{a['winner']} v {a['loser'] or 'all others'}: "
                                f"{float(a['margin']):.4f}" for a in c["assertions"])
                      or c["note"]) for c in parameters["contests"])
        sections.append(ReportTable("Contests, populations and assertions (margins)",
                                    ("Contest", "N", "Phantoms", "Winners", "Assertions"),
                                    rows))
    assertions = report.get("assertions", [])
    if assertions:
        counted = (("winner_draws", "loser_draws") if "winner_draws" in assertions[0]
                   else ("o1", "o2", "u1", "u2"))  # ballot polling, or comparison
        rows = tuple((a["contest"], a["assertion"], str(a["draws"]),
                      *(str(a[k]) for k in counted), f"{float(a['p_value']):.6f}")
                     for a in assertions)
        sections.append(ReportTable("Risk per assertion", ("Contest", "Assertion", "Draws",
                                                           *counted, "Risk"),
                                    rows))
        series = []
        for a in assertions:
            points = tuple((float(item["draw"]), max(float(p), 1e-12))
                           for item, p in zip(a["draws_evaluated"], a["p_history"],
                                              strict=False))
            if points:
                series.append((f"{a['contest']}: {a['assertion']}", points))
        limit = float(parameters["risk_limit"]) if parameters else None
        sections.append(ReportPlot("Risk over the sample", "draw", "risk (log scale)",
                                   tuple(series), True, limit))
    rounds = report.get("rounds", [])
    if rounds:
        sections.append(ReportTable("Rounds", ("Round", "Draws", "Cards read", "CVRs decrypted",
                                               "Decision"),
                                    tuple((str(r["round"]), str(r["draws"]),
                                           str(r["cards_read"]), str(r["cvrs_decrypted"]),
                                           r["decision"] or "-") for r in rounds)))
    return render_report(ReportDocument("Risk-limiting audit report", tuple(sections),
                                        test=test))


def _s(value: object) -> str:
    return "-" if value is None else str(value)


def write_report(report: dict[str, Any], directory: Path) -> None:
    """``report.json``, ``audit-record.csv`` and ``report.pdf`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "report.json",
                 (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    atomic_write(directory / "audit-record.csv", audit_record_csv(report).encode())
    atomic_write(directory / "report.pdf", render_audit_pdf(report))
