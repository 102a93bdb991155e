"""Data shipped with ``e2e``: the demo's manifest (``demo_manifest.json``).

Read it with ``e2e.manifest.demo_manifest()``; this package only makes the files
reachable through ``importlib.resources``.
"""
