"""The ballot-polling audit of the demo's tampered paper, over seeds.

``paperchain.audit_simulation`` with a ``PollingRiskFunction`` reruns the polling audit
(the library's polling population, assertions against the reported tally, sampler,
readings, BRAVO or ALPHA risk and round decisions) on the demo's voters with ``--tamper
paper``: the flipped outcome must be confirmed in at most the risk limit's share of runs.
"""

from __future__ import annotations

import pytest

from paperchain.audit_simulation import simulate_tampered_audits
from tally.audit import PollingRiskFunction

RUNS = 40


@pytest.mark.slow
@pytest.mark.parametrize("function", [PollingRiskFunction("bravo"),
                                      PollingRiskFunction("alpha", "reported")],
                         ids=["bravo", "alpha-reported"])
def test_tampered_paper_is_confirmed_by_polling_at_most_at_the_risk_limit(
        function: PollingRiskFunction) -> None:
    result = simulate_tampered_audits(1000, 2021, RUNS, risk_function=function)
    assert result.contest == "mayor"
    assert result.cards_changed > 0
    # 5% of 40 is 2; three binomial standard deviations keep the check off the seed.
    assert result.confirmed <= 2 + 3 * (RUNS * 0.05 * 0.95) ** 0.5
    assert result.escalated + result.confirmed == RUNS
    assert max(result.rounds) > 1  # audits that went on to more rounds before escalating
