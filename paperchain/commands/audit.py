"""``paperchain audit``: the auditor's commands (risk-limiting audits).

Thin, as every command group: options are parsed here, the arithmetic lives in `tally.risk`,
the sampling in `tally.sampler`, the manifest format in `tally.batch_manifest`. Data goes to
stdout (``--json`` for programs, a table for people); errors are `PaperchainError`s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from e2e.errors import UsageError
from paperchain.commands.audit_flow import register_flow_commands
from tally.batch_manifest import read_batch_manifest_csv
from tally.risk import (
    DEFAULT_GAMMA,
    DiscrepancyCounts,
    bravo_asn,
    bravo_p_value,
    bravo_sample_size,
    kaplan_markov_p_value,
    kaplan_markov_sample_size,
)
from tally.sampler import AuditSeed, draw_sample

__all__ = ["audit"]

KAPLAN_MARKOV = "kaplan-markov"
BRAVO = "bravo"


@click.group("audit")
def audit() -> None:
    """Risk-limiting audits: check the reported winners against the paper.

    A risk-limiting audit (RLA) looks at randomly chosen paper cards until the sample
    gives strong evidence that a full hand count would find the same winners. The risk
    limit (say 0.05) bounds the chance that the audit confirms a wrong outcome; if the
    evidence never becomes that strong, the audit ends in a full hand count, which then
    replaces the reported result.

    \b
    Two ways to measure the evidence (the p-value, or "risk"):
      kaplan-markov  ballot-level comparison: each sampled card is compared with its
                     cast-vote record; the risk follows from the diluted margin, the
                     number of cards drawn and the discrepancies found (o1/o2: one- and
                     two-vote overstatements of the winner's margin, u1/u2: understatements).
                     Stark 2010, "Super-simple simultaneous single-ballot RLAs".
      bravo          ballot polling: only the paper is read; the risk follows from the
                     reported votes of a winner and a loser and how many sampled cards show
                     each. Lindeman, Stark, Yates 2012, "BRAVO".
    The audit stops when the risk is at most the risk limit for every winner-loser pair.

    \b
    The sample comes from a public seed of at least 20 decimal digits, rolled with dice
    after the paper has been counted into a batch manifest, through Rivest's SHA-256
    consistent sampler: anyone can recompute it (Arlo and the consistent-sampler package
    draw the same cards). Later rounds continue the same sequence of draws.

    \b
    Examples:
      paperchain audit calc sample-size --method kaplan-markov --risk-limit 0.05 \\
          --diluted-margin 0.02
      paperchain audit calc pvalue --method bravo --winner-votes 2894 \\
          --loser-votes 1695 --winner-sampled 45 --loser-sampled 32
      paperchain audit sample --seed 31415926535897932384 --manifest manifest.csv \\
          --size 20 --json

    \b
    An election's comparison audit, in ledger order (each step verifies the ledger
    first, and writes nothing if it refuses):
      vote publish-cvrs (each kiosk) → audit cvr-equality-share (trustees)
      → audit cvr-equality (official) → audit reconcile (official, amendable until
      the seed) → audit parameters → audit seed (once) → per round: audit round,
      audit retrieval-list, audit read (two board members), audit sign-off,
      audit decrypt (trustees), audit combine, audit risk → audit end
      → audit hand-count (official, if it escalated). Anyone: audit verify RECORD.
    """


# --- calc ----------------------------------------------------------------------------------------


@audit.group("calc")
def calc() -> None:
    """Audit arithmetic without an election: p-values and sample sizes.

    Risk limits and margins are fractions (0.05, not 5). Give only the options that the
    chosen --method uses; anything else is refused rather than ignored.
    """


def _calc_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--method",
            type=click.Choice([KAPLAN_MARKOV, BRAVO]),
            required=True,
            help="kaplan-markov: super-simple comparison audit; bravo: ballot polling.",
        ),
        click.option(
            "--risk-limit",
            type=float,
            help="Largest chance of confirming a wrong outcome, a fraction in (0, 1).",
        ),
        click.option(
            "--diluted-margin",
            type=float,
            help="kaplan-markov: (winner votes - loser votes) / cards, in (0, 1].",
        ),
        click.option(
            "--gamma",
            type=float,
            help=f"kaplan-markov: error inflation factor > 1 [default: {DEFAULT_GAMMA}].",
        ),
        click.option("--n", "n", type=int, help="kaplan-markov: cards drawn so far."),
        *(
            click.option(f"--{kind}", type=int, help=f"kaplan-markov: {what} [default: 0].")
            for kind, what in (
                ("o1", "one-vote overstatements"),
                ("o2", "two-vote overstatements"),
                ("u1", "one-vote understatements"),
                ("u2", "two-vote understatements"),
            )
        ),
        click.option("--winner-votes", type=int, help="bravo: the winner's reported votes."),
        click.option("--loser-votes", type=int, help="bravo: the loser's reported votes."),
        click.option(
            "--winner-sampled", type=int, help="bravo: sampled cards showing a vote for the winner."
        ),
        click.option(
            "--loser-sampled", type=int, help="bravo: sampled cards showing a vote for the loser."
        ),
        click.option("--ballots", type=int, help="bravo: cards in the contest's population."),
        click.option(
            "--quantile",
            type=float,
            help="bravo: chance in (0, 1) that one round suffices; without it, the average "
            "sample number.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print one JSON object instead of a table."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Per (verb, method): options that must be given, and options that may be.
_REQUIRED: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("pvalue", KAPLAN_MARKOV): ("diluted_margin", "n"),
    ("pvalue", BRAVO): ("winner_votes", "loser_votes", "winner_sampled", "loser_sampled"),
    ("sample-size", KAPLAN_MARKOV): ("risk_limit", "diluted_margin"),
    ("sample-size", BRAVO): ("risk_limit", "winner_votes", "loser_votes", "ballots"),
}
_OPTIONAL: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("pvalue", KAPLAN_MARKOV): ("gamma", "o1", "o2", "u1", "u2"),
    ("pvalue", BRAVO): (),
    ("sample-size", KAPLAN_MARKOV): ("gamma", "o1", "o2", "u1", "u2"),
    ("sample-size", BRAVO): ("quantile", "winner_sampled", "loser_sampled"),
}
_NOT_OPTIONS = ("method", "as_json")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_options(verb: str, method: str, given: Mapping[str, object]) -> None:
    required, optional = _REQUIRED[(verb, method)], _OPTIONAL[(verb, method)]
    for name, value in given.items():
        if name in _NOT_OPTIONS or value is None:
            continue
        if name not in required and name not in optional:
            raise UsageError(f"{_flag(name)} does not apply to {verb} --method {method}")
    missing = [_flag(name) for name in required if given.get(name) is None]
    if missing:
        raise UsageError(f"{verb} --method {method} needs {', '.join(missing)}")


def _counts(options: Mapping[str, Any]) -> DiscrepancyCounts:
    return DiscrepancyCounts(
        **{key: options[key] if options[key] is not None else 0 for key in ("o1", "o2", "u1", "u2")}
    )


def _gamma(options: Mapping[str, Any]) -> float:
    return DEFAULT_GAMMA if options["gamma"] is None else options["gamma"]


def _show(key: str, value: float | int, title: str, options: Mapping[str, Any]) -> None:
    if options["as_json"]:
        click.echo(json.dumps({key: value}))
        return
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, given in options.items():
        if name not in _NOT_OPTIONS and given is not None:
            table.add_row(_flag(name)[2:], str(given))
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    table.add_row(f"[bold]{key.replace('_', ' ')}[/bold]", f"[bold]{shown}[/bold]")
    Console().print(table)


@calc.command("pvalue")
@_calc_options
def calc_pvalue(**options: Any) -> None:
    """The risk (p-value) an audit has reached so far.

    \b
    kaplan-markov: --diluted-margin M --n N [--gamma G] [--o1 --o2 --u1 --u2]
      P = (1 - M/(2G))^N (1 - 1/(2G))^-o1 (1 - 1/G)^-o2 (1 + 1/(2G))^-u1 (1 + 1/G)^-u2,
      capped at 1 (rlacalc KM_P_value, Arlo supersimple.compute_risk).
    bravo: --winner-votes W --loser-votes L --winner-sampled w --loser-sampled l
      P = min(1, 1/T), T = (2s)^w (2 - 2s)^l, s = W/(W + L) (rlacalc, Arlo).
    """
    method = options["method"]
    _check_options("pvalue", method, options)
    if method == KAPLAN_MARKOV:
        p = kaplan_markov_p_value(
            diluted_margin=options["diluted_margin"],
            sample_size=options["n"],
            discrepancies=_counts(options),
            gamma=_gamma(options),
        )
        options["gamma"] = _gamma(options)  # shown in the table
        title = "Kaplan–Markov (super-simple) p-value"
    else:
        p = bravo_p_value(
            winner_votes=options["winner_votes"],
            loser_votes=options["loser_votes"],
            winner_sampled=options["winner_sampled"],
            loser_sampled=options["loser_sampled"],
        )
        title = "BRAVO p-value"
    _show("p_value", p, title, options)


@calc.command("sample-size")
@_calc_options
def calc_sample_size(**options: Any) -> None:
    """How many cards to draw.

    \b
    kaplan-markov: --risk-limit A --diluted-margin M [--gamma G] [--o1 --o2 --u1 --u2]
      the smallest n whose p-value reaches A if the sample shows those discrepancies:
      max(o1+o2+u1+u2, ceil(-2G (ln A + o1 ln(1-1/(2G)) + o2 ln(1-1/G)
                                 + u1 ln(1+1/(2G)) + u2 ln(1+1/G)) / M))  (rlacalc nmin).
    bravo: --risk-limit A --winner-votes W --loser-votes L --ballots B [--quantile Q]
      without --quantile the average sample number (Arlo, BRAVO section 9.2); with it,
      the size that finishes in one round with chance Q if the outcome is right
      (Lindeman's method, as Arlo). --winner-sampled/--loser-sampled count a sample so far.
    """
    method = options["method"]
    _check_options("sample-size", method, options)
    if method == KAPLAN_MARKOV:
        size = kaplan_markov_sample_size(
            risk_limit=options["risk_limit"],
            diluted_margin=options["diluted_margin"],
            discrepancies=_counts(options),
            gamma=_gamma(options),
        )
        options["gamma"] = _gamma(options)  # shown in the table
        title = "Kaplan–Markov (super-simple) sample size"
    else:
        common = {
            "risk_limit": options["risk_limit"],
            "winner_votes": options["winner_votes"],
            "loser_votes": options["loser_votes"],
            "ballots": options["ballots"],
            "winner_sampled": options["winner_sampled"] or 0,
            "loser_sampled": options["loser_sampled"] or 0,
        }
        if options["quantile"] is None:
            size = bravo_asn(**common)
            title = "BRAVO average sample number"
        else:
            size = bravo_sample_size(quantile=options["quantile"], **common)
            title = f"BRAVO sample size (one round suffices with chance {options['quantile']})"
    _show("sample_size", size, title, options)


# --- sample --------------------------------------------------------------------------------------


@audit.command("sample")
@click.option(
    "--seed",
    "seeds",
    required=True,
    multiple=True,  # so that a second --seed is refused rather than silently preferred
    help="The public random seed: at least 20 decimal digits, rolled in public (once).",
)
@click.option(
    "--manifest",
    "manifest_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Batch manifest CSV: 'Batch Name,Number of Ballots[,Container]'.",
)
@click.option("--size", required=True, type=int, help="How many cards to draw.")
@click.option(
    "--with-replacement",
    is_flag=True,
    help="Sample with replacement (a card can be drawn again), as Kaplan–Markov assumes.",
)
@click.option(
    "--already-drawn",
    type=int,
    default=0,
    show_default=True,
    help="Draws made in earlier rounds: print the next --size draws of the same sequence.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list instead of a table."
)
def sample(
    seeds: tuple[str, ...],
    manifest_path: Path,
    size: int,
    with_replacement: bool,
    already_drawn: int,
    as_json: bool,
) -> None:
    """Draw the audit sample from a batch manifest, in draw order.

    Each card is (batch name, position from 1); its ticket number is Rivest's SHA-256
    consistent sampler's (as Arlo: 18 digits), and cards are drawn in increasing ticket
    number. With --json: a list of {"ticket_number", "batch", "position"}.
    """
    if len(seeds) != 1:
        raise click.BadParameter(f"one seed, not {len(seeds)}: an audit has exactly one",
                                 param_hint="'--seed'")
    audit_seed = AuditSeed(seeds[0])
    manifest = read_batch_manifest_csv(manifest_path)
    tickets = draw_sample(
        audit_seed,
        manifest.counts(),
        size,
        with_replacement=with_replacement,
        already_drawn=already_drawn,
    )
    if as_json:
        rows = [
            {"ticket_number": t.ticket_number, "batch": t.batch, "position": t.position}
            for t in tickets
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    containers = {batch.name: batch.container or "" for batch in manifest.batches}
    with_containers = any(containers.values())
    table = Table(title=f"Sample: draws {already_drawn + 1}..{already_drawn + len(tickets)}")
    table.add_column("draw", justify="right")
    table.add_column("ticket number")
    table.add_column("batch")
    table.add_column("position", justify="right")
    if with_containers:
        table.add_column("container")
    if with_replacement:
        table.add_column("times drawn", justify="right")
    for index, ticket in enumerate(tickets, start=already_drawn + 1):
        row = [str(index), ticket.ticket_number, ticket.batch, str(ticket.position)]
        if with_containers:
            row.append(escape(containers[ticket.batch]))
        if with_replacement:
            row.append(str(ticket.generation))
        table.add_row(*row)
    Console().print(table)


# The election's audit, step by step (paperchain.commands.audit_flow).
register_flow_commands(audit)
