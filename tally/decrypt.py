"""Threshold decryption: trustees' partial decryptions with proofs, and their combination.

docs/spec.md §14.2. For a ciphertext (A, B), trustee ℓ with key share s_ℓ publishes
M_ℓ = A^{s_ℓ} (constant-time exponentiation) and a Chaum–Pedersen proof that
log_g K_ℓ = log_A M_ℓ, whose context is (decryption-share-proof; H_E, subject,
ℓ, contest, selection, B). The verifier derives K_ℓ from the ceremony's commitments —
never from the share — and computes the Lagrange coefficients
w_ℓ = ∏_{m ∈ U, m ≠ ℓ} m / (m − ℓ) mod q itself over the distinct non-zero indices U
used. Then M = ∏ M_ℓ^{w_ℓ}, g^t = B / M, and t is found by a discrete logarithm
bounded by the number of ballots that could have contributed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import gmpy2
from gmpy2 import mpz

from e2e.ballot import raw_decoders
from e2e.batch import SECURITY_BITS
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext, discrete_log
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import DecryptionError, InvalidProof, InvalidShare, UsageError
from e2e.group import ElementModP, ElementModQ, GroupParameters, _trusted_p
from e2e.hashing import Tag, hash_to_exponent
from e2e.multiexp import multi_exp
from e2e.nonces import NonceSource, RandomNonces
from e2e.proofs import (
    ChaumPedersenProof,
    ProofContext,
    verify_chaum_pedersen,
)
from e2e.trustee import KeyShare
from e2e.verdicts import VERDICTS, VerdictCache

__all__ = [
    "DecryptionShare",
    "PartialDecryption",
    "combine",
    "compute_share",
    "element_reader",
    "lagrange_coefficient",
    "share_context",
    "shares_hold",
    "verify_share",
]


def share_context(extended_hash: bytes, subject: str, trustee: int, contest: int,
                  selection: int, beta: ElementModP) -> ProofContext:
    return ProofContext(Tag.SHARE_PROOF, (extended_hash, subject, trustee, contest, selection,
                                          beta))


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    contest: int
    selection: int
    value: ElementModP  # M_ℓ = A^{s_ℓ}
    proof: ChaumPedersenProof


@dataclass(frozen=True, slots=True)
class DecryptionShare:
    """Payload of a ``decryption-share`` entry: one trustee's partials for one subject.

    ``subject`` names what is decrypted (``tally@<ledger index of the tally entry>``);
    ``verification_key`` is shown for readers and must equal the derived one.
    """

    subject: str
    trustee: int
    verification_key: ElementModP
    partials: tuple[PartialDecryption, ...]

    def to_payload(self) -> bytes:
        return canonical_json({
            "version": 1, "subject": self.subject, "trustee": self.trustee,
            "verification_key": self.verification_key.to_hex(),
            "partials": [
                {"contest": p.contest, "selection": p.selection, "value": p.value.to_hex(),
                 "proof": [p.proof.commitment_g.to_hex(), p.proof.commitment_a.to_hex(),
                           p.proof.challenge.to_hex(), p.proof.response.to_hex()]}
                for p in self.partials],
        })

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str, *,
                     deferred: bool = False) -> DecryptionShare:
        """Decode with every element checked (0 < x < p, x^q = 1). With ``deferred``, the
        partial values and commitments get every check but x^q = 1: such a share is
        provisional until ``shares_hold`` accepts it (which establishes membership), and
        must be dropped — and the payload decoded again, checked — if it does not."""
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        element = element_reader(group, deferred=deferred)

        def partial(r: ObjectReader) -> PartialDecryption:
            proof = r.items("proof", 4)
            if len(proof) != 4:
                raise InvalidProof("a proof is [a, b, challenge, response]", r.path("proof"))
            here = r.path("proof")
            return PartialDecryption(
                r.integer("contest", 0, 10_000), r.integer("selection", 0, 1000),
                element(r.raw("value"), r.path("value")),
                ChaumPedersenProof(element(proof[0], f"{here}[0]"),
                                   element(proof[1], f"{here}[1]"),
                                   group.exponent_from_hex(proof[2], f"{here}[2]"),
                                   group.exponent_from_hex(proof[3], f"{here}[3]")))

        result = cls(obj.string("subject", 128), obj.integer("trustee", 1, 64),
                     obj.element("verification_key", group),
                     tuple(obj.mapped("partials", partial, 1_000_000)))
        obj.done()
        return result


def element_reader(group: GroupParameters, *, deferred: bool
                   ) -> Callable[[object, str], ElementModP]:
    """A payload's element decoder: ``group.element_from_hex`` (every check), or with
    ``deferred`` every check but x^q = 1, which the caller then establishes for all the
    elements at once (``shares_hold``, ``e2e.batch.all_members``) or decodes again."""
    if not deferred:
        return group.element_from_hex
    raw, _ = raw_decoders(group)

    def element(text: object, place: str) -> ElementModP:
        return _trusted_p(raw(text, place), group)
    return element


def compute_share(
    key_share: KeyShare, context: ElectionContext, subject: str,
    targets: Sequence[tuple[int, int, Ciphertext]], nonces: NonceSource | None = None,
) -> DecryptionShare:
    """Partial decryptions of ``targets`` (contest, selection, ciphertext) with proofs."""
    nonces = nonces or RandomNonces()
    if key_share.extended_base_hash != context.extended_base_hash:
        raise DecryptionError("this key share belongs to another ceremony or election")
    index = key_share.index
    expected_key = context.ceremony.verification_keys.get(index)
    if expected_key is None or context.group.g_pow(key_share.secret) != expected_key:
        raise DecryptionError("this key share does not match the ceremony's verification key")
    partials = []
    for contest, selection, ciphertext in targets:
        value, proof = _prove_partial(
            key_share.secret, expected_key, ciphertext.alpha,
            share_context(context.extended_base_hash, subject, index, contest, selection,
                          ciphertext.beta), nonces)
        partials.append(PartialDecryption(contest, selection, value, proof))
    return DecryptionShare(subject, index, expected_key, tuple(partials))


def _prove_partial(secret: ElementModQ, public: ElementModP, base: ElementModP,
                   context: ProofContext, nonces: NonceSource
                   ) -> tuple[ElementModP, ChaumPedersenProof]:
    """``e2e.proofs.prove_chaum_pedersen`` (the same proof, nonces drawn in the same order)
    with the public key K_ℓ = g^s given — the caller checked it once — instead of one
    more constant-time exponentiation per partial decryption."""
    group = base.group
    result = base.pow_secret(secret)
    u = nonces.next_exponent(group)
    a = group.generator.pow_secret(u)
    b = base.pow_secret(u)
    c = hash_to_exponent(group, context.tag, *context.fields, public, base, result, a, b)
    return result, ChaumPedersenProof(a, b, c, u + c * secret)


def verify_share(share: DecryptionShare, context: ElectionContext,
                 targets: Sequence[tuple[int, int, Ciphertext]]) -> None:
    """Check a share against the targets, with K_ℓ derived from the commitments."""
    where = f"decryption share of trustee {share.trustee}"
    derived = context.ceremony.verification_keys.get(share.trustee)
    if derived is None:
        raise InvalidShare(f"trustee {share.trustee} holds no key share in this election", where)
    if share.verification_key != derived:
        raise InvalidShare("the share's verification key is not the one derived from the "
                           "ceremony's commitments", where)
    if [(p.contest, p.selection) for p in share.partials] != [(c, s) for c, s, _ in targets]:
        raise InvalidShare("the share does not cover exactly the ciphertexts to decrypt", where)
    verdict = _share_verdict(context, share, targets)
    if verdict in VERDICTS:
        return
    for partial, (contest, selection, ciphertext) in zip(share.partials, targets, strict=True):
        try:
            verify_chaum_pedersen(
                partial.proof, derived, ciphertext.alpha, partial.value,
                share_context(context.extended_base_hash, share.subject, share.trustee,
                              contest, selection, ciphertext.beta))
        except InvalidProof as err:
            raise err.at(f"{where} contest {contest} selection {selection}") from None
    VERDICTS.add(verdict)


def shares_hold(context: ElectionContext,
                items: Sequence[tuple[DecryptionShare, Sequence[tuple[int, int, Ciphertext]]]]
                ) -> bool:
    """Whether every share verifies against its targets (``verify_share``'s verdict), all
    checked as one batch — for shares decoded with membership deferred
    (``from_payload(deferred=True)``), whose partial values and commitments it proves to be
    in G_q. False says only that something fails: ``verify_share`` on the checked decoding
    then names it, in its words.

    The exact checks are the simple path's: the derived verification key, the targets
    covered, and each proof's challenge equal to the hash of its statement. Then, as in
    ``e2e.batch`` (whose soundness argument this follows): every partial value M and
    commitment a, b has Jacobi symbol 1 (so lies in the quadratic residues Q); X = ∏ M^ε
    over random 128-bit ε satisfies X^q = 1 (every M in G_q, except with probability
    ≤ 2^-128); and with random 128-bit δ, γ per proof

        ∏ a^δ · b^γ · K_ℓ^{Σ δ c} · ∏ M^{γ c} · g^{−Σ δ v} · ∏ A^{−γ v} = 1

    (exponents of elements known to be in G_q — g, K_ℓ, A, M — reduced mod q), i.e. each
    g^v = a·K_ℓ^c and A^v = b·M^c holds, except with probability ≤ 2^-127. The commitments
    then lie in G_q (a = g^v·K_ℓ^{−c}, b = A^v·M^{−c}). Each target's A must be a checked
    element (from a verified record), as every caller's is.
    """
    group = context.group
    p, q = group.p, int(group.q)
    jacobi, draw = gmpy2.jacobi, secrets.randbits
    members: list[tuple[mpz, int]] = []
    terms: list[tuple[mpz, int]] = []
    g_exponent = 0
    keys: dict[int, int] = {}
    for share, targets in items:
        derived = context.ceremony.verification_keys.get(share.trustee)
        if derived is None or share.verification_key != derived:
            return False
        if [(x.contest, x.selection) for x in share.partials] != [(c, s) for c, s, _ in targets]:
            return False
        for partial, (contest, selection, ciphertext) in zip(share.partials, targets,
                                                             strict=True):
            proof = partial.proof
            statement = share_context(context.extended_base_hash, share.subject,
                                      share.trustee, contest, selection, ciphertext.beta)
            expected = hash_to_exponent(  # e2e.proofs.verify_chaum_pedersen's preimage
                group, statement.tag, *statement.fields, derived, ciphertext.alpha,
                partial.value, proof.commitment_g, proof.commitment_a)
            if proof.challenge != expected:
                return False
            value, a, b = partial.value.value, proof.commitment_g.value, proof.commitment_a.value
            if jacobi(value, p) != 1 or jacobi(a, p) != 1 or jacobi(b, p) != 1:
                return False
            c, v = int(proof.challenge.value), int(proof.response.value)
            members.append((value, draw(SECURITY_BITS)))
            delta, gamma = draw(SECURITY_BITS), draw(SECURITY_BITS)
            terms.append((a, delta))
            terms.append((b, gamma))
            terms.append((value, gamma * c % q))
            terms.append((ciphertext.alpha.value, (-gamma * v) % q))
            g_exponent += delta * v
            keys[share.trustee] = keys.get(share.trustee, 0) + delta * c
    if members and gmpy2.powmod(multi_exp(members, p), q, p) != 1:
        return False
    for trustee, exponent in keys.items():
        terms.append((context.ceremony.verification_keys[trustee].value, exponent % q))
    terms.append((group.g, (-g_exponent) % q))
    return multi_exp(terms, p) == 1


def _share_verdict(context: ElectionContext, share: DecryptionShare,
                   targets: Sequence[tuple[int, int, Ciphertext]]) -> bytes:
    """The key of "this share's proofs hold for these targets" (e2e.verdicts' reasoning: a
    function of H_E, the share's bytes and the targets' bytes, reused within one process)."""
    statement = hashlib.sha256()
    for contest, selection, ciphertext in targets:
        statement.update(contest.to_bytes(4, "big") + selection.to_bytes(4, "big"))
        statement.update(ciphertext.alpha.to_bytes() + ciphertext.beta.to_bytes())
    return VerdictCache.key(b"decryption-share", context.extended_base_hash,
                            hashlib.sha256(share.to_payload()).digest(), statement.digest())


def lagrange_coefficient(group: GroupParameters, index: int, indices: Sequence[int]
                         ) -> ElementModQ:
    """w_ℓ = ∏_{m ≠ ℓ} m / (m − ℓ) mod q over distinct non-zero ``indices``."""
    if len(set(indices)) != len(indices) or any(i <= 0 for i in indices):
        raise UsageError("Lagrange indices must be distinct and non-zero")
    if index not in indices:
        raise UsageError(f"index {index} is not among {list(indices)}")
    numerator = group.exponent_of(1)
    denominator = group.exponent_of(1)
    for other in indices:
        if other == index:
            continue
        numerator = numerator * other
        denominator = denominator * group.exponent_of(other - index)
    return numerator * denominator.inverse()


def combine(context: ElectionContext, shares: Sequence[DecryptionShare],
            targets: Sequence[tuple[int, int, Ciphertext]], bounds: Mapping[int, int]
            ) -> list[tuple[int, int, ElementModP, int]]:
    """(contest, selection, M, count) per target from verified shares of ≥ k trustees.

    ``bounds`` maps a contest to the largest count possible (its ballots); a count
    beyond it is refused.

    The outcome is remembered per process (``_COMBINED``), keyed by everything it is a
    function of: the group, the trustees' indices and partial values M_ℓ, each target's
    (contest, selection, β) and the bounds — so the tally, each trustee's pass, each audit
    step and the final verification do not recompute the same combination. A refusal is
    never remembered: it is recomputed, and raised, every time.
    """
    group = context.group
    indices = [share.trustee for share in shares]
    k = context.setup.threshold
    if len(set(indices)) != len(indices):
        raise DecryptionError("two shares come from the same trustee")
    if len(indices) < k:
        raise DecryptionError(f"{len(indices)} trustee share(s) given, the threshold is {k}")
    key = _combination_key(group, shares, targets, bounds)
    known = _COMBINED.get(key)
    if known is not None:
        _COMBINED.move_to_end(key)
        return list(known)
    weights = {i: lagrange_coefficient(group, i, indices) for i in indices}
    results = []
    for position, (contest, selection, ciphertext) in enumerate(targets):
        combined = group.one
        for share in shares:
            combined = combined * share.partials[position].value ** weights[share.trustee]
        bound = bounds.get(contest, 0)
        try:
            count = discrete_log(ciphertext.beta / combined, bound)
        except DecryptionError as err:
            raise DecryptionError(f"{err.reason} (the ballots holding the contest)",
                                  f"contest {contest} selection {selection}") from None
        results.append((contest, selection, combined, count))
    _COMBINED[key] = tuple(results)
    while len(_COMBINED) > _COMBINED_LIMIT:
        _COMBINED.popitem(last=False)
    return results


# Combinations this process computed (``combine``), least recently used first; bounded,
# never persisted. The values are checked elements and counts, as ``combine`` returned them.
_COMBINED: OrderedDict[bytes, tuple[tuple[int, int, ElementModP, int], ...]] = OrderedDict()
_COMBINED_LIMIT = 20_000


def _combination_key(group: GroupParameters, shares: Sequence[DecryptionShare],
                     targets: Sequence[tuple[int, int, Ciphertext]],
                     bounds: Mapping[int, int]) -> bytes:
    """SHA-256 over every input of ``combine``'s arithmetic, each length-prefixed: p, q, g, per
    share its trustee and the partial value for each target (partials beyond the targets
    are never read), per target (contest, selection, β), and the bounds, sorted."""
    digest = hashlib.sha256(b"paperchain combine v1")

    def number(value: int) -> None:
        data = int(value).to_bytes((int(value).bit_length() + 7) // 8 + 1, "big", signed=True)
        digest.update(len(data).to_bytes(4, "big") + data)

    number(group.p)
    number(group.q)
    number(group.g)
    number(len(shares))
    number(len(targets))
    for share in shares:
        number(share.trustee)
        for position in range(len(targets)):
            number(share.partials[position].value.value)
    for contest, selection, ciphertext in targets:
        number(contest)
        number(selection)
        number(ciphertext.beta.value)
    number(len(bounds))
    for contest, bound in sorted(bounds.items()):
        number(contest)
        number(bound)
    return digest.digest()
