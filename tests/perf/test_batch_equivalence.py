"""The batch path and the simple path agree on adversarial ballots, in batches of 1,000.

25 ballots of 10 contests × 4 selections (1,000 selections, 1,250 proofs) on the test
group, as JSON and as compact payloads; one value somewhere is replaced by a bad proof
response, an element with an order-2 component (p − x: not a square), an element with
an order-r' component (a square outside the subgroup, which only the batched x^q test
sees), a non-canonical element (x + p) or a non-canonical exponent (c + q or v + q).
Both paths must reject exactly that ballot and name the same contest and selection:
the simple path by its error's place, the batch path by its own exact checks and
bisection (``locate_raw_failures``).
"""

from __future__ import annotations

import json
import re
import secrets

import gmpy2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e.ballot import (
    COMPACT_VERSION,
    locate_raw_failures,
    read_raw_ballot,
    read_raw_compact,
    verify_ballot,
    verify_raw_ballots,
)
from e2e.encoding import ObjectReader, canonical_json, field, parse_canonical_json, u32, u64
from e2e.errors import PaperchainError
from e2e.group import TEST_GROUP
from e2e.voting import (
    COMPACT_MAGIC,
    COMPACT_PAYLOAD_VERSION,
    CastBallot,
    _compact_reader,
    check_cast_payloads,
)
from tests.perf.ledgers import SyntheticElection, bench_manifest

G = TEST_GROUP
BALLOTS = 25
WIDTH = 2 * G.p_bytes


@pytest.fixture(scope="module")
def batch():  # -> (election, [payload bytes])
    election = SyntheticElection.create(G, bench_manifest(10, 4), devices=1)
    entries = election.chain("kiosk-1", BALLOTS)
    payloads = [e.payload for e in entries if e.entry_type == "ballot"]
    assert sum(len(json.loads(p)["ballot"]["contests"][0]["selections"]) * 10
               for p in payloads) >= 1000
    return election, payloads


def _simple(context, payload: bytes) -> PaperchainError | None:
    try:
        cast = CastBallot.from_payload(payload, G, "payload")
        verify_ballot(context, cast.ballot, fast=False)
    except PaperchainError as err:
        return err
    return None


def test_every_honest_ballot_passes_both_paths(batch) -> None:
    election, payloads = batch
    assert all(_simple(election.context, p) is None for p in payloads)
    checked = check_cast_payloads(election.context, [(p, "payload") for p in payloads])
    assert all(c.decode_error is None and c.verify_error is None for c in checked)
    # ... accepted by the batch itself, not by the simple path it falls back to
    for form in (payloads, [_compact(json.loads(p)) for p in payloads]):
        verified = verify_raw_ballots(election.context, [_raw(p) for p in form])
        assert all(ballot is not None for ballot in verified)


def _place(text: str) -> tuple[int, int | None]:
    """(contest, selection or None) from either path's words."""
    found = re.search(r"contests\[(\d+)\](?:\.selections\[(\d+)\])?", text) or re.search(
        r"contest (\d+)(?: selection (\d+))?", text)
    assert found is not None, text
    return int(found.group(1)), None if found.group(2) is None else int(found.group(2))


def _order_r_prime(x: int) -> int:
    while True:
        h = gmpy2.powmod(secrets.randbelow(int(G.p) - 2) + 2, 2 * G.q, G.p)
        if h != 1:
            return int(x * h % G.p)


def _compact(document: dict) -> bytes:
    """The compact payload of a (possibly tampered) JSON payload document, byte for byte
    what ``CastBallot.to_payload(compact=True)`` writes for an honest one."""
    ballot = document["ballot"]

    def proof(branches: list[list[str]]) -> list[bytes]:
        return [u32(len(branches)), *(bytes.fromhex(x) for branch in branches for x in branch)]

    parts = [COMPACT_MAGIC, bytes([COMPACT_PAYLOAD_VERSION, COMPACT_VERSION]),
             field(ballot["device_id"].encode()), field(ballot["session"].encode()),
             u64(ballot["sequence"]), field(ballot["style_id"].encode()),
             bytes.fromhex(ballot["previous_code"]), bytes.fromhex(ballot["tracking_code"]),
             u32(len(ballot["contests"]))]
    for contest in ballot["contests"]:
        parts += [u32(contest["index"]), u32(len(contest["selections"]))]
        for selection in contest["selections"]:
            parts += [bytes.fromhex(selection["alpha"]), bytes.fromhex(selection["beta"]),
                      *proof(selection["proof"])]
        parts += proof(contest["proof"])
    return b"".join(parts)


