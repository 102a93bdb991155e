"""Population and pairing rules, the reconciliation table, and the paper-manifest payload:
pure functions, no cryptography. Each test is named after the rule or refusal it proves."""

from __future__ import annotations

import pytest

from e2e.errors import EncodingError, RecordError, UsageError
from e2e.manifest import demo_manifest
from paper.scan import CardFlag
from tally.pairing import (
    CARD_FLAGS,
    PHANTOM_BATCH,
    CvrFacts,
    ManifestCard,
    pair_cards,
)
from tally.reconcile import DeviceCounts, PaperBatch, PlaceInput, Reconciliation

MANIFEST = demo_manifest()
WARD_1 = tuple(i for i, _ in MANIFEST.contests_of_style("ward-1"))
WARD_2 = tuple(i for i, _ in MANIFEST.contests_of_style("ward-2"))
ALL = tuple(range(len(MANIFEST.contests)))


def bid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def cvrs(*ids: int, style: str = "ward-1", device: str = "kiosk-a") -> dict[bytes, CvrFacts]:
    contests = WARD_1 if style == "ward-1" else WARD_2
    return {bid(n): CvrFacts(device, style, contests) for n in ids}


def card(n: int | None, *flags: str, style: str | None = "ward-1") -> ManifestCard:
    return ManifestCard(None if n is None else bid(n), frozenset(flags), style)


def cast(n: int) -> dict[int, int]:
    return {i: n for i in WARD_1}


def test_card_flags_match_the_scanners_flags() -> None:
    assert set(CARD_FLAGS) == {f.value for f in CardFlag}


def test_first_occurrence_pairs_and_later_duplicates_are_worst_case() -> None:
    population = pair_cards(MANIFEST, [("b1", [card(1), card(2)]), ("b2", [card(1)])],
                            cvrs(1, 2), cast(2))
    reasons = [(p.batch, p.position, p.reason) for p in population.pairs]
    assert reasons == [("b1", 1, "paired"), ("b1", 2, "paired"), ("b2", 1, "duplicate")]
    assert population.pair_at("b2", 1).contests == ALL  # an unpaired card holds everything


def test_flagged_cards_never_pair_even_with_a_matching_cvr() -> None:
    flagged = [card(n, flag) for n, flag in enumerate(
        ("spoiled", "test-card", "not-test-card", "foreign-election", "unreadable", "invalid",
         "not-a-card"), start=1)]
    population = pair_cards(MANIFEST, [("b", flagged)], cvrs(*range(1, 8)), cast(7))
    assert [p.reason for p in population.pairs] == [
        "spoiled", "test-card", "not-test-card", "foreign-election", "unreadable", "invalid",
        "not-a-card"]
    assert all(p.cvr is None for p in population.pairs)
    assert len(population.missing) == 7  # their CVRs have no card: missing cards


def test_a_duplicate_remake_pairs_when_it_is_the_only_card_with_its_id() -> None:
    population = pair_cards(MANIFEST, [("b", [card(1, "duplicate-remake")])], cvrs(1), cast(1))
    assert population.pairs[0].reason == "paired"


def test_card_without_cvr_and_card_without_id_are_unpaired() -> None:
    population = pair_cards(MANIFEST, [("b", [card(9), card(None, "unreadable")])], cvrs(),
                            cast(0))
    assert [p.reason for p in population.pairs] == ["no-cvr", "unreadable"]


def test_population_is_the_largest_of_cards_cvrs_and_cast_ballots() -> None:
    # 3 CVRs (ward-1), 2 cards pair, cast ballots say 4: N = 4 for ward-1 contests.
    population = pair_cards(MANIFEST, [("b", [card(1), card(2)])], cvrs(1, 2, 3), cast(4))
    mayor = population.contest(0)
    assert (mayor.cards, mayor.cvrs, mayor.cast, mayor.population) == (2, 3, 4, 4)
    assert mayor.shortfall == 2
    assert population.missing == (bid(3),)
    ward_2 = population.contest(WARD_2[2])  # not on ward-1 cards: only phantoms would hold it
    assert ward_2.population == 0


def test_shortfalls_become_phantoms_in_their_own_batch() -> None:
    population = pair_cards(MANIFEST, [("b", [card(1)])], cvrs(1, 2, 3), cast(3))
    assert population.phantoms == 2
    assert population.frame() == {"b": 1, PHANTOM_BATCH: 2}
    assert population.holds(PHANTOM_BATCH, 2, 0)
    assert not population.holds(PHANTOM_BATCH, 1, WARD_2[2])  # no shortfall there


def test_unpaired_cards_count_toward_every_contest() -> None:
    population = pair_cards(MANIFEST, [("b", [card(1), card(7, "foreign-election")])],
                            cvrs(1), cast(1))
    assert population.contest(WARD_2[2]).cards == 1  # the foreign card
    assert population.contest(0).population == 2


