"""``tally``: aggregation, decryption, results, CVRs and the risk-limiting audit.

Import from the modules themselves (``tally.risk``, ``tally.assorters``, ``tally.sampler``, ...);
the package re-exports nothing.
"""

__all__: list[str] = []
