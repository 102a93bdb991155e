"""The group of exponential ElGamal: parameters, and checked elements and exponents.

Paperchain computes in the order-q subgroup of Z_p^* where p - 1 = 2·q·r' with q and
r' prime (DESIGN.md, "Cryptography"; docs/spec.md §2). Two parameter sets exist:

* ``STANDARD``: the ElectionGuard 2.0 standard group (4096-bit p, q = 2^256 - 189),
  pinned here as constants and re-derived from its definition by the tests;
* ``TEST_GROUP``: a 1022-bit p of the same shape for fast tests. It is never a
  default: code that may run on it takes the group as an argument, and verifiers
  refuse it unless explicitly told ``--test-group``.

Values from outside become group values only through checked constructors:
``ElementModP(x, group)`` requires 0 < x < p and x^q = 1 (mod p), which excludes the
order-2 component (p - x) and any order-r' component (x·3^{2q}, which a Jacobi check
alone would pass); ``ElementModQ(e, group)`` requires 0 <= e < q. Decoders accept
only the canonical fixed-width lowercase hex or big-endian byte form, so x + p and
e + q are refused. Products and powers of checked values are computed without a new
check: the subgroup is closed under them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Final

import gmpy2
from gmpy2 import mpz

from e2e.errors import InvalidElement, InvalidExponent, InvalidParameters

__all__ = [
    "STANDARD",
    "TEST_GROUP",
    "ElementModP",
    "ElementModQ",
    "GroupParameters",
    "constant_time_equal",
    "derive_standard_p",
    "derive_test_group",
]


@dataclass(frozen=True, slots=True, eq=False)
class GroupParameters:
    """A prime-order subgroup of Z_p^*: p = 2·q·r' + 1 (docs/spec.md §2.1).

    ``r`` is the cofactor (p - 1) / q = 2·r'. ``g`` generates the order-q subgroup.
    Two parameter sets are equal when their p, q and g are.
    """

    name: str
    p: mpz
    q: mpz
    g: mpz
    r: mpz = field(init=False)
    p_bytes: int = field(init=False)
    q_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        if (self.p - 1) % self.q != 0:
            raise InvalidParameters("q does not divide p - 1", where=f"group {self.name}")
        object.__setattr__(self, "r", (self.p - 1) // self.q)
        object.__setattr__(self, "p_bytes", (int(self.p).bit_length() + 7) // 8)
        object.__setattr__(self, "q_bytes", (int(self.q).bit_length() + 7) // 8)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, GroupParameters):
            return NotImplemented
        return self.p == other.p and self.q == other.q and self.g == other.g

    def __hash__(self) -> int:
        return hash((int(self.p), int(self.q), int(self.g)))

    def __repr__(self) -> str:
        return f"GroupParameters({self.name!r}, {int(self.p).bit_length()}-bit p)"

    # --- named elements -------------------------------------------------------------

    @property
    def generator(self) -> ElementModP:
        """g, the generator of the order-q subgroup."""
        return _trusted_p(self.g, self)

    @property
    def one(self) -> ElementModP:
        """The identity element 1."""
        return _trusted_p(mpz(1), self)

    def g_pow(self, exponent: ElementModQ | int) -> ElementModP:
        """g^e mod p (fixed base g)."""
        e = exponent.value if isinstance(exponent, ElementModQ) else mpz(exponent) % self.q
        return _trusted_p(gmpy2.powmod(self.g, e, self.p), self)

    def zero_exponent(self) -> ElementModQ:
        return _trusted_q(mpz(0), self)

    def exponent_of(self, value: int) -> ElementModQ:
        """value mod q, for small known integers (indices, plaintexts, counts)."""
        return _trusted_q(mpz(value) % self.q, self)

    def random_exponent(self) -> ElementModQ:
        """A uniformly random exponent in [0, q) from the operating system's CSPRNG."""
        return _trusted_q(mpz(secrets.randbelow(int(self.q))), self)

    def exponent_from_hash(self, digest: bytes) -> ElementModQ:
        """A 32-byte hash read as a big-endian integer and reduced mod q (docs/spec.md §3.3)."""
        return _trusted_q(mpz(int.from_bytes(digest, "big")) % self.q, self)

    # --- decoding (from outside: always checked) ------------------------------------

    def element_from_hex(self, text: object, where: str = "element") -> ElementModP:
        """Decode the canonical form: exactly 2·p_bytes lowercase hex digits. Every refusal
        names ``where``, the subgroup check's included."""
        value = _parse_hex(text, 2 * self.p_bytes, where, InvalidElement)
        try:
            return ElementModP(value, self)
        except InvalidElement as err:
            raise (err if err.where else InvalidElement(err.reason, where)) from None

    def exponent_from_hex(self, text: object, where: str = "exponent") -> ElementModQ:
        """Decode the canonical form: exactly 2·q_bytes lowercase hex digits."""
        return ElementModQ(_parse_hex(text, 2 * self.q_bytes, where, InvalidExponent), self)

    def element_from_bytes(self, data: bytes, where: str = "element") -> ElementModP:
        """Decode exactly p_bytes big-endian bytes."""
        if len(data) != self.p_bytes:
            raise InvalidElement(f"expected {self.p_bytes} bytes, got {len(data)}", where)
        return ElementModP(mpz(int.from_bytes(data, "big")), self)

    def exponent_from_bytes(self, data: bytes, where: str = "exponent") -> ElementModQ:
        """Decode exactly q_bytes big-endian bytes."""
        if len(data) != self.q_bytes:
            raise InvalidExponent(f"expected {self.q_bytes} bytes, got {len(data)}", where)
        return ElementModQ(mpz(int.from_bytes(data, "big")), self)

    def is_standard(self) -> bool:
        return self == STANDARD

    def check_shape(self) -> None:
        """Check p = 2·q·r' + 1 with p, q, r' prime, q >= 2^64, g of order q; or raise."""
        where = f"group {self.name}"
        if self.q < mpz(2) ** 64:
            raise InvalidParameters("q is smaller than 2^64", where)
        if self.r % 2 != 0:
            raise InvalidParameters("(p - 1)/q is odd: p - 1 must be 2·q·r'", where)
        r_prime = self.r // 2
        for label, value in (("p", self.p), ("q", self.q), ("r'", r_prime)):
            if not gmpy2.is_prime(value, 64):
                raise InvalidParameters(f"{label} is not prime", where)
        if r_prime == self.q:
            raise InvalidParameters("r' equals q", where)
        if not (1 < self.g < self.p) or gmpy2.powmod(self.g, self.q, self.p) != 1:
            raise InvalidParameters("g does not have order q", where)


