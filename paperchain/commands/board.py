"""``paperchain board serve``: the public site (receipt checker and bulletin board)."""

from __future__ import annotations

import click

from e2e.errors import EncodingError, UsageError
from paperchain.commands.common import stderr
from paperchain.web.common import serve as serve_app
from paperchain.web.public_app import create_public_app, open_public_site

__all__ = ["board"]


@click.group()
def board() -> None:
    """The public site: the receipt checker and the bulletin board."""


@board.command("serve")
@click.option("--election", "election_id", required=True,
              help="The election ID the site serves (the ledger must hold this election).")
@click.option("--ledger", "ledger_url", required=True,
              help="The ledger operator's URL (http://HOST:PORT).")
@click.option("--witness", "witness_urls", multiple=True, required=True,
              help="A witness's URL (repeat): the receipt checker takes heads and proofs "
                   "from the witnesses, in the visitor's browser.")
@click.option("--setup-hash", help="The setup entry's leaf hash (64 hex digits) published by "
              "the election office: the site refuses a ledger whose setup differs.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8090, show_default=True, help="Port to listen on.")
@click.option("--test-group", is_flag=True, help="Accept an election on the test group.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Verify the record in the background and show the result on the board.")
def serve(election_id: str, ledger_url: str, witness_urls: tuple[str, ...],
          setup_hash: str | None, host: str, port: int, test_group: bool, verify: bool) -> None:
    """Serve the public pages on HOST:PORT. Nothing a visitor checks reaches this server:
    the checker verifies in the browser, against the witnesses; there is no access log."""
    pin = None
    if setup_hash is not None:
        try:
            pin = bytes.fromhex(setup_hash)
        except ValueError:
            raise EncodingError("--setup-hash must be hexadecimal", "--setup-hash") from None
    site = open_public_site(ledger_url, witness_urls, allow_test_group=test_group,
                            verify=verify, setup_hash=pin)
    if site.election_id != election_id:
        raise UsageError(f"the ledger holds election {site.election_id!r}, not "
                         f"{election_id!r}", "--election")
    stderr.print(f"Public site for {election_id} on http://{host}:{port}/ (setup hash "
                 f"{site.setup_leaf_hash.hex()})")
    serve_app(create_public_app(site), host, port)
