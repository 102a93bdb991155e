"""The batch path and the simple path agree on adversarial ballots, in batches of 1,000.

25 ballots of 10 contests × 4 selections (1,000 selections, 1,250 proofs) on the test
group; one value somewhere is replaced by a bad proof response, an element with an
order-2 component (p − x: not a square), an element with an order-r' component (a
square outside the subgroup, which only the batched x^q test sees) or a non-canonical
encoding (x + p). Both paths must reject exactly that ballot and name the same contest
and selection: the simple path by its error's place, the batch path by its own exact
checks and bisection (``locate_raw_failures``).
"""

from __future__ import annotations

import json
import re
import secrets

import gmpy2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e.ballot import locate_raw_failures, read_raw_ballot, verify_ballot
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import PaperchainError
from e2e.group import TEST_GROUP
from e2e.voting import CastBallot, check_cast_payloads
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


KINDS = ("bad-response", "order-2", "order-r'", "non-canonical")


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ballot=st.integers(0, BALLOTS - 1),
       contest=st.integers(0, 9), selection=st.integers(-1, 3),
       field=st.sampled_from(["alpha", "beta", "a", "b"]), branch=st.integers(0, 1))
def test_one_bad_value_in_a_thousand_is_rejected_and_named_by_both_paths(
        batch, kind: str, ballot: int, contest: int, selection: int, field: str,
        branch: int) -> None:
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
    else:
        if field in ("alpha", "beta"):
            holder, key = target, field
        else:
            holder, key = proof_branch, 0 if field == "a" else 1
        x = int(holder[key], 16)
        changed = {"order-2": lambda v: int(G.p) - v, "order-r'": _order_r_prime,
                   "non-canonical": lambda v: v + int(G.p)}[kind](x)
        holder[key] = format(changed, "x").rjust(WIDTH, "0")
    tampered = canonical_json(document)
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
        obj = ObjectReader(parse_canonical_json(payload, "payload"), "payload")
        try:
            raws.append(read_raw_ballot(obj.obj("ballot"), G))
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
