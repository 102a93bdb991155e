"""QR symbols as module matrices (the only module that imports ``qrcode``).

The layout draws the matrix as vector rectangles, so a QR is as sharp on paper as the
printer allows and the PDF holds no raster image. Parameters (docs/spec.md §18.3,
measured by benchmarks/qr_sizing.py, figures in benchmarks/README.md):

* **Byte mode**, always: payloads are binary. The same ballot record as base64 or
  uppercase hex needs 2 more versions at level Q (9 → 11), as lowercase hex 5 more,
  as JSON 6 more; the receipt 3 to 9 more. Fewer modules per side means bigger
  modules in the same space.
* **Error correction Q** (~25% of codewords recoverable) by default: with dark blots
  over 15% of the symbol (finder patterns spared), Q decoded 38 of 40 scans and M 22
  of 40. A blot on a finder pattern stops detection at every level; the printed
  ballot ID, typed in by hand, is the fallback for such a card.
* **Module size 0.8 mm** (``MODULE_MM``, at least 0.75 mm): 4.7 pixels per module in a
  150 dpi scan. Under heavy blur and noise every scan decoded at 0.75 mm and above,
  36/40 at 0.6 mm, 13/40 at 0.5 mm.
* **Quiet zone of 4 modules** (ISO/IEC 18004 §6.3.8) that the layout keeps blank.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import qrcode
import qrcode.constants
import qrcode.exceptions
from qrcode.util import MODE_8BIT_BYTE, QRData

from e2e.errors import EncodingError

__all__ = [
    "MODULE_MM",
    "QUIET_ZONE_MODULES",
    "ErrorLevel",
    "QrMatrix",
    "make_qr",
]

MODULE_MM = 0.8
QUIET_ZONE_MODULES = 4


class ErrorLevel(StrEnum):
    L = "L"
    M = "M"
    Q = "Q"
    H = "H"


_LEVELS = {
    ErrorLevel.L: qrcode.constants.ERROR_CORRECT_L,
    ErrorLevel.M: qrcode.constants.ERROR_CORRECT_M,
    ErrorLevel.Q: qrcode.constants.ERROR_CORRECT_Q,
    ErrorLevel.H: qrcode.constants.ERROR_CORRECT_H,
}


@dataclass(frozen=True, slots=True)
class QrMatrix:
    """A QR symbol: ``rows[r][c]`` is True for a dark module. No quiet zone included."""

    version: int
    level: ErrorLevel
    rows: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        """Modules per side (17 + 4 × version)."""
        return len(self.rows)

    def dark_runs(self) -> Iterator[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length).

        Drawing runs rather than single modules keeps the PDF small and leaves no
        hairline seams between neighbouring modules when a renderer anti-aliases.
        """
        for r, row in enumerate(self.rows):
            c = 0
            size = len(row)
            while c < size:
                if row[c]:
                    start = c
                    while c < size and row[c]:
                        c += 1
                    yield r, start, c - start
                else:
                    c += 1


def make_qr(
    data: bytes,
    level: ErrorLevel = ErrorLevel.Q,
    *,
    mode: str = "byte",
) -> QrMatrix:
    """The smallest QR symbol holding ``data`` at ``level``.

    ``mode="byte"`` (the only one Paperchain prints) forces byte mode. ``mode="auto"``
    lets the library choose numeric/alphanumeric segments; it exists for the sizing
    measurements that compare text encodings.
    """
    if not isinstance(data, bytes) or not data:
        raise EncodingError("QR data must be non-empty bytes")
    code = qrcode.QRCode(error_correction=_LEVELS[ErrorLevel(level)], border=0, box_size=1)
    if mode == "byte":
        code.add_data(QRData(data, mode=MODE_8BIT_BYTE), optimize=0)
    elif mode == "auto":
        code.add_data(data, optimize=20)
    else:
        raise EncodingError(f"unknown QR mode {mode!r}")
    try:
        code.make(fit=True)
    except qrcode.exceptions.DataOverflowError:
        raise EncodingError(
            f"{len(data)} bytes do not fit in any QR version at level {level}"
        ) from None
    except ValueError as err:
        if "Invalid version" in str(err):  # fit=True ran past version 40
            raise EncodingError(
                f"{len(data)} bytes do not fit in any QR version at level {level}"
            ) from None
        # qrcode 8.2 fails when one Reed-Solomon block's data codewords are all zero
        # (lincolnloop/python-qrcode#330, fixed after 8.2). Signed payloads never hold
        # ~20 zero bytes in a row, so this is reported, not worked around.
        raise EncodingError(f"the qrcode library could not encode this data: {err}") from None
    modules = code.get_matrix()
    return QrMatrix(
        version=int(code.version),
        level=ErrorLevel(level),
        rows=tuple(tuple(bool(m) for m in row) for row in modules),
    )
