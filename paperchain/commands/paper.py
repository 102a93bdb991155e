"""``paperchain print …`` (officials' documents) and ``paperchain scan`` (reading paper)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from e2e.errors import EncodingError, UsageError
from e2e.identity import WriterIdentity
from e2e.keystore import atomic_write
from paper.ids import BallotId
from paper.layout import A4, LETTER, CardFormat, PaperWriter
from paper.manifest_csv import PlacedEntry, read_manifest_csv, write_manifest_csv
from paper.official import OfficialPrinter
from paper.reports import ReportDocument
from paper.scan import IMAGE_SUFFIXES, PageResult, count_pages
from paperchain.commands.common import (
    RichReporter,
    console,
    passphrase_option,
    read_passphrase,
    stderr,
)
from paperchain.printing import (
    ElectionSource,
    ScannedBatch,
    audit_documents,
    audit_report_document,
    close_of_polls_documents,
    cover_sheet_documents,
    print_test_deck,
    reconciliation_document,
    remake_card,
    results_document,
    scan_batches,
)

__all__ = ["print_group", "scan"]

ELECTION_OPTION = click.option(
    "--election", "election_spec", required=True,
    help="The election: its public record (directory), or its ledger (directory or URL). "
         "Keys, test mode, spoiled IDs and counts are read from it.")
TEST_GROUP_OPTION = click.option(
    "--test-group", is_flag=True, help="Accept a record on the test group (a test election).")
OUT_OPTION = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                          required=True, help="The PDF file to write.")
PAPER_OPTION = click.option("--paper", "paper_size", type=click.Choice(["letter", "a4"]),
                            default="letter", show_default=True, help="Page size.")


def _card(size: str) -> CardFormat:
    return A4 if size == "a4" else LETTER


def _named(values: Sequence[str], what: str) -> dict[str, str]:
    """NAME=VALUE options (the name may hold '=': the last one splits)."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, text = value.rpartition("=")
        if not sep or not name:
            raise UsageError(f"expected NAME=VALUE, not {value!r}", what)
        out[name] = text
    return out


_COUNT = re.compile(r"[0-9]{1,9}")  # ASCII digits only: int() would take others


def _counts(values: Sequence[str], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, text in _named(values, what).items():
        if not _COUNT.fullmatch(text):
            raise UsageError(f"{text!r} is not a count (0 to 999999999)", what)
        out[name] = int(text)
    return out


@contextmanager
def _partial(out: Path) -> Iterator[BinaryIO]:
    """Write ``out`` through a hidden partial file: it appears only when complete, and
    nothing is left behind if writing fails."""
    partial = out.with_name(f".{out.name}.part")
    try:
        with partial.open("wb") as handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)


def _print(out: Path, documents: Sequence[ReportDocument], *, test: bool, size: str,
           label: str) -> None:
    """Stream documents into ``out`` with a progress bar; the file appears when complete."""
    reporter = RichReporter()
    with _partial(out) as handle, PaperWriter(handle) as writer:
        printer = OfficialPrinter(writer, test_election=test, card=_card(size))
        with reporter.progress(label, len(documents)) as advance:
            for document in documents:
                printer.form(document)
                advance(1)
        pages = writer.page_count
    stderr.print(f"{pages} pages written to {out}" + (" (stamped TEST)" if test else ""))


@click.group("print")
def print_group() -> None:
    """Official printing: cover sheets, forms, retrieval lists, reports, remakes.

    \b
    Every page of a test election's documents is stamped TEST. Ballot records are
    never reprinted from the digital record in a real election: a damaged card is
    remade from its own text (`paperchain print remake`), stamped DUPLICATE.
      cover-sheets     numbered batch cover sheets (from a scanned manifest, or blank)
      close-of-polls   one form per polling place, with the devices' ledger counts
      reconciliation   ledger counts against the scanned manifest, per place and batch
      retrieval        an audit round's retrieval list and its audit-board forms
      results          the verified results of an election record
      audit-report     the risk-limiting audit's report
      remake           remake a damaged card (ledger entry, DUPLICATE card, form)
      test-deck        ballot records of random choices (test elections only)
    """


@print_group.command("cover-sheets")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@click.option("--manifest", "manifest_csv", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A scanned manifest (`paperchain scan --manifest-out`): "
                                    "one sheet per batch, counts filled in.")
@click.option("--polling-place", help="Without --manifest: the polling place of blank sheets.")
@click.option("--count", type=click.IntRange(0, 100_000), default=0,
              help="Without --manifest: how many blank sheets.")
@click.option("--first", type=click.IntRange(1, 10**6), default=1, show_default=True,
              help="The number of the first sheet.")
