"""The wire formats of ``e2e`` in one place: canonical JSON payloads and binary fields.

Ledger payloads are canonical JSON (docs/spec.md §7.1): UTF-8, object keys sorted,
no insignificant white space, no duplicate keys, integers only (no floats), group
elements and exponents as fixed-width lowercase hex, byte strings as lowercase hex.
A decoder re-encodes what it parsed and refuses the payload unless the bytes are
identical, so every payload has exactly one encoding. Every payload object carries
``"version"``; unknown versions and unknown keys are refused.

Binary structures (entries, envelopes) are built from ``u8``, ``u32be``, ``u64be``
and length-prefixed ``field``s; ``Reader`` parses them and refuses truncation and
trailing bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from e2e.errors import EncodingError
from e2e.group import ElementModP, ElementModQ, GroupParameters

__all__ = [
    "JsonObject",
    "ObjectReader",
    "Reader",
    "canonical_json",
    "field",
    "parse_canonical_json",
    "parse_json_object",
    "u8",
    "u32",
    "u64",
]

JsonObject = dict[str, Any]
T = TypeVar("T")

MAX_FIELD = 1 << 30


def u8(n: int) -> bytes:
    return struct.pack(">B", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def field(data: bytes) -> bytes:
    """u32be(len) ‖ data."""
    return u32(len(data)) + data


class Reader:
    """Sequential reader of a binary structure; every error names the structure and offset."""

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._offset = 0
        self._what = what

    def _take(self, count: int, label: str) -> bytes:
        end = self._offset + count
        if end > len(self._data):
            raise EncodingError(
                f"truncated: {label} needs {count} bytes, {len(self._data) - self._offset} left",
                f"{self._what} at byte {self._offset}",
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u8(self, label: str) -> int:
        return int(self._take(1, label)[0])

    def u32(self, label: str) -> int:
        return int(struct.unpack(">I", self._take(4, label))[0])

    def u64(self, label: str) -> int:
        return int(struct.unpack(">Q", self._take(8, label))[0])

    def fixed(self, count: int, label: str) -> bytes:
        return self._take(count, label)

    def field(self, label: str, max_length: int = MAX_FIELD) -> bytes:
        length = self.u32(f"length of {label}")
        if length > max_length:
            raise EncodingError(
                f"{label} is {length} bytes, more than the {max_length} allowed",
                f"{self._what} at byte {self._offset}",
            )
        return self._take(length, label)

    def text(self, label: str, max_length: int = 256) -> str:
        raw = self.field(label, max_length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise EncodingError(f"{label} is not UTF-8", self._what) from None

    def expect(self, expected: bytes, label: str) -> None:
        if self._take(len(expected), label) != expected:
            raise EncodingError(f"{label} is not {expected!r}", self._what)

    def end(self) -> None:
        if self._offset != len(self._data):
            raise EncodingError(
                f"{len(self._data) - self._offset} unexpected trailing bytes", self._what
            )


# --- canonical JSON ---------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The one encoding of a JSON value: sorted keys, no spaces, UTF-8, integers only."""
    _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise EncodingError("floating-point numbers are not allowed in payloads")
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EncodingError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise EncodingError(f"{name} is not allowed in JSON")


def parse_json_object(data: bytes, where: str, max_bytes: int = 64 << 20) -> JsonObject:
    """Parse UTF-8 JSON holding one object, refusing duplicate keys, NaN and floats."""
    if len(data) > max_bytes:
        raise EncodingError(f"{len(data)} bytes is more than the {max_bytes} allowed", where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise EncodingError(f"not UTF-8 (byte {err.start})", where) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_float=lambda s: _refuse_constant(f"the number {s}"),
        )
    except json.JSONDecodeError as err:
        raise EncodingError(f"malformed JSON: {err.msg} (line {err.lineno} column {err.colno})",
                            where) from None
    except EncodingError as err:
        raise err.at(where) from None
    except RecursionError:
        raise EncodingError("malformed JSON: nested too deeply", where) from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise EncodingError(f"malformed JSON: {str(err)[:120]}", where) from None
    if not isinstance(value, dict):
        raise EncodingError(f"expected a JSON object, got {type(value).__name__}", where)
    return value


