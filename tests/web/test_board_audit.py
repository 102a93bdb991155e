"""The bulletin board's audit page over a real audit: rounds, tickets, comparisons, risk.

The 40-voter demo at the default seed (``serve_demo_election``'s) publishes no
``audit-round``: one of its contests' expected sample is as large as its population, so
the parameters' first round is 0 draws and the audit goes straight to a full hand count.
Seed 6 is the cheapest test-group demo whose audit draws a round (40 voters, one round
of 35 draws that confirms every contest); with ``--tamper paper`` the same round finds
the forged mayor's cards and escalates. Each demo is served over real HTTP on 127.0.0.1
(operator, witnesses, public site) and everything below is read from the pages the
board serves and compared with the record: the entries in ledger order, the seed, the
tickets (``tally.audit.draws_for``), each sampled comparison (from the readings' and the
decrypted CVRs' own JSON), and the risk per assertion (``AuditChecker``'s recomputation).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from e2e.ledger.entry import decode_envelope
from e2e.manifest import Manifest
from e2e.record import RecordReader
from paperchain.web.board import AUDIT_TYPES, audit_cvrs_table, render_payload
from tally.audit import draws_for
from tally.audit_check import AuditChecker, AuditState
from tally.verify import verify_election
from tests.web.web_helpers import AuditedElection, serve_demo_election

VOTERS, SEED = 40, 6  # the cheapest test-group demo whose audit draws a round
REPLAY = "The audit as this site's verification replayed it"


class Tables(HTMLParser):
    """Every table of a page: caption → rows of cell texts (header row left out)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._rows is not None and not self._in_head:
            self._rows.append([])
        elif tag == "td" and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag == "thead":
            self._in_head = False
        elif tag == "td" and self._cell is not None and self._rows:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._caption is not None and self._rows is not None:
            self.tables[self._caption] = self._rows
            self._caption = self._rows = None

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._caption is not None:
            self._caption += data
        elif self._cell is not None:
            self._cell.append(data)

    def one(self, prefix: str) -> list[list[str]]:
        (found,) = [rows for caption, rows in self.tables.items() if caption.startswith(prefix)]
        return found


@dataclass
class Board:
    served: AuditedElection
    record: Path
    state: AuditState
    manifest: Manifest
    page: str  # the audit page, once the site's verification has replayed the audit

    @property
    def tables(self) -> Tables:
        return Tables(self.page)


def _serve(out: Path, tamper: str | None) -> Iterator[Board]:
    served = serve_demo_election(out, voters=VOTERS, seed=SEED, tamper=tamper)
    try:
        report, verifier = verify_election(RecordReader(out / "record").envelopes(),
                                           allow_test_group=True)
        assert report.ok, report.findings
        state = verifier.checker(AuditChecker).state
        assert verifier.context is not None
        url = (f"{served.public_url}/elections/{served.site.election_id}/board/audit")
        assert url.startswith("http://127.0.0.1:")
        page = ""
        with httpx.Client(timeout=60.0) as client:
            for _ in range(360):  # the site verifies the record in the background
                response = client.get(url)
                assert response.status_code == 200
                page = response.text
                if REPLAY in page or "did not verify" in page:
                    break
                time.sleep(0.5)
        assert REPLAY in page, page[:2000]
        yield Board(served, out / "record", state, verifier.context.manifest, page)
    finally:
        served.close()


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    yield from _serve(tmp_path_factory.mktemp("board") / "demo", None)


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    yield from _serve(tmp_path_factory.mktemp("board") / "paper", "paper")


def _audit_entries(record: Path) -> list[tuple[int, str, dict]]:
    out = []
    for index, raw in enumerate(RecordReader(record).envelopes()):
        entry = decode_envelope(raw, f"entry {index}").entry()
        if entry.entry_type in AUDIT_TYPES:
            out.append((index, entry.entry_type, json.loads(entry.payload)))
    return out


def _paper(reading: dict, contest_id: str) -> str:
    if reading["condition"] != "ok":
        return str(reading["condition"])
    (found,) = [c for c in reading["contests"] if c["contest"] == contest_id]
    return ", ".join(sorted(found["votes"])) if found["reading"] == "votes" else found["reading"]


def _cvr(manifest: Manifest, cvr: dict, contest_id: str) -> str:
    index = next(i for i, c in enumerate(manifest.contests) if c.id == contest_id)
    counts = [c for c in cvr["counts"] if c["contest"] == index]
    if not counts:
        return "not-on-card"
    marked = sorted(manifest.contests[index].selections[c["selection"]].id
                    for c in counts if c["count"] == 1)
    return ", ".join(marked) or "blank"


