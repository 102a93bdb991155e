"""tally.risk: behaviour beyond the reference values, and every refusal."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from e2e.errors import UsageError
from tally import risk
from tally.risk import (
    AlphaMart,
    DiscrepancyCounts,
    ErrorRates,
    FixedEta,
    KaplanKolmogorov,
    KaplanMarkovMean,
    OptimalComparison,
    ShrinkTrunc,
    bravo_asn,
    bravo_completion_probability,
    bravo_p_value,
    bravo_sample_size,
    comparison_pilot_values,
    deterministic_sample_size,
    kaplan_markov_expected_sample_size,
    kaplan_markov_expected_sample_size_iterated,
    kaplan_markov_next_round_size,
    kaplan_markov_p_value,
    kaplan_markov_sample_size,
    polling_pilot_values,
)

# --- refused inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.1, 5, math.nan, math.inf, True, "0.05", None])
def test_rejects_risk_limit_outside_open_unit_interval(alpha: object) -> None:
    with pytest.raises(UsageError, match="risk limit"):
        kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("margin", [0, -0.1, 1.0000001, 2, math.nan])
def test_rejects_diluted_margin_outside_zero_one(margin: float) -> None:
    with pytest.raises(UsageError, match="diluted margin"):
        kaplan_markov_p_value(diluted_margin=margin, sample_size=10)
    with pytest.raises(UsageError, match="diluted margin"):
        kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=margin)


def test_accepts_diluted_margin_of_one() -> None:
    assert kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=1.0) == 5


@pytest.mark.parametrize("gamma", [1.0, 0.99, 0, -2])
def test_rejects_gamma_not_above_one(gamma: float) -> None:
    with pytest.raises(UsageError, match="gamma"):
        kaplan_markov_p_value(diluted_margin=0.1, sample_size=10, gamma=gamma)
    with pytest.raises(UsageError, match="gamma"):
        kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.1, gamma=gamma)
    with pytest.raises(UsageError, match="gamma"):
        kaplan_markov_expected_sample_size(risk_limit=0.1, diluted_margin=0.1, gamma=gamma)


@pytest.mark.parametrize("field", ["o1", "o2", "u1", "u2"])
@pytest.mark.parametrize("value", [-1, 1.0, True, "1"])
def test_rejects_discrepancy_count_that_is_not_a_whole_number(field: str, value: object) -> None:
    with pytest.raises(UsageError, match=field):
        DiscrepancyCounts(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["o1", "o2", "u1", "u2"])
@pytest.mark.parametrize("value", [-0.001, 1.0, math.nan])
def test_rejects_error_rate_outside_zero_one(field: str, value: float) -> None:
    with pytest.raises(UsageError, match=field):
        ErrorRates(**{field: value})


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_rejects_sample_size_that_is_not_a_count(n: object) -> None:
    with pytest.raises(UsageError, match="sample size"):
        kaplan_markov_p_value(diluted_margin=0.1, sample_size=n)  # type: ignore[arg-type]


def test_rejects_more_discrepancies_than_draws() -> None:
    with pytest.raises(UsageError, match="cannot come from"):
        kaplan_markov_p_value(diluted_margin=0.1, sample_size=2,
                              discrepancies=DiscrepancyCounts(o1=2, u1=1))
    with pytest.raises(UsageError, match="cannot come from"):
        kaplan_markov_next_round_size(risk_limit=0.1, diluted_margin=0.1, sample_size=1,
                                      discrepancies=DiscrepancyCounts(o2=2))


# --- super-simple Kaplan–Markov ----------------------------------------------------------------


def test_p_value_is_capped_at_one_when_understatements_cannot_offset_overstatements() -> None:
    p = kaplan_markov_p_value(diluted_margin=0.05, sample_size=10,
                              discrepancies=DiscrepancyCounts(o2=5))
    assert p == 1.0


def test_p_value_does_not_overflow_with_many_two_vote_overstatements() -> None:
    p = kaplan_markov_p_value(diluted_margin=0.05, sample_size=5000,
                              discrepancies=DiscrepancyCounts(o2=1000))
    assert p == 1.0


def test_p_value_with_no_draws_is_one() -> None:
    assert kaplan_markov_p_value(diluted_margin=0.3, sample_size=0) == 1.0


def test_sample_size_reaches_the_risk_limit_and_one_less_does_not() -> None:
    for margin in (0.01, 0.05, 0.2):
        for counts in (DiscrepancyCounts(), DiscrepancyCounts(o1=2), DiscrepancyCounts(o2=1)):
            n = kaplan_markov_sample_size(risk_limit=0.05, diluted_margin=margin,
                                          discrepancies=counts)
            assert kaplan_markov_p_value(diluted_margin=margin, sample_size=n,
                                         discrepancies=counts) <= 0.05
            # nmin replaces 1/-ln(1 - m/(2γ)) by 2γ/m: it overshoots by at most a few draws.
            exact = next(k for k in range(counts.total, n + 1) if kaplan_markov_p_value(
                diluted_margin=margin, sample_size=k, discrepancies=counts) <= 0.05)
            assert n - 3 <= exact <= n


def test_sample_size_is_at_least_the_discrepancies_counted() -> None:
    # Understatements alone would confirm at once; the draws that found them still count.
    # (rlacalc 0.4.0 adds u1 twice here instead of u1 + u2 and would say 22.)
    counts = DiscrepancyCounts(o1=1, u1=1, u2=20)
    assert kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.5,
                                     discrepancies=counts) == 22


def test_expected_size_with_hopeless_error_rates_is_a_full_count_given_the_population() -> None:
    rates = ErrorRates(o2=0.05)
    assert kaplan_markov_expected_sample_size(risk_limit=0.05, diluted_margin=0.05, rates=rates,
                                              population=5000) == 5000
    with pytest.raises(UsageError, match="full hand count"):
        kaplan_markov_expected_sample_size(risk_limit=0.05, diluted_margin=0.05, rates=rates)


def test_expected_size_is_capped_at_the_population() -> None:
    kw = {"risk_limit": 0.05, "diluted_margin": 0.001, "rates": ErrorRates()}
    assert kaplan_markov_expected_sample_size(**kw) > 1000
    assert kaplan_markov_expected_sample_size(**kw, population=1000) == 1000


def test_expected_size_without_error_rates_is_the_no_error_sample_size() -> None:
    for margin in (0.013, 0.05, 0.31):
        assert kaplan_markov_expected_sample_size(
            risk_limit=0.1, diluted_margin=margin, rates=ErrorRates()
        ) == kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=margin)


def test_expected_size_rounds_one_vote_counts_up_from_the_exact_binary_rate() -> None:
    # Arlo multiplies Decimal(0.001), slightly above 1/1000, by n0: at n0 = 1000 that is just
    # above 1, so the ceiling is 2 one-vote overstatements where double precision says 1.
    # With rates (0.001, 0, 0, 0), margin 0.00614 makes n0 = 1000.
    margin, g = 0.00614, 1.03905
    n0 = math.ceil(math.log(0.1) / (math.log(1 - margin / (2 * g))
                                    - 0.001 * math.log(1 - 1 / (2 * g))))
    assert n0 == 1000
    assert math.ceil(0.001 * n0) == 1

    def nmin(o1: int) -> int:
        return kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=margin,
                                         discrepancies=DiscrepancyCounts(o1=o1))

    assert nmin(1) != nmin(2)
    assert kaplan_markov_expected_sample_size(risk_limit=0.1, diluted_margin=margin,
                                              rates=ErrorRates(o1=0.001)) == nmin(2)


def test_next_round_size_needs_a_sample() -> None:
    with pytest.raises(UsageError, match="needs a sample"):
        kaplan_markov_next_round_size(risk_limit=0.1, diluted_margin=0.1, sample_size=0,
                                      discrepancies=DiscrepancyCounts())


def test_next_round_size_is_zero_once_the_sample_suffices() -> None:
    assert kaplan_markov_next_round_size(risk_limit=0.1, diluted_margin=0.1, sample_size=500,
                                         discrepancies=DiscrepancyCounts()) == 0


def test_next_round_size_ignores_understatements() -> None:
    base = kaplan_markov_next_round_size(risk_limit=0.1, diluted_margin=0.05, sample_size=100,
                                         discrepancies=DiscrepancyCounts(o1=1))
    with_under = kaplan_markov_next_round_size(
        risk_limit=0.1, diluted_margin=0.05, sample_size=100,
        discrepancies=DiscrepancyCounts(o1=1, u1=3))
    assert base == with_under == 51


def test_next_round_size_is_a_full_count_when_overstatements_are_too_frequent() -> None:
    assert kaplan_markov_next_round_size(
        risk_limit=0.1, diluted_margin=0.05, sample_size=100,
        discrepancies=DiscrepancyCounts(o2=10), population=4000) == 3900


def test_iterated_expected_size_refuses_rates_that_never_stop() -> None:
    with pytest.raises(UsageError, match="not expected to stop"):
        kaplan_markov_expected_sample_size_iterated(risk_limit=0.05, diluted_margin=0.05,
                                                    rates=ErrorRates(o1=0.05))


def test_iterated_expected_size_without_rates_is_the_no_error_size() -> None:
    assert kaplan_markov_expected_sample_size_iterated(
        risk_limit=0.05, diluted_margin=0.05, rates=ErrorRates()
    ) == kaplan_markov_sample_size(risk_limit=0.05, diluted_margin=0.05)


# --- BRAVO -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("w", "ell"), [(50, 50), (40, 60), (0, 0)])
def test_bravo_refuses_a_winner_without_more_votes(w: int, ell: int) -> None:
    with pytest.raises(UsageError, match="more votes than the loser"):
        bravo_p_value(winner_votes=w, loser_votes=ell, winner_sampled=1, loser_sampled=0)
    with pytest.raises(UsageError, match="more votes than the loser"):
        bravo_asn(risk_limit=0.1, winner_votes=w, loser_votes=ell, ballots=200)


@pytest.mark.parametrize("field", ["winner_sampled", "loser_sampled"])
def test_bravo_refuses_negative_sample_counts(field: str) -> None:
    args = {"winner_votes": 60, "loser_votes": 40, "winner_sampled": 1, "loser_sampled": 1}
    args[field] = -1
    with pytest.raises(UsageError, match=field.replace("_", " ")):
        bravo_p_value(**args)


def test_bravo_refuses_more_votes_than_ballots() -> None:
    with pytest.raises(UsageError, match="exceed the ballots"):
        bravo_asn(risk_limit=0.1, winner_votes=60, loser_votes=50, ballots=100)


def test_bravo_p_value_with_unopposed_winner_halves_per_winner_ballot() -> None:
    assert bravo_p_value(winner_votes=10, loser_votes=0, winner_sampled=3,
                         loser_sampled=0) == pytest.approx(0.125, rel=1e-14)


def test_bravo_p_value_is_one_once_a_loser_reported_at_zero_shows_up() -> None:
    assert bravo_p_value(winner_votes=10, loser_votes=0, winner_sampled=30,
                         loser_sampled=1) == 1.0


def test_bravo_p_value_is_capped_at_one() -> None:
    assert bravo_p_value(winner_votes=55, loser_votes=45, winner_sampled=0,
                         loser_sampled=10) == 1.0


def test_bravo_asn_is_zero_when_the_sample_already_meets_the_limit() -> None:
    kw = {"risk_limit": 0.1, "winner_votes": 600, "loser_votes": 400, "ballots": 1000}
    assert bravo_asn(**kw) > 0
    assert bravo_asn(**kw, winner_sampled=200, loser_sampled=0) == 0


def test_bravo_asn_counts_undervotes_per_ballot_drawn() -> None:
    # Half the ballots have no vote in the contest: twice as many draws are expected.
    full = bravo_asn(risk_limit=0.1, winner_votes=550, loser_votes=450, ballots=1000)
    diluted = bravo_asn(risk_limit=0.1, winner_votes=550, loser_votes=450, ballots=2000)
    assert diluted in (2 * full - 1, 2 * full, 2 * full + 1)


def test_bravo_asn_with_a_loser_without_votes() -> None:
    # Each winner ballot doubles T: ln(1/α)/ln 2 + 1/2 of them, half the ballots valid.
    assert bravo_asn(risk_limit=0.1, winner_votes=500, loser_votes=0, ballots=1000) == math.ceil(
        (math.log(10) + math.log(2) / 2) / (0.5 * math.log(2)))


def test_bravo_refuses_estimates_after_a_loser_reported_at_zero_shows_up() -> None:
    with pytest.raises(UsageError, match="count all ballots"):
        bravo_asn(risk_limit=0.1, winner_votes=500, loser_votes=0, ballots=1000,
                  loser_sampled=1)


@pytest.mark.parametrize(("winner", "loser", "ballots", "quantile"), [
    (51, 49, 100, 0.7), (501, 499, 1000, 0.9),
    (5_000_001, 4_999_999, 10_000_000, 0.9),  # stepping to ~10^14 draws would take hours
])
def test_bravo_sample_size_beyond_the_population_is_a_full_count(
        winner: int, loser: int, ballots: int, quantile: float) -> None:
    # Uncapped, the first two were 22915 and 4089472: more cards than the contest has.
    assert bravo_sample_size(risk_limit=0.05, winner_votes=winner, loser_votes=loser,
                             ballots=ballots, quantile=quantile) == ballots


def test_bravo_sample_size_within_the_population_is_not_capped() -> None:
    assert bravo_sample_size(risk_limit=0.05, winner_votes=600, loser_votes=400,
                             ballots=1000, quantile=0.9) == 402  # as before the cap


@pytest.mark.parametrize("quantile", [0, 1, -0.5, 1.5])
def test_bravo_sample_size_refuses_quantile_outside_unit_interval(quantile: float) -> None:
    with pytest.raises(UsageError, match="quantile"):
        bravo_sample_size(risk_limit=0.1, winner_votes=55, loser_votes=45, ballots=100,
                          quantile=quantile)


def test_bravo_sample_size_grows_with_the_quantile() -> None:
    kw = {"risk_limit": 0.1, "winner_votes": 5500, "loser_votes": 4500, "ballots": 10000}
    sizes = [bravo_sample_size(**kw, quantile=q) for q in (0.3, 0.5, 0.7, 0.9, 0.99)]
    assert sizes == sorted(sizes)
    assert sizes[0] < sizes[-1]


def test_bravo_sample_size_with_a_loser_without_votes_is_exact() -> None:
    # 5 winner votes make T = 32 > 1/0.05; with half the ballots valid, 10 draws.
    assert bravo_sample_size(risk_limit=0.05, winner_votes=50, loser_votes=0, ballots=100,
                             quantile=0.9) == 10


def test_bravo_sample_size_is_zero_when_the_sample_already_suffices() -> None:
    assert bravo_sample_size(risk_limit=0.1, winner_votes=60, loser_votes=40, ballots=100,
                             quantile=0.9, winner_sampled=100) == 0


def test_bravo_completion_probability_grows_with_the_sample() -> None:
    kw = {"risk_limit": 0.1, "winner_votes": 5500, "loser_votes": 4500, "ballots": 10000}
    probabilities = [bravo_completion_probability(**kw, sample_size=n) for n in (200, 500, 2000)]
    assert probabilities == sorted(probabilities)
    with pytest.raises(UsageError, match="positive"):
        bravo_completion_probability(**kw, sample_size=0)


def test_binomial_quantile_is_the_smallest_x_reaching_the_level() -> None:
    for n, p in ((0, 0.3), (1, 0.5), (7, 0.3), (40, 0.55), (120, 0.9)):
        pmf = [Fraction(math.comb(n, x)) * Fraction(p) ** x * Fraction(1 - p) ** (n - x)
               for x in range(n + 1)]
        for q in (0.1, 0.3, 0.5, 0.9):
            cumulative, expected = Fraction(0), n
            for x, mass in enumerate(pmf):
                cumulative += mass
                if cumulative >= Fraction(q):
                    expected = x
                    break
            assert risk._binomial_quantile(q, n, p) == expected


# --- tests of a bounded mean -------------------------------------------------------------------


def test_alpha_refuses_values_outside_zero_to_u() -> None:
    test = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6))
    with pytest.raises(UsageError, match="outside"):
        test.test([0.5, 1.2])
    with pytest.raises(UsageError, match="outside"):
        test.test([-0.1])
    with pytest.raises(UsageError, match="finite"):
        test.test([math.nan])


@pytest.mark.parametrize(("u", "t"), [(1.0, 1.0), (1.0, 0.0), (0.4, 0.5), (1.0, -0.5)])
def test_alpha_refuses_null_mean_not_strictly_inside_zero_u(u: float, t: float) -> None:
    with pytest.raises(UsageError, match="null mean"):
        AlphaMart(upper_bound=u, estimator=FixedEta(0.6), null_mean=t)


def test_alpha_refuses_more_draws_than_the_population() -> None:
    with pytest.raises(UsageError, match="more draws than the population"):
        AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6), population=2).test([1, 1, 1])


def test_alpha_refuses_eta_above_the_upper_bound() -> None:
    with pytest.raises(UsageError, match="eta must be in"):
        AlphaMart(upper_bound=1.0, estimator=FixedEta(1.5)).test([1.0])


def test_alpha_with_fixed_eta_matches_the_closed_form_with_replacement() -> None:
    # T_j = Π (x η/t + (u - x)(u - η)/(u - t))/u: two winner votes, one loser vote, η = 0.6.
    result = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6)).test([1, 1, 0])
    t_values = [1.2, 1.44, 1.44 * 0.8]
    assert result.p_history == pytest.approx(tuple(1 / t for t in t_values), rel=1e-12)
    assert result.p_value == pytest.approx(1 / 1.44, rel=1e-12)


def test_alpha_confirms_when_the_draws_exceed_what_the_null_allows() -> None:
    # N = 5, t = 1/2: three winner votes already exceed N t = 2.5, so μ_4 < 0.
    test = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.75), population=5)
    assert test.test([1, 1, 1, 0]).p_history[-1] == 0.0


def test_alpha_confirms_a_positive_draw_where_the_null_needs_only_zeros() -> None:
    # N = 4, t = 1/2: after two winner votes the null leaves only zeros (μ_3 = 0).
    test = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.75), population=4)
    assert test.test([1, 1, 1]).p_history[-1] == 0.0
    assert test.test([1, 1, 0]).p_history[-1] > 0.0


def test_alpha_cannot_confirm_once_the_rest_could_not_reach_the_null_mean() -> None:
    # N = 4, t = 1/2: two zeros leave 2 cards that would need mean 1 ... a third zero, > u.
    result = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.75), population=4).test([0, 0, 0])
    assert result.p_history[-1] == 1.0


def test_alpha_last_draw_of_whole_population_decides() -> None:
    result = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6), population=3).test([1, 0, 1])
    assert result.p_history[-1] == 0.0


def test_optimal_comparison_refuses_a_polling_bound() -> None:
    with pytest.raises(UsageError, match="above 1"):
        AlphaMart(upper_bound=1.0, estimator=OptimalComparison()).test([1.0])


def test_optimal_comparison_bet_is_just_below_the_bound_when_errors_are_rare() -> None:
    u = 2 / 1.9
    eta = OptimalComparison(1e-5).next_eta(
        risk.DrawsSoFar(), 0.5, upper_bound=u, population=None, null_mean=0.5)
    assert 0.5 < eta < u
    assert eta == pytest.approx(u, rel=1e-3)


@pytest.mark.parametrize("kwargs", [{"d": -1}, {"d": 0}, {"f": -1}, {"minsd": 0}, {"c": -0.1}])
def test_shrink_trunc_refuses_negative_tuning(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        ShrinkTrunc(**kwargs)


def test_shrink_trunc_keeps_eta_between_null_and_bound() -> None:
    estimator = ShrinkTrunc(eta=0.55, f=0.5)
    seen = risk.DrawsSoFar()
    for x in [0, 0, 0, 1, 0, 0.5, 1, 1, 1, 1]:
        eta = estimator.next_eta(seen, 0.5, upper_bound=1.0, population=None, null_mean=0.5)
        assert 0.5 < eta < 1.0
        seen.push(x)


def test_shrink_trunc_refuses_tuning_whose_bounds_cross() -> None:
    # default c = (η - t)/2 - ε ≈ 0.245; with d = 0.01 the margin c/sqrt(d) ≈ 2.45 > u - t
    test = AlphaMart(upper_bound=1.0, estimator=ShrinkTrunc(d=0.01))
    with pytest.raises(UsageError, match="bounds cross"):
        test.test([1.0])


class _WildEstimator:
    def next_eta(self, seen: risk.DrawsSoFar, null_mean_now: float, *, upper_bound: float,
                 population: int | None, null_mean: float) -> float:
        return 2.0


def test_alpha_refuses_an_estimator_that_bets_outside_zero_u() -> None:
    with pytest.raises(UsageError, match="eta must be in"):
        AlphaMart(upper_bound=1.0, estimator=_WildEstimator()).test([1.0])


def test_kaplan_markov_mean_zero_value_with_no_padding_ends_the_test() -> None:
    result = KaplanMarkovMean(g=0).test([1.0, 0.0, 1.0])
    assert result.p_history[1:] == (1.0, 1.0)
    assert result.p_value == 0.5


def test_kaplan_tests_refuse_negative_padding_and_values() -> None:
    with pytest.raises(UsageError, match="g must not be negative"):
        KaplanMarkovMean(g=-0.1)
    with pytest.raises(UsageError, match="g must not be negative"):
        KaplanKolmogorov(population=10, g=-0.1)
    with pytest.raises(UsageError, match="outside"):
        KaplanMarkovMean().test([-1.0])
    with pytest.raises(UsageError, match="more draws"):
        KaplanKolmogorov(population=1).test([1.0, 1.0])


def test_deterministic_sample_size_is_the_population_when_never_confirmed() -> None:
    test = AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6), population=100)
    assert deterministic_sample_size(test, [0.5], risk_limit=0.05, population=100) == 100
    with pytest.raises(UsageError, match="empty"):
        deterministic_sample_size(test, [], risk_limit=0.05, population=100)
    with pytest.raises(UsageError, match="population must be positive"):
        deterministic_sample_size(test, [1.0], risk_limit=0.05, population=0)


def test_comparison_pilot_places_errors_every_one_over_rate() -> None:
    values = comparison_pilot_values(assorter_margin=0.1, population=10, rate_1=0.25,
                                     rate_2=1 / 3)
    ok, one = 1 / 1.9, 0.5 / 1.9
    # one-vote at 0, 4, 8; two-vote (0) at 0, 3, 6, 9, overriding position 0
    assert values == pytest.approx([0, ok, ok, 0, one, ok, 0, ok, one, 0], rel=1e-15)
    with pytest.raises(UsageError, match="assorter margin"):
        comparison_pilot_values(assorter_margin=0, population=10)


def test_polling_pilot_interleaves_starting_with_a_loser_vote() -> None:
    values = polling_pilot_values(winner_votes=3, loser_votes=2, population=6)
    assert values[0] == 0.0
    assert sorted(values) == [0.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    with pytest.raises(UsageError, match="exceed the population"):
        polling_pilot_values(winner_votes=3, loser_votes=2, population=4)
    with pytest.raises(UsageError, match="more votes than the loser"):
        polling_pilot_values(winner_votes=2, loser_votes=2, population=4)


# --- refusals not covered above ----------------------------------------------------------------


def test_iterated_expected_size_refuses_counts_that_never_settle() -> None:
    # rlacalc returns NaN for the same inputs: the counts oscillate between two sizes.
    with pytest.raises(UsageError, match="does not settle"):
        kaplan_markov_expected_sample_size_iterated(
            risk_limit=0.01, diluted_margin=0.005, rates=ErrorRates(o1=0.003, o2=0.0001),
            round_up_2=True)


def test_bravo_sample_size_with_an_unopposed_winner_already_confirmed_is_zero() -> None:
    assert bravo_sample_size(risk_limit=0.05, winner_votes=50, loser_votes=0, ballots=100,
                             quantile=0.9, winner_sampled=5) == 0
    assert bravo_sample_size(risk_limit=0.05, winner_votes=50, loser_votes=0, ballots=100,
                             quantile=0.9, winner_sampled=4) == 2


def test_bravo_completion_probability_needs_an_opposed_winner_and_is_one_when_done() -> None:
    with pytest.raises(UsageError, match="loser with votes"):
        bravo_completion_probability(risk_limit=0.1, winner_votes=50, loser_votes=0,
                                     ballots=100, sample_size=10)
    assert bravo_completion_probability(risk_limit=0.1, winner_votes=60, loser_votes=40,
                                        ballots=100, sample_size=10, winner_sampled=100) == 1.0


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_optimal_comparison_refuses_a_rate_outside_zero_one(rate: float) -> None:
    with pytest.raises(UsageError, match="error rate 2"):
        OptimalComparison(rate)


@pytest.mark.parametrize("population", [0, -5, 2.5])
def test_alpha_refuses_a_population_that_is_not_a_positive_count(population: object) -> None:
    with pytest.raises(UsageError, match="population"):
        AlphaMart(upper_bound=1.0, estimator=FixedEta(0.6),
                  population=population)  # type: ignore[arg-type]


def test_kaplan_tests_refuse_a_null_mean_that_is_not_positive() -> None:
    with pytest.raises(UsageError, match="null mean"):
        KaplanMarkovMean(null_mean=0)
    with pytest.raises(UsageError, match="null mean"):
        KaplanKolmogorov(population=10, null_mean=-1)
    with pytest.raises(UsageError, match="population"):
        KaplanKolmogorov(population=0)


def test_kaplan_kolmogorov_confirms_once_the_draws_exceed_the_null_total() -> None:
    # N = 2, t = 1/2, g = 0: the first draw of 2 already exceeds N t = 1 (μ'_2 < 0).
    result = KaplanKolmogorov(population=2, g=0).test([2.0, 0.0])
    assert result.p_history[-1] == 0.0
