"""``paper``: what voters and officials hold in their hands, and reading it back.

* ``paper.ids`` — ballot IDs (128 random bits, Crockford base32 with a check symbol)
  and the printed form of tracking codes;
* ``paper.payload`` — the binary, versioned, signed QR payloads of ballot record cards
  and receipts;
* ``paper.qr`` — QR module matrices (the only ``qrcode`` import);
* ``paper.views`` — what a page shows, already in the reader's language;
* ``paper.layout`` — ballot record cards, receipts, the capacity check and the
  streaming multi-page writer (the only ``reportlab`` import);
* ``paper.pdfstream`` — joins PDFs page tree by page tree, memory flat in page count;
* ``paper.scan`` — reading PDFs and scans back, the ID-level manifest, and the kiosk's
  self-check before a card is released;
* ``paper.samples`` — a made-up election for docs, benchmarks and tests;
* ``paper.manifest_views`` — views filled from the manifest in the voter's language;
  ``paper.capacity`` — the manifest's rule that every style fits one card;
* ``paper.reports`` — reports and forms as documents, drawn on layout's canvas;
  ``paper.forms`` — the official forms; ``paper.official`` — official printing under
  the election's rules (TEST everywhere in a test election, no reprints in a real one);
* ``paper.election`` — what a scanner trusts, read from the ledger;
  ``paper.manifest_csv`` — the ID-level manifest as a file;
* ``paper.kiosk``, ``paper.printing``, ``paper.readback`` — the voting kiosk's library.

Import from the modules themselves; the package re-exports nothing. ``paper`` may
import ``e2e``, never ``tally``. docs/spec.md §18 is the normative text.
"""

__all__: list[str] = []
