"""Domain-separated hashing, H_B, H_E and derived nonces (docs/spec.md §3).

The expected digests are recomputed here with ``hashlib`` and ``struct`` alone, from
the rules of docs/spec.md §3.1, so the encoding cannot drift from the specification
without a test failing.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e.errors import EncodingError, UsageError
from e2e.group import STANDARD, TEST_GROUP
from e2e.hashing import (
    TAG_PREFIX,
    Tag,
    base_hash,
    encode_field,
    extended_base_hash,
    hash_fields,
    hash_to_exponent,
    manifest_hash,
    parameters_fields,
)
from e2e.manifest import demo_manifest
from e2e.nonces import DerivedNonces, RandomNonces, fresh_seed
from e2e.proofs import encode_nested


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _reference_hash(tag: str, *encoded: bytes) -> bytes:
    """H(tag; v1..vn) of docs/spec.md §3.1 for already-encoded values."""
    body = _field(("paperchain/v1/" + tag).encode()) + b"".join(_field(e) for e in encoded)
    return hashlib.sha256(body).digest()


# --- the encoding ---------------------------------------------------------------------------


def test_encodes_integers_as_eight_bytes_big_endian() -> None:
    assert encode_field(0) == bytes(8)
    assert encode_field(258) == bytes(6) + b"\x01\x02"
    assert encode_field(2**64 - 1) == b"\xff" * 8


@pytest.mark.parametrize("value", [-1, 2**64])
def test_rejects_integer_outside_64_bits(value: int) -> None:
    with pytest.raises(EncodingError, match=r"outside 0..2\^64-1"):
        encode_field(value)


@pytest.mark.parametrize("value", [True, False])
def test_rejects_boolean_field(value: bool) -> None:
    with pytest.raises(EncodingError, match="booleans"):
        encode_field(value)


@pytest.mark.parametrize("value", [1.5, None, {"a": 1}, {1, 2}])
def test_rejects_unhashable_types(value: object) -> None:
    with pytest.raises(EncodingError, match="cannot hash"):
        encode_field(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [bytearray, memoryview, lambda b: memoryview(bytearray(b))])
def test_bytes_like_values_are_the_same_byte_string(make) -> None:  # type: ignore[no-untyped-def]
    """A bytearray or memoryview is a Sequence of ints: it must still hash as its bytes
    (not as a list of 8-byte integers), alone, nested, and on the proofs' fast path."""
    data = b"\x00\x01ab"
    assert encode_field(make(data)) == data
    assert encode_field([make(data), [make(data)]]) == encode_field([data, [data]])
    assert hash_fields(Tag.TRACKING_CODE, make(data)) == hash_fields(Tag.TRACKING_CODE, data)
    assert encode_nested([make(data), [make(data)]]) == encode_field([data, [data]])


def test_rejects_memoryview_of_wider_items() -> None:
    with pytest.raises(EncodingError, match="memoryview of format 'I'"):
        encode_field(memoryview(bytearray(8)).cast("I"))


def test_encodes_strings_as_utf8_and_bytes_as_themselves() -> None:
    assert encode_field("é") == b"\xc3\xa9"
    assert encode_field(b"\x00\xff") == b"\x00\xff"


def test_encodes_group_values_at_fixed_width() -> None:
    for group in (STANDARD, TEST_GROUP):
        assert encode_field(group.one) == bytes(group.p_bytes - 1) + b"\x01"
        assert encode_field(group.exponent_of(1)) == bytes(group.q_bytes - 1) + b"\x01"
    assert (STANDARD.p_bytes, STANDARD.q_bytes) == (512, 32)
    assert (TEST_GROUP.p_bytes, TEST_GROUP.q_bytes) == (128, 16)


def test_encodes_sequences_with_count_and_length_prefixes() -> None:
    assert encode_field([b"ab", 1]) == (
        struct.pack(">I", 2) + _field(b"ab") + _field(struct.pack(">Q", 1)))
    assert encode_field([]) == struct.pack(">I", 0)
    assert encode_field([[b"x"]]) == struct.pack(">I", 1) + _field(
        struct.pack(">I", 1) + _field(b"x"))


def test_hash_matches_the_specified_preimage() -> None:
    digest = hash_fields(Tag.BASE_HASH, b"\x01", "two", 3, [b"4"])
    expected = _reference_hash(
        "base-hash", b"\x01", b"two", struct.pack(">Q", 3),
        struct.pack(">I", 1) + _field(b"4"))
    assert digest == expected


# --- unambiguity and domain separation (properties) -------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=6), max_size=4), st.lists(st.binary(max_size=6), max_size=4))
def test_distinct_field_lists_never_share_an_encoding(a: list[bytes], b: list[bytes]) -> None:
    # The concatenation of length-prefixed fields is injective: ["ab", "c"] ≠ ["a", "bc"].
    if a != b:
        assert hash_fields(Tag.CIPHERTEXT_DIGEST, *a) != hash_fields(Tag.CIPHERTEXT_DIGEST, *b)
        assert encode_field(a) != encode_field(b)


def test_field_boundaries_are_bound() -> None:
    assert hash_fields(Tag.TRACKING_CODE, "ab", "c") != hash_fields(Tag.TRACKING_CODE, "a", "bc")
    assert hash_fields(Tag.TRACKING_CODE, ["a", "b"]) != hash_fields(Tag.TRACKING_CODE, "a", "b")
    assert hash_fields(Tag.TRACKING_CODE, 1) != hash_fields(Tag.TRACKING_CODE, b"\x01")


