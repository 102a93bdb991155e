"""The audit as the public site's verification replayed it, for the bulletin board.

The board's audit page shows the audit's entries as published, in ledger order
(``public_app``). Once the site has verified the record (``tally.verify.verify_record``,
run in the background), this module arranges what that pass replayed with ``tally``'s
own code (``AuditChecker``, ``tally.audit.assess`` through
``paperchain.audit_report``): the seed, every draw (ticket number, card, ballot ID),
each sampled comparison — the card as the audit board read it, the decrypted CVR, the
discrepancy per assertion — and the risk per assertion with its chart. Nothing is
computed here that ``tally`` does not compute; a record that fails verification gets
no replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paperchain.web.board import risk_chart, table
from paperchain.web.common import escape

if TYPE_CHECKING:
    from e2e.manifest import Manifest
    from e2e.verify import RecordVerifier
    from tally.audit import CardReading, DecryptedCvr
    from tally.pairing import CardPair

__all__ = ["AuditReplay", "Comparison", "render_replay", "replay_audit"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One contest of one draw: the card's reading, the CVR's, and each assertion's
    discrepancy ("none" when every assertion found none)."""

    draw: int
    ticket_number: str
    batch: str
    position: int
    contest_id: str
    card: str
    cvr: str
    discrepancy: str


@dataclass(frozen=True, slots=True)
class AuditReplay:
    """The replayed audit of the record up to ``size`` entries."""

    size: int
    report: Mapping[str, Any]  # paperchain.audit_report.audit_report
    comparisons: tuple[Comparison, ...]


def replay_audit(verifier: RecordVerifier, size: int) -> AuditReplay | None:
    """The audit the verifier replayed, or None before the audit's parameters."""
    from paperchain.audit_report import audit_report
    from tally.audit_check import AuditChecker
    from tally.audit_workflow import AuditLedger

    checker = verifier.checker(AuditChecker)
    state = checker.state
    context = verifier.context
    if state.parameters is None or state.population is None or context is None:
        return None
    report = audit_report(AuditLedger(verifier, checker))
    kinds: dict[tuple[str, int], list[str]] = {}
    for risk in report.get("assertions", []):
        for item in risk.get("draws_evaluated", []):
            kind = item.get("discrepancy") if "vote" not in item else item["vote"]
            if kind:
                kinds.setdefault((risk["contest"], item["draw"]), []).append(
                    f"{risk['assertion']}: {kind}")
    manifest = context.manifest
    polling = state.parameters.polling
    rows = []
    for number, ticket in enumerate(state.tickets, start=1):
        pair = state.population.pair_at(ticket.batch, ticket.position)
        reading = state.readings.get((ticket.batch, ticket.position))
        for spec in state.parameters.contests:
            if not state.population.holds(ticket.batch, ticket.position, spec.index):
                continue
            found = kinds.get((spec.contest_id, number))
            rows.append(Comparison(
                number, ticket.ticket_number, ticket.batch, ticket.position, spec.contest_id,
                _card(reading, spec.contest_id),
                "— (ballot polling)" if polling else _cvr(manifest, pair, state.decrypted,
                                                          spec.index),
                "; ".join(found) if found else ("—" if polling else "none")))
    return AuditReplay(size, report, tuple(rows))


def _card(reading: CardReading | None, contest_id: str) -> str:
    if reading is None:
        return "not read"
    if reading.condition != "ok":
        return reading.condition
    found = reading.reading(contest_id)
    if found is None:
        return "not read"
    if found.kind == "votes":
        return ", ".join(sorted(found.votes))
    return found.kind


def _cvr(manifest: Manifest, pair: CardPair | None, decrypted: Mapping[bytes, DecryptedCvr],
         contest_index: int) -> str:
    from tally.assorters import Absent
    from tally.audit import cvr_votes

    if pair is None:
        return "phantom (no card, no CVR)"
    if pair.cvr is None:
        return f"no CVR ({pair.reason})"
    plain = decrypted.get(pair.cvr)
    if plain is None:
        return "not decrypted yet"
    votes = cvr_votes(manifest, plain, contest_index)
    if isinstance(votes, Absent):
        return "not-on-card" if votes is Absent.NOT_ON_CARD else votes.value
    marked = sorted(s for s, n in votes.items() if n)
    return ", ".join(marked) if marked else "blank"


