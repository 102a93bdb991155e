"""``paperchain tally`` and ``paperchain decrypt``: from the closed polls to the results."""

from __future__ import annotations

from pathlib import Path

import click

from e2e.context import load_context
from e2e.identity import WriterIdentity
from e2e.ledger.client import Writer
from paperchain.commands.common import (
    RichReporter,
    console,
    passphrase_option,
    read_passphrase,
    stderr,
)
from paperchain.commands.render import results_tables
from paperchain.wiring import open_ledger
from tally.workflow import publish_results, publish_tally

__all__ = ["decrypt", "tally"]

OFFICIAL_OPTION = click.option(
    "--official", "official_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True, help="The official's directory.")
LEDGER_OPTION = click.option(
    "--ledger", "ledger_dir", required=True,
    help="The ledger: its directory, or the URL of its service (http://HOST:PORT).")


@click.command()
@OFFICIAL_OPTION
@LEDGER_OPTION
@passphrase_option
def tally(official_dir: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Publish the encrypted tally: the product of exactly the valid cast ballots.

    Verifies the whole ledger first; refuses if anything fails or the polls are open.
    """
    client, config = open_ledger(ledger_dir)
    identity = WriterIdentity.open(official_dir, read_passphrase(passphrase_file, "the official"))
    writer = Writer(client, identity.key, identity.card.writer_id)
    with RichReporter().progress("Verifying and tallying", client.size()) as advance:
        result = publish_tally(client, writer, allow_test_group=config.test_group,
                               progress=lambda _: advance(1))
    stderr.print(f"Encrypted tally published at ledger index {result.index}")


@click.command()
@OFFICIAL_OPTION
@LEDGER_OPTION
@passphrase_option
def decrypt(official_dir: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Combine the trustees' verified shares (at least k) into the results, and show them."""
    client, config = open_ledger(ledger_dir)
    identity = WriterIdentity.open(official_dir, read_passphrase(passphrase_file, "the official"))
    writer = Writer(client, identity.key, identity.card.writer_id)
    with RichReporter().progress("Verifying and combining", client.size()) as advance:
        result, results, per_contest = publish_results(
            client, writer, allow_test_group=config.test_group, progress=lambda _: advance(1))
    stderr.print(f"Results published at ledger index {result.index} from trustees "
                 f"{list(results.trustees)}")
    manifest = load_context(client, config.test_group).manifest
    for table in results_tables(manifest, results, per_contest):
        console.print(table)
