"""Properties every risk measure must have, over random inputs (hypothesis)."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tally.assorters import (
    Absent,
    Assertion,
    Contest,
    ContestKind,
    PhantomRule,
    Votes,
    make_assertions,
)
from tally.risk import (
    AlphaMart,
    DiscrepancyCounts,
    FixedEta,
    KaplanKolmogorov,
    KaplanMarkovMean,
    OptimalComparison,
    ShrinkTrunc,
    bravo_asn,
    bravo_p_value,
    bravo_sample_size,
    kaplan_markov_p_value,
    kaplan_markov_sample_size,
)

# Reusable strategies.
risk_limits = st.floats(0.001, 0.5)
margins = st.floats(0.001, 1.0)
gammas = st.floats(1.0001, 3.0)
small_counts = st.integers(0, 20)
discrepancies = st.builds(DiscrepancyCounts, small_counts, small_counts, small_counts,
                          small_counts)
sample_sizes = st.integers(80, 3000)
FIELDS = ("o1", "o2", "u1", "u2")


def _plus(counts: DiscrepancyCounts, field: str) -> DiscrepancyCounts:
    return counts + DiscrepancyCounts(**{field: 1})


@given(margins, sample_sizes, discrepancies, gammas)
def test_kaplan_markov_p_value_is_a_probability(m: float, n: int, d: DiscrepancyCounts,
                                                g: float) -> None:
    p = kaplan_markov_p_value(diluted_margin=m, sample_size=n, discrepancies=d, gamma=g)
    assert 0.0 <= p <= 1.0


@given(margins, sample_sizes, discrepancies, gammas)
def test_kaplan_markov_p_value_grows_with_overstatements_and_falls_with_understatements(
    m: float, n: int, d: DiscrepancyCounts, g: float
) -> None:
    p = kaplan_markov_p_value(diluted_margin=m, sample_size=n, discrepancies=d, gamma=g)
    p_o1, p_o2, p_u1, p_u2 = (
        kaplan_markov_p_value(diluted_margin=m, sample_size=n, discrepancies=_plus(d, f), gamma=g)
        for f in FIELDS
    )
    assert p_o1 >= p
    assert p_o2 >= p_o1  # a two-vote overstatement is worse than a one-vote one
    assert p_u1 <= p
    assert p_u2 <= p_u1


@given(margins, sample_sizes, discrepancies, gammas)
def test_kaplan_markov_p_value_falls_with_more_draws_and_a_wider_margin(
    m: float, n: int, d: DiscrepancyCounts, g: float
) -> None:
    p = kaplan_markov_p_value(diluted_margin=m, sample_size=n, discrepancies=d, gamma=g)
    assert kaplan_markov_p_value(diluted_margin=m, sample_size=n + 1, discrepancies=d,
                                 gamma=g) <= p
    assert kaplan_markov_p_value(diluted_margin=min(1.0, m * 1.1), sample_size=n,
                                 discrepancies=d, gamma=g) <= p


@given(risk_limits, margins, discrepancies, gammas)
def test_kaplan_markov_sample_size_reaches_the_risk_limit(alpha: float, m: float,
                                                          d: DiscrepancyCounts, g: float) -> None:
    n = kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=m, discrepancies=d, gamma=g)
    assert n >= d.total
    assert kaplan_markov_p_value(diluted_margin=m, sample_size=n, discrepancies=d,
                                 gamma=g) <= alpha * (1 + 1e-9)


@given(risk_limits, margins, discrepancies, st.sampled_from(FIELDS))
def test_kaplan_markov_sample_size_moves_with_the_discrepancies(
    alpha: float, m: float, d: DiscrepancyCounts, field: str
) -> None:
    n = kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=m, discrepancies=d)
    more = kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=m,
                                     discrepancies=_plus(d, field))
    if field.startswith("o"):
        assert more >= n
    else:
        assert more <= n + 1  # one more draw counted, but never a longer audit otherwise


votes = st.integers(1, 10**6)


@st.composite
def bravo_pairs(draw: st.DrawFn) -> tuple[int, int]:
    loser = draw(st.integers(0, 10**6))
    winner = draw(st.integers(loser + 1, loser + 10**6))
    return winner, loser


@given(bravo_pairs(), st.integers(0, 500), st.integers(0, 500))
def test_bravo_p_value_is_a_probability_monotone_in_the_sample(
    pair: tuple[int, int], w: int, ell: int
) -> None:
    winner, loser = pair
    p = bravo_p_value(winner_votes=winner, loser_votes=loser, winner_sampled=w,
                      loser_sampled=ell)
    assert 0.0 <= p <= 1.0
    assert bravo_p_value(winner_votes=winner, loser_votes=loser, winner_sampled=w + 1,
                         loser_sampled=ell) <= p
    assert bravo_p_value(winner_votes=winner, loser_votes=loser, winner_sampled=w,
                         loser_sampled=ell + 1) >= p


@st.composite
def bravo_contests(draw: st.DrawFn) -> tuple[int, int, int]:
    loser = draw(st.integers(10, 3000))
    lead = draw(st.integers(max(1, loser // 25), loser))  # margins from about 2% of votes
    return loser, lead, draw(st.integers(0, 3000))


@settings(deadline=None, max_examples=50)
@given(risk_limits, bravo_contests())
def test_bravo_sizes_shrink_as_the_margin_grows(alpha: float,
                                                contest: tuple[int, int, int]) -> None:
    loser, lead, others = contest
    ballots = 2 * loser + 2 * lead + others
    asn = bravo_asn(risk_limit=alpha, winner_votes=loser + lead, loser_votes=loser,
                    ballots=ballots)
    wider = bravo_asn(risk_limit=alpha, winner_votes=loser + 2 * lead, loser_votes=loser,
                      ballots=ballots)
    assert 1 <= wider <= asn
    q90 = bravo_sample_size(risk_limit=alpha, winner_votes=loser + lead, loser_votes=loser,
                            ballots=ballots, quantile=0.9)
    q50 = bravo_sample_size(risk_limit=alpha, winner_votes=loser + lead, loser_votes=loser,
                            ballots=ballots, quantile=0.5)
    assert q50 <= q90


bounded = st.floats(0.0, 1.0)
samples = st.lists(bounded, min_size=1, max_size=60)
estimators = st.one_of(
    st.builds(FixedEta, st.floats(0.51, 1.0)),
    st.builds(ShrinkTrunc, st.none() | st.floats(0.51, 0.99), st.floats(1.0, 200.0),
              st.floats(0.0, 2.0)),
)


@given(samples, estimators, st.none() | st.integers(60, 10**6))
def test_alpha_p_values_are_probabilities_and_the_sequential_one_never_rises(
    x: list[float], estimator: FixedEta | ShrinkTrunc, population: int | None
) -> None:
    test = AlphaMart(upper_bound=1.0, estimator=estimator, population=population)
    result = test.test(x)
    assert all(0.0 <= p <= 1.0 for p in result.p_history)
    assert result.p_value == min(result.p_history)
    # More draws can only lower the sequential p-value (the max of T over a longer path).
    longer = test.test([*x, 1.0])
    assert longer.p_value <= result.p_value
    assert longer.p_history[: len(x)] == result.p_history


@given(samples, st.floats(0.51, 1.0))
def test_alpha_cannot_confirm_from_draws_at_or_below_the_null(x: list[float], eta: float) -> None:
    # With replacement each factor is (x η/t + (u - x)(u - η)/(u - t))/u <= 1 when x <= t.
    below = [min(v, 0.5) for v in x]
    assert AlphaMart(upper_bound=1.0, estimator=FixedEta(eta)).test(below).p_value == 1.0


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60), st.floats(0.0, 0.5))
def test_kaplan_tests_give_probabilities(x: list[float], g: float) -> None:
    for result in (KaplanMarkovMean(g=g).test(x),
                   KaplanKolmogorov(population=1000, g=g).test(x)):
        assert all(0.0 <= p <= 1.0 for p in result.p_history)
        assert result.p_value == min(result.p_history)


@st.composite
def plurality_assertions(draw: st.DrawFn) -> Assertion:
    candidates = ("w", "l", "o")
    cards = draw(st.integers(2, 500))
    loser = draw(st.integers(0, cards // 2 - 1 if cards >= 2 else 0))
    winner = draw(st.integers(loser + 1, cards - loser))
    other = draw(st.integers(0, min(winner - 1, cards - winner - loser)))
    contest = Contest("c", ContestKind.PLURALITY, candidates)
    (assertion,) = [a for a in make_assertions(contest, {"w": winner, "l": loser, "o": other},
                                               cards=cards) if a.assorter.loser == "l"]
    return assertion


readings = st.one_of(
    st.sampled_from([Absent.NOT_ON_CARD, Absent.PHANTOM]),
    st.fixed_dictionaries({}, optional={"w": st.integers(0, 1), "l": st.integers(0, 1),
                                        "o": st.integers(0, 1)}),
)


@given(plurality_assertions(), readings, readings, st.sampled_from(PhantomRule))
def test_overstatement_value_lies_in_its_bounds(assertion: Assertion, cvr: Votes, paper: Votes,
                                                rule: PhantomRule) -> None:
    omega = assertion.overstatement(cvr, paper, phantom_rule=rule)
    assert -assertion.upper_bound <= omega <= assertion.upper_bound
    b = assertion.overstatement_value(cvr, paper, phantom_rule=rule)
    assert -1e-12 <= b <= assertion.overstatement_upper_bound * (1 + 1e-12)
    counts = assertion.discrepancy(cvr, paper, phantom_rule=rule)
    assert counts.total <= 1
    # The super-simple count and the exact ω agree for plurality.
    assert omega == (counts.o1 * 0.5 + counts.o2 * 1.0 - counts.u1 * 0.5 - counts.u2 * 1.0)
    if cvr == paper and cvr is not Absent.PHANTOM:
        assert b == assertion.no_error_value


@given(plurality_assertions())
def test_optimal_comparison_bet_grows_the_martingale_without_errors(assertion: Assertion) -> None:
    u = assertion.overstatement_upper_bound
    assume(u > 1 + 1e-9)
    result = AlphaMart(upper_bound=u, estimator=OptimalComparison()).test(
        [assertion.no_error_value] * 5)
    assert result.p_history == tuple(sorted(result.p_history, reverse=True))
    assert result.p_value < 1.0
