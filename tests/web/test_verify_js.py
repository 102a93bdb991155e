"""The receipt checker's JavaScript (static/verify.js) under Node, against the Python side.

The same module the checker page imports runs here under Node on real data: receipts
from the kiosk, heads and proofs from real witnesses, openings on the 4096-bit group.
Without Node these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.ballot import encrypt_ballot, mark_ballot, tracking_code
from e2e.group import STANDARD
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.monitor import Party
from e2e.ledger.receipts import check_receipt
from paper.ids import format_tracking_code, parse_tracking_code
from paper.scan import read_qr_codes
from paperchain.web.common import STATIC_DIR
from tests.strategies import CeremonyScript, election_context
from tests.web.web_helpers import WebElection

HERE = Path(__file__).parent
NODE = shutil.which("node")


def _require_node() -> str:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js is needed for the receipt checker's tests under CI")
        pytest.skip("Node.js is not installed: the receipt checker's JavaScript is not tested")
    return NODE


def run_node(script: str, request: dict[str, Any]) -> dict[str, Any]:
    node = _require_node()
    done = subprocess.run([node, str(HERE / script), str(STATIC_DIR / "verify.js")],
                          input=json.dumps(request), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def config_of(web: WebElection) -> dict[str, Any]:
    return httpx.get(f"{web.public_url}/v1/elections/{web.election_id}/config").json()


def vote(web: WebElection, *, challenge_first: bool) -> tuple[dict[str, list[str]], list[dict]]:
    client = httpx.Client()
    token = web.issue_token()
    session = client.post(web.api("/session"),
                          json={"version": 1, "token": token, "language": "en"}).json()
    choices = {c["id"]: [c["selections"][-1]["id"]] for c in session["ballot"]["contests"]}
    decisions = []
    if challenge_first:
        client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
        decisions.append(client.post(web.api("/ballot/challenge"), json={"version": 1}).json())
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    decisions.append(client.post(web.api("/ballot/cast"), json={"version": 1}).json())
    return choices, decisions


def python_check(web: WebElection, code: bytes) -> Any:
    witnesses = [Party(url, HttpLedger(url)) for url in config_of(web)["witnesses"]]
    with HttpLedger(web.network.url) as operator:
        return check_receipt(code, operator=operator, witnesses=witnesses,
                             allow_test_group=True)


def test_js_check_agrees_with_the_python_receipt_check(web: WebElection) -> None:
    choices, decisions = vote(web, challenge_first=True)
    web.sync()
    config = config_of(web)
    manifest = web.kiosk.manifest
    for decision in decisions:
        code = parse_tracking_code(decision["tracking_code"])
        js = run_node("run_verify.mjs", {"config": config,
                                         "input": {"tracking_code": decision["tracking_code"]}})
        py = python_check(web, code)
        assert js["status"] == py.status == decision["status"]
        assert int(js["index"]) == py.index == decision["index"]
        assert int(js["head"]["size"]) == py.head.size
        assert js["head"]["cosigners"] == list(py.cosigners)
        assert js["trackingCode"] == format_tracking_code(code)
        assert all(step["ok"] for step in js["steps"])
        if decision["status"] == "challenged":
            shown = {c["contest"]: [label["en"] for label in c["choices"]] for c in js["choices"]}
            assert shown == {cid: [manifest.contest(cid).selection(s).label.english for s in sel]
                             for cid, sel in choices.items()}
            assert js["progressCalls"] == sum(len(manifest.contest(c).selections)
                                              for c in choices)
        else:
            assert js["choices"] is None


def test_js_reads_the_receipt_qr_and_its_promise(web: WebElection) -> None:
    vote(web, challenge_first=False)
    web.sync()
    png = web.receipt_png(web.spooled("receipt")[-1], web.directory / "receipt.png")
    from PIL import Image

    payload = read_qr_codes(Image.open(png))[0]
    js = run_node("run_verify.mjs", {"config": config_of(web),
                                     "input": {"receipt_hex": payload.hex()}})
    assert js["status"] == "cast"
    assert "promised index" in js["steps"][1]["detail"]
    forged = bytearray(payload)
    forged[3 + len(web.election_id) + 5] ^= 1  # in the tracking code: the signature breaks
    refused = run_node("run_verify.mjs", {"config": config_of(web),
                                          "input": {"receipt_hex": bytes(forged).hex()}})
    assert refused["status"] == "failed"
    assert "not signed by a registered kiosk" in refused["steps"][-1]["detail"]


def test_js_refuses_a_head_without_enough_cosignatures(web: WebElection) -> None:
    _, decisions = vote(web, challenge_first=False)
    web.sync()
    js = run_node("run_verify.mjs", {"config": config_of(web), "tamper": "strip-cosignatures",
                                     "input": {"tracking_code": decisions[-1]["tracking_code"]}})
    assert js["status"] == "unverified-head"
    assert "cosignatures the setup requires" in js["steps"][-1]["detail"]


def test_js_says_a_forged_tracking_code_is_not_on_the_ledger(web: WebElection) -> None:
    _, decisions = vote(web, challenge_first=False)
    web.sync()
    code = parse_tracking_code(decisions[-1]["tracking_code"])
    forged = format_tracking_code(bytes([code[0] ^ 1]) + code[1:])  # a valid check symbol
    js = run_node("run_verify.mjs", {"config": config_of(web),
                                     "input": {"tracking_code": forged}})
    assert js["status"] == "missing"
    typo = decisions[-1]["tracking_code"][:-1] + ("0" if decisions[-1]["tracking_code"][-1] != "0"
                                                 else "1")
    misread = run_node("run_verify.mjs", {"config": config_of(web),
                                          "input": {"tracking_code": typo}})
    assert misread["status"] == "failed"
    assert "check symbol" in misread["steps"][-1]["detail"]


def test_js_refuses_a_setup_other_than_the_pinned_one(web: WebElection) -> None:
    _, decisions = vote(web, challenge_first=False)
    web.sync()
    config = config_of(web) | {"setup_leaf_hash": "00" * 32}
    js = run_node("run_verify.mjs", {"config": config,
                                     "input": {"tracking_code": decisions[-1]["tracking_code"]}})
    assert js["status"] == "failed"
    assert "not this election's" in js["steps"][-1]["detail"]


@pytest.fixture(scope="module")
def standard_script() -> CeremonyScript:
    script = CeremonyScript.create(STANDARD)
    script.run_attempt()
    return script


@pytest.mark.slow
def test_js_reencrypts_an_opening_on_the_4096_bit_group(standard_script: CeremonyScript
                                                       ) -> None:
    """verifyOpening and the tracking code in JavaScript, on the standard group, against
    e2e.ballot; a changed vote in the opening is refused."""
    context = election_context(standard_script)
    manifest = context.manifest
    style = manifest.ballot_styles[0]
    contests = manifest.contests_of_style(style.id)[:2]
    choices = {c.id: [c.selections[1].id] for _, c in contests}
    marked = mark_ballot(manifest, style.id, choices)
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s",
                             sequence=1, previous_code=bytes(32))
    ballot = pending.ballot.to_json()
    opening = pending.opening().to_json()
    group = context.group
    request = {
        "group": {"name": group.name, "p": format(int(group.p), "x"),
                  "q": format(int(group.q), "x"), "g": format(int(group.g), "x")},
        "joint_key": context.joint_key.to_hex(),
        "extended_base_hash": context.extended_base_hash.hex(),
        "manifest": json.loads(manifest.source_bytes), "ballot": ballot, "opening": opening,
    }
    result = run_node("run_opening.mjs", request)
    assert result["tracking_code"] == tracking_code(
        context.extended_base_hash, bytes(32), "kiosk-1", style.id,
        pending.ballot.ciphertexts()).hex() == pending.ballot.tracking_code.hex()
    shown = {c["contest"]: [label["en"] for label in c["choices"]] for c in result["choices"]}
    assert shown == {c.id: [manifest.contest(c.id).selection(s).label.english
                            for s in choices.get(c.id, [])]
                     for _, c in manifest.contests_of_style(style.id)}
    tampered = json.loads(json.dumps(opening))
    tampered["votes"][0]["votes"] = [1] + [0] * (len(tampered["votes"][0]["votes"]) - 1)
    refused = run_node("run_opening.mjs", request | {"opening": tampered})
    assert "re-encryption differs" in refused["error"]


def test_js_reads_a_compact_cast_ballot(web: WebElection) -> None:
    """A ``ballot`` entry in the compact binary form (version 2) is found and its tracking
    code recomputed like a JSON one."""
    from e2e.ledger.client import Writer
    from e2e.ledger.types import EntryType
    from e2e.voting import CastBallot

    manifest = web.kiosk.manifest
    style = manifest.ballot_styles[0].id
    pending = web.kiosk.device.encrypt(mark_ballot(manifest, style, {}))
    with HttpLedger(web.network.url) as ledger:
        Writer(ledger, web.election.device_key, "kiosk-1").write(
            EntryType.BALLOT, CastBallot(pending.ballot).to_payload(compact=True))
    web.sync()
    code = format_tracking_code(pending.ballot.tracking_code)
    js = run_node("run_verify.mjs", {"config": config_of(web), "input": {"tracking_code": code}})
    assert js["status"] == "cast", js["steps"]
    assert any(step["name"] == "code" and step["ok"] for step in js["steps"])