def render_replay(replay: AuditReplay) -> str:
    """The replay as HTML: the seed, the rounds, the risk per assertion (table, chart),
    the draws and the comparisons, the certified hand count."""
    report = replay.report
    parameters = report.get("parameters") or {}
    limit = float(parameters.get("risk_limit", "nan"))
    polling = parameters.get("mode") == "polling"
    parts = [f'<section aria-labelledby="h-replay"><h2 id="h-replay">The audit as this '
             f"site's verification replayed it (record up to entry {replay.size})</h2>"
             f"<p>Mode: {'ballot polling' if polling else 'ballot comparison'}; risk limit "
             f"{escape(parameters.get('risk_limit'))}; outcome: "
             f"<strong>{escape(report.get('outcome') or 'not ended yet')}</strong>.</p>"]
    seed = report.get("seed")
    if seed:
        parts.append(f'<p>Seed <code id="audit-seed">{escape(seed["digits"])}</code>, rolled by '
                     f"{escape(', '.join(seed['rolled_by']))} at {escape(seed['rolled_at'])} "
                     f"(ledger index {escape(seed['ledger_index'])}).</p>")
    rounds = report.get("rounds", [])
    parts.append(table("Rounds", ["Round", "Ledger index", "Draws", "Cards read",
                                  "CVRs decrypted", "Decision", "Next round size"],
                       [[r["round"], r["ledger_index"], r["draws"], r["cards_read"],
                         r["cvrs_decrypted"], r["decision"] or "", r["next_round_size"] or ""]
                        for r in rounds], numeric=[1, 2, 3, 4, 6]))
    parts.append(_risk_section(report.get("assertions", []), limit, polling))
    parts.append(table("Tickets, in draw order", ["Draw", "Ticket number", "Batch", "Position",
                                                  "Generation", "Card", "Ballot ID"],
                       [[d["draw"], d["ticket_number"], d["batch"], d["position"],
                         d["generation"], d["card"], d["ballot_id"] or ""]
                        for d in report.get("draws", [])], numeric=[0, 3, 4]))
    caption, last = ("Sampled comparisons: each draw's contests, the card as the audit board "
                     "read it and the decrypted CVR", "Discrepancy")
    if polling:  # no CVR: the card's side of each assertion (winner, loser or neither)
        caption, last = ("Sampled cards (ballot polling): each draw's contests as the audit "
                         "board read them, and the side each assertion counts them for",
                         "Counts for")
    parts.append(table(caption, ["Draw", "Ticket number", "Batch", "Position", "Contest",
                                 "Card", "CVR", last],
                       [[c.draw, c.ticket_number, c.batch, c.position, c.contest_id, c.card,
                         c.cvr, c.discrepancy] for c in replay.comparisons],
                       numeric=[0, 3]))
    hand = report.get("hand_count")
    if hand:
        parts.append(f"<p>Full hand count certified by {escape(', '.join(hand['certified_by']))} "
                     f"at {escape(hand['certified_at'])}: "
                     f"{escape(report.get('certified_result', ''))}.</p>"
                     + table("The certified hand count", ["Contest", "Selection", "Count"],
                             [[c["contest"], c["selection"], c["count"]]
                              for c in hand["counts"]], numeric=[2]))
    parts.append("</section>")
    return "".join(parts)


def _risk_section(assertions: Sequence[Mapping[str, Any]], limit: float, polling: bool) -> str:
    if not assertions:
        return "<p>No risk measured yet.</p>"
    if polling:
        header = ["Contest", "Assertion", "Draws", "For the winner", "For the loser", "Risk",
                  "Within the limit"]
        keys = ("winner_draws", "loser_draws")
    else:
        header = ["Contest", "Assertion", "Draws", "o1", "o2", "u1", "u2", "Risk",
                  "Within the limit"]
        keys = ("o1", "o2", "u1", "u2")
    rows = []
    points = []
    for a in assertions:
        risk = float(a["p_value"])
        rows.append([a["contest"], a["assertion"], a["draws"], *(a.get(k, "") for k in keys),
                     a["p_value"], "yes" if risk <= limit else "no"])
        points.append((f"{a['contest']}: {a['assertion']}", risk))
    numeric = list(range(2, 3 + len(keys) + 1))
    return (table("Risk per assertion after the last round (recomputed)", header, rows,
                  numeric=numeric)
            + risk_chart(points, limit, "Risk per assertion after the last round"))