def test_every_tag_is_distinct_and_hashes_differently() -> None:
    values = [str(tag) for tag in Tag]
    assert len(set(values)) == len(values)
    digests = {hash_fields(tag, b"same") for tag in Tag}
    assert len(digests) == len(values)
    assert TAG_PREFIX == "paperchain/v1/"


def test_hash_to_exponent_reduces_the_digest_mod_q() -> None:
    digest = hash_fields(Tag.SELECTION_PROOF, b"x")
    for group in (STANDARD, TEST_GROUP):
        assert hash_to_exponent(group, Tag.SELECTION_PROOF, b"x").value == (
            int.from_bytes(digest, "big") % group.q)


# --- the manifest hash, H_B and H_E -------------------------------------------------------------


def test_manifest_hash_is_sha256_of_the_exact_file_bytes() -> None:
    manifest = demo_manifest()
    assert manifest_hash(manifest.source_bytes) == hashlib.sha256(manifest.source_bytes).digest()
    assert manifest.digest == manifest_hash(manifest.source_bytes)
    # One more space in the file is another manifest.
    assert manifest_hash(manifest.source_bytes + b" ") != manifest.digest


def test_base_hash_matches_the_specified_preimage() -> None:
    digest = demo_manifest().digest
    p, q, g = parameters_fields(STANDARD)
    assert (len(p), len(q), len(g)) == (512, 32, 512)
    expected = _reference_hash("base-hash", p, q, g, digest, struct.pack(">Q", 3),
                               struct.pack(">Q", 2))
    assert base_hash(STANDARD, digest, 3, 2) == expected


def test_base_hash_binds_group_manifest_n_and_k() -> None:
    digest = demo_manifest().digest
    reference = base_hash(STANDARD, digest, 3, 2)
    others = [
        base_hash(TEST_GROUP, digest, 3, 2),
        base_hash(STANDARD, hashlib.sha256(b"another manifest").digest(), 3, 2),
        base_hash(STANDARD, digest, 4, 2),
        base_hash(STANDARD, digest, 3, 3),
    ]
    assert reference not in others
    assert len(set(others)) == len(others)


def test_rejects_manifest_hash_of_wrong_length() -> None:
    with pytest.raises(EncodingError, match="32 bytes"):
        base_hash(STANDARD, b"\x00" * 31, 3, 2)


def test_extended_base_hash_binds_the_key_and_every_commitment_in_order() -> None:
    group = TEST_GROUP
    h_b = base_hash(group, demo_manifest().digest, 2, 2)
    k = [[group.g_pow(1), group.g_pow(2)], [group.g_pow(3), group.g_pow(4)]]
    key = k[0][0] * k[1][0]
    reference = extended_base_hash(h_b, key, k)
    expected = _reference_hash(
        "extended-base-hash", h_b, key.to_bytes(),
        struct.pack(">I", 2) + b"".join(
            _field(struct.pack(">I", 2) + b"".join(_field(x.to_bytes()) for x in row))
            for row in k))
    assert reference == expected
    assert extended_base_hash(h_b, key * group.generator, k) != reference
    assert extended_base_hash(h_b, key, [k[1], k[0]]) != reference
    assert extended_base_hash(h_b, key, [[k[0][0], k[0][1] * group.generator], k[1]]) != reference
    assert extended_base_hash(bytes(32), key, k) != reference


# --- nonces ---------------------------------------------------------------------------------------


def test_derived_nonces_follow_the_specified_preimage() -> None:
    seed = bytes(range(32))
    nonces = DerivedNonces(seed, 2, "contest")
    first, second = nonces.next_exponent(STANDARD), nonces.next_exponent(STANDARD)
    label = struct.pack(">I", 2) + _field(struct.pack(">Q", 2)) + _field(b"contest")
    for counter, value in enumerate((first, second)):
        digest = _reference_hash("proof-nonce", seed, label, struct.pack(">Q", counter))
        assert value.value == int.from_bytes(digest, "big") % STANDARD.q


def test_derived_nonces_are_reproducible_and_never_repeat() -> None:
    seed = fresh_seed()
    a = DerivedNonces(seed, 0, 1)
    b = DerivedNonces(seed, 0, 1)
    draws = [a.next_exponent(TEST_GROUP) for _ in range(20)]
    assert draws == [b.next_exponent(TEST_GROUP) for _ in range(20)]
    assert len({d.value for d in draws}) == 20


def test_derived_nonces_depend_on_the_label_and_the_seed() -> None:
    seed = bytes(32)
    base = DerivedNonces(seed, 0, 1).next_exponent(TEST_GROUP)
    assert DerivedNonces(seed, 1, 0).next_exponent(TEST_GROUP) != base
    assert DerivedNonces(seed, 0, "1").next_exponent(TEST_GROUP) != base
    assert DerivedNonces(b"\x01" + seed[1:], 0, 1).next_exponent(TEST_GROUP) != base


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_rejects_nonce_seed_that_is_not_32_bytes(length: int) -> None:
    with pytest.raises(UsageError, match="32 bytes"):
        DerivedNonces(bytes(length))


def test_random_nonces_come_from_the_csprng() -> None:
    draws = {RandomNonces().next_exponent(STANDARD).value for _ in range(8)}
    assert len(draws) == 8
    assert len(fresh_seed()) == 32
