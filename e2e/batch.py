"""Sound batch verification of range proofs, subgroup membership included.

The simple verifier (``e2e.proofs.verify_range`` with ``fast=False``) checks, for each
branch j of a disjunctive proof that (α, β) encrypts one of 0..L under K,

    g^{v_j} = a_j · α^{c_j}                                                      (G_j)
    K^{v_j} = b_j · (β / g^j)^{c_j}                                              (K_j)

after decoding every element x with the full test 0 < x < p, x^q = 1 (one ``powmod``
each), at a cost of about 4 exponentiations per branch plus 1 per element. This module
checks many proofs at once for a fraction of that, with the same verdict except with
probability at most 2^-126.

What is checked, exactly
------------------------
Let Z_p^* = C_2 × G_q × G_r' (p − 1 = 2·q·r', q and r' prime, both > 2^126 — the
standard group has q ≈ 2^256 and r' ≈ 2^3839, the test group q = 2^127 − 1 and
r' ≈ 2^894), and Q = G_q × G_r' the quadratic residues, of order q·r'.

0. Decoding (done by the caller, exactly as the simple path does): every element is
   canonical and 0 < x < p, every exponent 0 <= c, v < q; the branch count is L + 1;
   Σ_j c_j equals the Fiat–Shamir hash of the statement and all commitments. These
   are exact checks.
1. Jacobi: every statement element (α, β of a selection) and every commitment a_j, b_j
   has Jacobi symbol (x | p) = 1, i.e. lies in Q (p is prime: Jacobi = Legendre). K and
   g are in G_q ⊂ Q already (checked once per election). This removes the order-2
   component: −1 is not a square because (p − 1)/2 = q·r' is odd.
2. Membership, batched: X = ∏_i x_i^{ε_i} over the statement elements, ε_i uniform in
   [0, 2^128) from ``secrets``, drawn after the batch is fixed; accept iff X^q = 1.
   Soundness: write x_i = y_i·z_i with y_i ∈ G_q, z_i ∈ G_r'. Then X^q = ∏ z_i^{q·ε_i},
   and q is invertible mod r'. If some z_k ≠ 1, fix every ε but ε_k: X^q = C·z_k^{q·ε_k}
   equals 1 for at most one ε_k mod r' (z_k has prime order r' > 2^128), so for at most
   one of the 2^128 values — probability ≤ 2^-128. Without step 1 an element −y would
   pass whenever ε is even (probability 1/2): this is why the Jacobi check comes first.
3. Equations, batched: for every branch draw δ_j, γ_j uniform in [0, 2^128) and accept iff

       ∏ a_j^{δ_j} · α^{Σ_j δ_j c_j} · b_j^{γ_j} · β^{Σ_j γ_j c_j}
         · g^{−Σ(δ_j v_j + γ_j j c_j)} · K^{−Σ γ_j v_j} = 1                       (B)

   over every proof of the batch, the exponents of α, β, g and K reduced mod q. The
   reduction is valid because after step 2 α, β (and the sums α_c = ∏ α, β_c = ∏ β a
   contest proof is about) are in G_q, as are g and K. (B) is ∏_e E_e^{ρ_e} = 1 with
   E_e = a_j α^{c_j} g^{−v_j} (or b_j β^{c_j} g^{−j c_j} K^{−v_j}) and ρ_e its random
   coefficient; each E_e lies in Q by step 1. If some E_k ≠ 1 its order is q, r' or
   q·r', each > 2^126; fixing every other coefficient, ∏ = 1 for at most one ρ_k mod
   ord(E_k), i.e. for at most ⌈2^128 / ord(E_k)⌉ ≤ 3 of the 2^128 values of ρ_k (one
   on the standard group, where ord(E_k) ≥ q > 2^255): probability ≤ 3·2^-128. So
   every (G_j) and (K_j) holds exactly.
4. Commitments then inherit membership: from (G_j), a_j = g^{v_j}·α^{−c_j} ∈ G_q because
   g, α ∈ G_q; from (K_j), b_j = K^{v_j}·(β/g^j)^{−c_j} ∈ G_q. Only the statement
   elements need the x^q test of step 2; the commitments need only step 1.

So a proof accepted here has every element in G_q and every equation exact, which is
precisely what the simple path accepts; an honest batch always passes (every E_e = 1,
X = 1); a batch with any bad proof fails except with probability at most 2^-128
(step 2) + 3·2^-128 (step 3) = 2^-126. A failed batch is bisected (``failing_units``)
with fresh randomness at each step to name the bad units. The random exponents come
from ``secrets`` and are never seeded or reused.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2
from gmpy2 import mpz

from e2e.group import GroupParameters
from e2e.multiexp import multi_exp

__all__ = ["SECURITY_BITS", "BatchVerifier", "RangeClaim", "all_members"]

SECURITY_BITS = 128
"""Bits of each random exponent ε, δ, γ (soundness error ≤ 2^-126 per batch)."""


@dataclass(frozen=True, slots=True)
class RangeClaim:
    """One disjunctive proof as bare numbers, decoded (step 0) but not yet checked.

    ``members`` are the statement elements whose membership in G_q this claim must
    establish (a selection's α and β); a contest proof's statement is the product of
    its selections' and lists none — it inherits membership from them, so it must be
    checked in the same batch as they are. ``composed_of`` (negative offsets to those
    claims, earlier in the same list) says α = ∏ α_i and β = ∏ β_i exactly: the batch
    then raises the α_i, β_i to this claim's exponents instead of α and β themselves —
    the same product, with two fewer 256-bit exponents per contest.
    """

    alpha: mpz
    beta: mpz
    limit: int
    commitments_g: tuple[mpz, ...]
    commitments_k: tuple[mpz, ...]
    challenges: tuple[int, ...]
    responses: tuple[int, ...]
    members: tuple[mpz, ...] = ()
    composed_of: tuple[int, ...] = ()


class BatchVerifier:
    """Checks claims under one key K in one group; see the module docstring.

    ``trusted_elements`` says the elements were decoded by the checked constructors
    (``ElementModP``: x^q = 1 already verified), so steps 1 and 2 are skipped.
    """

    __slots__ = ("_g", "_key", "_p", "_q", "trusted_elements")

    def __init__(self, group: GroupParameters, public_key: mpz, *,
                 trusted_elements: bool = False) -> None:
        self._p = group.p
        self._q = int(group.q)
        self._g = group.g
        self._key = mpz(public_key)
        self.trusted_elements = trusted_elements

    # --- step 1 --------------------------------------------------------------------------

    def screen(self, claim: RangeClaim) -> str | None:
        """Step 1 for one claim: the reason it fails, or None."""
        if self.trusted_elements:
            return None
        p = self._p
        jacobi = gmpy2.jacobi
        for x in claim.members:
            if jacobi(x, p) != 1:
                return "a statement element is not a quadratic residue (not in the subgroup)"
        for x in claim.commitments_g:
            if jacobi(x, p) != 1:
                return "a commitment is not a quadratic residue (not in the subgroup)"
        for x in claim.commitments_k:
            if jacobi(x, p) != 1:
                return "a commitment is not a quadratic residue (not in the subgroup)"
        return None

    # --- steps 2 and 3 -------------------------------------------------------------------

    def holds(self, claims: Sequence[RangeClaim]) -> bool:
        """Steps 2 and 3 over ``claims`` (which passed ``screen``), with fresh randomness."""
        if not claims:
            return True
        p, q = self._p, self._q
        draw = secrets.randbits
        if not self.trusted_elements:
            members = [(x, draw(SECURITY_BITS)) for c in claims for x in c.members]
            if members and gmpy2.powmod(multi_exp(members, p), q, p) != 1:
                return False
        terms: list[tuple[mpz, int]] = []
        # Exponents of each claim's α and β; a claim ``composed_of`` earlier ones adds its
        # exponents to theirs instead (α_c^e = ∏ α_i^e, valid once every α_i is in G_q).
        statement: list[list[int]] = []
        g_exponent = 0
        k_exponent = 0
        for position, claim in enumerate(claims):
            alpha_exponent = 0
            beta_exponent = 0
            for j in range(claim.limit + 1):
                delta = draw(SECURITY_BITS)
                gamma = draw(SECURITY_BITS)
                c_j = claim.challenges[j]
                v_j = claim.responses[j]
                terms.append((claim.commitments_g[j], delta))
                terms.append((claim.commitments_k[j], gamma))
                alpha_exponent += delta * c_j
                beta_exponent += gamma * c_j
                g_exponent += delta * v_j + gamma * j * c_j
                k_exponent += gamma * v_j
            parts = claim.composed_of
            if parts and all(0 <= position + k < position for k in parts):
                for k in parts:
                    statement[position + k][0] += alpha_exponent
                    statement[position + k][1] += beta_exponent
                statement.append([0, 0])
            else:
                statement.append([alpha_exponent, beta_exponent])
        for claim, (alpha_exponent, beta_exponent) in zip(claims, statement, strict=True):
            terms.append((claim.alpha, alpha_exponent % q))
            terms.append((claim.beta, beta_exponent % q))
        terms.append((self._g, (-g_exponent) % q))
        terms.append((self._key, (-k_exponent) % q))
        return multi_exp(terms, p) == 1

    # --- bisection -----------------------------------------------------------------------

    def failing_units(self, units: Sequence[Sequence[RangeClaim]], *, screened: bool = False
                      ) -> list[int]:
        """Indices of the units (e.g. contests: selection claims then the contest claim)
        that fail, found by bisecting with fresh randomness; [] when all hold.

        A unit is screened (step 1) first, unless the caller already did (``screened``);
        the rest are checked together and a failing half is split until single units
        remain.
        """
        failed = [] if screened else [i for i, unit in enumerate(units)
                                      if any(self.screen(claim) is not None for claim in unit)]
        excluded = set(failed)
        rest = [i for i in range(len(units)) if i not in excluded]

        def search(indices: list[int]) -> None:
            if not indices or self.holds([c for i in indices for c in units[i]]):
                return
            if len(indices) == 1:
                failed.append(indices[0])
                return
            middle = len(indices) // 2
            search(indices[:middle])
            search(indices[middle:])

        search(rest)
        return sorted(failed)

    def first_failing_claim(self, unit: Sequence[RangeClaim]) -> int | None:
        """The first claim of a failing unit that fails on its own, in order.

        A contest claim's statement inherits membership from the selection claims
        before it, so it is checked together with them once they are known to hold.
        """
        for k, claim in enumerate(unit):
            if self.screen(claim) is not None:
                return k
            if not self.holds(list(unit[: k + 1])):
                return k
        return None


def all_members(group: GroupParameters, elements: Sequence[mpz]) -> bool:
    """Whether every x of ``elements`` (each already known to satisfy 0 < x < p) lies in
    G_q: steps 1 and 2 of the module docstring on their own — each x has Jacobi symbol 1,
    then X = ∏ x^ε over fresh random 128-bit ε satisfies X^q = 1 — so a set holding any
    non-member passes with probability ≤ 2^-128. For decoders that must establish
    membership of many elements no proof will cover (the ledger's admission checks)."""
    p = group.p
    jacobi = gmpy2.jacobi
    if any(jacobi(x, p) != 1 for x in elements):
        return False
    if not elements:
        return True
    draw = secrets.randbits
    return gmpy2.powmod(multi_exp([(x, draw(SECURITY_BITS)) for x in elements], p),
                        int(group.q), p) == 1
