"""Known-answer vectors on the standard group (tests/vectors/kat_standard.json).

Three checks, each able to fail on its own:

1. the library recomputes the whole file byte for byte (``generate_kat.build``);
2. every proof, key and count in the file verifies with the library's verifiers,
   decoding every value through the checked decoders;
3. a second implementation written from docs/spec.md alone — ``hashlib``, ``struct``
   and Python integers, nothing from ``e2e`` — reproduces the hashes, nonces,
   ciphertexts, challenges and Lagrange coefficients of the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import nacl.public

from e2e.ballot import EncryptedBallot, chain_seed, selection_context, tracking_code, verify_ballot
from e2e.ceremony import CeremonyOutcome, Commitments, joint_key, verification_key
from e2e.ceremony import verify_commitments as verify_dealer
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext
from e2e.encoding import ObjectReader, canonical_json
from e2e.group import STANDARD
from e2e.hashing import base_hash, extended_base_hash
from e2e.manifest import demo_manifest
from e2e.official import build_setup
from e2e.proofs import RangeBranch, RangeProof, verify_range
from e2e.setup import TrusteeInfo
from e2e.signing import SignatureTag, SigningKey, VerifyKey
from tally.decrypt import DecryptionShare, combine, lagrange_coefficient
from tally.decrypt import verify_share as verify_decryption_share

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
GROUP = STANDARD


@cache
def _kat() -> dict[str, Any]:
    return json.loads((VECTORS / "kat_standard.json").read_bytes())


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_kat", VECTORS / "generate_kat.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _first_difference(expected: Any, found: Any, path: str = "$") -> str | None:
    if type(expected) is not type(found):
        return f"{path}: {type(expected).__name__} vs {type(found).__name__}"
    if isinstance(expected, dict):
        for key in expected.keys() | found.keys():
            if key not in expected or key not in found:
                return f"{path}.{key}: missing on one side"
            inner = _first_difference(expected[key], found[key], f"{path}.{key}")
            if inner:
                return inner
        return None
    if isinstance(expected, list):
        if len(expected) != len(found):
            return f"{path}: {len(expected)} items vs {len(found)}"
        for i, (a, b) in enumerate(zip(expected, found, strict=True)):
            inner = _first_difference(a, b, f"{path}[{i}]")
            if inner:
                return inner
        return None
    return None if expected == found else f"{path}: {expected!r} != {found!r}"


# --- 1. the library reproduces the file ---------------------------------------------------------


def test_library_recomputes_the_vectors_byte_for_byte() -> None:
    generator = _generator()
    rebuilt = generator.build()
    on_disk = (VECTORS / "kat_standard.json").read_bytes()
    difference = _first_difference(json.loads(on_disk), rebuilt)
    assert difference is None, f"first difference at {difference}"
    assert generator.render(rebuilt) == on_disk


# --- 2. every value verifies ----------------------------------------------------------------------


def _context() -> ElectionContext:
    kat = _kat()
    manifest = demo_manifest()
    ceremony = kat["ceremony"]
    commitments = {d["dealer"]: tuple(GROUP.element_from_hex(c) for c in d["commitments"])
                   for d in ceremony["dealers"]}
    keys = {int(i): GROUP.element_from_hex(v) for i, v in ceremony["verification_keys"].items()}
    # The setup's keys enter neither H_B nor H_E: any registered keys will do here.
    signers = {i: SigningKey(bytes([i]) * 32) for i in (1, 2, 3)}
    setup = build_setup(
        manifest=manifest, group=GROUP, threshold=kat["base_hash"]["k"],
        trustees=[TrusteeInfo(i, f"T{i}", f"trustee-{i}", signers[i].verify_key,
                              bytes(nacl.public.PrivateKey(bytes([9 + i]) * 32).public_key))
                  for i in (1, 2, 3)],
        officials=[("official-1", SigningKey(bytes([7]) * 32).verify_key)],
        operator_key=SigningKey(bytes([8]) * 32).verify_key, log_origin="kat")
    outcome = CeremonyOutcome(1, (1, 2, 3), bytes.fromhex(kat["base_hash"]["value"]),
                              bytes.fromhex(ceremony["extended_base_hash"]),
                              GROUP.element_from_hex(ceremony["joint_key"]), commitments, keys)
    return ElectionContext(setup, outcome)


def test_vectors_are_on_the_standard_group_and_the_demo_manifest() -> None:
    kat = _kat()
    assert (int(kat["group"]["p"], 16), int(kat["group"]["q"], 16), int(kat["group"]["g"], 16)) \
        == (GROUP.p, GROUP.q, GROUP.g)
    assert kat["group"]["name"] == GROUP.name
    assert kat["manifest"]["sha256"] == demo_manifest().digest.hex()


def test_every_dealers_commitments_and_schnorr_proofs_verify() -> None:
    kat = _kat()
    h_b = base_hash(GROUP, demo_manifest().digest, 3, 2)
    assert h_b.hex() == kat["base_hash"]["value"]
    rows = {}
    for dealer in kat["ceremony"]["dealers"]:
        payload = Commitments.from_payload(canonical_json(dealer["payload"]), GROUP, "kat")
        assert [c.to_hex() for c in payload.commitments] == dealer["commitments"]
        verify_dealer(payload, h_b, 2)
        coefficients = [GROUP.exponent_from_hex(a) for a in dealer["coefficients"]]
        assert [GROUP.g_pow(a) for a in coefficients] == list(payload.commitments)
        rows[dealer["dealer"]] = payload.commitments
    ceremony = kat["ceremony"]
    key = joint_key(rows)
    assert key.to_hex() == ceremony["joint_key"]
    assert not key.is_one()
    for index, share in ceremony["key_shares"].items():
        expected = verification_key(rows, int(index))
        assert expected.to_hex() == ceremony["verification_keys"][index]
        assert GROUP.g_pow(GROUP.exponent_from_hex(share)) == expected
    h_e = extended_base_hash(h_b, key, [rows[i] for i in (1, 2, 3)])
    assert h_e.hex() == ceremony["extended_base_hash"]


def _range_proof(branches: list[dict[str, str]]) -> RangeProof:
    return RangeProof(tuple(RangeBranch(
        GROUP.element_from_hex(b["commitment_g"]), GROUP.element_from_hex(b["commitment_k"]),
        GROUP.exponent_from_hex(b["challenge"]), GROUP.exponent_from_hex(b["response"]))
        for b in branches))


def test_every_selection_proof_verifies() -> None:
    kat = _kat()
    key = GROUP.element_from_hex(kat["ceremony"]["joint_key"])
    for selection in kat["selections"]:
        place = selection["context"]
        context = selection_context(bytes.fromhex(place["extended_base_hash"]),
                                    place["device_id"], place["sequence"], place["contest"],
                                    place["selection"])
        ciphertext = Ciphertext(GROUP.element_from_hex(selection["alpha"]),
                                GROUP.element_from_hex(selection["beta"]))
        verify_range(_range_proof(selection["proof"]), ciphertext, key, 1, context)


def test_the_ballot_verifies_and_its_codes_are_recomputed() -> None:
    kat = _kat()
    context = _context()
    vector = kat["ballot"]
    reader = ObjectReader(vector["encrypted"], "kat ballot")
    ballot = EncryptedBallot.from_json(reader, GROUP)
    reader.done()
    verify_ballot(context, ballot)
    seed = chain_seed(context.extended_base_hash, vector["device_id"], vector["session"])
    assert seed.hex() == vector["chain_seed"] == vector["encrypted"]["previous_code"]
    code = tracking_code(context.extended_base_hash, seed, vector["device_id"],
                         vector["style_id"], ballot.ciphertexts())
    assert code.hex() == vector["tracking_code"] == ballot.tracking_code.hex()


def test_the_decryption_shares_verify_and_combine_into_the_ballots_votes() -> None:
    kat = _kat()
    context = _context()
    decryption = kat["decryption"]
    targets = [(t["contest"], t["selection"], Ciphertext(GROUP.element_from_hex(t["alpha"]),
                                                         GROUP.element_from_hex(t["beta"])))
               for t in decryption["targets"]]
    shares = [DecryptionShare.from_payload(canonical_json(s["payload"]), GROUP, "kat")
              for s in decryption["shares"]]
    for share in shares:
        verify_decryption_share(share, context, targets)
    combined = combine(context, shares, targets, {0: 1})
    assert [{"contest": c, "selection": s, "combined": m.to_hex(), "count": n}
            for c, s, m, n in combined] == decryption["combined"]
    votes = kat["ballot"]["votes"][0]
    assert [n for *_, n in combined] == votes["votes"]
    for index, coefficient in decryption["lagrange"]["coefficients"].items():
        assert lagrange_coefficient(GROUP, int(index), [1, 3]).to_hex() == coefficient


def test_the_signature_verifies_under_its_tag_and_election() -> None:
    vector = _kat()["signature"]
    key = VerifyKey.from_hex(vector["public_key"])
    key.verify(SignatureTag(vector["tag"]), vector["election_id"],
               bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"]))


# --- 3. an implementation from docs/spec.md alone ----------------------------------------------


P, Q, G = int(STANDARD.p), int(STANDARD.q), int(STANDARD.g)


def _u32(n: int) -> bytes:
    return struct.pack(">I", n)


def _enc(value: object) -> bytes:
    """enc(v) of §3.1; an element is ("p", x), an exponent ("q", e)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int):
        return value.to_bytes(8, "big")
    if isinstance(value, tuple) and value[0] == "p":
        return value[1].to_bytes(512, "big")
    if isinstance(value, tuple) and value[0] == "q":
        return value[1].to_bytes(32, "big")
    if isinstance(value, list):
        return _u32(len(value)) + b"".join(_u32(len(_enc(v))) + _enc(v) for v in value)
    raise TypeError(value)


