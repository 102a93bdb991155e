"""``paperchain bench``: the core's speed on this machine, in under a minute.

Encrypts and verifies 10-contest ballots on the standard 4096-bit group and prints the
cost per selection in milliseconds and in units of one ``powmod`` measured in the same
run (``paperchain.benchcore``). The full benchmarks (whole records, tally, Dask,
ElectionGuard) are ``make bench``.
"""

from __future__ import annotations

import json

import click

from paperchain.benchcore import measure_core

__all__ = ["bench"]


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object on stdout")
@click.option("--ballots", default=48, show_default=True, type=click.IntRange(4, 512),
              help="ballots verified in one batch")
def bench(as_json: bool, ballots: int) -> None:
    """Measure encryption and verification per selection on the standard group."""
    click.echo("measuring (standard group, about half a minute) ...", err=True)
    figures = measure_core(ballots=ballots, rounds=2, windows=(12,))
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(f"1 powmod (4096-bit p, 256-bit exponent): {figures['powmod_ms']:.3f} ms")
    for key, label in (("encrypt", "encryption"), ("encrypt_online", "encryption online"),
                       ("verify", "verification (batch)"),
                       ("verify_single", "verification (one ballot)"),
                       ("verify_simple", "verification (simple path)")):
        click.echo(f"{label:28} {figures[f'{key}_ms_per_selection']:8.3f} ms/selection "
                   f"= {figures[f'{key}_units_per_selection']:6.3f} powmod")
