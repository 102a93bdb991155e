"""``paperchain receipt check``: a voter checks a receipt against the ledger and witnesses."""

from __future__ import annotations

import json
from pathlib import Path

import click

from e2e.encoding import canonical_json
from e2e.errors import EncodingError, PaperchainError, UsageError
from e2e.keystore import atomic_write
from e2e.ledger.client import read_setup
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.monitor import Party
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.receipts import check_receipt
from e2e.setup import Role
from paper.ids import TRACKING_CODE_BYTES, parse_tracking_code
from paper.payload import ReceiptStatus, decode_receipt
from paperchain.commands.common import console, stderr
from paperchain.wiring import open_ledger

__all__ = ["receipt"]


def _hex(text: str, what: str, length: int | None = None) -> bytes:
    cleaned = "".join(text.split()).lower()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise EncodingError("must be hexadecimal", what) from None
    if length is not None and len(raw) != length:
        raise EncodingError(f"must be {length} bytes ({2 * length} hex digits)", what)
    return raw


def _tracking_code(text: str) -> bytes:
    """The code as printed on the receipt (Crockford groups, check symbol last: 53
    symbols) or as 64 hex digits; the two lengths never meet."""
    compact = "".join(text.replace("-", " ").split())
    if len(compact) == 2 * TRACKING_CODE_BYTES:
        return _hex(compact, "--tracking-code", TRACKING_CODE_BYTES)
    return parse_tracking_code(compact, "--tracking-code")


@click.group()
def receipt() -> None:
    """Check a ballot receipt: is the ballot on the ledger as the receipt says?"""


@receipt.command("check")
@click.option("--tracking-code", help="The full tracking code as printed on the receipt "
                                      "(groups of four, check symbol last) or 64 hex digits.")
@click.option("--qr-payload", help="The receipt's QR contents, hex (as a scanner reads them): "
                                   "the tracking code, CAST/CHALLENGED and the signed promise.")
@click.option("--ledger", "ledger_spec", required=True,
              help="The ledger operator's service URL (or its directory).")
@click.option("--witness", "witness_urls", multiple=True,
              help="A witness's URL (repeat): heads and proofs are taken from the witnesses, "
                   "so the answer does not rest on the operator's word.")
@click.option("--test-group", is_flag=True, help="Accept an election on the test group.")
@click.option("--proof-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the proof if the ledger broke its promise.")
def check(tracking_code: str | None, qr_payload: str | None, ledger_spec: str,
          witness_urls: tuple[str, ...], test_group: bool, proof_out: Path | None) -> None:
    """Say whether the ballot is on the ledger, as CAST or CHALLENGED, with an inclusion
    proof against a head that enough witnesses cosigned.

    \b
    Exits 0 when the ballot is there as the receipt says, 1 otherwise: not there (yet),
    recorded differently, or — with the receipt's QR, whose promise the operator signed —
    provably dropped (the proof goes to --proof-out).
    """
    if (tracking_code is None) == (qr_payload is None):
        raise UsageError("give exactly one of --tracking-code and --qr-payload")
    operator, _ = open_ledger(ledger_spec)
    promise: InclusionPromise | None = None
    expected: str | None = None
    if qr_payload is not None:
        setup = read_setup(operator, allow_test_group=test_group)
        devices = [w.key for w in setup.writers_with_role(Role.DEVICE)]
        raw = _hex(qr_payload, "--qr-payload")
        try:
            decoded = decode_receipt(raw, election_id=setup.election_id, device_keys=devices,
                                     operator_key=setup.operator_key)
        except PaperchainError as err:  # name the option: "--qr-payload byte 27: truncated…"
            raise err.at("--qr-payload") from None
        code, promise = decoded.tracking_code, decoded.promise
        expected = "cast" if decoded.status == ReceiptStatus.CAST else "challenged"
    else:
        code = _tracking_code(tracking_code or "")
    witnesses = [Party(url, HttpLedger(url)) for url in witness_urls]
    result = check_receipt(code, operator=operator, witnesses=witnesses, promise=promise,
                           allow_test_group=test_group)
    document = result.to_json()
    document["receipt_status"] = expected
    console.print_json(json.dumps(document))
    if result.proof is not None and proof_out is not None:
        atomic_write(proof_out, canonical_json(result.proof.to_json()))
        stderr.print(f"Proof written to {proof_out}")
    for note in result.notes:
        stderr.print(f"note: {note}", highlight=False)
    good = result.found and (expected is None or expected == result.status)
    if result.found and not good:
        stderr.print(f"[bold red]MISMATCH[/]: the receipt says {expected.upper()}, the ledger "
                     f"has the ballot as {result.status.upper()}", highlight=False)
    else:
        colour = "green" if good else "red"
        stderr.print(f"[bold {colour}]{result.describe()}[/]", highlight=False)
    if not good:
        raise SystemExit(1)
