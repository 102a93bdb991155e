"""The audio read-back's reading of a printed ballot record: from a PDF's text layer and
from an image through OCR, in English and Spanish, with undervotes; foreign cards flagged."""

from __future__ import annotations

import io
import os
import shutil

import pypdfium2
import pytest

from e2e.manifest import demo_manifest
from e2e.signing import SigningKey
from paper.ids import BallotId
from paper.layout import render_ballot_record
from paper.manifest_views import record_view
from paper.payload import make_ballot_record
from paper.readback import read_back_scan

MANIFEST = demo_manifest()
STYLE = MANIFEST.ballot_styles[0].id
KEY = SigningKey(bytes(range(32)))


def printed(language: str) -> tuple[bytes, dict[str, tuple[str, ...]]]:
    """A ballot record PDF: the last choice everywhere, the second contest left empty."""
    contests = [c for _, c in MANIFEST.contests_of_style(STYLE)]
    choices = {c.id: frozenset([c.selections[-1].id]) for c in contests}
    choices[contests[1].id] = frozenset()
    ballot_id = BallotId.generate()
    view = record_view(MANIFEST, STYLE, language, choices, ballot_id, test_mode=True)
    pdf = render_ballot_record(view, make_ballot_record(KEY, MANIFEST.election_id, STYLE,
                                                        ballot_id, test=True))
    expected = {c.id: tuple(c.selection(s).label[language] for s in choices[c.id])
                for c in contests}
    return pdf, expected


def as_image(pdf: bytes) -> bytes:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=200 / 72, grayscale=True).to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def read(scan: bytes, language: str, key: SigningKey = KEY) -> dict[str, object]:
    result = read_back_scan(scan, manifest=MANIFEST, style_id=STYLE, language=language,
                            device_keys=[key.verify_key])
    return result.to_json()


@pytest.mark.parametrize("language", ["en", "es"])
def test_reads_the_choices_from_the_pdf_text(language: str) -> None:
    pdf, expected = printed(language)
    seen = read(pdf, language)
    assert seen["text_source"] == "pdf-text"
    assert seen["card_ok"]
    assert seen["problems"] == []
    contests = seen["contests"]
    assert isinstance(contests, list)
    assert {c["contest_id"]: tuple(c["choices"]) for c in contests} == expected
    assert [c["no_selection"] for c in contests] == [not v for v in expected.values()]


def test_flags_a_card_this_kiosk_did_not_print() -> None:
    pdf, _ = printed("en")
    seen = read(pdf, "en", key=SigningKey(bytes(32)))
    assert not seen["card_ok"]
    assert any("QR code" in str(p) for p in seen["problems"])  # type: ignore[union-attr]


def test_refuses_what_is_not_a_scan() -> None:
    from e2e.errors import EncodingError

    with pytest.raises(EncodingError):
        read(b"not a picture", "en")


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "es"])
def test_reads_the_choices_from_an_image_by_ocr(language: str) -> None:
    if shutil.which("tesseract") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tesseract is needed for the read-back's OCR test under CI")
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)")
    pdf, expected = printed(language)
    seen = read(as_image(pdf), language)
    assert seen["text_source"] == "ocr"
    assert seen["card_ok"]
    contests = seen["contests"]
    assert isinstance(contests, list)
    assert {c["contest_id"]: tuple(c["choices"]) for c in contests} == expected
    assert [c["no_selection"] for c in contests] == [not v for v in expected.values()]
