"""Risk measures for risk-limiting audits, as pure statistics.

Nothing here knows about contests, ballots or files: every function takes numbers and returns
numbers. In the SHANGRLA view (Stark 2020, "Sets of Half-Average Nulls Generate Risk-Limiting
Audits: SHANGRLA") every audit tests, per assertion, the null hypothesis that the mean of a
bounded assorter is at most 1/2; `tally.assorters` turns contests and ballots into those
numbers, this module turns them into p-values and sample sizes.

Three families, each reproducing a published implementation so that anyone can recompute an
audit with code nobody here wrote (tests compare against rlacalc 0.4.0, votingworks/arlo
``server/audit_math`` and pbstark/SHANGRLA values):

* **Super-simple Kaplan–Markov** (Stark 2010, "Super-Simple Simultaneous Single-Ballot
  Risk-Limiting Audits", EVT/WOTE '10, eq. for P_KM in section 3): ballot-level comparison,
  sampling with replacement, error inflation gamma, discrepancy counts o1, o2, u1, u2.
  `kaplan_markov_p_value`, `kaplan_markov_sample_size`,
  `kaplan_markov_expected_sample_size`, `kaplan_markov_expected_sample_size_iterated`,
  `kaplan_markov_next_round_size`.
* **BRAVO** (Lindeman, Stark, Yates 2012, "BRAVO: Ballot-polling Risk-limiting Audits to Verify
  Outcomes", EVT/WOTE '12, sections 3 and 9.2): ballot polling, one winner–loser pair.
  `bravo_p_value`, `bravo_asn`, `bravo_sample_size`, `bravo_completion_probability`.
* **Tests of a bounded mean** (SHANGRLA's ``NonnegMean``): the ALPHA supermartingale (Stark 2023,
  "ALPHA: Audit that Learns from Previously Hand-Audited Ballots", Annals of Applied
  Statistics 17(1), eqs. (5)-(9)) with an explicit choice of eta (`FixedEta`, `ShrinkTrunc`,
  `OptimalComparison`), plus SHANGRLA's Kaplan–Markov and Kaplan–Kolmogorov tests of a mean;
  `deterministic_sample_size` with `comparison_pilot_values` / `polling_pilot_values` gives
  SHANGRLA's ``find_sample_size`` estimates.

Numbers: rlacalc and SHANGRLA compute in IEEE double precision (``math.log``); Arlo computes in
``decimal`` with 28 significant digits. Each function says which it follows; the ``ceil`` in a
sample size is where the two can differ, so each follows its source exactly. Invalid input
(a negative count, a margin outside (0, 1], a risk limit outside (0, 1), gamma <= 1, a value
outside [0, u]) raises `e2e.errors.UsageError`; nothing returns NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from statistics import NormalDist
from typing import Protocol

from e2e.errors import UsageError

__all__ = [
    "ARLO_ERROR_RATES",
    "DEFAULT_GAMMA",
    "NO_DISCREPANCIES",
    "AlphaMart",
    "DiscrepancyCounts",
    "DrawsSoFar",
    "ErrorRates",
    "EtaEstimator",
    "FixedEta",
    "KaplanKolmogorov",
    "KaplanMarkovMean",
    "MeanTest",
    "OptimalComparison",
    "SequentialTest",
    "ShrinkTrunc",
    "bravo_asn",
    "bravo_completion_probability",
    "bravo_p_value",
    "bravo_sample_size",
    "comparison_pilot_values",
    "deterministic_sample_size",
    "kaplan_markov_expected_sample_size",
    "kaplan_markov_expected_sample_size_iterated",
    "kaplan_markov_next_round_size",
    "kaplan_markov_p_value",
    "kaplan_markov_sample_size",
    "polling_pilot_values",
]

DEFAULT_GAMMA = 1.03905
"""Stark's error inflation factor, as in his audit tools, rlacalc, Arlo and ColoradoRLA."""

# Arlo computes in the default decimal context; pinning it here keeps a caller's context out.
_ARLO_DECIMAL = Context(prec=28)
_EPS = 2.0**-52  # numpy.finfo(float).eps, which SHANGRLA uses in its estimators


# --- checked inputs -------------------------------------------------------------------------


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise UsageError(f"{name} must be finite, got {value!r}")
    return as_float


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise UsageError(f"{name} must not be negative, got {value}")
    return int(value)


def _risk_limit(value: object) -> float:
    alpha = _real("risk limit", value)
    if not 0.0 < alpha < 1.0:
        raise UsageError(
            f"risk limit must be in (0, 1), got {value!r} (give a fraction: 0.05 for 5%)"
        )
    return alpha


def _diluted_margin(value: object) -> float:
    margin = _real("diluted margin", value)
    if not 0.0 < margin <= 1.0:
        raise UsageError(f"diluted margin must be in (0, 1], got {value!r}")
    return margin


def _gamma(value: object) -> float:
    gamma = _real("gamma", value)
    if gamma <= 1.0:
        raise UsageError(f"gamma must be greater than 1, got {value!r}")
    return gamma


def _rate(name: str, value: object) -> float:
    rate = _real(name, value)
    if not 0.0 <= rate < 1.0:
        raise UsageError(f"{name} must be in [0, 1), got {value!r}")
    return rate


def _quantile(value: object) -> float:
    q = _real("quantile", value)
    if not 0.0 < q < 1.0:
        raise UsageError(f"quantile must be in (0, 1), got {value!r}")
    return q


# --- super-simple Kaplan–Markov --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscrepancyCounts:
    """Counts of discrepancies in a comparison-audit sample (Stark 2010, section 3).

    ``o1``/``o2``: one- and two-vote overstatements (the CVR favoured the reported winner by one
    or two votes more than the paper); ``u1``/``u2``: one- and two-vote understatements. With
    sampling with replacement a card drawn k times counts k times.
    """

    o1: int = 0
    o2: int = 0
    u1: int = 0
    u2: int = 0

    def __post_init__(self) -> None:
        for name in ("o1", "o2", "u1", "u2"):
            _count(name, getattr(self, name))

    @property
    def total(self) -> int:
        """How many sampled cards carry a discrepancy."""
        return self.o1 + self.o2 + self.u1 + self.u2

    def __add__(self, other: DiscrepancyCounts) -> DiscrepancyCounts:
        return DiscrepancyCounts(
            self.o1 + other.o1, self.o2 + other.o2, self.u1 + other.u1, self.u2 + other.u2
        )


