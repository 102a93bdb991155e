"""Canonical JSON payloads and binary readers (docs/spec.md §7.1–7.3)."""

from __future__ import annotations

import json

import pytest

from e2e.encoding import ObjectReader, Reader, canonical_json, field, parse_canonical_json, u64
from e2e.errors import EncodingError, PaperchainError
from e2e.group import TEST_GROUP
from e2e.ledger.entry import GENESIS_PREVIOUS, Envelope, decode_entry, decode_envelope
from e2e.ledger.types import EntryType
from e2e.official import PhaseNote
from e2e.verify import RecordVerifier
from tests.strategies import CeremonyScript


def test_canonical_json_is_the_specified_form() -> None:
    value = {"z": [1, -2, {"b": "é\n\x01\x7f\"\\", "a": 0}], "a": "x", "version": 1}
    assert canonical_json(value) == (
        b'{"a":"x","version":1,"z":[1,-2,{"a":0,"b":"\xc3\xa9\\n\\u0001\x7f\\"\\\\"}]}')
    assert parse_canonical_json(canonical_json(value), "x") == value


@pytest.mark.parametrize("data", [
    b'{"version": 1}', b'{"b":1,"a":2}', b'{"a":"\\u00e9"}', b'{"a":1}\n', b'\xef\xbb\xbf{"a":1}',
])
def test_rejects_payload_that_is_not_in_canonical_form(data: bytes) -> None:
    with pytest.raises(EncodingError):
        parse_canonical_json(data, "payload")


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a":1,"a":1}', "duplicate key 'a'"),
    (b'{"a":1.0}', "not allowed"),
    (b'{"a":1e0}', "not allowed"),
    (b'{"a":NaN}', "NaN is not allowed"),
    (b'[1]', "expected a JSON object"),
    (b'{"a":', "malformed JSON"),
    (b'{"a":"\xff"}', "not UTF-8"),
    (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    (b'{"a":' + b"9" * 5000 + b"}", "malformed JSON"),  # beyond Python's digit limit
])
def test_rejects_malformed_payload(data: bytes, reason: str) -> None:
    with pytest.raises(EncodingError, match=reason):
        parse_canonical_json(data, "payload")


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc00\\ud800"])
def test_rejects_payload_with_an_unpaired_surrogate(escape: str) -> None:
    # JSON can spell a lone surrogate; UTF-8 cannot encode it. The refusal must be an
    # EncodingError like any other bad payload, never a UnicodeEncodeError.
    data = b'{"note":"' + escape.encode() + b'","version":1}'
    with pytest.raises(EncodingError, match="canonical"):
        parse_canonical_json(data, "payload")
    with pytest.raises(EncodingError):
        PhaseNote.decode(data, "payload")


def test_verifier_reports_an_unencodable_payload_instead_of_crashing() -> None:
    script = CeremonyScript.create(TEST_GROUP)
    script.add("official-1", EntryType.SETUP, script.setup.to_payload())
    script.run_attempt()
    script.add("official-1", EntryType.VOTING_OPEN, b'{"note":"\\ud800","version":1}')
    envelopes, previous = [], GENESIS_PREVIOUS
    for index, (_, entry) in enumerate(script.entries):
        envelope = Envelope(index, previous, entry.encode())
        envelopes.append(envelope.encode())
        previous = envelope.leaf_hash
    verifier = RecordVerifier(None, allow_test_group=True)
    report = verifier.run(envelopes)
    last = len(envelopes) - 1
    assert [f.where for f in report.findings if f.where.startswith(f"ledger entry {last}")]
    assert verifier.context is not None  # everything before it was checked


def test_object_reader_refuses_unknown_missing_and_mistyped_keys() -> None:
    reader = ObjectReader({"version": 1, "n": True, "s": 5, "extra": 0}, "p")
    assert reader.version([1]) == 1
    with pytest.raises(EncodingError, match="expected an integer, got bool"):
        reader.integer("n")
    with pytest.raises(EncodingError, match="expected a string"):
        reader.string("s")
    with pytest.raises(EncodingError, match="missing key 'absent'"):
        reader.integer("absent")
    with pytest.raises(EncodingError, match="unknown key"):
        reader.done()
    with pytest.raises(EncodingError, match="unsupported version 1"):
        ObjectReader({"version": 1}, "p").version([2])


def test_binary_reader_refuses_truncation_and_trailing_bytes() -> None:
    data = field(b"abc") + u64(7)
    reader = Reader(data, "structure")
    assert reader.field("name") == b"abc"
    assert reader.u64("count") == 7
    reader.end()
    with pytest.raises(EncodingError, match="truncated"):
        Reader(data[:-1], "structure").fixed(len(data), "all")
    trailing = Reader(data + b"\x00", "structure")
    trailing.field("name")
    trailing.u64("count")
    with pytest.raises(EncodingError, match="trailing"):
        trailing.end()


def test_entry_and_envelope_layouts_are_the_specified_ones(closed_script) -> None:  # type: ignore[no-untyped-def]
    _, entry = closed_script.entries[0]
    encoded = entry.encode()
    assert encoded == (b"PCLE\x01" + field(entry.entry_type.encode())
                       + field(entry.election_id.encode()) + field(entry.writer_id.encode())
                       + u64(entry.sequence) + field(entry.payload) + field(entry.signature))
    assert decode_entry(encoded) == entry
    envelope = Envelope(5, bytes(range(32)), encoded)
    assert envelope.encode() == b"PCEV\x01" + u64(5) + bytes(range(32)) + field(encoded)
    assert decode_envelope(envelope.encode()) == envelope
    for bad in (b"PCLX" + encoded[4:], encoded[:4] + b"\x02" + encoded[5:], encoded + b"\x00",
                encoded[:-1]):
        with pytest.raises(PaperchainError):
            decode_entry(bad)


def test_canonical_json_refuses_floats() -> None:
    with pytest.raises(EncodingError, match="floating-point"):
        canonical_json({"a": [1, 2.5]})
    assert json.loads(canonical_json({"big": 2**70})) == {"big": 2**70}
