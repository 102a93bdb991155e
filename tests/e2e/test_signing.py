"""Tagged Ed25519 signatures and the keys they are checked under (docs/spec.md §6).

The small-order and non-canonical encodings below are those of libsodium's blocklist and
of Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs" (2020); a small independent
Edwards25519 implementation checks that each really is what its test says (small order,
non-canonical, mixed order), so a mistyped constant cannot make a test pass vacuously.
"""

from __future__ import annotations

import itertools
import struct

import pytest

from e2e.errors import EncodingError, InvalidSignature
from e2e.signing import SIGNATURE_BYTES, SignatureTag, SigningKey, VerifyKey, signed_message

# --- an independent Edwards25519 (RFC 8032 §5.1) for checking the test constants -----------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def _decode(data: bytes) -> tuple[int, int] | None:
    """The point an encoding names under RFC 8032 decoding, or None (refused there)."""
    value = int.from_bytes(data, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, P - 2, P) % P
    root = pow(x, (P + 3) // 8, P)
    if root * root % P != x:
        root = root * SQRT_M1 % P
    if root * root % P != x:
        return None
    if root == 0 and sign:
        return None
    if root & 1 != sign:
        root = P - root
    return root, y


def _decode_loosely(data: bytes) -> tuple[int, int] | None:
    """As ``_decode`` but reducing y mod p, as lax verifiers do."""
    value = int.from_bytes(data, "little")
    y = (value & ((1 << 255) - 1)) % P
    return _decode(((value >> 255) << 255 | y).to_bytes(32, "little"))


def _encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def _multiply(n: int, point: tuple[int, int]) -> tuple[int, int]:
    result = IDENTITY
    while n:
        if n & 1:
            result = _add(result, point)
        point = _add(point, point)
        n >>= 1
    return result


SMALL_ORDER = {
    "identity (order 1)": "01" + "00" * 31,
    "(0, -1) (order 2)": "ec" + "ff" * 30 + "7f",
    "(sqrt(-1), 0) (order 4)": "00" * 32,
    "(-sqrt(-1), 0) (order 4)": "00" * 31 + "80",
    "order 8, y = 2707…022": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8, y = 2707…022, x negated":
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8, y = 5518…927": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8, y = 5518…927, x negated":
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}

# y + p for y = 0..18 (the only y with a second encoding below 2^255), both signs of x.
NON_CANONICAL = {
    f"y = {y} + p, sign {sign}": ((P + y) | sign << 255).to_bytes(32, "little").hex()
    for y in range(19) for sign in (0, 1)
}


def test_small_order_constants_are_small_order_points() -> None:
    points = set()
    for label, text in SMALL_ORDER.items():
        point = _decode(bytes.fromhex(text))
        assert point is not None, label
        assert _multiply(8, point) == IDENTITY, label
        points.add(point)
    assert len(points) == 8  # the whole torsion subgroup


# --- keys refused at registration ------------------------------------------------------------


@pytest.mark.parametrize("text", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_rejects_small_order_ed25519_key(text: str) -> None:
    with pytest.raises(InvalidSignature, match="small order"):
        VerifyKey(bytes.fromhex(text))


@pytest.mark.parametrize("text", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_rejects_non_canonical_ed25519_key(text: str) -> None:
    assert _decode(bytes.fromhex(text)) is None  # RFC 8032 refuses it as well
    with pytest.raises(InvalidSignature, match="not canonical"):
        VerifyKey(bytes.fromhex(text))


def test_non_canonical_constants_include_lax_encodings_of_small_order_points() -> None:
    # What a lax decoder (y mod p) would read: the identity and an order-4 point.
    assert _decode_loosely(bytes.fromhex(NON_CANONICAL["y = 1 + p, sign 0"])) == IDENTITY
    point = _decode_loosely(bytes.fromhex(NON_CANONICAL["y = 0 + p, sign 0"]))
    assert point is not None
    assert _multiply(4, point) == IDENTITY


@pytest.mark.parametrize("torsion", ["(0, -1) (order 2)", "order 8, y = 2707…022"])
def test_rejects_mixed_order_ed25519_key(torsion: str) -> None:
    # A valid key plus a small-order point: canonical, on the curve, not in the prime-order
    # subgroup (signatures under it verify differently in cofactored and cofactorless code).
    public = SigningKey(bytes(range(32))).verify_key.key_bytes
    point = _decode(public)
    small = _decode(bytes.fromhex(SMALL_ORDER[torsion]))
    assert point is not None
    assert small is not None
    mixed = _encode(_add(point, small))
    assert _multiply(L, _decode(mixed)) != IDENTITY  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature, match="prime-order subgroup"):
        VerifyKey(mixed)


def test_rejects_bytes_that_are_no_curve_point() -> None:
    for y in range(2, 50):
        encoding = y.to_bytes(32, "little")
        if _decode(encoding) is None:
            with pytest.raises(InvalidSignature, match="refused"):
                VerifyKey(encoding)
            return
    raise AssertionError("no off-curve y found")


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_rejects_key_of_wrong_length(length: int) -> None:
    with pytest.raises(InvalidSignature, match="exactly 32 bytes"):
        VerifyKey(bytes(length))


def test_rejects_key_that_is_not_bytes() -> None:
    key = SigningKey.generate().verify_key
    with pytest.raises(InvalidSignature, match="exactly 32 bytes"):
        VerifyKey(key.to_hex())  # type: ignore[arg-type]


def test_accepts_a_generated_key_and_its_canonical_hex() -> None:
    key = SigningKey.generate().verify_key
    assert VerifyKey.from_hex(key.to_hex()) == key


@pytest.mark.parametrize("change", ["upper", "short", "long", "nonhex", "int"])
def test_rejects_verify_key_hex_in_another_form(change: str) -> None:
    text = SigningKey(bytes(32)).verify_key.to_hex()
    altered: object = {"upper": text.upper(), "short": text[:-2], "long": text + "00",
                       "nonhex": "z" + text[1:], "int": 5}[change]
    with pytest.raises(EncodingError, match="64 lowercase hex digits"):
        VerifyKey.from_hex(altered, "setup.writers[0].key")


def test_small_order_key_from_hex_is_refused_where_it_was_read() -> None:
    with pytest.raises(InvalidSignature) as caught:
        VerifyKey.from_hex(SMALL_ORDER["identity (order 1)"], "setup.trustees[1].signing_key")
    assert caught.value.where == "setup.trustees[1].signing_key"


# --- signatures ------------------------------------------------------------------------------

KEY = SigningKey(bytes(range(32)))
ELECTION = "springfield-2026-general"


def test_signature_verifies_for_its_tag_election_and_message() -> None:
    signature = KEY.sign(SignatureTag.BALLOT, ELECTION, b"message")
    assert len(signature) == SIGNATURE_BYTES
    KEY.verify_key.verify(SignatureTag.BALLOT, ELECTION, b"message", signature)


@pytest.mark.parametrize(("signed", "checked"), list(itertools.permutations(SignatureTag, 2)),
                         ids=lambda tag: str(tag))
def test_rejects_signature_under_another_tag(signed: SignatureTag, checked: SignatureTag) -> None:
    signature = KEY.sign(signed, ELECTION, b"message")
    with pytest.raises(InvalidSignature, match=f"{checked} signature does not verify"):
        KEY.verify_key.verify(checked, ELECTION, b"message", signature)


@pytest.mark.parametrize("election", ["springfield-2026-general2", "Springfield-2026-general", ""])
def test_rejects_signature_under_another_election(election: str) -> None:
    signature = KEY.sign(SignatureTag.LEDGER_ENTRY, ELECTION, b"entry")
    with pytest.raises(InvalidSignature, match="does not verify"):
        KEY.verify_key.verify(SignatureTag.LEDGER_ENTRY, election, b"entry", signature)


def test_rejects_signature_over_another_message() -> None:
    signature = KEY.sign(SignatureTag.RECEIPT, ELECTION, b"receipt")
    with pytest.raises(InvalidSignature, match="does not verify"):
        KEY.verify_key.verify(SignatureTag.RECEIPT, ELECTION, b"receipt ", signature)


def test_rejects_signature_by_another_key() -> None:
    signature = SigningKey(bytes(32)).sign(SignatureTag.RECEIPT, ELECTION, b"receipt")
    with pytest.raises(InvalidSignature, match="does not verify"):
        KEY.verify_key.verify(SignatureTag.RECEIPT, ELECTION, b"receipt", signature)


@pytest.mark.parametrize("byte", [0, 31, 32, 63])
def test_rejects_signature_with_one_bit_flipped(byte: int) -> None:
    signature = bytearray(KEY.sign(SignatureTag.TREE_HEAD, ELECTION, b"head"))
    signature[byte] ^= 1
    with pytest.raises(InvalidSignature, match="does not verify"):
        KEY.verify_key.verify(SignatureTag.TREE_HEAD, ELECTION, b"head", bytes(signature))


def test_rejects_malleated_signature_with_s_plus_l() -> None:
    # (R, S + L) satisfies the verification equation; strict verifiers refuse S >= L.
    signature = KEY.sign(SignatureTag.TREE_HEAD, ELECTION, b"head")
    s = int.from_bytes(signature[32:], "little") + L
    assert s < 2**256
    malleated = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(InvalidSignature, match="does not verify"):
        KEY.verify_key.verify(SignatureTag.TREE_HEAD, ELECTION, b"head", malleated)


@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(65), "00" * 64])
def test_rejects_signature_of_wrong_length_or_type(signature: object) -> None:
    with pytest.raises(InvalidSignature, match="exactly 64 bytes"):
        KEY.verify_key.verify(SignatureTag.BALLOT, ELECTION, b"m", signature)  # type: ignore[arg-type]


def test_signed_message_is_the_specified_layout() -> None:
    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    assert signed_message(SignatureTag.DEVICE_CLOSE, "é", b"\x00\x01") == (
        field(b"paperchain/v1/sig/device-close") + field(b"\xc3\xa9") + field(b"\x00\x01"))


def test_signature_tags_are_distinct() -> None:
    values = [str(tag) for tag in SignatureTag]
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_rejects_signing_seed_of_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match="32 bytes"):
        SigningKey(bytes(length))


def test_signing_key_repr_shows_no_secret() -> None:
    seed = bytes(range(100, 132))
    key = SigningKey(seed)
    shown = repr(key)
    assert seed.hex() not in shown
    assert seed.hex()[:8] not in shown
    assert key.verify_key.to_hex()[:16] in shown
    assert key.seed == seed