NO_DISCREPANCIES = DiscrepancyCounts()


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """Expected rates of discrepancies per sampled card, for initial sample-size estimates."""

    o1: float = 0.0
    o2: float = 0.0
    u1: float = 0.0
    u2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("o1", "o2", "u1", "u2"):
            _rate(f"{name} rate", getattr(self, name))


ARLO_ERROR_RATES = ErrorRates(o1=0.001, o2=0.0001, u1=0.001, u2=0.0001)
"""Arlo's (and rlacalc's) defaults: one-vote errors 1 in 1000, two-vote errors 1 in 10000."""


def kaplan_markov_p_value(
    *,
    diluted_margin: float,
    sample_size: int,
    discrepancies: DiscrepancyCounts = NO_DISCREPANCIES,
    gamma: float = DEFAULT_GAMMA,
) -> float:
    """The super-simple Kaplan–Markov p-value (Stark 2010, section 3; rlacalc ``KM_P_value``).

    With m the diluted margin and n draws (with replacement)::

        P = (1 - m/(2γ))^n (1 - 1/(2γ))^-o1 (1 - 1/γ)^-o2 (1 + 1/(2γ))^-u1 (1 + 1/γ)^-u2

    capped at 1 as Arlo's ``supersimple.compute_risk`` does (rlacalc returns P uncapped; the
    two agree whenever P < 1). Computed as exp of the sum of logs so that many two-vote
    overstatements cannot overflow; this matches rlacalc's product of powers to ~1e-15.
    """
    m = _diluted_margin(diluted_margin)
    n = _count("sample size", sample_size)
    g = _gamma(gamma)
    d = discrepancies
    if d.total > n:
        raise UsageError(f"{d.total} discrepancies cannot come from a sample of {n} draws")
    log_p = (
        n * math.log(1 - m / (2 * g))
        - d.o1 * math.log(1 - 1 / (2 * g))
        - d.o2 * math.log(1 - 1 / g)
        - d.u1 * math.log(1 + 1 / (2 * g))
        - d.u2 * math.log(1 + 1 / g)
    )
    return 1.0 if log_p >= 0 else math.exp(log_p)


def kaplan_markov_sample_size(
    *,
    risk_limit: float,
    diluted_margin: float,
    discrepancies: DiscrepancyCounts = NO_DISCREPANCIES,
    gamma: float = DEFAULT_GAMMA,
) -> int:
    """The smallest n at which `kaplan_markov_p_value` is at most the risk limit, given the
    discrepancies (rlacalc ``nmin``; Arlo ``supersimple.nMin``)::

        n = max(o1 + o2 + u1 + u2,
                ceil(-2γ (ln α + o1 ln(1 - 1/(2γ)) + o2 ln(1 - 1/γ)
                            + u1 ln(1 + 1/(2γ)) + u2 ln(1 + 1/γ)) / m))

    In double precision with rlacalc's order of operations. The first term is Arlo's; rlacalc
    0.4.0 writes ``o1 + o2 + u1 + u1`` (a typo), which differs only when understatements alone
    would already confirm the outcome. The bound uses 2γ/m for 1/ln(1/(1 - m/(2γ))), so it can
    exceed the exact smallest n by a card or two, as in both sources.
    """
    alpha = _risk_limit(risk_limit)
    m = _diluted_margin(diluted_margin)
    g = _gamma(gamma)
    d = discrepancies
    return max(
        d.total,
        math.ceil(
            -2.0
            * g
            * (
                math.log(alpha)
                + d.o1 * math.log(1.0 - 1.0 / (2.0 * g))
                + d.o2 * math.log(1.0 - 1.0 / g)
                + d.u1 * math.log(1.0 + 1.0 / (2.0 * g))
                + d.u2 * math.log(1.0 + 1.0 / g)
            )
            / m
        ),
    )


def _arlo_nmin(
    alpha: Decimal, gamma: Decimal, margin: Decimal, o1: Decimal, o2: Decimal, u1: Decimal,
    u2: Decimal,
) -> int:
    # Arlo's supersimple.nMin, in the decimal context the caller set up.
    bound = math.ceil(
        -2
        * gamma
        * (
            alpha.ln()
            + o1 * (1 - 1 / (2 * gamma)).ln()
            + o2 * (1 - 1 / gamma).ln()
            + u1 * (1 + 1 / (2 * gamma)).ln()
            + u2 * (1 + 1 / gamma).ln()
        )
        / margin
    )
    return int((o1 + o2 + u1 + u2).max(Decimal(bound)))


def _arlo_expected_size(
    alpha: Decimal, gamma: Decimal, margin: Decimal, r1: Decimal, r2: Decimal, s1: Decimal,
    s2: Decimal,
) -> int | None:
    # Arlo's supersimple.get_sample_sizes after the rates are chosen; None: no finite size.
    denom = (
        (1 - margin / (2 * gamma)).ln()
        - r1 * (1 - 1 / (2 * gamma)).ln()
        - r2 * (1 - 1 / gamma).ln()
        - s1 * (1 + 1 / (2 * gamma)).ln()
        - s2 * (1 + 1 / gamma).ln()
    )
    if denom >= 0:
        return None
    n0 = math.ceil(alpha.ln() / denom)
    # One-vote counts are rounded up; two-vote rates go into nMin unrounded (as Arlo does).
    o1 = (r1 * n0).quantize(Decimal(1), ROUND_CEILING)
    u1 = (s1 * n0).quantize(Decimal(1), ROUND_CEILING)
    return _arlo_nmin(alpha, gamma, margin, o1, r2, u1, s2)


