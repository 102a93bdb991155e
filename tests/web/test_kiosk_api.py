"""The kiosk over HTTP: the voter's flow, refusals that change nothing, and privacy."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.ledger.http_client import HttpLedger
from paper.ids import BallotId, format_tracking_code, parse_tracking_code
from paper.kiosk import Kiosk, KioskSettings, NoSession, SessionState
from paper.printing import SpoolPrinter
from paper.scan import ScanContext, scan_files
from paperchain.web.kiosk_app import create_kiosk_app
from tests.web.web_helpers import POLL_SECRET, WebElection, serve_app, start_web_election


def start_session(web: WebElection, client: httpx.Client, language: str = "en"
                  ) -> dict[str, Any]:
    token = web.issue_token()
    response = client.post(web.api("/session"),
                           json={"version": 1, "token": token, "language": language})
    assert response.status_code == 200, response.text
    return response.json()


def first_choices(session: dict[str, Any]) -> dict[str, list[str]]:
    return {c["id"]: [c["selections"][0]["id"]] for c in session["ballot"]["contests"]}


def ledger_size(web: WebElection) -> int:
    with HttpLedger(web.network.url) as ledger:
        return ledger.size()


def snapshot(web: WebElection, client: httpx.Client) -> tuple[int, list[str], int]:
    state = client.get(web.api("/session")).status_code
    return ledger_size(web), sorted(p.name for p in web.spool.iterdir()), state


def test_cast_after_a_challenge_prints_record_and_receipts(web: WebElection) -> None:
    client = httpx.Client()
    session = start_session(web, client)
    choices = first_choices(session)
    start = ledger_size(web)
    printed = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    assert printed.status_code == 200
    assert client.get(web.api("/session")).json()["state"] == "printed"
    challenged = client.post(web.api("/ballot/challenge"), json={"version": 1}).json()
    assert challenged["status"] == "challenged"
    assert challenged["tracking_code"] == printed.json()["tracking_code"]
    assert client.get(web.api("/session")).json()["state"] == "marking"
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    cast = client.post(web.api("/ballot/cast"), json={"version": 1}).json()
    assert cast["status"] == "cast"
    assert cast["index"] == start + 1
    assert ledger_size(web) == start + 2
    assert len(web.spooled("ballot-record")) == 2
    assert len(web.spooled("receipt")) == 2
    context = ScanContext(web.election_id, (web.election.device_key.verify_key,),
                          operator_key=web.election.setup.operator_key, test_election=True)
    receipts = list(scan_files(web.spooled("receipt"), context))
    assert sorted(str(r.fields["status"]) for r in receipts) == ["CAST", "CHALLENGED"]


def test_a_kiosk_without_cvrs_casts_and_challenges_and_keeps_no_cvr(tmp_path: Path) -> None:
    web = start_web_election(tmp_path, cvrs=False)
    try:
        client = httpx.Client()
        choices = first_choices(start_session(web, client))
        start = ledger_size(web)
        client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
        challenged = client.post(web.api("/ballot/challenge"), json={"version": 1}).json()
        assert challenged["status"] == "challenged"
        client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
        cast = client.post(web.api("/ballot/cast"), json={"version": 1}).json()
        assert cast["status"] == "cast"
        assert ledger_size(web) == start + 2
        assert len(web.spooled("ballot-record")) == 2
        assert len(web.spooled("receipt")) == 2
        assert not web.kiosk.device.keeps_cvrs
        assert len(web.kiosk.device.cvrs) == 0
        assert [p for p in web.kiosk_dir.rglob("*") if p.is_file()] == []  # no cvrs.json
    finally:
        web.close()


def test_refuses_a_second_cast_on_one_activation(web: WebElection) -> None:
    client = httpx.Client()
    choices = first_choices(start_session(web, client))
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    assert client.post(web.api("/ballot/cast"), json={"version": 1}).status_code == 200
    before = snapshot(web, client)
    again = client.post(web.api("/ballot/cast"), json={"version": 1})
    assert again.status_code == 409
    assert "no printed ballot" in again.json()["error"]
    reprint = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    assert reprint.status_code == 409
    assert snapshot(web, client) == before


def test_refuses_a_used_activation_code(web: WebElection) -> None:
    token = web.issue_token()
    first = httpx.post(web.api("/session"), json={"version": 1, "token": token, "language": "en"})
    assert first.status_code == 200
    replay = httpx.post(web.api("/session"),
                        json={"version": 1, "token": token, "language": "en"})
    assert replay.status_code in (401, 409)


def test_refuses_an_overvote_and_prints_nothing(web: WebElection) -> None:
    client = httpx.Client()
    session = start_session(web, client)
    mayor = next(c for c in session["ballot"]["contests"] if c["vote_for"] == 1)
    choices = first_choices(session)
    choices[mayor["id"]] = [s["id"] for s in mayor["selections"][:2]]
    before = snapshot(web, client)
    response = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    assert response.status_code == 422
    assert "overvote" in response.json()["error"]
    assert snapshot(web, client) == before
    assert client.get(web.api("/session")).json()["state"] == "marking"


ENDPOINTS = ["/session", "/session/keepalive", "/session/language", "/session/end",
             "/ballot/print", "/ballot/cast", "/ballot/challenge", "/ballot/readback",
             "/activations"]


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(web: WebElection) -> None:
    client = httpx.Client()
    session = start_session(web, client)
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": first_choices(session)})
    before = snapshot(web, client)
    for path in ENDPOINTS:
        _refuse_bad_input(web, client, path)
    assert snapshot(web, client) == before


def _refuse_bad_input(web: WebElection, client: httpx.Client, path: str) -> None:
    auth = {"Authorization": "Bearer " + POLL_SECRET.decode()}
    cases: list[tuple[str, httpx.Response, int]] = [
        ("oversized", client.post(web.api(path), content=b'{"version": 1, "x": "' + b"a" * 20000
                                  + b'"}', headers={"Content-Type": "application/json", **auth}),
         413),
        ("not JSON", client.post(web.api(path), content=b"{nope",
                                 headers={"Content-Type": "application/json", **auth}), 400),
        ("wrong content type", client.post(web.api(path), content=b'{"version": 1}',
                                           headers={"Content-Type": "text/plain", **auth}), 400),
        ("wrong types", client.post(web.api(path), json={"version": "one", "token": 7,
                                                         "choices": [1], "language": 3,
                                                         "style_id": []}, headers=auth), 400),
        ("unknown fields", client.post(web.api(path), json={"version": 1, "surprise": True,
                                                            "token": "x", "language": "en",
                                                            "choices": {}, "style_id": "x"},
                                       headers=auth), 400),
        ("unknown election", client.post(web.api(path).replace(web.election_id, "other-election"),
                                         json={"version": 1}, headers=auth), 404),
    ]
    for name, response, expected in cases:
        assert response.status_code == expected, (path, name, response.status_code, response.text)
        body = response.json()
        assert body["error"], name
    stranger = httpx.post(web.api(path), json={"version": 1}, headers={})
    assert stranger.status_code in (400, 401, 403)


def test_activation_needs_the_poll_workers_secret(web: WebElection) -> None:
    style = web.kiosk.manifest.ballot_styles[0].id
    for headers in ({}, {"Authorization": "Bearer wrong-secret-123"}):
        response = httpx.post(web.api("/activations"), json={"version": 1, "style_id": style},
                              headers=headers)
        assert response.status_code == 403
    unknown = httpx.post(web.api("/activations"), json={"version": 1, "style_id": "no-such"},
                         headers={"Authorization": "Bearer " + POLL_SECRET.decode()})
    assert unknown.status_code == 404


def test_one_voter_at_a_time(web: WebElection) -> None:
    start_session(web, httpx.Client())
    token = web.issue_token()
    response = httpx.post(web.api("/session"),
                          json={"version": 1, "token": token, "language": "en"})
    assert response.status_code == 409
    assert "in use" in response.json()["error"]


def test_session_cookie_is_the_only_cookie_and_is_strict(web: WebElection) -> None:
    token = web.issue_token()
    response = httpx.post(web.api("/session"), json={"version": 1, "token": token,
                                                     "language": "es"})
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1
    assert "HttpOnly" in cookies[0]
    assert "SameSite=strict" in cookies[0]
    assert "expires" not in cookies[0].lower()
    assert "max-age" not in cookies[0].lower()
    page = httpx.get(web.kiosk_url + "/")
    assert "set-cookie" not in page.headers
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"


def test_read_back_reads_the_scanned_paper(web: WebElection) -> None:
    client = httpx.Client()
    session = start_session(web, client, "es")
    choices = first_choices(session)
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    none_yet = client.post(web.api("/ballot/readback"), json={"version": 1})
    assert none_yet.status_code == 409
    shutil.copy(web.spooled("ballot-record")[-1], web.scanner / "scan.pdf")
    seen = client.post(web.api("/ballot/readback"), json={"version": 1}).json()
    assert seen["card_ok"]
    assert seen["text_source"] == "pdf-text"
    manifest = web.kiosk.manifest
    expected = {c["id"]: [manifest.contest(c["id"]).selection(s).label["es"]
                          for s in choices[c["id"]]] for c in session["ballot"]["contests"]}
    assert {c["contest_id"]: c["choices"] for c in seen["contests"]} == expected
    assert all(c["found"] for c in seen["contests"])
    assert list(web.scanner.iterdir()) == []  # the scan is not kept


def test_self_check_failure_stops_the_printer(web: WebElection,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import paper.kiosk as kiosk_module
    from paper.layout import render_ballot_record

    def wrong(view: Any, payload: Any) -> bytes:  # a planning fault: the first choice dropped
        from dataclasses import replace
        first = view.contests[0]
        return render_ballot_record(replace(view, contests=(replace(first, chosen=()),
                                                            *view.contests[1:])), payload)

    monkeypatch.setattr(kiosk_module, "render_ballot_record", wrong)
    client = httpx.Client()
    session = start_session(web, client)
    before = ledger_size(web)
    response = client.post(web.api("/ballot/print"),
                           json={"version": 1, "choices": first_choices(session)})
    assert response.status_code == 503
    assert list(web.spool.iterdir()) == []
    assert ledger_size(web) == before
    assert client.post(web.api("/ballot/print"), json={
        "version": 1, "choices": first_choices(session)}).status_code == 503


class StepClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_session_expires_and_its_printed_ballot_is_challenged(web: WebElection) -> None:
    clock = StepClock()
    kiosk = Kiosk(web.kiosk.device, web.election.device_key, SpoolPrinter(web.spool),
                  SpoolPrinter(web.spool), KioskSettings("https://check.example", "Clerk",
                                                         "soon", test_mode=True,
                                                         idle_timeout=120, warning=30),
                  clock=clock)
    activation = kiosk.issue_activation(kiosk.manifest.ballot_styles[0].id)
    secret, view = kiosk.activate(activation.token, "en")
    assert view.state is SessionState.MARKING
    choices = {c.id: [c.selections[0].id]
               for _, c in kiosk.manifest.contests_of_style(view.style_id)}
    kiosk.print_ballot(secret, choices)
    before = ledger_size(web)
    clock.now += 119
    assert kiosk.expire_idle() == 0
    clock.now += 1
    assert kiosk.expire_idle() == 1
    assert ledger_size(web) == before + 1
    with HttpLedger(web.network.url) as ledger:
        assert ledger.envelope(before) is not None
        entry = next(e for i, e in ledger.entries(before))
    assert entry.entry_type == "challenge"
    with pytest.raises(NoSession):
        kiosk.session(secret)
    with pytest.raises(NoSession):
        kiosk.activate(activation.token, "en")  # one-time


def test_kiosk_keeps_no_choices_codes_or_ids(web: WebElection, caplog: pytest.LogCaptureFixture,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    client = httpx.Client()
    session = start_session(web, client)
    contests = session["ballot"]["contests"]
    choices = {c["id"]: [c["selections"][-1]["id"]] for c in contests}
    codes = []
    printed = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    codes.append(printed.json()["tracking_code"])
    shutil.copy(web.spooled("ballot-record")[-1], web.scanner / "scan.pdf")
    client.post(web.api("/ballot/readback"), json={"version": 1})
    client.post(web.api("/ballot/challenge"), json={"version": 1})
    printed = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    codes.append(printed.json()["tracking_code"])
    client.post(web.api("/ballot/cast"), json={"version": 1})
    client.post(web.api("/session/end"), json={"version": 1})
    manifest = web.kiosk.manifest
    # Names long enough to mean something ("No" would match any log's "None").
    labels = {manifest.contest(c).selection(s).label[lang]
              for c, picked in choices.items() for s in picked for lang in manifest.languages}
    labels = {label for label in labels if len(label) >= 6}
    assert len(labels) >= 3
    context = ScanContext(web.election_id, (web.election.device_key.verify_key,),
                          test_election=True)
    ids = [r.fields["ballot_id"] for r in scan_files(web.spooled("ballot-record"), context)]
    assert len(ids) == 2
    raw_ids = [BallotId.parse(i).value.hex() for i in ids]
    hex_codes = [_code_hex(c) for c in codes]
    secrets_text = [*labels, *ids, *raw_ids, *codes, *hex_codes,
                    *(c.replace(" ", "") for c in codes)]
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    for text in secrets_text:
        assert text not in logs, text
    for directory in (web.kiosk_dir, web.scanner):
        for path in directory.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes().decode("utf-8", "replace")
            for text in [*labels, *ids, *hex_codes, *(c.replace(" ", "") for c in codes)]:
                assert text not in data, (path.name, text)
            if path.name == "cvrs.json":
                # The encrypted CVRs are keyed by ballot ID by design (the audit pairs
                # card and CVR through it), sorted by ID so cast order is not kept.
                stored = [c["ballot_id"] for c in json.loads(data)["cvrs"]]
                assert stored == sorted(stored)
                assert set(stored) <= set(raw_ids)
            else:
                for text in raw_ids:
                    assert text not in data, (path.name, text)
    assert [p.name for p in web.scanner.iterdir()] == []


def _code_hex(printed: str) -> str:
    code = parse_tracking_code(printed)
    assert format_tracking_code(code) == printed
    return code.hex()


def test_kiosk_serves_every_script_and_style_itself(web: WebElection) -> None:
    page = httpx.get(web.kiosk_url + "/").text
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert src.startswith("/static/") or src.startswith("data:"), src
        if src.startswith("/static/"):
            assert httpx.get(web.kiosk_url + src).status_code == 200
    assert "<script>" not in page
    assert " style=" not in page


# --- the time-out policy (docs/spec.md §21.2, "The time-out") ------------------------------


def step_kiosk(web: WebElection, clock: StepClock) -> Kiosk:
    """A kiosk on the served election's device whose clock the test moves."""
    return Kiosk(web.kiosk.device, web.election.device_key, SpoolPrinter(web.spool),
                 SpoolPrinter(web.spool), KioskSettings("https://check.example", "Clerk", "soon",
                                                        test_mode=True, idle_timeout=120,
                                                        warning=30),
                 clock=clock)


