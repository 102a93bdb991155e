"""The files people hand to ``paperchain audit``: read whole, or refused with the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.errors import EncodingError
from e2e.manifest import demo_manifest
from paper.ids import BallotId
from paper.manifest_csv import PlacedEntry, write_manifest_csv
from paper.scan import CardFlag, ManifestEntry
from paperchain.audit_files import (
    read_hand_count,
    read_paper_manifest,
    read_places,
    read_readings,
)
from tally.batch_manifest import parse_batch_manifest_csv

MANIFEST = demo_manifest()


def _manifest_csv(tmp_path: Path) -> Path:
    rows = [PlacedEntry(ManifestEntry("Box 1", 1, BallotId(bytes(16)), frozenset(), "a:1",
                                      False, "ward-1"), "Place A"),
            PlacedEntry(ManifestEntry("Box 1", 2, None, frozenset({CardFlag.UNREADABLE}),
                                      "a:2"), "Place A")]
    path = tmp_path / "manifest.csv"
    path.write_text(write_manifest_csv(rows))
    return path


def test_scanned_manifest_becomes_batches_with_flags_and_cover_sheet(tmp_path: Path) -> None:
    sheet = parse_batch_manifest_csv("Batch Name,Number of Ballots,Container\nBox 1,3,Seal 9\n")
    (batch,) = read_paper_manifest(_manifest_csv(tmp_path), sheet)
    assert (batch.name, batch.polling_place, batch.container, batch.declared) == (
        "Box 1", "Place A", "Seal 9", 3)
    assert batch.cards[0].ballot_id == bytes(16)
    assert batch.cards[1].flags == frozenset({"unreadable"})


def test_refuses_a_batch_sheet_that_names_an_unscanned_batch(tmp_path: Path) -> None:
    sheet = parse_batch_manifest_csv("Batch Name,Number of Ballots\nBox 1,2\nBox 2,5\n")
    with pytest.raises(EncodingError, match="Box 2"):
        read_paper_manifest(_manifest_csv(tmp_path), sheet)


def test_refuses_a_malformed_places_file(tmp_path: Path) -> None:
    path = tmp_path / "places.json"
    path.write_text(json.dumps({"version": 1, "note": "", "places": [
        {"polling_place": "A", "check_ins": -1, "spoiled_envelope": 0, "explanation": ""}]}))
    with pytest.raises(EncodingError):
        read_places(path)


def test_refuses_readings_with_an_unknown_selection(tmp_path: Path) -> None:
    path = tmp_path / "readings.json"
    path.write_text(json.dumps({"version": 1, "readings": [{
        "round": 1, "batch": "Box 1", "position": 1, "ballot_id": None, "condition": "ok",
        "contests": {"mayor": {"reading": "votes", "votes": ["nobody"]}}}]}))
    with pytest.raises(EncodingError, match="nobody"):
        read_readings(path, MANIFEST)


def test_refused_reading_kind_names_its_place_once(tmp_path: Path) -> None:
    path = tmp_path / "readings.json"
    path.write_text(json.dumps({"version": 1, "readings": [{
        "round": 1, "batch": "Box 1", "position": 1, "ballot_id": None, "condition": "ok",
        "contests": {"mayor": {"reading": "maybe"}}}]}))
    with pytest.raises(EncodingError) as refused:
        read_readings(path, MANIFEST)
    place = f"{path}.readings[0].contests.mayor.reading"
    assert refused.value.where == place  # once, not prefixed again by its contest
    assert str(refused.value).count("contests.mayor") == 1


def test_refuses_readings_with_a_mistyped_ballot_id(tmp_path: Path) -> None:
    printed = str(BallotId(bytes(16)))
    typo = printed[:-1] + ("1" if printed[-1] != "1" else "2")
    path = tmp_path / "readings.json"
    path.write_text(json.dumps({"version": 1, "readings": [{
        "round": 1, "batch": "Box 1", "position": 1, "ballot_id": typo, "condition": "ok",
        "contests": {}}]}))
    with pytest.raises(EncodingError):
        read_readings(path, MANIFEST)


def test_readings_leave_out_contests_as_not_on_card(tmp_path: Path) -> None:
    path = tmp_path / "readings.json"
    path.write_text(json.dumps({"version": 1, "readings": [{
        "round": 1, "batch": "Box 1", "position": 1, "ballot_id": None, "condition": "ok",
        "contests": {"mayor": {"reading": "blank"}}}]}))
    (reading,) = read_readings(path, MANIFEST)
    assert reading.reading("mayor").kind == "blank"
    assert reading.reading("measure-b").kind == "not-on-card"


def test_refuses_a_hand_count_missing_a_selection(tmp_path: Path) -> None:
    counts = {c.id: {s.id: 1 for s in c.selections} for c in MANIFEST.contests}
    del counts["mayor"][MANIFEST.contests[0].selections[0].id]
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"version": 1, "counts": counts, "certified_by": ["X"],
                                "certified_at": "now", "note": ""}))
    with pytest.raises(EncodingError, match="missing key"):
        read_hand_count(path, MANIFEST)