@click.option("--container", "containers", multiple=True,
              help="BATCH=CONTAINER: a batch's container number (repeat).")
@click.option("--seal", "seals", multiple=True,
              help="BATCH=SEAL[,SEAL…]: a batch's seal numbers (repeat).")
@OUT_OPTION
@PAPER_OPTION
def cover_sheets(election_spec: str, test_group: bool, manifest_csv: Path | None,
                 polling_place: str | None, count: int, first: int,
                 containers: tuple[str, ...], seals: tuple[str, ...], out: Path,
                 paper_size: str) -> None:
    """Numbered batch cover sheets: polling place, batch, container and seal numbers,
    counts, two signatures, the transfer log."""
    election = ElectionSource.open(election_spec, test_group=test_group).paper_election()
    rows = _read_rows(manifest_csv) if manifest_csv else []
    documents = cover_sheet_documents(election, rows=rows, polling_place=polling_place,
                                      count=count, first=first,
                                      containers=_named(containers, "--container"),
                                      seals={batch: [s.strip() for s in text.split(",")]
                                             for batch, text in _named(seals, "--seal").items()})
    _print(out, documents, test=election.test_election, size=paper_size, label="Cover sheets")


@print_group.command("close-of-polls")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@OUT_OPTION
@PAPER_OPTION
def close_of_polls(election_spec: str, test_group: bool, out: Path, paper_size: str) -> None:
    """A close-of-polls form per polling place: its devices' counts from the ledger, the
    hand counts to write in, two signatures."""
    election = ElectionSource.open(election_spec, test_group=test_group).paper_election()
    _print(out, close_of_polls_documents(election), test=election.test_election,
           size=paper_size, label="Close-of-polls forms")


@print_group.command("reconciliation")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@click.option("--manifest", "manifest_csv", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True, help="The scanned manifest (CSV).")
@click.option("--check-ins", multiple=True, help="PLACE=N: voters checked in (repeat).")
@click.option("--spoiled-envelope", multiple=True,
              help="PLACE=N: SPOILED papers found in the spoiled envelope (repeat).")
@click.option("--declared", multiple=True, help="BATCH=N: the cover sheet's count (repeat).")
@OUT_OPTION
@PAPER_OPTION
def reconciliation(election_spec: str, test_group: bool, manifest_csv: Path,
                   check_ins: tuple[str, ...], spoiled_envelope: tuple[str, ...],
                   declared: tuple[str, ...], out: Path, paper_size: str) -> None:
    """The reconciliation form: ledger counts per polling place against the scanned
    manifest and the cover sheets, with every difference listed."""
    election = ElectionSource.open(election_spec, test_group=test_group).paper_election()
    document = reconciliation_document(
        election, _read_rows(manifest_csv), check_ins=_counts(check_ins, "--check-ins"),
        spoiled_envelope=_counts(spoiled_envelope, "--spoiled-envelope"),
        declared=_counts(declared, "--declared"))
    _print(out, [document], test=election.test_election, size=paper_size,
           label="Reconciliation form")


@print_group.command("retrieval")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@click.option("--round", "round_number", type=click.IntRange(1, 10_000), required=True,
              help="The audit round.")
@click.option("--no-board-forms", is_flag=True, help="Only the retrieval list.")
@OUT_OPTION
@PAPER_OPTION
def retrieval(election_spec: str, test_group: bool, round_number: int, no_board_forms: bool,
              out: Path, paper_size: str) -> None:
    """An audit round's retrieval list (batch, position, ballot ID to check), then one
    audit-board form per card: its contests' options to tick, blind to the CVR."""
    source = ElectionSource.open(election_spec, test_group=test_group)
    documents = audit_documents(source, round_number, board_forms=not no_board_forms)
    test = source.paper_election().test_election
    _print(out, documents, test=test, size=paper_size, label="Retrieval list and forms")


@print_group.command("results")
@click.argument("record", type=click.Path(exists=True, file_okay=False, path_type=Path))
@TEST_GROUP_OPTION
@OUT_OPTION
@PAPER_OPTION
def results(record: Path, test_group: bool, out: Path, paper_size: str) -> None:
    """The results report of an election record (verified first; findings printed)."""
    document = results_document(record, test_group=test_group)
    # TEST iff the election is a test election (its setup says so), not iff --test-group.
    test = ElectionSource.open(record, test_group=test_group).paper_election().test_election
    _print(out, [document], test=test, size=paper_size, label="Results report")


