"""Exponential ElGamal and the bounded discrete logarithm (docs/spec.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.elgamal import Ciphertext, discrete_log, encrypt, homomorphic_sum
from e2e.errors import DecryptionError, UsageError
from e2e.group import STANDARD, TEST_GROUP, ElementModP, ElementModQ
from tests.strategies import exponents, keypairs

GROUP = TEST_GROUP


def _decrypt(ciphertext: Ciphertext, secret: ElementModQ, bound: int) -> int:
    return discrete_log(ciphertext.beta / ciphertext.alpha ** secret, bound)


@settings(max_examples=60, deadline=None)
@given(keypairs(GROUP), st.integers(0, 300), exponents(GROUP, 1))
def test_decryption_recovers_the_plaintext(keypair: tuple[ElementModQ, ElementModP], m: int,
                                           r: ElementModQ) -> None:
    secret, key = keypair
    ciphertext = encrypt(m, r, key)
    assert ciphertext.alpha == GROUP.g_pow(r)
    assert ciphertext.beta == GROUP.g_pow(m) * key ** r
    assert _decrypt(ciphertext, secret, 300) == m


@settings(max_examples=40, deadline=None)
@given(keypairs(GROUP), st.lists(st.tuples(st.integers(0, 5), exponents(GROUP, 1)), max_size=8))
def test_product_of_ciphertexts_encrypts_the_sum(
    keypair: tuple[ElementModQ, ElementModP], items: list[tuple[int, ElementModQ]],
) -> None:
    secret, key = keypair
    ciphertexts = [encrypt(m, r, key) for m, r in items]
    total = homomorphic_sum(GROUP, ciphertexts)
    nonce = GROUP.zero_exponent()
    for _, r in items:
        nonce = nonce + r
    assert total.alpha == GROUP.g_pow(nonce)  # the nonces add too
    assert _decrypt(total, secret, 40) == sum(m for m, _ in items)


@settings(max_examples=30, deadline=None)
@given(keypairs(GROUP), st.integers(0, 9), st.integers(0, 9), exponents(GROUP, 1),
       exponents(GROUP, 1))
def test_quotient_of_ciphertexts_encrypts_the_difference(
    keypair: tuple[ElementModQ, ElementModP], a: int, b: int, r: ElementModQ, s: ElementModQ,
) -> None:
    secret, key = keypair
    quotient = encrypt(a + b, r, key) / encrypt(b, s, key)
    assert _decrypt(quotient, secret, 9) == a


def test_empty_sum_is_the_identity_ciphertext() -> None:
    assert homomorphic_sum(GROUP, []) == Ciphertext(GROUP.one, GROUP.one)
    assert Ciphertext.identity(STANDARD).group == STANDARD


@pytest.mark.parametrize("message", [-1, True, 1.0, "1"])
def test_rejects_plaintext_that_is_not_a_non_negative_integer(message: object) -> None:
    key = GROUP.g_pow(5)
    with pytest.raises(UsageError, match="non-negative integer"):
        encrypt(message, GROUP.exponent_of(3), key)  # type: ignore[arg-type]


def test_rejects_zero_nonce_which_would_publish_the_plaintext() -> None:
    with pytest.raises(UsageError, match="zero nonce"):
        encrypt(1, GROUP.zero_exponent(), GROUP.g_pow(5))


@pytest.mark.parametrize("bound", [0, 1, 2, 3, 15, 16, 17, 99, 100])
def test_discrete_log_finds_every_value_up_to_the_bound(bound: int) -> None:
    for m in range(bound + 1):
        assert discrete_log(GROUP.g_pow(m), bound) == m


@pytest.mark.parametrize(("m", "bound"), [(1, 0), (5, 4), (17, 16), (101, 100), (10**6, 100)])
def test_discrete_log_refuses_a_count_beyond_its_bound(m: int, bound: int) -> None:
    with pytest.raises(DecryptionError, match=f"0..{bound}"):
        discrete_log(GROUP.g_pow(m), bound)


def test_discrete_log_refuses_an_element_that_is_no_small_power() -> None:
    with pytest.raises(DecryptionError, match=r"not g\^m"):
        discrete_log(GROUP.g_pow(GROUP.q - 1), 1000)  # g^{-1}


def test_discrete_log_refuses_a_negative_bound() -> None:
    with pytest.raises(UsageError, match="non-negative"):
        discrete_log(GROUP.one, -1)


def test_discrete_log_works_on_the_standard_group() -> None:
    assert discrete_log(STANDARD.g_pow(1234), 5000) == 1234