@dataclass
class Stepped:
    clock: StepClock
    kiosk: Kiosk
    client: httpx.Client


@pytest.fixture
def stepped(web: WebElection) -> Iterator[Stepped]:
    """The kiosk's app served on 127.0.0.1 with a clock the test moves. Expiry happens on
    the next request (or the app's sweep, whichever comes first: the effect is the same)."""
    clock = StepClock()
    kiosk = step_kiosk(web, clock)
    server = serve_app(create_kiosk_app(kiosk, poll_worker_secret=POLL_SECRET))
    client = httpx.Client(base_url=server.url)
    try:
        yield Stepped(clock, kiosk, client)
    finally:
        client.close()
        server.stop()


def step_api(kiosk: Kiosk, path: str) -> str:
    return f"/v1/elections/{kiosk.election_id}{path}"


def step_token(kiosk: Kiosk, client: httpx.Client) -> dict[str, Any]:
    response = client.post(step_api(kiosk, "/activations"),
                           json={"version": 1, "style_id": kiosk.manifest.ballot_styles[0].id},
                           headers={"Authorization": "Bearer " + POLL_SECRET.decode()})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_session_views_count_down_and_keepalive_restarts_the_time_out(
        stepped: Stepped) -> None:
    kiosk, client, clock = stepped.kiosk, stepped.client, stepped.clock
    token = step_token(kiosk, client)["token"]
    started = client.post(step_api(kiosk, "/session"),
                          json={"version": 1, "token": token, "language": "en"}).json()
    assert started["expires_in"] == 120
    assert started["warning"] == 30
    clock.now += 100
    assert client.get(step_api(kiosk, "/session")).json()["expires_in"] == 20  # a look only
    kept = client.post(step_api(kiosk, "/session/keepalive"), json={"version": 1}).json()
    assert kept["expires_in"] == 120
    clock.now += 119
    assert client.get(step_api(kiosk, "/session")).status_code == 200
    clock.now += 1
    gone = client.get(step_api(kiosk, "/session"))
    assert gone.status_code == 401
    assert "timed out" in gone.json()["error"]


