"""The election manifest: format, the two layers of checks, the parsed value, the hash.

Each rule has a negative test named after the failure it proves. Rules the schema and
the constructors both enforce are tested in each layer separately (``schema_error``
checks the schema alone; direct construction checks the Python rule alone), so
removing either makes a test fail.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e import manifest as manifest_module
from e2e.errors import InputError, ManifestError, UsageError
from e2e.hashing import manifest_hash
from e2e.manifest import (
    MAX_MANIFEST_BYTES,
    BallotStyle,
    Contest,
    ContestKind,
    Manifest,
    Selection,
    Text,
    demo_manifest,
    manifest_schema,
)

DEMO = demo_manifest()
DEMO_DOCUMENT: dict[str, Any] = json.loads(DEMO.source_bytes)


# --- helpers ----------------------------------------------------------------------------


def document() -> dict[str, Any]:
    """A fresh, editable copy of the demo manifest's JSON document."""
    return copy.deepcopy(DEMO_DOCUMENT)


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def refused(edit: Callable[[dict[str, Any]], object]) -> ManifestError:
    """The error the demo manifest, edited by ``edit``, is refused with."""
    doc = document()
    edit(doc)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(encode(doc))
    return caught.value


def refused_bytes(data: bytes) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(data)
    return caught.value


def schema_errors(edit: Callable[[dict[str, Any]], object]) -> list[jsonschema.ValidationError]:
    """What the JSON Schema alone says of the edited demo document."""
    doc = document()
    edit(doc)
    cls = jsonschema.Draft202012Validator
    return list(cls(manifest_schema(), format_checker=cls.FORMAT_CHECKER).iter_errors(doc))


def text(en: str = "Label", es: str = "Etiqueta") -> Text:
    return Text.of({"en": en, "es": es})


def selections(*ids: str) -> tuple[Selection, ...]:
    return tuple(Selection(i, text(i, i)) for i in ids)


def contest(**changes: Any) -> Contest:
    fields: dict[str, Any] = {
        "id": "mayor",
        "title": text("Mayor", "Alcalde"),
        "kind": ContestKind.PLURALITY,
        "vote_for": 1,
        "selections": selections("a", "b", "c"),
        "winners": 1,
        "threshold": None,
    }
    fields.update(changes)
    return Contest(**fields)


def measure(**changes: Any) -> Contest:
    fields: dict[str, Any] = {
        "kind": ContestKind.SUPERMAJORITY,
        "selections": selections("yes", "no"),
        "threshold": Fraction(2, 3),
    }
    fields.update(changes)
    return contest(**fields)


def contest_at(doc: dict[str, Any], contest_id: str) -> dict[str, Any]:
    (found,) = (c for c in doc["contests"] if c["id"] == contest_id)
    return found


# --- the demo manifest and the parsed value ------------------------------------------------


def test_demo_manifest_loads_with_the_contests_the_demo_needs() -> None:
    assert DEMO.version == 1
    assert DEMO.election_id == "springfield-2026-general"
    assert DEMO.languages == ("en", "es")
    assert DEMO.default_language == "en"
    assert str(DEMO.date) == "2026-11-03"
    kinds = [(c.kind, c.vote_for, c.winners, len(c.selections)) for c in DEMO.contests]
    assert (ContestKind.PLURALITY, 1, 1, 4) in kinds
    assert any(k == ContestKind.PLURALITY and vf == 2 and n in (4, 5) for k, vf, _, n in kinds)
    assert any(k == ContestKind.APPROVAL for k, *_ in kinds)
    thresholds = [c.threshold for c in DEMO.contests if c.kind is ContestKind.SUPERMAJORITY]
    assert Fraction(2, 3) in thresholds
    assert len(DEMO.ballot_styles) == 2
    shared = set(DEMO.ballot_styles[0].contests) & set(DEMO.ballot_styles[1].contests)
    assert shared
    assert shared != set(DEMO.ballot_styles[0].contests)


