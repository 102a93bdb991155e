"""The public site's ASGI app: the receipt checker and the bulletin board.

docs/spec.md §21.3–§21.4. The receipt checker is a static page whose script
(``static/verify.js``) does every check in the visitor's browser, against the
witnesses directly: this app only serves it and its configuration (the election ID,
the pinned setup hash, the group, the operator's and witnesses' URLs), so it never
sees a tracking code or a receipt, and logs nothing. The bulletin board is rendered
here from the ledger (``board``); the whole record can be downloaded as a zip that
``paperchain verify`` checks.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response

from e2e.errors import PaperchainError
from e2e.ledger.entry import leaf_hash_of
from e2e.ledger.heads import CosignedHead, HeadPolicy
from e2e.ledger.history import cosigned_history
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.store import OutOfRange
from e2e.ledger.types import EntryType
from e2e.record import export_record
from e2e.setup import ElectionSetup
from paperchain.web.board import (
    AUDIT_TYPES,
    audit_cvrs_table,
    decoded_entries,
    payload_summary,
    render_payload,
    results_table,
    risk_chart,
    table,
)
from paperchain.web.board_audit import AuditReplay, render_replay, replay_audit
from paperchain.web.common import escape, install_common, page

__all__ = ["PublicSite", "create_public_app", "open_public_site"]

PAGE = 50
_INT64 = 2**63 - 1


@dataclass
class _Verification:
    size: int | None = None
    running: bool = False
    ok: bool | None = None
    checks: int = 0
    findings: list[str] = field(default_factory=list)
    error: str | None = None
    audit: AuditReplay | None = None  # the audit as the pass replayed it (board_audit)


@dataclass
class PublicSite:
    """What the public pages serve: one election's ledger, seen through its witnesses."""

    setup: ElectionSetup
    setup_leaf_hash: bytes
    operator_url: str
    witness_urls: tuple[str, ...]
    allow_test_group: bool = False
    verify: bool = True
    _verification: _Verification = field(default_factory=_Verification)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def election_id(self) -> str:
        return self.setup.election_id

    @property
    def policy(self) -> HeadPolicy:
        return HeadPolicy.from_setup(self.setup)

    def ledger(self) -> HttpLedger:
        return HttpLedger(self.operator_url, timeout=30.0)

    def checker_config(self) -> dict[str, Any]:
        group = self.setup.group
        return {
            "version": 1, "election_id": self.election_id,
            "setup_leaf_hash": self.setup_leaf_hash.hex(),
            "operator": self.operator_url.rstrip("/"),
            "witnesses": [u.rstrip("/") for u in self.witness_urls],
            "group": {"name": group.name, "p": format(int(group.p), "x"),
                      "q": format(int(group.q), "x"), "g": format(int(group.g), "x")},
        }


def open_public_site(operator_url: str, witness_urls: Sequence[str], *,
                     allow_test_group: bool = False, verify: bool = True,
                     setup_hash: bytes | None = None) -> PublicSite:
    """Read the setup from the operator; ``setup_hash`` (its leaf hash) pins it if given."""
    from e2e.ledger.client import read_setup

    with HttpLedger(operator_url) as ledger:
        setup = read_setup(ledger, allow_test_group)
        leaf = leaf_hash_of(ledger.envelope(0))
    if setup_hash is not None and setup_hash != leaf:
        raise PaperchainError("the ledger's setup is not the pinned one (--setup-hash)")
    return PublicSite(setup, leaf, operator_url, tuple(witness_urls), allow_test_group, verify)


def _nav(election_id: str, current: str) -> str:
    base = f"/elections/{escape(election_id)}"
    links = [("check", f"{base}/check", "Check a receipt"),
             ("board", f"{base}/board", "Bulletin board"),
             ("entries", f"{base}/board/entries", "Ledger entries"),
             ("heads", f"{base}/board/heads", "Heads and cosignatures"),
             ("audit", f"{base}/board/audit", "Audit")]
    here = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{href}"{here if key == current else ""}>{escape(text)}</a></li>'
        for key, href, text in links)
    return (f'<header><p class="site">Paperchain — public record</p>'
            f'<nav aria-label="Site"><ul>{items}</ul></nav></header>')


def _site_page(site: PublicSite, current: str, title: str, body: str, *,
               modules: Sequence[str] = (), scripts: Sequence[str] = ()) -> str:
    name = site.setup.manifest.name.english
    return page(title=f"{title} — {name}", language="en", styles=["public.css"],
                modules=modules, scripts=scripts,
                meta={"paperchain-election": site.election_id},
                body=f'<a class="skip" href="#main">Skip to content</a>'
                     f"{_nav(site.election_id, current)}"
                     f'<main id="main" tabindex="-1"><h1>{escape(title)}</h1>{body}</main>')