def _arlo_alpha(alpha: float) -> Decimal:
    # Arlo holds the risk limit as whole percent and divides by 100; the shortest decimal
    # form of the fraction is that same decimal (0.05 -> Decimal("0.05")).
    return Decimal(repr(alpha))


def kaplan_markov_expected_sample_size(
    *,
    risk_limit: float,
    diluted_margin: float,
    rates: ErrorRates = ARLO_ERROR_RATES,
    gamma: float = DEFAULT_GAMMA,
    population: int | None = None,
) -> int:
    """Initial sample size for a super-simple audit, expecting discrepancies at ``rates``
    (Arlo ``supersimple.get_sample_sizes`` with no sample yet; Stark's audit-tools rule)::

        denom = ln(1 - m/(2γ)) - r1 ln(1 - 1/(2γ)) - r2 ln(1 - 1/γ)
                               - s1 ln(1 + 1/(2γ)) - s2 ln(1 + 1/γ)
        n0 = ceil(ln α / denom)
        n  = nMin(α, m, o1 = ceil(r1 n0), o2 = r2, u1 = ceil(s1 n0), u2 = s2)

    (r = overstatement rates, s = understatement rates; the two-vote rates enter nMin as
    they are, unrounded). Decimal arithmetic with 28 digits, exactly as Arlo: the risk limit
    from its shortest decimal form, margin, gamma and rates from their exact binary values.

    With ``population`` the size is capped at it, and rates so high that no sample would
    suffice (denom >= 0) give ``population`` (a full hand count), as in Arlo; without it that
    case raises `UsageError`. ``rates=ErrorRates()`` gives the no-error size.
    """
    alpha = _risk_limit(risk_limit)
    m = _diluted_margin(diluted_margin)
    g = _gamma(gamma)
    cap = None if population is None else _count("population", population)
    with localcontext(_ARLO_DECIMAL):
        size = _arlo_expected_size(
            _arlo_alpha(alpha), Decimal(g), Decimal(m), Decimal(rates.o1), Decimal(rates.o2),
            Decimal(rates.u1), Decimal(rates.u2),
        )
    return _capped(size, cap)


def _capped(size: int | None, population: int | None) -> int:
    if size is None:
        if population is None:
            raise UsageError(
                "with these error rates the audit is not expected to stop before a full "
                "hand count; give the population to get it as the sample size"
            )
        return population
    return size if population is None else min(size, population)


def kaplan_markov_next_round_size(
    *,
    risk_limit: float,
    diluted_margin: float,
    sample_size: int,
    discrepancies: DiscrepancyCounts,
    gamma: float = DEFAULT_GAMMA,
    population: int | None = None,
) -> int:
    """How many more draws the next round needs, after ``sample_size`` draws showed
    ``discrepancies`` (Arlo ``supersimple.get_sample_sizes`` with sample results).

    The observed overstatement rates o1/n and o2/n replace the expected ones in
    `kaplan_markov_expected_sample_size`; observed understatements are ignored (Arlo: "we want
    to be conservative"), and the draws already made are subtracted. Never negative.
    """
    alpha = _risk_limit(risk_limit)
    m = _diluted_margin(diluted_margin)
    g = _gamma(gamma)
    n = _count("sample size", sample_size)
    if n == 0:
        raise UsageError("the next-round size needs a sample; use the expected sample size")
    if discrepancies.total > n:
        raise UsageError(f"{discrepancies.total} discrepancies cannot come from {n} draws")
    cap = None if population is None else _count("population", population)
    with localcontext(_ARLO_DECIMAL):
        drawn = Decimal(n)
        size = _arlo_expected_size(
            _arlo_alpha(alpha), Decimal(g), Decimal(m), Decimal(discrepancies.o1) / drawn,
            Decimal(discrepancies.o2) / drawn, Decimal(0), Decimal(0),
        )
    return max(_capped(size, cap) - n, 0)


def kaplan_markov_expected_sample_size_iterated(
    *,
    risk_limit: float,
    diluted_margin: float,
    rates: ErrorRates = ARLO_ERROR_RATES,
    gamma: float = DEFAULT_GAMMA,
    round_up_1: bool = True,
    round_up_2: bool = False,
) -> int:
    """rlacalc's ``KM_Expected_sample_size_rounded`` (after Stark's S157F17 notebook).

    Starts from n0 = ceil(ln α / denom) (denom as in `kaplan_markov_expected_sample_size`),
    then repeats up to 10 times: counts o1 = r1 n0, u1 = s1 n0 (rounded up if ``round_up_1``,
    else to nearest), o2 = r2 n0, u2 = s2 n0 (up if ``round_up_2``, else nearest; Python's
    ``round``, ties to even), n0 = `kaplan_markov_sample_size` of those counts, stopping when
    n0 repeats. Double precision. Raises `UsageError` where rlacalc returns NaN (rates that
    never let the audit stop, or no fixed point in 10 rounds).
    """
    alpha = _risk_limit(risk_limit)
    m = _diluted_margin(diluted_margin)
    g = _gamma(gamma)
    denom = (
        math.log(1 - m / (2 * g))
        - rates.o1 * math.log(1 - 1 / (2 * g))
        - rates.o2 * math.log(1 - 1 / g)
        - rates.u1 * math.log(1 + 1 / (2 * g))
        - rates.u2 * math.log(1 + 1 / g)
    )
    if denom >= 0:
        raise UsageError("with these error rates the audit is not expected to stop")
    n0 = math.ceil(math.log(alpha) / denom)
    one = math.ceil if round_up_1 else round
    two = math.ceil if round_up_2 else round
    for _ in range(10):
        counts = DiscrepancyCounts(
            o1=one(rates.o1 * n0), o2=two(rates.o2 * n0), u1=one(rates.u1 * n0),
            u2=two(rates.u2 * n0),
        )
        n1 = kaplan_markov_sample_size(
            risk_limit=alpha, diluted_margin=m, discrepancies=counts, gamma=g
        )
        if n1 == n0:
            return n1
        n0 = n1
    raise UsageError("the expected sample size does not settle in 10 rounds (rlacalc: NaN)")


