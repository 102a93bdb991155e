"""QR sizing measurements behind paper/qr.py's parameters (results in benchmarks/README.md).

    .venv/bin/python benchmarks/qr_sizing.py [--trials N] [--seed S]

1. **Versions** — the QR version (and side in modules) that the same ballot record and
   receipt payloads need as binary (byte mode), lowercase hex (byte mode), uppercase hex
   (alphanumeric mode), base64 (byte mode) and JSON with hex fields (byte mode), at
   error correction M and Q.
2. **Module size** — for module sizes 0.4–1.0 mm, the share of ballot record QRs that
   decode after printing and a 150 dpi scan: the symbol is rasterised at 1200 dpi,
   area-averaged down to 150 dpi (what a scanner's sensor does), then degraded like a
   cheap print-and-scan (tests/paper/paper_helpers.py: 2–3° skew, blur, toner/paper
   grey, noise, JPEG) in a "typical" and a "harsh" (more blur and noise) profile.
3. **Stains** — the share that decode with 10%, 15% and 20% of the symbol's area under
   dark or light blots, anywhere or sparing the finder patterns, at levels M, Q and H
   (module 0.8 mm, 150 dpi, typical profile).

Every trial draws from one seeded generator, so the figures are reproducible.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "paper"))

from paper_helpers import degrade, stain  # noqa: E402

from e2e.ledger.promise import InclusionPromise  # noqa: E402
from e2e.signing import SigningKey  # noqa: E402
from paper.ids import BallotId  # noqa: E402
from paper.payload import ReceiptStatus, make_ballot_record, make_receipt  # noqa: E402
from paper.qr import QUIET_ZONE_MODULES, ErrorLevel, QrMatrix, make_qr  # noqa: E402
from paper.scan import read_qr_codes  # noqa: E402

ELECTION = "springfield-2026-general"
SCAN_DPI = 150
SUPERSAMPLE_DPI = 1200


def sample_payloads() -> dict[str, bytes]:
    device = SigningKey(bytes([1]) * 32)
    operator = SigningKey(bytes([4]) * 32)
    record = make_ballot_record(device, ELECTION, "precinct-12-b",
                                BallotId(bytes(range(16))), test=False)
    promise = InclusionPromise.issue(operator, ELECTION, 123456, bytes(range(32)))
    receipt = make_receipt(device, ELECTION, bytes(range(100, 132)), ReceiptStatus.CAST,
                           promise, test=False)
    return {"ballot record": record.to_bytes(), "receipt": receipt.to_bytes()}


def _json_form(kind: str, data: bytes) -> bytes:
    """The same fields as JSON with hex byte strings (what a naive encoding would print)."""
    if kind == "ballot record":
        n = data[2]
        election = data[3 : 3 + n].decode()
        m = data[3 + n]
        style = data[4 + n : 4 + n + m].decode()
        rest = data[4 + n + m :]
        obj = {"v": 1, "kind": "ballot-record", "election": election, "style": style,
               "ballot_id": rest[:16].hex(), "flags": rest[16], "sig": rest[-64:].hex()}
    else:
        n = data[2]
        rest = data[3 + n :]
        obj = {"v": 1, "kind": "receipt", "election": data[3 : 3 + n].decode(),
               "tracking_code": rest[:32].hex(), "status": rest[32], "flags": rest[33],
               "promise": {"index": int.from_bytes(rest[34:42], "big"),
                           "leaf_hash": rest[42:74].hex(), "sig": rest[74:138].hex()},
               "sig": rest[-64:].hex()}
    return json.dumps(obj, separators=(",", ":")).encode()


def versions() -> list[dict[str, object]]:
    rows = []
    for kind, data in sample_payloads().items():
        forms = {
            "binary (byte mode)": (data, "byte"),
            "hex, lowercase (byte mode)": (data.hex().encode(), "byte"),
            "HEX, uppercase (alphanumeric)": (data.hex().upper().encode(), "auto"),
            "base64 (byte mode)": (base64.b64encode(data), "byte"),
            "JSON with hex fields (byte mode)": (_json_form(kind, data), "byte"),
        }
        for form, (encoded, mode) in forms.items():
            row: dict[str, object] = {"payload": kind, "form": form, "bytes": len(encoded)}
            for level in (ErrorLevel.M, ErrorLevel.Q):
                matrix = make_qr(encoded, level, mode=mode)
                row[f"version {level}"] = matrix.version
                row[f"modules {level}"] = matrix.size
            rows.append(row)
    return rows


def raster(matrix: QrMatrix, module_mm: float, margin_mm: float = 12.0) -> Image.Image:
    """The symbol as printed at ``module_mm`` and scanned at 150 dpi (area sampling)."""
    quiet = QUIET_ZONE_MODULES * module_mm
    side_mm = matrix.size * module_mm + 2 * (quiet + margin_mm)
    pixels = round(side_mm / 25.4 * SUPERSAMPLE_DPI)
    centres = (np.arange(pixels) + 0.5) * 25.4 / SUPERSAMPLE_DPI - (quiet + margin_mm)
    index = np.floor(centres / module_mm).astype(int)
    inside = (index >= 0) & (index < matrix.size)
    modules = np.array(matrix.rows, dtype=bool)
    fine = np.zeros((pixels, pixels), dtype=bool)
    rows = np.where(inside, index, 0)
    fine[np.ix_(inside, inside)] = modules[np.ix_(rows[inside], rows[inside])]
    image = Image.fromarray(np.where(fine, 0, 255).astype(np.uint8), mode="L")
    scale = SCAN_DPI / SUPERSAMPLE_DPI
    small = (max(1, int(pixels * scale)),) * 2
    return image.resize(small, Image.Resampling.BOX)


PROFILES = {
    "typical": {"blur": (0.6, 1.0), "noise": 10.0},
    "harsh": {"blur": (1.0, 1.5), "noise": 18.0},
}


def survival_by_module(trials: int, rng: np.random.Generator) -> list[dict[str, object]]:
    data = sample_payloads()["ballot record"]
    matrix = make_qr(data, ErrorLevel.Q)
    rows = []
    for module_mm in (0.4, 0.5, 0.6, 0.75, 0.8, 1.0):
        clean = raster(matrix, module_mm)
        row: dict[str, object] = {"module mm": module_mm,
                                  "px/module @150dpi": round(module_mm / 25.4 * SCAN_DPI, 2)}
        for name, profile in PROFILES.items():
            ok = 0
            for trial in range(trials):
                page = degrade(clean, rng, jpeg=trial % 2 == 0, **profile)
                ok += read_qr_codes(page) == [data]
            row[name] = f"{ok}/{trials}"
        rows.append(row)
    return rows


STAINS = {"dark (grey 40-110)": (40, 110), "light (grey 130-180)": (130, 180)}
PLACES = ("anywhere", "finder patterns clear")


def survival_under_stains(trials: int, rng: np.random.Generator) -> list[dict[str, object]]:
    data = sample_payloads()["ballot record"]
    module_mm = 0.8
    rows = []
    for (shade_name, shade), place in itertools.product(STAINS.items(), PLACES):
        for level in (ErrorLevel.M, ErrorLevel.Q, ErrorLevel.H):
            matrix = make_qr(data, level)
            clean = raster(matrix, module_mm)
            px = module_mm / 25.4 * SCAN_DPI
            offset = (12.0 / 25.4 * SCAN_DPI) + QUIET_ZONE_MODULES * px
            side = matrix.size * px
            box = (int(offset), int(offset), int(offset + side), int(offset + side))
            # The three finder patterns with their separators and format information
            # (9 x 9 modules in three corners): a blot there stops detection at any level.
            corner = 9 * px
            finders = (
                (box[0], box[1], int(box[0] + corner), int(box[1] + corner)),
                (int(box[2] - corner + px), box[1], box[2], int(box[1] + corner)),
                (box[0], int(box[3] - corner + px), int(box[0] + corner), box[3]),
            )
            clear = finders if place == PLACES[1] else ()
            row: dict[str, object] = {"stains": shade_name, "where": place,
                                      "level": str(level), "version": matrix.version}
            for fraction in (0.10, 0.15, 0.20):
                ok = 0
                for trial in range(trials):
                    stained = stain(clean, box, fraction, rng, shade, clear)
                    page = degrade(stained, rng, jpeg=trial % 2 == 0, **PROFILES["typical"])
                    ok += read_qr_codes(page) == [data]
                row[f"{fraction:.0%} of area"] = f"{ok}/{trials}"
            rows.append(row)
    return rows


def _table(rows: list[dict[str, object]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per cell (default 40)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print("## QR versions by encoding\n")
    print(_table(versions()))
    print(f"\n## Module size at {SCAN_DPI} dpi (level Q, {args.trials} trials per cell)\n")
    print(_table(survival_by_module(args.trials, rng)))
    print(f"\n## Stains by error correction level (module 0.8 mm, {SCAN_DPI} dpi, "
          f"{args.trials} trials per cell)\n")
    print(_table(survival_under_stains(args.trials, rng)))
    print(f"\n({time.perf_counter() - started:.0f} s, seed {args.seed})")


if __name__ == "__main__":
    main()
