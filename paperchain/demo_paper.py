"""The demo's paper, as a polling place handles it (issue 5, part 7).

``paperchain.demo`` calls these steps; everything lands under ``OUT/paper``:

1. **At voting time**, for each ballot the kiosk prints (``DemoPaper.print_record``): a
   fresh ``BallotId.generate()``, the ballot record card in the voter's language (with
   English), the kiosk's self-check of the rendered PDF (a mismatch stops the demo
   with a ``DeviceFault``), then — once the voter decides — the receipt, CAST or
   CHALLENGED, into ``receipts.pdf`` (one streaming PDF, in the order voters take
   them). A cast card is deposited in its polling place's ballot box; a challenged
   card is stamped SPOILED by a poll worker and kept apart, in
   ``spoiled/<place>.pdf``.
2. **At the close** (``DemoPaper.count_and_scan``): each box is mixed — a ballot box
   does not keep the order cards went in, and neither may the manifest (seeded, so a
   demo is reproducible) — and cut into batches of ``BATCH_SIZE`` cards, each one
   PDF in box order (``boxes/<batch>.pdf``); the batches are scanned back from those
   PDFs (rendered at 150 dpi, as a scanner sees paper) into the ID-level manifest
   (``manifest.csv``), with the spoiled IDs from the ledger's challenge entries; the
   counts are reconciled against the ledger, and the cover sheets, close-of-polls
   and reconciliation forms are printed (``forms/``).

The scanned manifest (``PaperCount.manifest``) is what the demo's audit counts on.
Nothing on paper or in these files links a card to cast order: the box PDFs and the
manifest are in box order, the spool a card waits in before the box is mixed has a
random name, and a card's PDF carries no time or ID in its metadata.
"""

from __future__ import annotations

import io
import os
import random
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import pypdfium2

from e2e.ballot import MarkedBallot
from e2e.context import ElectionContext
from e2e.errors import EncodingError
from e2e.ledger.client import LedgerClient
from e2e.ledger.operator import AppendResult
from e2e.manifest import Manifest
from e2e.signing import SigningKey
from paper.capacity import check_manifest_fits
from paper.election import PaperElection
from paper.ids import BallotId
from paper.layout import PaperWriter, render_ballot_record
from paper.manifest_csv import PlacedEntry, write_manifest_csv
from paper.manifest_views import receipt_view, record_view
from paper.official import OfficialPrinter
from paper.payload import (
    BallotRecordPayload,
    ReceiptStatus,
    make_ballot_record,
    make_receipt,
    parse_payload,
)
from paper.pdfstream import PdfStreamWriter
from paper.scan import PaperManifest, read_qr_codes, self_check_ballot_record
from paper.views import BallotRecordView
from paperchain.demo_audit import DemoCard
from paperchain.demo_board import printed_ballot_id, squeeze
from paperchain.printing import (
    ScannedBatch,
    close_of_polls_documents,
    cover_sheet_documents,
    reconciliation_document,
    scan_batches,
)
from tally.pairing import ManifestCard
from tally.reconcile import PaperBatch

__all__ = [
    "BATCH_SIZE",
    "DemoPaper",
    "PaperCount",
    "PrintedCard",
    "ScannedPaper",
    "check_printable",
    "forge_cards",
    "mix_box",
]

BATCH_SIZE = 100
CHECK_URL = "https://verify.springfield.example/2026-general"
COMPLAINT_CONTACT = "Springfield Elections Office, (555) 010-4477"
COMPLAINT_DEADLINE = "within 14 days of the election"
SPANISH_SHARE = 0.2  # voters who read their ballot in Spanish (with English beside it)

T = TypeVar("T")


def check_printable(manifest: Manifest) -> None:
    """The capacity rule, applied before the setup: every style fits one card legibly."""
    check_manifest_fits(manifest)


def mix_box(deposited: Sequence[T], rng: random.Random) -> list[T]:
    """The cards of a ballot box in the order they come out: a uniform shuffle of the
    order they went in, so box order (batches, positions) says nothing of cast order."""
    box = list(deposited)
    rng.shuffle(box)
    return box


