"""Encrypted CVRs: the batch path and the simple path agree on adversarial chunks.

A ``cvrs`` chunk of 12 CVRs (demo manifest, test group); one value of a CVR at a random
position is replaced by a bad proof response, an element with an order-2 component
(p − x: not a square), an element with an order-r' component (a square outside the
subgroup, which only the batched x^q test sees) or a non-canonical encoding (x + p).
The simple path (checked decoding, each proof on its own) and ``verify_cvr_chunk`` (the
batch path, with the simple path for the words) must refuse the chunk with the same
error; the batch path alone (``locate_raw_cvr_failures``, bisection) must name exactly
that CVR and the same contest and selection.
"""

from __future__ import annotations

import json
import re
import secrets

import gmpy2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from e2e.ballot import mark_ballot, verify_contests
from e2e.context import ElectionContext
from e2e.cvr import (
    CvrChunk,
    EncryptedCvr,
    cvr_binding,
    encrypt_cvr,
    locate_raw_cvr_failures,
    read_raw_cvr,
    verify_cvr_chunk,
    verify_raw_cvrs,
)
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import PaperchainError
from e2e.group import TEST_GROUP

G = TEST_GROUP
DEVICE = "kiosk-1"
CVRS = 12
WIDTH = 2 * G.p_bytes


@pytest.fixture(scope="module")
def chunk(context: ElectionContext) -> bytes:
    manifest = context.manifest
    cvrs: list[EncryptedCvr] = []
    for n in range(CVRS):
        style = manifest.ballot_styles[n % len(manifest.ballot_styles)]
        choices = {c.id: [c.selections[n % len(c.selections)].id]
                   for _, c in manifest.contests_of_style(style.id)}
        cvrs.append(encrypt_cvr(context, mark_ballot(manifest, style.id, choices),
                                device_id=DEVICE, ballot_id=secrets.token_bytes(16)))
    cvrs.sort(key=lambda c: c.ballot_id)
    return CvrChunk(DEVICE, 0, tuple(cvrs)).to_payload()


def _simple(context: ElectionContext, payload: bytes) -> PaperchainError | None:
    """The reference: checked decoding of every element, then every proof on its own."""
    try:
        chunk = CvrChunk.from_payload(payload, G, "cvrs")
        for cvr in chunk.cvrs:
            verify_contests(context, cvr.style_id, cvr.contests,
                            cvr_binding(context.extended_base_hash, DEVICE, cvr.ballot_id),
                            f"device {DEVICE} {cvr.label}", fast=False)
    except PaperchainError as err:
        return err
    return None


def _raws(payload: bytes) -> list:
    obj = ObjectReader(parse_canonical_json(payload, "cvrs"), "cvrs")
    return [read_raw_cvr(r, G) for r in obj.objects("cvrs", 1000)]


def test_an_honest_chunk_passes_both_paths_and_decodes_the_same(
        context: ElectionContext, chunk: bytes) -> None:
    assert _simple(context, chunk) is None
    fast = verify_cvr_chunk(context, chunk, "cvrs")
    assert fast == CvrChunk.from_payload(chunk, G, "cvrs")
    assert locate_raw_cvr_failures(context, DEVICE, _raws(chunk)) == [None] * CVRS


def test_another_device_fails_every_cvr_in_both_paths(context: ElectionContext,
                                                      chunk: bytes) -> None:
    """The proofs are bound to the device: the same CVRs under another device's name fail."""
    assert verify_raw_cvrs(context, "kiosk-2", _raws(chunk)) == [None] * CVRS
    places = locate_raw_cvr_failures(context, "kiosk-2", _raws(chunk))
    assert all(place is not None and place.startswith("contest ") for place in places)


def _place(text: str, document: dict, cvr: int) -> tuple[int, int, int | None]:
    """(CVR position, contest index, selection or None) from either path's words."""
    ids = [c["ballot_id"] for c in document["cvrs"]]
    at = re.search(r"cvrs\[(\d+)\]\.contests\[(\d+)\](?:\.selections\[(\d+)\])?", text)
    if at is not None:  # a decoding error: positions in the JSON
        position, contest_position = int(at.group(1)), int(at.group(2))
        contest = document["cvrs"][position]["contests"][contest_position]["index"]
        return position, contest, None if at.group(3) is None else int(at.group(3))
    named = re.search(r"CVR ([0-9a-f]{32})", text)
    position = ids.index(named.group(1)) if named is not None else cvr
    found = re.search(r"contest (\d+)(?: selection (\d+))?", text)
    assert found is not None, text
    return position, int(found.group(1)), None if found.group(2) is None else int(found.group(2))


def _order_r_prime(x: int) -> int:
    while True:
        h = gmpy2.powmod(secrets.randbelow(int(G.p) - 2) + 2, 2 * G.q, G.p)
        if h != 1:
            return int(x * h % G.p)


KINDS = ("bad-response", "order-2", "order-r'", "non-canonical")


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cvr=st.integers(0, CVRS - 1), contest=st.integers(0, 20), selection=st.integers(-1, 20),
       field=st.sampled_from(["alpha", "beta", "a", "b"]), branch=st.integers(0, 1))
def test_one_bad_value_in_a_chunk_is_refused_and_named_by_both_paths(
        context: ElectionContext, chunk: bytes, kind: str, cvr: int, contest: int,
        selection: int, field: str, branch: int) -> None:
    document = json.loads(chunk)
    contests = document["cvrs"][cvr]["contests"]
    target = contests[contest % len(contests)]
    contest_index = target["index"]
    if selection >= 0:
        selection %= len(target["selections"])
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
    expected = (cvr, contest_index, None if selection < 0 else selection)

    # The simple path, and the fast entry point refusing with the very same error.
    simple = _simple(context, tampered)
    assert simple is not None
    with pytest.raises(PaperchainError) as refused:
        verify_cvr_chunk(context, tampered, "cvrs")
    assert str(refused.value) == str(simple)
    assert type(refused.value) is type(simple)

    # The batch path alone: the decoder refuses, or bisection names the one bad CVR.
    try:
        raws = _raws(tampered)
    except PaperchainError as err:
        batch = _place(str(err), document, cvr)
    else:
        assert [i for i, ok in enumerate(verify_raw_cvrs(context, DEVICE, raws))
                if ok is None] == [cvr]
        places = locate_raw_cvr_failures(context, DEVICE, raws)
        assert [i for i, where in enumerate(places) if where] == [cvr]
        batch = _place(f"CVR {raws[cvr].ballot_id.hex()} {places[cvr]}", document, cvr)

    assert _place(str(simple), document, cvr) == batch == expected, (kind, str(simple))
