"""tally.batch_manifest: strict reading of Arlo-style batch manifests, with line numbers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.errors import EncodingError, UsageError
from tally.batch_manifest import (
    Batch,
    BatchManifest,
    format_batch_manifest_csv,
    parse_batch_manifest_csv,
    read_batch_manifest_csv,
)

GOOD = "Batch Name,Number of Ballots,Container\r\npct 1,20,box A\r\n\"pct 2, east\",30,\r\n"


def test_reads_batches_in_file_order() -> None:
    manifest = parse_batch_manifest_csv(GOOD)
    assert manifest.batches == (Batch("pct 1", 20, "box A"), Batch("pct 2, east", 30, None))
    assert manifest.total_ballots == 50
    assert manifest.counts() == {"pct 1": 20, "pct 2, east": 30}
    assert manifest.batch("pct 1").container == "box A"
    with pytest.raises(UsageError, match="no batch called"):
        manifest.batch("pct 3")


def test_accepts_byte_order_mark_trailing_blank_lines_and_zero_ballots() -> None:
    text = "\ufeffBatch Name,Number of Ballots\npct 1,0\npct 2, 7 \n\n\n"
    manifest = parse_batch_manifest_csv(text)
    assert manifest.counts() == {"pct 1": 0, "pct 2": 7}


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("", "m.csv", "empty"),
        ("\n\n", "m.csv", "empty"),
        ("Batch Name,Number of Ballots\n", "m.csv", "no batches"),
        ("Batch Name,Ballots\npct,1\n", "m.csv line 1", "unknown column 'Ballots'"),
        ("Batch Name,Number of Ballots,Tabulator\npct,1,t\n", "m.csv line 1", "unknown column"),
        ("Batch Name,Batch Name,Number of Ballots\na,a,1\n", "m.csv line 1", "appears twice"),
        ("Batch Name,Container\npct,box\n", "m.csv line 1", "missing column 'Number of Ballots'"),
        ("Number of Ballots\n3\n", "m.csv line 1", "missing column 'Batch Name'"),
        ("Batch Name,Number of Ballots\npct 1,20\npct 1,3\n", "m.csv line 3", "line 2"),
        ("Batch Name,Number of Ballots\npct 1,20,x\n", "m.csv line 2", "found 3"),
        ("Batch Name,Number of Ballots\npct 1\n", "m.csv line 2", "found 1"),
        ("Batch Name,Number of Ballots\npct 1,2\n\npct 2,3\n", "m.csv line 3", "blank line"),
        ("Batch Name,Number of Ballots\npct 1,-2\n", "m.csv line 2", "digits only"),
        ("Batch Name,Number of Ballots\npct 1,1.5\n", "m.csv line 2", "digits only"),
        ("Batch Name,Number of Ballots\npct 1,\"1,000\"\n", "m.csv line 2", "digits only"),
        ("Batch Name,Number of Ballots\npct 1,\n", "m.csv line 2", "digits only"),
        ("Batch Name,Number of Ballots\npct 1,2000000\n", "m.csv line 2", "outside"),
        ("Batch Name,Number of Ballots\n,2\n", "m.csv line 2", "empty"),
        ("Batch Name,Number of Ballots\npct '1',2\n", "m.csv line 2", "uses"),
        ("Batch Name,Number of Ballots\n pct 1,2\n", "m.csv line 2", "space"),
        ("Batch Name,Number of Ballots\n\"pct\n2\",2\n", "m.csv line 2", "uses"),
        ("Batch Name,Number of Ballots\npct 1,2\n\"pct 2,3\n", "m.csv line 3", "malformed CSV"),
        ("Batch Name,Number of Ballots\n\"pct\"x,2\n", "m.csv line 2", "malformed CSV"),
        ("Batch Name,Number of Ballots\npct 1,2\npct\x00,3\n", "m.csv line 3", "NUL"),
        ("Batch Name,Number of Ballots,Container\npct 1,2,\"a\tb\"\n", "m.csv line 2",
         "container"),
    ],
)
def test_refuses_malformed_manifest_naming_the_line(text: str, where: str, reason: str) -> None:
    with pytest.raises(EncodingError, match=reason) as caught:
        parse_batch_manifest_csv(text, source="m.csv")
    assert caught.value.where == where


def test_refuses_batch_values_built_directly() -> None:
    with pytest.raises(EncodingError, match="integer"):
        Batch("pct 1", 2.0)  # type: ignore[arg-type]
    with pytest.raises(EncodingError, match="outside"):
        Batch("pct 1", -1)
    with pytest.raises(EncodingError, match="container"):
        Batch("pct 1", 1, "")
    with pytest.raises(EncodingError, match="appears twice"):
        BatchManifest((Batch("a", 1), Batch("a", 2)))


def test_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_bytes(GOOD.encode("utf-8"))
    assert read_batch_manifest_csv(path) == parse_batch_manifest_csv(GOOD)


def test_refuses_a_file_that_is_not_utf8_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Batch Name,Number of Ballots\npct 1,2\npcté,3\n".encode("latin-1"))
    with pytest.raises(EncodingError, match="not UTF-8") as caught:
        read_batch_manifest_csv(path)
    assert caught.value.where == f"{path} line 3"


def test_refuses_a_missing_file_without_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_batch_manifest_csv(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="cannot read"):
        read_batch_manifest_csv(tmp_path)


def test_refuses_binary_junk(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(EncodingError):
        read_batch_manifest_csv(path)


names = st.text(alphabet="abcXYZ019 _-.,:;#/()&+", min_size=1, max_size=20).filter(
    lambda s: s == s.strip(" ")
)
containers = st.none() | st.text(alphabet="abc 123,\"'[]é", min_size=1, max_size=10).filter(
    lambda s: s.strip() == s and s != "")


@settings(max_examples=50)
@given(st.dictionaries(names, st.tuples(st.integers(0, 10**6), containers), min_size=1,
                       max_size=6))
def test_written_manifest_reads_back_the_same(batches: dict[str, tuple[int, str | None]]) -> None:
    manifest = BatchManifest(tuple(Batch(n, b, c) for n, (b, c) in batches.items()))
    assert parse_batch_manifest_csv(format_batch_manifest_csv(manifest)) == manifest


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_is_a_manifest_or_an_encoding_error(text: str) -> None:
    # Anything else (IndexError, ValueError, csv.Error) would be a crash on a malformed file.
    with contextlib.suppress(EncodingError):
        manifest = parse_batch_manifest_csv("Batch Name,Number of Ballots\n" + text)
        assert manifest.total_ballots >= 0


def test_refuses_a_file_too_large_to_be_a_manifest(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tally.batch_manifest._MAX_FILE_BYTES", 64)
    path = tmp_path / "big.csv"
    path.write_text("Batch Name,Number of Ballots\n" + "pct 1,2\n" * 10, encoding="utf-8")
    with pytest.raises(EncodingError, match="larger than 64 bytes"):
        read_batch_manifest_csv(path)