# --- BRAVO -------------------------------------------------------------------------------------


def _bravo_votes(winner_votes: object, loser_votes: object) -> tuple[int, int]:
    w = _count("winner votes", winner_votes)
    ell = _count("loser votes", loser_votes)
    if w <= ell:
        raise UsageError(
            f"the reported winner must have more votes than the loser ({w} <= {ell}); "
            "a tie or a reversed pair cannot be confirmed by sampling"
        )
    return w, ell


def bravo_p_value(
    *, winner_votes: int, loser_votes: int, winner_sampled: int, loser_sampled: int
) -> float:
    """BRAVO's risk for one winner–loser pair (Lindeman, Stark, Yates 2012, section 3;
    rlacalc ``ballot_polling_risk_level``; Arlo ``bravo.compute_risk``)::

        s = W / (W + L)        T = (s / 0.5)^w ((1 - s) / 0.5)^l        p = min(1, 1/T)

    W, L: reported votes; w, l: sampled ballots showing a vote for the winner / the loser
    (other ballots leave T unchanged). Logs as in rlacalc, capped at 1 as in Arlo. With L = 0
    a sampled loser vote sets T to 0 (p = 1), where rlacalc returns NaN.
    """
    w_votes, l_votes = _bravo_votes(winner_votes, loser_votes)
    w = _count("winner sampled", winner_sampled)
    ell = _count("loser sampled", loser_sampled)
    s = w_votes / (w_votes + l_votes)
    if l_votes == 0 and ell > 0:
        return 1.0
    log_t = w * (math.log(s) - math.log(0.5))
    if ell:
        log_t += ell * (math.log(1.0 - s) - math.log(0.5))
    return 1.0 if log_t <= 0 else math.exp(-log_t)


@dataclass(frozen=True, slots=True)
class _BravoSetting:
    # Arlo's sampler_contest margins for one pair, in Arlo's decimal context.
    alpha: Decimal
    p_w: Decimal
    p_l: Decimal
    log_t: Decimal  # ln T of the sample so far


def _bravo_setting(
    risk_limit: object, winner_votes: object, loser_votes: object, ballots: object,
    winner_sampled: object, loser_sampled: object,
) -> _BravoSetting:
    alpha = _risk_limit(risk_limit)
    w_votes, l_votes = _bravo_votes(winner_votes, loser_votes)
    n_ballots = _count("ballots", ballots)
    if w_votes + l_votes > n_ballots:
        raise UsageError(
            f"winner and loser votes ({w_votes} + {l_votes}) exceed the ballots ({n_ballots})"
        )
    w = _count("winner sampled", winner_sampled)
    ell = _count("loser sampled", loser_sampled)
    swl = w_votes / (w_votes + l_votes)
    if l_votes == 0 and ell:
        raise UsageError(
            "the sample shows a vote for a loser reported with none: BRAVO can no longer "
            "confirm this pair (its p-value is 1); count all ballots by hand"
        )
    with localcontext(_ARLO_DECIMAL):
        log_t = w * Decimal(swl / 0.5).ln()
        if ell:
            log_t += ell * Decimal((1 - swl) / 0.5).ln()
        return _BravoSetting(
            alpha=_arlo_alpha(alpha),
            p_w=Decimal(w_votes / n_ballots),
            p_l=Decimal(l_votes / n_ballots),
            log_t=log_t,
        )


def bravo_asn(
    *,
    risk_limit: float,
    winner_votes: int,
    loser_votes: int,
    ballots: int,
    winner_sampled: int = 0,
    loser_sampled: int = 0,
) -> int:
    """BRAVO's average sample number (Lindeman, Stark, Yates 2012, section 9.2; Arlo
    ``bravo.get_expected_sample_sizes``)::

        p_w = W/B, p_l = L/B, s_w = p_w/(p_w + p_l), z_w = ln(2 s_w), z_l = ln(2 - 2 s_w)
        ASN = ceil((ln((1/α)/T) + z_w/2) / (p_w z_w + p_l z_l))

    B: ballots (cards) in the population, T: the test statistic of the sample so far
    (1 without one). Decimal arithmetic as Arlo. Per ballot drawn, like Arlo; rlacalc's
    ``findAsn`` divides once more by (W + L)/B, which equals 1 only without undervotes. With a
    sample so far, the number of *further* draws expected; 0 once the sample meets the risk
    limit.
    """
    b = _bravo_setting(risk_limit, winner_votes, loser_votes, ballots, winner_sampled,
                       loser_sampled)
    with localcontext(_ARLO_DECIMAL):
        if b.log_t >= -b.alpha.ln():
            return 0
        s_w = b.p_w / (b.p_w + b.p_l)
        z_w = (2 * s_w).ln()
        # A loser with no votes contributes nothing per draw (0 · ln 0 → 0).
        growth = b.p_w * z_w + (b.p_l * (2 - 2 * s_w).ln() if b.p_l else 0)
        weighted = (1 / b.alpha).ln() - b.log_t
        asn = ((weighted + z_w / 2) / growth).quantize(Decimal(1), rounding=ROUND_CEILING)
        return max(int(asn), 1)