def test_demo_ballot_styles_fit_one_printed_card() -> None:
    for style in DEMO.ballot_styles:
        pairs = DEMO.contests_of_style(style.id)
        assert len(pairs) <= 6
        assert sum(len(c.selections) for _, c in pairs) <= 25


def test_contests_of_style_gives_manifest_indices_in_order() -> None:
    for style in DEMO.ballot_styles:
        pairs = DEMO.contests_of_style(style.id)
        assert [c.id for _, c in pairs] == list(style.contests)
        assert [i for i, _ in pairs] == sorted(i for i, _ in pairs)
        for index, found in pairs:
            assert DEMO.contests[index] is found
            assert DEMO.contest_index(found.id) == index


def test_lookups_find_contests_styles_and_selections() -> None:
    mayor = DEMO.contest("mayor")
    assert mayor is DEMO.contests[0]
    assert DEMO.style("ward-2").id == "ward-2"
    assert mayor.selection_index(mayor.selections[2].id) == 2
    assert mayor.selection(mayor.selections[1].id) is mayor.selections[1]
    council = DEMO.contest("city-council")
    assert council.limit == council.vote_for == 2


@pytest.mark.parametrize(
    "lookup",
    [
        lambda: DEMO.contest("dog-catcher"),
        lambda: DEMO.contest_index("dog-catcher"),
        lambda: DEMO.style("ward-9"),
        lambda: DEMO.contests_of_style("ward-9"),
        lambda: DEMO.contest("mayor").selection_index("nobody"),
    ],
)
def test_lookup_of_unknown_id_raises_usage_error(lookup: Callable[[], object]) -> None:
    with pytest.raises(UsageError):
        lookup()


def test_manifest_keeps_exact_bytes_and_their_hash() -> None:
    data = (Path(manifest_module.__file__).parent / "data" / "demo_manifest.json").read_bytes()
    assert DEMO.source_bytes == data
    assert DEMO.digest == manifest_hash(data) == hashlib.sha256(data).digest()


def test_same_content_in_other_bytes_is_another_manifest() -> None:
    compact = json.dumps(DEMO_DOCUMENT, ensure_ascii=False, separators=(",", ":")).encode()
    other = Manifest.from_bytes(compact)
    assert other.contests == DEMO.contests
    assert other.digest != DEMO.digest
    assert other != DEMO