def test_refuses_the_phantom_batch_name_and_repeated_batches() -> None:
    with pytest.raises(UsageError, match="reserved"):
        pair_cards(MANIFEST, [(PHANTOM_BATCH, [card(1)])], cvrs(1), cast(1))
    with pytest.raises(UsageError, match="twice"):
        pair_cards(MANIFEST, [("b", [card(1)]), ("b", [card(2)])], cvrs(1, 2), cast(2))


def test_refuses_unknown_card_flags() -> None:
    with pytest.raises(UsageError, match="unknown card flag"):
        ManifestCard(bid(1), frozenset({"smudged"}))


# --- the paper manifest's payload -------------------------------------------------------------


def test_paper_batch_round_trips_its_payload() -> None:
    batch = PaperBatch("Place 1 box 1", "Place 1", "Seal 7", 3,
                       (card(1), card(None, "unreadable", style=None), card(2, "spoiled")))
    assert PaperBatch.from_payload(batch.to_payload()) == batch


@pytest.mark.parametrize("name", ["bad'quote", " padded", PHANTOM_BATCH, ""])
def test_paper_batch_refuses_unsafe_or_reserved_batch_names(name: str) -> None:
    with pytest.raises(EncodingError):
        PaperBatch(name, "Place", None, None, ())


def test_paper_batch_refuses_unsorted_or_unknown_flags() -> None:
    good = PaperBatch("b", "p", None, None, (card(1, "spoiled", "unreadable"),)).to_payload()
    assert b'"flags":["spoiled","unreadable"]' in good
    with pytest.raises(EncodingError, match="flags"):
        PaperBatch.from_payload(good.replace(b'["spoiled","unreadable"]',
                                             b'["unreadable","spoiled"]'))
    with pytest.raises(EncodingError, match="flags"):
        PaperBatch.from_payload(good.replace(b'"spoiled"', b'"smudged"'))


# --- reconciliation ------------------------------------------------------------------------------


def reconcile(batches: list[PaperBatch], places: list[PlaceInput], devices: list[DeviceCounts],
              facts: dict[bytes, CvrFacts], per_contest: dict[int, int]) -> Reconciliation:
    population = pair_cards(MANIFEST, [(b.name, b.cards) for b in batches], facts, per_contest)
    return Reconciliation.compute(list(range(len(batches))), batches, places, devices,
                                  population, facts)


def test_reconciliation_reports_differences_and_does_not_refuse_them() -> None:
    facts = cvrs(1, 2, 3)
    batches = [PaperBatch("b", "Place A", None, 4, (card(1), card(2), card(2), card(8)))]
    result = reconcile(batches, [PlaceInput("Place A", 5, 1, "one voter left")],
                       [DeviceCounts("kiosk-a", "Place A", 3, 0, 3)], facts, cast(3))
    findings = "\n".join(result.table["findings"])
    assert "5 check-ins, 3 valid cast ballots (+2)" in findings
    assert "1 spoiled cards in the envelope, 0 challenges" in findings
    assert "4 cards counted, 3 valid cast ballots (+1)" in findings
    assert "duplicate" in findings
    assert "no-cvr" in findings
    assert "1 CVR(s) with no card" in findings
    assert result.table["places"][0]["explanation"] == "one voter left"
    assert result.table["pairing"] == {"duplicate": 1, "no-cvr": 1, "paired": 2}


def test_reconciliation_reports_cover_sheet_counts_and_missing_inputs() -> None:
    batches = [PaperBatch("b", "Place A", None, 5, (card(1),))]
    result = reconcile(batches, [], [DeviceCounts("kiosk-a", "Place A", 1, 0, 1)], cvrs(1),
                       cast(1))
    findings = result.table["findings"]
    assert "batch 'b': cover sheet says 5 cards, 1 scanned" in findings
    assert "polling place 'Place A': no check-ins or spoiled envelope entered" in findings


def test_reconciliation_reports_a_qr_style_that_differs_from_the_cvr() -> None:
    batches = [PaperBatch("b", "Place A", None, None, (card(1, style="ward-2"),))]
    result = reconcile(batches, [PlaceInput("Place A", 1, 0)],
                       [DeviceCounts("kiosk-a", "Place A", 1, 0, 1)], cvrs(1), cast(1))
    assert any("another style" in f for f in result.table["findings"])


def test_published_reconciliation_must_match_the_recomputed_one() -> None:
    batches = [PaperBatch("b", "Place A", None, None, (card(1),))]
    args = ([PlaceInput("Place A", 1, 0)], [DeviceCounts("kiosk-a", "Place A", 1, 0, 1)],
            cvrs(1), cast(1))
    honest = reconcile(batches, *args)
    forged_table = dict(honest.table, findings=[])
    forged_table["places"] = [dict(honest.table["places"][0], cast=2)]
    forged = Reconciliation(honest.manifest_entries, honest.digest, honest.places, "",
                            forged_table)
    with pytest.raises(RecordError, match="places"):
        Reconciliation.from_payload(forged.to_payload()).check_against(honest)
    other = reconcile([PaperBatch("b", "Place A", None, None, (card(2),))], *args)
    with pytest.raises(RecordError, match="digest"):
        other.check_against(honest)
    Reconciliation.from_payload(honest.to_payload()).check_against(honest)