@print_group.command("audit-report")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@OUT_OPTION
def audit_report_command(election_spec: str, test_group: bool, out: Path) -> None:
    """The risk-limiting audit's report (tables and the risk over the sample)."""
    source = ElectionSource.open(election_spec, test_group=test_group)
    atomic_write(out, audit_report_document(source))
    stderr.print(f"Audit report written to {out}")


@print_group.command("remake")
@click.option("--ledger", "ledger_spec", required=True,
              help="The ledger (directory or URL): the remake is recorded there.")
@click.option("--official", "official_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The official writing the entry.")
@click.option("--cosigner", "cosigner_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True,
              help="The second person (a registered official or auditor) who signs too.")
@click.option("--cosigner-passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The cosigner's passphrase file (else asked).")
@click.option("--ballot-id", required=True, help="The ID printed on the damaged card.")
@click.option("--style", "style_id", required=True, help="The damaged card's ballot style ID.")
@click.option("--choice", "choices", multiple=True,
              help="CONTEST=SELECTION as printed on the damaged card (repeat; none for "
                   "'no selection').")
@click.option("--language", default="en", show_default=True, help="The card's language.")
@click.option("--reason", required=True, help="Why the card is remade (published).")
@click.option("--original-kept-in", required=True,
              help="The envelope or container the damaged original is kept in.")
@OUT_OPTION
@passphrase_option
def remake(ledger_spec: str, official_dir: Path, cosigner_dir: Path,
           cosigner_passphrase_file: Path | None, ballot_id: str, style_id: str,
           choices: tuple[str, ...], language: str, reason: str, original_kept_in: str,
           out: Path, passphrase_file: Path | None) -> None:
    """Remake a damaged card: record it on the ledger (two signatures), then print the new
    card stamped DUPLICATE with the original's ID, and its remake form."""
    source = ElectionSource.open(ledger_spec)
    if source.ledger is None:
        raise UsageError("a remake is written to a ledger, not to a record", "--ledger")
    official = WriterIdentity.open(official_dir, read_passphrase(passphrase_file, "the official"))
    cosigner = WriterIdentity.open(cosigner_dir, read_passphrase(cosigner_passphrase_file,
                                                                 "the cosigner"))
    damaged = BallotId.parse(ballot_id, "--ballot-id")
    parsed: dict[str, list[str]] = {}
    for choice in choices:
        contest, sep, selection = choice.partition("=")
        if not sep:
            raise UsageError(f"expected CONTEST=SELECTION, not {choice!r}", "--choice")
        parsed.setdefault(contest, []).append(selection)
    election = source.paper_election()
    with _partial(out) as handle, PaperWriter(handle) as writer:
        outcome = remake_card(
            OfficialPrinter(writer, test_election=election.test_election), source.ledger,
            election, official_id=official.card.writer_id, official_key=official.key,
            cosigner_id=cosigner.card.writer_id, cosigner_key=cosigner.key,
            ballot_id=damaged, style_id=style_id,
            choices=parsed, reason=reason, original_kept_in=original_kept_in,
            language=language)
    stderr.print(f"Remake DUPLICATE {outcome.remake} of {outcome.ballot_id} recorded at ledger "
                 f"index {outcome.ledger_index}; card and form written to {out}")


@print_group.command("test-deck")
@ELECTION_OPTION
@TEST_GROUP_OPTION
@click.option("--device", "device_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True, help="The kiosk whose key signs the cards.")
@click.option("--count", type=click.IntRange(1, 1_000_000), required=True,
              help="How many ballot records.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the choices.")
@OUT_OPTION
@passphrase_option
def test_deck(election_spec: str, test_group: bool, device_dir: Path, count: int, seed: int,
              out: Path, passphrase_file: Path | None) -> None:
    """Ballot records of random choices for logic and accuracy testing, stamped TEST.
    Refused in a real election (no ballot record is ever printed but by the kiosk)."""
    election = ElectionSource.open(election_spec, test_group=test_group).paper_election()
    device = WriterIdentity.open(device_dir, read_passphrase(passphrase_file, "the device"))
    reporter = RichReporter()
    with _partial(out) as handle, PaperWriter(handle) as writer, \
            reporter.progress("Test deck", count) as advance:
        print_test_deck(OfficialPrinter(writer, test_election=election.test_election),
                        election, device.key, count, seed=seed, progress=advance)
    stderr.print(f"{count} TEST ballot records written to {out}")


# ---------------------------------------------------------------------------- scan


def _read_rows(path: Path) -> list[PlacedEntry]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise EncodingError(f"not UTF-8 text (byte {err.start})", str(path)) from None
    return read_manifest_csv(text, str(path))


def _batch_files(path: Path) -> tuple[Path, ...]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES | {".pdf"})
        if not files:
            raise UsageError("no PDF or image in this directory", str(path))
        return tuple(files)
    return (path,)


