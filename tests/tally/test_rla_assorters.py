"""tally.assorters: assorter values, overstatements, discrepancies, assertions from totals."""

from __future__ import annotations

import pytest

from e2e.errors import UsageError
from tally.assorters import (
    Absent,
    Assertion,
    Assorter,
    Contest,
    ContestKind,
    PhantomRule,
    make_assertions,
    reported_winners,
)
from tally.risk import DiscrepancyCounts

MAYOR = Contest("mayor", ContestKind.PLURALITY, ("alice", "bob", "carol"))
COUNCIL = Contest("council", ContestKind.PLURALITY, ("a", "b", "c", "d"), seats=2)
PARKS = Contest("parks", ContestKind.APPROVAL, ("x", "y", "z"), seats=1)
BOND = Contest("bond", ContestKind.SUPERMAJORITY, ("yes", "no"), share_to_win=2 / 3)


def _mayor_assertion(loser: str = "bob") -> Assertion:
    (assertion,) = [a for a in make_assertions(MAYOR, {"alice": 60, "bob": 40, "carol": 0},
                                               cards=100) if a.assorter.loser == loser]
    return assertion


# --- assorter values ---------------------------------------------------------------------------


def test_plurality_assorter_values() -> None:
    a = Assorter(MAYOR, "alice", "bob")
    assert a.assort({"alice": 1}) == 1.0
    assert a.assort({"bob": 1}) == 0.0
    assert a.assort({"carol": 1}) == 0.5
    assert a.assort({}) == 0.5
    assert a.assort(Absent.NOT_ON_CARD) == 0.5
    assert a.assort(Absent.PHANTOM) == 0.0
    assert a.upper_bound == 1.0


def test_overvote_counts_for_no_one() -> None:
    a = Assorter(MAYOR, "alice", "bob")
    assert a.assort({"alice": 1, "carol": 1}) == 0.5
    # in a vote-for-2 contest two marks are a valid vote
    b = Assorter(COUNCIL, "a", "c")
    assert b.assort({"a": 1, "b": 1}) == 1.0
    assert b.assort({"a": 1, "b": 1, "c": 1}) == 0.5


def test_approval_allows_any_number_of_marks() -> None:
    a = Assorter(PARKS, "x", "y")
    assert a.assort({"x": 1, "y": 1, "z": 1}) == 0.5
    assert a.assort({"x": 1, "z": 1}) == 1.0


def test_supermajority_assorter_values() -> None:
    a = Assorter(BOND, "yes", None)
    assert a.upper_bound == pytest.approx(0.75)
    assert a.assort({"yes": 1}) == pytest.approx(0.75)
    assert a.assort({"no": 1}) == 0.0
    assert a.assort({}) == 0.5
    assert a.assort({"yes": 1, "no": 1}) == 0.5
    assert a.describe() == "yes v all others"


