"""``paperchain vote …``: a voting device's library, driven from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from e2e.ballot import mark_ballot
from e2e.context import load_context
from e2e.encoding import canonical_json, parse_json_object
from e2e.errors import EncodingError
from e2e.identity import WriterIdentity
from e2e.keystore import atomic_write
from e2e.setup import Role
from e2e.voting import VotingDevice
from paper.ids import BallotId
from paperchain.commands.common import console, passphrase_option, read_passphrase, stderr
from paperchain.wiring import NO_CVRS_HELP, device_cvrs, open_ledger

__all__ = ["vote"]

DEVICE_OPTION = click.option(
    "--device", "device_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True, help="The device's directory (see `paperchain vote device-init`).")
LEDGER_OPTION = click.option(
    "--ledger", "ledger_dir", required=True,
    help="The ledger: its directory, or the URL of its service (http://HOST:PORT).")
SESSION_OPTION = click.option("--session", default="election-day", show_default=True,
                              help="The device's session name (fixed for its whole chain).")


NO_CVRS_OPTION = click.option("--no-cvrs", is_flag=True, help=NO_CVRS_HELP)


def _device(device_dir: Path, ledger_dir: str, session: str, passphrase_file: Path | None,
            no_cvrs: bool | None = None) -> VotingDevice:
    client, config = open_ledger(ledger_dir)
    identity = WriterIdentity.open(device_dir, read_passphrase(passphrase_file, "the device"))
    context = load_context(client, config.test_group)
    # The device's CVRs until it publishes them: one file, always sorted by ballot ID
    # (none at all for a device run without CVRs).
    cvrs = device_cvrs(device_dir, context.group, no_cvrs)
    return VotingDevice(context, client, identity.key, identity.card.writer_id, session, cvrs)


def _choices(path: Path) -> dict[str, list[str]]:
    raw = parse_json_object(path.read_bytes(), str(path), max_bytes=1 << 16)
    for contest, chosen in raw.items():
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise EncodingError("expected a list of selection IDs", f"{path}: {contest}")
    return raw


@click.group()
def vote() -> None:
    """Mark, encrypt and cast (or challenge) ballots as a voting device does.

    The kiosk pages use the same library; these commands exist for testing and for
    observers who want to drive a device by hand.
    """


@vote.command("device-init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="New directory for the device's signing key.")
@click.option("--election-id", required=True, help="The manifest's election_id.")
@click.option("--device-id", required=True, help="The device's name on the ledger.")
@click.option("--location", default="", help="Polling place, as published in the setup.")
@passphrase_option
def device_init(directory: Path, election_id: str, device_id: str, location: str,
                passphrase_file: Path | None) -> None:
    """Create a device's signing key; the official registers DIR in the setup."""
    identity = WriterIdentity.create(directory, election_id=election_id, writer_id=device_id,
                                     role=Role.DEVICE, location=location,
                                     passphrase=read_passphrase(passphrase_file, device_id, True))
    console.print(identity.card.key.to_hex())


@vote.command("cast")
@DEVICE_OPTION
@LEDGER_OPTION
@SESSION_OPTION
@click.option("--style", required=True, help="The ballot style the voter was given.")
@click.option("--choices", "choices_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True,
              help='JSON object: contest ID -> list of chosen selection IDs, e.g. '
                   '{"mayor": ["alice"]}. A contest left out is an undervote.')
@click.option("--challenge", is_flag=True,
              help="Challenge (spoil) this ballot instead of casting it: its opening is "
                   "published so anyone can check the encryption.")
@click.option("--card-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the simulated paper card (ballot ID, style, choices) to this JSON "
                   "file. The ID is fresh from the CSPRNG and never printed with the receipt.")
@NO_CVRS_OPTION
@passphrase_option
def cast(device_dir: Path, ledger_dir: str, session: str, style: str, choices_path: Path,
         challenge: bool, card_out: Path | None, no_cvrs: bool,
         passphrase_file: Path | None) -> None:
    """Encrypt one ballot, then cast it (or challenge it); print the receipt as JSON.

    Casting also keeps the ballot's encrypted CVR in DIR/cvrs.json for a comparison audit,
    unless the device runs with --no-cvrs (ballot-polling audit; no CVR anywhere).
    """
    device = _device(device_dir, ledger_dir, session, passphrase_file, no_cvrs)
    choices = _choices(choices_path)
    marked = mark_ballot(device.context.manifest, style, choices)
    pending = device.encrypt(marked)
    code = pending.ballot.tracking_code.hex()
    card = BallotId.generate()  # the card's ID: random, derived from nothing else
    if challenge:
        result = device.challenge(card.value)
        status = "CHALLENGED"
    else:
        result = device.cast(card.value)
        status = "CAST"
    if card_out is not None:
        atomic_write(card_out, canonical_json({
            "version": 1, "ballot_id": str(card), "style_id": style,
            "spoiled": challenge, "choices": {c: sorted(v) for c, v in choices.items()}}))
    stderr.print(f"{status}: tracking code {code[:16]}… at ledger index {result.index}")
    console.print_json(json.dumps({"status": status, "tracking_code": code,
                                   "promise": result.promise.to_json()}))


@vote.command("publish-cvrs")
@DEVICE_OPTION
@LEDGER_OPTION
@SESSION_OPTION
@passphrase_option
def publish_cvrs(device_dir: Path, ledger_dir: str, session: str,
                 passphrase_file: Path | None) -> None:
    """After the results: publish the device's encrypted CVRs (sorted by ballot ID) and
    their commitment, for the trustees' equality proof and the audit. Refused for a device
    run with --no-cvrs (it has none)."""
    device = _device(device_dir, ledger_dir, session, passphrase_file)
    results = device.publish_cvrs()
    stderr.print(f"Published {len(device.cvrs)} CVR(s) in {len(results) - 1} entr"
                 f"{'y' if len(results) == 2 else 'ies'} and their commitment at ledger "
                 f"index {results[-1].index}")


@vote.command("close")
@DEVICE_OPTION
@LEDGER_OPTION
@SESSION_OPTION
@passphrase_option
def close(device_dir: Path, ledger_dir: str, session: str, passphrase_file: Path | None) -> None:
    """Close the device's chain: its ballot count and last tracking code, signed (a device
    run with --no-cvrs then publishes nothing more)."""
    device = _device(device_dir, ledger_dir, session, passphrase_file, None)
    result = device.close()
    stderr.print(f"Device chain closed at ledger index {result.index}")
