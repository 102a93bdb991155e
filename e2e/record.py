"""The election record: one directory with everything public, written atomically.

docs/spec.md §13.1. Layout::

    RECORD/
      record.json     {"version": 1, "election_id", "entries": N, "root": hex32,
                       "head": {"version": 1, "note": <the final cosigned head, of size N>},
                       "software": "paperchain <version>"}
      ledger.bin      "PCLOG1\\n" then, per envelope in index order, u32be(length) ‖ envelope
      heads.jsonl     one {"version": 1, "note": <signed note>} per line: every head that
                      reached the witness threshold, oldest first (e2e.ledger.heads)
      manifest.json   the manifest's exact bytes (a convenience copy; must equal the setup's)

The record is assembled in a temporary directory beside the target and renamed into
place only when complete, so an interrupted export never leaves a record behind.
``RecordReader.envelopes`` streams the ledger and, when it reaches the end, checks the
count and the RFC 9162 root against ``record.json`` (raising ``RecordError``).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import EncodingError, RecordError, UsageError
from e2e.ledger.entry import leaf_hash_of
from e2e.merkle import node_hash

__all__ = ["RecordReader", "RecordSummary", "StreamingRoot", "export_record", "software_version"]

LEDGER_MAGIC = b"PCLOG1\n"
MAX_ENVELOPE = 64 << 20


def software_version() -> str:
    try:
        return f"paperchain {version('paperchain')}"
    except PackageNotFoundError:
        return "paperchain (development)"


class StreamingRoot:
    """RFC 9162 Merkle tree hash computed leaf by leaf in O(log n) memory.

    Keeps the roots of the complete subtrees of the prefix (sizes the binary digits of
    n, largest first); MTH is their fold from the right.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        level, value = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            value = node_hash(left, value)
            level += 1
        self._stack.append((level, value))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


@dataclass(frozen=True, slots=True)
class RecordSummary:
    election_id: str
    entries: int
    root: bytes
    head: dict[str, Any] | None
    software: str


def export_record(envelopes: Iterable[bytes], manifest_bytes: bytes, election_id: str,
                  directory: Path, head: dict[str, Any] | None = None,
                  heads: Sequence[str] = ()) -> RecordSummary:
    """Write a record of ``envelopes`` into ``directory``, which must not exist yet.

    ``heads`` are the signed notes of the heads history, oldest first; the last one is
    the record's final ``head`` unless ``head`` is given.
    """
    if heads and head is None:
        head = {"version": 1, "note": heads[-1]}
    directory = Path(directory)
    if directory.exists():
        raise UsageError(f"{directory} already exists: a record is never overwritten")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        roots = StreamingRoot()
        with open(staging / "ledger.bin", "wb") as handle:
            handle.write(LEDGER_MAGIC)
            for raw in envelopes:
                handle.write(struct.pack(">I", len(raw)))
                handle.write(raw)
                roots.add(leaf_hash_of(raw))
            handle.flush()
            os.fsync(handle.fileno())
        (staging / "manifest.json").write_bytes(manifest_bytes)
        if heads:
            (staging / "heads.jsonl").write_bytes(b"".join(
                canonical_json({"version": 1, "note": note}) + b"\n" for note in heads))
        summary = RecordSummary(election_id, roots.size, roots.root(), head, software_version())
        document: dict[str, Any] = {
            "version": 1, "election_id": election_id, "entries": summary.entries,
            "root": summary.root.hex(), "software": summary.software,
        }
        if head is not None:
            document["head"] = head
        (staging / "record.json").write_bytes(canonical_json(document))
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


class RecordReader:
    """A record directory, opened read-only and checked as it is streamed."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        where = str(self.directory / "record.json")
        try:
            raw = (self.directory / "record.json").read_bytes()
        except OSError:
            raise RecordError("not an election record (record.json missing)",
                              str(self.directory)) from None
        obj = ObjectReader(parse_json_object(raw, where), where)
        obj.version([1])
        head = obj.raw("head") if obj.has("head") else None
        if head is not None and not isinstance(head, dict):
            raise EncodingError("head must be an object", f"{where}.head")
        self.summary = RecordSummary(
            obj.string("election_id", 64), obj.integer("entries"), obj.hex_bytes("root", 32),
            head, obj.string("software", 128))
        obj.done()
        try:
            self.manifest_bytes = (self.directory / "manifest.json").read_bytes()
        except OSError:
            raise RecordError("manifest.json missing", str(self.directory)) from None

    def head_notes(self) -> list[str]:
        """The heads history (signed notes, oldest first); empty if the record has none."""
        path = self.directory / "heads.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError:
            raise RecordError("heads.jsonl is unreadable", str(self.directory)) from None
        notes = []
        for number, line in enumerate(lines, start=1):
            where = f"{path} line {number}"
            obj = ObjectReader(parse_json_object(line, where), where)
            obj.version([1])
            notes.append(obj.string("note", 1 << 16))
            obj.done()
        return notes

    def final_note(self) -> str | None:
        """The signed note of record.json's final head, if it names one."""
        head = self.summary.head
        if head is None:
            return None
        where = f"{self.directory / 'record.json'}.head"
        obj = ObjectReader(head, where)
        obj.version([1])
        note = obj.string("note", 1 << 16)
        obj.done()
        return note

    def envelopes(self) -> Iterator[bytes]:
        """Each envelope in order; at the end, the count and root are checked."""
        path = self.directory / "ledger.bin"
        roots = StreamingRoot()
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed in finally, streamed
        except OSError:
            raise RecordError("ledger.bin missing", str(self.directory)) from None
        try:
            if handle.read(len(LEDGER_MAGIC)) != LEDGER_MAGIC:
                raise EncodingError("not a Paperchain ledger file", str(path))
            while True:
                prefix = handle.read(4)
                if not prefix:
                    break
                if len(prefix) != 4:
                    raise EncodingError(f"truncated after {roots.size} envelopes", str(path))
                (length,) = struct.unpack(">I", prefix)
                if length > MAX_ENVELOPE:
                    raise EncodingError(f"envelope {roots.size} claims {length} bytes", str(path))
                raw = handle.read(length)
                if len(raw) != length:
                    raise EncodingError(f"envelope {roots.size} is truncated", str(path))
                roots.add(leaf_hash_of(raw))
                yield raw
        finally:
            handle.close()
        if roots.size != self.summary.entries:
            raise RecordError(f"ledger.bin holds {roots.size} entries, record.json says "
                              f"{self.summary.entries}", str(self.directory))
        if roots.root() != self.summary.root:
            raise RecordError("the Merkle root of ledger.bin differs from record.json's",
                              str(self.directory))