def _parse_hex(text: object, width: int, where: str, error: type[ValueError]) -> mpz:
    if not isinstance(text, str):
        raise error(f"expected a hex string, got {type(text).__name__}", where)  # type: ignore[call-arg]
    if len(text) != width:
        raise error(  # type: ignore[call-arg]
            f"expected exactly {width} hex digits, got {len(text)}", where
        )
    if text.strip("0123456789abcdef"):
        raise error("not lowercase hexadecimal (the canonical form)", where)  # type: ignore[call-arg]
    return mpz(text, 16)


class _MembershipMemo:
    """Elements this process has already seen pass x^q = 1, by SHA-256 of (p, x).

    The verifier's passes, each trustee's recomputation and every audit step decode the
    same ledger entries again in one process (the demo runs them all); a membership
    verdict is a function of (p, q, x), so it is kept — as a 32-byte digest, never the
    element — and reused. Only passes are kept; the memo is bounded (oldest dropped) and
    never leaves the process, so nothing is trusted that this process did not compute.
    """

    __slots__ = ("_digests", "_limit")

    def __init__(self, limit: int) -> None:
        self._digests: dict[bytes, None] = {}
        self._limit = limit

    @staticmethod
    def _digest(x: mpz, group: GroupParameters) -> bytes:
        return hashlib.sha256(
            int(group.p).to_bytes(group.p_bytes, "big") + int(group.q).to_bytes(
                group.q_bytes, "big") + int(x).to_bytes(group.p_bytes, "big")).digest()

    def known(self, x: mpz, group: GroupParameters) -> bool:
        return self._digest(x, group) in self._digests

    def remember(self, x: mpz, group: GroupParameters) -> None:
        digests = self._digests
        digests[self._digest(x, group)] = None
        if len(digests) > self._limit:
            digests.pop(next(iter(digests)))  # dicts keep insertion order: the oldest


