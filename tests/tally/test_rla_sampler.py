"""tally.sampler: seeds, id strings, ticket numbers, draws and rounds."""

from __future__ import annotations

import hashlib
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.errors import EncodingError, UsageError
from tally.sampler import (
    MAX_CARDS,
    MAX_DRAWS,
    AuditSeed,
    Ticket,
    card_id_string,
    check_batch_name,
    consistent_sample,
    cryptorandom_sha256,
    draw_sample,
    first_ticket_number,
    iter_sample,
    next_ticket_number,
    sha256_uniform,
    trim_ticket_number,
)

SEED = AuditSeed("31415926535897932384")
MANIFEST = {"pct 1": 30, "pct 2": 25, "absentee (mail)": 40}

batch_names = st.text(alphabet="abcXYZ019 _-.,:;#/()&+", min_size=1, max_size=12).filter(
    lambda s: s == s.strip(" ")
)
manifests = st.dictionaries(batch_names, st.integers(0, 12), min_size=1, max_size=5)


# --- seeds and names ---------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["", "1234567890123456789", "0" * 19])
def test_rejects_seed_shorter_than_twenty_digits(digits: str) -> None:
    with pytest.raises(UsageError, match="at least 20"):
        AuditSeed(digits)


@pytest.mark.parametrize(
    "digits",
    ["1234567890123456789a", " 12345678901234567890", "12345678901234567890\n",
     "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠", "-12345678901234567890", 12345678901234567890],
)
def test_rejects_seed_that_is_not_only_decimal_digits(digits: object) -> None:
    with pytest.raises(UsageError, match="decimal digits"):
        AuditSeed(digits)  # type: ignore[arg-type]


def test_rejects_absurdly_long_seed() -> None:
    with pytest.raises(UsageError, match="more than"):
        AuditSeed("1" * 1001)


def test_seed_keeps_leading_zeros() -> None:
    a = draw_sample(AuditSeed("00123456789012345678901"), MANIFEST, 3, with_replacement=False)
    b = draw_sample(AuditSeed("123456789012345678901"), MANIFEST, 3, with_replacement=False)
    assert a != b


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("x" * 101, "at most 100"),
        (" pct", "space"),
        ("pct ", "space"),
        ("pct '1'", "uses"),
        ('pct "1"', "uses"),
        ("pct\\1", "uses"),
        ("pct\t1", "uses"),
        ("pct\n1", "uses"),
        ("pcté", "uses"),
        ("[pct]", "uses"),
        (12, "text"),
    ],
)
def test_rejects_batch_name_that_would_make_the_id_string_ambiguous(name: object,
                                                                    reason: str) -> None:
    with pytest.raises(EncodingError, match=reason):
        check_batch_name(name)


@given(batch_names, st.integers(1, 10**6))
def test_id_string_is_the_literal_python_tuple(name: str, position: int) -> None:
    assert card_id_string(name, position) == f"('{name}', {position})"


@pytest.mark.parametrize("position", [0, -1, 1.0, True])
def test_rejects_card_position_not_counted_from_one(position: object) -> None:
    with pytest.raises(UsageError, match="position"):
        card_id_string("pct 1", position)  # type: ignore[arg-type]


# --- ticket numbers ----------------------------------------------------------------------------


def test_sha256_uniform_reverses_the_padded_decimal_digest() -> None:
    digest = int(hashlib.sha256(b"abc").hexdigest(), 16)
    assert sha256_uniform("abc") == "0." + str(digest).zfill(64)[::-1]
    # consistent_sampler's documented example
    assert sha256_uniform("abc") == (
        "0.56998071861792858926477341561059638840106636224182943832566300809078486324348")


def test_first_ticket_hashes_seed_hash_then_id_string() -> None:
    # consistent_sampler's documented example for first_fraction('AB-130', '01382438112797316654')
    assert first_ticket_number("01382438112797316654", "AB-130") == (
        "0.26299714122838008416507544297546663599715395525154425586041245287750224561854")


