"""Recompute with code nobody here wrote: rlacalc (PyPI) for the super-simple and BRAVO
arithmetic, consistent-sampler (PyPI) for ticket numbers, over ranges of inputs."""

from __future__ import annotations

import itertools
import math

import consistent_sampler
import pytest
import rlacalc

from e2e.errors import UsageError
from tally.risk import (
    DiscrepancyCounts,
    ErrorRates,
    bravo_asn,
    bravo_p_value,
    kaplan_markov_expected_sample_size_iterated,
    kaplan_markov_p_value,
    kaplan_markov_sample_size,
)
from tally.sampler import AuditSeed, draw_sample

MARGINS = (0.001, 0.0123, 0.02269532311623024, 0.05, 0.2, 0.77, 1.0)
GAMMAS = (1.03905, 1.1, 2.0)
RISK_LIMITS = (0.001, 0.01, 0.05, 0.1, 0.25)
COUNTS = [DiscrepancyCounts(*c) for c in itertools.product((0, 1, 3), (0, 1, 2), (0, 2), (0, 1))]


def test_p_values_match_rlacalc() -> None:
    compared = 0
    for margin, gamma, counts, n in itertools.product(MARGINS, GAMMAS, COUNTS,
                                                      (8, 50, 137, 500, 2000)):
        ours = kaplan_markov_p_value(diluted_margin=margin, sample_size=n,
                                     discrepancies=counts, gamma=gamma)
        theirs = rlacalc.KM_P_value(n, gamma, margin, counts.o1, counts.o2, counts.u1, counts.u2)
        assert ours == pytest.approx(min(1.0, theirs), rel=1e-11, abs=1e-300)
        compared += 1
    assert compared == len(MARGINS) * len(GAMMAS) * len(COUNTS) * 5


def test_sample_sizes_match_rlacalc_nmin_except_its_floor_typo() -> None:
    differences = 0
    for alpha, margin, gamma, counts in itertools.product(RISK_LIMITS, MARGINS, GAMMAS, COUNTS):
        ours = kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=margin,
                                         discrepancies=counts, gamma=gamma)
        theirs = rlacalc.nmin(alpha, gamma, margin, counts.o1, counts.o2, counts.u1, counts.u2)
        if ours != theirs:
            # rlacalc 0.4.0 takes max(o1 + o2 + u1 + u1, ...): only that floor may differ.
            assert theirs == max(ours, counts.o1 + counts.o2 + 2 * counts.u1)
            differences += 1
    assert differences < len(RISK_LIMITS) * len(MARGINS) * len(GAMMAS) * len(COUNTS) // 10


def test_iterated_expected_sizes_match_rlacalc() -> None:
    rate_sets = [ErrorRates(), ErrorRates(0.001, 0.0001, 0.001, 0.0001), ErrorRates(o1=0.01),
                 ErrorRates(0.002, 0.0005, 0.0, 0.0), ErrorRates(0.005, 0.0, 0.005, 0.001)]
    agreed = refused = 0
    for alpha, margin, rates, up1, up2 in itertools.product(
        (0.01, 0.05, 0.1), (0.005, 0.02, 0.05, 0.1, 0.3), rate_sets, (True, False), (True, False)
    ):
        try:
            theirs = rlacalc.KM_Expected_sample_size_rounded(
                alpha, 1.03905, margin, rates.o1, rates.o2, rates.u1, rates.u2, up1, up2)
        except ValueError:  # rlacalc's NaN reaches ceil() when the rates never let it stop
            theirs = math.nan
        if math.isnan(theirs):
            with pytest.raises(UsageError):
                kaplan_markov_expected_sample_size_iterated(
                    risk_limit=alpha, diluted_margin=margin, rates=rates, round_up_1=up1,
                    round_up_2=up2)
            refused += 1
            continue
        assert kaplan_markov_expected_sample_size_iterated(
            risk_limit=alpha, diluted_margin=margin, rates=rates, round_up_1=up1, round_up_2=up2
        ) == theirs
        agreed += 1
    assert agreed > 200
    assert refused > 0


def test_bravo_p_values_match_rlacalc() -> None:
    for (w_votes, l_votes), (w, ell) in itertools.product(
        [(1410, 1132), (2894, 1695), (51, 49), (900, 100), (10**6, 10**6 - 1)],
        [(0, 0), (1, 0), (0, 1), (45, 32), (170, 135), (400, 10), (10, 400)],
    ):
        theirs = rlacalc.ballot_polling_risk_level(w_votes, l_votes, w, ell)
        ours = bravo_p_value(winner_votes=w_votes, loser_votes=l_votes, winner_sampled=w,
                             loser_sampled=ell)
        assert ours == pytest.approx(min(1.0, theirs), rel=1e-12)


def test_bravo_asn_matches_rlacalc_without_undervotes() -> None:
    for alpha, margin in itertools.product(
        (0.01, 0.05, 0.1, 0.2), (0.01, 0.02, 0.04, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9)
    ):
        ballots = 100_000  # rlacalc findAsn's population, with no undervotes
        winner = round(ballots * (0.5 + margin / 2))
        ours = bravo_asn(risk_limit=alpha, winner_votes=winner, loser_votes=ballots - winner,
                         ballots=ballots)
        assert ours == rlacalc.findAsn(alpha, margin)


SEEDS = ("31415926535897932384", "00000000000000000000", "27182818284590452353602874713527")
SAMPLER_MANIFESTS = (
    {"pct 1": 300, "pct 2": 250, "absentee (mail)": 1000},
    {"a": 1},
    {"Precinct 12-B": 17, "Early vote #3": 0, "Box 1/2": 40},
)


@pytest.mark.parametrize("with_replacement", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_tickets_match_the_consistent_sampler_package(seed: str, with_replacement: bool) -> None:
    for manifest in SAMPLER_MANIFESTS:
        cards = [(b, p) for b, n in manifest.items() for p in range(1, n + 1)]
        first, more = min(len(cards), 60), 30
        if not with_replacement:
            more = min(more, len(cards) - first)
        # Arlo's draw_sample: take = sample size + already drawn, then drop those drawn
        theirs = list(consistent_sampler.sampler(
            cards, seed=seed, take=first + more, with_replacement=with_replacement,
            output="tuple", digits=18))
        ours = draw_sample(AuditSeed(seed), manifest, first, with_replacement=with_replacement)
        ours += draw_sample(AuditSeed(seed), manifest, more, with_replacement=with_replacement,
                            already_drawn=first)
        assert [(t.ticket_number, (t.batch, t.position), t.generation) for t in ours] == theirs