def test_time_out_before_printing_ends_the_session_and_keeps_nothing(
        web: WebElection, stepped: Stepped) -> None:
    kiosk, client, clock = stepped.kiosk, stepped.client, stepped.clock
    token = step_token(kiosk, client)["token"]
    session = client.post(step_api(kiosk, "/session"),
                          json={"version": 1, "token": token, "language": "en"}).json()
    before = ledger_size(web)
    clock.now += 120
    late = client.post(step_api(kiosk, "/ballot/print"),
                       json={"version": 1, "choices": first_choices(session)})
    assert late.status_code == 401
    assert ledger_size(web) == before
    assert list(web.spool.iterdir()) == []
    assert kiosk.device.pending is None
    replay = client.post(step_api(kiosk, "/session"),
                         json={"version": 1, "token": token, "language": "en"})
    assert replay.status_code == 401  # the activation is used up
    assert step_token(kiosk, client)["timed_out_spoiled"] == 0


def test_time_out_after_printing_challenges_never_casts_and_keeps_nothing(
        web: WebElection, stepped: Stepped, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    from e2e.ballot import verify_opening
    from e2e.voting import ChallengedBallot

    caplog.set_level(logging.DEBUG)
    kiosk, client, clock = stepped.kiosk, stepped.client, stepped.clock
    token = step_token(kiosk, client)["token"]
    session = client.post(step_api(kiosk, "/session"),
                          json={"version": 1, "token": token, "language": "en"}).json()
    contests = session["ballot"]["contests"]
    choices = {c["id"]: [c["selections"][-1]["id"]] for c in contests}
    printed = client.post(step_api(kiosk, "/ballot/print"),
                          json={"version": 1, "choices": choices})
    assert printed.status_code == 200
    code = printed.json()["tracking_code"]
    before = ledger_size(web)
    clock.now += 119
    assert client.get(step_api(kiosk, "/session")).json()["state"] == "printed"
    assert ledger_size(web) == before
    clock.now += 120
    # The voter's late decision is refused: the time-out came first.
    for decision in ("/ballot/cast", "/ballot/challenge"):
        late = client.post(step_api(kiosk, decision), json={"version": 1})
        assert late.status_code == 401, decision
    # Not cast: the opening is on the ledger, naming the printed paper, and re-encrypts.
    assert ledger_size(web) == before + 1
    context = ScanContext(web.election_id, (web.election.device_key.verify_key,),
                          test_election=True)
    (record,) = scan_files(web.spooled("ballot-record"), context)
    ballot_id = BallotId.parse(record.fields["ballot_id"])
    with HttpLedger(web.network.url) as ledger:
        ((_, entry),) = list(ledger.entries(before))
    assert entry.entry_type == "challenge"
    challenged = ChallengedBallot.from_payload(entry.payload, kiosk.device.context.group,
                                               "entry")
    assert challenged.paper_ballot_id == ballot_id.value
    assert format_tracking_code(challenged.ballot.tracking_code) == code
    verify_opening(kiosk.device.context, challenged.ballot, challenged.opening)
    (receipt,) = scan_files(web.spooled("receipt"), context)
    assert str(receipt.fields["status"]) == "CHALLENGED"
    assert kiosk.device.pending is None
    replay = client.post(step_api(kiosk, "/session"),
                         json={"version": 1, "token": token, "language": "en"})
    assert replay.status_code == 401
    # The poll worker is told once, with the next code, to spoil the paper.
    assert step_token(kiosk, client)["timed_out_spoiled"] == 1
    assert step_token(kiosk, client)["timed_out_spoiled"] == 0
    # Nothing about the voter on disk (no CVR: nothing was cast) or in any log.
    manifest = kiosk.manifest
    labels = {manifest.contest(c).selection(s).label[lang]
              for c, picked in choices.items() for s in picked for lang in manifest.languages}
    labels = {label for label in labels if len(label) >= 6}
    assert labels
    secrets_text = [*labels, code, code.replace(" ", ""), _code_hex(code),
                    str(record.fields["ballot_id"]), ballot_id.value.hex()]
    out, err = capfd.readouterr()
    for text in secrets_text:
        assert text not in caplog.text + out + err, text
    for directory in (web.kiosk_dir, web.scanner):
        for path in directory.rglob("*"):
            if path.is_file():
                data = path.read_bytes().decode("utf-8", "replace")
                for text in secrets_text:
                    assert text not in data, (path.name, text)


def test_time_out_whose_challenge_fails_stops_the_kiosk_and_casts_nothing(
        web: WebElection, stepped: Stepped, monkeypatch: pytest.MonkeyPatch) -> None:
    from e2e.ledger.http_client import ServiceUnreachable

    kiosk, client, clock = stepped.kiosk, stepped.client, stepped.clock
    token = step_token(kiosk, client)["token"]
    session = client.post(step_api(kiosk, "/session"),
                          json={"version": 1, "token": token, "language": "en"}).json()
    client.post(step_api(kiosk, "/ballot/print"),
                json={"version": 1, "choices": first_choices(session)})
    before = ledger_size(web)

    def unreachable(paper_ballot_id: bytes) -> None:
        raise ServiceUnreachable("the ledger is unreachable")

    monkeypatch.setattr(kiosk.device, "challenge", unreachable)
    clock.now += 120
    assert client.post(step_api(kiosk, "/ballot/cast"), json={"version": 1}).status_code == 401
    refused = client.post(step_api(kiosk, "/activations"),
                          json={"version": 1, "style_id": kiosk.manifest.ballot_styles[0].id},
                          headers={"Authorization": "Bearer " + POLL_SECRET.decode()})
    assert refused.status_code == 503
    assert "SPOILED" in refused.json()["error"]
    assert ledger_size(web) == before


# --- bad input -------------------------------------------------------------------------------


def test_malformed_json_bodies_get_a_400_not_a_traceback(web: WebElection) -> None:
    client = httpx.Client()
    start_session(web, client)
    before = snapshot(web, client)
    bodies = {
        "nested too deeply": b"[" * 5000 + b"]" * 5000,
        "an integer beyond Python's digit limit": b'{"version": ' + b"9" * 5000 + b"}",
        "not UTF-8": b'{"version": 1, "choices": {"\xff": []}}',
        "a duplicate key": b'{"version": 1, "version": 1, "choices": {}}',
        "NaN": b'{"version": NaN, "choices": {}}',
        "empty": b"",
    }
    for path in ("/ballot/print", "/session", "/session/keepalive", "/activations"):
        for name, body in bodies.items():
            response = client.post(web.api(path), content=body, headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer " + POLL_SECRET.decode()})
            assert response.status_code == 400, (path, name, response.text)
            assert response.json()["where"] == "body", (path, name)

    def endless() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"version": 1, "choices": {"x": ["'
        for _ in range(64):
            yield b"a" * 1024
        yield b'"]}}'

    huge = client.post(web.api("/ballot/print"), content=endless(),
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert snapshot(web, client) == before


def test_choices_the_ballot_does_not_have_are_refused_and_print_nothing(
        web: WebElection) -> None:
    client = httpx.Client()
    session = start_session(web, client)
    contest = session["ballot"]["contests"][0]
    first = contest["selections"][0]["id"]
    before = snapshot(web, client)
    for name, change, expected in [
            ("unknown contest", {"no-such-contest": [first]}, "not on ballot style"),
            ("unknown selection", {contest["id"]: ["no-such-choice"]}, "unknown selection"),
            ("a selection twice", {contest["id"]: [first, first]}, "chosen twice"),
            ("an index, not an ID", {contest["id"]: [0]}, "list of selection IDs")]:
        choices = first_choices(session)
        choices.update(change)  # type: ignore[arg-type]
        response = client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
        assert response.status_code in (400, 422), (name, response.text)
        assert expected in response.json()["error"], name
    assert snapshot(web, client) == before


def test_cast_after_a_challenge_is_refused(web: WebElection) -> None:
    client = httpx.Client()
    choices = first_choices(start_session(web, client))
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    assert client.post(web.api("/ballot/challenge"), json={"version": 1}).status_code == 200
    before = snapshot(web, client)
    for decision in ("/ballot/cast", "/ballot/challenge"):
        again = client.post(web.api(decision), json={"version": 1})
        assert again.status_code == 409, decision
        assert "no printed ballot" in again.json()["error"]
    assert snapshot(web, client) == before


def test_wrong_activation_codes_are_refused_then_locked_out(web: WebElection) -> None:
    good = web.issue_token()
    for attempt in range(10):
        wrong = httpx.post(web.api("/session"), json={"version": 1, "token": "ZZZZZ-ZZZZ" + str(
            attempt % 10), "language": "en"})
        assert wrong.status_code == 401, wrong.text
        assert "not valid" in wrong.json()["error"]
    locked = httpx.post(web.api("/session"), json={"version": 1, "token": good, "language": "en"})
    assert locked.status_code == 409
    assert "too many wrong activation codes" in locked.json()["error"]


def test_a_code_is_refused_after_its_session_ended(web: WebElection) -> None:
    token = web.issue_token()
    client = httpx.Client()
    first = client.post(web.api("/session"), json={"version": 1, "token": token, "language": "en"})
    assert first.status_code == 200
    assert client.post(web.api("/session/end"), json={"version": 1}).status_code == 200
    replay = httpx.post(web.api("/session"), json={"version": 1, "token": token,
                                                   "language": "en"})
    assert replay.status_code == 401
    assert "not valid" in replay.json()["error"]
