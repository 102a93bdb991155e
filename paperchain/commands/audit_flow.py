"""``paperchain audit …``: an election's audit, step by step — a comparison audit, or
a ballot-polling one against the verified tally (``audit parameters --mode polling``:
no CVR steps, nothing to decrypt).

Thin, as every command: each parses its options, opens the identities it signs with,
and calls one function of ``tally.cvr`` / ``tally.audit_workflow`` (which verify the
ledger, check that the step is due, and write nothing when they refuse). Files are
read whole by ``paperchain.audit_files`` before anything is written. Registered on the
``audit`` group by ``paperchain.commands.audit``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from e2e.errors import UsageError
from e2e.identity import WriterIdentity
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.operator import RegisterWriter
from e2e.ledger.types import EntryType
from e2e.record import RecordReader
from e2e.setup import Role, WriterInfo
from e2e.trustee import TrusteeWorkspace
from paper.ids import BallotId
from paperchain.audit_files import (
    read_hand_count,
    read_paper_manifest,
    read_places,
    read_readings,
)
from paperchain.audit_report import audit_report, write_report
from paperchain.commands.common import console, read_passphrase, stderr
from paperchain.wiring import open_ledger
from tally.audit import PollingRiskFunction, RiskFunction
from tally.audit_export import write_exports
from tally.audit_verify import verify_audit
from tally.audit_workflow import (
    AuditLedger,
    decrypt_round_as_trustee,
    end_audit,
    measure_risk,
    publish_hand_count,
    publish_parameters,
    publish_reconciliation,
    publish_round_cvrs,
    publish_seed,
    record_readings,
    retrieval_list,
    sign_off_round,
    start_round,
)
from tally.batch_manifest import read_batch_manifest_csv
from tally.cvr import decrypt_cvr_equality_as_trustee, publish_cvr_equality
from tally.cvr_plaintext import decrypt_all_cvrs_as_trustee
from tally.risk import DEFAULT_GAMMA

__all__ = ["register_flow_commands"]

LEDGER = click.option("--ledger", "ledger_spec", required=True,
                      help="The ledger: its directory, or the URL of its service.")
PASSPHRASE = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the passphrase of the signing identity (else "
         "$PAPERCHAIN_PASSPHRASE, else a prompt).")


def _ledger(spec: str) -> tuple[LedgerClient, bool]:
    client, info = open_ledger(spec)
    return client, bool(info.test_group)


def _writer(client: LedgerClient, directory: Path, passphrase_file: Path | None,
            what: str) -> Writer:
    identity = WriterIdentity.open(directory, read_passphrase(passphrase_file, what))
    return Writer(client, identity.key, identity.card.writer_id)


def _identity_option(name: str, help_text: str) -> Any:
    return click.option(f"--{name}", f"{name}_dir", required=True,
                        type=click.Path(exists=True, file_okay=False, path_type=Path),
                        help=help_text)


def _risk_function(mode: str, name: str | None, gamma: float | None, eta: str | None
                   ) -> RiskFunction | PollingRiskFunction:
    """The risk function of ``audit parameters``; a bad combination of options is refused
    before anything is opened."""
    if mode == "polling":
        if gamma is not None:
            raise UsageError("--gamma is a comparison (Kaplan–Markov) option; a polling audit "
                             "has no overstatements to inflate")
        name = name or "bravo"
        if name == "kaplan-markov":
            raise UsageError("--risk-function kaplan-markov compares paper with CVRs; in "
                             "polling mode use bravo or alpha")
        if name == "bravo" and eta is not None:
            raise UsageError("--eta is ALPHA's; BRAVO takes its alternative from the "
                             "reported tally")
        if name == "alpha" and eta is None:
            raise UsageError("--risk-function alpha in polling mode needs --eta explicit: "
                             "'reported' or a number in (1/2, 1]")
        if eta is not None and eta != "reported":
            try:
                eta = repr(float(eta))
            except ValueError:
                raise UsageError(f"--eta must be 'reported' or a number, got {eta!r}") from None
        return PollingRiskFunction(name, eta)
    if name == "bravo":
        raise UsageError("--risk-function bravo is ballot polling: add --mode polling")
    if eta is not None:
        raise UsageError("--eta sets ALPHA ballot polling's η (--mode polling); a comparison "
                         "audit's ALPHA uses the optimal comparison η")
    return RiskFunction(name or "kaplan-markov",
                        gamma=DEFAULT_GAMMA if gamma is None else gamma)


OFFICIAL = _identity_option("official", "The official's directory.")
AUDITOR = _identity_option("auditor", "The auditor's directory (a registered auditor writer).")
TRUSTEE = _identity_option("trustee", "This trustee's own directory.")


COSIGNER = click.option(
    "--cosigner", "cosigner_dir", required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The second board member's directory (a registered auditor).")
COSIGNER_PASSPHRASE = click.option(
    "--cosigner-passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help="The second member's passphrase file.")


def _cosigner(directory: Path, passphrase_file: Path | None) -> WriterIdentity:
    """The audit board's second member, who cosigns readings and sign-offs."""
    return WriterIdentity.open(directory, read_passphrase(passphrase_file,
                                                          "the second board member"))