def _comparisons(board: Board) -> list[list[str]]:
    return board.tables.one("Sampled comparisons")


def _check_round_and_comparisons(board: Board) -> list[list[str]]:
    """Entries in ledger order, seed, tickets and comparisons as the board shows them."""
    entries = _audit_entries(board.record)
    shown = [(int(i), kind) for i, kind in
             re.findall(r'<h2 id="e(\d+)">([a-z-]+) \(ledger index', board.page)]
    assert shown == [(i, kind) for i, kind, _ in entries]  # every one, in ledger order
    kinds = [kind for _, kind in shown]
    assert kinds.index("audit-parameters") < kinds.index("audit-seed") < kinds.index(
        "audit-round") < kinds.index("audit-reading") < kinds.index("audit-cvrs") < kinds.index(
        "audit-risk") < kinds.index("audit-end")
    state = board.state
    assert state.seed is not None
    assert state.parameters is not None
    digits = state.seed.seed.digits
    assert f'<code id="audit-seed">{digits}</code>' in board.page
    seed_entry = next(p for _, kind, p in entries if kind == "audit-seed")
    assert seed_entry["seed"] == digits
    # Tickets: what the sampler draws from the seed over the parameters' frame.
    expected = []
    for _, kind, payload in entries:
        if kind == "audit-round":
            drawn = draws_for(state.seed.seed, dict(state.parameters.frame),
                              len(payload["tickets"]), payload["draws_before"])
            assert [(t["ticket_number"], t["batch"], t["position"], t["generation"])
                    for t in payload["tickets"]] == [
                (t.ticket_number, t.batch, t.position, t.generation) for t in drawn]
            expected.extend(drawn)
    assert expected
    tickets = board.tables.one("Tickets, in draw order")
    assert [(r[1], r[2], int(r[3]), int(r[4])) for r in tickets] == [
        (t.ticket_number, t.batch, t.position, t.generation) for t in expected]
    assert [int(r[0]) for r in tickets] == list(range(1, len(expected) + 1))
    round_table = board.tables.one("audit-round: tickets")  # batch, generation, position, n
    assert [(r[3], r[0], int(r[2])) for r in round_table] == [
        (t.ticket_number, t.batch, t.position) for t in expected]
    # Each sampled comparison: the board's reading and CVR against the entries' own JSON.
    readings = {(p["batch"], p["position"]): p for _, kind, p in entries
                if kind == "audit-reading"}
    cvrs = {c["ballot_id"]: c for _, kind, p in entries if kind == "audit-cvrs"
            for c in p["cvrs"]}
    by_card = {(d[2], int(d[3])): d[6] for d in tickets}  # (batch, position) → ballot ID
    rows = _comparisons(board)
    assert {int(r[0]) for r in rows} == set(range(1, len(expected) + 1))
    for draw, ticket_number, batch, position, contest, card, cvr, _ in rows:
        assert expected[int(draw) - 1].ticket_number == ticket_number
        assert card == _paper(readings[(batch, int(position))], contest), (batch, position)
        assert cvr == _cvr(board.manifest, cvrs[by_card[(batch, int(position))]], contest)
    # Each entry's own rendering shows what was read: the votes, not "[1 items]".
    sections = re.findall(r'<section><h2 id="e\d+">audit-(?:reading|cvrs) .*?</section>',
                          board.page)
    assert sections
    assert not any("items]" in s for s in sections)
    return rows


def _check_risk(board: Board) -> None:
    """The risk per assertion on the board is the checker's recomputation, charted."""
    state = board.state
    assert state.parameters is not None
    risks = state.risks
    assert risks
    table = board.tables.one("Risk per assertion after the last round")
    assert [(r[0], r[1], int(r[2]), *map(int, r[3:7]), float(r[7])) for r in table] == [
        (a.contest_id, a.assertion, a.draws, a.counts.o1, a.counts.o2, a.counts.u1,
         a.counts.u2, a.p_value) for a in risks]
    limit = state.parameters.risk_limit
    assert [r[8] for r in table] == ["yes" if a.p_value <= limit else "no" for a in risks]
    entries = board.page.split('id="h-entries"')[1]
    for a in risks:  # the audit-risk entry as published shows the same p-values
        assert f">{a.p_value!r}</td>" in entries
    charts = re.findall(r'<figure><svg role="img"[^>]*>(.*?)</svg>', board.page)
    assert len(charts) >= 2  # the audit-risk entry's, and the replay's
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", charts[0]).group(1)  # type: ignore[union-attr]
    for a in risks:
        assert f"{a.contest_id}: {a.assertion}: {a.p_value:.4g}" in desc.replace("&gt;", ">")
    assert f"risk limit {limit:g}" in charts[0]
    ids = re.findall(r' id="([^"]+)"', board.page)
    assert len(ids) == len(set(ids))  # several charts, no id twice


