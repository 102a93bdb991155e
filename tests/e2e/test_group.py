"""The groups and their checked values (docs/spec.md §2).

The standard group is re-derived from its definition; the test group from its own.
Every way an element or exponent from outside can be wrong is refused, on both groups,
each test naming the failure; the policy refusals of the element 1 (a ballot's α, the
joint key K, a dealer's K_i0) live with the code that applies them and are collected
at the end of this file.
"""

from __future__ import annotations

import dataclasses

import gmpy2
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.ballot import encrypt_ballot, mark_ballot, verify_ballot
from e2e.elgamal import Ciphertext
from e2e.errors import InvalidBallot, InvalidElement, InvalidExponent, InvalidParameters
from e2e.group import (
    STANDARD,
    TEST_GROUP,
    ElementModP,
    ElementModQ,
    GroupParameters,
    constant_time_equal,
    derive_standard_p,
    derive_test_group,
)
from tests.strategies import elements, exponents

GROUPS = pytest.mark.parametrize("group", [STANDARD, TEST_GROUP], ids=["standard", "test"])


# --- the standard group, re-derived ---------------------------------------------------------


def test_standard_p_is_rederived_from_its_definition() -> None:
    assert derive_standard_p() == STANDARD.p


def test_standard_p_derivation_needs_4000_bit_precision() -> None:
    # The floor of 2^3584·ln 2 needs > 3584 significant bits; at double precision the
    # derivation gives another number, so the pinned constant is not taken on trust.
    with gmpy2.context(precision=53):
        rough = mpz(gmpy2.floor(mpz(2) ** 3584 * gmpy2.log(2)))
    with gmpy2.context(precision=4000):
        exact = mpz(gmpy2.floor(mpz(2) ** 3584 * gmpy2.log(2)))
    assert rough != exact


def test_standard_q_is_two_to_the_256_minus_189() -> None:
    assert STANDARD.q == 2**256 - 189
    assert STANDARD.p.bit_length() == 4096


def test_standard_group_has_the_documented_shape() -> None:
    # p, q and r' = r/2 prime, p - 1 = 2·q·r', g of order q (check_shape raises otherwise).
    STANDARD.check_shape()
    r_prime = STANDARD.r // 2
    assert STANDARD.p - 1 == 2 * STANDARD.q * r_prime


def test_standard_g_is_two_to_the_r_and_has_order_q() -> None:
    assert STANDARD.g == gmpy2.powmod(2, STANDARD.r, STANDARD.p)
    assert gmpy2.powmod(STANDARD.g, STANDARD.q, STANDARD.p) == 1
    assert STANDARD.g != 1


def test_test_group_is_rederived_from_its_definition() -> None:
    p, q, g = derive_test_group()
    assert (p, q, g) == (TEST_GROUP.p, TEST_GROUP.q, TEST_GROUP.g)


