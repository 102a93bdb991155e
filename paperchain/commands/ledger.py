"""``paperchain ledger …``: the ledger operator's and the witnesses' commands."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
import uvicorn
from fastapi import FastAPI

from e2e.encoding import canonical_json
from e2e.errors import StateError, UsageError
from e2e.keystore import atomic_write
from e2e.ledger.client import read_setup
from e2e.ledger.directory import init_ledger_directory
from e2e.ledger.equivocation import verify_equivocation_proof
from e2e.ledger.heads import HeadPolicy
from e2e.ledger.history import cosigned_history
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.monitor import Party, check_logs
from e2e.ledger.service import (
    bind_socket,
    create_app,
    serve_in_thread,
    server_config,
    url_of,
)
from e2e.ledger.witness import EquivocationDetected, init_witness_directory, open_witness
from e2e.record import export_record
from e2e.signing import VerifyKey
from paperchain.commands.common import console, stderr
from paperchain.wiring import open_ledger, open_ledger_node

__all__ = ["ledger"]

HOST_OPTION = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Address to listen on.")
PORT_OPTION = click.option("--port", type=click.IntRange(0, 65535), default=0,
                           show_default=True, help="Port to listen on (0: any free port; the "
                                                   "URL is printed on stdout).")


@click.group()
def ledger() -> None:
    """Run the public ledger: create it, serve it, witness it, check it, export the record.

    The ledger is an append-only log of signed, typed entries, chained and committed
    in an RFC 9162 Merkle tree whose signed heads witnesses cosign. Every other role
    writes to it with --ledger DIR or --ledger URL.
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


def _serve(app: FastAPI, host: str, port: int, what: str) -> None:
    sock = bind_socket(host, port)
    url = url_of(sock)
    stderr.print(f"{what} listening on {url} (Ctrl-C to stop)")
    click.echo(url)  # data: the URL, on its own line, for scripts
    server = uvicorn.Server(server_config(app))  # no access log: lookups are not recorded
    server.run(sockets=[sock])


@ledger.command("serve")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The ledger directory.")
@HOST_OPTION
@PORT_OPTION
def serve(directory: Path, host: str, port: int) -> None:
    """Serve the ledger over HTTP: appends, heads, entries, proofs, promises, cosignatures.

    Every admission check applies to appends; each accepted entry is stored durably
    before its signed inclusion promise is returned. The OpenAPI schema is at
    /openapi.json, the interactive documentation at /docs.
    """
    node, config = open_ledger_node(directory)
    _serve(create_app(node), host, port, f"Ledger of {config.election_id!r}")