def bravo_sample_size(
    *,
    risk_limit: float,
    winner_votes: int,
    loser_votes: int,
    ballots: int,
    quantile: float,
    winner_sampled: int = 0,
    loser_sampled: int = 0,
) -> int:
    """The sample size that completes a BRAVO audit in one round with probability ``quantile``
    if the reported outcome is right (Mark Lindeman's method; Arlo ``bravo.bravo_sample_sizes``).

    On the two-candidate share p2 = p_w/(p_w + p_l), plus = ln(2 p2), minus = ln(2 - 2 p2),
    threshold = ln(1/α) - (w plus + l minus): solve the normal approximation
    n p2 + z sqrt(n p2 (1 - p2)) = (threshold - n minus)/(plus - minus), z = -Φ⁻¹(quantile)
    (the larger root if quantile > 1/2), floor it, then step n up until the binomial
    (1 - quantile)-quantile x of Bin(n, p2) gives x plus + (n - x) minus > threshold; finally
    n / (p_w + p_l), rounded up, to count ballots with other votes. Φ⁻¹ is
    ``statistics.NormalDist().inv_cdf`` (scipy's ``norm.ppf`` in Arlo); the binomial quantile is
    the smallest x with P(X <= x) >= 1 - quantile. With a sample so far (w, l), the size of the
    next round, i.e. further draws; 0 if the sample already suffices. A size that would
    exceed the ballots is capped at the ballots (a full hand count): stepping towards it
    could take hours for a margin of a few votes among millions.
    """
    q = _quantile(quantile)
    b = _bravo_setting(risk_limit, winner_votes, loser_votes, ballots, winner_sampled,
                       loser_sampled)
    w = _count("winner sampled", winner_sampled)
    ell = _count("loser sampled", loser_sampled)
    population = _count("ballots", ballots)
    with localcontext(_ARLO_DECIMAL):
        p_wr = b.p_w + b.p_l
        p_w2 = b.p_w / p_wr
        plus = (p_w2 / Decimal("0.5")).ln()
        if b.p_l == 0:
            # Every valid vote sampled is the winner's: the size is deterministic.
            threshold = (1 / b.alpha).ln() - w * plus
            if threshold <= 0:
                return 0
            size = math.floor(threshold / plus) + 1
            return int((Decimal(size) / p_wr).quantize(Decimal(1), rounding=ROUND_CEILING))
        p_r2 = 1 - p_w2
        minus = (p_r2 / Decimal("0.5")).ln()
        threshold = (1 / b.alpha).ln() - (w * plus + ell * minus)
        if threshold <= 0:
            return 0
        z = -NormalDist().inv_cdf(q)
        d = p_w2 * p_r2
        f = threshold / (plus - minus)
        g = minus / (plus - minus) + p_w2
        q_a = g**2
        q_b = -(Decimal(z) ** 2 * d + 2 * f * g)
        q_c = f**2
        radical = Decimal(0).max(q_b**2 - 4 * q_a * q_c).sqrt()
        root = (-q_b + radical) if q > 0.5 else (-q_b - radical)
        size = max(math.floor(root / (2 * q_a)), 0)
        p_float = float(p_w2)

        def in_ballots(draws: int) -> int:
            return int((Decimal(draws) / p_wr).quantize(Decimal(1), rounding=ROUND_CEILING))

        while in_ballots(size) <= population:
            x_c = Decimal(_binomial_quantile(1.0 - q, size, p_float))
            if x_c * plus + (size - x_c) * minus > threshold:
                return in_ballots(size)
            size += 1
        # More draws than the population holds (a margin of a few votes among millions
        # would otherwise take hours to step through): every card, a full hand count.
        return population


def bravo_completion_probability(
    *,
    risk_limit: float,
    winner_votes: int,
    loser_votes: int,
    ballots: int,
    sample_size: int,
    winner_sampled: int = 0,
    loser_sampled: int = 0,
) -> float:
    """The chance that ``sample_size`` more ballots complete a BRAVO audit if the reported
    outcome is right (Arlo ``bravo.expected_prob``, the normal approximation above solved for
    z: n = size (p_w + p_l), R = (threshold - n minus)/(plus - minus),
    z = (R - n p2)/sqrt(n p2 (1 - p2)), probability Φ(-z)). Arlo rounds it to 2 places for
    display; this returns it unrounded.
    """
    n_more = _count("sample size", sample_size)
    if n_more == 0:
        raise UsageError("sample size must be positive")
    b = _bravo_setting(risk_limit, winner_votes, loser_votes, ballots, winner_sampled,
                       loser_sampled)
    w = _count("winner sampled", winner_sampled)
    ell = _count("loser sampled", loser_sampled)
    if b.p_l == 0:
        raise UsageError("the completion probability needs a loser with votes")
    with localcontext(_ARLO_DECIMAL):
        p_wr = b.p_w + b.p_l
        p_w2 = b.p_w / p_wr
        p_r2 = 1 - p_w2
        plus = (p_w2 / Decimal("0.5")).ln()
        minus = (p_r2 / Decimal("0.5")).ln()
        threshold = (1 / b.alpha).ln() - (w * plus + ell * minus)
        if threshold <= 0:
            return 1.0
        n = n_more * p_wr
        r_x = (threshold - minus * n) / (plus - minus)
        z = (r_x - n * p_w2) / (n * p_w2 * p_r2).sqrt()
    return NormalDist().cdf(float(-z))


def _binomial_quantile(q: float, n: int, p: float) -> int:
    """Smallest x with P(Bin(n, p) <= x) >= q (scipy's ``binom.ppf``), 0 < q < 1, 0 < p < 1."""
    if n == 0:
        return 0
    log_p, log_1p = math.log(p), math.log1p(-p)
    log_n_fact = math.lgamma(n + 1)
    # Below 40 standard deviations under the mean the mass is < 1e-300: start there, so the
    # sum costs O(sqrt(n)) terms rather than O(n).
    start = max(0, math.floor(n * p - 40 * math.sqrt(n * p * (1 - p)) - 1))
    cumulative = 0.0
    for x in range(start, n + 1):
        log_pmf = log_n_fact - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * log_p + (
            n - x
        ) * log_1p
        cumulative += math.exp(log_pmf)
        if cumulative >= q:
            return x
    return n


# --- tests of a bounded mean (SHANGRLA NonnegMean) ----------------------------------------------


@dataclass(slots=True)
class DrawsSoFar:
    """What a predictable estimator may know before draw j: the draws 1..j-1."""

    count: int = 0  # j - 1
    total: float = 0.0  # S_j, the sum of draws 1..j-1
    mean: float = 0.0
    m2: float = 0.0  # Welford's sum of squared deviations

    def push(self, x: float) -> None:
        self.count += 1
        self.total += x
        previous = self.mean
        self.mean += (x - previous) / self.count
        self.m2 += (x - previous) * (x - self.mean)


