"""Fixed-base tables, multi-exponentiation and the batch verifier against plain ``powmod``."""

from __future__ import annotations

import secrets

import gmpy2
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.batch import BatchVerifier, RangeClaim
from e2e.elgamal import encrypt
from e2e.errors import InvalidProof
from e2e.fixedbase import FixedBaseTable, clear_table_cache, pow_fixed, prepare, table_for
from e2e.group import STANDARD, TEST_GROUP
from e2e.hashing import Tag
from e2e.multiexp import multi_exp, window_for
from e2e.nonces import RandomNonces
from e2e.proofs import ProofContext, prove_range, verify_range

G = TEST_GROUP
P, Q = G.p, G.q
R_PRIME = (P - 1) // (2 * Q)


def _element() -> mpz:
    return gmpy2.powmod(G.g, secrets.randbelow(int(Q) - 1) + 1, P)


def _order_r_prime_element() -> mpz:
    """y^(2q) ≠ 1: an element of order r' (a square, so the Jacobi check passes it)."""
    while True:
        h = gmpy2.powmod(secrets.randbelow(int(P) - 2) + 2, 2 * Q, P)
        if h != 1:
            return h


@pytest.mark.parametrize("window", [1, 4, 8, 11])
def test_fixed_base_table_matches_powmod(window: int) -> None:
    table = FixedBaseTable.build(G.g, P, int(Q).bit_length(), window)
    for e in [0, 1, 2, int(Q) - 1, *(secrets.randbelow(int(Q)) for _ in range(20))]:
        assert table.pow(e) == gmpy2.powmod(G.g, e, P)


def test_fixed_base_refuses_exponents_beyond_the_table() -> None:
    table = FixedBaseTable.build(G.g, P, 16, 4)
    with pytest.raises(ValueError, match="range"):
        table.pow(1 << 16)
    with pytest.raises(ValueError, match="range"):
        table.pow(-1)


def test_tables_are_cached_per_group_and_base_and_built_after_repeated_use() -> None:
    clear_table_cache()
    base = _element()
    assert table_for(G, G.g) is table_for(G, G.g)
    for _ in range(20):  # the table is built once the base has been used often
        e = secrets.randbelow(int(Q))
        assert pow_fixed(G, base, e) == gmpy2.powmod(base, e, P)
    assert table_for(G, base) is table_for(G, base)
    prepare(STANDARD, STANDARD.g, window=4)
    assert table_for(STANDARD, STANDARD.g, 4).pow(12345) == gmpy2.powmod(STANDARD.g, 12345,
                                                                          STANDARD.p)


def test_encryption_through_tables_equals_the_definition() -> None:
    secret = G.random_exponent()
    key = G.g_pow(secret)
    for message in (0, 1, 7):
        nonce = G.random_exponent()
        ciphertext = encrypt(message, nonce, key)
        assert ciphertext.alpha.value == gmpy2.powmod(G.g, nonce.value, P)
        assert ciphertext.beta.value == (gmpy2.powmod(G.g, message, P)
                                         * gmpy2.powmod(key.value, nonce.value, P) % P)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.sampled_from([0, 1, 2, 5, 64, 128, 127, 200])),
                min_size=0, max_size=40), st.sampled_from([None, 1, 3, 8]))
def test_multi_exponentiation_matches_the_product_of_powers(spec: list[tuple[int, int]],
                                                            window: int | None) -> None:
    bases = [gmpy2.powmod(G.g, k * 7919, P) for k, _ in spec]
    pairs = [(b, secrets.randbits(bits) if bits else 0) for b, (_, bits) in zip(bases, spec,
                                                                             strict=True)]
    expected = mpz(1)
    for base, exponent in pairs:
        expected = expected * gmpy2.powmod(base, exponent, P) % P
    assert multi_exp(pairs, P, window) == expected


def test_window_grows_with_the_batch() -> None:
    assert window_for([256] * 10) < window_for([256] * 10_000)


# --- the batch verifier on single proofs ------------------------------------------------


