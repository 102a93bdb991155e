"""Zero-knowledge proofs (docs/spec.md §5): completeness, and every way a proof is refused.

* every honest proof verifies (Schnorr, Chaum–Pedersen, range 0..L for several L);
* every single-field mutation of a proof, of its statement and of its context is
  refused with the exception and reason of the check that catches it;
* a proof moved onto another statement, index or election (H_E, H_B) fails;
* provers who lie about the statement fail the equation that catches them;
* the "encrypts 2" forgery that broke Helios's weak Fiat–Shamir passes a verifier whose
  challenge omits the statement, and fails ours.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from e2e.ballot import contest_context, selection_context
from e2e.ceremony import coefficient_context
from e2e.elgamal import Ciphertext, discrete_log, encrypt
from e2e.errors import InvalidProof, UsageError
from e2e.group import STANDARD, TEST_GROUP, ElementModP, ElementModQ, GroupParameters
from e2e.hashing import Tag, hash_to_exponent
from e2e.nonces import DerivedNonces
from e2e.proofs import (
    ChaumPedersenProof,
    ProofContext,
    RangeBranch,
    RangeProof,
    prove_chaum_pedersen,
    prove_range,
    prove_schnorr,
    verify_chaum_pedersen,
    verify_range,
    verify_schnorr,
)
from tests.strategies import (
    ChaumPedersenInstance,
    RangeInstance,
    SchnorrInstance,
    chaum_pedersen_instances,
    range_instances,
    schnorr_instances,
)

GROUP = TEST_GROUP
PROPERTY = settings(max_examples=25, deadline=None)

SCHNORR_CHALLENGE = "Schnorr challenge is not the hash of its statement"
CP_CHALLENGE = "Chaum–Pedersen challenge is not the hash of its statement"
RANGE_CHALLENGE = "branch challenges do not sum to the hash of the statement"


def _bump(value: ElementModP | ElementModQ) -> ElementModP | ElementModQ:
    """The same kind of value, changed: x·g for an element, e + 1 for an exponent."""
    if isinstance(value, ElementModP):
        return value * value.group.generator
    return value + 1


def _seed(label: str) -> DerivedNonces:
    return DerivedNonces(label.encode().ljust(32, b"."))


# --- completeness ------------------------------------------------------------------------------


@PROPERTY
@given(schnorr_instances(GROUP))
def test_honest_schnorr_proof_verifies(instance: SchnorrInstance) -> None:
    verify_schnorr(instance.proof, instance.public, instance.context)


@PROPERTY
@given(chaum_pedersen_instances(GROUP))
def test_honest_chaum_pedersen_proof_verifies(instance: ChaumPedersenInstance) -> None:
    assert instance.result == instance.base ** instance.secret
    verify_chaum_pedersen(instance.proof, instance.public, instance.base, instance.result,
                          instance.context)


@PROPERTY
@given(range_instances(GROUP, limits=(1, 2, 3, 5, 8)))
def test_honest_range_proof_verifies_for_every_limit(instance: RangeInstance) -> None:
    assert len(instance.proof.branches) == instance.limit + 1
    verify_range(instance.proof, instance.ciphertext, instance.public_key, instance.limit,
                 instance.context)


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_honest_range_proofs_verify_for_every_plaintext(limit: int) -> None:
    key = GROUP.g_pow(99)
    context = ProofContext(Tag.CONTEST_PROOF, (bytes(32), "kiosk-1", 1, 0))
    for plaintext in range(limit + 1):
        nonce = GROUP.exponent_of(1000 + plaintext)
        ciphertext = encrypt(plaintext, nonce, key)
        proof = prove_range(ciphertext, plaintext, nonce, key, limit, context, _seed("r"))
        verify_range(proof, ciphertext, key, limit, context)


def test_every_proof_is_complete_on_the_standard_group() -> None:
    group = STANDARD
    secret = group.exponent_of(2**200 + 7)
    public = group.g_pow(secret)
    context = ProofContext(Tag.SHARE_PROOF, (bytes(32), "tally@9", 1, 0, 0))
    verify_schnorr(prove_schnorr(secret, public, context, _seed("s")), public, context)
    base = group.g_pow(12345)
    result, proof = prove_chaum_pedersen(secret, base, context, _seed("c"))
    verify_chaum_pedersen(proof, public, base, result, context)
    nonce = group.exponent_of(2**255 + 1)
    ciphertext = encrypt(1, nonce, public)
    for limit in (1, 2):
        range_proof = prove_range(ciphertext, 1, nonce, public, limit, context, _seed("r"))
        verify_range(range_proof, ciphertext, public, limit, context)


# --- every single-field mutation of a proof ------------------------------------------------------

SCHNORR_FIELDS = {
    "commitment": SCHNORR_CHALLENGE,
    "challenge": SCHNORR_CHALLENGE,
    "response": r"Schnorr equation g\^v = h·K\^c fails",
}


@PROPERTY
@given(schnorr_instances(GROUP), st.sampled_from(sorted(SCHNORR_FIELDS)))
def test_rejects_schnorr_proof_with_any_field_changed(instance: SchnorrInstance, name: str
                                                      ) -> None:
    proof = instance.proof
    mutated = dataclasses.replace(proof, **{name: _bump(getattr(proof, name))})
    with pytest.raises(InvalidProof, match=SCHNORR_FIELDS[name]):
        verify_schnorr(mutated, instance.public, instance.context)


CP_FIELDS = {
    "commitment_g": CP_CHALLENGE,
    "commitment_a": CP_CHALLENGE,
    "challenge": CP_CHALLENGE,
    "response": r"Chaum–Pedersen equation g\^v = a·X\^c fails",
}


@PROPERTY
@given(chaum_pedersen_instances(GROUP), st.sampled_from(sorted(CP_FIELDS)))
def test_rejects_chaum_pedersen_proof_with_any_field_changed(
    instance: ChaumPedersenInstance, name: str,
) -> None:
    proof = instance.proof
    mutated = dataclasses.replace(proof, **{name: _bump(getattr(proof, name))})
    with pytest.raises(InvalidProof, match=CP_FIELDS[name]):
        verify_chaum_pedersen(mutated, instance.public, instance.base, instance.result,
                              instance.context)


RANGE_FIELDS = {
    "commitment_g": RANGE_CHALLENGE,
    "commitment_k": RANGE_CHALLENGE,
    "challenge": RANGE_CHALLENGE,
    "response": r"branch {j}: g\^v = a·α\^c fails",
}


def _replace_branch(proof: RangeProof, j: int, branch: RangeBranch) -> RangeProof:
    branches = list(proof.branches)
    branches[j] = branch
    return RangeProof(tuple(branches))


@PROPERTY
@given(range_instances(GROUP), st.sampled_from(sorted(RANGE_FIELDS)), st.data())
def test_rejects_range_proof_with_any_field_of_any_branch_changed(
    instance: RangeInstance, name: str, data: st.DataObject,
) -> None:
    j = data.draw(st.integers(0, instance.limit), label="branch")
    branch = instance.proof.branches[j]
    mutated = _replace_branch(instance.proof, j,
                              dataclasses.replace(branch, **{name: _bump(getattr(branch, name))}))
    with pytest.raises(InvalidProof, match=RANGE_FIELDS[name].format(j=j)):
        verify_range(mutated, instance.ciphertext, instance.public_key, instance.limit,
                     instance.context)


@PROPERTY
@given(range_instances(GROUP), st.data())
def test_rejects_range_proof_whose_challenges_are_moved_between_branches(
    instance: RangeInstance, data: st.DataObject,
) -> None:
    # The sum still matches the hash: only the per-branch equations catch it.
    j = data.draw(st.integers(0, instance.limit - 1), label="from")
    k = data.draw(st.integers(j + 1, instance.limit), label="to")
    branches = list(instance.proof.branches)
    branches[j] = dataclasses.replace(branches[j], challenge=branches[j].challenge + 1)
    branches[k] = dataclasses.replace(branches[k], challenge=branches[k].challenge - 1)
    with pytest.raises(InvalidProof, match=fr"branch {j}: g\^v = a·α\^c fails"):
        verify_range(RangeProof(tuple(branches)), instance.ciphertext, instance.public_key,
                     instance.limit, instance.context)


@PROPERTY
@given(range_instances(GROUP), st.sampled_from(["drop", "repeat", "swap"]))
def test_rejects_range_proof_with_branches_dropped_repeated_or_reordered(
    instance: RangeInstance, how: str,
) -> None:
    branches = list(instance.proof.branches)
    if how == "drop":
        del branches[-1]
        reason = f"expected {instance.limit + 1} branches"
    elif how == "repeat":
        branches.append(branches[-1])
        reason = f"expected {instance.limit + 1} branches"
    else:
        branches[0], branches[1] = branches[1], branches[0]
        reason = RANGE_CHALLENGE  # the commitments are hashed in branch order
    with pytest.raises(InvalidProof, match=reason):
        verify_range(RangeProof(tuple(branches)), instance.ciphertext, instance.public_key,
                     instance.limit, instance.context)


# --- the statement: every field ---------------------------------------------------------------


@PROPERTY
@given(schnorr_instances(GROUP))
def test_rejects_schnorr_proof_for_another_public_key(instance: SchnorrInstance) -> None:
    with pytest.raises(InvalidProof, match=SCHNORR_CHALLENGE):
        verify_schnorr(instance.proof, _bump(instance.public), instance.context)  # type: ignore[arg-type]


@PROPERTY
@given(chaum_pedersen_instances(GROUP), st.sampled_from(["public", "base", "result"]))
def test_rejects_chaum_pedersen_proof_for_another_statement(
    instance: ChaumPedersenInstance, name: str,
) -> None:
    statement = {"public": instance.public, "base": instance.base, "result": instance.result}
    statement[name] = _bump(statement[name])  # type: ignore[assignment]
    with pytest.raises(InvalidProof, match=CP_CHALLENGE):
        verify_chaum_pedersen(instance.proof, context=instance.context, **statement)


@PROPERTY
@given(range_instances(GROUP), st.sampled_from(["key", "alpha", "beta", "swapped"]))
def test_rejects_range_proof_for_another_ciphertext_or_key(instance: RangeInstance, name: str
                                                          ) -> None:
    key, ciphertext = instance.public_key, instance.ciphertext
    if name == "key":
        key = _bump(key)  # type: ignore[assignment]
    elif name == "alpha":
        ciphertext = Ciphertext(_bump(ciphertext.alpha), ciphertext.beta)  # type: ignore[arg-type]
    elif name == "beta":
        ciphertext = Ciphertext(ciphertext.alpha, _bump(ciphertext.beta))  # type: ignore[arg-type]
    else:
        assume(ciphertext.alpha != ciphertext.beta)  # K = g, r = 1, m = 0: nothing to swap
        ciphertext = Ciphertext(ciphertext.beta, ciphertext.alpha)
    with pytest.raises(InvalidProof, match=RANGE_CHALLENGE):
        verify_range(instance.proof, ciphertext, key, instance.limit, instance.context)


def test_rejects_range_proof_against_another_limit() -> None:
    key = GROUP.g_pow(5)
    nonce = GROUP.exponent_of(77)
    context = ProofContext(Tag.CONTEST_PROOF, (bytes(32), "kiosk-1", 1, 0))
    ciphertext = encrypt(1, nonce, key)
    proof = prove_range(ciphertext, 1, nonce, key, 2, context, _seed("limit"))
    # The limit comes from the manifest: a proof for 0..2 is no proof for 0..1 or 0..3.
    for limit in (1, 3):
        with pytest.raises(InvalidProof, match=f"expected {limit + 1} branches"):
            verify_range(proof, ciphertext, key, limit, context)


# --- the context: a proof moved onto another statement, index or election ---------------------


@PROPERTY
@given(range_instances(GROUP, limits=(1,)), st.data())
def test_rejects_selection_proof_moved_to_another_place_or_election(
    instance: RangeInstance, data: st.DataObject,
) -> None:
    h_e = bytes(range(32))
    place = {"extended_hash": h_e, "device_id": "kiosk-1", "sequence": 3, "contest": 2,
             "selection": 1}
    proof = prove_range(instance.ciphertext, instance.plaintext, instance.nonce,
                        instance.public_key, 1, selection_context(**place), _seed("sel"))
    verify_range(proof, instance.ciphertext, instance.public_key, 1, selection_context(**place))
    name = data.draw(st.sampled_from(sorted(place)), label="moved field")
    moved = dict(place)
    moved[name] = {"extended_hash": bytes(31) + b"\x01", "device_id": "kiosk-2", "sequence": 4,
                   "contest": 3, "selection": 0}[name]
    with pytest.raises(InvalidProof, match=RANGE_CHALLENGE):
        verify_range(proof, instance.ciphertext, instance.public_key, 1,
                     selection_context(**moved))  # type: ignore[arg-type]


def test_rejects_selection_proof_presented_as_a_contest_proof() -> None:
    key = GROUP.g_pow(5)
    nonce = GROUP.exponent_of(77)
    ciphertext = encrypt(1, nonce, key)
    h_e = bytes(32)
    proof = prove_range(ciphertext, 1, nonce, key, 1, selection_context(h_e, "kiosk-1", 1, 0, 0),
                        _seed("x"))
    with pytest.raises(InvalidProof, match=RANGE_CHALLENGE):
        verify_range(proof, ciphertext, key, 1, contest_context(h_e, "kiosk-1", 1, 0))


@pytest.mark.parametrize(("name", "moved"), [("base_hash", bytes(31) + b"\x01"), ("dealer", 2),
                                             ("coefficient", 1)])
def test_rejects_coefficient_proof_moved_to_another_base_hash_dealer_or_coefficient(
    name: str, moved: object,
) -> None:
    place: dict[str, object] = {"base_hash": bytes(32), "dealer": 1, "coefficient": 0}
    secret = GROUP.exponent_of(31337)
    public = GROUP.g_pow(secret)
    proof = prove_schnorr(secret, public, coefficient_context(**place), _seed("k"))  # type: ignore[arg-type]
    verify_schnorr(proof, public, coefficient_context(**place))  # type: ignore[arg-type]
    place[name] = moved
    with pytest.raises(InvalidProof, match=SCHNORR_CHALLENGE):
        verify_schnorr(proof, public, coefficient_context(**place))  # type: ignore[arg-type]


@PROPERTY
@given(chaum_pedersen_instances(GROUP), st.data())
def test_rejects_chaum_pedersen_proof_with_any_context_field_changed(
    instance: ChaumPedersenInstance, data: st.DataObject,
) -> None:
    fields = list(instance.context.fields)
    position = data.draw(st.integers(0, len(fields)), label="position")
    if position == len(fields):  # another tag
        tags = [t for t in Tag if t != instance.context.tag]
        moved = ProofContext(data.draw(st.sampled_from(tags)), tuple(fields))
    else:
        value = fields[position]
        fields[position] = (value + 1) if isinstance(value, int) else bytes(
            [value[0] ^ 1]) + value[1:]  # type: ignore[index,operator]
        moved = ProofContext(instance.context.tag, tuple(fields))
    with pytest.raises(InvalidProof, match=CP_CHALLENGE):
        verify_chaum_pedersen(instance.proof, instance.public, instance.base, instance.result,
                              moved)


# --- provers who lie about the statement -------------------------------------------------------


def test_rejects_range_proof_for_a_ciphertext_that_encrypts_another_value() -> None:
    # An honest-looking proof "encrypts 1" for a ciphertext of 2: the simulated branch 0
    # is built for plaintext 1 and fails its second equation.
    key = GROUP.g_pow(5)
    nonce = GROUP.exponent_of(77)
    context = ProofContext(Tag.SELECTION_PROOF, (bytes(32), "kiosk-1", 1, 0, 0))
    ciphertext = encrypt(2, nonce, key)
    proof = prove_range(ciphertext, 1, nonce, key, 1, context, _seed("lie"))
    with pytest.raises(InvalidProof, match=r"branch 0: K\^v = b·\(β/g\^0\)\^c fails"):
        verify_range(proof, ciphertext, key, 1, context)


def test_rejects_partial_decryption_that_is_not_the_base_to_the_secret() -> None:
    # The trustee proves knowledge of s honestly but publishes Y = A^s·g: only the second
    # Chaum–Pedersen equation can catch it.
    secret = GROUP.exponent_of(4242)
    public = GROUP.g_pow(secret)
    base = GROUP.g_pow(999)
    wrong = base ** secret * GROUP.generator
    context = ProofContext(Tag.SHARE_PROOF, (bytes(32), "tally@7", 1, 0, 0, GROUP.one))
    u = GROUP.exponent_of(5555)
    a, b = GROUP.g_pow(u), base ** u
    c = hash_to_exponent(GROUP, context.tag, *context.fields, public, base, wrong, a, b)
    proof = ChaumPedersenProof(a, b, c, u + c * secret)
    with pytest.raises(InvalidProof, match=r"A\^v = b·Y\^c fails"):
        verify_chaum_pedersen(proof, public, base, wrong, context)


@pytest.mark.parametrize(("plaintext", "limit", "reason"), [
    (2, 1, "cannot prove that 2 lies in 0..1"), (-1, 1, "cannot prove that -1 lies in 0..1"),
    (6, 5, "cannot prove that 6 lies in 0..5"), (0, 0, "a limit of at least 1"),
])
def test_prover_refuses_a_plaintext_outside_the_range(plaintext: int, limit: int, reason: str
                                                      ) -> None:
    key = GROUP.g_pow(5)
    nonce = GROUP.exponent_of(77)
    context = ProofContext(Tag.SELECTION_PROOF, (bytes(32),))
    with pytest.raises(UsageError, match=reason):
        prove_range(encrypt(max(plaintext, 0), nonce, key), plaintext, nonce, key, limit,
                    context, _seed("out"))


def test_rejects_proof_whose_values_come_from_another_group() -> None:
    secret = STANDARD.exponent_of(3)
    proof = prove_schnorr(secret, STANDARD.g_pow(secret), ProofContext(Tag.COEFFICIENT_PROOF, ()),
                          _seed("g"))
    with pytest.raises(InvalidProof, match="different groups"):
        verify_schnorr(proof, TEST_GROUP.g_pow(3), ProofContext(Tag.COEFFICIENT_PROOF, ()))


# --- the Helios "encrypts 2" forgery -----------------------------------------------------------


def _weak_challenge(group: GroupParameters, commitments: list[list[ElementModP]]) -> ElementModQ:
    """Weak Fiat–Shamir (Bernhard, Pereira, Warinschi 2012): the commitments only."""
    return hash_to_exponent(group, "weak-fiat-shamir", commitments)


def _weak_verify_range(proof: RangeProof, ciphertext: Ciphertext, key: ElementModP,
                       limit: int) -> None:
    """The equations of docs/spec.md §5.3 with a challenge that omits the statement."""
    group = key.group
    if len(proof.branches) != limit + 1:
        raise InvalidProof("branch count")
    total = group.zero_exponent()
    for branch in proof.branches:
        total = total + branch.challenge
    commitments = [[b.commitment_g, b.commitment_k] for b in proof.branches]
    if total != _weak_challenge(group, commitments):
        raise InvalidProof("weak challenge")
    for j, branch in enumerate(proof.branches):
        shifted = ciphertext.beta / group.g_pow(j)
        alpha_c = ciphertext.alpha ** branch.challenge
        if group.g_pow(branch.response) != branch.commitment_g * alpha_c:
            raise InvalidProof(f"branch {j} first equation")
        if key ** branch.response != branch.commitment_k * shifted ** branch.challenge:
            raise InvalidProof(f"branch {j} second equation")


def _forge_encrypts_two(group: GroupParameters
                        ) -> tuple[RangeProof, Ciphertext, ElementModP, ElementModQ]:
    """Commitments first, then the statement (K, α, β) solved for.

    a_j = g^{x_j}, b_j = g^{y_j} are fixed and hashed; with c the weak challenge, the
    forger takes s = (y_0 + 2·y_1 + 2c)/(x_0 + 2·x_1), c_0 = y_1 + c − s·x_1, c_1 = c − c_0,
    K = g^s, (α, β) = (g^r, g^2·K^r) and v_j = x_j + r·c_j: both branches' equations hold,
    and the ciphertext encrypts 2.
    """
    x0, x1, y0, y1, r = (group.exponent_of(v) for v in (1111, 2222, 3333, 4444, 5555))
    commitments = [[group.g_pow(x0), group.g_pow(y0)], [group.g_pow(x1), group.g_pow(y1)]]
    c = _weak_challenge(group, commitments)
    s = (y0 + y1 * 2 + c * 2) * (x0 + x1 * 2).inverse()
    c0 = y1 + c - s * x1
    c1 = c - c0
    key = group.g_pow(s)
    ciphertext = Ciphertext(group.g_pow(r), group.g_pow(2) * key ** r)
    proof = RangeProof((
        RangeBranch(commitments[0][0], commitments[0][1], c0, x0 + r * c0),
        RangeBranch(commitments[1][0], commitments[1][1], c1, x1 + r * c1),
    ))
    return proof, ciphertext, key, s


@pytest.mark.parametrize("group", [TEST_GROUP, STANDARD], ids=["test", "standard"])
def test_helios_style_forgery_of_encrypts_two_passes_weak_fiat_shamir_and_fails_ours(
    group: GroupParameters,
) -> None:
    proof, ciphertext, key, secret = _forge_encrypts_two(group)
    assert discrete_log(ciphertext.beta / ciphertext.alpha ** secret, 10) == 2
    _weak_verify_range(proof, ciphertext, key, 1)  # the weak verifier is fooled
    context = selection_context(bytes(32), "kiosk-1", 1, 0, 0)
    with pytest.raises(InvalidProof, match=RANGE_CHALLENGE):
        verify_range(proof, ciphertext, key, 1, context)
