"""How often the demo's audit confirms a tampered outcome, over many audit seeds.

``paperchain demo --tamper paper`` flips a contest's hand-count winner on paper; a
risk-limiting audit at risk limit α must then confirm the (wrong) reported outcome in
at most a share α of audits — the guarantee is a probability over the seed. This
reruns the demo's audit many times, each with another seed, using exactly the library
the demo uses (``tally.pairing``, ``tally.audit``: the same populations, assertions,
sampler, readings, discrepancies, p-values and round decisions) on the demo's simulated
voters and tampered paper; only the cryptography is left out (the CVRs are the voters'
choices, which the equality proofs establish in the real run). Run it with::

    .venv/bin/python -m paperchain.audit_simulation --voters 300 --seed 2026 --runs 1000

``--mode polling`` (with ``--risk-function bravo`` or ``alpha --eta …``) runs the
ballot-polling audit instead: the polling population (no CVRs), BRAVO or ALPHA against
the reported tally.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass

from e2e.manifest import Manifest, demo_manifest
from paperchain.demo import DemoConfig, _Voters
from paperchain.demo_audit import RISK_LIMIT, DemoCard, tamper_paper
from tally.audit import (
    AuditParameters,
    CardReading,
    ContestReading,
    DecryptedCvr,
    PollingRiskFunction,
    RiskFunction,
    assess,
    build_contest_specs,
    decide,
    draws_for,
    initial_round_size,
)
from tally.pairing import CvrFacts, ManifestCard, Population, pair_cards
from tally.sampler import AuditSeed

__all__ = ["SimulationResult", "demo_election", "simulate_tampered_audits"]

MAX_ROUNDS = 10


@dataclass(frozen=True, slots=True)
class SimulationResult:
    runs: int
    confirmed: int
    escalated: int
    rounds: tuple[int, ...]  # rounds each run took
    contest: str
    cards_changed: int

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.runs


def demo_election(manifest: Manifest, voters: int, seed: int, challenge_rate: float
                  ) -> list[DemoCard]:
    """The demo's simulated voters' cards (cast ones), as ``paperchain.demo`` draws them."""
    simulated = _Voters(manifest, seed)
    cards = []
    for number in range(voters):
        style_id, choices = simulated.ballot()
        simulated.rng.random()  # the demo's challenge draw, kept so the choices match
        cards.append(DemoCard(number.to_bytes(16, "big"), style_id,
                              {c: frozenset(v) for c, v in choices.items()}, "kiosk", False))
    del challenge_rate
    return cards


def _reading(manifest: Manifest, card: DemoCard, round_number: int, batch: str,
             position: int) -> CardReading:
    on_card = {c.id for _, c in manifest.contests_of_style(card.style_id)}
    contests = []
    for contest in manifest.contests:
        if contest.id not in on_card:
            contests.append((contest.id, ContestReading("not-on-card")))
        elif card.choices.get(contest.id):
            contests.append((contest.id, ContestReading("votes", card.choices[contest.id])))
        else:
            contests.append((contest.id, ContestReading("blank")))
    return CardReading(round_number, batch, position, card.ballot_id, "ok", tuple(contests))


def _decrypted(manifest: Manifest, card: DemoCard) -> DecryptedCvr:
    counts = []
    for index, contest in manifest.contests_of_style(card.style_id):
        chosen = card.choices.get(contest.id, frozenset())
        counts.extend((index, j, "", int(s.id in chosen))
                      for j, s in enumerate(contest.selections))
    return DecryptedCvr(card.ballot_id, (1, 3), tuple(counts))


def audit_once(manifest: Manifest, parameters: AuditParameters, population: Population,
               paper: dict[tuple[str, int], DemoCard], cvrs: dict[bytes, DecryptedCvr],
               seed: AuditSeed) -> tuple[str, int]:
    """One audit as the demo runs it: (outcome, rounds)."""
    size, drawn, rounds = parameters.initial_round_size, 0, 0
    readings: dict[tuple[str, int], CardReading] = {}
    tickets = []
    while size > 0 and rounds < MAX_ROUNDS:
        rounds += 1
        new = draws_for(seed, population.frame(), size, drawn)
        tickets.extend(new)
        drawn += len(new)
        for ticket in new:
            card = paper.get((ticket.batch, ticket.position))
            if card is not None and (ticket.batch, ticket.position) not in readings:
                readings[(ticket.batch, ticket.position)] = _reading(
                    manifest, card, rounds, ticket.batch, ticket.position)
        risks = assess(manifest, parameters, population, tickets, readings, cvrs)
        decision, size = decide(parameters, risks, population.frame_size, drawn)
        if decision == "confirmed":
            return "confirmed", rounds
        if decision == "escalate":
            break
    return "full-hand-count", rounds


def simulate_tampered_audits(voters: int, seed: int, runs: int, *,
                             risk_limit: float = RISK_LIMIT,
                             risk_function: RiskFunction | PollingRiskFunction | None = None
                             ) -> SimulationResult:
    """``runs`` audits of the demo election (``voters``, ``seed``) with ``--tamper paper``,
    each with its own 24-digit seed (drawn from a generator seeded with ``seed``); a
    ``PollingRiskFunction`` makes them ballot-polling audits against the reported tally."""
    manifest = demo_manifest()
    honest = demo_election(manifest, voters, seed, DemoConfig.challenge_rate)
    counts: dict[tuple[int, int], int] = {}
    for card in honest:
        for contest_id, chosen in card.choices.items():
            index = manifest.contest_index(contest_id)
            for s in chosen:
                j = manifest.contests[index].selection_index(s)
                counts[(index, j)] = counts.get((index, j), 0) + 1
    paper_cards = [DemoCard(c.ballot_id, c.style_id, dict(c.choices), c.device_id, False)
                   for c in honest]
    contest_id, forged = tamper_paper(manifest, paper_cards, counts,
                                       random.Random(seed ^ 0x5EED))  # noqa: S311 - simulation
    facts = {c.ballot_id: CvrFacts("kiosk", c.style_id, tuple(
        i for i, _ in manifest.contests_of_style(c.style_id))) for c in honest}
    per_contest: dict[int, int] = {}
    for fact in facts.values():
        for i in fact.contests:
            per_contest[i] = per_contest.get(i, 0) + 1
    box = [ManifestCard(c.ballot_id, frozenset(), c.style_id) for c in paper_cards]
    risk = risk_function or RiskFunction()
    if isinstance(risk, PollingRiskFunction):
        population = pair_cards(manifest, [("Box", box)], {}, per_contest)
        specs = build_contest_specs(manifest, counts, population, risk)
        first = initial_round_size(specs, risk_limit, 0.0, population.frame_size,
                                   polling=True)
        parameters = AuditParameters(0, 0, risk_limit, risk, specs,
                                     tuple(population.frame().items()), first, "simulation",
                                     "polling")
    else:
        population = pair_cards(manifest, [("Box", box)], facts, per_contest)
        specs = build_contest_specs(manifest, counts, population)
        parameters = AuditParameters(0, 0, risk_limit, risk, specs,
                                     tuple(population.frame().items()),
                                     initial_round_size(specs, risk_limit, risk.gamma,
                                                        population.frame_size), "simulation")
    paper = {("Box", n): card for n, card in enumerate(paper_cards, start=1)}
    cvrs = {c.ballot_id: _decrypted(manifest, c) for c in honest}
    seeds = random.Random(seed)  # noqa: S311 - which seeds to try, not a secret
    outcomes: list[tuple[str, int]] = []
    for _ in range(runs):
        digits = "".join(str(seeds.randrange(10)) for _ in range(24))
        outcomes.append(audit_once(manifest, parameters, population, paper, cvrs,
                                   AuditSeed(digits)))
    confirmed = sum(1 for outcome, _ in outcomes if outcome == "confirmed")
    return SimulationResult(runs, confirmed, runs - confirmed,
                            tuple(rounds for _, rounds in outcomes), contest_id, len(forged))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=300, help="the demo's --voters")
    parser.add_argument("--seed", type=int, default=2026, help="the demo's --seed")
    parser.add_argument("--runs", type=int, default=1000, help="audits to run")
    parser.add_argument("--mode", choices=("comparison", "polling"), default="comparison",
                        help="comparison (Kaplan–Markov) or ballot polling")
    parser.add_argument("--risk-function", choices=("bravo", "alpha"), default="bravo",
                        help="polling: bravo, or alpha with --eta")
    parser.add_argument("--eta", help="polling alpha: 'reported' or a number in (1/2, 1]")
    args = parser.parse_args(argv)
    function = (PollingRiskFunction(args.risk_function, args.eta) if args.mode == "polling"
                else None)
    result = simulate_tampered_audits(args.voters, args.seed, args.runs,
                                      risk_function=function)
    print(f"{args.mode}: --tamper paper: {result.cards_changed} cards' {result.contest!r} changed; "
          f"{result.runs} audits at risk limit {RISK_LIMIT}: {result.confirmed} confirmed, "
          f"{result.escalated} escalated (escalation rate {result.escalation_rate:.4f}); "
          f"rounds: max {max(result.rounds)}, mean "
          f"{sum(result.rounds) / len(result.rounds):.2f}")


if __name__ == "__main__":
    main()