class EtaEstimator(Protocol):
    """Chooses ALPHA's η_j from the draws before j only (predictable: ALPHA eq. (9))."""

    def next_eta(
        self, seen: DrawsSoFar, null_mean_now: float, *, upper_bound: float,
        population: int | None, null_mean: float,
    ) -> float:
        """η_j for draw j = seen.count + 1; ``null_mean_now`` is μ_j."""
        ...


@dataclass(frozen=True, slots=True)
class FixedEta:
    """A fixed alternative mean η for the whole population (ALPHA section 2.5.1; SHANGRLA
    ``fixed_alternative_mean``): without replacement η_j = (N η - S_j)/(N - j + 1), the mean of
    what is left if the population mean were η (clamped to [0, u] once the draws make that
    impossible); with replacement η_j = η. For polling, η is typically the reported assorter
    mean; for comparison audits, near the upper bound.
    """

    eta: float

    def __post_init__(self) -> None:
        _real("eta", self.eta)

    def next_eta(
        self, seen: DrawsSoFar, null_mean_now: float, *, upper_bound: float,
        population: int | None, null_mean: float,
    ) -> float:
        del null_mean_now, null_mean
        if not 0 < self.eta <= upper_bound:
            raise UsageError(f"a fixed eta must be in (0, u] = (0, {upper_bound}], got {self.eta}")
        if population is None:
            return self.eta
        adjusted = (population * self.eta - seen.total) / (population - seen.count)
        # Once the draws contradict the alternative (what is left would need a mean outside
        # [0, u]), bet at the nearest end; SHANGRLA warns and uses the impossible value.
        return min(max(adjusted, 0.0), upper_bound)


@dataclass(frozen=True, slots=True)
class ShrinkTrunc:
    """SHANGRLA's "shrink-trunc" estimator (ALPHA section 2.5.2, eq. (15))::

        η_j = min(u(1 - ε) - c/sqrt(d + j - 1),
                  max(((d η + S_j)/(d + j - 1) + f u/sd_j) / (1 + f/sd_j),
                      μ_j (1 + ε) + c/sqrt(d + j - 1)))

    The running mean is shrunk toward the prior ``eta`` with weight ``d``, then toward u with
    weight f/sd_j (sd_1 = sd_2 = 1, later max(population sd of draws 1..j-1, ``minsd``)), and
    kept strictly between μ_j and u. ε is the double-precision epsilon. ``eta=None`` means
    SHANGRLA's fallback u(1 - ε); ``c=None`` means (η - t)/2 - ε, halved back to (u - c)/2 if
    u - c < t + c (as SHANGRLA).
    """

    eta: float | None = None
    d: float = 100.0
    f: float = 0.0
    c: float | None = None
    minsd: float = 1e-6

    def __post_init__(self) -> None:
        if self.eta is not None:
            _real("eta", self.eta)
        # d = 0 would divide by zero at the first draw (SHANGRLA would get NaN there).
        if _real("d", self.d) <= 0 or _real("f", self.f) < 0 or _real("minsd", self.minsd) <= 0:
            raise UsageError("shrink-trunc needs d > 0, f >= 0 and minsd > 0")
        if self.c is not None and _real("c", self.c) < 0:
            raise UsageError(f"shrink-trunc needs c >= 0, got {self.c}")

    def next_eta(
        self, seen: DrawsSoFar, null_mean_now: float, *, upper_bound: float,
        population: int | None, null_mean: float,
    ) -> float:
        del population
        u, t = upper_bound, null_mean
        prior = u * (1 - _EPS) if self.eta is None else self.eta
        c = (prior - t) / 2 - _EPS if self.c is None else self.c
        if u - c < t + c:
            c = (u - c) / 2
        j = seen.count + 1
        # SHANGRLA sets sd_1 = sd_2 = 1; later, the population sd of the draws so far.
        sd = 1.0 if j <= 2 else max(math.sqrt(seen.m2 / seen.count), self.minsd)
        weighted = ((self.d * prior + seen.total) / (self.d + j - 1) + u * self.f / sd) / (
            1 + self.f / sd
        )
        tol = c / math.sqrt(self.d + j - 1)
        lower, upper = null_mean_now * (1 + _EPS) + tol, u * (1 - _EPS) - tol
        if lower > upper:
            # SHANGRLA would bet with an η outside (μ_j, u) here; refuse the tuning instead.
            raise UsageError(
                f"shrink-trunc bounds cross at draw {j}: c/sqrt(d + j - 1) = {tol:.4g} leaves "
                f"nothing between μ_j = {null_mean_now:.4g} and u = {u:.4g}; use a larger d "
                "or a smaller c"
            )
        return min(upper, max(weighted, lower))


@dataclass(frozen=True, slots=True)
class OptimalComparison:
    """The η that maximizes the expected log growth for a comparison audit whose overstatement
    assorter takes its no-error value except for two-vote overstatements at rate
    ``error_rate_2`` (SHANGRLA ``optimal_comparison``)::

        η = (1 - u (1 - p2)) / (2 - 2u) + u (1 - p2) - 1/2

    with u the overstatement assorter's bound 2/(2 - v/u_A) (> 1). Constant in j.
    """

    error_rate_2: float = 1e-5

    def __post_init__(self) -> None:
        _rate("error rate 2", self.error_rate_2)

    def next_eta(
        self, seen: DrawsSoFar, null_mean_now: float, *, upper_bound: float,
        population: int | None, null_mean: float,
    ) -> float:
        del seen, null_mean_now, population, null_mean
        u, p2 = upper_bound, self.error_rate_2
        if u <= 1:
            raise UsageError("the optimal comparison bet needs an overstatement bound above 1")
        return (1 - u * (1 - p2)) / (2 - 2 * u) + u * (1 - p2) - 1 / 2