def test_next_ticket_is_larger_and_deterministic() -> None:
    # consistent_sampler's documented example for next_fraction('0.25471')
    assert next_ticket_number("0.25471") == (
        "0.642853261655004694691182528114375607701032283189922170593838029306715548381901")
    x = "0.9999912"
    y = next_ticket_number(x)
    assert y > x
    assert y.startswith("0.99999")


def test_next_ticket_refuses_a_string_that_is_not_a_fraction() -> None:
    with pytest.raises(UsageError, match="starts with"):
        next_ticket_number("1.5")


def test_trim_keeps_leading_nines_and_eighteen_digits() -> None:
    assert trim_ticket_number("0.12345678901234567890123") == "0.123456789012345678"
    assert trim_ticket_number("0.99912345678901234567890123") == "0.999123456789012345678"
    assert trim_ticket_number("0.9991234567890", 4) == "0.9991234"


# --- draws -------------------------------------------------------------------------------------


def test_without_replacement_draws_every_card_once_in_ticket_order() -> None:
    tickets = draw_sample(SEED, MANIFEST, 95, with_replacement=False)
    cards = {(t.batch, t.position) for t in tickets}
    assert len(cards) == 95
    assert cards == {(b, p) for b, n in MANIFEST.items() for p in range(1, n + 1)}
    numbers = [t.ticket_number for t in tickets]
    assert numbers == sorted(numbers)
    assert {t.generation for t in tickets} == {1}


def test_rejects_drawing_more_cards_than_exist_without_replacement() -> None:
    with pytest.raises(UsageError, match="cannot draw 96"):
        draw_sample(SEED, MANIFEST, 96, with_replacement=False)
    with pytest.raises(UsageError, match="cannot draw 96"):
        draw_sample(SEED, MANIFEST, 6, with_replacement=False, already_drawn=90)


def test_rejects_more_draws_than_a_hand_count_would_take() -> None:
    # With replacement nothing else bounds the size: 10^8 draws would run for hours.
    with pytest.raises(UsageError, match="at most 1,000,000 draws"):
        draw_sample(SEED, MANIFEST, MAX_DRAWS + 1, with_replacement=True)
    with pytest.raises(UsageError, match="at most 1,000,000 draws"):
        draw_sample(SEED, MANIFEST, 2, with_replacement=True, already_drawn=MAX_DRAWS - 1)


def test_rejects_a_frame_too_large_to_hash_before_listing_its_cards() -> None:
    # 21 batches of a million: refused from the counts alone (listing them would take GBs).
    huge = {f"batch {n}": 1_000_000 for n in range(21)}
    with pytest.raises(UsageError, match="21,000,000 cards"):
        draw_sample(SEED, huge, 1, with_replacement=True)
    assert sum(huge.values()) > MAX_CARDS


def test_rejects_drawing_with_replacement_from_no_cards() -> None:
    with pytest.raises(UsageError, match="no cards"):
        draw_sample(SEED, {"empty": 0}, 1, with_replacement=True)
    assert draw_sample(SEED, {"empty": 0}, 0, with_replacement=True) == ()


@pytest.mark.parametrize("size", [-1, 1.5, True])
def test_rejects_sample_size_that_is_not_a_count(size: object) -> None:
    with pytest.raises(UsageError, match="sample size"):
        draw_sample(SEED, MANIFEST, size, with_replacement=True)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="already drawn"):
        draw_sample(SEED, MANIFEST, 1, with_replacement=True, already_drawn=size)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [-1, 2.0, True])
def test_rejects_batch_count_that_is_not_a_count(count: object) -> None:
    with pytest.raises(UsageError, match="number of ballots"):
        draw_sample(SEED, {"pct 1": count}, 1, with_replacement=True)  # type: ignore[dict-item]