@pytest.mark.parametrize("votes", [{"dave": 1}, {"alice": 2}, {"alice": -1}, {"alice": True}])
def test_rejects_reading_that_is_not_a_vote_in_the_contest(votes: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        Assorter(MAYOR, "alice", "bob").assort(votes)


def test_rejects_reading_that_is_neither_votes_nor_absent() -> None:
    with pytest.raises(UsageError, match="mapping of votes"):
        Assorter(MAYOR, "alice", "bob").assort("alice")  # type: ignore[arg-type]


def test_rejects_assorter_pairs_that_make_no_sense() -> None:
    with pytest.raises(UsageError, match="no candidate"):
        Assorter(MAYOR, "dave", "bob")
    with pytest.raises(UsageError, match="bad loser"):
        Assorter(MAYOR, "alice", "alice")
    with pytest.raises(UsageError, match="needs one"):
        Assorter(MAYOR, "alice", None)
    with pytest.raises(UsageError, match="has no loser"):
        Assorter(BOND, "yes", "no")


# --- contests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "kind": ContestKind.PLURALITY, "candidates": ("a", "b")},
        {"name": "c", "kind": "plurality", "candidates": ("a", "b")},
        {"name": "c", "kind": ContestKind.PLURALITY, "candidates": ()},
        {"name": "c", "kind": ContestKind.PLURALITY, "candidates": ["a", "b"]},
        {"name": "c", "kind": ContestKind.PLURALITY, "candidates": ("a", "a")},
        {"name": "c", "kind": ContestKind.PLURALITY, "candidates": ("a", "b"), "seats": 0},
        {"name": "c", "kind": ContestKind.PLURALITY, "candidates": ("a", "b"),
         "share_to_win": 0.6},
        {"name": "c", "kind": ContestKind.SUPERMAJORITY, "candidates": ("a", "b")},
        {"name": "c", "kind": ContestKind.SUPERMAJORITY, "candidates": ("a", "b"),
         "share_to_win": 0.4},
        {"name": "c", "kind": ContestKind.SUPERMAJORITY, "candidates": ("a", "b"),
         "share_to_win": 1.0},
        {"name": "c", "kind": ContestKind.SUPERMAJORITY, "candidates": ("a", "b", "c"),
         "share_to_win": 0.6, "seats": 2},
    ],
)
def test_rejects_malformed_contest(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        Contest(**kwargs)  # type: ignore[arg-type]


# --- overstatements and discrepancies ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cvr", "paper", "omega", "counts"),
    [
        ({"alice": 1}, {"alice": 1}, 0.0, DiscrepancyCounts()),
        ({"alice": 1}, {}, 0.5, DiscrepancyCounts(o1=1)),
        ({"alice": 1}, {"carol": 1}, 0.5, DiscrepancyCounts(o1=1)),
        ({"alice": 1}, {"bob": 1}, 1.0, DiscrepancyCounts(o2=1)),
        ({}, {"alice": 1}, -0.5, DiscrepancyCounts(u1=1)),
        ({"bob": 1}, {"alice": 1}, -1.0, DiscrepancyCounts(u2=1)),
        ({"carol": 1}, {"bob": 1}, 0.5, DiscrepancyCounts(o1=1)),
        ({"alice": 1}, {"alice": 1, "bob": 1}, 0.5, DiscrepancyCounts(o1=1)),
    ],
)
def test_plurality_discrepancies(cvr: dict[str, int], paper: dict[str, int], omega: float,
                                 counts: DiscrepancyCounts) -> None:
    assertion = _mayor_assertion()
    assert assertion.overstatement(cvr, paper) == omega
    assert assertion.discrepancy(cvr, paper) == counts
    expected_b = (1 - omega) / (2 - assertion.margin)
    assert assertion.overstatement_value(cvr, paper) == pytest.approx(expected_b)


def test_no_error_value_and_bound() -> None:
    assertion = _mayor_assertion()
    assert assertion.margin == pytest.approx(0.2)
    assert assertion.no_error_value == pytest.approx(1 / 1.8)
    assert assertion.overstatement_upper_bound == pytest.approx(2 / 1.8)
    assert assertion.overstatement_value({"bob": 1}, {"alice": 1}) == pytest.approx(2 / 1.8)
    assert assertion.overstatement_value({"alice": 1}, {"bob": 1}) == 0.0


def test_phantom_paper_is_worst_case_for_the_winner() -> None:
    assertion = _mayor_assertion()
    assert assertion.discrepancy({"alice": 1}, Absent.PHANTOM) == DiscrepancyCounts(o2=1)
    assert assertion.discrepancy({"bob": 1}, Absent.PHANTOM) == DiscrepancyCounts()


def test_phantom_cvr_rule_is_a_parameter() -> None:
    assertion = _mayor_assertion()
    worst = assertion.overstatement(Absent.PHANTOM, {"bob": 1})
    shangrla = assertion.overstatement(Absent.PHANTOM, {"bob": 1},
                                       phantom_rule=PhantomRule.SHANGRLA)
    assert (worst, shangrla) == (1.0, 0.5)
    # worst case: a phantom CVR is never an understatement, whatever the paper says
    assert assertion.overstatement(Absent.PHANTOM, {"alice": 1}) == 0.0
    assert assertion.overstatement(Absent.PHANTOM, {"alice": 1},
                                   phantom_rule=PhantomRule.SHANGRLA) == -0.5
    with pytest.raises(UsageError, match="phantom rule"):
        assertion.overstatement(Absent.PHANTOM, {}, phantom_rule="worst")  # type: ignore[arg-type]


def test_contest_missing_from_paper_is_a_loss_only_with_card_styles() -> None:
    assertion = _mayor_assertion()
    assert assertion.overstatement({"alice": 1}, Absent.NOT_ON_CARD) == 0.5
    assert assertion.overstatement({"alice": 1}, Absent.NOT_ON_CARD, use_style=True) == 1.0
    with pytest.raises(UsageError, match="not in its sample"):
        assertion.overstatement(Absent.NOT_ON_CARD, {"alice": 1}, use_style=True)
    assert assertion.overstatement(Absent.NOT_ON_CARD, {"alice": 1}) == -0.5