def test_manifest_is_immutable_hashable_and_equal_by_bytes() -> None:
    again = Manifest.from_bytes(bytearray(DEMO.source_bytes))
    assert again == DEMO
    assert hash(again) == hash(DEMO)
    assert len({DEMO, again}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO.election_id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO.contests[0].vote_for = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        DEMO.contest("mayor").title["en"] = "Dictator"  # type: ignore[index]
    assert not hasattr(DEMO, "__dict__")


def test_manifest_survives_pickling_and_copying() -> None:
    restored = pickle.loads(pickle.dumps(DEMO))
    assert restored == DEMO
    for name in ("digest", "election_id", "name", "date", "languages", "contests", "ballot_styles"):
        assert getattr(restored, name) == getattr(DEMO, name)
    assert restored.contests_of_style("ward-1") == DEMO.contests_of_style("ward-1")
    assert restored.contest_index("measure-b") == 6
    assert copy.deepcopy(DEMO) is DEMO


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(DEMO.source_bytes)
    assert Manifest.load(path) == DEMO
    assert Manifest.load(str(path)).digest == DEMO.digest


def test_load_of_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        Manifest.load(tmp_path / "absent.json")


def test_refuses_oversized_file_on_load(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(DEMO.source_bytes + b" " * MAX_MANIFEST_BYTES)
    with pytest.raises(ManifestError, match="at most"):
        Manifest.load(path)


def test_english_need_not_be_the_default_language() -> None:
    doc = document()
    doc["languages"] = ["es", "en"]
    manifest = Manifest.from_bytes(encode(doc))
    assert manifest.default_language == "es"
    # Texts are kept in the manifest's language order, whatever the file's key order.
    assert list(manifest.name) == ["es", "en"]


def test_accepts_english_only_manifest() -> None:
    doc = json.loads(json.dumps(DEMO_DOCUMENT).replace(', "es": ', ', "x-removed": '))
    doc["languages"] = ["en"]

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "x-removed"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    manifest = Manifest.from_bytes(encode(strip(doc)))
    assert manifest.languages == ("en",)


def test_accepts_simple_majority_threshold_and_uncontested_race() -> None:
    doc = document()
    contest_at(doc, "measure-a")["threshold"] = {"numerator": 1, "denominator": 2}
    ward = contest_at(doc, "ward-1-council")
    del ward["selections"][1:]
    manifest = Manifest.from_bytes(encode(doc))
    assert manifest.contest("measure-a").threshold == Fraction(1, 2)
    assert len(manifest.contest("ward-1-council").selections) == 1


def test_manifest_module_imports_neither_tally_nor_paper() -> None:
    code = (
        "import sys, e2e.manifest; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tally', 'paper')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_exist() -> None:
    for name in manifest_module.__all__:
        assert hasattr(manifest_module, name)


# --- Text --------------------------------------------------------------------------------


def test_text_get_falls_back_to_english() -> None:
    label = Text.of({"en": "Yes", "es": "Sí"})
    assert label.get("es") == "Sí"
    assert label.get("fr") == "Yes"
    assert label.get("fr", "Oui") == "Oui"
    assert label.english == "Yes"


def test_text_is_a_read_only_mapping() -> None:
    label = Text.of({"en": "Yes", "es": "Sí"})
    assert isinstance(label, Mapping)
    assert dict(label) == {"en": "Yes", "es": "Sí"}
    assert "es" in label
    assert "fr" not in label
    assert len(label) == 2
    with pytest.raises(KeyError):
        label["fr"]
    assert hash(label) == hash(Text.of({"en": "Yes", "es": "Sí"}))


def test_refuses_text_without_english() -> None:
    with pytest.raises(ManifestError, match='missing language "en"'):
        Text.of({"es": "Sí"})


def test_refuses_text_with_a_language_twice() -> None:
    with pytest.raises(ManifestError, match="twice"):
        Text((("en", "Yes"), ("en", "Yes")))


def test_refuses_text_with_bad_language_code() -> None:
    with pytest.raises(ManifestError, match="language code"):
        Text.of({"en": "Yes", "ES": "Sí"})


# --- layer 1: bytes --------------------------------------------------------------------


def test_refuses_byte_order_mark() -> None:
    err = refused_bytes(b"\xef\xbb\xbf" + DEMO.source_bytes)
    assert "byte-order mark" in err.reason


def test_refuses_utf16() -> None:
    err = refused_bytes(DEMO.source_bytes.decode("utf-8").encode("utf-16"))
    assert "UTF-16" in err.reason


def test_refuses_invalid_utf8_naming_the_byte() -> None:
    data = DEMO.source_bytes.replace(b"Alcalde", b"Alcald\xe9", 1)
    err = refused_bytes(data)
    assert err.reason == "not valid UTF-8"
    assert err.where == f"byte {data.index(b'Alcald') + 6}"


@pytest.mark.parametrize(
    "data",
    [b'{"version": 1,}', b"{", b'{"version": 1} {}', b"{'version': 1}", b'{"a": "\x01"}'],
)
def test_refuses_malformed_json_naming_line_and_column(data: bytes) -> None:
    err = refused_bytes(data)
    assert err.reason.startswith("not valid JSON")
    assert err.where is not None
    assert err.where.startswith("line 1 column ")


@pytest.mark.parametrize("data", [b"[]", b'"manifest"', b"1", b"null", b"true"])
def test_refuses_top_level_non_object(data: bytes) -> None:
    assert "a manifest is a JSON object" in refused_bytes(data).reason


@pytest.mark.parametrize("data", [b"", b"  \n"])
def test_refuses_empty_file(data: bytes) -> None:
    assert "empty" in refused_bytes(data).reason


def test_refuses_oversized_bytes() -> None:
    data = DEMO.source_bytes + b" " * (MAX_MANIFEST_BYTES - len(DEMO.source_bytes) + 1)
    assert "at most" in refused_bytes(data).reason
    # A file at the limit is read (and, here, accepted).
    assert Manifest.from_bytes(data[:-1]) != DEMO


def test_refuses_duplicate_key_naming_the_object() -> None:
    data = DEMO.source_bytes.replace(
        b'"kind": "approval",', b'"kind": "approval", "kind": "approval",'
    )
    err = refused_bytes(data)
    assert err.where == "contests[4]"
    assert 'the key "kind" appears more than once' in err.reason


def test_refuses_duplicate_top_level_key() -> None:
    data = DEMO.source_bytes.replace(b'"version": 1,', b'"version": 1, "version": 1,')
    assert refused_bytes(data).where == "manifest"


def test_refuses_duplicate_language_key_in_a_text() -> None:
    data = DEMO.source_bytes.replace(b'"es": "Alcalde"', b'"es": "Alcalde", "es": "Jefe"')
    assert refused_bytes(data).where == "contests[0].title"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_refuses_non_json_constants(constant: bytes) -> None:
    data = DEMO.source_bytes.replace(b'"vote_for": 2', b'"vote_for": ' + constant, 1)
    err = refused_bytes(data)
    assert err.where == "contests[1].vote_for"
    assert "not valid JSON" in err.reason


@pytest.mark.parametrize("number", [b"2.0", b"2e0", b"1.5"])
def test_refuses_non_integer_numbers(number: bytes) -> None:
    data = DEMO.source_bytes.replace(b'"vote_for": 2', b'"vote_for": ' + number, 1)
    err = refused_bytes(data)
    assert err.where == "contests[1].vote_for"
    assert "must be an integer" in err.reason


def test_refuses_huge_integer_without_parsing_it() -> None:
    data = DEMO.source_bytes.replace(b'"vote_for": 2', b'"vote_for": 2' + b"0" * 10_000, 1)
    assert "too many digits" in refused_bytes(data).reason


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40])
def test_refuses_deep_nesting(data: bytes) -> None:
    assert "nested deeper" in refused_bytes(data).reason


def test_refuses_non_bytes() -> None:
    with pytest.raises(ManifestError, match="bytes"):
        Manifest(DEMO.source_bytes.decode())  # type: ignore[arg-type]


def test_manifest_error_is_an_input_error_reading_where_then_reason() -> None:
    err = refused(lambda d: contest_at(d, "ward-1-council")["selections"][1]["label"].pop("es"))
    assert isinstance(err, InputError)
    assert isinstance(err, ValueError)
    assert str(err) == 'contests[2].selections[1].label: missing language "es"'


# --- layer 2: version and kinds ------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, "1", True, None])
def test_refuses_unknown_version(version: object) -> None:
    err = refused(lambda d: d.update(version=version))
    assert err.where == "version"
    assert "unsupported manifest version" in err.reason


@pytest.mark.parametrize(
    "kind",
    [
        "ranked-choice",
        "ranked",
        "Ranked Choice",
        "rcv-ranked",
        "instant-runoff",
        "irv",
        "stv",
        "single-transferable-vote",
        "borda",
        "condorcet",
        "preferential",
    ],
)
def test_refuses_ranked_choice_with_the_reason(kind: str) -> None:
    err = refused(lambda d: contest_at(d, "mayor").update(kind=kind))
    assert err.where == "contests[0].kind"
    assert "ranked-choice contests are not supported" in err.reason
    assert "per-selection totals" in err.reason


def test_refuses_unknown_contest_kind_listing_the_known_ones() -> None:
    err = refused(lambda d: contest_at(d, "mayor").update(kind="cumulative"))
    assert err.where == "contests[0].kind"
    assert '"plurality", "approval", "supermajority"' in err.reason


# --- layer 3: the JSON Schema -------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = manifest_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema_errors(lambda d: None) == []


def test_schema_closes_every_object() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("type") == "object":
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(manifest_schema(), "#")


def test_manifest_schema_returns_a_fresh_copy() -> None:
    manifest_schema()["properties"].clear()
    assert Manifest.from_bytes(DEMO.source_bytes) == DEMO
    assert "contests" in manifest_schema()["properties"]


@pytest.mark.parametrize(
    "field",
    [
        "version",
        "election_id",
        "name",
        "jurisdiction",
        "date",
        "languages",
        "contests",
        "ballot_styles",
    ],
)
def test_refuses_missing_top_level_field(field: str) -> None:
    err = refused(lambda d: d.pop(field))
    assert (err.where, err.reason) == ("manifest", f'missing field "{field}"')


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.update(notes="x"), "manifest"),
        (lambda d: d["contests"][0].update(notes="x"), "contests[0]"),
        (
            lambda d: d["contests"][0]["selections"][0].update(party="x"),
            "contests[0].selections[0]",
        ),
        (lambda d: d["ballot_styles"][1].update(precincts=[]), "ballot_styles[1]"),
        (
            lambda d: contest_at(d, "measure-a")["threshold"].update(strict=True),
            "contests[5].threshold",
        ),
    ],
)
def test_refuses_unknown_field(edit: Callable[[dict[str, Any]], object], where: str) -> None:
    err = refused(edit)
    assert err.where == where
    assert err.reason.startswith("unknown field")


