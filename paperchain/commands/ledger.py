"""``paperchain ledger …``: the ledger operator's commands."""

from __future__ import annotations

from pathlib import Path

import click

from e2e.ledger.directory import init_ledger_directory
from e2e.record import export_record
from e2e.setup import ElectionSetup
from paperchain.commands.common import console, stderr
from paperchain.wiring import open_local_ledger

__all__ = ["ledger"]


@click.group()
def ledger() -> None:
    """Run the public ledger: create it, export the election record from it.

    The ledger is an append-only log of signed, typed entries, chained and committed
    in an RFC 9162 Merkle tree. Every other role writes to it with --ledger DIR.
    """


@ledger.command("init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="New directory for the store and the operator's key.")
@click.option("--election-id", required=True, help="The manifest's election_id.")
@click.option("--test-group", is_flag=True, help="Accept an election on the test group.")
@click.option("--store", "store_url", default="sqlite:ledger.sqlite", show_default=True,
              help="Where entries live: sqlite:FILE (relative to DIR) or a postgresql:// URL.")
def init(directory: Path, election_id: str, test_group: bool, store_url: str) -> None:
    """Create a ledger for one election and print the operator's public key.

    The official registers that key in the election setup; heads and inclusion
    promises are signed with it.
    """
    config = init_ledger_directory(directory, election_id=election_id, test_group=test_group,
                                   store_url=store_url)
    stderr.print(f"Ledger for {election_id!r} created in {directory}")
    console.print(config.operator_key.to_hex())


@ledger.command("export")
@click.option("--ledger", "ledger_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The ledger directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="New directory for the public election record.")
def export(ledger_dir: Path, out: Path) -> None:
    """Write the public election record (every entry, its Merkle root, the manifest)."""
    client, config = open_local_ledger(ledger_dir)
    setup_entry = next(client.entries(0), None)
    if setup_entry is None:
        raise click.ClickException("the ledger is empty")
    setup = ElectionSetup.from_payload(setup_entry[1].payload, config.test_group)
    summary = export_record(client.envelopes(0), setup.manifest.source_bytes,
                            config.election_id, out)
    stderr.print(f"Record of {summary.entries} entries written to {out}")
    console.print(summary.root.hex())
