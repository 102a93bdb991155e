"""Any single changed value of an election record makes ``verify`` fail and name the item;
nothing half-written is ever a record.

The record is a small demo's (test group, 6 voters, no audit): every file of it —
``manifest.json`` (any character), each entry of ``ledger.bin``, ``record.json``,
``heads.jsonl`` — is changed one byte at a time and verified again with the code
``paperchain verify`` runs (``tally.verify.verify_record``). An export interrupted
half-way leaves no directory behind, a record is never overwritten, and the demo refuses
a directory that holds another election.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.errors import PaperchainError, RecordError, UsageError
from e2e.ledger.entry import decode_envelope
from e2e.record import RecordReader, export_record
from paperchain.demo import DemoConfig, run_demo
from tally.verify import verify_record
from tests.strategies import FAST_KDF

pytestmark = pytest.mark.slow

MAGIC = b"PCLOG1\n"


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    outcome = run_demo(DemoConfig(out=out, voters=6, test_group=True, kdf_limits=FAST_KDF,
                                  audit=False))
    assert outcome.report.ok, outcome.report.findings
    return outcome.record


def _copy(record: Path, target: Path) -> Path:
    copy = target / "record"
    shutil.copytree(record, copy)
    return copy


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _findings(record: Path) -> list[str]:
    report = verify_record(record, allow_test_group=True)
    return [str(f) for f in report.findings]


def _envelope_spans(path: Path) -> Iterator[tuple[int, int, int]]:
    """(ledger index, offset of the envelope's first byte, its length) in ledger.bin."""
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    offset, index = len(MAGIC), 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        yield index, offset + 4, length
        offset += 4 + length
        index += 1


def test_the_demo_record_verifies(record: Path) -> None:
    assert _findings(record) == []


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.75, 0.99])
def test_any_changed_character_of_the_manifest_copy_is_named(record: Path, tmp_path: Path,
                                                            fraction: float) -> None:
    copy = _copy(record, tmp_path)
    manifest = copy / "manifest.json"
    _flip(manifest, int(fraction * (manifest.stat().st_size - 1)))
    findings = _findings(copy)
    assert findings
    assert any(f.startswith("record manifest.json") for f in findings), findings


def test_every_ledger_entry_changed_in_one_byte_is_named(record: Path, tmp_path: Path) -> None:
    """One byte in the middle of each envelope in turn (its entry: payload or signature):
    the record fails and a finding names that very ledger entry."""
    spans = list(_envelope_spans(record / "ledger.bin"))
    assert len(spans) == RecordReader(record).summary.entries
    kinds = set()
    for index, start, length in spans:
        copy = tmp_path / f"entry-{index}"
        shutil.copytree(record, copy)
        _flip(copy / "ledger.bin", start + length // 2)
        findings = _findings(copy)
        assert any(f.startswith(f"ledger entry {index} ") or f.startswith(f"ledger entry {index}:")
                   for f in findings), (index, findings)
        kinds.add(decode_envelope((record / "ledger.bin").read_bytes()[start:start + length])
                  .entry().entry_type)
    # Every kind of entry of an election was among them.
    assert {"setup", "ceremony-commitments", "ceremony-close", "ballot", "challenge",
            "device-close", "tally", "decryption-share", "results"} <= kinds


def test_changed_length_prefix_is_found(record: Path, tmp_path: Path) -> None:
    """The stream is unreadable past entry 5: a finding (or a refusal), never a pass."""
    copy = _copy(record, tmp_path)
    _, start, _ = list(_envelope_spans(copy / "ledger.bin"))[5]
    _flip(copy / "ledger.bin", start - 2)
    try:
        findings = _findings(copy)
    except PaperchainError as err:
        findings = [str(err)]
    assert findings
    assert any("ledger entry 5" in f or "entry 4" in f for f in findings), findings


@pytest.mark.parametrize("key", ["root", "entries"])
def test_changed_record_summary_is_found(record: Path, tmp_path: Path, key: str) -> None:
    copy = _copy(record, tmp_path)
    document = json.loads((copy / "record.json").read_bytes())
    if key == "root":
        document["root"] = ("0" if document["root"][0] != "0" else "1") + document["root"][1:]
    else:
        document["entries"] -= 1
    (copy / "record.json").write_bytes(json.dumps(document, separators=(",", ":"),
                                                  sort_keys=True).encode())
    findings = _findings(copy)
    assert any("record" in f for f in findings), findings


def test_changed_head_signature_is_found(record: Path, tmp_path: Path) -> None:
    copy = _copy(record, tmp_path)
    lines = (copy / "heads.jsonl").read_bytes().splitlines(keepends=True)
    note = json.loads(lines[0])["note"]
    signature_line = note.rstrip("\n").split("\n")[-1]
    name, _, sig = signature_line.rpartition(" ")
    changed = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
    lines[0] = json.dumps({"note": note.replace(signature_line, f"{name} {changed}"),
                           "version": 1}, separators=(",", ":"), ensure_ascii=False
                          ).encode() + b"\n"
    (copy / "heads.jsonl").write_bytes(b"".join(lines))
    findings = _findings(copy)
    assert any("heads" in f for f in findings), findings


# --- nothing half-written ---------------------------------------------------------------------


def test_interrupted_export_leaves_no_record(record: Path, tmp_path: Path) -> None:
    reader = RecordReader(record)

    def interrupted() -> Iterator[bytes]:
        for n, raw in enumerate(reader.envelopes()):
            if n == 10:
                raise KeyboardInterrupt
            yield raw

    target = tmp_path / "out" / "record"
    with pytest.raises(KeyboardInterrupt):
        export_record(interrupted(), reader.manifest_bytes, reader.summary.election_id, target)
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []  # the staging directory is gone too


def test_staging_left_by_a_killed_export_is_not_a_record(record: Path, tmp_path: Path) -> None:
    """A kill -9 during export leaves ``.record.XXXX`` with ledger.bin but no record.json
    (written last): it is not a record, and verifying it is refused, never passed."""
    staging = tmp_path / ".record.abc123"
    staging.mkdir()
    shutil.copy(record / "ledger.bin", staging / "ledger.bin")
    shutil.copy(record / "manifest.json", staging / "manifest.json")
    with pytest.raises(RecordError, match=r"record\.json missing"):
        verify_record(staging, allow_test_group=True)


def test_a_record_is_never_overwritten(record: Path, tmp_path: Path) -> None:
    copy = _copy(record, tmp_path)
    reader = RecordReader(record)
    with pytest.raises(UsageError, match="never overwritten"):
        export_record(reader.envelopes(), reader.manifest_bytes, reader.summary.election_id,
                      copy)
    assert _findings(copy) == []


def test_demo_refuses_a_directory_holding_another_election(record: Path) -> None:
    out = record.parent
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(UsageError, match="may hold another election"):
        run_demo(DemoConfig(out=out, voters=6, test_group=True, kdf_limits=FAST_KDF,
                            audit=False))
    assert sorted(p.name for p in out.iterdir()) == before
    assert _findings(record) == []
