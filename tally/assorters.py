"""Assorters and assertions: contests and ballots turned into bounded numbers (SHANGRLA).

Stark 2020, "Sets of Half-Average Nulls Generate Risk-Limiting Audits: SHANGRLA" (Voting '20,
LNCS 12455), section 2: a contest's reported winners are right if a few *assertions* hold,
each "the mean over all N cards of an assorter A, with values in [0, u], exceeds 1/2".

* plurality and vote-for-k (section 2.1): one assertion per (winner, loser) pair,
  A(b) = (v_w(b) - v_l(b) + 1)/2, u = 1; a card with more marks than votes allowed counts
  no votes (A = 1/2);
* approval (section 2.2): the same pairs, any number of marks allowed;
* supermajority (section 2.3): the winner got more than a fraction f >= 1/2 of the valid votes,
  A(b) = v_w(b)/(2f) if b holds exactly one valid vote, else 1/2; u = 1/(2f).

Comparison audits (section 3.2) test the *overstatement assorter*
B(b) = (1 - ω(b)/u)/(2 - v/u), where ω(b) = A(CVR of b) - A(paper of b) is the overstatement
and v = 2 Ā - 1 the assorter margin of the reported results; B lies in [0, 2/(2 - v/u)] and its
mean exceeds 1/2 exactly when the assertion holds.

Inputs are plain: a ballot's reading of one contest is a ``Mapping[str, int]`` (candidate →
0 or 1, absent keys 0) or an `Absent` sentinel. Nothing here reads files or knows about
encryption; `tally.risk` turns the numbers into p-values.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from e2e.errors import UsageError
from tally.risk import DiscrepancyCounts

__all__ = [
    "Absent",
    "Assertion",
    "Assorter",
    "Contest",
    "ContestKind",
    "PhantomRule",
    "Votes",
    "make_assertions",
    "reported_winners",
]


class Absent(enum.Enum):
    """A reading of a contest that is not a set of marks."""

    NOT_ON_CARD = "not on card"
    """The card was read and does not carry the contest (counts as no vote, A = 1/2)."""
    PHANTOM = "phantom"
    """No card or no CVR (missing, unpaired, unreadable, a phantom to make up a shortfall):
    the worst case applies (see `PhantomRule`)."""


Votes = Mapping[str, int] | Absent
"""One contest on one card: candidate → 0 or 1 (missing candidates are 0), or `Absent`."""


class ContestKind(enum.Enum):
    """How the contest's winners follow from its per-candidate totals."""

    PLURALITY = "plurality"
    """Vote for up to ``seats`` candidates; the ``seats`` with the most votes win."""
    APPROVAL = "approval"
    """Vote for any number; the ``seats`` with the most approvals win."""
    SUPERMAJORITY = "supermajority"
    """Vote for one; a candidate with more than ``share_to_win`` of the valid votes wins."""


class PhantomRule(enum.Enum):
    """The value a phantom CVR takes in an overstatement (a phantom reading is always 0)."""

    WORST_CASE = "worst-case"
    """A phantom CVR assorts to u, the most it could claim for the winner, so ω = u - A(paper)
    is never an understatement. Needs nothing about how the margin was computed."""
    SHANGRLA = "shangrla"
    """A phantom CVR assorts to 1/2, as SHANGRLA's ``Assorter.overstatement``; valid only if the
    reported margin counted each phantom as a card without a vote."""


def _check_votes(contest: Contest, votes: Mapping[str, int]) -> int:
    # Returns the number of marks; refuses what cannot be a reading of this contest.
    marks = 0
    for name, value in votes.items():
        if name not in contest.candidates:
            raise UsageError(f"contest {contest.name!r} has no candidate {name!r}")
        if isinstance(value, bool) or value not in (0, 1):
            raise UsageError(
                f"contest {contest.name!r}: a vote for {name!r} is 0 or 1, got {value!r}"
            )
        marks += value
    return marks


