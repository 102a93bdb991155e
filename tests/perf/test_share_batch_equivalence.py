"""Decryption shares: the batch check (``tally.decrypt.shares_hold``, membership deferred)
and the simple path (checked decoding, ``verify_share``) agree on adversarial shares.

Six shares of two trustees over 8 ciphertexts each (the test group); one value of one
partial at a random position is replaced by a bad response, a bad challenge, or — in the
partial value M or a commitment a, b — an element with an order-2 component (p − x), an
element with an order-r' component (a square outside the subgroup: only the batched x^q
test, or the equations, see it) or a non-canonical encoding (x + p). The simple path must
refuse, and the batch path must refuse (by the decoder or ``shares_hold``); the honest
shares must pass both, and a wrong verification key or a missing target must fail both.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

import gmpy2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext, encrypt
from e2e.encoding import canonical_json
from e2e.errors import PaperchainError
from e2e.group import TEST_GROUP
from e2e.nonces import DerivedNonces
from e2e.proofs import prove_chaum_pedersen
from e2e.trustee import KeyShare
from tally.decrypt import (
    DecryptionShare,
    compute_share,
    share_context,
    shares_hold,
    verify_share,
)
from tests.strategies import CeremonyScript

G = TEST_GROUP
SHARES = 6
TARGETS = 8
WIDTH = 2 * G.p_bytes


@pytest.fixture(scope="module")
def batch(closed_script: CeremonyScript, context: ElectionContext):
    """[(payload, targets)] for trustees 1 and 3, three subjects each."""
    out = []
    for n in range(SHARES):
        trustee = (1, 3)[n % 2]
        targets = [(c, s, encrypt(secrets.randbelow(2), G.exponent_of(secrets.randbelow(
            int(G.q) - 1) + 1), context.joint_key)) for c in range(2) for s in range(TARGETS // 2)]
        key = KeyShare(trustee, closed_script.key_share(trustee), context.extended_base_hash,
                       context.joint_key)
        share = compute_share(key, context, f"audit@{n}", targets,
                              DerivedNonces(bytes([n]) * 32))
        out.append((share.to_payload(), targets))
    return out


def _simple(context: ElectionContext, batch) -> PaperchainError | None:
    try:
        for payload, targets in batch:
            verify_share(DecryptionShare.from_payload(payload, G, "share"), context, targets)
    except PaperchainError as err:
        return err
    return None


def _fast(context: ElectionContext, batch) -> bool:
    """True iff the batch path accepts (decoder, then ``shares_hold``)."""
    try:
        items = [(DecryptionShare.from_payload(payload, G, "share", deferred=True), targets)
                 for payload, targets in batch]
    except PaperchainError:
        return False
    return shares_hold(context, items)


def test_honest_shares_pass_both_paths_and_decode_the_same(context: ElectionContext,
                                                           batch) -> None:
    assert _simple(context, batch) is None
    assert _fast(context, batch)
    for payload, _ in batch:
        assert (DecryptionShare.from_payload(payload, G, "s", deferred=True)
                == DecryptionShare.from_payload(payload, G, "s"))


def test_a_wrong_key_or_a_missing_target_fails_both(context: ElectionContext, batch) -> None:
    payload, targets = batch[0]
    share = DecryptionShare.from_payload(payload, G, "share")
    moved = dataclasses.replace(share, trustee=2)
    assert not shares_hold(context, [(moved, targets)])
    with pytest.raises(PaperchainError):
        verify_share(moved, context, targets)
    assert not shares_hold(context, [(share, targets[:-1])])
    with pytest.raises(PaperchainError):
        verify_share(share, context, targets[:-1])
    other = [(c, s, Ciphertext(t.alpha * G.generator, t.beta)) for c, s, t in targets]
    assert not shares_hold(context, [(share, other)])  # another statement: the hash differs
    with pytest.raises(PaperchainError):
        verify_share(share, context, other)


def _order_r_prime(x: int) -> int:
    while True:
        h = gmpy2.powmod(secrets.randbelow(int(G.p) - 2) + 2, 2 * G.q, G.p)
        if h != 1:
            return int(x * h % G.p)


KINDS = ("bad-response", "bad-challenge", "order-2", "order-r'", "non-canonical")


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(share=st.integers(0, SHARES - 1), partial=st.integers(0, TARGETS - 1),
       field=st.sampled_from(["value", "a", "b"]))
def test_one_bad_value_is_refused_by_both_paths(context: ElectionContext, batch, kind: str,
                                                share: int, partial: int, field: str) -> None:
    document = json.loads(batch[share][0])
    target = document["partials"][partial]
    if kind in ("bad-response", "bad-challenge"):
        place = 3 if kind == "bad-response" else 2
        value = int(target["proof"][place], 16)
        target["proof"][place] = format((value + 1) % int(G.q), "x").rjust(2 * G.q_bytes, "0")
    else:
        holder, key = (target, "value") if field == "value" else (
            target["proof"], 0 if field == "a" else 1)
        x = int(holder[key], 16)
        changed = {"order-2": lambda v: int(G.p) - v, "order-r'": _order_r_prime,
                   "non-canonical": lambda v: v + int(G.p)}[kind](x)
        holder[key] = format(changed, "x").rjust(WIDTH, "0")
    tampered = [*batch[:share], (canonical_json(document), batch[share][1]), *batch[share + 1:]]
    assert _simple(context, tampered) is not None
    assert not _fast(context, tampered)


def test_compute_share_makes_the_proofs_prove_chaum_pedersen_makes(
        closed_script: CeremonyScript, context: ElectionContext, batch) -> None:
    """``compute_share`` takes K_ℓ as given instead of recomputing g^s per partial: the
    same values and proofs, nonce for nonce, as ``e2e.proofs.prove_chaum_pedersen``."""
    _, targets = batch[0]
    key = KeyShare(1, closed_script.key_share(1), context.extended_base_hash,
                   context.joint_key)
    share = compute_share(key, context, "audit@x", targets, DerivedNonces(b"n" * 32))
    nonces = DerivedNonces(b"n" * 32)
    for partial, (contest, selection, ciphertext) in zip(share.partials, targets, strict=True):
        value, proof = prove_chaum_pedersen(
            key.secret, ciphertext.alpha,
            share_context(context.extended_base_hash, "audit@x", 1, contest, selection,
                          ciphertext.beta), nonces)
        assert (partial.value, partial.proof) == (value, proof)
    verify_share(share, context, targets)