_MEMBERS = _MembershipMemo(limit=262_144)


@dataclass(frozen=True, slots=True, eq=False)
class ElementModP:
    """An element of the order-q subgroup of Z_p^*, checked when built from outside.

    Constructing one directly runs the full check (0 < x < p, x^q = 1); arithmetic on
    checked elements yields elements without re-checking.
    """

    value: mpz
    group: GroupParameters

    def __post_init__(self) -> None:
        x = self.value
        if not isinstance(x, type(mpz(0))) and not isinstance(x, int):
            raise InvalidElement(f"expected an integer, got {type(x).__name__}")
        if isinstance(x, bool):
            raise InvalidElement("expected an integer, got bool")
        x = mpz(x)
        object.__setattr__(self, "value", x)
        g = self.group
        if not 0 < x < g.p:
            raise InvalidElement("not in range 0 < x < p")
        if not _MEMBERS.known(x, g):
            if gmpy2.powmod(x, g.q, g.p) != 1:
                raise InvalidElement("not in the order-q subgroup (x^q != 1 mod p)")
            _MEMBERS.remember(x, g)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ElementModP):
            return NotImplemented
        return self.value == other.value and self.group == other.group

    def __hash__(self) -> int:
        return hash(int(self.value))

    def __repr__(self) -> str:
        return f"ElementModP({format(self.value, 'x')[:12]}…)"

    def __mul__(self, other: ElementModP) -> ElementModP:
        _same_group(self.group, other.group)
        return _trusted_p(self.value * other.value % self.group.p, self.group)

    def __truediv__(self, other: ElementModP) -> ElementModP:
        _same_group(self.group, other.group)
        inv = gmpy2.invert(other.value, self.group.p)
        return _trusted_p(self.value * inv % self.group.p, self.group)

    def __pow__(self, exponent: ElementModQ | int) -> ElementModP:
        if isinstance(exponent, ElementModQ):
            _same_group(self.group, exponent.group)
            e = exponent.value
        else:
            e = mpz(exponent) % self.group.q
        return _trusted_p(gmpy2.powmod(self.value, e, self.group.p), self.group)

    def pow_secret(self, exponent: ElementModQ) -> ElementModP:
        """self^e with a secret e, by GMP's constant-time ``powmod_sec``."""
        _same_group(self.group, exponent.group)
        if exponent.value == 0:  # powmod_sec refuses a zero exponent; x^0 = 1
            return self.group.one
        return _trusted_p(gmpy2.powmod_sec(self.value, exponent.value, self.group.p), self.group)

    def inverse(self) -> ElementModP:
        return _trusted_p(gmpy2.invert(self.value, self.group.p), self.group)

    def is_one(self) -> bool:
        return self.value == 1

    def to_bytes(self) -> bytes:
        return int(self.value).to_bytes(self.group.p_bytes, "big")

    def to_hex(self) -> str:
        return format(self.value, "x").rjust(2 * self.group.p_bytes, "0")


