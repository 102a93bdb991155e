"""The Arlo-style batch manifest: how many cards each batch of paper holds.

A CSV file with the header ``Batch Name,Number of Ballots`` and optionally ``Container``, one
row per batch (Arlo's ballot-manifest upload, without its ``Tabulator`` column: here a batch
name alone identifies a batch, because it is half of each card's id string in
`tally.sampler`). Reading is strict: every problem is an `EncodingError` naming the line,
never a crash and never a silent repair.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from e2e.errors import EncodingError, PaperchainError, UsageError
from tally.sampler import check_batch_name

__all__ = [
    "BATCH_NAME",
    "CONTAINER",
    "MAX_BALLOTS_PER_BATCH",
    "NUMBER_OF_BALLOTS",
    "Batch",
    "BatchManifest",
    "format_batch_manifest_csv",
    "parse_batch_manifest_csv",
    "read_batch_manifest_csv",
]

BATCH_NAME = "Batch Name"
NUMBER_OF_BALLOTS = "Number of Ballots"
CONTAINER = "Container"

MAX_BALLOTS_PER_BATCH = 1_000_000
"""A larger count is a typo, not a batch (and would make the sampler hash for hours)."""

_MAX_FILE_BYTES = 64 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch: its name, how many cards it holds, and optionally where it is stored."""

    name: str
    ballots: int
    container: str | None = None

    def __post_init__(self) -> None:
        check_batch_name(self.name)
        if isinstance(self.ballots, bool) or not isinstance(self.ballots, int):
            raise EncodingError(f"batch {self.name!r}: the number of ballots must be an integer")
        if not 0 <= self.ballots <= MAX_BALLOTS_PER_BATCH:
            raise EncodingError(
                f"batch {self.name!r}: {self.ballots} ballots is outside 0..{MAX_BALLOTS_PER_BATCH}"
            )
        if self.container is not None and (
            not self.container or len(self.container) > 200 or _CONTROL.search(self.container)
        ):
            raise EncodingError(
                f"batch {self.name!r}: the container must be 1 to 200 printable characters"
            )


@dataclass(frozen=True, slots=True)
class BatchManifest:
    """The batches, in file order; names are distinct."""

    batches: tuple[Batch, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for batch in self.batches:
            if batch.name in seen:
                raise EncodingError(f"batch {batch.name!r} appears twice")
            seen.add(batch.name)

    @property
    def total_ballots(self) -> int:
        """How many cards the manifest lists."""
        return sum(batch.ballots for batch in self.batches)

    def counts(self) -> Mapping[str, int]:
        """Batch name → number of cards, in file order (what `tally.sampler` draws from)."""
        return {batch.name: batch.ballots for batch in self.batches}

    def batch(self, name: str) -> Batch:
        """The batch called ``name``."""
        for batch in self.batches:
            if batch.name == name:
                return batch
        raise UsageError(f"no batch called {name!r} in the manifest")


def parse_batch_manifest_csv(text: str, *, source: str = "batch manifest") -> BatchManifest:
    """Parse the CSV text of a batch manifest; ``source`` names it in error messages."""
    if text.startswith("\ufeff"):  # spreadsheet programs write a byte-order mark
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise EncodingError("a NUL byte: not a CSV text file", f"{source} line {line}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []  # (line the record starts on, fields)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            where = f"{source} line {start}"
            raise EncodingError(f"malformed CSV in the record from here: {err}", where) from None
        rows.append((start, row))
    while rows and rows[-1][1] == []:  # blank lines at the end are harmless
        rows.pop()
    if not rows:
        raise EncodingError(
            "the file is empty; expected the header "
            f"{BATCH_NAME},{NUMBER_OF_BALLOTS}[,{CONTAINER}]",
            source,
        )
    columns = _columns(rows[0][1], f"{source} line {rows[0][0]}")
    batches: list[Batch] = []
    first_line: dict[str, int] = {}
    for line, row in rows[1:]:
        where = f"{source} line {line}"
        if not row:
            raise EncodingError("blank line inside the manifest", where)
        if len(row) != len(columns):
            raise EncodingError(
                f"expected {len(columns)} fields ({', '.join(columns)}), found {len(row)}", where
            )
        fields = dict(zip(columns, row, strict=True))
        batch = _batch(fields, where)
        if batch.name in first_line:
            raise EncodingError(
                f"batch {batch.name!r} already appears on line {first_line[batch.name]}", where
            )
        first_line[batch.name] = line
        batches.append(batch)
    if not batches:
        raise EncodingError("the manifest lists no batches", source)
    return BatchManifest(tuple(batches))


def _columns(header: list[str], where: str) -> list[str]:
    known = (BATCH_NAME, NUMBER_OF_BALLOTS, CONTAINER)
    names = [cell.strip() for cell in header]
    for name in names:
        if name not in known:
            raise EncodingError(
                f"unknown column {name!r}; the columns are {BATCH_NAME!r}, "
                f"{NUMBER_OF_BALLOTS!r} and optionally {CONTAINER!r}",
                where,
            )
    for name in set(names):
        if names.count(name) > 1:
            raise EncodingError(f"column {name!r} appears twice", where)
    for name in (BATCH_NAME, NUMBER_OF_BALLOTS):
        if name not in names:
            raise EncodingError(f"missing column {name!r}", where)
    return names


def _batch(fields: Mapping[str, str], where: str) -> Batch:
    count = fields[NUMBER_OF_BALLOTS].strip()
    if not _DIGITS.fullmatch(count):
        raise EncodingError(
            f"{NUMBER_OF_BALLOTS} must be a whole number written with digits only, "
            f"got {fields[NUMBER_OF_BALLOTS]!r}",
            where,
        )
    container = fields.get(CONTAINER)
    try:
        return Batch(
            name=fields[BATCH_NAME],
            ballots=int(count),
            container=None if container is None or container.strip() == "" else container.strip(),
        )
    except PaperchainError as err:
        raise EncodingError(err.reason, where) from None


def read_batch_manifest_csv(path: str | Path) -> BatchManifest:
    """Read and parse a batch manifest file (UTF-8, optionally with a byte-order mark)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as err:
        reason = f"cannot read the batch manifest: {err.strerror or err}"
        raise UsageError(reason, str(file)) from None
    if len(data) > _MAX_FILE_BYTES:
        raise EncodingError(f"larger than {_MAX_FILE_BYTES} bytes: not a batch manifest", str(file))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise EncodingError(
            f"not UTF-8 text (byte {err.start}: {data[err.start:err.start + 1]!r})",
            f"{file} line {line}",
        ) from None
    return parse_batch_manifest_csv(text, source=str(file))


def format_batch_manifest_csv(manifest: BatchManifest) -> str:
    """The manifest as Arlo's CSV (with a Container column if any batch has a container)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    with_container = any(batch.container is not None for batch in manifest.batches)
    header = [BATCH_NAME, NUMBER_OF_BALLOTS] + ([CONTAINER] if with_container else [])
    writer.writerow(header)
    for batch in manifest.batches:
        row = [batch.name, str(batch.ballots)]
        if with_container:
            row.append(batch.container or "")
        writer.writerow(row)
    return out.getvalue()