def test_supermajority_discrepancies_are_binned_conservatively() -> None:
    (assertion,) = make_assertions(BOND, {"yes": 80, "no": 10}, cards=100)
    # u = 3/4: CVR yes, paper blank → ω = 1/4, binned as a one-vote overstatement
    assert assertion.overstatement({"yes": 1}, {}) == pytest.approx(0.25)
    assert assertion.discrepancy({"yes": 1}, {}) == DiscrepancyCounts(o1=1)
    assert assertion.discrepancy({"yes": 1}, {"no": 1}) == DiscrepancyCounts(o2=1)
    assert assertion.discrepancy({}, {"no": 1}) == DiscrepancyCounts(o1=1)
    # understatements: -1/4 is ignored, -1/2 and -3/4 count as one-vote
    assert assertion.discrepancy({}, {"yes": 1}) == DiscrepancyCounts()
    assert assertion.discrepancy({"no": 1}, {}) == DiscrepancyCounts(u1=1)
    assert assertion.discrepancy({"no": 1}, {"yes": 1}) == DiscrepancyCounts(u1=1)


# --- assertions from totals --------------------------------------------------------------------


def test_plurality_assertions_pair_every_winner_with_every_loser() -> None:
    assertions = make_assertions(COUNCIL, {"a": 50, "b": 40, "c": 30, "d": 5}, cards=80)
    pairs = {(a.assorter.winner, a.assorter.loser): a.margin for a in assertions}
    assert pairs == pytest.approx({("a", "c"): 20 / 80, ("a", "d"): 45 / 80,
                                   ("b", "c"): 10 / 80, ("b", "d"): 35 / 80})
    ac = next(a for a in assertions if (a.assorter.winner, a.assorter.loser) == ("a", "c"))
    assert (ac.winner_votes, ac.loser_votes, ac.population) == (50, 30, 80)


def test_assertion_margin_is_twice_the_mean_assorter_minus_one() -> None:
    # 60 alice, 40 bob, 20 blank cards: v = 2 mean(A) - 1 over all 120 cards
    ballots = [{"alice": 1}] * 60 + [{"bob": 1}] * 40 + [{}] * 20
    assertion = next(iter(make_assertions(
        Contest("m", ContestKind.PLURALITY, ("alice", "bob")),
        {"alice": 60, "bob": 40}, cards=120)))
    mean = sum(assertion.assorter.assort(b) for b in ballots) / len(ballots)
    assert assertion.margin == pytest.approx(2 * mean - 1)


def test_supermajority_margin_follows_shangrla() -> None:
    (assertion,) = make_assertions(BOND, {"yes": 80, "no": 10}, cards=100)
    ballots = [{"yes": 1}] * 80 + [{"no": 1}] * 10 + [{}] * 10
    mean = sum(assertion.assorter.assort(b) for b in ballots) / len(ballots)
    assert assertion.margin == pytest.approx(2 * mean - 1)
    assert assertion.margin == pytest.approx(0.9 * ((80 / 90) / (2 / 3) - 1))
    assert assertion.loser_votes is None


def test_winners_follow_from_totals() -> None:
    assert reported_winners(MAYOR, {"alice": 3, "bob": 9, "carol": 1}) == ("bob",)
    assert reported_winners(COUNCIL, {"a": 1, "b": 9, "c": 5, "d": 0}) == ("b", "c")
    assert reported_winners(BOND, {"yes": 70, "no": 30}) == ("yes",)


def test_tie_for_the_last_seat_needs_the_winners_given() -> None:
    totals = {"alice": 50, "bob": 50, "carol": 0}
    with pytest.raises(UsageError, match="tie for the last seat"):
        make_assertions(MAYOR, totals, cards=100)
    assertions = make_assertions(MAYOR, totals, cards=100, winners=["bob"])
    assert {(a.assorter.loser, a.margin) for a in assertions} == {("alice", 0.0), ("carol", 0.5)}


def test_supermajority_without_a_winner_is_refused() -> None:
    with pytest.raises(UsageError, match="nobody won"):
        make_assertions(BOND, {"yes": 60, "no": 40}, cards=100)


def test_given_supermajority_winner_short_of_the_share_is_refused() -> None:
    with pytest.raises(UsageError, match="not more than"):
        make_assertions(BOND, {"yes": 60, "no": 40}, cards=100, winners=["yes"])


def test_given_winner_with_fewer_votes_than_a_loser_is_refused() -> None:
    with pytest.raises(UsageError, match="fewer votes"):
        make_assertions(MAYOR, {"alice": 60, "bob": 40, "carol": 0}, cards=100, winners=["bob"])