@dataclass(frozen=True, slots=True)
class SequentialTest:
    """A test's outcome on a sequence of draws: ``p_history[j-1]`` = min(1, 1/T_j), and the
    sequential p-value ``p_value`` = min over the history (valid for draws in random order)."""

    p_value: float
    p_history: tuple[float, ...]


class MeanTest(Protocol):
    """A sequential test of H0: population mean <= t, from draws in random order."""

    def iter_p(self, values: Iterable[float]) -> Iterator[float]:
        """min(1, 1/T_j) after each draw j."""
        ...


def _run(test: MeanTest, values: Iterable[float]) -> SequentialTest:
    history = tuple(test.iter_p(values))
    return SequentialTest(p_value=min(history, default=1.0), p_history=history)


def _population(value: int | None) -> int | None:
    if value is None:
        return None
    n = _count("population", value)
    if n == 0:
        raise UsageError("population must be positive")
    return n


@dataclass(frozen=True, slots=True)
class AlphaMart:
    """The ALPHA supermartingale test (Stark 2023, eqs. (5)-(9); SHANGRLA ``alpha_mart``).

    For draws x_j in [0, u] (u = ``upper_bound``) and null mean t (``null_mean``, 1/2 for an
    assertion)::

        μ_j = (N t - S_j)/(N - j + 1)   (without replacement; t with replacement, N = None)
        T_j = Π_{i<=j} (x_i η_i/μ_i + (u - x_i)(u - η_i)/(u - μ_i)) / u

    with η_i from ``estimator`` (it sees x_1..x_{i-1} only). ``population`` N = None means
    sampling with replacement. Edge cases, where the null is decided by what was drawn:
    μ_j < 0 (the draws already exceed N t) sets T = ∞ from j on; μ_j > u (the rest could not
    reach t) sets T = 0 from j on; μ_j within 2ε of 0 (SHANGRLA's ``isclose``) sets T = ∞ if
    x_j > 0 (the null said the rest were all 0) and otherwise leaves T_j at T_{j-1}, as does μ_j
    within a relative 1e-6 of u; a final sum above N t makes T_last = ∞. SHANGRLA overrides
    those entries (ignoring a draw at μ_j ≈ 0) but keeps multiplying the raw terms; the two
    agree except at and after such a degenerate draw.
    """

    upper_bound: float
    estimator: EtaEstimator
    population: int | None = None
    null_mean: float = 0.5

    def __post_init__(self) -> None:
        u = _real("upper bound", self.upper_bound)
        t = _real("null mean", self.null_mean)
        if not 0 < t < u:
            raise UsageError(f"need 0 < null mean < upper bound, got t={t}, u={u}")
        _population(self.population)

    def iter_p(self, values: Iterable[float]) -> Iterator[float]:
        u, t, n_pop = self.upper_bound, self.null_mean, self.population
        seen = DrawsSoFar()
        log_t = 0.0  # ln T_j; ±inf for the absorbing states
        for x in _checked_values(values, u):
            j = seen.count + 1
            if n_pop is not None and j > n_pop:
                raise UsageError(f"more draws than the population ({n_pop})")
            mu = t if n_pop is None else (n_pop * t - seen.total) / (n_pop - j + 1)
            eta = self.estimator.next_eta(
                seen, mu, upper_bound=u, population=n_pop, null_mean=t
            )
            if not math.isinf(log_t):
                if mu < 0:
                    log_t = math.inf
                elif mu > u:
                    log_t = -math.inf
                elif math.isclose(mu, 0, abs_tol=2 * _EPS):
                    if x > 0:  # under the null the rest would all be 0: this draw refutes it
                        log_t = math.inf
                elif not math.isclose(mu, u, rel_tol=1e-6, abs_tol=2 * _EPS):
                    if not 0 < eta <= u:
                        raise UsageError(f"eta must be in (0, u], got {eta} at draw {j}")
                    term = (x * eta / mu + (u - x) * (u - eta) / (u - mu)) / u
                    log_t = log_t + math.log(term) if term > 0 else -math.inf
            seen.push(x)
            if n_pop is not None and j == n_pop and seen.total > n_pop * t:
                log_t = math.inf
            yield _p_from_log(log_t)

    def test(self, values: Iterable[float]) -> SequentialTest:
        """p-value and history for ``values`` (in draw order)."""
        return _run(self, values)


def _p_from_log(log_t: float) -> float:
    return 1.0 if log_t <= 0 else math.exp(-log_t)


def _checked_values(values: Iterable[float], upper_bound: float | None) -> Iterator[float]:
    for index, value in enumerate(values, start=1):
        x = _real(f"value {index}", value)
        if x < 0 or (upper_bound is not None and x > upper_bound * (1 + 1e-12)):
            bound = "∞" if upper_bound is None else repr(upper_bound)
            raise UsageError(f"value {index} is {x}, outside [0, {bound}]")
        yield x


@dataclass(frozen=True, slots=True)
class KaplanMarkovMean:
    """SHANGRLA's Kaplan–Markov test of a nonnegative mean (Stark 2009, "Risk-limiting
    post-election audits: P-values from common probability inequalities"; SHANGRLA
    ``NonnegMean.kaplan_markov``), sampling with replacement::

        p_j = Π_{i<=j} (t + g)/(x_i + g)

    ``g`` > 0 keeps a zero from ending the test. Not the super-simple formula above, which
    works from discrepancy counts; this one takes overstatement assorter values.
    """

    g: float = 0.1
    null_mean: float = 0.5

    def __post_init__(self) -> None:
        if _real("g", self.g) < 0:
            raise UsageError(f"g must not be negative, got {self.g}")
        if _real("null mean", self.null_mean) <= 0:
            raise UsageError("null mean must be positive")

    def iter_p(self, values: Iterable[float]) -> Iterator[float]:
        log_p = 0.0
        for x in _checked_values(values, None):
            if x + self.g == 0:
                log_p = math.inf
            elif not math.isinf(log_p):
                log_p += math.log((self.null_mean + self.g) / (x + self.g))
            yield min(1.0, math.exp(log_p)) if log_p < 0 else 1.0

    def test(self, values: Iterable[float]) -> SequentialTest:
        """p-value and history for ``values`` (in draw order)."""
        return _run(self, values)