def test_refuses_wrong_type_naming_the_path() -> None:
    err = refused(lambda d: d["contests"][3]["selections"][0].update(label=["Maria"]))
    assert str(err) == "contests[3].selections[0].label: must be an object, not an array"


def test_refuses_boolean_as_integer() -> None:
    err = refused(lambda d: contest_at(d, "mayor").update(vote_for=True))
    assert (err.where, err.reason) == ("contests[0].vote_for", "must be an integer, not a boolean")


@pytest.mark.parametrize(
    "election_id",
    [
        "Springfield",
        "-springfield",
        "spring field",
        "a" * 64,
        "",
        "springfield\n",
        "springfield_2026",
        "é",
    ],
)
def test_refuses_bad_election_id(election_id: str) -> None:
    err = refused(lambda d: d.update(election_id=election_id))
    assert err.where == "election_id"


def test_schema_refuses_bad_id() -> None:
    assert schema_errors(lambda d: d["ballot_styles"][0].update(id="Ward 1"))


def test_constructor_refuses_bad_id() -> None:
    with pytest.raises(ManifestError, match="lowercase"):
        Selection("Alice", text())
    with pytest.raises(ManifestError, match="lowercase"):
        contest(id="mayor\n")


@pytest.mark.parametrize(
    "day",
    [
        "2026-02-30",
        "2026-13-01",
        "20261103",
        "2026-11-3",
        "11/03/2026",
        "2026-11-03T00:00",
        "２０２６-11-03",
    ],
)
def test_refuses_invalid_date(day: str) -> None:
    assert refused(lambda d: d.update(date=day)).where == "date"