@pytest.mark.parametrize("winners", [["dave"], ["alice", "alice"], ["alice", "bob"]])
def test_rejects_winners_that_are_not_the_seats(winners: list[str]) -> None:
    with pytest.raises(UsageError):
        make_assertions(MAYOR, {"alice": 60, "bob": 40, "carol": 0}, cards=100, winners=winners)


@pytest.mark.parametrize(
    "totals",
    [{"alice": 1, "bob": 2}, {"alice": 1, "bob": 2, "carol": 0, "dave": 0},
     {"alice": -1, "bob": 2, "carol": 0}, {"alice": 1.5, "bob": 2, "carol": 0}],
)
def test_rejects_totals_that_do_not_fit_the_contest(totals: dict[str, int]) -> None:
    with pytest.raises(UsageError, match="total"):
        make_assertions(MAYOR, totals, cards=100)


def test_rejects_more_votes_than_the_cards_allow() -> None:
    with pytest.raises(UsageError, match="cannot come from"):
        make_assertions(MAYOR, {"alice": 60, "bob": 41, "carol": 0}, cards=100)
    with pytest.raises(UsageError, match="cards must be"):
        make_assertions(MAYOR, {"alice": 0, "bob": 0, "carol": 0}, cards=0)


def test_contest_without_losers_has_no_assertions() -> None:
    solo = Contest("solo", ContestKind.PLURALITY, ("only",))
    assert make_assertions(solo, {"only": 10}, cards=10) == ()


def test_rejects_assertion_with_margin_outside_the_bound() -> None:
    assorter = Assorter(MAYOR, "alice", "bob")
    with pytest.raises(UsageError, match="margin"):
        Assertion(assorter, -0.1, 100, 10, 20)
    with pytest.raises(UsageError, match="population"):
        Assertion(assorter, 0.1, 0, 10, 0)


def test_only_a_supermajority_contest_has_a_share() -> None:
    assert BOND.supermajority_share == pytest.approx(2 / 3)
    with pytest.raises(UsageError, match="not a supermajority"):
        _ = MAYOR.supermajority_share


@pytest.mark.parametrize("population", [1.0, True, "100"])
def test_rejects_assertion_population_that_is_not_a_count(population: object) -> None:
    with pytest.raises(UsageError, match="population"):
        Assertion(Assorter(MAYOR, "alice", "bob"), 0.1, population, 10, 0)  # type: ignore[arg-type]


# --- the supermajority rule is the manifest's, exactly ----------------------------------------


def test_supermajority_tie_at_the_share_fails_as_in_the_results() -> None:
    """docs/spec.md §10: yes wins when d·yes > n·(yes + no) — strictly, in exact arithmetic.
    15/22 is one of many shares where float(f)·22 < 15, so a float comparison would let a
    tie pass; the audit must agree with the published results that it fails."""
    from fractions import Fraction

    from e2e.manifest import Manifest
    from tally.audit import audit_contest
    from tally.results import Results, contest_results

    share = Fraction(15, 22)
    assert float(share) * 22 < 15  # what a float comparison would conclude
    manifest = Manifest.from_bytes(b"""{"version": 1, "election_id": "tie", "name": {"en": "T"},
      "jurisdiction": {"en": "T"}, "date": "2026-11-03", "languages": ["en"],
      "contests": [{"id": "bond", "title": {"en": "Bond"}, "kind": "supermajority",
        "vote_for": 1, "threshold": {"numerator": 15, "denominator": 22},
        "selections": [{"id": "yes", "label": {"en": "Yes"}},
                       {"id": "no", "label": {"en": "No"}}]}],
      "ballot_styles": [{"id": "all", "label": {"en": "All"}, "contests": ["bond"]}]}""")
    (result,) = contest_results(manifest, Results(0, (1, 2), ((0, 0, None, 15), (0, 1, None, 7))),
                                {0: 22})
    assert result.winners == ("No",)
    contest = audit_contest(manifest.contests[0])
    assert contest.exact_share == share
    with pytest.raises(UsageError, match="nobody won"):
        reported_winners(contest, {"yes": 15, "no": 7})
    assert reported_winners(contest, {"yes": 16, "no": 7}) == ("yes",)
    (tied,) = make_assertions(contest, {"yes": 15, "no": 7}, cards=22, winners=["yes"])
    assert tied.margin == 0.0  # exactly: only a full hand count can confirm it
    with pytest.raises(UsageError, match="not more than"):
        make_assertions(contest, {"yes": 14, "no": 8}, cards=22, winners=["yes"])
