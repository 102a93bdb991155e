"""Non-interactive zero-knowledge proofs (Fiat–Shamir), each ``prove_*`` with its ``verify_*``.

Every proof carries its commitments as well as its challenges and responses, so
that many proofs can be checked together by a random linear combination (the
performance issue's batch verifier); the challenge is the same hash either way.
Each challenge hashes a ``ProofContext`` (its own tag, the election's H_B or H_E and
the indices that place the statement) followed by the whole statement and every
commitment — so a proof moved to another election, index or statement fails, and
commitments cannot be chosen before the statement (the flaw that let Helios accept
a forged "encrypts 2" proof). docs/spec.md §5 gives each preimage.

* Schnorr proof of knowledge of a with K = g^a                      (§5.1)
* Chaum–Pedersen proof that log_g X = log_A Y                       (§5.2)
* disjunctive Chaum–Pedersen proof that (α, β) encrypts m ∈ 0..L    (§5.3),
  with L = 1 for a selection ("0/1") and L = the contest limit for a contest sum.

Verifiers return ``None`` or raise ``InvalidProof`` naming the failed check.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from gmpy2 import mpz

from e2e.batch import BatchVerifier, RangeClaim
from e2e.elgamal import Ciphertext
from e2e.errors import InvalidProof, UsageError
from e2e.fixedbase import PrecomputedPool, powerer
from e2e.group import ElementModP, ElementModQ, GroupParameters, _trusted_p, _trusted_q
from e2e.hashing import Field, Tag, encode_field, hash_to_exponent
from e2e.nonces import NonceSource

__all__ = [
    "ChaumPedersenProof",
    "ProofContext",
    "RangeBranch",
    "RangeProof",
    "SchnorrProof",
    "encode_nested",
    "prove_chaum_pedersen",
    "prove_range",
    "prove_schnorr",
    "verify_chaum_pedersen",
    "verify_range",
    "verify_schnorr",
]


@dataclass(frozen=True, slots=True)
class ProofContext:
    """What a proof is about besides its algebra: a tag and the fields that place it.

    For example a selection proof's context is (selection-proof; H_E, device ID,
    sequence number, contest index, selection index).
    """

    tag: Tag
    fields: tuple[Field, ...]


def _challenge(group: GroupParameters, context: ProofContext, *statement: Field) -> ElementModQ:
    return hash_to_exponent(group, context.tag, *context.fields, *statement)


def encode_nested(value: bytes | Sequence[object]) -> bytes:
    """``e2e.hashing.encode_field`` of nested lists of bytes, without its type dispatch.

    enc(bytes) = the bytes; enc(list) = u32(count) ‖ (u32(len(enc(item))) ‖ enc(item))*
    (docs/spec.md §3.1) — so passing the result as a bytes field hashes exactly what
    passing the list would. Used on the hot paths (range proofs, tracking codes), where
    the generic encoder's isinstance chain costs more than the hashing itself.
    """
    if type(value) is bytes:
        return value
    if isinstance(value, bytearray | memoryview):
        return encode_field(value)  # a byte string, never a list of small integers
    parts = [_U32.pack(len(value))]  # type: ignore[arg-type]
    for item in value:  # type: ignore[union-attr]
        encoded = encode_nested(item)  # type: ignore[arg-type]
        parts.append(_U32.pack(len(encoded)))
        parts.append(encoded)
    return b"".join(parts)


_U32 = struct.Struct(">I")


def _same_group(*values: ElementModP | ElementModQ) -> GroupParameters:
    group = values[0].group
    for value in values[1:]:
        if value.group != group:
            raise InvalidProof("the proof and its statement are in different groups")
    return group


# --- Schnorr proof of knowledge -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchnorrProof:
    """Knowledge of a with K = g^a: h = g^u, c = H(ctx; K, h), v = u + c·a; g^v = h·K^c."""

    commitment: ElementModP
    challenge: ElementModQ
    response: ElementModQ


def prove_schnorr(
    secret: ElementModQ, public: ElementModP, context: ProofContext, nonces: NonceSource
) -> SchnorrProof:
    group = public.group
    u = nonces.next_exponent(group)
    h = group.generator.pow_secret(u)
    c = _challenge(group, context, public, h)
    return SchnorrProof(h, c, u + c * secret)


def verify_schnorr(proof: SchnorrProof, public: ElementModP, context: ProofContext) -> None:
    group = _same_group(public, proof.commitment, proof.challenge, proof.response)
    if proof.challenge != _challenge(group, context, public, proof.commitment):
        raise InvalidProof("Schnorr challenge is not the hash of its statement")
    if group.g_pow(proof.response) != proof.commitment * public**proof.challenge:
        raise InvalidProof("Schnorr equation g^v = h·K^c fails")


# --- Chaum–Pedersen equality of discrete logarithms ---------------------------------


@dataclass(frozen=True, slots=True)
class ChaumPedersenProof:
    """log_g X = log_A Y = s: a = g^u, b = A^u, c = H(ctx; X, A, Y, a, b), v = u + c·s."""

    commitment_g: ElementModP
    commitment_a: ElementModP
    challenge: ElementModQ
    response: ElementModQ


def prove_chaum_pedersen(
    secret: ElementModQ,
    base: ElementModP,
    context: ProofContext,
    nonces: NonceSource,
) -> tuple[ElementModP, ChaumPedersenProof]:
    """Return (Y = base^secret, proof) with secret exponentiations in constant time."""
    group = base.group
    public = group.generator.pow_secret(secret)
    result = base.pow_secret(secret)
    u = nonces.next_exponent(group)
    a = group.generator.pow_secret(u)
    b = base.pow_secret(u)
    c = _challenge(group, context, public, base, result, a, b)
    return result, ChaumPedersenProof(a, b, c, u + c * secret)


def verify_chaum_pedersen(
    proof: ChaumPedersenProof,
    public: ElementModP,
    base: ElementModP,
    result: ElementModP,
    context: ProofContext,
) -> None:
    group = _same_group(public, base, result, proof.commitment_g, proof.commitment_a)
    expected = _challenge(
        group, context, public, base, result, proof.commitment_g, proof.commitment_a
    )
    if proof.challenge != expected:
        raise InvalidProof("Chaum–Pedersen challenge is not the hash of its statement")
    if group.g_pow(proof.response) != proof.commitment_g * public**proof.challenge:
        raise InvalidProof("Chaum–Pedersen equation g^v = a·X^c fails")
    if base**proof.response != proof.commitment_a * result**proof.challenge:
        raise InvalidProof("Chaum–Pedersen equation A^v = b·Y^c fails")


# --- disjunctive Chaum–Pedersen: (α, β) encrypts one of 0..L ------------------------


@dataclass(frozen=True, slots=True)
class RangeBranch:
    """Branch j: (α, β/g^j) is an encryption of 0 — g^v = a·α^c, K^v = b·(β/g^j)^c."""

    commitment_g: ElementModP
    commitment_k: ElementModP
    challenge: ElementModQ
    response: ElementModQ


@dataclass(frozen=True, slots=True)
class RangeProof:
    """One branch per value 0..L; the branch challenges sum to H(ctx; L, K, α, β, commitments)."""

    branches: tuple[RangeBranch, ...]


def prove_range(
    ciphertext: Ciphertext,
    plaintext: int,
    nonce: ElementModQ,
    public_key: ElementModP,
    limit: int,
    context: ProofContext,
    nonces: NonceSource,
    *,
    pool: PrecomputedPool | None = None,
) -> RangeProof:
    """Prove that ``ciphertext`` = Enc(plaintext; nonce) with 0 <= plaintext <= limit.

    The prover knows r, so the simulated branches need no variable base:
    a_j = g^{v_j - c_j·r} and b_j = K^{v_j - c_j·r} · g^{-c_j·(m - j)}. Every
    exponentiation is therefore by g or K and goes through the fixed-base tables
    (``e2e.fixedbase``: ≈ 0.1 powmod each instead of 1, or 2.4 for ``powmod_sec``).
    The exponents are the prover's nonces: see the side-channel note in
    ``e2e.fixedbase`` for why the kiosk, unlike a trustee, may use table lookups.

    With a ``pool`` (``PrecomputedPool`` for this key) the proof randomness and its
    powers come from the pool instead of ``nonces`` — no exponentiation at all online.
    """
    group = public_key.group
    if pool is not None and pool.key == public_key.value:
        return _prove_range_pooled(ciphertext, plaintext, nonce, public_key, limit, context,
                                   pool)
    if limit < 1:
        raise UsageError("a range proof needs a limit of at least 1")
    if not 0 <= plaintext <= limit:
        raise UsageError(f"cannot prove that {plaintext} lies in 0..{limit}")
    p, q, r = group.p, group.q, nonce.value
    g_pow = powerer(group, group.g)
    k_pow = powerer(group, public_key.value)
    commitments: list[tuple[ElementModP, ElementModP]] = []
    simulated: dict[int, tuple[ElementModQ, ElementModQ]] = {}
    u = nonces.next_exponent(group)
    for j in range(limit + 1):
        if j == plaintext:
            commitments.append((_trusted_p(g_pow(u.value), group),
                                _trusted_p(k_pow(u.value), group)))
            continue
        c_j = nonces.next_exponent(group)
        v_j = nonces.next_exponent(group)
        shifted = (v_j.value - c_j.value * r) % q
        a_j = g_pow(shifted)
        b_j = k_pow(shifted) * g_pow((-c_j.value * (plaintext - j)) % q) % p
        commitments.append((_trusted_p(a_j, group), _trusted_p(b_j, group)))
        simulated[j] = (c_j, v_j)
    c = _challenge(
        group, context, limit, public_key, ciphertext.alpha, ciphertext.beta,
        encode_nested([[a.to_bytes(), b.to_bytes()] for a, b in commitments]),
    )
    c_real = c
    for c_j, _ in simulated.values():
        c_real = c_real - c_j
    branches = []
    for j, (a_j, b_j) in enumerate(commitments):
        if j == plaintext:
            branches.append(RangeBranch(a_j, b_j, c_real, u + c_real * nonce))
        else:
            c_j, v_j = simulated[j]
            branches.append(RangeBranch(a_j, b_j, c_j, v_j))
    return RangeProof(tuple(branches))


def _prove_range_pooled(ciphertext: Ciphertext, plaintext: int, nonce: ElementModQ,
                        public_key: ElementModP, limit: int, context: ProofContext,
                        pool: PrecomputedPool) -> RangeProof:
    """``prove_range`` with precomputed randomness (see ``PrecomputedPool``)."""
    group = public_key.group
    if limit < 1:
        raise UsageError("a range proof needs a limit of at least 1")
    if not 0 <= plaintext <= limit:
        raise UsageError(f"cannot prove that {plaintext} lies in 0..{limit}")
    p, q, r = group.p, int(group.q), int(nonce.value)
    commitments: list[tuple[mpz, mpz]] = []
    simulated: dict[int, tuple[int, int]] = {}
    u = 0
    for j in range(limit + 1):
        if j == plaintext:
            u, g_u, k_u = pool.take_pair()
            commitments.append((g_u, k_u))
            continue
        t, g_t, k_t = pool.take_pair()
        s, g_s = pool.take_single()
        c_j = -s * pow(plaintext - j, -1, q) % q  # −c_j·(m − j) = s
        simulated[j] = (c_j, (t + c_j * r) % q)
        commitments.append((g_t, k_t * g_s % p))
    elements = [(_trusted_p(a, group), _trusted_p(b, group)) for a, b in commitments]
    c = int(_challenge(
        group, context, limit, public_key, ciphertext.alpha, ciphertext.beta,
        encode_nested([[a.to_bytes(), b.to_bytes()] for a, b in elements]),
    ).value)
    c_real = (c - sum(c_j for c_j, _ in simulated.values())) % q
    branches = []
    for j, (a_j, b_j) in enumerate(elements):
        c_j, v_j = simulated.get(j, (c_real, (u + c_real * r) % q))
        branches.append(RangeBranch(a_j, b_j, _trusted_q(mpz(c_j), group),
                                    _trusted_q(mpz(v_j), group)))
    return RangeProof(tuple(branches))


def verify_range(
    proof: RangeProof,
    ciphertext: Ciphertext,
    public_key: ElementModP,
    limit: int,
    context: ProofContext,
    *,
    fast: bool = True,
) -> None:
    """Check that ``ciphertext`` encrypts one of 0..``limit`` (the limit comes from the
    statement — the manifest — never from the proof).

    ``fast`` checks the 2·(L + 1) equations as one random linear combination
    (``e2e.batch``, step 3; the elements are checked ``ElementModP``s); if that fails, the
    simple path below runs and raises, naming the first equation that fails.
    """
    if fast and _range_holds(proof, ciphertext, public_key, limit, context):
        return
    if len(proof.branches) != limit + 1:
        raise InvalidProof(
            f"expected {limit + 1} branches for 0..{limit}, got {len(proof.branches)}")
    group = _same_group(public_key, ciphertext.alpha, ciphertext.beta)
    for branch in proof.branches:
        _same_group(public_key, branch.commitment_g, branch.commitment_k)
    expected = _challenge(
        group, context, limit, public_key, ciphertext.alpha, ciphertext.beta,
        [[b.commitment_g, b.commitment_k] for b in proof.branches],
    )
    total = group.zero_exponent()
    for branch in proof.branches:
        total = total + branch.challenge
    if total != expected:
        raise InvalidProof("branch challenges do not sum to the hash of the statement")
    alpha, beta = ciphertext.alpha, ciphertext.beta
    g_inverse = group.generator.inverse()
    shifted_beta = beta
    for j, branch in enumerate(proof.branches):
        if group.g_pow(branch.response) != branch.commitment_g * alpha**branch.challenge:
            raise InvalidProof(f"branch {j}: g^v = a·α^c fails")
        if public_key**branch.response != branch.commitment_k * shifted_beta**branch.challenge:
            raise InvalidProof(f"branch {j}: K^v = b·(β/g^{j})^c fails")
        shifted_beta = shifted_beta * g_inverse



def _range_holds(proof: RangeProof, ciphertext: Ciphertext, public_key: ElementModP, limit: int,
                 context: ProofContext) -> bool:
    """The exact checks of ``verify_range`` and its equations batched (``e2e.batch``)."""
    group = public_key.group
    values = [ciphertext.alpha, ciphertext.beta]
    for branch in proof.branches:
        values += [branch.commitment_g, branch.commitment_k, branch.challenge, branch.response]
    if len(proof.branches) != limit + 1 or any(v.group != group for v in values):
        return False
    expected = _challenge(
        group, context, limit, public_key, ciphertext.alpha, ciphertext.beta,
        [[b.commitment_g, b.commitment_k] for b in proof.branches],
    )
    total = sum(int(b.challenge.value) for b in proof.branches) % int(group.q)
    if total != expected.value:
        return False
    claim = RangeClaim(
        ciphertext.alpha.value, ciphertext.beta.value, limit,
        tuple(b.commitment_g.value for b in proof.branches),
        tuple(b.commitment_k.value for b in proof.branches),
        tuple(int(b.challenge.value) for b in proof.branches),
        tuple(int(b.response.value) for b in proof.branches))
    return BatchVerifier(group, public_key.value, trusted_elements=True).holds([claim])