def parse_canonical_json(data: bytes, where: str) -> JsonObject:
    """Parse a payload and refuse it unless ``data`` is its canonical encoding."""
    value = parse_json_object(data, where)
    try:
        canonical = canonical_json(value)
    except UnicodeEncodeError:  # an escaped unpaired surrogate: no UTF-8 form at all
        raise EncodingError("payload is not in canonical JSON form (a string holds an "
                            "unpaired surrogate)", where) from None
    if canonical != data:
        raise EncodingError("payload is not in canonical JSON form", where)
    return value


class ObjectReader:
    """Typed access to a decoded JSON object: every getter names the path on failure,
    and ``done()`` refuses keys nobody asked for."""

    __slots__ = ("_obj", "_seen", "where")

    def __init__(self, obj: object, where: str) -> None:
        if not isinstance(obj, dict):
            raise EncodingError(f"expected an object, got {type(obj).__name__}", where)
        self._obj: dict[str, Any] = obj
        self._seen: set[str] = set()
        self.where = where

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        if key not in self._obj:
            raise EncodingError(f"missing key {key!r}", self.where)
        return self._obj[key]

    def has(self, key: str) -> bool:
        return key in self._obj

    def raw(self, key: str) -> Any:
        """The value as decoded, unchecked (for values kept verbatim)."""
        return self._get(key)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}"

    def version(self, supported: Iterable[int]) -> int:
        value = self.integer("version")
        allowed = tuple(supported)
        if value not in allowed:
            raise EncodingError(f"unsupported version {value} (this software reads {allowed})",
                                self.path("version"))
        return value

    def integer(self, key: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodingError(f"expected an integer, got {type(value).__name__}", self.path(key))
        if not minimum <= value <= maximum:
            raise EncodingError(f"{value} is outside {minimum}..{maximum}", self.path(key))
        return value

    def string(self, key: str, max_length: int = 4096) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise EncodingError(f"expected a string, got {type(value).__name__}", self.path(key))
        if len(value) > max_length:
            raise EncodingError(f"longer than {max_length} characters", self.path(key))
        return value

    def choice(self, key: str, allowed: Iterable[str]) -> str:
        value = self.string(key)
        options = tuple(allowed)
        if value not in options:
            raise EncodingError(f"{value!r} is not one of {options}", self.path(key))
        return value

    def hex_bytes(self, key: str, length: int | None = None, max_length: int = 1 << 24) -> bytes:
        text = self.string(key, max_length=2 * (length if length is not None else max_length))
        if len(text) % 2 or text.strip("0123456789abcdef"):
            raise EncodingError("expected lowercase hexadecimal", self.path(key))
        raw = bytes.fromhex(text)
        if length is not None and len(raw) != length:
            raise EncodingError(f"expected {length} bytes, got {len(raw)}", self.path(key))
        return raw

    def element(self, key: str, group: GroupParameters) -> ElementModP:
        value = self._get(key)
        return group.element_from_hex(value, self.path(key))

    def exponent(self, key: str, group: GroupParameters) -> ElementModQ:
        value = self._get(key)
        return group.exponent_from_hex(value, self.path(key))

    def obj(self, key: str) -> ObjectReader:
        return ObjectReader(self._get(key), self.path(key))

    def items(self, key: str, max_items: int = 1 << 20) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise EncodingError(f"expected a list, got {type(value).__name__}", self.path(key))
        if len(value) > max_items:
            raise EncodingError(f"more than {max_items} items", self.path(key))
        return value

    def objects(self, key: str, max_items: int = 1 << 20) -> list[ObjectReader]:
        return [
            ObjectReader(item, f"{self.path(key)}[{i}]")
            for i, item in enumerate(self.items(key, max_items))
        ]

    def mapped(self, key: str, parse: Callable[[ObjectReader], T], max_items: int = 1 << 20
               ) -> list[T]:
        """Parse every object of a list, then refuse unknown keys in each."""
        result = []
        for reader in self.objects(key, max_items):
            result.append(parse(reader))
            reader.done()
        return result

    def elements(self, key: str, group: GroupParameters, max_items: int = 1 << 16
                 ) -> list[ElementModP]:
        return [
            group.element_from_hex(item, f"{self.path(key)}[{i}]")
            for i, item in enumerate(self.items(key, max_items))
        ]

    def done(self) -> None:
        unknown = sorted(set(self._obj) - self._seen)
        if unknown:
            raise EncodingError(f"unknown key(s) {', '.join(map(repr, unknown))}", self.where)
