"""The ledger service through real HTTP on 127.0.0.1: admission refusals, proofs, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.ballot import chain_seed, encrypt_ballot, mark_ballot
from e2e.encoding import canonical_json
from e2e.errors import LedgerError
from e2e.ledger.entry import decode_envelope, leaf_hash_of, sign_entry
from e2e.ledger.heads import HeadPolicy, cosign_head, verify_cosigned_head
from e2e.ledger.operator import RevokeWriter
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.types import EntryType
from e2e.merkle import verify_consistency, verify_inclusion
from e2e.official import PhaseNote
from e2e.signing import SigningKey
from e2e.voting import CastBallot
from tests.ledger.service_helpers import Election, Network, make_election, running


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return make_election(tmp_path)


@pytest.fixture
def network(election: Election) -> Iterator[Network]:
    with running(election) as net:
        net.write_setup_and_ceremony()
        yield net


def post_entry(network: Network, raw: bytes) -> httpx.Response:
    return httpx.post(f"{network.url}/v1/entries", content=raw,
                      headers={"content-type": "application/octet-stream"})


def refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "where"}
    assert words in body["error"], body


def test_append_returns_a_promise_the_operator_signed(network: Network) -> None:
    election = network.election
    raw = election.register_device("kiosk-9", network.client.next_sequence("official-1"))
    response = post_entry(network, raw)
    assert response.status_code == 200
    body = response.json()
    promise = InclusionPromise.from_bytes(bytes.fromhex(body["promise"]))
    promise.verify(election.setup.operator_key, election.election_id)
    assert promise.index == body["index"] == 11
    envelope = network.client.envelope(promise.index)
    assert leaf_hash_of(envelope) == promise.leaf_hash
    assert decode_envelope(envelope).entry_bytes == raw
    by_id = httpx.get(f"{network.url}/v1/entries/{promise.leaf_hash.hex()}").json()
    assert by_id["index"] == promise.index


def test_refuses_forged_signature(network: Network) -> None:
    forger = SigningKey(b"\x42" * 32)
    raw = sign_entry(forger, "voting-open", network.election.election_id, "official-1", 1,
                     PhaseNote.encode("open")).encode()
    refused(post_entry(network, raw), 422, "signature does not verify")


def test_refuses_unregistered_writer(network: Network) -> None:
    stranger = SigningKey(b"\x43" * 32)
    raw = sign_entry(stranger, "voting-open", network.election.election_id, "mallory", 0,
                     PhaseNote.encode("open")).encode()
    refused(post_entry(network, raw), 422, "'mallory' is not registered")


def test_refuses_revoked_writer(network: Network) -> None:
    election = network.election
    size = network.client.size()
    revoke = RevokeWriter("kiosk-1", size + 1, "stolen").to_payload()
    network.append(election.official_entry(EntryType.REVOKE_WRITER, revoke,
                                           network.client.next_sequence("official-1")))
    network.open_voting()
    raw = sign_entry(election.device_key, "device-close", election.election_id, "kiosk-1", 0,
                     b"{}").encode()
    refused(post_entry(network, raw), 422, "'kiosk-1' is revoked from index")


def test_refuses_wrong_role(network: Network) -> None:
    election = network.election
    raw = sign_entry(election.device_key, "voting-open", election.election_id, "kiosk-1", 0,
                     PhaseNote.encode("open")).encode()
    refused(post_entry(network, raw), 422, "a device may not write voting-open entries")


def test_refuses_wrong_phase(network: Network) -> None:
    raw = network.election.official_entry(EntryType.VOTING_CLOSE, PhaseNote.encode("closed"),
                                          network.client.next_sequence("official-1"))
    refused(post_entry(network, raw), 422, "not accepted in the ready phase")


def test_refuses_replayed_sequence_number(network: Network) -> None:
    refused(post_entry(network, network.election.setup_entry()), 422,
            "sequence number 0 is replayed")


def test_refuses_gap_in_sequence_numbers(network: Network) -> None:
    raw = network.election.official_entry(EntryType.VOTING_OPEN, PhaseNote.encode("open"), 7)
    refused(post_entry(network, raw), 422, "out of sequence")


def test_refuses_malformed_entry_with_400(network: Network) -> None:
    refused(post_entry(network, b"PCLE\x01garbage"), 400, "more than the 64 allowed")
    refused(post_entry(network, b"PCLE\x01"), 400, "truncated")
    refused(post_entry(network, b""), 400, "the body must hold")


def test_refuses_oversized_body_with_413(network: Network) -> None:
    refused(post_entry(network, b"x" * (17 << 20)), 413, "exceeds")


def test_refusals_are_json_with_a_place(network: Network) -> None:
    refused(httpx.get(f"{network.url}/v1/entries", params={"limit": 10**6}), 400,
            "less than or equal")
    refused(httpx.get(f"{network.url}/v1/entries", params={"start": 999}), 404, "beyond")
    refused(httpx.get(f"{network.url}/v1/heads/999"), 404, "no head of size 999")
    refused(httpx.get(f"{network.url}/v1/proofs/inclusion", params={"index": 50, "size": 3}),
            404, "no entry 50")
    refused(httpx.get(f"{network.url}/v1/proofs/consistency", params={"size1": 5, "size2": 3}),
            400, "exceeds")
    refused(httpx.get(f"{network.url}/v1/promises/zz"), 400, "pattern")
    refused(httpx.get(f"{network.url}/v1/promises/{'00' * 32}"), 404, "no ballot")
    refused(httpx.get(f"{network.url}/v1/nowhere"), 404, "Not Found")
    refused(httpx.delete(f"{network.url}/v1/head"), 405, "Not Allowed")


def test_entry_pages_are_bounded(network: Network) -> None:
    page = httpx.get(f"{network.url}/v1/entries", params={"start": 2, "limit": 3}).json()
    assert [e["index"] for e in page["entries"]] == [2, 3, 4]
    assert page["size"] == 11
    assert len(network.client.leaf_hashes(0, 11)) == 11
    assert list(network.client.entries())[-1][0] == 10


def test_proofs_verify_against_signed_heads(network: Network) -> None:
    first = network.client.latest_head()
    network.register_devices(["kiosk-7", "kiosk-8", "kiosk-9"])
    second = network.client.latest_head()
    assert first is not None
    assert second is not None
    policy = HeadPolicy.from_setup(network.election.setup)
    policy.verify_signed(first.signed)
    policy.verify_signed(second.signed)
    assert (first.size, second.size) == (11, 14)
    assert second.time > first.time
    proof = network.client.consistency_proof(first.size, second.size)
    verify_consistency(first.size, second.size, proof, first.root, second.root)
    for index in (0, 5, 13):
        leaf = network.client.leaf_hashes(index, index + 1)[0]
        path = network.client.inclusion_proof(index, second.size)
        verify_inclusion(leaf, index, second.size, path, second.root)
    history = network.client.heads_before(None, 10)
    assert [h.size for h in history] == [14, 11]


def test_cosignatures_are_checked_before_they_are_kept(network: Network) -> None:
    election = network.election
    head = network.client.latest_head()
    assert head is not None
    w1 = election.witness_keys["w1"]
    good = cosign_head(w1, "w1", head.head, head.time + 5)
    stranger = cosign_head(SigningKey(b"\x44" * 32), "w3", head.head, head.time + 5)
    with pytest.raises(LedgerError, match="not a witness"):
        network.client.submit_cosignature(head.size, head.root, stranger)
    impostor = cosign_head(w1, "w2", head.head, head.time + 5)
    with pytest.raises(LedgerError, match="signature does not verify"):
        network.client.submit_cosignature(head.size, head.root, impostor)
    with pytest.raises(LedgerError, match="another root"):
        network.client.submit_cosignature(head.size, b"\x00" * 32, good)
    network.client.submit_cosignature(head.size, head.root, good)
    kept = network.client.head_at(head.size)
    assert kept is not None
    assert [c.witness_id for c in kept.cosignatures] == ["w1"]
    assert network.client.cosigned_head() is None  # 1 of the 2 required
    with pytest.raises(LedgerError, match="1 valid witness cosignature"):
        verify_cosigned_head(HeadPolicy.from_setup(election.setup), kept)
    refused(httpx.post(f"{network.url}/v1/cosignatures", content=b"{not json"), 400,
            "malformed JSON")


def test_witness_node_admits_nothing(network: Network) -> None:
    network.sync("w1")
    url = network.witness_url("w1")
    info = httpx.get(f"{url}/v1/info").json()
    assert (info["role"], info["witness_id"], info["size"]) == ("witness", "w1", 11)
    assert httpx.post(f"{url}/v1/entries", content=b"x").status_code == 405
    assert httpx.get(f"{url}/v1/head").json()["cosigners"] == ["w1"]


def _ballot(network: Network, sequence: int, previous: bytes | None,
            master_nonce: bytes | None = None) -> dict:
    """kiosk-1's ballot number ``sequence`` in its chain, as the JSON of its payload."""
    context = network.election.context()
    manifest = context.manifest
    style = manifest.ballot_styles[0]
    _, contest = manifest.contests_of_style(style.id)[0]
    marked = mark_ballot(manifest, style.id, {contest.id: [contest.selections[0].id]})
    previous = previous or chain_seed(context.extended_base_hash, "kiosk-1", "s1")
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s1",
                             sequence=sequence, previous_code=previous,
                             master_nonce=master_nonce)
    return json.loads(CastBallot(pending.ballot).to_payload())