def test_the_compact_form_of_the_test_documents_is_the_real_one(batch) -> None:
    _, payloads = batch
    for payload in payloads[:3]:
        ballot = CastBallot.from_payload(payload, G, "payload").ballot
        assert _compact(json.loads(payload)) == CastBallot(ballot).to_payload(compact=True)


def _raw(payload: bytes):  # -> RawBallot (decoded as the batch path does, membership left)
    if payload[:4] == COMPACT_MAGIC:
        reader = _compact_reader(payload, "payload")
        raw = read_raw_compact(reader, G, "payload.ballot")
        reader.end()
        return raw
    obj = ObjectReader(parse_canonical_json(payload, "payload"), "payload")
    return read_raw_ballot(obj.obj("ballot"), G)


KINDS = ("bad-response", "order-2", "order-r'", "non-canonical", "non-canonical-exponent")


@pytest.mark.parametrize("encoding", ["json", "compact"])
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ballot=st.integers(0, BALLOTS - 1),
       contest=st.integers(0, 9), selection=st.integers(-1, 3),
       field=st.sampled_from(["alpha", "beta", "a", "b"]), branch=st.integers(0, 1),
       exponent=st.sampled_from([2, 3]))
def test_one_bad_value_in_a_thousand_is_rejected_and_named_by_both_paths(
        batch, encoding: str, kind: str, ballot: int, contest: int, selection: int,
        field: str, branch: int, exponent: int) -> None:
    election, payloads = batch
    context = election.context
    document = json.loads(payloads[ballot])
    target = document["ballot"]["contests"][contest]
    if selection >= 0:
        target = target["selections"][selection]
    elif field in ("alpha", "beta"):
        field = "a"  # a contest proof's statement is computed, not sent: tamper its proof
    proof_branch = target["proof"][branch]
    if kind == "bad-response":
        value = int(proof_branch[3], 16)
        proof_branch[3] = format((value + 1) % int(G.q), "x").rjust(2 * G.q_bytes, "0")
    elif kind == "non-canonical-exponent":  # the challenge (2) or the response (3), + q
        value = int(proof_branch[exponent], 16) + int(G.q)
        assert value < 2 ** (8 * G.q_bytes)  # still fits the width: only the range refuses it
        proof_branch[exponent] = format(value, "x").rjust(2 * G.q_bytes, "0")
    else:
        if field in ("alpha", "beta"):
            holder, key = target, field
        else:
            holder, key = proof_branch, 0 if field == "a" else 1
        x = int(holder[key], 16)
        changed = {"order-2": lambda v: int(G.p) - v, "order-r'": _order_r_prime,
                   "non-canonical": lambda v: v + int(G.p)}[kind](x)
        assert changed < 2 ** (8 * G.p_bytes)
        holder[key] = format(changed, "x").rjust(WIDTH, "0")
    if encoding == "json":
        tampered = canonical_json(document)
    else:
        tampered = _compact(document)
        payloads = [_compact(json.loads(p)) for p in payloads]
    expected_place = (contest, None if selection < 0 else selection)

    # The simple path: checked decoding, then every proof on its own.
    simple = _simple(context, tampered)
    assert simple is not None
    simple_place = _place(str(simple))

    # The batch path, on the whole batch with the tampered ballot in place.
    batch_payloads = [*payloads[:ballot], tampered, *payloads[ballot + 1:]]
    checked = check_cast_payloads(context, [(p, "payload") for p in batch_payloads])
    failing = [i for i, c in enumerate(checked) if c.decode_error or c.verify_error]
    assert failing == [ballot]
    raws, decode_failure = [], None
    for i, payload in enumerate(batch_payloads):
        try:
            raws.append(_raw(payload))
        except PaperchainError as err:
            assert i == ballot
            decode_failure = str(err)
    if decode_failure is not None:
        batch_place = _place(decode_failure)
    else:
        places = locate_raw_failures(context, raws)
        assert [i for i, where in enumerate(places) if where] == [ballot]
        batch_place = _place(places[ballot] or "")

    assert simple_place == batch_place == expected_place, (kind, str(simple))