@dataclass(frozen=True, slots=True)
class PrintedCard:
    """A ballot record the kiosk printed and checked, waiting for the voter's decision."""

    ballot_id: BallotId
    device_id: str
    view: BallotRecordView
    payload: BallotRecordPayload
    pdf: bytes

    @property
    def style_id(self) -> str:
        return self.payload.style_id

    def demo_card(self, choices: Mapping[str, Sequence[str]], *, spoiled: bool) -> DemoCard:
        """The card as the demo's audit knows it (its printed choices)."""
        return DemoCard(self.ballot_id.value, self.style_id,
                        {c: frozenset(v) for c, v in choices.items()}, self.device_id, spoiled)


@dataclass(slots=True)
class PaperCount:
    """What counting and scanning the paper found."""

    manifest: PaperManifest
    rows: list[PlacedEntry]
    batches: list[tuple[str, str]]  # (batch name, polling place), box order
    spoiled_papers: dict[str, int]  # polling place -> SPOILED papers in its envelope
    findings: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # batch name -> its PDF

    def for_audit(self, cards: Sequence[DemoCard]) -> ScannedPaper:
        """The manifest as ``tally`` batches, and each position's demo card (by ID)."""
        by_id = {card.ballot_id: card for card in cards if not card.spoiled}
        batches = []
        cards_at: dict[tuple[str, int], DemoCard] = {}
        for number, (name, place) in enumerate(self.batches, start=1):
            entries = [e for e in self.manifest.entries if e.batch == name]
            batches.append(PaperBatch(name, place, f"Seal {number:04d}", len(entries), tuple(
                ManifestCard(None if e.ballot_id is None else e.ballot_id.value,
                             frozenset(flag.value for flag in e.flags), e.style_id)
                for e in entries)))
            for entry in entries:
                card = None if entry.ballot_id is None else by_id.get(entry.ballot_id.value)
                if card is not None:
                    cards_at[(name, entry.position)] = card
        return ScannedPaper(batches, cards_at, dict(self.files))


@dataclass(frozen=True, slots=True)
class ScannedPaper:
    """The scanned manifest as the audit takes it: one ``PaperBatch`` per batch (box order,
    the scanner's flags, the cover sheet's seal and count), the demo card behind each
    position (what the kiosk printed there), and each batch's PDF: the paper itself,
    which the demo's audit board reads (``paperchain.demo_board``)."""

    batches: list[PaperBatch]
    cards_at: dict[tuple[str, int], DemoCard]
    files: dict[str, Path] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "place"