def _head_row(head: CosignedHead, policy: HeadPolicy) -> list[object]:
    cosigners = policy.valid_cosigners(head)
    accepted = "yes" if len(cosigners) >= policy.threshold else "no (too few)"
    return [head.size, head.root.hex()[:32] + "…", head.time, ", ".join(cosigners) or "none",
            accepted]


def create_public_app(site: PublicSite) -> FastAPI:
    """The public site's app (module docstring)."""
    app = FastAPI(title="Paperchain public site", docs_url=None, redoc_url=None,
                  openapi_url=None)
    install_common(app, connect=[site.operator_url, *site.witness_urls], camera=True)
    election_id = site.election_id
    manifest = site.setup.manifest

    def check_election(requested: str) -> None:
        if requested != election_id:
            raise OutOfRange(f"this site serves election {election_id!r}, not "
                             f"{requested[:64]!r}", "election_id")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        base = f"/elections/{escape(election_id)}"
        body = (f"<p>{escape(manifest.name.english)}, {escape(manifest.jurisdiction.english)}, "
                f"{escape(manifest.date.isoformat())}.</p><ul class=\"cards\">"
                f'<li><a href="{base}/check">Check your receipt</a>: is your ballot on the '
                "public ledger? Checked in your own browser.</li>"
                f'<li><a href="{base}/board">Bulletin board</a>: the ledger, its witnesses, '
                "the results and the audit.</li></ul>")
        return _site_page(site, "", "Paperchain", body)

    @app.get("/v1/elections/{requested}/config")
    def config(requested: str) -> dict[str, Any]:
        check_election(requested)
        return site.checker_config()

    @app.get("/elections/{requested}/check", response_class=HTMLResponse)
    def checker(requested: str) -> str:
        check_election(requested)
        body = (
            '<p>Type the tracking code from your receipt, or read the receipt\'s QR code '
            "with your camera or from a photo. Everything is checked here, in your browser: "
            "the code and the photo never leave this device, and the answer rests on the "
            "independent witnesses' signatures, not on this website or on the kiosk.</p>"
            '<form id="code-form"><p><label for="code">Tracking code</label>'
            '<input id="code" name="code" autocomplete="off" spellcheck="false" '
            'aria-describedby="code-hint"></p><p id="code-hint" class="hint">53 letters and '
            "digits in groups of four, as printed on the receipt.</p>"
            '<p><button type="submit" class="primary">Check</button></p></form>'
            '<section aria-labelledby="qr-title"><h2 id="qr-title">Or read the QR code</h2>'
            '<p><label for="qr-file">A photo or scan of the receipt</label>'
            '<input id="qr-file" type="file" accept="image/*"></p>'
            '<p><button type="button" id="camera">Use the camera</button> '
            '<button type="button" id="camera-stop" hidden>Stop the camera</button></p>'
            '<video id="video" muted playsinline hidden aria-label="Camera preview"></video>'
            '<canvas id="canvas" hidden></canvas></section>'
            '<section aria-labelledby="result-title"><h2 id="result-title">Result</h2>'
            '<div id="result" role="status" aria-live="polite"><p>Nothing checked yet.</p></div>'
            '<p><progress id="progress" max="1" value="0" hidden aria-label="Re-encryption '
            'progress"></progress> <span id="progress-text"></span></p>'
            '<ol id="steps" class="steps"></ol></section>')
        return _site_page(site, "check", "Check your receipt", body,
                          scripts=["vendor/jsQR.js"], modules=["checker.js"])

    # --- bulletin board ---------------------------------------------------------------

    def overview_sections(ledger: HttpLedger) -> str:
        policy = site.policy
        parts = []
        head = ledger.cosigned_head()
        latest = ledger.latest_head()
        parts.append('<section aria-labelledby="h-heads"><h2 id="h-heads">Ledger head</h2>')
        if latest is not None:
            parts.append(table("The operator's latest head and the newest head the witnesses "
                               "cosigned", ["Head", "Size", "Root", "Time (ms)", "Cosigned by",
                                            "Accepted"],
                               [["latest", *_head_row(latest, policy)]]
                               + ([["cosigned", *_head_row(head, policy)]] if head else []),
                               numeric=[1]))
        parts.append(f"<p>A head is accepted with {policy.threshold} of "
                     f"{len(policy.witnesses)} witness cosignatures.</p></section>")
        rows = []
        for url in site.witness_urls:
            try:
                with HttpLedger(url, timeout=5.0) as witness:
                    info = witness.node_info()
                    seen = witness.latest_head()
                rows.append([info.witness_id or url, url, "reachable",
                             "" if seen is None else seen.size,
                             "" if seen is None else ", ".join(policy.valid_cosigners(seen))])
            except PaperchainError as err:
                rows.append([url, url, f"unreachable: {err.reason}", "", ""])
        parts.append('<section aria-labelledby="h-w"><h2 id="h-w">Witnesses</h2>'
                     + table("Each witness's own copy", ["Witness", "URL", "Status",
                                                         "Its latest head", "Cosigned by"],
                             rows, numeric=[3]) + "</section>")
        results = None
        reconciliation = None
        for index, entry in ledger.entries(0):
            if entry.entry_type == EntryType.RESULTS:
                results = (index, entry)
            elif entry.entry_type == EntryType.RECONCILIATION:
                reconciliation = (index, entry)
        parts.append('<section aria-labelledby="h-r"><h2 id="h-r">Results</h2>')
        if results is None:
            parts.append("<p>No results yet.</p>")
        else:
            payload = json.loads(results[1].payload)
            parts.append(f"<p>Published at ledger index {results[0]}.</p>"
                         + results_table(manifest, payload))
        parts.append(verification_status(head) + "</section>")
        parts.append('<section aria-labelledby="h-rec"><h2 id="h-rec">Reconciliation</h2>')
        parts.append("<p>None yet.</p>" if reconciliation is None else
                     f"<p>Ledger index {reconciliation[0]}.</p>"
                     + render_payload(json.loads(reconciliation[1].payload), "reconciliation"))
        base = f"/elections/{escape(election_id)}"
        parts.append(f'</section><section aria-labelledby="h-d"><h2 id="h-d">Download</h2>'
                     f'<p><a href="{base}/record.zip" download>The whole public record</a> '
                     "(up to the newest cosigned head, with the heads history): check it with "
                     "<code>paperchain verify</code>.</p></section>")
        return "".join(parts)

    def verification_status(head: CosignedHead | None) -> str:
        state = site._verification
        if not site.verify:
            return ("<p>Verification status: not run by this site; check the downloaded record "
                    "with <code>paperchain verify</code>.</p>")
        if head is not None:
            start_verification(head.size)
        if state.size is None:
            return "<p>Verification status: <strong>not yet run</strong>.</p>"
        if state.running:
            return ("<p>Verification status: <strong>running</strong> (record of "
                    f"{state.size} entries).</p>")
        if state.error:
            return ("<p>Verification status: <strong>could not run</strong>: "
                    f"{escape(state.error)}</p>")
        verdict = "PASSED" if state.ok else "FAILED"
        findings = "".join(f"<li>{escape(f)}</li>" for f in state.findings[:50])
        return (f"<p>Verification status of the record up to entry {state.size}: "
                f"<strong>{verdict}</strong> ({state.checks} checks passed, "
                f"{len(state.findings)} failures).</p>"
                + (f"<ul>{findings}</ul>" if findings else ""))

    def start_verification(size: int) -> None:
        with site._lock:
            state = site._verification
            if state.running or state.size == size:
                return
            state.size, state.running, state.error = size, True, None
            state.audit = None

        def run() -> None:
            from tally.verify import verify_record

            verifiers: list[Any] = []
            try:
                with tempfile.TemporaryDirectory() as directory:
                    record = Path(directory) / "record"
                    export(record)
                    report = verify_record(record, allow_test_group=site.allow_test_group,
                                           require_results=False,
                                           on_verifier=verifiers.append)
                state.ok = report.ok
                state.checks = sum(report.checks.values())
                state.findings = [str(f) for f in report.findings]
                # Only a record that verifies has an audit worth showing as replayed.
                state.audit = (replay_audit(verifiers[0], size) if report.ok and verifiers
                               else None)
            except PaperchainError as err:
                state.error = str(err)
            finally:
                state.running = False

        threading.Thread(target=run, daemon=True, name="record-verification").start()

    def export(record: Path) -> None:
        with site.ledger() as ledger:
            final = ledger.cosigned_head()
            if final is None:
                raise OutOfRange("no head has enough witness cosignatures yet", "head")
            policy = site.policy
            heads = cosigned_history(ledger, policy, final.size)
            export_record(ledger.envelope_range(0, final.size),
                          site.setup.manifest.source_bytes, election_id, record,
                          heads=[h.note(policy) for h in heads])

    @app.get("/elections/{requested}/board", response_class=HTMLResponse)
    def board(requested: str) -> str:
        check_election(requested)
        with site.ledger() as ledger:
            body = overview_sections(ledger)
        return _site_page(site, "board", "Bulletin board", body)

    @app.get("/elections/{requested}/board/entries", response_class=HTMLResponse)
    def entries(requested: str, start: int = Query(0, ge=0, le=_INT64),
                limit: int = Query(PAGE, ge=1, le=500)) -> str:
        check_election(requested)
        with site.ledger() as ledger:
            size = ledger.size()
            if start > size:
                raise OutOfRange(f"start {start} is beyond the ledger's size {size}", "start")
            end = min(size, start + limit)
            rows = []
            base = f"/elections/{escape(election_id)}/board/entries"
            for index, raw, entry in decoded_entries(
                    zip(range(start, end), ledger.envelope_range(start, end), strict=True)):
                link = f'<a href="{base}/{index}">{index}</a>'
                if entry is None:
                    rows.append((link, "undecodable", "", leaf_hash_of(raw).hex()[:16], ""))
                else:
                    rows.append((link, escape(entry.entry_type), escape(entry.writer_id),
                                 leaf_hash_of(raw).hex()[:16] + "…",
                                 escape(payload_summary(entry))))
        body_rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
        nav = []
        if start > 0:
            nav.append(f'<a href="{base}?start={max(0, start - limit)}&amp;limit={limit}">'
                       "Previous page</a>")
        if end < size:
            nav.append(f'<a href="{base}?start={end}&amp;limit={limit}">Next page</a>')
        body = (f"<p>Entries {start} to {end - 1} of {size}.</p>"
                '<div class="table-wrap" tabindex="0" role="region" aria-label="Ledger entries">'
                "<table><caption>Ledger entries in order</caption><thead><tr>"
                '<th scope="col">Index</th><th scope="col">Type</th><th scope="col">Writer</th>'
                '<th scope="col">Leaf hash</th><th scope="col">Payload</th></tr></thead>'
                f"<tbody>{body_rows}</tbody></table></div>"
                f'<nav aria-label="Pages" class="pager">{" ".join(nav)}</nav>')
        return _site_page(site, "entries", "Ledger entries", body)

    @app.get("/elections/{requested}/board/entries/{index}", response_class=HTMLResponse)
    def entry_detail(requested: str, index: int) -> str:
        check_election(requested)
        if not 0 <= index <= _INT64:
            raise OutOfRange(f"no entry {index}", "index")
        with site.ledger() as ledger:
            raw = ledger.envelope(index)
        decoded = decoded_entries([(index, raw)])[0][2]
        if decoded is None:
            body = "<p>This envelope does not decode.</p>"
        else:
            text = decoded.payload[:200_000].decode("utf-8", "replace")
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), indent=1, ensure_ascii=False)
            body = (f"<dl><dt>Type</dt><dd>{escape(decoded.entry_type)}</dd><dt>Writer</dt>"
                    f"<dd>{escape(decoded.writer_id)}</dd><dt>Sequence</dt>"
                    f"<dd>{decoded.sequence}</dd><dt>Leaf hash</dt>"
                    f"<dd><code>{leaf_hash_of(raw).hex()}</code></dd></dl>"
                    f'<h2>Payload</h2><pre tabindex="0">{escape(text)}</pre>')
        return _site_page(site, "entries", f"Ledger entry {index}", body)

    @app.get("/elections/{requested}/board/heads", response_class=HTMLResponse)
    def heads(requested: str, before: int | None = Query(None, ge=1, le=_INT64)) -> str:
        check_election(requested)
        policy = site.policy
        with site.ledger() as ledger:
            if before is not None and ledger.head_at(before) is None:
                raise OutOfRange(f"no head of size {before}", "before")
            found = ledger.heads_before(before, PAGE)
        rows = [_head_row(h, policy) for h in found]
        base = f"/elections/{escape(election_id)}/board/heads"
        more = (f'<nav aria-label="Pages" class="pager"><a href="{base}?before={found[-1].size}">'
                "Older heads</a></nav>" if len(found) == PAGE else "")
        body = (f"<p>The operator signs each head; the witnesses cosign what they checked. A "
                f"head needs {policy.threshold} cosignatures to be accepted.</p>"
                + table("Heads, newest first", ["Size", "Root", "Time (ms)", "Cosigned by",
                                                "Accepted"], rows, numeric=[0]) + more)
        return _site_page(site, "heads", "Heads and cosignatures", body)

    def replay_section(ledger: HttpLedger) -> str:
        """The audit as this site's verification replayed it (starting that if due)."""
        if not site.verify:
            return ("<p>This site does not verify the record: the audit's replay (each "
                    "sampled comparison, the risk recomputed) comes from <code>paperchain "
                    "audit verify</code> on the downloaded record.</p>")
        head = ledger.cosigned_head()
        if head is not None:
            start_verification(head.size)
        state = site._verification
        if state.audit is not None and not state.running:
            return render_replay(state.audit)
        if state.running or state.size is None:
            return ("<p>The audit as replayed by this site's verification (the sampled "
                    "comparisons and the recomputed risk) appears here once the verification "
                    "has run: <strong>running</strong>.</p>")
        if state.error or not state.ok:
            return ("<p>The record did not verify (see the bulletin board): the audit is "
                    "not replayed here.</p>")
        return "<p>No audit parameters in the verified record yet.</p>"

    def entry_html(kind: str, payload: Any) -> str:
        """An audit entry's payload: ciphertexts and proofs counted, the rest shown."""
        if not isinstance(payload, dict):
            return render_payload(payload, kind)
        if kind == "audit-cvrs":
            return audit_cvrs_table(manifest, payload, kind)
        if kind in ("audit-decryption-share", "cvr-equality-share"):
            items = payload.get("shares", payload.get("partials"))
            count = len(items) if isinstance(items, list) else 0
            rest = {k: v for k, v in payload.items() if k not in ("shares", "partials")}
            return (render_payload(rest, kind) + f"<p>{count} decryption shares with their "
                    "proofs (checked by the verification, not shown).</p>")
        if kind == "audit-round" and isinstance(payload.get("decrypt"), list):
            rest = {k: v for k, v in payload.items() if k != "decrypt"}
            return (render_payload(rest, kind) + f"<p>{len(payload['decrypt'])} sampled CVRs "
                    "to decrypt after the readings (ciphertexts not shown).</p>")
        return render_payload(payload, kind)

    @app.get("/elections/{requested}/board/audit", response_class=HTMLResponse)
    def audit(requested: str) -> str:
        check_election(requested)
        sections = []
        limit: float | None = None
        with site.ledger() as ledger:
            replayed = replay_section(ledger)
            for index, entry in ledger.entries(0):
                if entry.entry_type not in AUDIT_TYPES:
                    continue
                try:
                    payload = json.loads(entry.payload)
                except ValueError:
                    payload = None
                title = f"{entry.entry_type} (ledger index {index}, by {entry.writer_id})"
                if entry.entry_type == "cvrs" and isinstance(payload, dict):
                    # Encrypted CVRs are many and say nothing readable: count them.
                    cvrs = payload.get("cvrs")
                    count = len(cvrs) if isinstance(cvrs, list) else 0
                    sections.append(f'<section><h2 id="e{index}">{escape(title)}</h2><p>'
                                    f"{count} encrypted CVRs, sorted by ballot ID (chunk "
                                    f"{escape(payload.get('chunk'))}).</p></section>")
                    continue
                html = entry_html(entry.entry_type, payload)
                if isinstance(payload, dict) and entry.entry_type == "audit-parameters":
                    try:
                        limit = float(payload.get("risk_limit"))
                    except (TypeError, ValueError):
                        limit = None
                if isinstance(payload, dict) and isinstance(payload.get("assertions"), list):
                    points = []
                    for item in payload["assertions"]:
                        if not isinstance(item, dict):
                            continue
                        for key in ("risk", "p_value", "measured_risk"):
                            try:
                                value = float(item[key])
                            except (KeyError, TypeError, ValueError):
                                continue
                            name = ": ".join(str(item[k]) for k in ("contest", "assertion")
                                             if item.get(k))
                            points.append((name, value))
                            break
                    html = risk_chart(points, limit, f"Risk per assertion, {title}") + html
                sections.append(f'<section><h2 id="e{index}">{escape(title)}</h2>{html}</section>')
        body = (replayed
                + '<h2 id="h-entries">The audit\'s entries</h2>'
                "<p>The audit's entries in ledger order: CVR commitments, the paper manifest and "
                "the reconciliation, the parameters, the seed, each round's tickets and sampled "
                "comparisons (the audit board's readings, the decrypted CVRs), and the risk per "
                "assertion.</p>"
                + ("".join(sections) or "<p>No audit entries yet.</p>"))
        return _site_page(site, "audit", "Audit", body)

    @app.get("/elections/{requested}/record.zip")
    def record_zip(requested: str) -> Response:
        check_election(requested)
        with tempfile.TemporaryDirectory() as directory:
            record = Path(directory) / "record"
            export(record)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(record.iterdir()):
                    archive.write(path, f"record/{path.name}")
        return Response(buffer.getvalue(), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{election_id}-record.zip"'})

    return app
