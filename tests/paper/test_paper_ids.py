"""Ballot IDs and tracking codes: printing, lenient reading, the check symbol, randomness."""

from __future__ import annotations

import inspect
import secrets

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e.errors import EncodingError
from paper.ids import (
    CROCKFORD_ALPHABET,
    CROCKFORD_CHECK_SYMBOLS,
    BallotId,
    format_tracking_code,
    parse_tracking_code,
)


def _crockford_by_bits(value: bytes) -> str:
    """An independent encoder: left-pad the bit string to a multiple of 5, map 5-bit groups."""
    bits = "".join(f"{byte:08b}" for byte in value)
    bits = "0" * (-len(bits) % 5) + bits
    data = "".join(CROCKFORD_ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))
    return data + CROCKFORD_CHECK_SYMBOLS[int.from_bytes(value, "big") % 37]


def test_known_ballot_ids_print_as_specified() -> None:
    # docs/spec.md §18.2 lists these.
    assert str(BallotId(bytes(16))) == "0000-0000-0000-0000-0000-0000-000"
    assert str(BallotId(b"\xff" * 16)) == "7ZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZ*"
    assert str(BallotId(bytes(range(16)))) == "0004-1061-050R-3GG2-8A1C-60T3-GF6"


def test_known_tracking_code_prints_as_specified() -> None:
    assert format_tracking_code(bytes(range(32))) == (
        "0001 081G 8186 0W40 J2GB 1G6G W3RG 2491 650N 2RBH G68T 3CE1 T7GZ2"
    )


@given(st.binary(min_size=16, max_size=16))
def test_ballot_id_round_trips_through_print(value: bytes) -> None:
    ballot_id = BallotId(value)
    assert ballot_id.compact() == _crockford_by_bits(value)
    assert BallotId.parse(str(ballot_id)) == ballot_id
    assert BallotId.parse(ballot_id.compact()) == ballot_id


@given(st.binary(min_size=32, max_size=32))
def test_tracking_code_round_trips_through_print(code: bytes) -> None:
    printed = format_tracking_code(code)
    assert "".join(printed.split()) == _crockford_by_bits(code)
    assert parse_tracking_code(printed) == code


def test_reads_ids_as_leniently_as_crockford_allows() -> None:
    ballot_id = BallotId(bytes(range(16)))
    printed = str(ballot_id)  # 0004-1061-050R-3GG2-8A1C-60T3-GF6
    typed = printed.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert BallotId.parse(typed) == ballot_id
    assert BallotId.parse(printed.replace("1", "I").replace("-", "")) == ballot_id
    assert BallotId.parse("  " + printed + " ") == ballot_id


def test_reads_check_symbols_beyond_the_alphabet() -> None:
    top = BallotId(b"\xff" * 16)  # check symbol '*'
    assert BallotId.parse(str(top)) == top
    for value in range(37):
        # Find an ID with each check value and read it back (covers * ~ $ = U).
        ballot_id = BallotId(value.to_bytes(16, "big"))
        assert BallotId.parse(str(ballot_id).lower()) == ballot_id


def test_rejects_every_single_symbol_substitution() -> None:
    compact = BallotId(secrets.token_bytes(16)).compact()
    for position, original in enumerate(compact):
        pool = CROCKFORD_CHECK_SYMBOLS if position == len(compact) - 1 else CROCKFORD_ALPHABET
        for symbol in pool:
            if symbol == original:
                continue
            typo = compact[:position] + symbol + compact[position + 1 :]
            with pytest.raises(EncodingError):
                BallotId.parse(typo)


def test_rejects_every_adjacent_transposition() -> None:
    compact = BallotId(secrets.token_bytes(16)).compact()
    for position in range(len(compact) - 1):
        a, b = compact[position], compact[position + 1]
        if a == b:
            continue
        swapped = compact[:position] + b + a + compact[position + 2 :]
        with pytest.raises(EncodingError):
            BallotId.parse(swapped)


def test_rejects_a_missing_or_extra_symbol() -> None:
    compact = BallotId(secrets.token_bytes(16)).compact()
    with pytest.raises(EncodingError, match="27"):
        BallotId.parse(compact[:-1])
    with pytest.raises(EncodingError, match="27"):
        BallotId.parse(compact + "0")


def test_rejects_symbols_outside_the_alphabet() -> None:
    compact = BallotId(bytes(16)).compact()
    with pytest.raises(EncodingError, match="not a Crockford base32 symbol"):
        BallotId.parse("U" + compact[1:])  # U is a check symbol only
    with pytest.raises(EncodingError, match="not a Crockford check symbol"):
        BallotId.parse(compact[:-1] + "#")


def test_rejects_a_first_symbol_beyond_128_bits() -> None:
    # "8" as the first of 26 symbols means a value >= 2^128.
    number = 8 * 32**25
    body = "8" + "0" * 25
    with pytest.raises(EncodingError, match="too large"):
        BallotId.parse(body + CROCKFORD_CHECK_SYMBOLS[number % 37])


def test_rejects_non_text_and_wrong_widths() -> None:
    with pytest.raises(EncodingError):
        BallotId.parse(12345)
    with pytest.raises(EncodingError):
        BallotId(b"\x00" * 15)
    with pytest.raises(EncodingError):
        format_tracking_code(b"\x00" * 31)
    code = format_tracking_code(bytes(32))
    with pytest.raises(EncodingError, match="check symbol"):
        parse_tracking_code(code[:-1] + ("1" if code[-1] != "1" else "2"))


def test_ids_come_from_secrets_by_default() -> None:
    default = inspect.signature(BallotId.generate).parameters["random_bytes"].default
    assert default is secrets.token_bytes


def test_ids_show_no_correlation_with_issue_order() -> None:
    # Spearman rank correlation between issue order and ID value, and between each ID
    # and the next: for independent IDs both are ~N(0, 1/n); 5 sigma is a 1-in-3.5M
    # false alarm. An ID derived from a counter, time or sequence number fails at once.
    n = 4000
    values = np.array([int.from_bytes(BallotId.generate().value[:8], "big") for _ in range(n)],
                      dtype=np.float64)
    ranks = values.argsort().argsort().astype(np.float64)
    order = np.arange(n, dtype=np.float64)
    rho_order = np.corrcoef(order, ranks)[0, 1]
    rho_next = np.corrcoef(ranks[:-1], ranks[1:])[0, 1]
    bound = 5 / np.sqrt(n - 1)
    assert abs(rho_order) < bound
    assert abs(rho_next) < bound
    assert len({BallotId.generate() for _ in range(1000)}) == 1000


def test_correlation_test_would_catch_a_counter_based_id() -> None:
    # The test above has teeth: IDs made from an issue counter correlate perfectly.
    counter = iter(range(10**6))
    ids = [BallotId.generate(lambda k: next(counter).to_bytes(k, "big")) for _ in range(500)]
    values = np.array([int.from_bytes(i.value, "big") for i in ids], dtype=np.float64)
    rho = np.corrcoef(np.arange(500), values.argsort().argsort())[0, 1]
    assert rho > 0.99
