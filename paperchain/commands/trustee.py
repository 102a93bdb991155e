"""``paperchain trustee …``: a trustee's commands, each run on the trustee's own machine."""

from __future__ import annotations

from pathlib import Path

import click

from e2e.trustee import TrusteeWorkspace
from paperchain.commands.common import (
    RichReporter,
    console,
    passphrase_option,
    read_passphrase,
    stderr,
)
from paperchain.wiring import open_ledger
from tally.workflow import decrypt_as_trustee

__all__ = ["trustee"]

DIR_OPTION = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                          required=True, help="This trustee's own directory.")
LEDGER_OPTION = click.option(
    "--ledger", "ledger_dir", required=True,
    help="The ledger: its directory, or the URL of its service (http://HOST:PORT).")


@click.group()
def trustee() -> None:
    """Hold a share of the election key: the key ceremony and decryption.

    Your secrets (signing key, polynomial, received shares, key share) stay in your
    directory, encrypted under your passphrase. Everything you publish goes on the
    ledger, where anyone can check it.
    """


@trustee.command("init")
@DIR_OPTION
@click.option("--election-id", required=True, help="The manifest's election_id.")
@click.option("--index", type=click.IntRange(1, 64), required=True,
              help="Your trustee index, 1..n, as the official assigned.")
@click.option("--name", required=True, help="Your name as published in the setup.")
@passphrase_option
def init(directory: Path, election_id: str, index: int, name: str,
         passphrase_file: Path | None) -> None:
    """Create your keys; give DIR/trustee.json (public) to the official."""
    workspace = TrusteeWorkspace.create(
        directory, election_id=election_id, index=index, name=name,
        passphrase=read_passphrase(passphrase_file, f"trustee {index}", confirm=True))
    stderr.print(f"Trustee {index} created; hand {directory / 'trustee.json'} to the official")
    console.print(workspace.card.signing_key.to_hex())


@trustee.command("ceremony")
@DIR_OPTION
@LEDGER_OPTION
@passphrase_option
def ceremony(directory: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Take every key-ceremony step that is due now (run it again until it closes).

    \b
    Steps: publish commitments with proofs; send each trustee its encrypted share;
    check the shares you received (complain about a bad one); answer complaints
    about you; confirm the joint key. After the close, the polynomial and the
    received shares are erased; only your key share remains.
    """
    client, config = open_ledger(ledger_dir)
    workspace = TrusteeWorkspace.open(directory, read_passphrase(passphrase_file, "the trustee"))
    done = workspace.advance(client, allow_test_group=config.test_group)
    for line in done or ["Nothing to do now: waiting for other trustees or the official"]:
        stderr.print(line)


@trustee.command("decrypt")
@DIR_OPTION
@LEDGER_OPTION
@passphrase_option
def decrypt(directory: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Verify the whole ledger, then publish your share of the tally's decryption.

    Your software recomputes the encrypted tally from the ledger itself and refuses
    to decrypt anything else.
    """
    client, config = open_ledger(ledger_dir)
    workspace = TrusteeWorkspace.open(directory, read_passphrase(passphrase_file, "the trustee"))
    with RichReporter().progress("Verifying before decrypting", client.size()) as advance:
        result = decrypt_as_trustee(workspace, client, allow_test_group=config.test_group,
                                    progress=lambda _: advance(1))
    stderr.print(f"Decryption share published at ledger index {result.index}")