def register_flow_commands(audit: click.Group) -> None:
    """Add the flow's commands to the ``audit`` group."""

    @audit.command("auditor-init")
    @click.option("--dir", "directory", required=True,
                  type=click.Path(file_okay=False, path_type=Path),
                  help="New directory for the auditor's (board member's) signing key.")
    @click.option("--election-id", required=True, help="The manifest's election_id.")
    @click.option("--writer-id", required=True, help="The auditor's name on the ledger.")
    @PASSPHRASE
    def auditor_init(directory: Path, election_id: str, writer_id: str,
                     passphrase_file: Path | None) -> None:
        """Create an auditor's (audit-board member's) signing key, encrypted at rest; the
        official registers it with `paperchain audit register-auditor`."""
        identity = WriterIdentity.create(
            directory, election_id=election_id, writer_id=writer_id, role=Role.AUDITOR,
            passphrase=read_passphrase(passphrase_file, writer_id, confirm=True))
        console.print(identity.card.key.to_hex())

    @audit.command("register-auditor")
    @LEDGER
    @OFFICIAL
    @click.option("--auditor", "auditor_dir", required=True,
                  type=click.Path(exists=True, file_okay=False, path_type=Path),
                  help="The auditor's directory (only its public writer.json is read).")
    @PASSPHRASE
    def register_auditor(ledger_spec: str, official_dir: Path, auditor_dir: Path,
                         passphrase_file: Path | None) -> None:
        """(Official) Register an auditor on the ledger (a register-writer entry)."""
        card = WriterIdentity.read_card(auditor_dir)
        if card.role != Role.AUDITOR:
            raise click.UsageError(f"{auditor_dir} holds a {card.role}, not an auditor")
        client, _ = _ledger(ledger_spec)
        writer = _writer(client, official_dir, passphrase_file, "the official")
        appended = writer.write(EntryType.REGISTER_WRITER, RegisterWriter(
            WriterInfo(card.writer_id, Role.AUDITOR, card.key)).to_payload())
        stderr.print(f"Auditor {card.writer_id!r} registered at ledger index {appended.index}")

    @audit.command("cvr-equality-share")
    @LEDGER
    @TRUSTEE
    @PASSPHRASE
    def cvr_equality_share(ledger_spec: str, trustee_dir: Path,
                           passphrase_file: Path | None) -> None:
        """(Trustee) After every kiosk published its CVRs: your share of each kiosk's
        CVR-minus-cast-ballots quotient, with proofs. Nothing else is decrypted."""
        client, test = _ledger(ledger_spec)
        workspace = TrusteeWorkspace.open(trustee_dir,
                                          read_passphrase(passphrase_file, "the trustee"))
        results = decrypt_cvr_equality_as_trustee(workspace, client, allow_test_group=test)
        stderr.print(f"Published {len(results)} equality share entr"
                     f"{'y' if len(results) == 1 else 'ies'}")

    @audit.command("cvr-equality")
    @LEDGER
    @OFFICIAL
    @PASSPHRASE
    def cvr_equality(ledger_spec: str, official_dir: Path, passphrase_file: Path | None) -> None:
        """(Official) Combine k trustees' shares: each kiosk's CVRs provably encrypt the
        same totals as its cast ballots. A failure is refused (nothing written)."""
        client, test = _ledger(ledger_spec)
        writer = _writer(client, official_dir, passphrase_file, "the official")
        appended, _ = publish_cvr_equality(client, writer, allow_test_group=test)
        stderr.print(f"CVR equality proven at ledger index {appended.index}")

    @audit.command("cvr-plaintext-share")
    @LEDGER
    @TRUSTEE
    @PASSPHRASE
    @click.option("--accept-ballot-ids-as-receipts", "accepted", is_flag=True,
                  help="Required: say that the election's policy is to publish every "
                       "plaintext CVR, knowing that each printed ballot ID then points to "
                       "its voter's published choices (a receipt a coercer can demand).")
    def cvr_plaintext_share(ledger_spec: str, trustee_dir: Path, passphrase_file: Path | None,
                            accepted: bool) -> None:
        """(Trustee) Only where the election publishes plaintext CVRs: decrypt every CVR,
        one ledger entry of shares with proofs per chunk of CVRs, after the CVR equality
        and before the audit's seed. Once k trustees have, every verifier reads each CVR's
        plaintext and `paperchain audit export` writes them all (NIST SP 1500-103 JSON,
        Dominion CSV for Arlo). Resumable: chunks already shared are skipped."""
        if not accepted:
            raise click.UsageError(
                "decrypting every CVR turns each printed ballot ID into a receipt of that "
                "voter's choices; pass --accept-ballot-ids-as-receipts only where the "
                "election's published policy is to publish plaintext CVRs")
        client, test = _ledger(ledger_spec)
        workspace = TrusteeWorkspace.open(trustee_dir,
                                          read_passphrase(passphrase_file, "the trustee"))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=stderr) as bar:
            verifying = bar.add_task("Verifying the ledger", total=client.size())
            decrypting = bar.add_task("Decrypting chunks of CVRs", total=None)
            results = decrypt_all_cvrs_as_trustee(
                workspace, client, accept_ids_as_receipts=True, allow_test_group=test,
                progress=lambda n: bar.advance(verifying, n),
                chunk_done=lambda done, total: bar.update(decrypting, completed=done,
                                                          total=total))
        stderr.print(f"Published {len(results)} plaintext share entr"
                     f"{'y' if len(results) == 1 else 'ies'}")

    @audit.command("reconcile")
    @LEDGER
    @OFFICIAL
    @click.option("--manifest", "manifest_path", required=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="The ID-level manifest CSV from scanning (paperchain scan).")
    @click.option("--batches", "batches_path",
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Optional batch sheet: Arlo-style CSV 'Batch Name,Number of Ballots,"
                       "Container' with each cover sheet's count and container.")
    @click.option("--inputs", "inputs_path", required=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help='JSON: {"version": 1, "places": [{"polling_place", "check_ins", '
                       '"spoiled_envelope", "explanation"}], "note": ""}.')
    @click.option("--without-cvrs", is_flag=True,
                  help="The election publishes no CVRs (audited by ballot polling, "
                       "'audit parameters --mode polling'): the paper follows the results "
                       "directly. No CVR can be published after it.")
    @PASSPHRASE
    def reconcile(ledger_spec: str, official_dir: Path, manifest_path: Path,
                  batches_path: Path | None, inputs_path: Path, without_cvrs: bool,
                  passphrase_file: Path | None) -> None:
        """(Official) Publish the paper manifest and the reconciliation; again to amend
        them, until the seed is drawn. Differences are reported, never refused."""
        sheet = None if batches_path is None else read_batch_manifest_csv(batches_path)
        batches = read_paper_manifest(manifest_path, sheet)
        places, note = read_places(inputs_path)
        client, test = _ledger(ledger_spec)
        writer = _writer(client, official_dir, passphrase_file, "the official")
        appended, reconciliation = publish_reconciliation(client, writer, batches, places,
                                                          note=note, allow_test_group=test,
                                                          without_cvrs=without_cvrs)
        findings = reconciliation.table["findings"]
        stderr.print(f"Reconciliation at ledger index {appended.index}: {len(findings)} "
                     "finding(s)")
        for finding in findings:
            console.print(f"  {finding}")

    @audit.command("parameters")
    @LEDGER
    @AUDITOR
    @click.option("--risk-limit", type=float, default=0.05, show_default=True,
                  help="The risk limit, a fraction in (0, 1).")
    @click.option("--mode", type=click.Choice(["comparison", "polling"]), default="comparison",
                  show_default=True,
                  help="comparison: the paper against the decrypted CVRs of the drawn cards "
                       "(needs the CVRs' combined equality proof). polling: ballot polling "
                       "against the verified tally, for an election without CVRs; nothing "
                       "is decrypted.")
    @click.option("--risk-function",
                  type=click.Choice(["kaplan-markov", "alpha", "bravo"]),
                  help="comparison: kaplan-markov (super-simple, Stark 2010; the default) or "
                       "alpha (ALPHA, Stark 2023, optimal comparison η). polling: bravo "
                       "(Lindeman, Stark, Yates 2012; the default) or alpha (ALPHA ballot "
                       "polling, with --eta).")
    @click.option("--gamma", type=float,
                  help="comparison, kaplan-markov only: the error inflation factor γ > 1 "
                       "[default: 1.03905].")
    @click.option("--eta",
                  help="polling, alpha only (required there): ALPHA's alternative mean η, "
                       "'reported' (each assertion's reported assorter mean, (1 + margin)/2) "
                       "or a number in (1/2, 1], the same for every assertion.")
    @PASSPHRASE
    def parameters(ledger_spec: str, auditor_dir: Path, risk_limit: float, mode: str,
                   risk_function: str | None, gamma: float | None, eta: str | None,
                   passphrase_file: Path | None) -> None:
        """(Auditor) Publish the audit parameters, computed from the results and the
        reconciliation in force: populations, assertions, margins, the sampler.

        \b
        Comparison (default), after the CVRs' equality proof:
          paperchain audit parameters --ledger L --auditor A --risk-limit 0.05
        Ballot polling against the verified tally (no CVRs), right after the paper
        manifest and reconciliation:
          paperchain audit parameters --ledger L --auditor A --mode polling
          paperchain audit parameters --ledger L --auditor A --mode polling \\
              --risk-function alpha --eta reported

        In polling mode the rounds draw cards from the paper manifest with the same
        sampler, the board reads them as in a comparison audit, and each assertion's
        risk is BRAVO's or ALPHA's against the decrypted tally; a card not found,
        unreadable or disputed counts as a vote for the loser (the worst case).
        """
        function = _risk_function(mode, risk_function, gamma, eta)
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        appended, published = publish_parameters(
            client, writer, risk_limit=risk_limit, risk_function=function,
            allow_test_group=test)
        stderr.print(f"Audit parameters ({published.mode}, {function.name}) at ledger index "
                     f"{appended.index}; first round: {published.initial_round_size} draws")

    @audit.command("seed")
    @LEDGER
    @AUDITOR
    @click.option("--seed", required=True,
                  help="The seed: at least 20 decimal digits, rolled with dice in public.")
    @click.option("--rolled-by", multiple=True, required=True,
                  help="Who rolled the dice (repeat for each person).")
    @click.option("--rolled-at", help="When (ISO 8601); default: now.")
    @PASSPHRASE
    def seed(ledger_spec: str, auditor_dir: Path, seed: str, rolled_by: tuple[str, ...],
             rolled_at: str | None, passphrase_file: Path | None) -> None:
        """(Auditor) Publish the seed: once, after the parameters, never again."""
        if rolled_at is not None:
            try:
                datetime.fromisoformat(rolled_at)
            except ValueError:
                raise click.BadParameter(
                    f"{rolled_at!r} is not an ISO 8601 date or time (e.g. "
                    "2026-11-10T15:00:00+00:00)", param_hint="'--rolled-at'") from None
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        when = rolled_at or datetime.now(UTC).isoformat(timespec="seconds")
        appended = publish_seed(client, writer, seed, rolled_by=rolled_by, rolled_at=when,
                                allow_test_group=test)
        stderr.print(f"Seed at ledger index {appended.index}")

    @audit.command("round")
    @LEDGER
    @AUDITOR
    @click.option("--size", type=click.IntRange(min=1),
                  help="Draws in this round (default: the recommended).")
    @click.option("--retrieval-list", "retrieval_out",
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="Also write the round's retrieval list (CSV) here.")
    @PASSPHRASE
    def start(ledger_spec: str, auditor_dir: Path, size: int | None,
              retrieval_out: Path | None, passphrase_file: Path | None) -> None:
        """(Auditor) Start the next round: its draws and the CVRs it will decrypt once the
        board has read and signed off its cards (none in a ballot-polling audit)."""
        if retrieval_out is not None and not retrieval_out.absolute().parent.is_dir():
            # Checked before the round goes on the ledger: a refusal changes nothing.
            raise click.BadParameter(f"no directory {str(retrieval_out.absolute().parent)!r} "
                                     "to write it in", param_hint="'--retrieval-list'")
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        appended, started = start_round(client, writer, size=size, allow_test_group=test)
        stderr.print(f"Round {started.round}: {len(started.tickets)} draws at ledger index "
                     f"{appended.index}")
        if retrieval_out is not None:
            _write_retrieval(client, test, started.round, retrieval_out)

    @audit.command("retrieval-list")
    @LEDGER
    @click.option("--round", "round_number", type=int, required=True, help="The round.")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
                  help="CSV to write (paperchain print makes the PDF form).")
    def retrieval(ledger_spec: str, round_number: int, out: Path) -> None:
        """The cards a round draws, by container, batch and position (CSV)."""
        client, test = _ledger(ledger_spec)
        _write_retrieval(client, test, round_number, out)

    @audit.command("read")
    @LEDGER
    @AUDITOR
    @COSIGNER
    @click.option("--readings", "readings_path", required=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="JSON with the board's readings (paperchain.audit_files).")
    @PASSPHRASE
    @COSIGNER_PASSPHRASE
    def read(ledger_spec: str, auditor_dir: Path, cosigner_dir: Path, readings_path: Path,
             passphrase_file: Path | None, cosigner_passphrase_file: Path | None) -> None:
        """(Audit board) Record what the cards' printed text says, signed by both members.
        Every reading is checked before the first is written."""
        client, test = _ledger(ledger_spec)
        view = AuditLedger.read(client, allow_test_group=test)
        if view.verifier.context is None:
            raise click.UsageError("no election context")
        readings = read_readings(readings_path, view.verifier.context.manifest)
        writer = _writer(client, auditor_dir, passphrase_file, "the first board member")
        cosigner = _cosigner(cosigner_dir, cosigner_passphrase_file)
        results = record_readings(client, writer, cosigner.card.writer_id, cosigner.key,
                                  readings, allow_test_group=test)
        stderr.print(f"Recorded {len(results)} reading(s)")

    @audit.command("sign-off")
    @LEDGER
    @AUDITOR
    @COSIGNER
    @PASSPHRASE
    @COSIGNER_PASSPHRASE
    def sign_off(ledger_spec: str, auditor_dir: Path, cosigner_dir: Path,
                 passphrase_file: Path | None, cosigner_passphrase_file: Path | None) -> None:
        """(Audit board) Both members sign the round's readings, once every card is read."""
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the first board member")
        cosigner = _cosigner(cosigner_dir, cosigner_passphrase_file)
        appended = sign_off_round(client, writer, cosigner.card.writer_id, cosigner.key,
                                  allow_test_group=test)
        stderr.print(f"Round signed off at ledger index {appended.index}")

    @audit.command("decrypt")
    @LEDGER
    @TRUSTEE
    @PASSPHRASE
    def decrypt(ledger_spec: str, trustee_dir: Path, passphrase_file: Path | None) -> None:
        """(Trustee) Your shares of the signed-off round's sampled CVRs. Your software
        verifies the ledger and recomputes the sample from the seed and the manifest."""
        client, test = _ledger(ledger_spec)
        workspace = TrusteeWorkspace.open(trustee_dir,
                                          read_passphrase(passphrase_file, "the trustee"))
        appended = decrypt_round_as_trustee(workspace, client, allow_test_group=test)
        stderr.print(f"Shares at ledger index {appended.index}")

    @audit.command("combine")
    @LEDGER
    @AUDITOR
    @PASSPHRASE
    def combine(ledger_spec: str, auditor_dir: Path, passphrase_file: Path | None) -> None:
        """(Auditor) Combine k trustees' shares into the round's decrypted CVRs."""
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        appended = publish_round_cvrs(client, writer, allow_test_group=test)
        stderr.print("nothing to decrypt" if appended is None
                     else f"Decrypted CVRs at ledger index {appended.index}")

    @audit.command("risk")
    @LEDGER
    @AUDITOR
    @click.option("--decision", type=click.Choice(["continue", "escalate"]),
                  help="Override the recommendation (confirmed is never chosen by hand).")
    @PASSPHRASE
    def risk(ledger_spec: str, auditor_dir: Path, decision: str | None,
             passphrase_file: Path | None) -> None:
        """(Auditor) Measure the risk after the round and record the decision."""
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        _, measured = measure_risk(client, writer, decision=decision, allow_test_group=test)
        table = Table(title=f"Round {measured.round}: {measured.draws} draws")
        polling = any(a.tally is not None for a in measured.assertions)
        counted = ("winner", "loser") if polling else ("o1", "o2", "u1", "u2")
        for column in ("contest", "assertion", "draws", *counted, "risk"):
            table.add_column(column)
        for a in measured.assertions:
            counts = (a.tally if a.tally is not None
                      else (a.counts.o1, a.counts.o2, a.counts.u1, a.counts.u2))
            table.add_row(a.contest_id, a.assertion, str(a.draws), *map(str, counts),
                          f"{a.p_value:.6f}")
        console.print(table)
        stderr.print(f"Decision: {measured.decision}"
                     + (f" (next round: {measured.next_round_size} draws)"
                        if measured.decision == "continue" else ""))

    @audit.command("end")
    @LEDGER
    @AUDITOR
    @click.option("--note", default="", help="A note for the record.")
    @PASSPHRASE
    def end(ledger_spec: str, auditor_dir: Path, note: str, passphrase_file: Path | None) -> None:
        """(Auditor) Close the audit as the last round decided."""
        client, test = _ledger(ledger_spec)
        writer = _writer(client, auditor_dir, passphrase_file, "the auditor")
        appended = end_audit(client, writer, note=note, allow_test_group=test)
        stderr.print(f"Audit ended at ledger index {appended.index}")

    @audit.command("hand-count")
    @LEDGER
    @OFFICIAL
    @click.option("--counts", "counts_path", required=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="JSON of the certified full hand count (paperchain.audit_files).")
    @PASSPHRASE
    def hand_count(ledger_spec: str, official_dir: Path, counts_path: Path,
                   passphrase_file: Path | None) -> None:
        """(Official) After an escalation: the certified hand count, which replaces the
        E2E result."""
        client, test = _ledger(ledger_spec)
        view = AuditLedger.read(client, allow_test_group=test)
        if view.verifier.context is None:
            raise click.UsageError("no election context")
        count = read_hand_count(counts_path, view.verifier.context.manifest)
        writer = _writer(client, official_dir, passphrase_file, "the official")
        appended = publish_hand_count(client, writer, count, allow_test_group=test)
        stderr.print(f"Hand count certified at ledger index {appended.index}")

    @audit.command("status")
    @LEDGER
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def status(ledger_spec: str, as_json: bool) -> None:
        """Where the audit stands (from the ledger, verified)."""
        client, test = _ledger(ledger_spec)
        report = audit_report(AuditLedger.read(client, allow_test_group=test))
        if as_json:
            console.print_json(json.dumps(report))
            return
        _print_summary(report)

    @audit.command("report")
    @click.option("--ledger", "ledger_spec", help="Report from a ledger (directory or URL).")
    @click.option("--record", "record_dir",
                  type=click.Path(exists=True, file_okay=False, path_type=Path),
                  help="Report from an exported election record.")
    @click.option("--test-group", is_flag=True, help="Accept the test group (a record).")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="Directory for report.json, report.pdf and audit-record.csv.")
    def report(ledger_spec: str | None, record_dir: Path | None, test_group: bool,
               out: Path) -> None:
        """The audit report: JSON, CSV and PDF (risk over the sample as a plot)."""
        view = _view(ledger_spec, record_dir, test_group)
        write_report(audit_report(view), out)
        stderr.print(f"Audit report written to {out}")

    @audit.command("export")
    @click.option("--record", "record_dir", required=True,
                  type=click.Path(exists=True, file_okay=False, path_type=Path),
                  help="The election record.")
    @click.option("--test-group", is_flag=True, help="Accept the test group.")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="Directory for the exports.")
    def export(record_dir: Path, test_group: bool, out: Path) -> None:
        """The batch manifest as Arlo's CSV, the audit record as JSON and CSV, and the
        decrypted sampled CVRs (NIST SP 1500-103 JSON, Dominion-style CSV); where the
        trustees decrypted every CVR for publication (audit cvr-plaintext-share), all
        CVRs in both forms too."""
        view = _view(None, record_dir, test_group)
        for path in write_exports(view, audit_report(view), out,
                                  lambda ballot_id: str(BallotId(ballot_id))):
            stderr.print(f"wrote {path}")

    @audit.command("verify")
    @click.argument("record", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--test-group", is_flag=True, help="Accept a record on the test group.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def verify(record: Path, test_group: bool, as_json: bool) -> None:
        """Recompute the audit from the record alone: ledger order, reconciliation,
        pairing, tickets, assorter values, discrepancies and p-values. Exit 1 on any
        failure."""
        result = verify_audit(record, allow_test_group=test_group)
        if as_json:
            console.print_json(json.dumps(result.to_json()))
        else:
            for name, count in result.checks.items():
                stderr.print(f"  ✓ {name}: {count}")
            for finding in result.findings:
                stderr.print(f"  ✗ {finding}")
            for line in result.summary_lines():
                console.print(line)
            stderr.print("[bold green]AUDIT VERIFIED[/]" if result.ok else
                         f"[bold red]AUDIT NOT VERIFIED[/]: {len(result.findings)} finding(s)")
        if not result.ok:
            raise SystemExit(1)


def _view(ledger_spec: str | None, record_dir: Path | None, test_group: bool) -> AuditLedger:
    if (ledger_spec is None) == (record_dir is None):
        raise click.UsageError("give --ledger or --record")
    if ledger_spec is not None:
        client, test = _ledger(ledger_spec)
        return AuditLedger.read(client, allow_test_group=test)
    from tally.audit_check import AuditChecker
    from tally.verify import verify_election

    reader = RecordReader(record_dir)  # type: ignore[arg-type]
    report, verifier = verify_election(reader.envelopes(), election_id=reader.summary.election_id,
                                       allow_test_group=test_group, require_results=False)
    if not report.ok:
        raise click.ClickException(f"the record does not verify: {report.findings[0]}")
    return AuditLedger(verifier, verifier.checker(AuditChecker))


def _write_retrieval(client: LedgerClient, test: bool, round_number: int, out: Path) -> None:
    import csv
    import io

    from e2e.keystore import atomic_write

    view = AuditLedger.read(client, allow_test_group=test)
    rows = retrieval_list(view.state, view.state.manifest_batches, round_number)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Container", "Batch Name", "Ballot Position", "Ticket Numbers",
                     "Already Audited", "Phantom"])
    for row in rows:
        writer.writerow([row.container, row.batch, row.position, ",".join(row.tickets),
                         "Y" if row.already_read else "N", "Y" if row.phantom else "N"])
    atomic_write(out, buffer.getvalue().encode())
    stderr.print(f"Retrieval list for round {round_number}: {len(rows)} card(s) → {out}")


def _print_summary(report: dict[str, Any]) -> None:
    rec = report.get("reconciliation")
    if rec is not None:
        console.print(f"Reconciliation (ledger {rec['ledger_index']}): "
                      f"{len(rec['findings'])} finding(s)")
        for finding in rec["findings"]:
            console.print(f"  {finding}")
    if "parameters" not in report:
        console.print(report.get("status", ""))
        return
    console.print(f"Risk limit {report['parameters']['risk_limit']}, seed "
                  f"{(report.get('seed') or {}).get('digits', '(not drawn)')}, "
                  f"{len(report.get('rounds', []))} round(s), "
                  f"{len(report.get('draws', []))} draw(s); outcome: "
                  f"{report.get('outcome') or 'in progress'}")
    for r in report.get("rounds", []):
        console.print(f"  round {r['round']}: {r['draws']} draws, {r['cards_read']} cards "
                      f"read, decision {r['decision'] or '(pending)'}")
