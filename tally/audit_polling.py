"""Ballot polling against the verified tally: the risk functions and their sample sizes.

docs/spec.md §19.6–§19.7 (the entries) and §20.4 (the statistics). The privacy mode
without CVRs: the reported outcome is the decrypted tally, the population is the paper
manifest's cards (plus phantom cards for a shortfall against the cast ballots), and the
board's reading of each drawn card is all the evidence. No CVR is published, paired or
decrypted.

Each assertion (``tally.assorters``: a winner–loser pair, or a supermajority winner
against all others) is tested with one of two risk functions, named apart:

* **BRAVO** (Lindeman, Stark, Yates 2012): with W and L the reported votes of the
  winner and of the loser (all others, for a supermajority), s = W/(W + L) and t the
  threshold (1/2 for a pair, the share f for a supermajority), a drawn card whose
  assorter value is above 1/2 (a vote for the winner) multiplies T by s/t, one below 1/2
  (a vote for the loser; a phantom, a card not found, unreadable or the board cannot
  agree: the worst case) by (1 − s)/(1 − t), any other card by 1. The risk after a draw
  is min(1, 1/T); the audit uses the risk after the last draw (as Arlo). For t = 1/2 this
  is ``tally.risk.bravo_p_value`` itself.
* **ALPHA ballot polling** (Stark 2023): ``tally.risk.AlphaMart`` over the drawn cards'
  assorter values, upper bound u of the assorter, with replacement, η fixed and explicit
  per assertion: the number given, or ``reported`` — the reported assorter mean
  (1 + margin)/2. The sequential p-value (the minimum over the draws) decides.

Sample sizes (a recommendation; the auditor may draw more or fewer): BRAVO's average
sample number with threshold t (Lindeman, Stark, Yates 2012 §9.2, in double precision),
for both risk functions; after a round, the same with the counts drawn so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from e2e.encoding import ObjectReader
from e2e.errors import EncodingError, UsageError
from tally.risk import bravo_p_value

__all__ = [
    "POLLING_FUNCTIONS",
    "POLLING_RULES",
    "PollingRiskFunction",
    "bravo_draws_expected",
    "bravo_risk",
    "polling_side",
]

POLLING_RULES = "paperchain-polling-1"
"""Population rules of a polling audit: every card of the manifest holds every contest (no
card-style data without CVRs); per contest N = max(cards, valid cast ballots holding it); the
shortfall becomes phantom cards; unreadable, missing and flagged cards read as the board
finds them, a phantom or a worst-case condition as a vote for the loser."""

POLLING_FUNCTIONS = ("bravo", "alpha")


def _eta_value(text: str) -> float:
    try:
        value = float(Decimal(text))
    except ArithmeticError:
        raise UsageError(f"η must be 'reported' or a number, got {text!r}") from None
    if not math.isfinite(value) or repr(value) != text:
        raise UsageError(f"η must be written in its shortest decimal form (e.g. 0.6), got "
                         f"{text!r}")
    if not 0.5 < value <= 1:
        raise UsageError(f"η must be above 1/2 (the null mean) and at most 1, got {text}")
    return value


@dataclass(frozen=True, slots=True)
class PollingRiskFunction:
    """The ballot-polling risk function of an audit and its parameter.

    ``name`` is ``bravo`` (no parameter: the reported shares come from the tally) or
    ``alpha`` with ``eta``: ``reported`` or a decimal string in (1/2, 1] (shortest form).
    """

    name: str = "bravo"
    eta: str | None = None

    def __post_init__(self) -> None:
        if self.name not in POLLING_FUNCTIONS:
            raise UsageError(f"unknown ballot-polling risk function {self.name!r} (bravo or "
                             "alpha)")
        if self.name == "bravo" and self.eta is not None:
            raise UsageError("BRAVO takes no η: its alternative is the reported share")
        if self.name == "alpha":
            if self.eta is None:
                raise UsageError("ALPHA ballot polling needs η explicit: 'reported' (each "
                                 "assertion's reported assorter mean) or a number in (1/2, 1]")
            if self.eta != "reported":
                _eta_value(self.eta)

    @property
    def fixed_eta(self) -> float | None:
        """η as a number when one was given (None for BRAVO and for ``reported``)."""
        if self.name != "alpha" or self.eta in (None, "reported"):
            return None
        return _eta_value(self.eta)

    def to_json(self) -> dict[str, Any]:
        if self.name == "bravo":
            return {"name": "bravo", "with_replacement": True}
        return {"name": "alpha", "eta": self.eta, "with_replacement": True}

    @classmethod
    def from_json(cls, obj: ObjectReader) -> PollingRiskFunction:
        name = obj.choice("name", POLLING_FUNCTIONS)
        if obj.raw("with_replacement") is not True:
            raise EncodingError("this audit samples with replacement",
                                obj.path("with_replacement"))
        try:
            if name == "bravo":
                return cls(name)
            return cls(name, obj.string("eta", 40))
        except UsageError as err:
            raise EncodingError(err.reason, obj.path("name" if name == "bravo" else "eta")
                                ) from None


def polling_side(value: float) -> int:
    """+1 when a card's assorter value is a vote for the winner (above 1/2), −1 for the loser
    (below 1/2: a vote for the loser, or the worst case), 0 otherwise."""
    if value > 0.5:
        return 1
    if value < 0.5:
        return -1
    return 0


def _log_ratios(winner_votes: int, loser_votes: int, threshold: Fraction) -> tuple[float, float]:
    """(ln(s/t), ln((1 − s)/(1 − t))), the second −inf when L = 0."""
    s = winner_votes / (winner_votes + loser_votes)
    t = float(threshold)
    up = math.log(s) - math.log(t)
    down = -math.inf if loser_votes == 0 else math.log(1.0 - s) - math.log(1.0 - t)
    return up, down


def _check_reported(winner_votes: int, loser_votes: int, threshold: Fraction) -> None:
    if not 0 < threshold < 1:
        raise UsageError(f"a threshold in (0, 1), got {threshold}")
    # s > t decided exactly: W (1 − t) > L t.
    if winner_votes * (1 - threshold) <= loser_votes * threshold or winner_votes <= 0:
        raise UsageError(f"the reported winner's share {winner_votes}/"
                         f"{winner_votes + loser_votes} is not above {threshold}: BRAVO "
                         "cannot confirm it")


def bravo_risk(winner_votes: int, loser_votes: int, threshold: Fraction, winner_drawn: int,
               loser_drawn: int) -> float:
    """BRAVO's risk min(1, 1/T) after ``winner_drawn`` and ``loser_drawn`` cards (module
    docstring); 1 once a loser reported with no vote is drawn."""
    _check_reported(winner_votes, loser_votes, threshold)
    if threshold == Fraction(1, 2):
        return bravo_p_value(winner_votes=winner_votes, loser_votes=loser_votes,
                             winner_sampled=winner_drawn, loser_sampled=loser_drawn)
    if loser_votes == 0 and loser_drawn > 0:
        return 1.0
    up, down = _log_ratios(winner_votes, loser_votes, threshold)
    log_t = winner_drawn * up + (loser_drawn * down if loser_drawn else 0.0)
    return 1.0 if log_t <= 0 else math.exp(-log_t)


def bravo_draws_expected(risk_limit: float, winner_votes: int, loser_votes: int,
                         threshold: Fraction, population: int, winner_drawn: int = 0,
                         loser_drawn: int = 0) -> int | None:
    """Further draws (of cards holding the contest) BRAVO expects to need:
    ⌈(ln(1/α) − ln T + z_w/2) / (p_w z_w + p_l z_l)⌉ with z_w = ln(s/t),
    z_l = ln((1 − s)/(1 − t)), p_w = W/N, p_l = L/N and T the statistic of the draws so far;
    0 when T already reaches 1/α; None when BRAVO can no longer confirm (a loser reported
    with no vote was drawn)."""
    _check_reported(winner_votes, loser_votes, threshold)
    if population < 1:
        raise UsageError("a population of at least one card")
    if loser_votes == 0 and loser_drawn > 0:
        return None
    up, down = _log_ratios(winner_votes, loser_votes, threshold)
    log_t = winner_drawn * up + (loser_drawn * down if loser_drawn else 0.0)
    target = -math.log(risk_limit)
    if log_t >= target:
        return 0
    growth = (winner_votes / population) * up + (
        (loser_votes / population) * down if loser_votes else 0.0)
    return max(math.ceil((target - log_t + up / 2) / growth), 1)