def _h(tag: str, *values: object) -> bytes:
    data = _u32(len(b"paperchain/v1/" + tag.encode())) + b"paperchain/v1/" + tag.encode()
    for value in values:
        encoded = _enc(value)
        data += _u32(len(encoded)) + encoded
    return hashlib.sha256(data).digest()


def _hq(tag: str, *values: object) -> int:
    return int.from_bytes(_h(tag, *values), "big") % Q


def _e(text: str) -> tuple[str, int]:
    return ("p", int(text, 16))


def test_spec_reimplementation_reproduces_h_b_commitments_and_h_e() -> None:
    kat = _kat()
    manifest_digest = hashlib.sha256(
        (Path(__file__).resolve().parents[2] / kat["manifest"]["file"]).read_bytes()).digest()
    assert manifest_digest.hex() == kat["manifest"]["sha256"]
    h_b = _h("base-hash", P.to_bytes(512, "big"), Q.to_bytes(32, "big"), G.to_bytes(512, "big"),
             manifest_digest, 3, 2)
    assert h_b.hex() == kat["base_hash"]["value"]
    rows = []
    key = 1
    for dealer in kat["ceremony"]["dealers"]:
        seed = bytes.fromhex(dealer["proof_seed"])
        row = []
        for j, (coefficient, proof) in enumerate(zip(dealer["coefficients"], dealer["proofs"],
                                                     strict=True)):
            a = int(coefficient, 16)
            commitment = pow(G, a, P)
            u = _hq("proof-nonce", seed, [], j)  # the j-th draw of the dealer's proof seed
            h = pow(G, u, P)
            c = _hq("coefficient-proof", h_b, dealer["dealer"], j, ("p", commitment), ("p", h))
            assert format(commitment, "x").rjust(1024, "0") == dealer["commitments"][j]
            assert (u, h, c, (u + c * a) % Q) == (
                int(proof["nonce"], 16), int(proof["commitment"], 16),
                int(proof["challenge"], 16), int(proof["response"], 16))
            row.append(("p", commitment))
        rows.append(row)
        key = key * row[0][1] % P
    assert format(key, "x").rjust(1024, "0") == kat["ceremony"]["joint_key"]
    h_e = _h("extended-base-hash", h_b, ("p", key), rows)
    assert h_e.hex() == kat["ceremony"]["extended_base_hash"]
    for index, share in kat["ceremony"]["key_shares"].items():
        s = sum(sum(int(a, 16) * int(index) ** j for j, a in enumerate(d["coefficients"]))
                for d in kat["ceremony"]["dealers"]) % Q
        assert s == int(share, 16)
        assert pow(G, s, P) == int(kat["ceremony"]["verification_keys"][index], 16)


