"""``paperchain``: one entry point, a subcommand group per role.

The CLI only parses and calls (STYLE.md): each group lives in ``paperchain.commands``
and calls library functions; data goes to stdout, messages to stderr. A
``PaperchainError`` from any command is printed as ``error: <where>: <reason>`` and
exits with status 2 — never a traceback for bad input.
"""

from __future__ import annotations

import importlib
import sys

import click
import httpx

from e2e.errors import PaperchainError

__all__ = ["main"]

# (module, attribute) of each subcommand group, loaded when the CLI starts.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("paperchain.commands.bench", "bench"),
    ("paperchain.commands.ledger", "ledger"),
    ("paperchain.commands.election", "election"),
    ("paperchain.commands.trustee", "trustee"),
    ("paperchain.commands.vote", "vote"),
    ("paperchain.commands.counting", "tally"),
    ("paperchain.commands.counting", "decrypt"),
    ("paperchain.commands.demo", "demo"),
    ("paperchain.commands.verify", "verify"),
    ("paperchain.commands.receipt", "receipt"),
    ("paperchain.commands.audit", "audit"),
    ("paperchain.commands.paper", "print_group"),
    ("paperchain.commands.paper", "scan"),
    ("paperchain.commands.kiosk", "kiosk"),
    ("paperchain.commands.board", "board"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="paperchain")
@click.option("--scheduler", metavar="ADDRESS",
              help="Check ballots in chunks on the workers of this Dask distributed "
                   "scheduler (e.g. tcp://10.0.0.5:8786) instead of a local process pool: "
                   "verification, tally and decryption. Those workers become part of what "
                   "you trust: use only workers you run yourself.")
def cli(scheduler: str | None) -> None:
    """Paperchain: end-to-end verifiable elections with a voter-verified paper trail.

    \b
    Roles and their commands:
      ledger     the ledger operator and witnesses: create, serve, witness, check, export
      election   officials: setup, key ceremony close, opening and closing the polls
      trustee    guardians: key ceremony and decryption shares
      vote       a voting device's library, from the command line
      tally      homomorphic tally of the cast ballots
      decrypt    combine trustees' shares into verified results
      verify     anyone: check a whole election record
      receipt    voters: check a receipt against the ledger and its witnesses
      audit      auditors: risk-limiting audit calculations and sampling
      print      officials: cover sheets, forms, retrieval lists, reports, remakes
      scan       officials: read cards back into the ID-level manifest
      kiosk      the voting kiosk's pages: activation, print before cast, challenge
      board      the public site: receipt checker and bulletin board
      demo       run a whole election end to end on this machine

    Every command explains itself with --help.
    """
    if scheduler is not None:
        from e2e.parallel import use_scheduler
        use_scheduler(scheduler)


def _register() -> None:
    for module_name, attribute in _GROUPS:
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attribute))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    try:
        result = cli.main(args=argv, prog_name="paperchain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except PaperchainError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:  # a file the user named cannot be read or written
        click.echo(f"error: {err.filename or ''}: {err.strerror}", err=True)
        sys.exit(2)
    except httpx.InvalidURL as err:  # a service URL the user gave (a bad port, an open [)
        click.echo(f"error: not a valid URL: {err}", err=True)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