class DemoPaper:
    """The demo kiosks' printers, the ballot boxes and the spoiled envelopes."""

    def __init__(self, out: Path, context: ElectionContext, keys: Mapping[str, SigningKey],
                 places: Mapping[str, str], *, seed: int) -> None:
        self.root = Path(out) / "paper"
        self.context = context
        self.manifest = context.manifest
        self.election_id = context.election_id
        self.test = context.setup.test_election
        self._keys = dict(keys)
        self._places = dict(places)
        self._rng = random.Random(seed ^ 0xCA4D)  # noqa: S311 - the simulation's mixing
        for sub in ("boxes", "spoiled", "forms"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._spool = self.root / ".ballot-boxes"
        self._box: dict[str, list[Path]] = {place: [] for place in sorted(set(places.values()))}
        for place in self._box:
            (self._spool / _slug(place)).mkdir(parents=True, exist_ok=True)
        self._files: list[BinaryIO] = []
        self._receipts = self._writer(self.root / "receipts.pdf")
        self._spoiled: dict[str, PaperWriter] = {}
        self._spoiled_count: dict[str, int] = dict.fromkeys(self._box, 0)
        self.seconds = {"print": 0.0, "self-check": 0.0, "receipts": 0.0}

    def _writer(self, path: Path) -> PaperWriter:
        handle = path.open("wb")
        self._files.append(handle)
        return PaperWriter(handle)

    # --- at voting time ----------------------------------------------------------------

    def print_record(self, device_id: str, marked: MarkedBallot) -> PrintedCard:
        """Print a ballot record as the kiosk does: a fresh ID, render, self-check."""
        started = time.perf_counter()
        key = self._keys[device_id]
        language = "es" if ("es" in self.manifest.languages
                            and self._rng.random() < SPANISH_SHARE) else "en"
        ballot_id = BallotId.generate()
        view = record_view(self.manifest, marked.style_id, language,
                           marked.choices(self.manifest), ballot_id, test_mode=self.test)
        payload = make_ballot_record(key, self.election_id, marked.style_id, ballot_id,
                                     test=self.test)
        pdf = render_ballot_record(view, payload)
        checked = time.perf_counter()
        self_check_ballot_record(pdf, view, election_id=self.election_id,
                                 style_id=marked.style_id, signer_key=key.verify_key)
        done = time.perf_counter()
        self.seconds["print"] += checked - started
        self.seconds["self-check"] += done - checked
        return PrintedCard(ballot_id, device_id, view, payload, pdf)

    def cast(self, card: PrintedCard, tracking_code: bytes, result: AppendResult) -> None:
        """The voter casts: the card goes into the box, the receipt says CAST."""
        place = self._places[card.device_id]
        # The spool stands for the box's inside: a random name, nothing about the voter.
        path = self._spool / _slug(place) / f"{secrets.token_hex(16)}.pdf"
        path.write_bytes(card.pdf)
        self._box[place].append(path)
        self._receipt(card, tracking_code, ReceiptStatus.CAST, result)

    def challenge(self, card: PrintedCard, tracking_code: bytes, result: AppendResult) -> None:
        """The voter challenges: a poll worker stamps the card SPOILED and keeps it apart."""
        place = self._places[card.device_id]
        writer = self._spoiled.get(place)
        if writer is None:
            writer = self._spoiled[place] = self._writer(
                self.root / "spoiled" / f"{_slug(place)}.pdf")
        writer.add_ballot_record(card.view, card.payload, spoiled=True)
        self._spoiled_count[place] += 1
        self._receipt(card, tracking_code, ReceiptStatus.CHALLENGED, result)

    def _receipt(self, card: PrintedCard, tracking_code: bytes, status: ReceiptStatus,
                 result: AppendResult) -> None:
        started = time.perf_counter()
        payload = make_receipt(self._keys[card.device_id], self.election_id, tracking_code,
                               status, result.promise, test=self.test)
        self._receipts.add_receipt(receipt_view(
            self.manifest, card.view.language, payload, check_url=CHECK_URL,
            complaint_contact=COMPLAINT_CONTACT, complaint_deadline=COMPLAINT_DEADLINE))
        self.seconds["receipts"] += time.perf_counter() - started

    # --- at the close ------------------------------------------------------------------

    def close_printers(self) -> None:
        for writer in (self._receipts, *self._spoiled.values()):
            writer.close()
        for handle in self._files:
            handle.close()
        self._files = []

    def count_and_scan(self, ledger: LedgerClient, *, allow_test_group: bool,
                       step: Callable[[str], None]) -> PaperCount:
        """Mix each box, cut it into batches (one PDF each, box order), scan them back
        into the ID-level manifest, reconcile with the ledger, print the forms."""
        self.close_printers()
        started = time.perf_counter()
        batches: list[ScannedBatch] = []
        for number, (place, deposited) in enumerate(sorted(self._box.items()), start=1):
            box = mix_box(deposited, self._rng)
            for start in range(0, len(box), BATCH_SIZE):
                name = f"Place {number} box {start // BATCH_SIZE + 1}"
                path = self.root / "boxes" / f"{_slug(name)}.pdf"
                with path.open("wb") as handle:
                    joined = PdfStreamWriter(handle)
                    for card in box[start:start + BATCH_SIZE]:
                        joined.append(card.read_bytes())
                    joined.close()
                batches.append(ScannedBatch(name, (path,), place))
        shutil.rmtree(self._spool)
        boxed = time.perf_counter()
        election = PaperElection.read(ledger.entries(0), election_id=self.election_id,
                                      allow_test_group=allow_test_group)
        rows = scan_batches(election, batches)
        scanned = time.perf_counter()
        (self.root / "manifest.csv").write_text(write_manifest_csv(rows), encoding="utf-8",
                                                newline="")
        form = reconciliation_document(election, rows,
                                       spoiled_envelope=self._spoiled_count)
        findings = _findings(election, rows, self._spoiled_count)
        with (self.root / "forms" / "official-forms.pdf").open("wb") as handle, \
                PaperWriter(handle) as writer:
            printer = OfficialPrinter(writer, test_election=election.test_election)
            for document in (*close_of_polls_documents(election),
                             *cover_sheet_documents(election, rows=rows), form):
                printer.form(document)
        count = PaperCount(PaperManifest(tuple(r.entry for r in rows)), rows,
                           [(b.name, b.polling_place) for b in batches],
                           dict(self._spoiled_count), findings,
                           files={b.name: b.files[0] for b in batches})
        count.seconds = {**self.seconds, "boxes": boxed - started, "scan": scanned - boxed,
                         "forms": time.perf_counter() - scanned}
        flagged = sum(1 for r in rows if r.entry.flags)
        seconds = ", ".join(f"{name} {value:.1f} s" for name, value in count.seconds.items())
        step(f"Paper: {len(rows)} cards in {len(batches)} batches scanned back from their PDFs "
             f"into the ID-level manifest ({flagged} flagged); "
             f"{sum(self._spoiled_count.values())} SPOILED papers kept apart; reconciliation "
             f"with the ledger: {'; '.join(findings) or 'no differences'} ({seconds})")
        return count


def _findings(election: PaperElection, rows: Sequence[PlacedEntry],
              spoiled: Mapping[str, int]) -> list[str]:
    found = []
    for place in election.polling_places():
        cast = sum(d.cast for d in election.devices if d.location == place)
        challenged = sum(d.challenged for d in election.devices if d.location == place)
        cards = sum(1 for r in rows if r.polling_place == place and not r.entry.flags)
        if cards != cast:
            found.append(f"{place}: {cards} unflagged cards for {cast} cast ballots")
        if spoiled.get(place, 0) != challenged:
            found.append(f"{place}: {spoiled.get(place, 0)} SPOILED papers for {challenged} "
                         "challenges")
    return found


# --- --tamper paper ---------------------------------------------------------------------

FORGER_DPI = 150  # the forger photographs the original's QR code as a scanner would


def _language_of(text: str, manifest: Manifest) -> str:
    """The card's language: the one (other than English) whose election name it prints."""
    printed = squeeze(text)
    english = squeeze(manifest.name.english)
    for language in manifest.languages:
        name = squeeze(manifest.name[language])
        if name != english and name in printed:
            return language
    return "en"


def _forge_page(page: pypdfium2.PdfPage, text: str, manifest: Manifest,
                choices: Mapping[str, frozenset[str]]) -> bytes:
    image = page.render(scale=FORGER_DPI / 72, grayscale=True).to_pil()
    codes = read_qr_codes(image)
    if len(codes) != 1:
        raise EncodingError(f"the card to forge shows {len(codes)} QR codes, not 1")
    payload = parse_payload(codes[0])  # copied as printed: its signature stays valid
    if not isinstance(payload, BallotRecordPayload):
        raise EncodingError("the card to forge carries a receipt's QR code")
    view = record_view(manifest, payload.style_id, _language_of(text, manifest), choices,
                       payload.ballot_id, test_mode=payload.test)
    return render_ballot_record(view, payload)


def forge_cards(files: Mapping[str, Path], manifest: Manifest,
                forged: Mapping[bytes, Mapping[str, frozenset[str]]]) -> int:
    """``--tamper paper`` as a forger does it, on the paper itself: in the sealed batches,
    each card whose ballot ID is in ``forged`` is replaced by a new card printing those
    choices, with the same ballot ID and a copy of the original's QR code (the kiosk's
    signature covers election, style and ID, never the choices, so the copy verifies).
    The manifest scanned before is unchanged; only a reading of the printed text can see
    the difference. Each batch PDF is rewritten atomically. Returns the cards replaced."""
    replaced = 0
    for path in files.values():
        document = pypdfium2.PdfDocument(path)
        try:
            changed = False
            for index in range(len(document)):
                page = document[index]
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                ballot_id = printed_ballot_id(text)
                if ballot_id is None or ballot_id not in forged:
                    page.close()
                    continue
                card = _forge_page(page, text, manifest, forged[ballot_id])
                page.close()
                document.del_page(index)
                document.import_pages(pypdfium2.PdfDocument(card), [0], index)
                changed = True
                replaced += 1
            if changed:
                buffer = io.BytesIO()
                document.save(buffer)
        finally:
            document.close()
        if changed:
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            temporary.write_bytes(buffer.getvalue())
            os.replace(temporary, path)
    return replaced
