"""The election manifest: what is on the ballot, read from JSON and checked.

docs/spec.md ("The manifest") is the normative text; ``e2e/manifest.schema.json`` is
its JSON Schema (Draft 2020-12). A manifest, version 1::

    {
      "version": 1,
      "election_id": "springfield-2026-general",
      "name": {"en": "Springfield General Election", "es": "Elección General de Springfield"},
      "jurisdiction": {"en": "City of Springfield", "es": "Ciudad de Springfield"},
      "date": "2026-11-03",
      "languages": ["en", "es"],
      "contests": [
        {"id": "mayor", "title": {"en": "Mayor", "es": "Alcalde"},
         "kind": "plurality", "vote_for": 1, "winners": 1,
         "selections": [{"id": "alice", "label": {"en": "Alice Adams", "es": "Alice Adams"}},
                        ...]},
        {"id": "measure-a", "title": {...}, "kind": "supermajority", "vote_for": 1,
         "threshold": {"numerator": 2, "denominator": 3},
         "selections": [{"id": "yes", ...}, {"id": "no", ...}]}
      ],
      "ballot_styles": [{"id": "ward-1", "label": {...}, "contests": ["mayor", "measure-a"]}]
    }

Contest kinds, all decided by per-selection totals (DESIGN.md, "The evidence chain", 7):

* ``plurality`` — vote for up to ``vote_for`` (k); the ``winners`` selections with the
  most votes win (1 <= winners <= k); k > 1 is "vote-for-k".
* ``approval`` — vote for up to ``vote_for`` (at most every selection); the
  ``winners`` selections with the most approvals win (winners <= selections).
* ``supermajority`` — exactly two selections, first "yes", then "no"; vote for one.
  The first wins when its votes are more than ``threshold`` × (votes for the first +
  votes for the second), with 1/2 <= threshold < 1 (SHANGRLA's supermajority, Stark
  2020 §2.2); otherwise the second wins. No ``winners`` field.

Ranked-choice contests (or any other ranked kind) are refused: the audit design covers
only contests decided by per-selection totals.

The indices that proofs are bound to are positions: a contest's index is its position
in ``contests``, a selection's index its position in its contest's ``selections``.
A ballot style lists contest ids in manifest order, each once. ``contest.limit`` (the
L of a contest's range proof) is its ``vote_for``.

The manifest hash is SHA-256 over the file's exact bytes (``e2e.hashing.manifest_hash``),
so a ``Manifest`` keeps the bytes it was read from (``source_bytes``) and their hash
(``digest``), and is only ever built from bytes: ``Manifest(data)`` (or ``from_bytes``,
``load``) parses and checks, and two manifests are equal when their bytes are.

Checking happens in layers, each error a ``ManifestError`` whose ``where`` names the
place, as a JSON path (``contests[2].selections[1].label``) or a position in the file
(``line 3 column 5``):

1. the bytes: at most ``MAX_MANIFEST_BYTES``, UTF-8 without a byte-order mark, one JSON
   object with no repeated key in any object, integers only, nesting no deeper than
   ``MAX_NESTING``;
2. the version, then the contest kinds (so a ranked-choice contest is named as such);
3. the JSON Schema (shapes, patterns, lengths, counts), first error in document order;
4. the rules the schema cannot say, checked by the constructors of the values below
   (``Text``, ``Selection``, ``Contest``, ``BallotStyle``) and by ``Manifest``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import jsonschema

from e2e.errors import ManifestError, UsageError
from e2e.hashing import manifest_hash

__all__ = [
    "ENGLISH",
    "MANIFEST_VERSION",
    "MAX_MANIFEST_BYTES",
    "MAX_NESTING",
    "BallotStyle",
    "Contest",
    "ContestKind",
    "Manifest",
    "Selection",
    "Text",
    "demo_manifest",
    "manifest_schema",
]

MANIFEST_VERSION: Final = 1
MAX_MANIFEST_BYTES: Final = 1 << 20  # 1 MiB
MAX_NESTING: Final = 16  # a valid manifest nests 7 deep (contests[i].selections[j].label.en)
ENGLISH: Final = "en"  # every manifest has English; Text.get falls back to it

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Characters no text may hold: C0 and C1 controls (tabs and newlines included), lone
# surrogates, line and paragraph separators, and the bidirectional embeddings,
# overrides and isolates that make a label display other than it reads.
_FORBIDDEN_CHARACTER = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_RANKED = re.compile(
    r"rank|instant.?run.?off|\birv\b|\bstv\b|preferential|transferable|borda|condorcet",
    re.IGNORECASE,
)
_SCHEMA_PATH: Final = Path(__file__).with_name("manifest.schema.json")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_MAX_INTEGER_DIGITS = 18
_TOP = "manifest"  # ``where`` of an error about the whole document


# --- paths and errors ---------------------------------------------------------------


def _key_path(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key)}]"


def _join(where: str, inner: str | None) -> str:
    """``where`` + ``inner`` as one JSON path (``contests[2]`` + ``vote_for``)."""
    if not inner:
        return where
    if not where or where == _TOP:
        return inner
    return where + (inner if inner.startswith("[") else "." + inner)


def _within(where: str, error: ManifestError) -> ManifestError:
    """``error``, raised by a part, located inside ``where``."""
    located = ManifestError(error.reason, _join(where, error.where))
    located.__cause__ = error.__cause__
    return located


def _show(value: object) -> str:
    """A short, unambiguous rendering of a JSON value for an error message."""
    if isinstance(value, _Refused):
        return value.text
    text = json.dumps(value, ensure_ascii=True) if _is_json(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


def _json_type(value: object) -> str:
    if isinstance(value, _Refused):
        return "a " + value.kind
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- layer 1: bytes to a JSON value ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Refused:
    """Left by the JSON decoder where a value is refused, to be reported with its path."""

    kind: str  # what it is, e.g. "non-integer number"
    text: str  # how it is shown
    reason: str


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Refused:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            return _Refused(
                "object with a repeated key",
                "{...}",
                f"the key {_show(key)} appears more than once in this object",
            )
        obj[key] = value
    return obj


def _float(text: str) -> _Refused:
    return _Refused("non-integer number", text, f"must be an integer, not {text}")


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        return _Refused("huge integer", text[:20] + "...", "integer has too many digits")
    return int(text)


def _constant(text: str) -> _Refused:
    return _Refused("non-JSON constant", text, f"{text} is not valid JSON")


def _decode(data: bytes) -> Any:
    """The JSON value in ``data``, or a ManifestError naming the byte, line or path."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"the file is {len(data)} bytes long; a manifest is at most {MAX_MANIFEST_BYTES}",
            _TOP,
        )
    if not data.strip():
        raise ManifestError("the file is empty", _TOP)
    if data.startswith(_UTF8_BOM):
        raise ManifestError(
            "the file starts with a byte-order mark; save it as UTF-8 without one", "byte 0"
        )
    if data.startswith(_UTF16_BOMS):
        raise ManifestError("the file is UTF-16; a manifest is UTF-8", "byte 0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError("not valid UTF-8", f"byte {err.start}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_pairs,
            parse_float=_float,
            parse_int=_integer,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as err:
        raise ManifestError(
            f"not valid JSON: {err.msg}", f"line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise ManifestError(f"nested deeper than {MAX_NESTING} levels", _TOP) from None
    _check_decoded(value)
    return value


def _check_decoded(value: Any) -> None:
    """Refuse the first ``_Refused`` in document order, and nesting beyond MAX_NESTING."""
    stack: list[tuple[Any, str, int]] = [(value, _TOP, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, _Refused):
            raise ManifestError(item.reason, where)
        if isinstance(item, dict | list):
            if depth >= MAX_NESTING:
                raise ManifestError(f"nested deeper than {MAX_NESTING} levels", where)
            children = (
                [(v, _join(where, _key_path(k))) for k, v in item.items()]
                if isinstance(item, dict)
                else [(v, f"{where if where != _TOP else ''}[{i}]") for i, v in enumerate(item)]
            )
            stack.extend((v, w, depth + 1) for v, w in reversed(children))


# --- layer 2: version and contest kinds ---------------------------------------------------


def _check_version_and_kinds(document: Mapping[str, Any]) -> None:
    version = document.get("version", MANIFEST_VERSION)
    if type(version) is not int or version != MANIFEST_VERSION:
        raise ManifestError(
            f"unsupported manifest version {_show(version)}; "
            f"this software reads version {MANIFEST_VERSION}",
            "version",
        )
    contests = document.get("contests")
    if not isinstance(contests, list):
        return
    for i, contest in enumerate(contests):
        kind = contest.get("kind") if isinstance(contest, dict) else None
        if not isinstance(kind, str) or kind in {member.value for member in ContestKind}:
            continue
        where = f"contests[{i}].kind"
        if _RANKED.search(kind):
            raise ManifestError(
                f"contest kind {_show(kind)} is refused: ranked-choice contests are not "
                "supported, because the audit design covers only contests decided by "
                "per-selection totals (plurality, vote-for-k, approval, supermajority)",
                where,
            )
        raise ManifestError(
            f"unknown contest kind {_show(kind)}; "
            f"a contest is one of {', '.join(map(_show, ContestKind))}",
            where,
        )


# --- layer 3: the JSON Schema -----------------------------------------------------------


@cache
def _schema_text() -> str:
    # Read beside this module, not through importlib.resources: on Python 3.11 that
    # fails for a namespace package under an editable install, which e2e once was.
    return _SCHEMA_PATH.read_text("utf-8")


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (Draft 2020-12), as a fresh dictionary."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def _inline(node: Any, definitions: Mapping[str, Any]) -> Any:
    """``node`` with every local ``{"$ref": "#/$defs/x"}`` replaced by its definition.

    Same meaning (the schema has no recursion, and no ``$ref`` has a sibling keyword
    the definition also has), several times faster to validate with: resolving
    references dominates jsonschema's time on a large manifest.
    """
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline(value, definitions) for key, value in node.items() if key != "$defs"}
    reference = inlined.pop("$ref", None)
    if reference is None:
        return inlined
    target = _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
    if set(target) & set(inlined):
        raise ValueError(f"cannot inline {reference} beside {sorted(inlined)}")
    return {**target, **inlined}


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = manifest_schema()
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(_inline(schema, schema["$defs"]), format_checker=cls.FORMAT_CHECKER)


# Among errors at the same place, the one a reader should fix first.
_KEYWORD_RANK: Final = {
    "type": 0,
    "const": 1,
    "enum": 1,
    "required": 2,
    "additionalProperties": 3,
    "not": 3,
}


def _document_position(document: Any, path: Sequence[str | int]) -> tuple[int, ...]:
    """Where ``path`` is in the document, as positions: sorts errors in reading order."""
    position = []
    node = document
    for step in path:
        if isinstance(node, dict) and isinstance(step, str):
            keys = list(node)
            position.append(keys.index(step) if step in node else len(keys))
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int):
            position.append(step)
            node = node[step] if 0 <= step < len(node) else None
        else:
            position.append(0)
    return tuple(position)


def _json_path(path: Sequence[str | int]) -> str:
    where = ""
    for step in path:
        where = f"{where}[{step}]" if isinstance(step, int) else _join(where, _key_path(step))
    return where or _TOP


def _describe(error: jsonschema.ValidationError) -> str:
    """A reader's sentence for one schema error (``where`` is given separately)."""
    keyword = error.validator
    value = error.validator_value
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    description = schema.get("description")
    if keyword == "required":
        missing = [name for name in value if name not in instance]
        return f"missing field {_show(missing[0])}"
    if keyword == "additionalProperties" and value is False:
        unknown = [key for key in instance if key not in schema.get("properties", {})]
        return f"unknown field {_show(unknown[0])}"
    if keyword == "not":
        return description or "not allowed here"
    if keyword == "type":
        wanted = {"object": "an object", "array": "an array", "string": "a string"}
        return f"must be {wanted.get(value, 'an ' + str(value))}, not {_json_type(instance)}"
    if keyword in ("pattern", "format"):
        return f"{description or 'has the wrong form'}, not {_show(instance)}"
    if keyword == "const":
        return f"{description or 'must be ' + _show(value)}, not {_show(instance)}"
    if keyword == "enum":
        return f"must be one of {', '.join(map(_show, value))}, not {_show(instance)}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters"
    if keyword == "maxLength":
        return f"must be at most {value} characters long (this is {len(instance)})"
    if keyword == "minItems":
        return "must not be empty" if value == 1 else f"must list at least {value} items"
    if keyword == "maxItems":
        return f"must list at most {value} items (this lists {len(instance)})"
    if keyword == "minProperties":
        return "must not be empty"
    if keyword == "maxProperties":
        return f"must have at most {value} entries"
    if keyword == "minimum":
        return f"must be at least {value}, not {_show(instance)}"
    if keyword == "maximum":
        return f"must be at most {value}, not {_show(instance)}"
    if keyword == "uniqueItems":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                return f"lists {_show(item)} more than once"
            seen.append(item)
    return error.message


def _check_schema(document: Any) -> None:
    errors = list(_validator().iter_errors(document))
    if not errors:
        return
    first = min(
        errors,
        key=lambda e: (
            _document_position(document, list(e.absolute_path)),
            _KEYWORD_RANK.get(str(e.validator), 9),
        ),
    )
    raise ManifestError(_describe(first), _json_path(list(first.absolute_path)))


# --- layer 4: the values, each checking its own rules ---------------------------------------


def _check_id(value: object, where: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ManifestError(
            "must be 1 to 63 lowercase ASCII letters, digits or hyphens, starting with a "
            f"letter or digit, not {_show(value)}",
            where,
        )


def _check_language(value: object, where: str | None) -> None:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise ManifestError(
            f'must be a language code, as in "en", "es-419" or "zh-Hant-TW", not {_show(value)}',
            where,
        )


@dataclass(frozen=True, slots=True)
class Text(Mapping[str, str]):
    """A text in several languages: a read-only mapping language code → string.

    Inside a manifest every text holds exactly the manifest's languages, in the
    manifest's order. Every text holds English (``"en"``), the fallback of ``get``.
    Each string holds something other than white space and no control character,
    lone surrogate, line or paragraph separator or bidirectional override.
    """

    entries: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple):
            raise ManifestError("a text's entries must be a tuple of (language, string) pairs")
        seen: set[str] = set()
        for entry in self.entries:
            if not (isinstance(entry, tuple) and len(entry) == 2):
                raise ManifestError("a text's entries must be (language, string) pairs")
            language, text = entry
            _check_language(language, None)
            if language in seen:
                raise ManifestError(f"language {_show(language)} appears twice")
            seen.add(language)
            if not isinstance(text, str):
                raise ManifestError(f"must be a string, not {_json_type(text)}", language)
            if not text.strip():
                raise ManifestError("must hold more than white space", language)
            forbidden = _FORBIDDEN_CHARACTER.search(text)
            if forbidden:
                raise ManifestError(
                    f"holds the character U+{ord(forbidden.group()):04X} at position "
                    f"{forbidden.start()}; texts hold no control, separator or "
                    "bidirectional-override characters",
                    language,
                )
        if ENGLISH not in seen:
            raise ManifestError(f'missing language "{ENGLISH}" (English is required)')

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> Text:
        """A text from a mapping, e.g. ``Text.of({"en": "Mayor", "es": "Alcalde"})``."""
        return cls(tuple(texts.items()))

    def __getitem__(self, language: str) -> str:
        for entry_language, text in self.entries:
            if entry_language == language:
                return text
        raise KeyError(language)

    def __iter__(self) -> Iterator[str]:
        return (language for language, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, language: str, default: str | None = None) -> str:  # type: ignore[override]
        """The text in ``language``; if it has none, ``default`` if given, else English."""
        for entry_language, text in self.entries:
            if entry_language == language:
                return text
        return default if default is not None else self[ENGLISH]

    @property
    def english(self) -> str:
        """The English text."""
        return self[ENGLISH]


@dataclass(frozen=True, slots=True)
class Selection:
    """One choice in a contest: a candidate, or "yes"/"no" of a measure.

    Its index (what proofs are bound to) is its position in ``Contest.selections``.
    """

    id: str
    label: Text

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        if not isinstance(self.label, Text):
            raise ManifestError("must be a Text", "label")


class ContestKind(StrEnum):
    """How a contest is decided; every kind is decided by per-selection totals."""

    PLURALITY = "plurality"  # vote for up to k; the `winners` most-voted win
    APPROVAL = "approval"  # vote for any up to k; the `winners` most-approved win
    SUPERMAJORITY = "supermajority"  # yes/no; yes wins above `threshold` of yes + no


@dataclass(frozen=True, slots=True)
class Contest:
    """One contest. Its index is its position in ``Manifest.contests``.

    ``vote_for`` is the selection limit L (``limit``): a ballot marks 0..L of the
    ``selections``, each at most once. ``winners`` is how many selections win;
    a supermajority contest has ``winners`` 1 and a ``threshold`` t, 1/2 <= t < 1:
    its first selection wins when it has more than t of the votes for either.
    """

    id: str
    title: Text
    kind: ContestKind
    vote_for: int
    selections: tuple[Selection, ...]
    winners: int = 1
    threshold: Fraction | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        if not isinstance(self.title, Text):
            raise ManifestError("must be a Text", "title")
        if not isinstance(self.kind, ContestKind):
            raise ManifestError(f"must be a ContestKind, not {self.kind!r}", "kind")
        if not isinstance(self.selections, tuple) or not self.selections:
            raise ManifestError("must be a non-empty tuple of selections", "selections")
        first_seen: dict[str, int] = {}
        for j, selection in enumerate(self.selections):
            if not isinstance(selection, Selection):
                raise ManifestError("must be a Selection", f"selections[{j}]")
            if selection.id in first_seen:
                raise ManifestError(
                    f"selection id {_show(selection.id)} is already used by "
                    f"selections[{first_seen[selection.id]}]",
                    f"selections[{j}].id",
                )
            first_seen[selection.id] = j
        count = len(self.selections)
        if type(self.vote_for) is not int or not 1 <= self.vote_for <= count:
            raise ManifestError(
                f"must be between 1 and the number of selections ({count}), not {self.vote_for!r}",
                "vote_for",
            )
        if type(self.winners) is not int or self.winners < 1:
            raise ManifestError(f"must be at least 1, not {self.winners!r}", "winners")
        if self.kind is ContestKind.SUPERMAJORITY:
            self._check_supermajority()
            return
        if self.threshold is not None:
            raise ManifestError(
                f"only a supermajority contest has a threshold, not a {self.kind} one",
                "threshold",
            )
        if self.kind is ContestKind.PLURALITY and self.winners > self.vote_for:
            raise ManifestError(
                f"a plurality contest elects at most vote_for ({self.vote_for}) winners, "
                f"not {self.winners}",
                "winners",
            )
        if self.winners > count:
            raise ManifestError(
                f"cannot elect {self.winners} winners from {count} selections", "winners"
            )

    def _check_supermajority(self) -> None:
        if len(self.selections) != 2:
            raise ManifestError(
                "a supermajority contest has exactly two selections, the first (yes) "
                f"needing the threshold, then the second (no); this has {len(self.selections)}",
                "selections",
            )
        if self.vote_for != 1:
            raise ManifestError(
                f"a supermajority contest has vote_for 1, not {self.vote_for}", "vote_for"
            )
        if self.winners != 1:
            raise ManifestError("a supermajority contest has no winners count", "winners")
        if not isinstance(self.threshold, Fraction):
            raise ManifestError("a supermajority contest needs a threshold", "threshold")
        if not Fraction(1, 2) <= self.threshold < 1:
            raise ManifestError(
                f"must be at least 1/2 and less than 1, not {self.threshold}", "threshold"
            )

    @property
    def limit(self) -> int:
        """L, the most selections a ballot may mark (the range proof's bound)."""
        return self.vote_for

    def selection_index(self, selection_id: str) -> int:
        """The index (position) of the selection ``selection_id``."""
        for j, selection in enumerate(self.selections):
            if selection.id == selection_id:
                return j
        raise UsageError(f"contest {self.id!r} has no selection {selection_id!r}")

    def selection(self, selection_id: str) -> Selection:
        """The selection ``selection_id``."""
        return self.selections[self.selection_index(selection_id)]


@dataclass(frozen=True, slots=True)
class BallotStyle:
    """The contests one ballot holds, by id, in manifest order, each once."""

    id: str
    label: Text
    contests: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        if not isinstance(self.label, Text):
            raise ManifestError("must be a Text", "label")
        if not isinstance(self.contests, tuple) or not self.contests:
            raise ManifestError("a ballot style holds at least one contest", "contests")
        first_seen: dict[str, int] = {}
        for i, contest_id in enumerate(self.contests):
            _check_id(contest_id, f"contests[{i}]")
            if contest_id in first_seen:
                raise ManifestError(
                    f"contest {_show(contest_id)} is already listed at contests"
                    f"[{first_seen[contest_id]}]",
                    f"contests[{i}]",
                )
            first_seen[contest_id] = i


# --- from a checked document to values ---------------------------------------------------


def _text(obj: Mapping[str, str], languages: tuple[str, ...], where: str) -> Text:
    """The text at ``where``, which must hold exactly the manifest's ``languages``."""
    for language in languages:
        if language not in obj:
            raise ManifestError(f"missing language {_show(language)}", where)
    for language in obj:
        if language not in languages:
            raise ManifestError(
                f"language {_show(language)} is not one of the manifest's languages", where
            )
    try:
        return Text(tuple((language, obj[language]) for language in languages))
    except ManifestError as err:
        raise _within(where, err) from None


def _contest(obj: Mapping[str, Any], languages: tuple[str, ...], where: str) -> Contest:
    selections = []
    for j, item in enumerate(obj["selections"]):
        at = f"{where}.selections[{j}]"
        label = _text(item["label"], languages, f"{at}.label")
        try:
            selections.append(Selection(item["id"], label))
        except ManifestError as err:
            raise _within(at, err) from None
    title = _text(obj["title"], languages, f"{where}.title")
    threshold = obj.get("threshold")
    try:
        return Contest(
            id=obj["id"],
            title=title,
            kind=ContestKind(obj["kind"]),
            vote_for=obj["vote_for"],
            selections=tuple(selections),
            winners=obj.get("winners", 1),
            threshold=(
                None
                if threshold is None
                else Fraction(threshold["numerator"], threshold["denominator"])
            ),
        )
    except ManifestError as err:
        raise _within(where, err) from None


def _style(obj: Mapping[str, Any], languages: tuple[str, ...], where: str) -> BallotStyle:
    label = _text(obj["label"], languages, f"{where}.label")
    try:
        return BallotStyle(obj["id"], label, tuple(obj["contests"]))
    except ManifestError as err:
        raise _within(where, err) from None


def _date(value: str, where: str) -> date:
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ManifestError(f"must be a calendar date written YYYY-MM-DD, not {_show(value)}", where)


def _check_unique(ids: Sequence[str], where: str, noun: str) -> None:
    first_seen: dict[str, int] = {}
    for i, item_id in enumerate(ids):
        if item_id in first_seen:
            raise ManifestError(
                f"{noun} id {_show(item_id)} is already used by {where}[{first_seen[item_id]}]",
                f"{where}[{i}].id",
            )
        first_seen[item_id] = i


def _check_styles(contests: tuple[Contest, ...], styles: tuple[BallotStyle, ...]) -> None:
    index = {contest.id: i for i, contest in enumerate(contests)}
    on_a_style: set[str] = set()
    for s, style in enumerate(styles):
        previous = -1
        for i, contest_id in enumerate(style.contests):
            where = f"ballot_styles[{s}].contests[{i}]"
            if contest_id not in index:
                raise ManifestError(f"no contest has the id {_show(contest_id)}", where)
            if index[contest_id] < previous:
                raise ManifestError(
                    f"contest {_show(contest_id)} (contests[{index[contest_id]}]) comes after "
                    f"{_show(style.contests[i - 1])} (contests[{previous}]) in the manifest; "
                    "a ballot style lists its contests in manifest order",
                    where,
                )
            previous = index[contest_id]
            on_a_style.add(contest_id)
    for i, contest in enumerate(contests):
        if contest.id not in on_a_style:
            raise ManifestError(
                f"contest {_show(contest.id)} is on no ballot style", f"contests[{i}]"
            )


def _parse(data: bytes) -> dict[str, Any]:
    """Every derived field of ``Manifest``, from its bytes, after every check."""
    document = _decode(data)
    if not isinstance(document, dict):
        raise ManifestError(f"a manifest is a JSON object, not {_json_type(document)}", _TOP)
    _check_version_and_kinds(document)
    _check_schema(document)

    languages = tuple(document["languages"])
    for i, language in enumerate(languages):
        _check_language(language, f"languages[{i}]")
    if ENGLISH not in languages:
        raise ManifestError(
            f'must include "{ENGLISH}": every manifest has English, the fallback language',
            "languages",
        )
    _check_id(document["election_id"], "election_id")
    election_date = _date(document["date"], "date")
    name = _text(document["name"], languages, "name")
    jurisdiction = _text(document["jurisdiction"], languages, "jurisdiction")
    contests = tuple(
        _contest(obj, languages, f"contests[{i}]") for i, obj in enumerate(document["contests"])
    )
    _check_unique([c.id for c in contests], "contests", "contest")
    styles = tuple(
        _style(obj, languages, f"ballot_styles[{i}]")
        for i, obj in enumerate(document["ballot_styles"])
    )
    _check_unique([s.id for s in styles], "ballot_styles", "ballot style")
    _check_styles(contests, styles)

    return {
        "digest": manifest_hash(data),
        "version": document["version"],
        "election_id": document["election_id"],
        "name": name,
        "jurisdiction": jurisdiction,
        "date": election_date,
        "languages": languages,
        "contests": contests,
        "ballot_styles": styles,
        **_lookups(contests, styles),
    }


def _lookups(contests: tuple[Contest, ...], styles: tuple[BallotStyle, ...]) -> dict[str, Any]:
    """The read-only indices behind ``Manifest``'s lookups."""
    contest_index = {contest.id: i for i, contest in enumerate(contests)}
    return {
        "_contest_index": MappingProxyType(contest_index),
        "_styles": MappingProxyType({style.id: style for style in styles}),
        "_style_contests": MappingProxyType(
            {
                style.id: tuple(
                    (contest_index[c], contests[contest_index[c]]) for c in style.contests
                )
                for style in styles
            }
        ),
    }


# The fields a pickle carries; the lookups are rebuilt from them.
_PICKLED_FIELDS: Final = (
    "source_bytes",
    "digest",
    "version",
    "election_id",
    "name",
    "jurisdiction",
    "date",
    "languages",
    "contests",
    "ballot_styles",
)


def _unpickle(*values: Any) -> Manifest:
    """A ``Manifest`` from its pickled fields (a pickle is trusted: it can run code)."""
    manifest = object.__new__(Manifest)
    fields = dict(zip(_PICKLED_FIELDS, values, strict=True))
    fields.update(_lookups(fields["contests"], fields["ballot_styles"]))
    for name, value in fields.items():
        object.__setattr__(manifest, name, value)
    return manifest


# --- the manifest ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Manifest:
    """An election manifest, checked, with the exact bytes it was read from.

    ``Manifest(data)`` parses and checks ``data`` (raising ``ManifestError``); every
    other field is derived from it, so two manifests are equal (and hash alike)
    exactly when their bytes are. ``digest`` is the manifest hash,
    SHA-256(``source_bytes``), bound into H_B (docs/spec.md, "Hashing").
    """

    source_bytes: bytes
    digest: bytes = field(init=False, compare=False)
    version: int = field(init=False, compare=False)
    election_id: str = field(init=False, compare=False)
    name: Text = field(init=False, compare=False)
    jurisdiction: Text = field(init=False, compare=False)
    date: date = field(init=False, compare=False)
    languages: tuple[str, ...] = field(init=False, compare=False)
    contests: tuple[Contest, ...] = field(init=False, compare=False)
    ballot_styles: tuple[BallotStyle, ...] = field(init=False, compare=False)
    _contest_index: Mapping[str, int] = field(init=False, compare=False)
    _styles: Mapping[str, BallotStyle] = field(init=False, compare=False)
    _style_contests: Mapping[str, tuple[tuple[int, Contest], ...]] = field(
        init=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.source_bytes, bytes):
            raise ManifestError(
                f"a manifest is read from bytes, not {type(self.source_bytes).__name__}"
            )
        for name, value in _parse(self.source_bytes).items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Manifest:
        """Parse and check a manifest from its file's bytes."""
        return cls(bytes(data))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Manifest:
        """Read, parse and check the manifest file at ``path``."""
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_MANIFEST_BYTES + 1)
        except OSError as err:
            raise ManifestError(f"cannot read the manifest: {err.strerror}", str(path)) from None
        return cls(data)

    def __repr__(self) -> str:
        return f"Manifest({self.election_id!r}, digest={self.digest.hex()[:16]}...)"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled (e.g. to a process pool) as its parsed fields, not re-checked on
        # arrival: checking a large manifest costs far more than unpickling it.
        return (_unpickle, tuple(getattr(self, name) for name in _PICKLED_FIELDS))

    def __copy__(self) -> Manifest:
        return self

    def __deepcopy__(self, memo: object) -> Manifest:
        return self

    @property
    def default_language(self) -> str:
        """The first of ``languages``: what a ballot shows unless the voter picks another."""
        return self.languages[0]

    def contest_index(self, contest_id: str) -> int:
        """The index (position in ``contests``) of the contest ``contest_id``."""
        try:
            return self._contest_index[contest_id]
        except KeyError:
            raise UsageError(f"the manifest has no contest {contest_id!r}") from None

    def contest(self, contest_id: str) -> Contest:
        """The contest ``contest_id``."""
        return self.contests[self.contest_index(contest_id)]

    def style(self, style_id: str) -> BallotStyle:
        """The ballot style ``style_id``."""
        try:
            return self._styles[style_id]
        except KeyError:
            raise UsageError(f"the manifest has no ballot style {style_id!r}") from None

    def contests_of_style(self, style_id: str) -> tuple[tuple[int, Contest], ...]:
        """(contest index, contest) for each contest of a ballot style, in manifest order."""
        try:
            return self._style_contests[style_id]
        except KeyError:
            raise UsageError(f"the manifest has no ballot style {style_id!r}") from None


def demo_manifest() -> Manifest:
    """The manifest ``paperchain demo`` runs (``e2e/data/demo_manifest.json``)."""
    return Manifest(resources.files("e2e.data").joinpath("demo_manifest.json").read_bytes())