def test_schema_refuses_impossible_date() -> None:
    assert schema_errors(lambda d: d.update(date="2026-02-30"))


def test_refuses_bad_language_code() -> None:
    err = refused(lambda d: d.update(languages=["en", "ES"]))
    assert err.where == "languages[1]"


def test_refuses_language_code_with_trailing_newline() -> None:
    # The schema's pattern alone lets it through (Python's ``$`` matches before "\n").
    doc = json.loads(json.dumps(DEMO_DOCUMENT).replace('"es": ', '"es\\n": '))
    doc["languages"] = ["en", "es\n"]
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(encode(doc))
    assert caught.value.where == "languages[1]"


def test_refuses_repeated_language() -> None:
    err = refused(lambda d: d.update(languages=["en", "es", "en"]))
    assert (err.where, err.reason) == ("languages", 'lists "en" more than once')


def test_refuses_empty_text() -> None:
    assert refused(lambda d: d["name"].update(es="")).where == "name.es"


def test_refuses_overlong_text() -> None:
    err = refused(lambda d: d["jurisdiction"].update(en="x" * 501))
    assert err.where == "jurisdiction.en"
    assert "at most 500" in err.reason


@pytest.mark.parametrize(
    ("path", "count"),
    [(("contests",), 1001), (("languages",), 17), (("contests", 0, "selections"), 201)],
)
def test_schema_limits_counts(path: tuple[str | int, ...], count: int) -> None:
    def edit(d: dict[str, Any]) -> None:
        node: Any = d
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = [node[path[-1]][0]] * count

    assert any(e.validator == "maxItems" for e in schema_errors(edit))
    assert "at most" in refused(edit).reason