def test_rejects_manifest_with_a_bad_batch_name() -> None:
    with pytest.raises(EncodingError, match="uses"):
        draw_sample(SEED, {"pct '1'": 3}, 1, with_replacement=True)


def test_rejects_seed_given_as_a_plain_string() -> None:
    with pytest.raises(UsageError, match="AuditSeed"):
        list(consistent_sample(["a"], "31415926535897932384", with_replacement=False))  # type: ignore[arg-type]


def test_rejects_ids_with_the_same_string() -> None:
    with pytest.raises(UsageError, match="not distinct"):
        list(consistent_sample([1, "1"], SEED, with_replacement=False))


def test_with_replacement_redraws_a_card_with_a_later_ticket() -> None:
    tickets = draw_sample(SEED, {"tiny": 2}, 12, with_replacement=True)
    numbers = [t.ticket_number for t in tickets]
    assert numbers == sorted(numbers)
    for position in (1, 2):
        generations = [t.generation for t in tickets if t.position == position]
        assert generations == list(range(1, len(generations) + 1))
    assert max(t.generation for t in tickets) > 1


def test_ticket_knows_its_id_string() -> None:
    assert Ticket("0.1", "pct 2", 3, 1).card_id == "('pct 2', 3)"


def test_draw_matches_the_stream() -> None:
    stream = list(islice(iter_sample(SEED, MANIFEST, with_replacement=True), 40))
    assert list(draw_sample(SEED, MANIFEST, 40, with_replacement=True)) == stream


@settings(max_examples=30, deadline=None)
@given(manifests, st.integers(0, 20), st.integers(0, 20), st.booleans())
def test_a_round_continues_the_sequence_without_redrawing(
    manifest: dict[str, int], first: int, more: int, with_replacement: bool
) -> None:
    total = sum(manifest.values())
    if not with_replacement:
        first, more = min(first, total), min(more, total - min(first, total))
    if with_replacement and total == 0:
        return
    whole = draw_sample(SEED, manifest, first + more, with_replacement=with_replacement)
    round_1 = draw_sample(SEED, manifest, first, with_replacement=with_replacement)
    round_2 = draw_sample(SEED, manifest, more, with_replacement=with_replacement,
                          already_drawn=first)
    assert round_1 + round_2 == whole


@settings(max_examples=30, deadline=None)
@given(manifests, st.data())
def test_sampling_a_sub_manifest_is_filtering_the_whole_sample(
    manifest: dict[str, int], data: st.DataObject
) -> None:
    # Consistency: the order of any subset of cards does not depend on the other cards.
    keep = data.draw(st.sets(st.sampled_from(sorted(manifest))))
    sub = {name: count for name, count in manifest.items() if name in keep}
    total = sum(manifest.values())
    whole = draw_sample(SEED, manifest, total, with_replacement=False)
    part = draw_sample(SEED, sub, sum(sub.values()), with_replacement=False)
    assert part == tuple(t for t in whole if t.batch in keep)


def test_manifest_order_does_not_change_the_sample() -> None:
    reordered = dict(reversed(list(MANIFEST.items())))
    assert draw_sample(SEED, reordered, 30, with_replacement=True) == draw_sample(
        SEED, MANIFEST, 30, with_replacement=True)


# --- cryptorandom ------------------------------------------------------------------------------


def test_cryptorandom_counter_appends_zero_bytes() -> None:
    (first, second) = cryptorandom_sha256("5", 2)
    assert first == int(hashlib.sha256(b"5,").hexdigest(), 16)
    assert second == int(hashlib.sha256(b"5,\x00").hexdigest(), 16)
    assert cryptorandom_sha256("5", 1, start=1) == (second,)


@pytest.mark.parametrize(("count", "start"), [(-1, 0), (1, -1), (1.0, 0), (True, 0)])
def test_cryptorandom_refuses_bad_counts(count: object, start: object) -> None:
    with pytest.raises(UsageError):
        cryptorandom_sha256("5", count, start=start)  # type: ignore[arg-type]