def _post_ballot(network: Network, ballot: dict, entry_sequence: int) -> httpx.Response:
    election = network.election
    return post_entry(network, sign_entry(election.device_key, "ballot", election.election_id,
                                          "kiosk-1", entry_sequence,
                                          canonical_json(ballot)).encode())


def test_refuses_invalid_ballots_at_admission(network: Network) -> None:
    network.open_voting()
    first = _ballot(network, 1, None, master_nonce=b"\x01" * 32)
    assert _post_ballot(network, first, 0).status_code == 200
    code = CastBallot.from_payload(canonical_json(first), network.election.context().group,
                                   "ballot").ballot.tracking_code
    refused(_post_ballot(network, first, 1), 422, "sequence 1, expected 2")  # replayed
    tampered = _ballot(network, 2, code)
    proof = tampered["ballot"]["contests"][0]["selections"][0]["proof"][-1]
    proof[-1] = format(int(proof[-1], 16) ^ 1, f"0{len(proof[-1])}x")  # a response
    refused(_post_ballot(network, tampered, 1), 422, "g^v = a·α^c fails")
    refused(_post_ballot(network, _ballot(network, 2, b"\x00" * 32), 1), 422,
            "previous code does not continue the device's chain")
    same_alphas = _ballot(network, 2, code, master_nonce=b"\x01" * 32)
    refused(_post_ballot(network, same_alphas, 1), 409, "already used")
    assert _post_ballot(network, _ballot(network, 2, code), 1).status_code == 200