@dataclass(frozen=True, slots=True)
class Contest:
    """What the audit needs to know about a contest besides its totals."""

    name: str
    kind: ContestKind
    candidates: tuple[str, ...]
    seats: int = 1
    share_to_win: float | Fraction | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError("a contest needs a name")
        if not isinstance(self.kind, ContestKind):
            raise UsageError(f"contest {self.name!r}: unknown kind {self.kind!r}")
        if (
            not isinstance(self.candidates, tuple)
            or not self.candidates
            or not all(isinstance(c, str) and c for c in self.candidates)
        ):
            raise UsageError(f"contest {self.name!r}: candidates are a non-empty tuple of names")
        if len(set(self.candidates)) != len(self.candidates):
            raise UsageError(f"contest {self.name!r}: a candidate is listed twice")
        if isinstance(self.seats, bool) or not isinstance(self.seats, int) or self.seats < 1:
            raise UsageError(f"contest {self.name!r}: seats must be a whole number >= 1")
        if self.kind is ContestKind.SUPERMAJORITY:
            f = self.share_to_win
            if self.seats != 1:
                raise UsageError(f"contest {self.name!r}: a supermajority contest has one seat")
            if (
                isinstance(f, bool)
                or not isinstance(f, numbers.Real)
                or not math.isfinite(f)
                or not 0.5 <= f < 1
            ):
                # f >= 1/2 keeps u = 1/(2f) <= 1, which the super-simple formula needs.
                raise UsageError(
                    f"contest {self.name!r}: share to win must be in [0.5, 1), got {f!r}"
                )
        elif self.share_to_win is not None:
            raise UsageError(f"contest {self.name!r}: only a supermajority has a share to win")

    @property
    def supermajority_share(self) -> float:
        """f, the share of the valid votes a supermajority winner needs more than."""
        if self.share_to_win is None:
            raise UsageError(f"contest {self.name!r} is not a supermajority contest")
        return float(self.share_to_win)

    @property
    def exact_share(self) -> Fraction:
        """f as an exact rational (a `Fraction` given stays exact; a float is taken at its
        binary value): who won is decided with it, never with rounded arithmetic."""
        if self.share_to_win is None:
            raise UsageError(f"contest {self.name!r} is not a supermajority contest")
        return Fraction(self.share_to_win)

    @property
    def votes_allowed(self) -> int:
        """How many marks a valid vote may have."""
        if self.kind is ContestKind.PLURALITY:
            return self.seats
        if self.kind is ContestKind.APPROVAL:
            return len(self.candidates)
        return 1


@dataclass(frozen=True, slots=True)
class Assorter:
    """The assorter of one assertion: ``winner`` beats ``loser`` (plurality, approval) or, with
    ``loser=None``, ``winner`` has a supermajority."""

    contest: Contest
    winner: str
    loser: str | None

    def __post_init__(self) -> None:
        if self.winner not in self.contest.candidates:
            raise UsageError(f"contest {self.contest.name!r} has no candidate {self.winner!r}")
        supermajority = self.contest.kind is ContestKind.SUPERMAJORITY
        if supermajority != (self.loser is None):
            raise UsageError(
                "a supermajority assorter has no loser; a pairwise one needs one"
            )
        if self.loser is not None and (
            self.loser not in self.contest.candidates or self.loser == self.winner
        ):
            raise UsageError(f"contest {self.contest.name!r}: bad loser {self.loser!r}")

    @property
    def upper_bound(self) -> float:
        """u: 1 for a pair, 1/(2f) for a supermajority."""
        if self.contest.share_to_win is None:
            return 1.0
        return 1 / (2 * self.contest.supermajority_share)

    def assort(self, votes: Votes) -> float:
        """A(b) for one reading. `Absent.NOT_ON_CARD` is no vote (1/2); `Absent.PHANTOM`, a
        reading with no paper, is the worst case for the winner, 0 (SHANGRLA's phantom MVR)."""
        if votes is Absent.PHANTOM:
            return 0.0
        if votes is Absent.NOT_ON_CARD:
            return 0.5
        if not isinstance(votes, Mapping):
            raise UsageError(f"a reading is a mapping of votes or Absent, got {votes!r}")
        marks = _check_votes(self.contest, votes)
        if self.loser is None:
            if marks != 1:  # blank or overvoted: not a valid vote
                return 0.5
            return votes.get(self.winner, 0) * self.upper_bound
        if marks > self.contest.votes_allowed:  # an overvote counts for no one
            return 0.5
        return (votes.get(self.winner, 0) - votes.get(self.loser, 0) + 1) / 2

    def describe(self) -> str:
        """``winner v loser`` or ``winner v all others``, as SHANGRLA names assertions."""
        return f"{self.winner} v {self.loser if self.loser is not None else 'all others'}"


