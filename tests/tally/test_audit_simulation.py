"""The demo's tampered paper against the audit's own decision procedure, over seeds.

``paperchain.audit_simulation`` reruns the demo's audit (the library's populations,
assertions, sampler, discrepancies, p-values and round decisions; no cryptography) on the
demo's voters with ``--tamper paper``: the flipped outcome must be confirmed in at most
the risk limit's share of runs (an RLA's guarantee). The figure for 1000 runs is in the
module's docstring command; here a few seeds keep the test fast.
"""

from __future__ import annotations

from paperchain.audit_simulation import simulate_tampered_audits


def test_tampered_demo_paper_is_confirmed_at_most_at_the_risk_limit() -> None:
    result = simulate_tampered_audits(120, 2021, 40)
    assert result.contest == "mayor"
    assert result.cards_changed > 0
    # 5% of 40 is 2; three binomial standard deviations keep the check off the seed.
    assert result.confirmed <= 2 + 3 * (40 * 0.05 * 0.95) ** 0.5
    assert result.escalated + result.confirmed == 40
