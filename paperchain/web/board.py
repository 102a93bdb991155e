"""The public bulletin board's pages, rendered on the server from the ledger.

Every page is plain HTML (tables, and inline SVG for charts: no script needed), built
from what the ledger operator and the witnesses serve: entries page by page with a
summary of each payload, heads with their cosignatures, each witness's status, the
results (with the record's verification status when it has been run), the
reconciliation and the audit's entries in ledger order (commitments, the seed, the
tickets, each sampled comparison, the risk per assertion). Entries this module does
not know are shown generically: their type and a summary of their payload.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from e2e.errors import PaperchainError
from e2e.ledger.entry import Entry, decode_envelope
from e2e.manifest import Manifest
from paperchain.web.common import escape

__all__ = [
    "AUDIT_TYPES",
    "audit_cvrs_table",
    "decoded_entries",
    "payload_summary",
    "render_payload",
    "results_table",
    "risk_chart",
    "table",
]

AUDIT_TYPES = ("cvrs", "cvr-commitment", "cvr-equality-share", "cvr-equality",
               "cvr-plaintext-share",
               "paper-manifest", "reconciliation", "audit-parameters", "audit-seed",
               "audit-round", "audit-reading", "audit-signoff", "audit-decryption-share",
               "audit-cvrs", "audit-risk", "audit-end", "hand-count")
_MAX_CELL = 80
_MAX_ROWS = 200


def decoded_entries(pairs: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes, Entry | None]]:
    out: list[tuple[int, bytes, Entry | None]] = []
    for index, raw in pairs:
        try:
            entry: Entry | None = decode_envelope(raw, f"entry {index}").entry()
        except PaperchainError:
            entry = None
        out.append((index, raw, entry))
    return out


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _short(value: object) -> str:
    if isinstance(value, str):
        return value if len(value) <= _MAX_CELL else value[: _MAX_CELL - 1] + "…"
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{" + ", ".join(list(value)[:6]) + ("…" if len(value) > 6 else "") + "}"
    return str(value)[:_MAX_CELL]


def _cell(value: object) -> str:
    """A table cell: as ``_short``, but a short list of scalars is written out (the
    votes an audit board read on a card, a CVR's marks), and an empty list is a dash."""
    if isinstance(value, list) and len(value) <= 20 and all(
            isinstance(x, str | int | float) and not isinstance(x, bool) for x in value):
        return _short(", ".join(str(x) for x in value)) if value else "—"
    return _short(value)


def payload_summary(entry: Entry) -> str:
    """One line about an entry's payload: its top-level fields, shortened."""
    value = _json(entry.payload)
    if not isinstance(value, dict):
        return f"{len(entry.payload)} bytes"
    if entry.entry_type in ("ballot", "challenge") and isinstance(value.get("ballot"), dict):
        ballot = value["ballot"]
        return (f"device {ballot.get('device_id')} #{ballot.get('sequence')}, style "
                f"{ballot.get('style_id')}, tracking code {str(ballot.get('tracking_code'))[:16]}…")
    parts = [f"{k}: {_short(v)}" for k, v in value.items() if k != "version"]
    text = "; ".join(parts)
    return text if len(text) <= 240 else text[:239] + "…"


def table(caption: str, header: Sequence[str], rows: Iterable[Sequence[object]],
          *, numeric: Sequence[int] = ()) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if i in numeric else ""}">{escape(c)}</td>'
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(header)}">none</td></tr>')
    return (f'<div class="table-wrap" tabindex="0" role="region" aria-label="{escape(caption)}">'
            f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def render_payload(value: Any, title: str) -> str:
    """A payload as HTML: scalars as a definition list, lists of objects as tables."""
    if not isinstance(value, dict):
        return f"<p>{escape(_short(value))}</p>"
    scalars = [(k, v) for k, v in value.items() if not isinstance(v, list | dict)]
    parts = ["<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(_short(v))}</dd>"
                              for k, v in scalars) + "</dl>"] if scalars else []
    for key, item in value.items():
        if isinstance(item, list) and item and all(isinstance(x, dict) for x in item):
            columns = list(dict.fromkeys(k for x in item for k in x))[:10]
            rows = [[_cell(x.get(c, "")) for c in columns] for x in item[:_MAX_ROWS]]
            more = f" (first {_MAX_ROWS} of {len(item)})" if len(item) > _MAX_ROWS else ""
            parts.append(table(f"{title}: {key}{more}", columns, rows))
        elif isinstance(item, list):
            parts.append(f"<p><strong>{escape(key)}</strong>: "
                         f"{escape(', '.join(_short(x) for x in item[:50]))}"
                         f"{'…' if len(item) > 50 else ''}</p>")
        elif isinstance(item, dict):
            parts.append(f"<h4>{escape(key)}</h4>" + render_payload(item, f"{title}: {key}"))
    return "".join(parts)


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _log_floor(rows: Sequence[tuple[str, float]], limit: float | None) -> int:
    """The chart's lowest decade: one below the smallest positive risk (or the limit)."""
    positive = [r for _, r in rows if r > 0] + ([limit] if limit else [])
    low = min(positive, default=1.0)
    return max(-12, min(-1, math.floor(math.log10(low)) - 1))