def _claim(limit: int = 1, plaintext: int = 1):  # -> (RangeClaim, ciphertext, key, proof)
    secret = G.random_exponent()
    key = G.g_pow(secret)
    nonce = G.random_exponent()
    ciphertext = encrypt(plaintext, nonce, key)
    context = ProofContext(Tag.SELECTION_PROOF, (b"x" * 32, "d", 1, 0, 0))
    proof = prove_range(ciphertext, plaintext, nonce, key, limit, context, RandomNonces())
    claim = RangeClaim(
        ciphertext.alpha.value, ciphertext.beta.value, limit,
        tuple(b.commitment_g.value for b in proof.branches),
        tuple(b.commitment_k.value for b in proof.branches),
        tuple(int(b.challenge.value) for b in proof.branches),
        tuple(int(b.response.value) for b in proof.branches),
        members=(ciphertext.alpha.value, ciphertext.beta.value))
    return claim, ciphertext, key, proof, context


def test_honest_claims_hold_in_one_batch() -> None:
    claims = []
    keys = []
    for limit, m in [(1, 0), (1, 1), (3, 2), (5, 5)]:
        claim, _, key, _, _ = _claim(limit, m)
        claims.append(claim)
        keys.append(key)
    for claim, key in zip(claims, keys, strict=True):
        assert BatchVerifier(G, key.value).holds([claim])


def _with(claim: RangeClaim, **changes: object) -> RangeClaim:
    fields = {name: getattr(claim, name) for name in RangeClaim.__slots__}
    fields.update(changes)
    return RangeClaim(**fields)  # type: ignore[arg-type]


def test_batch_rejects_an_order_two_component_in_a_statement_element() -> None:
    claim, _, key, _, _ = _claim()
    bad = _with(claim, alpha=P - claim.alpha, members=(P - claim.alpha, claim.beta))
    verifier = BatchVerifier(G, key.value)
    assert verifier.screen(bad) is not None


def test_batch_rejects_an_order_two_component_in_a_commitment() -> None:
    claim, _, key, _, _ = _claim()
    a = list(claim.commitments_g)
    a[0] = P - a[0]
    assert BatchVerifier(G, key.value).screen(_with(claim, commitments_g=tuple(a))) is not None


def test_batch_rejects_an_order_r_prime_component_in_a_statement_element() -> None:
    claim, _, key, _, _ = _claim()
    h = _order_r_prime_element()
    beta = claim.beta * h % P
    bad = _with(claim, beta=beta, members=(claim.alpha, beta))
    verifier = BatchVerifier(G, key.value)
    assert verifier.screen(bad) is None  # a square: only the x^q test can see it
    assert not verifier.holds([bad])


def test_batch_rejects_an_order_r_prime_component_in_a_commitment() -> None:
    claim, _, key, _, _ = _claim()
    b = list(claim.commitments_k)
    b[1] = b[1] * _order_r_prime_element() % P
    bad = _with(claim, commitments_k=tuple(b))
    verifier = BatchVerifier(G, key.value)
    assert verifier.screen(bad) is None
    assert not verifier.holds([bad])


def test_bisection_names_every_bad_unit() -> None:
    claim, _, key, _, _ = _claim()
    verifier = BatchVerifier(G, key.value)
    bad = _with(claim, responses=(claim.responses[0] + 1, *claim.responses[1:]))
    units = [[claim] for _ in range(9)]
    units[2] = [bad]
    units[7] = [bad]
    assert verifier.failing_units(units) == [2, 7]
    assert verifier.failing_units([[claim]] * 4) == []


def test_fast_and_simple_range_verification_agree_on_a_tampered_proof() -> None:
    _, ciphertext, key, proof, context = _claim(limit=3, plaintext=2)
    verify_range(proof, ciphertext, key, 3, context)
    verify_range(proof, ciphertext, key, 3, context, fast=False)
    branches = list(proof.branches)
    branches[1] = type(branches[1])(branches[1].commitment_g, branches[1].commitment_k,
                                    branches[1].challenge, branches[1].response + 1)
    tampered = type(proof)(tuple(branches))
    with pytest.raises(InvalidProof) as fast_error:
        verify_range(tampered, ciphertext, key, 3, context)
    with pytest.raises(InvalidProof) as simple_error:
        verify_range(tampered, ciphertext, key, 3, context, fast=False)
    assert str(fast_error.value) == str(simple_error.value) == "branch 1: g^v = a·α^c fails"