@pytest.mark.parametrize("value", [0, 201])
def test_schema_refuses_vote_for_out_of_range(value: int) -> None:
    assert schema_errors(lambda d: contest_at(d, "mayor").update(vote_for=value))


def test_refuses_empty_selections() -> None:
    err = refused(lambda d: contest_at(d, "mayor").update(selections=[]))
    assert (err.where, err.reason) == ("contests[0].selections", "must not be empty")


def test_schema_refuses_threshold_on_plurality() -> None:
    edit = lambda d: contest_at(d, "mayor").update(threshold={"numerator": 2, "denominator": 3})  # noqa: E731
    assert schema_errors(edit)
    assert refused(edit).where == "contests[0].threshold"


def test_schema_refuses_winners_on_supermajority() -> None:
    edit = lambda d: contest_at(d, "measure-a").update(winners=1)  # noqa: E731
    assert schema_errors(edit)
    assert refused(edit).where == "contests[5].winners"


def test_refuses_supermajority_without_threshold() -> None:
    err = refused(lambda d: contest_at(d, "measure-a").pop("threshold"))
    assert (err.where, err.reason) == ("contests[5]", 'missing field "threshold"')


def test_refuses_plurality_without_winners() -> None:
    err = refused(lambda d: contest_at(d, "mayor").pop("winners"))
    assert (err.where, err.reason) == ("contests[0]", 'missing field "winners"')


def test_refuses_empty_ballot_style() -> None:
    edit = lambda d: d["ballot_styles"][0].update(contests=[])  # noqa: E731
    assert schema_errors(edit)
    assert refused(edit).where == "ballot_styles[0].contests"
    with pytest.raises(ManifestError, match="at least one contest"):
        BallotStyle("ward-1", text(), ())


# --- layer 4: the rules the schema cannot say -------------------------------------------------


def test_refuses_manifest_without_english() -> None:
    doc = json.loads(json.dumps(DEMO_DOCUMENT).replace('"en": ', '"fr": '))
    doc["languages"] = ["fr", "es"]
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(encode(doc))
    assert caught.value.where == "languages"
    assert '"en"' in caught.value.reason


def test_refuses_text_missing_a_manifest_language() -> None:
    err = refused(lambda d: d["name"].pop("es"))
    assert str(err) == 'name: missing language "es"'


def test_refuses_text_missing_english() -> None:
    err = refused(lambda d: contest_at(d, "measure-a")["selections"][1]["label"].pop("en"))
    assert str(err) == 'contests[5].selections[1].label: missing language "en"'


def test_refuses_text_in_a_language_the_manifest_lacks() -> None:
    err = refused(lambda d: d["ballot_styles"][1]["label"].update(fr="Quartier 2"))
    assert err.where == "ballot_styles[1].label"
    assert '"fr" is not one of the manifest' in err.reason