_MANUAL = re.compile(r"(?P<batch>.+):(?P<position>[1-9][0-9]{0,8})=(?P<id>.+)")


@click.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@ELECTION_OPTION
@TEST_GROUP_OPTION
@click.option("--batch", "batch_names", multiple=True,
              help="The batch name of each FILE, in order (default: the file's name "
                   "without its suffix). A directory is one batch, its files in name order.")
@click.option("--polling-place", default="", help="The polling place these batches came from.")
@click.option("--manual", "manual", multiple=True,
              help="BATCH:POSITION=ID: the ID printed on a card whose QR code could not be "
                   "read, typed by hand (checked by its check character; repeat).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per page on stdout (file, page, ok, kind, the decoded "
                   "fields or error, batch, position, flags).")
@click.option("--manifest-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the ID-level manifest (CSV: batch, position, ballot ID, flags).")
@click.option("--dpi", type=click.IntRange(72, 600), default=150, show_default=True,
              help="Resolution at which PDF pages are rendered.")
def scan(files: tuple[Path, ...], election_spec: str, test_group: bool,
         batch_names: tuple[str, ...], polling_place: str, manual: tuple[str, ...],
         as_json: bool, manifest_out: Path | None, dpi: int) -> None:
    """Read cards back (PDFs or scans, in box order): one result per page and the ID-level
    manifest; flag repeated IDs, other elections', SPOILED, TEST, DUPLICATE, invalid and
    unreadable cards. Never reads or prints any vote.

    Exits 0 when every card is this election's, readable and unflagged; 1 otherwise.
    """
    if batch_names and len(batch_names) != len(files):
        raise UsageError(f"{len(batch_names)} batch names for {len(files)} files", "--batch")
    election = ElectionSource.open(election_spec, test_group=test_group).paper_election()
    batches = [ScannedBatch(batch_names[i] if batch_names else path.stem, _batch_files(path),
                            polling_place) for i, path in enumerate(files)]
    if len({b.name for b in batches}) != len(batches):
        raise UsageError("two batches have the same name: name them with --batch")
    typed: dict[tuple[str, int], str] = {}
    for value in manual:
        found = _MANUAL.fullmatch(value)
        if found is None:
            raise UsageError(f"expected BATCH:POSITION=ID (position from 1), not {value!r}",
                             "--manual")
        if found["batch"] not in {b.name for b in batches}:
            raise UsageError(f"no batch {found['batch']!r} among those scanned", "--manual")
        BallotId.parse(found["id"], f"--manual {value}")  # a typo is refused before scanning
        typed[(found["batch"], int(found["position"]))] = found["id"]
    pages: list[tuple[str, int, PageResult]] = []
    reporter = RichReporter()
    with reporter.progress("Scanning", _page_total(batches)) as advance:
        def seen(batch: str, position: int, result: PageResult) -> None:
            pages.append((batch, position, result))
            advance(1)

        rows = scan_batches(election, batches, manual_ids=typed, dpi=dpi, on_page=seen)
    flagged = 0
    for (batch, position, result), row in zip(pages, rows, strict=True):
        flags = sorted(f.value for f in row.entry.flags)
        flagged += bool(flags)
        if as_json:
            console.print_json(json.dumps({**result.to_json(), "batch": batch,
                                           "position": position, "flags": flags,
                                           "manual": row.entry.manual}),
                               indent=None)
        else:
            card = (str(row.entry.ballot_id) if row.entry.ballot_id else "(no ID)")
            status = "ok" if result.ok and not flags else ", ".join(flags) or "error"
            detail = f" — {result.error}" if result.error else ""
            console.print(f"{batch}\t{position}\t{card}\t{status}{detail}", highlight=False,
                          markup=False, soft_wrap=True)
    if manifest_out is not None:
        atomic_write(manifest_out, write_manifest_csv(rows).encode())
        stderr.print(f"Manifest written to {manifest_out}")
    counts: dict[str, int] = {}
    for row in rows:
        for flag in row.entry.flags:
            counts[flag.value] = counts.get(flag.value, 0) + 1
    summary = ", ".join(f"{n} {flag}" for flag, n in sorted(counts.items())) or "none flagged"
    stderr.print(f"{len(rows)} cards in {len(batches)} batches: {summary}")
    if flagged:
        raise SystemExit(1)



def _page_total(batches: Sequence[ScannedBatch]) -> int:
    return count_pages(path for batch in batches for path in batch.files)