def _range_proof_ints(proof: list[dict[str, str]]) -> list[tuple[int, int, int, int]]:
    return [(int(b["commitment_g"], 16), int(b["commitment_k"], 16), int(b["challenge"], 16),
             int(b["response"], 16)) for b in proof]


def _prove_range_by_spec(tag: str, context: list[object], key: int, m: int, r: int, limit: int,
                         seed: bytes, label: list[object]) -> list[tuple[int, int, int, int]]:
    """§5.3 with §3.5's nonces: u first, then (c_j, v_j) for each other j in order."""
    counter = iter(range(10**6))

    def draw() -> int:
        return _hq("proof-nonce", seed, label, next(counter))

    alpha, beta = pow(G, r, P), pow(G, m, P) * pow(key, r, P) % P
    u = draw()
    commitments, simulated = [], {}
    for j in range(limit + 1):
        if j == m:
            commitments.append((pow(G, u, P), pow(key, u, P)))
            continue
        c_j, v_j = draw(), draw()
        shifted = (v_j - c_j * r) % Q
        commitments.append((pow(G, shifted, P),
                            pow(key, shifted, P) * pow(G, (-c_j * (m - j)) % Q, P) % P))
        simulated[j] = (c_j, v_j)
    c = _hq(tag, *context, limit, ("p", key), ("p", alpha), ("p", beta),
            [[("p", a), ("p", b)] for a, b in commitments])
    c_m = (c - sum(cj for cj, _ in simulated.values())) % Q
    return [(a, b, c_m, (u + c_m * r) % Q) if j == m else (a, b, *simulated[j])
            for j, (a, b) in enumerate(commitments)]


