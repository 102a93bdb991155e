"""Paper throughput: printing and scanning pages per second, peak memory of a print run.

    .venv/bin/python benchmarks/bench_paper.py                 # ~1.5 min: 500 printed, 100
                                                               # scanned, 200 in fresh processes
    .venv/bin/python benchmarks/bench_paper.py --full          # fresh-process runs of 1,000
                                                               # and 10,000 instead (~12 min)
    .venv/bin/python benchmarks/bench_paper.py --print-pages N # one print run of N cards only
    .venv/bin/python benchmarks/bench_paper.py --forms-pages N # one official-forms run only

* **print** — ballot record cards (the sample election's small and large styles, one in
  three large) through ``PaperWriter`` into one PDF file on disk: signing the QR
  payload, planning, drawing, joining. Reported as cards per second.
* **receipts** — receipts through the same writer.
* **self-check** — the kiosk's check of one card (render, QR, text layer, comparison).
* **scan** — ``scan_files`` over a PDF of printed cards at 150 dpi (render with
  pypdfium2, decode with zxing-cpp, verify the signature), and over the same pages as
  degraded PNG scans.
* **memory** — peak resident set size of a fresh process printing 200 cards (with
  ``--full``: 1,000 and 10,000 cards, flat in page count if the two are close).
* **scan memory** — a fresh process scanning a PDF of N printed cards at 150 dpi through
  ``scan_files`` into ``build_manifest`` (what ``paperchain scan`` does): pages per
  second and peak memory, for 200 cards (with ``--full``: 1,000 and 10,000).
* **official forms** — ``paper.official.OfficialPrinter`` streaming official forms into
  one PDF: a 40-page retrieval list (1,600 cards), then batch cover sheets, audit-board
  forms and close-of-polls forms in turn, until the run has N pages; in a fresh
  process, 200 pages (with ``--full``: 1,000 and 10,000), for pages per second and
  peak memory.

Single process, single thread; the machine's figures go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "paper"))

from paper_helpers import degrade, render_pages  # noqa: E402

from paper.forms import (  # noqa: E402
    AuditBoardCard,
    AuditContest,
    CloseOfPolls,
    CoverSheet,
    DeviceCount,
    ElectionHeading,
    RetrievalItem,
    RetrievalList,
    audit_board_form,
    close_of_polls_form,
    cover_sheet,
    retrieval_list,
)
from paper.ids import BallotId  # noqa: E402
from paper.layout import PaperWriter, render_ballot_record  # noqa: E402
from paper.official import OfficialPrinter  # noqa: E402
from paper.payload import ReceiptStatus  # noqa: E402
from paper.samples import large_style, sample_election, small_style  # noqa: E402
from paper.scan import (  # noqa: E402
    ScanContext,
    build_manifest,
    scan_files,
    self_check_ballot_record,
)

ELECTION = sample_election()
STYLES = (("precinct-3-a", large_style()), ("precinct-12-b", small_style()),
          ("precinct-12-b", small_style(spanish=True)))


def _cards(count: int, seed: int) -> Iterator[tuple[object, object]]:
    """Cards made on the fly, so a long run holds none of them."""
    rng = random.Random(seed)
    for i in range(count):
        style_id, style = STYLES[i % len(STYLES)]
        yield ELECTION.record(style, style_id, rng)


def _peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss over fork and exec, so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_run(pages: int, path: Path, seed: int = 1) -> dict[str, float]:
    started = time.perf_counter()
    with path.open("wb") as out, PaperWriter(out) as writer:
        for view, payload in _cards(pages, seed):
            writer.add_ballot_record(view, payload)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    return {"pages": pages, "seconds": seconds, "pages_per_second": pages / seconds,
            "file_mb": path.stat().st_size / 1e6, "peak_rss_mb": peak_mb}


def receipt_run(pages: int, path: Path) -> dict[str, float]:
    rng = random.Random(2)
    started = time.perf_counter()
    with path.open("wb") as out, PaperWriter(out) as writer:
        for i in range(pages):
            status = ReceiptStatus.CAST if i % 4 else ReceiptStatus.CHALLENGED
            writer.add_receipt(ELECTION.receipt(rng, status))
    seconds = time.perf_counter() - started
    return {"pages": pages, "seconds": seconds, "pages_per_second": pages / seconds}


def self_check_run(count: int) -> dict[str, float]:
    cards = [(view, payload, render_ballot_record(view, payload))  # type: ignore[arg-type]
             for view, payload in _cards(count, 3)]
    started = time.perf_counter()
    for view, payload, pdf in cards:
        self_check_ballot_record(pdf, view, election_id=ELECTION.election_id,  # type: ignore[arg-type]
                                 style_id=payload.style_id,  # type: ignore[attr-defined]
                                 signer_key=ELECTION.device_key.verify_key)
    seconds = time.perf_counter() - started
    return {"cards": count, "seconds": seconds, "ms_per_card": 1000 * seconds / count}


def scan_run(pdf: Path, pages: int, workdir: Path) -> dict[str, float]:
    context = ScanContext(ELECTION.election_id, (ELECTION.device_key.verify_key,))
    started = time.perf_counter()
    results = list(scan_files([pdf], context))
    seconds_pdf = time.perf_counter() - started
    ok_pdf = sum(r.ok for r in results)
    # The same cards as degraded 150 dpi PNG scans (made before timing).
    noise = np.random.default_rng(4)
    images = []
    for i, page in enumerate(render_pages(pdf.read_bytes(), dpi=150)):
        path = workdir / f"scan-{i:04d}.png"
        degrade(page, noise).save(path)
        images.append(path)
    started = time.perf_counter()
    results = list(scan_files(images, context))
    seconds_png = time.perf_counter() - started
    return {"pages": pages, "pdf_pages_per_second": pages / seconds_pdf, "pdf_ok": ok_pdf,
            "png_pages_per_second": pages / seconds_png, "png_ok": sum(r.ok for r in results)}


def scan_memory_run(pdf: Path) -> dict[str, float]:
    """Scan a PDF of cards into the ID-level manifest, as ``paperchain scan`` does."""
    context = ScanContext(ELECTION.election_id, (ELECTION.device_key.verify_key,))
    started = time.perf_counter()
    manifest = build_manifest([("box", scan_files([pdf], context))])
    seconds = time.perf_counter() - started
    pages = len(manifest.entries)
    return {"pages": pages, "seconds": seconds, "pages_per_second": pages / seconds,
            "flagged": len(manifest.flagged()), "peak_rss_mb": _peak_rss_mb()}


def child_scan(pdf: Path) -> dict[str, float]:
    """A scan in a fresh process, so its peak memory is its own (not the printing's)."""
    out = subprocess.run(
        [sys.executable, __file__, "--scan-pdf", str(pdf), "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


HEADING = ElectionHeading("2026-11-03-springfield-general", "General Election",
                          "Springfield County", "2026-11-03")


def forms_run(pages: int, path: Path, seed: int = 1) -> dict[str, float]:
    """Official forms streamed into one PDF until it holds ``pages`` pages."""
    rng = random.Random(seed)
    items = tuple(RetrievalItem(f"Place {1 + i % 3} box {1 + i // 300}", 1 + i % 300,
                                str(BallotId.generate(rng.randbytes)), f"C-{i // 300:04d}")
                  for i in range(1600))
    contests = tuple(AuditContest(title.text, contest.vote_for,
                                  tuple(o.text for o in contest.options))
                     for contest in small_style().contests for title in (contest.title,))
    started = time.perf_counter()
    with path.open("wb") as out, PaperWriter(out) as writer:
        printer = OfficialPrinter(writer, test_election=False)
        printer.form(retrieval_list(RetrievalList(HEADING, 1, items, "12345678901234567890")))
        number = 0
        while writer.page_count < pages:
            number += 1
            kind = number % 3
            if kind == 0:
                printer.form(close_of_polls_form(CloseOfPolls(HEADING, f"Precinct {number}", (
                    DeviceCount("kiosk-1", 310, 4, True), DeviceCount("kiosk-2", 295, 1, True)))))
            elif kind == 1:
                printer.form(cover_sheet(CoverSheet(HEADING, number, "Precinct 12-B",
                                                    f"Place 1 box {number}", f"C-{number:04d}",
                                                    ("S-1", "S-2"), 100)))
            else:
                printer.form(audit_board_form(AuditBoardCard(
                    HEADING, 1, f"Place 1 box {number}", 1 + number % 100,
                    str(BallotId.generate(rng.randbytes)), "precinct-12-b", contests)))
        written = writer.page_count
    seconds = time.perf_counter() - started
    return {"pages": written, "seconds": seconds, "pages_per_second": written / seconds,
            "file_mb": path.stat().st_size / 1e6, "peak_rss_mb": _peak_rss_mb()}


def child_forms(pages: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--forms-pages", str(pages), "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def child_print(pages: int) -> dict[str, float]:
    """A print run in a fresh process, so its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--print-pages", str(pages), "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help="the fresh-process (memory) runs at 1,000 and 10,000 cards and "
                             "pages instead of 200 (make bench's default)")
    parser.add_argument("--print-pages", type=int, metavar="N",
                        help="only print N cards (in this process) and report")
    parser.add_argument("--forms-pages", type=int, metavar="N",
                        help="only print N pages of official forms (in this process)")
    parser.add_argument("--scan-pages", type=int, metavar="N",
                        help="only print N cards, then scan them in a fresh process")
    parser.add_argument("--scan-pdf", type=Path, metavar="PDF",
                        help="only scan this PDF of sample cards (in this process)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    if args.scan_pdf:
        result = scan_memory_run(args.scan_pdf)
        print(json.dumps(result) if args.json else result)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.print_pages:
            result = print_run(args.print_pages, workdir / "run.pdf")
            print(json.dumps(result) if args.json else result)
            return
        if args.forms_pages:
            result = forms_run(args.forms_pages, workdir / "forms.pdf")
            print(json.dumps(result) if args.json else result)
            return
        if args.scan_pages:
            _scan_memory(args.scan_pages, workdir)
            return
        printed = print_run(500, workdir / "cards.pdf")
        print(f"print: {printed['pages']:.0f} cards in {printed['seconds']:.1f} s = "
              f"{printed['pages_per_second']:.1f} cards/s ({printed['file_mb']:.1f} MB PDF)")
        receipts = receipt_run(200, workdir / "receipts.pdf")
        print(f"receipts: {receipts['pages_per_second']:.1f} receipts/s")
        check = self_check_run(30)
        print(f"self-check: {check['ms_per_card']:.0f} ms per card")
        print_run(100, workdir / "scan-me.pdf", seed=5)
        scanned = scan_run(workdir / "scan-me.pdf", 100, workdir)
        print(f"scan: {scanned['pdf_pages_per_second']:.1f} pages/s from PDF "
              f"({scanned['pdf_ok']}/100 ok), {scanned['png_pages_per_second']:.1f} pages/s "
              f"from degraded 150 dpi PNGs ({scanned['png_ok']}/100 ok)")
        runs = [1000, 10000] if args.full else [200]  # 200: make bench stays < 15 min
        for pages in runs:
            run = child_print(pages)
            print(f"memory: {pages} cards printed in a fresh process: peak RSS "
                  f"{run['peak_rss_mb']:.0f} MB, {run['pages_per_second']:.1f} cards/s, "
                  f"{run['file_mb']:.0f} MB PDF")
        for pages in runs:
            _scan_memory(pages, workdir)
        for pages in runs:
            run = child_forms(pages)
            print(f"official forms: {run['pages']:.0f} pages in a fresh process: peak RSS "
                  f"{run['peak_rss_mb']:.0f} MB, {run['pages_per_second']:.1f} pages/s, "
                  f"{run['file_mb']:.0f} MB PDF")


def _scan_memory(pages: int, workdir: Path) -> None:
    pdf = workdir / f"scan-{pages}.pdf"
    print_run(pages, pdf, seed=6)
    run = child_scan(pdf)
    print(f"scan memory: {run['pages']:.0f} cards scanned from one PDF in a fresh process: "
          f"peak RSS {run['peak_rss_mb']:.0f} MB, {run['pages_per_second']:.1f} pages/s, "
          f"{run['flagged']:.0f} flagged")
    pdf.unlink()


if __name__ == "__main__":
    main()
