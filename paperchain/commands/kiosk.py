"""``paperchain kiosk serve``: the voting kiosk's pages, on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from e2e.context import load_context
from e2e.errors import UsageError
from e2e.identity import WriterIdentity
from e2e.voting import VotingDevice
from paper.kiosk import Kiosk, KioskSettings
from paper.printing import printer_from_options
from paperchain.commands.common import passphrase_option, read_passphrase, stderr
from paperchain.web.common import serve as serve_app
from paperchain.web.kiosk_app import create_kiosk_app, directory_scanner
from paperchain.wiring import NO_CVRS_HELP, device_cvrs, open_ledger

__all__ = ["kiosk"]


@click.group()
def kiosk() -> None:
    """The voting kiosk: one voter at a time, print before cast, the Benaloh challenge."""


@kiosk.command("serve")
@click.option("--election", "election_id", required=True,
              help="The election ID this kiosk serves (the ledger must hold this election).")
@click.option("--device", "device_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The device's directory (its signing key).")
@click.option("--ledger", "ledger_spec", required=True,
              help="The ledger operator's URL (http://HOST:PORT) or directory.")
@click.option("--session", default="election-day", show_default=True,
              help="The device's session name (fixed for its whole chain).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the kiosk's own screen: keep it local).")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option("--printer", "printer_command",
              help="Command printing a ballot record PDF from its standard input "
                   "(e.g. 'lp -d kiosk-1 -').")
@click.option("--spool", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of --printer: the printer's spool directory (a hot folder).")
@click.option("--receipt-printer", "receipt_command",
              help="Command printing a receipt PDF (default: the ballot record's printer).")
@click.option("--receipt-spool", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of --receipt-printer: the receipt printer's spool directory.")
@click.option("--scanner-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the kiosk's scanner leaves a scan (PDF or image) for the audio "
                   "read-back; each scan is deleted once read.")
@click.option("--poll-worker-secret-file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True,
              help="File holding the poll workers' secret (guards activation codes).")
@click.option("--check-url", required=True,
              help="Where voters check receipts (printed on every receipt).")
@click.option("--complaint-contact", required=True,
              help="Who takes complaints (printed on every receipt).")
@click.option("--complaint-deadline", required=True,
              help="Until when complaints are taken (printed on every receipt).")
@click.option("--idle-timeout", default=600.0, show_default=True,
              help="Seconds of inactivity after which a voter's session ends (warned up to a "
                   "minute before); a printed ballot not yet cast is then challenged, "
                   "never cast.")
@click.option("--test-group", is_flag=True, help="Accept an election on the test group "
              "(its paper is stamped TEST).")
@click.option("--no-cvrs", is_flag=True, help=NO_CVRS_HELP)
@passphrase_option
def serve(election_id: str, device_dir: Path, ledger_spec: str, session: str, host: str,
          port: int, printer_command: str | None, spool: Path | None,
          receipt_command: str | None, receipt_spool: Path | None, scanner_dir: Path | None,
          poll_worker_secret_file: Path, check_url: str, complaint_contact: str,
          complaint_deadline: str, idle_timeout: float, test_group: bool, no_cvrs: bool,
          passphrase_file: Path | None) -> None:
    """Serve the kiosk's pages on HOST:PORT (the kiosk's browser shows them full screen).

    Nothing about a voter is written to disk or logged: PDFs go straight to the
    printer, sessions live in memory, and there is no access log. Each cast ballot's
    encrypted CVR is kept in DIR/cvrs.json for a comparison audit, unless --no-cvrs.
    """
    client, config = open_ledger(ledger_spec)
    if config.election_id != election_id:
        raise UsageError(f"the ledger holds election {config.election_id!r}, not "
                         f"{election_id!r}", "--election")
    identity = WriterIdentity.open(device_dir, read_passphrase(passphrase_file, "the device"))
    context = load_context(client, test_group)
    cvrs = device_cvrs(device_dir, context.group, no_cvrs)
    device = VotingDevice(context, client, identity.key, identity.card.writer_id, session, cvrs)
    printer = printer_from_options(printer_command, spool)
    receipt_printer = (printer if receipt_command is None and receipt_spool is None
                       else printer_from_options(receipt_command, receipt_spool))
    settings = KioskSettings(check_url=check_url, complaint_contact=complaint_contact,
                             complaint_deadline=complaint_deadline,
                             test_mode=not context.group.is_standard(),
                             idle_timeout=idle_timeout, warning=min(60.0, idle_timeout / 2))
    scanner = directory_scanner(scanner_dir) if scanner_dir is not None else None
    the_kiosk = Kiosk(device, identity.key, printer, receipt_printer, settings, scanner=scanner)
    secret = poll_worker_secret_file.read_bytes().strip()
    app = create_kiosk_app(the_kiosk, poll_worker_secret=secret)
    stderr.print(f"Kiosk {identity.card.writer_id} for {election_id} on http://{host}:{port}/ "
                 f"(poll workers: /pollworker)")
    serve_app(app, host, port)