@dataclass(frozen=True, slots=True, eq=False)
class ElementModQ:
    """An exponent 0 <= e < q, checked when built from outside."""

    value: mpz
    group: GroupParameters

    def __post_init__(self) -> None:
        e = self.value
        if isinstance(e, bool) or not isinstance(e, int | type(mpz(0))):
            raise InvalidExponent(f"expected an integer, got {type(e).__name__}")
        e = mpz(e)
        object.__setattr__(self, "value", e)
        if not 0 <= e < self.group.q:
            raise InvalidExponent("not in range 0 <= e < q")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ElementModQ):
            return NotImplemented
        return self.value == other.value and self.group == other.group

    def __hash__(self) -> int:
        return hash(int(self.value))

    def __repr__(self) -> str:
        return f"ElementModQ({format(self.value, 'x')[:12]}…)"

    def __add__(self, other: ElementModQ | int) -> ElementModQ:
        return _trusted_q((self.value + _q_value(self.group, other)) % self.group.q, self.group)

    def __sub__(self, other: ElementModQ | int) -> ElementModQ:
        return _trusted_q((self.value - _q_value(self.group, other)) % self.group.q, self.group)

    def __mul__(self, other: ElementModQ | int) -> ElementModQ:
        return _trusted_q(self.value * _q_value(self.group, other) % self.group.q, self.group)

    def __neg__(self) -> ElementModQ:
        return _trusted_q((-self.value) % self.group.q, self.group)

    def inverse(self) -> ElementModQ:
        if self.value == 0:
            raise InvalidExponent("0 has no inverse mod q")
        return _trusted_q(gmpy2.invert(self.value, self.group.q), self.group)

    def is_zero(self) -> bool:
        return self.value == 0

    def to_bytes(self) -> bytes:
        return int(self.value).to_bytes(self.group.q_bytes, "big")

    def to_hex(self) -> str:
        return format(self.value, "x").rjust(2 * self.group.q_bytes, "0")


def _q_value(group: GroupParameters, other: ElementModQ | int) -> mpz:
    if isinstance(other, ElementModQ):
        _same_group(group, other.group)
        return other.value
    return mpz(other)


def _same_group(a: GroupParameters, b: GroupParameters) -> None:
    if a is not b and a != b:
        raise InvalidParameters("values from two different groups were combined")


def _trusted_p(value: mpz, group: GroupParameters) -> ElementModP:
    """An element known to be in the subgroup (a product or power of checked ones)."""
    element = object.__new__(ElementModP)
    object.__setattr__(element, "value", value)
    object.__setattr__(element, "group", group)
    return element


