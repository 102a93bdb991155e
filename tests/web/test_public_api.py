"""The public site over HTTP: its refusals, its headers, the board and the record."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import httpx

from e2e.ledger.entry import Entry
from e2e.ledger.http_client import HttpLedger
from e2e.manifest import demo_manifest
from paperchain.web.board import payload_summary, render_payload, results_table, risk_chart
from paperchain.web.common import origin_of
from tally.verify import verify_record
from tests.web.web_helpers import WebElection


def cast_one(web: WebElection, *, close: bool = False) -> None:
    """One voter casts; with ``close`` the kiosk then closes its chain (so the record is
    complete enough for the verifier to pass mid-election)."""
    client = httpx.Client()
    session = client.post(web.api("/session"), json={"version": 1, "token": web.issue_token(),
                                                     "language": "en"}).json()
    choices = {c["id"]: [c["selections"][0]["id"]] for c in session["ballot"]["contests"]}
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    client.post(web.api("/ballot/cast"), json={"version": 1})
    if close:
        web.kiosk.device.close()
    web.sync()


def test_public_routes_refuse_bad_input_and_change_nothing(web: WebElection) -> None:
    base = f"{web.public_url}/elections/{web.election_id}"
    with HttpLedger(web.network.url) as ledger:
        before = ledger.size()
    refused = {
        f"{web.public_url}/elections/other-election/board": 404,
        f"{web.public_url}/elections/other-election/check": 404,
        f"{web.public_url}/elections/other-election/board/audit": 404,
        f"{web.public_url}/elections/other-election/record.zip": 404,
        f"{web.public_url}/v1/elections/other-election/config": 404,
        f"{base}/board/entries?start=-1": 400,
        f"{base}/board/entries?start=abc": 400,
        f"{base}/board/entries?limit=0": 400,
        f"{base}/board/entries?limit=100000": 400,
        f"{base}/board/entries?start=1000000": 404,
        f"{base}/board/entries/1000000": 404,
        f"{base}/board/entries/abc": 400,
        f"{base}/board/heads?before=999999": 404,
        f"{base}/board/heads?before=0": 400,
        f"{base}/nowhere": 404,
    }
    for url, status in refused.items():
        response = httpx.get(url)
        assert response.status_code == status, (url, response.text)
        assert response.json()["error"]
    posted = httpx.post(f"{base}/board", content=b"x" * 100_000)
    assert posted.status_code == 405
    with HttpLedger(web.network.url) as ledger:
        assert ledger.size() == before


def test_checker_page_connects_only_to_the_ledger_and_sets_no_cookie(web: WebElection) -> None:
    response = httpx.get(f"{web.public_url}/elections/{web.election_id}/check")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    policy = response.headers["content-security-policy"]
    connect = re.search(r"connect-src ([^;]+)", policy)
    assert connect is not None
    expected = {"'self'", origin_of(web.network.url),
                *(origin_of(web.network.witness_url(w)) for w in web.network.witnesses)}
    assert set(connect.group(1).split()) == expected
    assert "<script>" not in response.text
    assert " style=" not in response.text
    for src in re.findall(r'(?:src|href)="(/[^"]*)"', response.text):
        assert httpx.get(web.public_url + src).status_code == 200, src
    config = httpx.get(f"{web.public_url}/v1/elections/{web.election_id}/config").json()
    with HttpLedger(web.network.url) as ledger:
        from e2e.ledger.entry import leaf_hash_of

        assert config["setup_leaf_hash"] == leaf_hash_of(ledger.envelope(0)).hex()
    witness = httpx.get(web.network.witness_url("w1") + "/v1/head",
                        headers={"Origin": "https://checker.example"})
    assert witness.headers["access-control-allow-origin"] == "*"


def test_record_download_verifies(web: WebElection) -> None:
    cast_one(web, close=True)
    response = httpx.get(f"{web.public_url}/elections/{web.election_id}/record.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    target = web.directory / "download"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(target)
    report = verify_record(target / "record", allow_test_group=True, require_results=False)
    assert report.ok, report.findings


def test_board_shows_the_verification_status(web: WebElection) -> None:
    cast_one(web, close=True)
    web.site.verify = True
    url = f"{web.public_url}/elections/{web.election_id}/board"
    deadline = time.monotonic() + 120
    while True:
        text = httpx.get(url).text
        if "PASSED" in text or "FAILED" in text or "could not run" in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    assert "PASSED" in text, text
    entries = httpx.get(f"{url}/entries?start=0&limit=5").text
    assert "Entries 0 to 4" in entries
    assert "setup" in entries


def test_board_renders_unknown_and_audit_payloads_generically(tmp_path: Path) -> None:
    manifest = demo_manifest()
    results = {"version": 1, "counts": [{"contest": 0, "selection": 1, "count": 7},
                                        {"contest": 0, "selection": 0, "count": 3}]}
    html = results_table(manifest, results)
    assert manifest.contests[0].title.english in html
    assert html.index(manifest.contests[0].selections[0].label.english) < html.index(
        manifest.contests[0].selections[1].label.english)
    risk = {"version": 1, "round": 1, "assertions": [
        {"contest": "mayor", "assertion": "alice > bruno", "risk": "0.012"},
        {"contest": "mayor", "assertion": "alice > carmen", "risk": "0.3"}]}
    table = render_payload(risk, "audit-risk")
    assert "<caption>audit-risk: assertions</caption>" in table
    assert "alice &gt; carmen" in table
    chart = risk_chart([("alice > bruno", 0.012), ("alice > carmen", 0.3)], 0.05, "Risk")
    assert '<svg role="img"' in chart
    assert "<desc" in chart
    assert "risk limit 0.05" in chart
    entry = Entry("future-kind", "e", "writer", 1, b'{"version":1,"x":[1,2],"y":"z"}', b"")
    assert payload_summary(entry) == "x: [2 items]; y: z"
    assert payload_summary(Entry("blob", "e", "w", 1, b"\xff\x00", b"")) == "2 bytes"