@ledger.command("export")
@click.option("--ledger", "ledger_spec", required=True,
              help="The ledger: its directory, or the URL of its service (http://HOST:PORT).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="New directory for the public election record.")
def export(ledger_spec: str, out: Path) -> None:
    """Write the public election record: every entry up to the newest head with enough
    witness cosignatures, the heads history with their cosignatures, the manifest."""
    client, config = open_ledger(ledger_spec)
    setup = read_setup(client, config.test_group)
    policy = HeadPolicy.from_setup(setup)
    final = client.cosigned_head()
    if final is None:
        raise StateError("no head has enough witness cosignatures yet: run the witnesses, "
                         "then export again")
    heads = cosigned_history(client, policy, final.size)
    summary = export_record(client.envelope_range(0, final.size), setup.manifest.source_bytes,
                            config.election_id, out,
                            heads=[head.note(policy) for head in heads])
    left_out = client.size() - final.size
    if left_out > 0:
        stderr.print(f"{left_out} entries after the last cosigned head are not in the record")
    stderr.print(f"Record of {summary.entries} entries and {len(heads)} cosigned heads written "
                 f"to {out}")
    console.print(summary.root.hex())


# --- witnesses -----------------------------------------------------------------------------


def _write_proof(proof_out: Path | None, document: bytes) -> None:
    if proof_out is not None:
        atomic_write(proof_out, document)
        stderr.print(f"Proof of equivocation written to {proof_out}")


@ledger.group("witness", invoke_without_command=True)
@click.option("--url", help="The ledger operator's service URL.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="This witness's directory (see `paperchain ledger witness init`).")
@click.option("--once", is_flag=True, help="Sync and cosign once, then exit.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=5.0, show_default=True,
              help="Seconds between syncs when running continuously.")
@click.option("--serve", "serve_copy", is_flag=True,
              help="Also serve this witness's copy (heads, entries, proofs) over HTTP.")
@HOST_OPTION
@PORT_OPTION
@click.option("--proof-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write a proof of equivocation if the operator is caught.")
@click.pass_context
def witness(ctx: click.Context, url: str | None, directory: Path | None, once: bool,
            interval: float, serve_copy: bool, host: str, port: int,
            proof_out: Path | None) -> None:
    """Keep an independent copy of the ledger, check everything, cosign its heads.

    \b
    Each sync fetches only new entries and checks every envelope, chain link, entry
    signature and admission rule, the head's signature, a consistency proof from the
    last head this witness cosigned, and the head's root against its own copy; then
    it cosigns and submits the cosignature. Without --once it syncs every --interval
    seconds until stopped. A head that contradicts one it cosigned is never cosigned:
    the witness stops with exit status 2 and, with --proof-out, writes the proof of
    equivocation for `paperchain ledger verify-proof`.
    """
    if ctx.invoked_subcommand is not None:
        return
    if url is None or directory is None:
        raise UsageError("give --url (the operator's service) and --dir (this witness)")
    node = open_witness(directory)
    source = HttpLedger(url)
    running = None
    try:
        result = node.sync(source)
        stderr.print(result.describe())
        if once:
            return
        if serve_copy:
            running = serve_in_thread(create_app(node.node()), host, port)
            stderr.print(f"Witness {node.config.witness_id!r} serving its copy on "
                         f"{running.url}")
            click.echo(running.url)
        node.run(source, interval=interval, stop=threading.Event(), report=stderr.print)
    except KeyboardInterrupt:
        return
    except EquivocationDetected as err:
        stderr.print(f"[bold red]EQUIVOCATION[/]: {err}", highlight=False)
        if err.proof is not None:
            _write_proof(proof_out, canonical_json(err.proof.to_json()))
        raise
    finally:
        if running is not None:
            running.stop()


@witness.command("init")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="New directory for the witness's key and copy.")
@click.option("--witness-id", required=True, help="The witness's name in the setup.")
@click.option("--election-id", required=True, help="The manifest's election_id.")
@click.option("--test-group", is_flag=True, help="Accept an election on the test group.")
@click.option("--store", "store_url", default="sqlite:witness.sqlite", show_default=True,
              help="Where the copy lives: sqlite:FILE (relative to DIR) or a postgresql:// URL.")
def witness_init(directory: Path, witness_id: str, election_id: str, test_group: bool,
                 store_url: str) -> None:
    """Create a witness and print its public key (the official registers it in the setup)."""
    config = init_witness_directory(directory, witness_id=witness_id, election_id=election_id,
                                    test_group=test_group, store_url=store_url)
    stderr.print(f"Witness {witness_id!r} created in {directory}; hand {directory}/witness.json "
                 "to the official")
    console.print(config.key.to_hex())


@witness.command("serve")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The witness's directory.")
@HOST_OPTION
@PORT_OPTION
def witness_serve(directory: Path, host: str, port: int) -> None:
    """Serve this witness's copy (heads it cosigned, entries, proofs) without syncing."""
    node = open_witness(directory)
    _serve(create_app(node.node()), host, port, f"Witness {node.config.witness_id!r}")


# --- monitoring ---------------------------------------------------------------------------


@ledger.command("check")
@click.option("--url", "urls", multiple=True, required=True,
              help="A ledger service to compare: the operator, and each witness (repeat).")
@click.option("--proof-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write a self-contained proof if two heads cannot both be true.")
def check(urls: tuple[str, ...], proof_out: Path | None) -> None:
    """Compare the heads the operator and the witnesses show.

    \b
    Two heads cannot both be true when they have the same size and different roots,
    when the smaller was signed at or after the larger, or when the larger one's tree
    does not extend the smaller one's. Then a self-contained proof of equivocation is
    written (--proof-out) for `paperchain ledger verify-proof`. Exits 0 when every pair
    of heads is consistent, 1 otherwise.
    """
    report = check_logs([Party(url, HttpLedger(url)) for url in urls])
    summary = {
        "heads": [{"from": h.party.name, "size": h.head.size, "root": h.head.root.hex(),
                   "time": h.head.time, "cosigners": len(h.head.cosignatures)}
                  for h in report.heads],
        "consistent_pairs": report.pairs_consistent,
        "findings": report.findings,
        "equivocations": [proof.describe() for proof in report.proofs],
    }
    console.print_json(json.dumps(summary))
    for finding in report.findings:
        stderr.print(f"[yellow]finding[/]: {finding}", highlight=False)
    for proof in report.proofs:
        stderr.print(f"[bold red]EQUIVOCATION[/] ({proof.kind}): {proof.describe()}",
                     highlight=False)
    if report.proofs:
        _write_proof(proof_out, canonical_json(report.proofs[0].to_json()))
    if not report.ok:
        raise SystemExit(1)
    stderr.print(f"[bold green]CONSISTENT[/]: {len(report.heads)} heads from {len(urls)} "
                 "services, every pair consistent")


@ledger.command("verify-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operator-key", help="Refuse a proof about any other operator key (hex).")
def verify_proof(proof_file: Path, operator_key: str | None) -> None:
    """Check a proof of equivocation offline; say what it proves (exit 0) or why not (2)."""
    key = None if operator_key is None else VerifyKey.from_hex(operator_key, "--operator-key")
    proof = verify_equivocation_proof(proof_file.read_bytes(), operator_key=key)
    console.print_json(json.dumps({"valid": True, "kind": str(proof.kind),
                                   "election_id": proof.election_id,
                                   "operator_key": proof.operator_key.to_hex(),
                                   "proves": proof.describe()}))
    stderr.print(f"[bold red]VALID PROOF[/] against operator {proof.operator_key.to_hex()[:16]}… "
                 f"of {proof.election_id!r}: {proof.describe()}", highlight=False)