@pytest.mark.parametrize(
    "bad",
    [
        "Spring\x07field",
        "Spring\nfield",
        "Spring\tfield",
        "Spring\u202efield",
        "Spring\u2066field",
        "Spring\u2028field",
        "Spring\x85field",
    ],
)
def test_refuses_text_with_control_or_bidi_override_characters(bad: str) -> None:
    err = refused(lambda d: d["name"].update(en=bad))
    assert err.where == "name.en"
    assert "U+" in err.reason


def test_refuses_text_with_lone_surrogate() -> None:
    data = DEMO.source_bytes.replace(b'"es": "Alcalde"', b'"es": "Alcalde \\udc00"')
    assert refused_bytes(data).where == "contests[0].title.es"


def test_refuses_blank_text() -> None:
    err = refused(lambda d: d["name"].update(es=" \u3000 "))
    assert (err.where, err.reason) == ("name.es", "must hold more than white space")


def test_refuses_duplicate_contest_ids() -> None:
    err = refused(lambda d: contest_at(d, "ward-2-council").update(id="ward-1-council"))
    assert err.where == "contests[3].id"
    assert "already used by contests[2]" in err.reason


def test_refuses_duplicate_selection_ids_within_a_contest() -> None:
    err = refused(lambda d: d["contests"][1]["selections"][4].update(id="farid-haddad"))
    assert err.where == "contests[1].selections[4].id"
    assert "already used by selections[1]" in err.reason


def test_accepts_same_selection_id_in_different_contests() -> None:
    assert DEMO.contest("measure-a").selections[0].id == DEMO.contest("measure-b").selections[0].id


def test_refuses_duplicate_ballot_style_ids() -> None:
    err = refused(lambda d: d["ballot_styles"][1].update(id="ward-1"))
    assert err.where == "ballot_styles[1].id"


def test_refuses_vote_for_above_number_of_selections() -> None:
    err = refused(lambda d: contest_at(d, "mayor").update(vote_for=5))
    assert err.where == "contests[0].vote_for"
    assert "number of selections (4)" in err.reason


def test_constructor_refuses_vote_for_below_one() -> None:
    with pytest.raises(ManifestError) as caught:
        contest(vote_for=0)
    assert caught.value.where == "vote_for"


def test_refuses_plurality_with_more_winners_than_vote_for() -> None:
    err = refused(lambda d: contest_at(d, "city-council").update(winners=3))
    assert err.where == "contests[1].winners"
    assert "at most vote_for (2)" in err.reason


def test_accepts_approval_with_more_winners_than_vote_for() -> None:
    doc = document()
    contest_at(doc, "parks-commission").update(vote_for=1, winners=2)
    assert Manifest.from_bytes(encode(doc)).contest("parks-commission").winners == 2


def test_refuses_approval_with_more_winners_than_selections() -> None:
    err = refused(lambda d: contest_at(d, "parks-commission").update(winners=5))
    assert err.where == "contests[4].winners"
    assert "from 4 selections" in err.reason


def test_constructor_refuses_zero_winners() -> None:
    with pytest.raises(ManifestError) as caught:
        contest(winners=0)
    assert caught.value.where == "winners"


def test_refuses_supermajority_with_other_than_two_selections() -> None:
    def add_third(d: dict[str, Any]) -> None:
        contest_at(d, "measure-a")["selections"].append(
            {"id": "abstain", "label": {"en": "Abstain", "es": "Abstención"}}
        )

    err = refused(add_third)
    assert err.where == "contests[5].selections"
    assert "exactly two selections" in err.reason
    with pytest.raises(ManifestError, match="exactly two"):
        measure(selections=selections("yes"))


def test_refuses_supermajority_with_vote_for_two() -> None:
    err = refused(lambda d: contest_at(d, "measure-a").update(vote_for=2))
    assert err.where == "contests[5].vote_for"
    assert "vote_for 1" in err.reason