@dataclass(frozen=True, slots=True)
class Assertion:
    """An assorter with the reported facts that parametrize its tests.

    ``margin`` is the assorter margin v = 2 Ā - 1 over the ``population`` of N cards, from the
    reported totals (SHANGRLA ``find_margin_from_tally``); ``winner_votes`` / ``loser_votes``
    are the reported totals of the pair (``loser_votes`` None for a supermajority), for BRAVO.
    """

    assorter: Assorter
    margin: float
    population: int
    winner_votes: int
    loser_votes: int | None

    def __post_init__(self) -> None:
        if isinstance(self.population, bool) or not isinstance(self.population, int):
            raise UsageError("population must be a whole number")
        if self.population < 1:
            raise UsageError("population must be at least 1 card")
        if not math.isfinite(self.margin) or not 0 <= self.margin <= self.assorter.upper_bound:
            raise UsageError(
                f"assertion {self.assorter.describe()}: margin {self.margin} is outside "
                f"[0, {self.assorter.upper_bound}]"
            )

    @property
    def upper_bound(self) -> float:
        """u, the assorter's upper bound."""
        return self.assorter.upper_bound

    @property
    def diluted_margin(self) -> float:
        """The margin the super-simple Kaplan–Markov formulas take: v itself, every assorter
        here being bounded by 1 (for plurality, (V_w - V_l)/N)."""
        return self.margin

    @property
    def overstatement_upper_bound(self) -> float:
        """2/(2 - v/u), the bound of the overstatement assorter (ALPHA's u)."""
        return 2 / (2 - self.margin / self.upper_bound)

    @property
    def no_error_value(self) -> float:
        """B for a card whose CVR and paper agree: 1/(2 - v/u)."""
        return 1 / (2 - self.margin / self.upper_bound)

    def overstatement(
        self,
        cvr: Votes,
        paper: Votes,
        *,
        phantom_rule: PhantomRule = PhantomRule.WORST_CASE,
        use_style: bool = False,
    ) -> float:
        """ω = A(CVR) - A(paper) (SHANGRLA ``Assorter.overstatement``).

        A phantom CVR is u (`PhantomRule.WORST_CASE`) or 1/2 (`PhantomRule.SHANGRLA`); a
        phantom paper reading is 0. With ``use_style`` (the sample for this contest drew only
        cards whose CVR holds it), paper without the contest is 0, as if it voted for the
        loser, and a CVR without the contest is refused; without it, both count as no vote.
        """
        if not isinstance(phantom_rule, PhantomRule):
            raise UsageError(f"unknown phantom rule {phantom_rule!r}")
        if cvr is Absent.PHANTOM:
            claimed = self.upper_bound if phantom_rule is PhantomRule.WORST_CASE else 0.5
        elif use_style and cvr is Absent.NOT_ON_CARD:
            raise UsageError(
                "with card-style sampling a card whose CVR lacks the contest is not in its sample"
            )
        else:
            claimed = self.assorter.assort(cvr)
        # With card styles, paper missing a contest its CVR holds is the loser's worst case.
        missing = use_style and paper is Absent.NOT_ON_CARD
        found = 0.0 if missing else self.assorter.assort(paper)
        return claimed - found

    def overstatement_value(
        self,
        cvr: Votes,
        paper: Votes,
        *,
        phantom_rule: PhantomRule = PhantomRule.WORST_CASE,
        use_style: bool = False,
    ) -> float:
        """B(b) = (1 - ω/u)/(2 - v/u), the value ALPHA and SHANGRLA's tests take."""
        omega = self.overstatement(cvr, paper, phantom_rule=phantom_rule, use_style=use_style)
        return (1 - omega / self.upper_bound) / (2 - self.margin / self.upper_bound)

    def discrepancy(
        self,
        cvr: Votes,
        paper: Votes,
        *,
        phantom_rule: PhantomRule = PhantomRule.WORST_CASE,
        use_style: bool = False,
    ) -> DiscrepancyCounts:
        """The card's discrepancy for the super-simple formula, as counts (all zero or one 1).

        ω = 1/2 is a one-vote overstatement, ω = 1 a two-vote one, -1/2 and -1 the
        understatements (every plurality and approval ω is one of these or 0). Other values,
        possible for a supermajority, are binned conservatively: 0 < ω < 1/2 → o1,
        1/2 < ω < 1 → o2, -1/2 < ω < 0 → none, -1 < ω < -1/2 → u1.
        """
        omega = self.overstatement(cvr, paper, phantom_rule=phantom_rule, use_style=use_style)
        tolerance = 1e-12  # ω is a difference of exact halves or of multiples of 1/(2f)
        if omega > 0.5 + tolerance:
            return DiscrepancyCounts(o2=1)
        if omega > tolerance:
            return DiscrepancyCounts(o1=1)
        if omega <= -1 + tolerance:
            return DiscrepancyCounts(u2=1)
        if omega <= -0.5 + tolerance:
            return DiscrepancyCounts(u1=1)
        return DiscrepancyCounts()


