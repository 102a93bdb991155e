"""Official printing: forms, reports, remakes and test decks, under the election's rules.

Everything ``paperchain print`` produces goes through ``OfficialPrinter``, which
enforces what DESIGN.md ("Paper") asks of official printing:

* in a **test election** (``ElectionSetup.test_election``) every page is stamped TEST —
  every form and report page (header, footer, across the page), every card (QR flag,
  stamps, watermark); in a real election no page is;
* a **ballot record is never reprinted from the digital record** in a real election
  (``ReprintRefused``): the only ballot records are those the kiosk printed while the
  voter watched. A test election may print test decks of ballot records;
* a **remake** of a damaged card (docs/spec.md §18.6) is printed from the damaged
  card's own text as read by two people, stamped DUPLICATE with its remake number and
  signed (QR) by the official recording it, together with its remake form. The ledger
  entry (``e2e.remake``) is written by the app layer first.

Pages stream into one ``PaperWriter`` (memory flat in page count).
"""

from __future__ import annotations

from dataclasses import replace

from e2e.errors import StateError, UsageError
from paper.forms import RemakeRecord, remake_form
from paper.layout import LETTER, CardFormat, PaperWriter
from paper.payload import BallotRecordPayload
from paper.reports import ReportDocument
from paper.views import BallotRecordView

__all__ = ["OfficialPrinter", "ReprintRefused"]


class ReprintRefused(StateError):
    """A ballot record printed from the digital record outside test mode."""


class OfficialPrinter:
    """Prints official documents into ``writer`` for a test or a real election."""

    def __init__(self, writer: PaperWriter, *, test_election: bool,
                 card: CardFormat = LETTER) -> None:
        self.writer = writer
        self.test_election = test_election
        self.card = card
        self.documents = 0

    def form(self, document: ReportDocument) -> int:
        """A form or report, stamped TEST iff test election; returns its page count."""
        self.documents += 1
        return self.writer.add_document(replace(document, test=self.test_election),
                                        page=self.card)

    def remake(self, view: BallotRecordView, payload: BallotRecordPayload,
               record: RemakeRecord) -> None:
        """A remade card (DUPLICATE n) followed by its remake form."""
        if view.remake < 1 or payload.remake != view.remake or record.remake != view.remake:
            raise UsageError("a remake is a DUPLICATE card: remake number 1 or more, the same "
                             "on the card, its QR code and its form")
        if str(view.ballot_id) != record.ballot_id:
            raise UsageError("the remake form names another ballot ID than the card")
        self._check_test(view, payload)
        self.writer.add_ballot_record(view, payload, card=self.card)
        self.form(remake_form(record))

    def reprint_ballot_record(self, view: BallotRecordView,
                              payload: BallotRecordPayload) -> None:
        """A ballot record from a digital source (a test deck): test elections only."""
        if not self.test_election:
            raise ReprintRefused(
                "ballot records are never reprinted from the digital record in a real "
                "election: the voter-verified paper is the card the kiosk printed (a damaged "
                "card is remade from its own text, stamped DUPLICATE)")
        if view.remake or payload.remake:
            raise UsageError("a test deck holds original cards; remakes go through remake()")
        self._check_test(view, payload)
        self.writer.add_ballot_record(view, payload, card=self.card)

    def _check_test(self, view: BallotRecordView, payload: BallotRecordPayload) -> None:
        if view.test_mode != self.test_election or payload.test != self.test_election:
            raise UsageError("a card is stamped TEST in a test election and never in a real "
                             "one: this card's TEST flag is wrong")