def test_test_group_has_the_standard_shape() -> None:
    TEST_GROUP.check_shape()
    assert TEST_GROUP.q >= 2**64
    assert TEST_GROUP.p - 1 == 2 * TEST_GROUP.q * (TEST_GROUP.r // 2)


def test_test_group_is_not_the_standard_group() -> None:
    assert TEST_GROUP != STANDARD
    assert not TEST_GROUP.is_standard()
    assert STANDARD.is_standard()


# --- malformed parameter sets --------------------------------------------------------------


def test_rejects_parameters_where_q_does_not_divide_p_minus_1() -> None:
    with pytest.raises(InvalidParameters, match="q does not divide p - 1"):
        GroupParameters("bad", STANDARD.p + 2, STANDARD.q, STANDARD.g)


@pytest.mark.parametrize("bit", [0, 1, 700, 4095])
def test_rejects_standard_p_with_one_bit_altered(bit: int) -> None:
    with pytest.raises(InvalidParameters, match="q does not divide p - 1"):
        GroupParameters(STANDARD.name, STANDARD.p ^ (mpz(1) << bit), STANDARD.q, STANDARD.g)


@pytest.mark.parametrize("bit", [0, 1, 2047, 4090])
def test_standard_g_with_one_bit_altered_is_another_group(bit: int) -> None:
    altered = GroupParameters(STANDARD.name, STANDARD.p, STANDARD.q, STANDARD.g ^ (mpz(1) << bit))
    assert altered != STANDARD
    assert not altered.is_standard()
    assert gmpy2.powmod(altered.g, altered.q, altered.p) != 1


@pytest.mark.parametrize("bit", [0, 1, 500, 1020])
def test_rejects_test_group_g_with_one_bit_altered(bit: int) -> None:
    altered = GroupParameters(TEST_GROUP.name, TEST_GROUP.p, TEST_GROUP.q,
                              TEST_GROUP.g ^ (mpz(1) << bit))
    assert altered != TEST_GROUP
    with pytest.raises(InvalidParameters, match="g does not have order q"):
        altered.check_shape()


def test_same_name_does_not_make_parameters_equal() -> None:
    impostor = GroupParameters(STANDARD.name, TEST_GROUP.p, TEST_GROUP.q, TEST_GROUP.g)
    assert impostor != STANDARD
    assert impostor == TEST_GROUP  # equality is by (p, q, g), never by name


def test_rejects_group_whose_cofactor_is_odd() -> None:
    # (p - 1)/q = 3: p - 1 is not 2·q·r' (and p is even), refused before any primality test.
    q = TEST_GROUP.q
    group = GroupParameters("odd-cofactor", 3 * q + 1, q, mpz(2))
    with pytest.raises(InvalidParameters, match="odd"):
        group.check_shape()


def test_rejects_group_with_q_below_2_to_the_64() -> None:
    q = mpz(1000003)
    r_prime = mpz(2) ** 80 + 1
    p = 2 * q * r_prime + 1
    group = GroupParameters("small-q", p, q, gmpy2.powmod(2, 2 * r_prime, p))
    with pytest.raises(InvalidParameters, match=r"smaller than 2\^64"):
        group.check_shape()


def test_rejects_group_whose_r_prime_is_composite() -> None:
    q = TEST_GROUP.q
    r_prime = mpz(2) ** 894 + 1  # the first composite r' >= 2^894 with 2·q·r' + 1 prime
    while gmpy2.is_prime(r_prime) or not gmpy2.is_prime(2 * q * r_prime + 1):
        r_prime += 2
    p = 2 * q * r_prime + 1
    group = GroupParameters("composite-r", p, q, gmpy2.powmod(2, 2 * r_prime, p))
    with pytest.raises(InvalidParameters, match="r' is not prime"):
        group.check_shape()


def test_rejects_combining_values_of_two_groups() -> None:
    with pytest.raises(InvalidParameters, match="two different groups"):
        STANDARD.generator * TEST_GROUP.generator
    with pytest.raises(InvalidParameters, match="two different groups"):
        STANDARD.generator ** TEST_GROUP.exponent_of(2)
    with pytest.raises(InvalidParameters, match="two different groups"):
        STANDARD.exponent_of(1) + TEST_GROUP.exponent_of(1)


# --- elements from outside: every way to be wrong, on both groups ---------------------------


def _some_element(group: GroupParameters) -> ElementModP:
    return group.g_pow(123456789)


@GROUPS
def test_rejects_element_zero(group: GroupParameters) -> None:
    with pytest.raises(InvalidElement, match="0 < x < p"):
        ElementModP(mpz(0), group)
    with pytest.raises(InvalidElement, match="0 < x < p"):
        group.element_from_hex("0" * 2 * group.p_bytes)
    with pytest.raises(InvalidElement, match="0 < x < p"):
        group.element_from_bytes(bytes(group.p_bytes))


@GROUPS
def test_element_one_is_a_subgroup_element(group: GroupParameters) -> None:
    # 1 is in the subgroup; where it is not allowed, policy refuses it (end of this file).
    assert ElementModP(mpz(1), group).is_one()


@GROUPS
def test_rejects_p_minus_1_which_has_order_2(group: GroupParameters) -> None:
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        ElementModP(group.p - 1, group)
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        group.element_from_hex(format(group.p - 1, "x").rjust(2 * group.p_bytes, "0"))


@GROUPS
@pytest.mark.parametrize("offset", [0, 1])
def test_rejects_p_and_p_plus_1(group: GroupParameters, offset: int) -> None:
    with pytest.raises(InvalidElement, match="0 < x < p"):
        ElementModP(group.p + offset, group)


@GROUPS
def test_rejects_non_canonical_x_plus_p_from_hex_and_bytes(group: GroupParameters) -> None:
    # x = 1 is a subgroup element with 1 + p < 256^p_bytes on both groups, so the
    # non-canonical form fits the width and must be refused by the range check.
    for x in (mpz(1), _some_element(group).value):
        shifted = x + group.p
        if shifted.bit_length() > 8 * group.p_bytes:
            continue  # does not fit the fixed width: refused by the width check instead
        with pytest.raises(InvalidElement, match="0 < x < p"):
            group.element_from_hex(format(shifted, "x").rjust(2 * group.p_bytes, "0"))
        with pytest.raises(InvalidElement, match="0 < x < p"):
            group.element_from_bytes(int(shifted).to_bytes(group.p_bytes, "big"))


def test_standard_x_plus_p_that_overflows_the_width_is_refused_by_width() -> None:
    shifted = _some_element(STANDARD).value + STANDARD.p
    assert shifted.bit_length() > 4096
    with pytest.raises(InvalidElement, match="exactly 1024 hex digits"):
        STANDARD.element_from_hex(format(shifted, "x"))


@GROUPS
def test_rejects_p_minus_x_which_has_an_order_2_component(group: GroupParameters) -> None:
    x = _some_element(group)
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        ElementModP(group.p - x.value, group)


@GROUPS
def test_rejects_element_with_order_r_prime_component_that_passes_jacobi(
    group: GroupParameters,
) -> None:
    # y = x·3^{2q} has y^q = 3^{2q^2} != 1, but (y | p) = 1: a Jacobi check would pass it.
    x = _some_element(group)
    y = x.value * gmpy2.powmod(3, 2 * group.q, group.p) % group.p
    assert gmpy2.jacobi(y, group.p) == 1
    assert gmpy2.powmod(y, group.q, group.p) != 1
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        ElementModP(y, group)
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        group.element_from_bytes(int(y).to_bytes(group.p_bytes, "big"))


@GROUPS
@pytest.mark.parametrize("width_change", [-2, -1, 1, 2])
def test_rejects_element_hex_of_wrong_width(group: GroupParameters, width_change: int) -> None:
    text = _some_element(group).to_hex()
    altered = text[:width_change] if width_change < 0 else "0" * width_change + text
    with pytest.raises(InvalidElement, match="expected exactly"):
        group.element_from_hex(altered)


@GROUPS
def test_rejects_element_bytes_of_wrong_length(group: GroupParameters) -> None:
    data = _some_element(group).to_bytes()
    with pytest.raises(InvalidElement, match="expected"):
        group.element_from_bytes(b"\x00" + data)
    with pytest.raises(InvalidElement, match="expected"):
        group.element_from_bytes(data[1:])


@GROUPS
def test_rejects_uppercase_element_hex(group: GroupParameters) -> None:
    text = _some_element(group).to_hex()
    assert text != text.upper()
    with pytest.raises(InvalidElement, match="lowercase"):
        group.element_from_hex(text.upper())


@GROUPS
@pytest.mark.parametrize("value", [12, None, b"00", True])
def test_rejects_element_hex_that_is_not_a_string(group: GroupParameters, value: object) -> None:
    with pytest.raises(InvalidElement, match="expected a hex string"):
        group.element_from_hex(value)


@GROUPS
@pytest.mark.parametrize("text", ["0x12", " 1", "+1", "1_0", "g"])
def test_rejects_element_hex_with_non_hex_characters(group: GroupParameters, text: str) -> None:
    padded = text.rjust(2 * group.p_bytes, "0")
    with pytest.raises(InvalidElement, match="lowercase hexadecimal"):
        group.element_from_hex(padded)


def test_rejects_boolean_and_float_as_element() -> None:
    with pytest.raises(InvalidElement, match="bool"):
        ElementModP(True, TEST_GROUP)  # type: ignore[arg-type]
    with pytest.raises(InvalidElement, match="integer"):
        ElementModP(1.0, TEST_GROUP)  # type: ignore[arg-type]


# --- exponents from outside ------------------------------------------------------------------


@GROUPS
def test_rejects_exponent_q(group: GroupParameters) -> None:
    with pytest.raises(InvalidExponent, match="0 <= e < q"):
        ElementModQ(group.q, group)
    with pytest.raises(InvalidExponent, match="0 <= e < q"):
        group.exponent_from_hex(format(group.q, "x").rjust(2 * group.q_bytes, "0"))


@GROUPS
def test_rejects_negative_exponent(group: GroupParameters) -> None:
    with pytest.raises(InvalidExponent, match="0 <= e < q"):
        ElementModQ(mpz(-1), group)


@GROUPS
@pytest.mark.parametrize("e", [0, 5, 188])
def test_rejects_non_canonical_exponent_e_plus_q(group: GroupParameters, e: int) -> None:
    shifted = group.q + e
    assert shifted.bit_length() <= 8 * group.q_bytes  # fits the width: the range refuses it
    with pytest.raises(InvalidExponent, match="0 <= e < q"):
        group.exponent_from_hex(format(shifted, "x").rjust(2 * group.q_bytes, "0"))
    with pytest.raises(InvalidExponent, match="0 <= e < q"):
        group.exponent_from_bytes(int(shifted).to_bytes(group.q_bytes, "big"))


@GROUPS
def test_rejects_exponent_hex_of_wrong_width(group: GroupParameters) -> None:
    text = group.exponent_of(7).to_hex()
    with pytest.raises(InvalidExponent, match="expected exactly"):
        group.exponent_from_hex(text[1:])
    with pytest.raises(InvalidExponent, match="expected exactly"):
        group.exponent_from_hex("00" + text)
    with pytest.raises(InvalidExponent, match="expected"):
        group.exponent_from_bytes(bytes(group.q_bytes + 1))


@GROUPS
def test_rejects_uppercase_exponent_hex(group: GroupParameters) -> None:
    text = group.exponent_of(0xABCDEF).to_hex()
    with pytest.raises(InvalidExponent, match="lowercase"):
        group.exponent_from_hex(text.upper())


def test_rejects_boolean_exponent() -> None:
    with pytest.raises(InvalidExponent, match="integer"):
        ElementModQ(False, TEST_GROUP)  # type: ignore[arg-type]


@GROUPS
def test_secret_power_by_zero_is_one(group: GroupParameters) -> None:
    # GMP's constant-time powmod refuses exponent 0; a zero coefficient is still legal.
    assert group.generator.pow_secret(group.zero_exponent()).is_one()


def test_zero_exponent_has_no_inverse() -> None:
    with pytest.raises(InvalidExponent, match="no inverse"):
        TEST_GROUP.zero_exponent().inverse()


# --- canonical encodings round-trip (properties) ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_element_encodings_round_trip_and_have_fixed_width(data: st.DataObject) -> None:
    for group in (TEST_GROUP, STANDARD):
        x = data.draw(elements(group))
        assert len(x.to_hex()) == 2 * group.p_bytes
        assert len(x.to_bytes()) == group.p_bytes
        assert group.element_from_hex(x.to_hex()) == x
        assert group.element_from_bytes(x.to_bytes()) == x


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_exponent_encodings_round_trip_and_have_fixed_width(data: st.DataObject) -> None:
    for group in (TEST_GROUP, STANDARD):
        e = data.draw(exponents(group))
        assert len(e.to_hex()) == 2 * group.q_bytes
        assert group.exponent_from_hex(e.to_hex()) == e
        assert group.exponent_from_bytes(e.to_bytes()) == e


@settings(max_examples=40, deadline=None)
@given(exponents(TEST_GROUP), exponents(TEST_GROUP))
def test_arithmetic_of_checked_values_stays_in_the_subgroup(a: ElementModQ, b: ElementModQ
                                                             ) -> None:
    group = TEST_GROUP
    x, y = group.g_pow(a), group.g_pow(b)
    for value in (x * y, x / y, x ** b, x.inverse(), x.pow_secret(b)):
        ElementModP(value.value, group)  # the full check passes
    assert x * y == group.g_pow(a + b)
    assert x / y == group.g_pow(a - b)
    assert x ** b == x.pow_secret(b) == group.g_pow(a * b)
    if not b.is_zero():
        assert (b * b.inverse()).value == 1


def test_hash_digests_reduce_into_exponents() -> None:
    for group in (TEST_GROUP, STANDARD):
        top = group.exponent_from_hash(b"\xff" * 32)
        assert top.value == (2**256 - 1) % group.q


def test_constant_time_equal_compares_bytes() -> None:
    assert constant_time_equal(b"abc", b"abc")
    assert not constant_time_equal(b"abc", b"abd")
    assert not constant_time_equal(b"abc", b"ab")


# --- policy: the element 1 where it is not allowed -------------------------------------------


def test_rejects_ballot_whose_alpha_is_one(context) -> None:  # type: ignore[no-untyped-def]
    # α = 1 means nonce 0: β = g^m shows the vote. verify_ballot refuses it before any proof.
    manifest = context.manifest
    style = manifest.ballot_styles[0]
    marked = mark_ballot(manifest, style.id, {})
    ballot = encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=1,
                            previous_code=bytes(32), master_nonce=bytes(32),
                            proof_seed=bytes(32)).ballot
    contest = ballot.contests[0]
    first = contest.selections[0]
    opened = Ciphertext(context.group.one, context.group.g_pow(0))
    forged = dataclasses.replace(contest, selections=(
        dataclasses.replace(first, ciphertext=opened), *contest.selections[1:]))
    ballot = dataclasses.replace(ballot, contests=(forged, *ballot.contests[1:]))
    with pytest.raises(InvalidBallot, match="α = 1"):
        verify_ballot(context, ballot)


# --- the membership memo (a pass is remembered per process; a failure never is) --------------


@GROUPS
def test_membership_memo_still_refuses_an_order_r_prime_element(group: GroupParameters) -> None:
    member = group.g_pow(987654321)
    ElementModP(member.value, group)  # remembered as a member
    impostor = member.value * gmpy2.powmod(3, 2 * group.q, group.p) % group.p
    for _ in range(2):  # a refusal is not remembered: refused every time
        with pytest.raises(InvalidElement, match="order-q subgroup"):
            ElementModP(impostor, group)


def test_membership_memo_is_per_group() -> None:
    # g of the test group, read as a number below the standard p, is remembered for the
    # test group only; in the standard group it must be checked (and refused) afresh.
    value = TEST_GROUP.g
    ElementModP(value, TEST_GROUP)
    assert gmpy2.powmod(value, STANDARD.q, STANDARD.p) != 1
    with pytest.raises(InvalidElement, match="order-q subgroup"):
        ElementModP(value, STANDARD)