@pytest.mark.parametrize(
    ("numerator", "denominator"), [(1, 3), (49, 100), (3, 3), (4, 3), (999, 2)]
)
def test_refuses_supermajority_threshold_outside_half_to_one(
    numerator: int, denominator: int
) -> None:
    err = refused(
        lambda d: contest_at(d, "measure-a").update(
            threshold={"numerator": numerator, "denominator": denominator}
        )
    )
    assert err.where == "contests[5].threshold"
    assert "at least 1/2 and less than 1" in err.reason


@pytest.mark.parametrize("bad", [Fraction(1, 3), Fraction(1), Fraction(3, 2)])
def test_constructor_refuses_threshold_outside_half_to_one(bad: Fraction) -> None:
    with pytest.raises(ManifestError) as caught:
        measure(threshold=bad)
    assert caught.value.where == "threshold"


def test_constructor_refuses_supermajority_without_threshold() -> None:
    with pytest.raises(ManifestError, match="needs a threshold"):
        measure(threshold=None)


def test_constructor_refuses_threshold_on_plurality() -> None:
    with pytest.raises(ManifestError, match="only a supermajority"):
        contest(threshold=Fraction(2, 3))


def test_constructor_refuses_winners_on_supermajority() -> None:
    with pytest.raises(ManifestError, match="no winners"):
        measure(winners=2)


def test_refuses_style_with_contests_out_of_manifest_order() -> None:
    def swap(d: dict[str, Any]) -> None:
        listed = d["ballot_styles"][0]["contests"]
        listed[0], listed[1] = listed[1], listed[0]

    err = refused(swap)
    assert err.where == "ballot_styles[0].contests[1]"
    assert "manifest order" in err.reason


def test_refuses_style_listing_a_contest_twice() -> None:
    err = refused(lambda d: d["ballot_styles"][1]["contests"].insert(1, "mayor"))
    assert err.where == "ballot_styles[1].contests[1]"
    assert "already listed" in err.reason


def test_refuses_style_naming_an_unknown_contest() -> None:
    err = refused(lambda d: d["ballot_styles"][0]["contests"].append("dog-catcher"))
    assert err.where == "ballot_styles[0].contests[5]"
    assert 'no contest has the id "dog-catcher"' in err.reason


def test_refuses_contest_on_no_ballot_style() -> None:
    err = refused(lambda d: d["ballot_styles"][1]["contests"].remove("measure-b"))
    assert str(err) == 'contests[6]: contest "measure-b" is on no ballot style'


def test_first_error_in_document_order_is_reported() -> None:
    def two_errors(d: dict[str, Any]) -> None:
        d["contests"][3].update(vote_for="one")
        d["contests"][1]["title"].update(es=7)

    assert refused(two_errors).where == "contests[1].title.es"


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, len(DEMO.source_bytes) - 1), delta=st.integers(1, 255))
def test_any_changed_byte_is_refused_or_changes_the_digest(position: int, delta: int) -> None:
    data = bytearray(DEMO.source_bytes)
    data[position] = (data[position] + delta) % 256
    try:
        changed = Manifest.from_bytes(bytes(data))
    except ManifestError:
        return
    assert changed.digest != DEMO.digest
    assert changed != DEMO


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(ManifestError):
        Manifest.from_bytes(data)


def _paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


DEMO_PATHS = _paths(DEMO_DOCUMENT)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 300)
    | st.text(max_size=8)
    | st.sampled_from(["mayor", "yes", "en", "es", "plurality", "supermajority", "approval"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(
    path=st.sampled_from(DEMO_PATHS),
    value=JSON_VALUES,
    delete=st.booleans(),
)
def test_any_edited_value_is_accepted_or_refused_cleanly(
    path: tuple[str | int, ...], value: Any, delete: bool
) -> None:
    doc = document()
    parent: Any = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with contextlib.suppress(ManifestError):  # anything else fails the test
        Manifest.from_bytes(encode(doc))