def test_spec_reimplementation_reproduces_the_selection_encryptions() -> None:
    kat = _kat()
    key = int(kat["ceremony"]["joint_key"], 16)
    for selection in kat["selections"]:
        place = selection["context"]
        r, m = int(selection["nonce"], 16), selection["plaintext"]
        assert pow(G, r, P) == int(selection["alpha"], 16)
        assert pow(G, m, P) * pow(key, r, P) % P == int(selection["beta"], 16)
        proof = _prove_range_by_spec(
            "selection-proof", [bytes.fromhex(place["extended_base_hash"]), place["device_id"],
                                place["sequence"], place["contest"], place["selection"]],
            key, m, r, 1, bytes.fromhex(selection["proof_seed"]), selection["proof_nonce_label"])
        assert proof == _range_proof_ints(selection["proof"])


def test_spec_reimplementation_reproduces_the_ballot() -> None:
    kat = _kat()
    vector = kat["ballot"]
    h_e = bytes.fromhex(kat["ceremony"]["extended_base_hash"])
    key = int(kat["ceremony"]["joint_key"], 16)
    limits = {0: 1, 1: 2, 2: 1, 3: 1, 4: 4, 5: 1, 6: 1}  # vote_for of the demo's contests
    xi, seed = bytes.fromhex(vector["master_nonce"]), bytes.fromhex(vector["proof_seed"])
    assert _h("tracking-code-seed", h_e, vector["device_id"], vector["session"]).hex() \
        == vector["chain_seed"]
    encrypted = vector["encrypted"]
    place = [h_e, vector["device_id"], vector["sequence"]]
    all_ciphertexts = []
    for votes, contest in zip(vector["votes"], encrypted["contests"], strict=True):
        i = votes["contest"]
        assert contest["index"] == i
        nonces, row = [], []
        for j, (m, selection) in enumerate(zip(votes["votes"], contest["selections"],
                                               strict=True)):
            r = _hq("selection-nonce", h_e, xi, i, j)
            nonces.append(r)
            alpha, beta = pow(G, r, P), pow(G, m, P) * pow(key, r, P) % P
            assert (alpha, beta) == (int(selection["alpha"], 16), int(selection["beta"], 16))
            row.append([("p", alpha), ("p", beta)])
            proof = _prove_range_by_spec("selection-proof", [*place, i, j], key, m, r, 1, seed,
                                         [i, j])
            assert proof == [tuple(int(x, 16) for x in b) for b in selection["proof"]]
        all_ciphertexts.append(row)
        proof = _prove_range_by_spec("contest-proof", [*place, i], key, sum(votes["votes"]),
                                     sum(nonces) % Q, limits[i], seed, [i, "contest"])
        assert proof == [tuple(int(x, 16) for x in b) for b in contest["proof"]]
    code = _h("tracking-code", h_e, bytes.fromhex(vector["chain_seed"]), vector["device_id"],
              vector["style_id"], all_ciphertexts)
    assert code.hex() == vector["tracking_code"]