@dataclass(frozen=True, slots=True)
class KaplanKolmogorov:
    """SHANGRLA's Kaplan–Kolmogorov test (``NonnegMean.kaplan_kolmogorov``), sampling without
    replacement from N values::

        T_j = Π_{i<=j} (x_i + g) / μ'_i,   μ'_i = (N (t + g) - S'_i)/(N - i + 1)

    with S'_i the sum of (x + g) over the draws before i; μ'_i < 0 makes T infinite.
    """

    population: int
    g: float = 0.1
    null_mean: float = 0.5

    def __post_init__(self) -> None:
        _population(self.population)
        if _real("g", self.g) < 0:
            raise UsageError(f"g must not be negative, got {self.g}")
        if _real("null mean", self.null_mean) <= 0:
            raise UsageError("null mean must be positive")

    def iter_p(self, values: Iterable[float]) -> Iterator[float]:
        n_pop, g, t = self.population, self.g, self.null_mean
        shifted_total = 0.0
        log_t = 0.0
        for j, x in enumerate(_checked_values(values, None), start=1):
            if j > n_pop:
                raise UsageError(f"more draws than the population ({n_pop})")
            mu = (n_pop * (t + g) - shifted_total) / (n_pop - j + 1)
            if mu < 0:
                log_t = math.inf
            elif not math.isinf(log_t):
                log_t = log_t + math.log((x + g) / mu) if x + g > 0 else -math.inf
            shifted_total += x + g
            yield _p_from_log(log_t)

    def test(self, values: Iterable[float]) -> SequentialTest:
        """p-value and history for ``values`` (in draw order)."""
        return _run(self, values)


def deterministic_sample_size(
    test: MeanTest, pilot: Sequence[float], *, risk_limit: float, population: int
) -> int:
    """SHANGRLA's deterministic sample-size estimate (``NonnegMean.sample_size`` with
    ``reps=None``): repeat ``pilot`` to a list of ``population`` values, run ``test`` on it in
    that order, and return the first j with p_j <= risk limit (``population`` if none)."""
    alpha = _risk_limit(risk_limit)
    n_pop = _count("population", population)
    if n_pop == 0:
        raise UsageError("population must be positive")
    if not pilot:
        raise UsageError("the pilot values are empty")

    def tiled() -> Iterator[float]:
        for j in range(n_pop):
            yield pilot[j % len(pilot)]

    for j, p in enumerate(test.iter_p(tiled()), start=1):
        if p <= alpha:
            return j
    return n_pop


def comparison_pilot_values(
    *,
    assorter_margin: float,
    population: int,
    rate_1: float = 0.0,
    rate_2: float = 0.0,
    assorter_upper_bound: float = 1.0,
) -> list[float]:
    """Overstatement assorter values for a deterministic comparison sample size (SHANGRLA
    ``Assertion.find_sample_size`` without data): every value is the no-error value
    1/(2 - v/u); a one-vote overstatement value (1/2)/(2 - v/u) at positions 0, k1, 2 k1, ...
    with k1 = int(1/rate_1); then 0 (a two-vote overstatement) at positions 0, k2, ... with
    k2 = int(1/rate_2). v: assorter margin, u: the assorter's upper bound."""
    v = _real("assorter margin", assorter_margin)
    u = _real("assorter upper bound", assorter_upper_bound)
    if not 0 < v <= u:
        raise UsageError(f"assorter margin must be in (0, {u}], got {v}")
    n_pop = _count("population", population)
    r1 = _rate("rate 1", rate_1)
    r2 = _rate("rate 2", rate_2)
    big = 1 / (2 - v / u)
    small = (1 - 0.5 / u) / (2 - v / u)
    values = [big] * n_pop
    if r1:
        for i in range(0, n_pop, int(1 / r1)):
            values[i] = small
    if r2:
        for i in range(0, n_pop, int(1 / r2)):
            values[i] = 0.0
    return values


def polling_pilot_values(
    *, winner_votes: int, loser_votes: int, population: int, upper_bound: float = 1.0
) -> list[float]:
    """Assorter values for a deterministic polling sample size (SHANGRLA
    ``Assertion.interleave_values(n_loser, n_other, n_winner, big=u)``): L zeros (loser), W
    values u (winner) and N - W - L halves, interleaved so each kind is spread evenly, starting
    with a zero. At each step the kind with the largest remaining fraction comes next, ties
    going to the winner's u, then to the half."""
    w, ell = _bravo_votes(winner_votes, loser_votes)
    n_pop = _count("population", population)
    if w + ell > n_pop:
        raise UsageError(f"winner and loser votes ({w} + {ell}) exceed the population ({n_pop})")
    u = _real("upper bound", upper_bound)
    n_small, n_med, n_big = ell, n_pop - w - ell, w
    out: list[float] = []
    if n_pop == 0:
        return out
    used = {"small": 0, "med": 0, "big": 0}
    left = {"small": 1.0 if n_small else 0.0, "med": 1.0 if n_med else 0.0, "big": 1.0}
    sizes = {"small": n_small, "med": n_med, "big": n_big}
    value = {"small": 0.0, "med": 0.5, "big": u}

    def take(kind: str) -> None:
        out.append(value[kind])
        used[kind] += 1
        left[kind] = (sizes[kind] - used[kind]) / sizes[kind]

    take("small" if n_small else "med" if n_med else "big")
    for _ in range(1, n_pop):
        # SHANGRLA's order of comparisons, kept verbatim: it decides ties.
        if left["small"] > left["big"]:
            take("med" if left["med"] > left["small"] else "small")
        elif left["med"] > left["big"]:
            take("med")
        else:
            take("big")
    return out
