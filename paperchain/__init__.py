"""The application layer: the ``paperchain`` command line and the end-to-end demo.

It wires ``e2e``, ``tally`` and ``paper`` together; the logic lives in those packages.
"""

__all__: list[str] = []