def risk_chart(rows: Sequence[tuple[str, float]], limit: float | None, title: str) -> str:
    """Horizontal bars: each assertion's measured risk on a log scale (the floor decade to
    1), the risk limit as a line. A confirmed audit's risks are far below the limit, often
    by orders of magnitude: on a linear 0..1 scale every bar would be a hairline.

    Inline SVG with a title and description, and the same numbers in a table beside it
    (a chart is never the only way to read them)."""
    if not rows:
        return ""
    width, bar, gap, left, right = 800, 22, 8, 330, 90
    height = len(rows) * (bar + gap) + 56
    scale = width - left - right
    floor = _log_floor(rows, limit)

    def x_of(risk: float) -> float:
        if not risk > 0:
            return float(left)
        return left + (max(floor, min(0.0, math.log10(risk))) - floor) / -floor * scale

    bottom = height - 40
    shapes = []
    step = 1 if -floor <= 6 else 2
    for decade in range(floor, 1, step):
        x = x_of(10.0 ** decade)
        shapes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{bottom}" class="tick"/>'
                      f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" '
                      f'class="value">{10.0 ** decade:g}</text>')
    for i, (name, risk) in enumerate(rows):
        y = 10 + i * (bar + gap)
        w = max(1.0, x_of(risk) - left)
        label = name if len(name) <= 44 else name[:43] + "…"
        shapes.append(f'<text x="{left - 6}" y="{y + bar * 0.7}" text-anchor="end" '
                      f'class="label">{escape(label)}</text>'
                      f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" class="bar"/>'
                      f'<text x="{left + w + 4:.1f}" y="{y + bar * 0.7}" class="value">'
                      f"{risk:.4g}</text>")
    if limit is not None:
        x = x_of(limit)
        shapes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{bottom}" '
                      f'class="limit" stroke-dasharray="6 4"/>'
                      f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="label">'
                      f"risk limit {limit:g}</text>")
    description = "; ".join(f"{n}: {r:.4g}" for n, r in rows)
    key = "c" + hashlib.sha256(title.encode()).hexdigest()[:8]  # one page, several charts
    return (f'<figure><svg role="img" viewBox="0 0 {width} {height}" '
            f'aria-labelledby="{key}-t {key}-d"><title id="{key}-t">{escape(title)}</title>'
            f'<desc id="{key}-d">{escape(description)}</desc>'
            f"{''.join(shapes)}</svg><figcaption>{escape(title)} (bars: measured risk, on a "
            f"log scale from {10.0 ** floor:g} to 1; dashed line: the risk limit)</figcaption>"
            "</figure>")


def results_table(manifest: Manifest, payload: Mapping[str, Any]) -> str:
    """The decrypted counts per contest and selection, with the manifest's labels."""
    counts = payload.get("counts")
    if not isinstance(counts, list):
        return render_payload(payload, "results")
    by_contest: dict[int, list[tuple[int, object]]] = {}
    for row in counts:
        if isinstance(row, dict):
            by_contest.setdefault(int(row.get("contest", -1)), []).append(
                (int(row.get("selection", -1)), row.get("count")))
    parts = []
    for contest_index, rows in sorted(by_contest.items()):
        if not 0 <= contest_index < len(manifest.contests):
            continue
        contest = manifest.contests[contest_index]
        named = [(contest.selections[s].label.english if 0 <= s < len(contest.selections)
                  else f"selection {s}", c) for s, c in sorted(rows)]
        parts.append(table(contest.title.english, ["Selection", "Votes"], named, numeric=[1]))
    return "".join(parts)


def audit_cvrs_table(manifest: Manifest, payload: Mapping[str, Any], title: str) -> str:
    """An ``audit-cvrs`` entry: each decrypted CVR's marks per contest, by selection ID
    (the combined decryptions themselves are checked by the verification, not shown)."""
    cvrs = payload.get("cvrs")
    if not isinstance(cvrs, list):
        return render_payload(payload, title)
    rows = []
    for cvr in cvrs[:_MAX_ROWS]:
        if not isinstance(cvr, dict) or not isinstance(cvr.get("counts"), list):
            continue
        marked: dict[int, list[str]] = {}
        for count in cvr["counts"]:
            if not isinstance(count, dict):
                continue
            contest, selection = count.get("contest"), count.get("selection")
            if not (isinstance(contest, int) and 0 <= contest < len(manifest.contests)):
                continue
            choices = manifest.contests[contest].selections
            marked.setdefault(contest, [])
            if count.get("count") == 1 and isinstance(selection, int) and (
                    0 <= selection < len(choices)):
                marked[contest].append(choices[selection].id)
        for contest, ids in sorted(marked.items()):
            rows.append([_short(cvr.get("ballot_id")), manifest.contests[contest].id,
                         ", ".join(sorted(ids)) or "blank"])
    more = f" (first {_MAX_ROWS} of {len(cvrs)} CVRs)" if len(cvrs) > _MAX_ROWS else ""
    return (f"<p>Round {escape(_short(payload.get('round')))}: {len(cvrs)} sampled CVRs "
            "decrypted.</p>"
            + table(f"{title}: the decrypted CVRs{more}", ["Ballot ID", "Contest", "CVR votes"],
                    rows))
