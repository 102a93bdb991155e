"""QR matrices: byte mode, level Q, sizes, and a decoder reading back what was encoded."""

from __future__ import annotations

import base64
import os

import pytest
from paper_helpers import qr_image

from e2e.errors import EncodingError
from paper.qr import ErrorLevel, make_qr
from paper.scan import read_qr_codes


def test_matrix_decodes_back_to_the_same_bytes() -> None:
    for size in (1, 17, 120, 240):
        data = os.urandom(size)
        assert read_qr_codes(qr_image(data)) == [data]


def test_defaults_to_level_q_in_byte_mode() -> None:
    matrix = make_qr(b"0123456789")
    assert matrix.level is ErrorLevel.Q
    # Ten digits in byte mode need version 1 at Q (capacity 11 bytes); as numeric they
    # would too, so check with 12 digits: byte mode overflows version 1, numeric would not.
    assert make_qr(b"012345678901").version == 2
    assert make_qr(b"012345678901", mode="auto").version == 1


def test_size_follows_version() -> None:
    for data in (b"x", os.urandom(100), os.urandom(300)):
        matrix = make_qr(data)
        assert matrix.size == 17 + 4 * matrix.version
        assert all(len(row) == matrix.size for row in matrix.rows)


def test_dark_runs_cover_exactly_the_dark_modules() -> None:
    matrix = make_qr(os.urandom(80))
    covered = {(r, c + i) for r, c, n in matrix.dark_runs() for i in range(n)}
    dark = {(r, c) for r, row in enumerate(matrix.rows) for c, m in enumerate(row) if m}
    assert covered == dark


def test_binary_costs_fewer_versions_than_text_encodings() -> None:
    data = os.urandom(122)  # a ballot record's size
    binary = make_qr(data).version
    assert make_qr(base64.b64encode(data)).version >= binary + 2
    assert make_qr(data.hex().upper().encode(), mode="auto").version >= binary + 2
    assert make_qr(data.hex().encode()).version >= binary + 2


def test_rejects_empty_and_oversized_data() -> None:
    with pytest.raises(EncodingError):
        make_qr(b"")
    with pytest.raises(EncodingError, match="do not fit"):
        make_qr(os.urandom(3000))
    with pytest.raises(EncodingError, match="unknown QR mode"):
        make_qr(b"x", mode="kanji")