def _trusted_q(value: mpz, group: GroupParameters) -> ElementModQ:
    exponent = object.__new__(ElementModQ)
    object.__setattr__(exponent, "value", value)
    object.__setattr__(exponent, "group", group)
    return exponent


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare secrets (or values derived from them) without an early exit."""
    return hmac.compare_digest(a, b)


# --- the pinned parameter sets ---------------------------------------------------------

# ElectionGuard 2.0 standard parameters (ElectionGuard Design Specification 2.0, §3.1.1):
# q = 2^256 - 189; p = 2^4096 - 2^3840 - 1 + 2^256·(floor(2^3584·ln 2) + delta);
# r = (p - 1)/q; g = 2^r mod p. ``derive_standard_p`` recomputes p from that formula.
_STANDARD_DELTA: Final = (
    287975203778583638958138611533602521491887169409704874643524560756486080635197037904
)
_STANDARD_P_HEX: Final = "".join(
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "b17217f7d1cf79abc9e3b39803f2f6af40f343267298b62d8a0d175b8baafa2b"
    "e7b876206debac98559552fb4afa1b10ed2eae35c138214427573b291169b825"
    "3e96ca16224ae8c51acbda11317c387eb9ea9bc3b136603b256fa0ec7657f74b"
    "72ce87b19d6548caf5dfa6bd38303248655fa1872f20e3a2da2d97c50f3fd5c6"
    "07f4ca11fb5bfb90610d30f88fe551a2ee569d6dfc1efa157d2e23de1400b396"
    "17460775db8990e5c943e732b479cd33cccc4e659393514c4c1a1e0bd1d6095d"
    "25669b333564a3376a9c7f8a5e148e82074db6015cfe7aa30c480a5417350d2c"
    "955d5179b1e17b9dae313cdb6c606cb1078f735d1b2db31b5f50b5185064c18b"
    "4d162db3b365853d7598a1951ae273ee5570b6c68f96983496d4e6d330af889b"
    "44a02554731cdc8ea17293d1228a4ef98d6f5177fbcf0755268a5c1f9538b982"
    "61affd446b1ca3cf5e9222b88c66d3c5422183edc99421090bbb16faf3d949f2"
    "36e02b20cee886b905c128d53d0bd2f9621363196af503020060e49908391a0c"
    "57339ba2beba7d052ac5b61cc4e9207cef2f0ce2d7373958d762265890445744"
    "fb5f2da4b751005892d356890defe9cad9b9d4b713e06162a2d8fdd0df2fd608"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)
_STANDARD_G_HEX: Final = "".join(
    "36036fed214f3b50dc566d3a312fe4131fee1c2bce6d02ea39b477ac05f7f885"
    "f38cfe77a7e45acf4029114c4d7a9bfe058bf2f995d2479d3dda618ffd910d3c"
    "4236ab2cfdd783a5016f7465cf59bbf45d24a22f130f2d04fe93b2d58bb9c1d1"
    "d27fc9a17d2af49a779f3ffbdca22900c14202ee6c99616034be35cbcdd3e7bb"
    "7996adfe534b63cca41e21ff5dc778ebb1b86c53bfbe99987d7aea0756237fb4"
    "0922139f90a62f2aa8d9ad34dff799e33c857a6468d001acf3b681db87dc4242"
    "755e2ac5a5027db81984f033c4d178371f273dbb4fcea1e628c23e52759bc776"
    "5728035cea26b44c49a65666889820a45c33dd37ea4a1d00cb62305cd541be1e"
    "8a92685a07012b1a20a746c3591a2db3815000d2aaccfe43dc49e828c1ed7387"
    "466afd8e4bf1935593b2a442eec271c50ad39f733797a1ea11802a2557916534"
    "662a6b7e9a9e449a24c8cff809e79a4d806eb681119330e6c57985e39b200b48"
    "93639fdfdea49f76ad1acd997eba13657541e79ec57437e504eda9dd01106151"
    "6c643fb30d6d58afccd28b73feda29ec12b01a5eb86399a593a9d5f450de39cb"
    "92962c5ec6925348db54d128fd99c14b457f883ec20112a75a6a0581d3d80a3b"
    "4ef09ec86f9552ffda1653f133aa2534983a6f31b0ee4697935a6b1ea2f75b85"
    "e7eba151ba486094d68722b054633fec51ca3f29b31e77e317b178b6b9d8ae0f"
)


def derive_standard_p() -> int:
    """Recompute the standard p from its definition with 4000-bit floating point."""
    with gmpy2.context(precision=4000):
        floor_term = mpz(gmpy2.floor(mpz(2) ** 3584 * gmpy2.log(2)))
    two = mpz(2)
    return int(two**4096 - two**3840 - 1 + two**256 * (floor_term + _STANDARD_DELTA))


def derive_test_group() -> tuple[int, int, int]:
    """The test group's (p, q, g), recomputed from its definition (docs/spec.md §2.2).

    q = 2^127 - 1 (a Mersenne prime); r' is the first prime >= 2^894 for which
    p = 2·q·r' + 1 is prime; g = 2^{2r'} mod p.
    """
    q = mpz(2) ** 127 - 1
    r_prime = gmpy2.next_prime(mpz(2) ** 894 - 1)
    while not gmpy2.is_prime(2 * q * r_prime + 1, 64):
        r_prime = gmpy2.next_prime(r_prime)
    p = 2 * q * r_prime + 1
    return int(p), int(q), int(gmpy2.powmod(2, 2 * r_prime, p))


STANDARD: Final = GroupParameters(
    name="electionguard-2.0-standard",
    p=mpz(_STANDARD_P_HEX, 16),
    q=mpz(2) ** 256 - 189,
    g=mpz(_STANDARD_G_HEX, 16),
)

# Pinned like the standard group; tests re-derive it with ``derive_test_group``.
_TEST_Q: Final = mpz(2) ** 127 - 1
_TEST_R_PRIME: Final = mpz(2) ** 894 + 0x252CD
_TEST_P: Final = 2 * _TEST_Q * _TEST_R_PRIME + 1
TEST_GROUP: Final = GroupParameters(
    name="paperchain-test-1022",
    p=_TEST_P,
    q=_TEST_Q,
    g=gmpy2.powmod(2, 2 * _TEST_R_PRIME, _TEST_P),
)