def _check_totals(contest: Contest, totals: Mapping[str, int]) -> dict[str, int]:
    if set(totals) != set(contest.candidates):
        missing = sorted(set(contest.candidates) - set(totals))
        extra = sorted(set(totals) - set(contest.candidates))
        raise UsageError(
            f"contest {contest.name!r}: totals must name every candidate and no one else "
            f"(missing {missing}, unknown {extra})"
        )
    checked: dict[str, int] = {}
    for name in contest.candidates:
        value = totals[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"contest {contest.name!r}: total for {name!r} is {value!r}")
        checked[name] = value
    return checked


def reported_winners(contest: Contest, totals: Mapping[str, int]) -> tuple[str, ...]:
    """The winners the totals imply. A tie for the last seat raises `UsageError` (the totals
    do not decide it; pass the winners as decided to `make_assertions`); so does a
    supermajority contest that nobody won (auditing "no winner" is not supported)."""
    counts = _check_totals(contest, totals)
    if contest.kind is ContestKind.SUPERMAJORITY:
        valid = sum(counts.values())
        f = contest.exact_share
        for name in contest.candidates:
            if valid and counts[name] > f * valid:  # exact: a tie at f fails, as in the results
                return (name,)
        raise UsageError(
            f"contest {contest.name!r}: no candidate has more than {f} of the valid votes; "
            "confirming that nobody won is not supported"
        )
    ranked = sorted(contest.candidates, key=lambda name: -counts[name])
    k = contest.seats
    if k < len(ranked) and counts[ranked[k - 1]] == counts[ranked[k]]:
        raise UsageError(
            f"contest {contest.name!r}: {ranked[k - 1]!r} and {ranked[k]!r} tie for the last "
            f"seat with {counts[ranked[k]]} votes; give the winners as decided"
        )
    return tuple(ranked[:k])


def make_assertions(
    contest: Contest,
    totals: Mapping[str, int],
    *,
    cards: int,
    winners: Sequence[str] | None = None,
) -> tuple[Assertion, ...]:
    """The assertions that together imply the reported winners (SHANGRLA
    ``make_plurality_assertions`` / ``make_supermajority_assertion``), with margins from the
    totals over ``cards`` (N, the cards that may hold the contest).

    Margins: (T_w - T_l)/N for a pair; for a supermajority T_w/(f N) - V/N with V the valid
    votes (SHANGRLA: q (p/f - 1)). ``winners`` defaults to `reported_winners`; given winners
    must not have fewer votes than any loser (a tie gives a margin of 0, which no sample can
    confirm: the audit becomes a full hand count). No loser, no assertion.
    """
    counts = _check_totals(contest, totals)
    if isinstance(cards, bool) or not isinstance(cards, int) or cards < 1:
        raise UsageError(f"contest {contest.name!r}: cards must be a whole number >= 1")
    if sum(counts.values()) > cards * contest.votes_allowed:
        raise UsageError(
            f"contest {contest.name!r}: {sum(counts.values())} votes cannot come from "
            f"{cards} cards allowing {contest.votes_allowed} each"
        )
    chosen = reported_winners(contest, counts) if winners is None else tuple(winners)
    if len(set(chosen)) != len(chosen) or not set(chosen) <= set(contest.candidates):
        raise UsageError(f"contest {contest.name!r}: winners {list(chosen)} are not candidates")
    if len(chosen) != contest.seats:
        raise UsageError(f"contest {contest.name!r}: {contest.seats} winners expected")
    if contest.kind is ContestKind.SUPERMAJORITY:
        (winner,) = chosen
        valid = sum(counts.values())
        # Exact, then rounded once: a winner exactly at the share has margin 0.0, not ±ε.
        exact = Fraction(counts[winner]) / (contest.exact_share * cards) - Fraction(valid, cards)
        if exact < 0:
            raise UsageError(
                f"contest {contest.name!r}: {winner!r} has {counts[winner]} of {valid} valid "
                f"votes, not more than {contest.share_to_win} of them"
            )
        return (Assertion(Assorter(contest, winner, None), float(exact), cards, counts[winner],
                          None),)
    assertions = []
    for winner in chosen:
        for loser in contest.candidates:
            if loser in chosen:
                continue
            if counts[winner] < counts[loser]:
                raise UsageError(
                    f"contest {contest.name!r}: winner {winner!r} has fewer votes than "
                    f"{loser!r} ({counts[winner]} < {counts[loser]})"
                )
            assertions.append(
                Assertion(
                    Assorter(contest, winner, loser),
                    (counts[winner] - counts[loser]) / cards,
                    cards,
                    counts[winner],
                    counts[loser],
                )
            )
    return tuple(assertions)
