"""Generate ``kat_standard.json``: known-answer vectors on the standard group.

Every random input is fixed and written into the file (polynomial coefficients, proof
seeds, master nonces, decryption nonce seeds), so each output can be recomputed from
docs/spec.md alone: H_B for the demo manifest (n = 3, k = 2); each dealer's
commitments and Schnorr proofs; the joint key K, every verification key and key share;
H_E; three selection encryptions with their 0/1 proofs; one full encrypted ballot with
its chain seed and tracking code; two trustees' partial decryptions of one contest with
their Chaum–Pedersen proofs, the Lagrange coefficients for {1, 3} and the counts; one
tagged Ed25519 signature.

Run ``python tests/vectors/generate_kat.py`` to rewrite the file (only when the
specification changes on purpose); ``tests/e2e/test_kat.py`` recomputes everything with
``build()`` and compares it with the file byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.public

from e2e.ballot import (
    chain_seed,
    encrypt_ballot,
    mark_ballot,
    selection_context,
    selection_nonce,
)
from e2e.ceremony import (
    CeremonyOutcome,
    Polynomial,
    joint_key,
    prove_commitments,
    verification_key,
)
from e2e.context import ElectionContext
from e2e.elgamal import encrypt
from e2e.group import STANDARD, ElementModQ
from e2e.hashing import base_hash, extended_base_hash
from e2e.manifest import demo_manifest
from e2e.nonces import DerivedNonces
from e2e.official import build_setup
from e2e.proofs import RangeProof, prove_range
from e2e.setup import TrusteeInfo
from e2e.signing import SignatureTag, SigningKey, signed_message
from e2e.trustee import KeyShare
from tally.decrypt import combine, compute_share, lagrange_coefficient

__all__ = ["KAT_PATH", "build", "render"]

KAT_PATH = Path(__file__).with_name("kat_standard.json")
GROUP = STANDARD
N, K = 3, 2


def label_seed(label: str) -> bytes:
    """A fixed 32-byte input: SHA-256 of an ASCII label (the label is in the file too)."""
    return hashlib.sha256(label.encode("ascii")).digest()


def _exponent(label: str) -> ElementModQ:
    return GROUP.exponent_from_hash(label_seed(label))


def _proof_json(proof: RangeProof) -> list[dict[str, str]]:
    return [{"commitment_g": b.commitment_g.to_hex(), "commitment_k": b.commitment_k.to_hex(),
             "challenge": b.challenge.to_hex(), "response": b.response.to_hex()}
            for b in proof.branches]


def build() -> dict[str, Any]:
    """Every vector, recomputed with the library."""
    manifest = demo_manifest()
    h_b = base_hash(GROUP, manifest.digest, N, K)

    # --- the ceremony --------------------------------------------------------------------
    dealers = []
    polynomials: dict[int, Polynomial] = {}
    commitments: dict[int, tuple[Any, ...]] = {}
    for dealer in range(1, N + 1):
        labels = [f"paperchain kat: dealer {dealer} coefficient {j}" for j in range(K)]
        polynomial = Polynomial(tuple(_exponent(label) for label in labels))
        polynomials[dealer] = polynomial
        proof_seed = label_seed(f"paperchain kat: dealer {dealer} schnorr seed")
        replay = DerivedNonces(proof_seed)  # the j-th draw is coefficient j's Schnorr nonce
        expected_nonces = [replay.next_exponent(GROUP) for _ in range(K)]
        payload = prove_commitments(polynomial, h_b, 1, dealer, DerivedNonces(proof_seed))
        commitments[dealer] = payload.commitments
        dealers.append({
            "dealer": dealer,
            "coefficient_labels": labels,
            "coefficients": [a.to_hex() for a in polynomial.coefficients],
            "proof_seed": proof_seed.hex(),
            "commitments": [c.to_hex() for c in payload.commitments],
            "proofs": [{"nonce": u.to_hex(), "commitment": p.commitment.to_hex(),
                        "challenge": p.challenge.to_hex(), "response": p.response.to_hex()}
                       for u, p in zip(expected_nonces, payload.proofs, strict=True)],
            "payload": json.loads(payload.to_payload()),
        })
    key = joint_key(commitments)
    h_e = extended_base_hash(h_b, key, [commitments[i] for i in range(1, N + 1)])
    verification_keys = {i: verification_key(commitments, i) for i in range(1, N + 1)}
    shares = {}
    for recipient in range(1, N + 1):
        total = GROUP.zero_exponent()
        for polynomial in polynomials.values():
            total = total + polynomial.evaluate(recipient)
        shares[recipient] = total

    # --- an election context built from these values --------------------------------------
    trustee_keys = {i: SigningKey(label_seed(f"paperchain kat: trustee {i} signing seed"))
                    for i in range(1, N + 1)}
    box_keys = {i: nacl.public.PrivateKey(label_seed(f"paperchain kat: trustee {i} box seed"))
                for i in range(1, N + 1)}
    official = SigningKey(label_seed("paperchain kat: official signing seed"))
    device = SigningKey(label_seed("paperchain kat: kiosk-1 signing seed"))
    setup = build_setup(
        manifest=manifest, group=GROUP, threshold=K,
        trustees=[TrusteeInfo(i, f"Trustee {i}", f"trustee-{i}", trustee_keys[i].verify_key,
                              bytes(box_keys[i].public_key)) for i in range(1, N + 1)],
        officials=[("official-1", official.verify_key)],
        devices=[("kiosk-1", device.verify_key, "Ward 1")],
        operator_key=SigningKey(label_seed("paperchain kat: operator signing seed")).verify_key,
        log_origin="paperchain.example/kat",
    )
    outcome = CeremonyOutcome(1, tuple(range(1, N + 1)), h_b, h_e, key, commitments,
                              verification_keys)
    context = ElectionContext(setup, outcome)

    # --- three selection encryptions with their 0/1 proofs ---------------------------------
    selections = []
    for number, (plaintext, contest, selection) in enumerate([(0, 0, 0), (1, 0, 1), (1, 4, 3)]):
        nonce = _exponent(f"paperchain kat: selection {number} nonce")
        proof_seed = label_seed(f"paperchain kat: selection {number} proof seed")
        place = {"device_id": "kiosk-1", "sequence": 7, "contest": contest,
                 "selection": selection}
        ciphertext = encrypt(plaintext, nonce, key)
        proof = prove_range(ciphertext, plaintext, nonce, key, 1,
                            selection_context(h_e, **place),  # type: ignore[arg-type]
                            DerivedNonces(proof_seed, contest, selection))
        selections.append({
            "context": {"tag": "selection-proof", "extended_base_hash": h_e.hex(), **place},
            "plaintext": plaintext, "nonce": nonce.to_hex(), "proof_seed": proof_seed.hex(),
            "proof_nonce_label": [contest, selection],
            "alpha": ciphertext.alpha.to_hex(), "beta": ciphertext.beta.to_hex(),
            "proof": _proof_json(proof),
        })

    # --- one full ballot -----------------------------------------------------------------
    choices = {"mayor": ["carmen-reyes"], "city-council": ["elena-fischer", "grace-lee"],
               "parks-commission": ["pablo-diaz", "rosa-lindqvist", "samuel-greene"],
               "measure-a": ["yes"]}
    marked = mark_ballot(manifest, "ward-1", choices)
    master_nonce = label_seed("paperchain kat: ballot master nonce")
    ballot_proof_seed = label_seed("paperchain kat: ballot proof seed")
    seed = chain_seed(h_e, "kiosk-1", "session-1")
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="session-1",
                             sequence=1, previous_code=seed, master_nonce=master_nonce,
                             proof_seed=ballot_proof_seed)
    ballot = pending.ballot

    # --- decryption of the ballot's first contest by trustees 1 and 3 -----------------------
    subject = "tally@12"
    first = ballot.contests[0]
    targets = [(first.index, j, s.ciphertext) for j, s in enumerate(first.selections)]
    decryption_shares, computed = [], []
    for trustee in (1, 3):
        nonce_seed = label_seed(f"paperchain kat: trustee {trustee} decryption seed")
        share = compute_share(KeyShare(trustee, shares[trustee], h_e, key), context, subject,
                              targets, DerivedNonces(nonce_seed))
        computed.append(share)
        decryption_shares.append({"nonce_seed": nonce_seed.hex(),
                                  "payload": json.loads(share.to_payload())})
    combined = combine(context, computed, targets, {first.index: 1})
    lagrange = {str(i): lagrange_coefficient(GROUP, i, [1, 3]).to_hex() for i in (1, 3)}

    # --- one tagged Ed25519 signature ------------------------------------------------------
    message = b"paperchain known-answer message"
    signature = official.sign(SignatureTag.LEDGER_ENTRY, manifest.election_id, message)

    return {
        "_about": ("Paperchain known-answer vectors on the ElectionGuard 2.0 standard group "
                   "(docs/spec.md). Generated by tests/vectors/generate_kat.py; every input "
                   "is fixed and listed; tests/e2e/test_kat.py recomputes every value and "
                   "verifies every proof. All hex is lowercase, fixed width: elements 1024 "
                   "digits, exponents 64, hashes 64."),
        "spec_version": "paperchain/v1",
        "group": {"name": GROUP.name, "p": format(GROUP.p, "x"), "q": format(GROUP.q, "x"),
                  "g": format(GROUP.g, "x"), "r": format(GROUP.r, "x")},
        "manifest": {"file": "e2e/data/demo_manifest.json",
                     "sha256": manifest.digest.hex(), "election_id": manifest.election_id},
        "base_hash": {"n": N, "k": K, "value": h_b.hex()},
        "ceremony": {
            "attempt": 1,
            "dealers": dealers,
            "joint_key": key.to_hex(),
            "verification_keys": {str(i): v.to_hex() for i, v in verification_keys.items()},
            "key_shares": {str(i): s.to_hex() for i, s in shares.items()},
            "extended_base_hash": h_e.hex(),
        },
        "selections": selections,
        "ballot": {
            "style_id": "ward-1", "choices": choices,
            "votes": [{"contest": i, "votes": list(v)} for i, v in marked.votes],
            "device_id": "kiosk-1", "session": "session-1", "sequence": 1,
            "chain_seed": seed.hex(), "master_nonce": master_nonce.hex(),
            "proof_seed": ballot_proof_seed.hex(),
            "selection_nonces": [
                {"contest": i, "selection": j,
                 "nonce": selection_nonce(GROUP, h_e, master_nonce, i, j).to_hex()}
                for i, v in marked.votes for j in range(len(v))],
            "tracking_code": ballot.tracking_code.hex(),
            "encrypted": ballot.to_json(),
        },
        "decryption": {
            "subject": subject,
            "targets": [{"contest": c, "selection": s, "alpha": t.alpha.to_hex(),
                         "beta": t.beta.to_hex()} for c, s, t in targets],
            "shares": decryption_shares,
            "lagrange": {"indices": [1, 3], "coefficients": lagrange},
            "combined": [{"contest": c, "selection": s, "combined": m.to_hex(), "count": n}
                         for c, s, m, n in combined],
        },
        "signature": {
            "seed_label": "paperchain kat: official signing seed",
            "public_key": official.verify_key.to_hex(), "tag": str(SignatureTag.LEDGER_ENTRY),
            "election_id": manifest.election_id, "message": message.hex(),
            "signed_message": signed_message(SignatureTag.LEDGER_ENTRY, manifest.election_id,
                                             message).hex(),
            "signature": signature.hex(),
        },
    }


def render(vectors: dict[str, Any]) -> bytes:
    """The file's exact bytes: JSON, one-space indent, keys in build order, final newline."""
    return (json.dumps(vectors, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def main() -> int:
    KAT_PATH.write_bytes(render(build()))
    print(f"wrote {KAT_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
