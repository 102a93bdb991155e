"""``paperchain election …``: an election official's commands."""

from __future__ import annotations

from pathlib import Path

import click

from e2e.group import STANDARD, TEST_GROUP
from e2e.identity import WriterIdentity
from e2e.ledger.client import Writer
from e2e.ledger.types import EntryType
from e2e.ledger.witness import read_witness_card
from e2e.manifest import Manifest
from e2e.official import abort_ceremony, advance_ceremony, build_setup, close_voting, open_voting
from e2e.setup import Role
from e2e.trustee import TrusteeCard
from paper.capacity import check_manifest_fits
from paperchain.commands.common import console, passphrase_option, read_passphrase, stderr
from paperchain.wiring import open_ledger

__all__ = ["election"]

LEDGER_OPTION = click.option(
    "--ledger", "ledger_dir", required=True,
    help="The ledger: its directory (see `paperchain ledger init`), or the URL of its service "
         "(http://HOST:PORT).")
OFFICIAL_OPTION = click.option(
    "--official", "official_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True, help="The official's directory (see `paperchain election official-init`).")


def _official_writer(official_dir: Path, ledger_dir: str, passphrase_file: Path | None
                     ) -> tuple[Writer, bool]:
    client, config = open_ledger(ledger_dir)
    identity = WriterIdentity.open(official_dir, read_passphrase(passphrase_file, "the official"))
    return Writer(client, identity.key, identity.card.writer_id), config.test_group


@click.group()
def election() -> None:
    """Define and run an election: setup, key ceremony, opening and closing the polls.

    \b
    The order of a real election:
      1. paperchain ledger init                  the operator creates the ledger
      2. paperchain election official-init       the official's signing key
         paperchain trustee init                 each trustee, on their own machine
         paperchain vote device-init             each kiosk
      3. paperchain election setup               manifest, trustees, devices -> ledger
      4. paperchain trustee ceremony  (each, repeatedly) and
         paperchain election ceremony            closes (or aborts) the key ceremony
      5. paperchain election open / close        the polls
      6. paperchain tally; paperchain trustee decrypt (k of them); paperchain decrypt
      7. paperchain ledger export; paperchain verify RECORD
    """


@election.command("official-init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="New directory for the official's key.")
@click.option("--election-id", required=True, help="The manifest's election_id.")
@click.option("--writer-id", default="official-1", show_default=True,
              help="The official's name on the ledger.")
@passphrase_option
def official_init(directory: Path, election_id: str, writer_id: str,
                  passphrase_file: Path | None) -> None:
    """Create an official's signing key, encrypted at rest under a passphrase."""
    identity = WriterIdentity.create(directory, election_id=election_id, writer_id=writer_id,
                                     role=Role.OFFICIAL,
                                     passphrase=read_passphrase(passphrase_file, writer_id, True))
    stderr.print(f"Official {writer_id!r} created in {directory}")
    console.print(identity.card.key.to_hex())


@election.command("setup")
@OFFICIAL_OPTION
@LEDGER_OPTION
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True, help="The election manifest (JSON).")
@click.option("--threshold", type=click.IntRange(1, 64), required=True,
              help="k: how many trustees must take part to decrypt.")
@click.option("--trustee", "trustee_cards", type=click.Path(exists=True, path_type=Path),
              multiple=True, required=True,
              help="A trustee's trustee.json (or its directory); once per trustee.")
@click.option("--device", "device_dirs", type=click.Path(exists=True, path_type=Path),
              multiple=True, help="A kiosk's directory (its writer.json); once per device.")
@click.option("--witness", "witness_dirs", type=click.Path(exists=True, path_type=Path),
              multiple=True, help="A witness's directory or witness.json (see `paperchain "
                                  "ledger witness init`); once per witness.")
@click.option("--witness-threshold", type=click.IntRange(0, 64),
              help="How many witnesses must cosign a head for voters, trustees and verifiers "
                   "to accept it. Default: every witness given.")
@passphrase_option
def setup(official_dir: Path, ledger_dir: str, manifest_path: Path, threshold: int,
          trustee_cards: tuple[Path, ...], device_dirs: tuple[Path, ...],
          witness_dirs: tuple[Path, ...], witness_threshold: int | None,
          passphrase_file: Path | None) -> None:
    """Write the election setup, the ledger's first entry.

    It fixes the group, the manifest's exact bytes, the trustees and threshold, every
    device and the ledger operator's key. Nothing in it can change afterwards. A manifest
    with a ballot style that cannot print legibly on one card, in every language, is
    refused with the reason.
    """
    manifest = Manifest.load(manifest_path)
    # One card per ballot: refuse a style that cannot print legibly (e2e cannot say so).
    check_manifest_fits(manifest)
    writer, test_group = _official_writer(official_dir, ledger_dir, passphrase_file)
    cards = []
    for path in trustee_cards:
        card_path = path / "trustee.json" if path.is_dir() else path
        cards.append(TrusteeCard.from_json(card_path.read_bytes(), str(card_path)))
    devices = [WriterIdentity.read_card(path) for path in device_dirs]
    witnesses = [read_witness_card(path) for path in witness_dirs]
    _, config = open_ledger(ledger_dir)
    official = WriterIdentity.read_card(official_dir)
    election_setup = build_setup(
        manifest=manifest, group=TEST_GROUP if test_group else STANDARD, threshold=threshold,
        trustees=[c.info() for c in cards], officials=[(official.writer_id, official.key)],
        devices=[(d.writer_id, d.key, d.location) for d in devices],
        witnesses=witnesses,
        witness_threshold=len(witnesses) if witness_threshold is None else witness_threshold,
        operator_key=config.operator_key, log_origin=config.origin)
    result = writer.write(EntryType.SETUP, election_setup.to_payload())
    stderr.print(f"Setup written at ledger index {result.index}: {len(cards)} trustees, "
                 f"threshold {threshold}, {len(devices)} devices, "
                 f"{election_setup.witness_threshold}-of-{len(witnesses)} witnesses")
    console.print(election_setup.base_hash().hex())


@election.command("ceremony")
@OFFICIAL_OPTION
@LEDGER_OPTION
@click.option("--abort-dealer", type=int, multiple=True,
              help="Abort the current attempt, excluding this trustee (one that never "
                   "answered a complaint or took its step); the ceremony restarts without it.")
@click.option("--reason", default="did not answer in time", show_default=True,
              help="Why the dealer is excluded (published).")
@passphrase_option
def ceremony(official_dir: Path, ledger_dir: str, abort_dealer: tuple[int, ...], reason: str,
             passphrase_file: Path | None) -> None:
    """Close the key ceremony when every trustee has confirmed — or abort it.

    A dealer whose revealed share fails against its commitments is excluded
    automatically; one that stays silent is excluded with --abort-dealer.
    """
    writer, test_group = _official_writer(official_dir, ledger_dir, passphrase_file)
    if abort_dealer:
        abort_ceremony(writer.ledger, writer, list(abort_dealer), reason,
                       allow_test_group=test_group)
        stderr.print(f"Aborted; the ceremony restarts without {list(abort_dealer)}")
        return
    done = advance_ceremony(writer.ledger, writer, allow_test_group=test_group)
    stderr.print(done or "Nothing to do yet: trustees still have steps to take")


@election.command("open")
@OFFICIAL_OPTION
@LEDGER_OPTION
@passphrase_option
def open_polls(official_dir: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Open the polls: devices may write ballots from now on."""
    writer, _ = _official_writer(official_dir, ledger_dir, passphrase_file)
    stderr.print(f"Polls open (ledger index {open_voting(writer).index})")


@election.command("close")
@OFFICIAL_OPTION
@LEDGER_OPTION
@passphrase_option
def close_polls(official_dir: Path, ledger_dir: str, passphrase_file: Path | None) -> None:
    """Close the polls: no ballot is accepted afterwards; the tally may start."""
    writer, _ = _official_writer(official_dir, ledger_dir, passphrase_file)
    stderr.print(f"Polls closed (ledger index {close_voting(writer).index})")