@pytest.mark.slow
def test_board_shows_a_confirming_audit_round(confirmed: Board) -> None:
    rows = _check_round_and_comparisons(confirmed)
    assert all(r[5] == r[6] for r in rows)  # the paper matches every CVR
    assert {r[7] for r in rows} == {"none"}
    _check_risk(confirmed)
    assert "outcome: <strong>confirmed</strong>" in confirmed.page
    assert "The certified hand count" not in confirmed.page


@pytest.mark.slow
def test_board_shows_the_escalation_of_a_tampered_paper_audit(tampered: Board) -> None:
    rows = _check_round_and_comparisons(tampered)
    state = tampered.state
    assert state.parameters is not None
    (winner,) = state.parameters.contest("mayor").winners
    differs = [r for r in rows if r[5] != r[6]]
    assert differs
    assert {r[4] for r in differs} == {"mayor"}
    for r in rows:  # a discrepancy exactly where the card and the CVR differ
        assert (r[7] != "none") == (r[5] != r[6]), r
    forged = [r for r in differs if r[6] == winner]
    assert forged
    for r in forged:  # the CVR's winner printed as the runner-up: a two-vote overstatement
        assert f"{winner} v {r[5]}: o2" in r[7], r
    _check_risk(tampered)
    mayor = [r for r in tampered.tables.one("Risk per assertion after the last round")
             if r[0] == "mayor"]
    assert "no" in {r[8] for r in mayor}  # above the risk limit: not confirmed
    assert "outcome: <strong>full-hand-count</strong>" in tampered.page
    assert state.hand_count is not None
    hand = tampered.tables.one("The certified hand count")
    assert [(r[0], r[1], int(r[2])) for r in hand] == list(state.hand_count.counts)
    kinds = re.findall(r'<h2 id="e\d+">([a-z-]+) \(ledger index', tampered.page)
    assert kinds.index("audit-end") < kinds.index("hand-count")


def test_audit_entries_show_what_was_read_and_decrypted() -> None:
    """A reading's votes and a decrypted CVR's marks are written out in the entry tables
    (they were "[1 items]" cells before), so the comparison can be read off the entries."""
    from paperchain.demo import demo_manifest_bytes

    manifest = Manifest.from_bytes(demo_manifest_bytes())
    reading = {"version": 1, "batch": "B", "position": 3, "condition": "ok", "contests": [
        {"contest": "mayor", "reading": "votes", "votes": ["alice-adams"]},
        {"contest": "city-council", "reading": "blank", "votes": []}]}
    html = render_payload(reading, "audit-reading")
    assert "<td class=\"\">alice-adams</td>" in html
    assert "items]" not in html
    mayor = manifest.contests[0]
    cvrs = {"version": 1, "round": 1, "cvrs": [{"ballot_id": "ab" * 16, "trustees": [1, 3],
                                                "counts": [
        {"contest": 0, "selection": j, "combined": "00", "count": int(j == 1)}
        for j in range(len(mayor.selections))]}]}
    html = audit_cvrs_table(manifest, cvrs, "audit-cvrs")
    assert Tables(html).one("audit-cvrs: the decrypted CVRs") == [
        ["ab" * 16, mayor.id, mayor.selections[1].id]]
    blank = {**cvrs, "cvrs": [{**cvrs["cvrs"][0], "counts": [
        {**c, "count": 0} for c in cvrs["cvrs"][0]["counts"]]}]}
    assert Tables(audit_cvrs_table(manifest, blank, "audit-cvrs")).one("audit-cvrs")[0][2] == (
        "blank")


def test_risk_chart_draws_small_risks_on_a_log_scale() -> None:
    """A confirmed audit's risks are orders of magnitude below the limit: on the old
    linear 0..1 scale they were all 1-pixel bars left of the limit line."""
    from paperchain.web.board import risk_chart

    chart = risk_chart([("mayor: a v b", 1.0), ("mayor: a v c", 0.01), ("m: yes", 2e-6),
                        ("m: none", 0.0)], 0.05, "Risk")
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="([\d.]+)"', chart)]
    assert widths[0] > widths[1] > widths[2] > widths[3] == 1.0
    assert widths[2] > 50  # 2e-6 is drawn, not a hairline
    (limit_x,) = re.findall(r'<line x1="([\d.]+)"[^>]*class="limit"', chart)
    assert 330 + widths[1] < float(limit_x) < 330 + widths[0]
    assert "log scale from 1e-07 to 1" in chart
    assert "mayor: a v c: 0.01" in chart  # the numbers are in the description too