def test_spec_reimplementation_reproduces_decryption_and_lagrange() -> None:
    kat = _kat()
    decryption = kat["decryption"]
    h_e = bytes.fromhex(kat["ceremony"]["extended_base_hash"])
    shares = kat["ceremony"]["key_shares"]
    partials = {}
    for vector in decryption["shares"]:
        payload = vector["payload"]
        trustee, seed = payload["trustee"], bytes.fromhex(vector["nonce_seed"])
        s = int(shares[str(trustee)], 16)
        public = pow(G, s, P)
        for n, (target, partial) in enumerate(zip(decryption["targets"], payload["partials"],
                                                  strict=True)):
            a_base, b_value = int(target["alpha"], 16), int(target["beta"], 16)
            u = _hq("proof-nonce", seed, [], n)  # one draw per target, in order
            m_l, a, b = pow(a_base, s, P), pow(G, u, P), pow(a_base, u, P)
            c = _hq("decryption-share-proof", h_e, decryption["subject"], trustee,
                    target["contest"], target["selection"], ("p", b_value), ("p", public),
                    ("p", a_base), ("p", m_l), ("p", a), ("p", b))
            assert [m_l, a, b, c, (u + c * s) % Q] == [int(partial["value"], 16)] + [
                int(x, 16) for x in partial["proof"]]
            partials[(trustee, n)] = m_l
    w = {1: 3 * pow(3 - 1, -1, Q) % Q, 3: 1 * pow(1 - 3, -1, Q) % Q}
    assert {str(i): format(v, "x").rjust(64, "0") for i, v in w.items()} \
        == decryption["lagrange"]["coefficients"]
    for n, (target, result) in enumerate(zip(decryption["targets"], decryption["combined"],
                                             strict=True)):
        combined = pow(partials[(1, n)], w[1], P) * pow(partials[(3, n)], w[3], P) % P
        assert combined == int(result["combined"], 16)
        g_t = int(target["beta"], 16) * pow(combined, -1, P) % P
        assert g_t == pow(G, result["count"], P)


def test_spec_reimplementation_reproduces_the_signed_message() -> None:
    vector = _kat()["signature"]
    tag = ("paperchain/v1/sig/" + vector["tag"]).encode()
    election = vector["election_id"].encode()
    message = bytes.fromhex(vector["message"])
    expected = b"".join(_u32(len(x)) + x for x in (tag, election, message))
    assert expected.hex() == vector["signed_message"]
