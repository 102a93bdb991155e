"""The demo's audit, and its two tampers, recomputed with code nobody here wrote.

``--tamper paper`` forges printed cards in the sealed batches (same ballot ID, the QR code
copied, another mayor printed) so the mayor's hand-count winner flips: the audit board
reads the batch PDFs, so the audit finds the forgeries through the paper itself and must
not confirm the mayor (an RLA promises that with probability at least 1 − risk limit; for
this seed it escalates after its first round), while every other contest's readings of
the same cards match their CVRs. The demo's record is then recomputed:
its tickets with the ``consistent-sampler`` package and its super-simple p-values and
sample sizes with ``rlacalc`` (both from PyPI), and ``paperchain audit verify`` passes.
``--tamper cvr`` makes a kiosk's CVR lie: verification fails on the equality proof.
``--audit-mode polling`` (through the CLI): kiosks without CVRs and a ballot-polling audit
of the same forged paper.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import consistent_sampler
import pytest
import rlacalc

from e2e.errors import UsageError
from e2e.keystore import KdfLimits
from e2e.ledger.entry import decode_envelope
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.record import RecordReader
from paper.manifest_csv import read_manifest_csv
from paperchain.demo import DemoConfig, DemoOutcome, demo_manifest_bytes, run_demo
from paperchain.demo_board import BatchPapers
from tally.audit_check import AuditChecker
from tally.audit_verify import verify_audit
from tally.risk import DiscrepancyCounts, kaplan_markov_sample_size
from tally.verify import verify_election

pytestmark = pytest.mark.slow

FAST = KdfLimits(1, 8192)
VOTERS, SEED = 120, 2021  # a seed whose audit needs a round (others escalate at once)
GAMMA = 1.03905


@pytest.fixture(scope="module")
def tampered_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoOutcome]:
    out = tmp_path_factory.mktemp("demo") / "paper"
    outcome = run_demo(DemoConfig(out=out, voters=VOTERS, seed=SEED, test_group=True,
                                  kdf_limits=FAST, tamper="paper"))
    assert outcome.report.ok, outcome.report.findings
    assert outcome.audit is not None
    assert outcome.audit.outcome == "full-hand-count"  # not confirmed
    assert outcome.audit.rounds >= 1
    return out, outcome


@pytest.fixture(scope="module")
def tampered_paper(tampered_run: tuple[Path, DemoOutcome]) -> Path:
    return tampered_run[1].record


def test_tampered_paper_is_forged_in_the_boxes_and_found_by_reading_them(
        tampered_run: tuple[Path, DemoOutcome]) -> None:
    out, outcome = tampered_run
    assert outcome.audit is not None
    assert any("cards forged" in note for note in outcome.audit.notes)
    # The paper as it now is: every card of the scanned manifest, read from the box PDFs.
    manifest = Manifest.from_bytes(demo_manifest_bytes())
    rows = read_manifest_csv((out / "paper" / "manifest.csv").read_text(encoding="utf-8"))
    slug = {r.entry.batch: r.entry.batch.lower().replace(" ", "-") for r in rows}
    board = BatchPapers({batch: out / "paper" / "boxes" / f"{name}.pdf"
                         for batch, name in slug.items()})
    where = [(r.entry.batch, r.entry.position) for r in rows]
    readings = board.read(
        manifest, 1, where, {(r.entry.batch, r.entry.position): r.entry.style_id or ""
                             for r in rows},
        {(r.entry.batch, r.entry.position): None if r.entry.ballot_id is None
         else r.entry.ballot_id.value for r in rows})
    assert {r.condition for r in readings} == {"ok"}  # the forgeries kept their IDs
    mayor = Counter(v for r in readings for c, x in r.contests if c == "mayor"
                    for v in x.votes)
    # The certified hand count on the ledger is this reading of the paper, and elects
    # another mayor than the E2E result.
    reader = RecordReader(outcome.record)
    _, verifier = verify_election(reader.envelopes(), allow_test_group=True)
    state = verifier.checker(AuditChecker).state
    assert state.hand_count is not None
    counted = {s: n for c, s, n in state.hand_count.counts if c == "mayor"}
    assert counted == {s: mayor.get(s, 0) for s in counted}
    assert state.parameters is not None
    (reported,) = {a.winner for a in state.parameters.contest("mayor").assertions}
    assert mayor.most_common(1)[0][0] != reported
    # Every discrepancy the audit found is in the forged contest: the paper of the other
    # contests, read from the same pages, matches the CVRs.
    last = state.rounds[-1].risk
    assert last is not None
    found = {r.contest_id for r in last.assertions
             if r.counts.o1 + r.counts.o2 + r.counts.u1 + r.counts.u2}
    assert found == {"mayor"}


def test_demo_audit_recomputes_with_consistent_sampler_and_rlacalc(tampered_paper: Path
                                                                   ) -> None:
    reader = RecordReader(tampered_paper)
    report, verifier = verify_election(reader.envelopes(), allow_test_group=True)
    assert report.ok, report.findings
    state = verifier.checker(AuditChecker).state
    assert state.seed is not None
    assert state.population is not None
    assert state.parameters is not None
    cards = [(b, p) for b, n in state.population.frame().items() for p in range(1, n + 1)]
    theirs = list(consistent_sampler.sampler(cards, seed=state.seed.seed.digits,
                                             take=len(state.tickets), with_replacement=True,
                                             output="tuple", digits=18))
    assert [(t.ticket_number, (t.batch, t.position), t.generation)
            for t in state.tickets] == theirs
    alpha = state.parameters.risk_limit
    last = state.rounds[-1].risk
    assert last is not None
    compared = 0
    for risk in last.assertions:
        spec = state.parameters.contest(risk.contest_id)
        margin = next(a.margin for a in spec.assertions if a.label() == risk.assertion)
        c = risk.counts
        p = rlacalc.KM_P_value(risk.draws, GAMMA, margin, c.o1, c.o2, c.u1, c.u2)
        assert risk.p_value == pytest.approx(min(1.0, p), rel=1e-9)
        ours = kaplan_markov_sample_size(risk_limit=alpha, diluted_margin=margin,
                                         discrepancies=DiscrepancyCounts(c.o1, c.o2, c.u1, c.u2),
                                         gamma=GAMMA)
        theirs_n = rlacalc.nmin(alpha, GAMMA, margin, c.o1, c.o2, c.u1, c.u2)
        assert theirs_n == max(ours, c.o1 + c.o2 + 2 * c.u1)  # rlacalc's floor typo aside
        if risk.p_value <= alpha:  # confirmed: the draws reached (about) rlacalc's size
            assert risk.draws >= ours - 2
        compared += 1
    assert compared == sum(len(s.assertions) for s in state.parameters.contests)
    mayor = dict(last.contests)["mayor"]
    assert mayor > alpha  # the flipped contest is not confirmed
    assert not math.isnan(mayor)


def test_tampered_paper_record_passes_audit_verify(tampered_paper: Path) -> None:
    result = verify_audit(tampered_paper, allow_test_group=True)
    assert result.ok, result.findings
    assert result.summary["outcome"] == "full-hand-count"
    assert result.summary["hand_count"] is True


def test_demo_tamper_cvr_fails_verification_on_the_equality_proof(tmp_path: Path) -> None:
    outcome = run_demo(DemoConfig(out=tmp_path / "cvr", voters=12, test_group=True,
                                  kdf_limits=FAST, tamper="cvr"))
    assert outcome.audit is not None
    assert outcome.audit.outcome == "cvr-equality-failed"
    assert not outcome.report.ok
    assert any("equality proof fails" in str(f) for f in outcome.report.findings)


def test_demo_polling_audit_through_the_cli_without_cvrs_reads_the_forged_paper(
        tmp_path: Path) -> None:
    """``paperchain demo --audit-mode polling --tamper paper``: the kiosks keep no CVRs
    (none on disk, none on the ledger), the reconciliation follows the results, and a
    BRAVO ballot-polling round reads the forged paper; the mayor is not confirmed (for
    this seed one round, then the full hand count) and the record verifies."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def paperchain(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "paperchain", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=900, check=False)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done

    demo = paperchain("demo", "--out", "polled", "--test-group", "--voters", str(VOTERS),
                      "--seed", str(SEED), "--audit-mode", "polling", "--tamper", "paper")
    text = " ".join(demo.stderr.split())  # rich wraps lines
    assert "No CVRs: the kiosks ran without them" in text
    assert "BRAVO ballot polling" in text
    assert "round 1:" in text
    assert "tampered:" in text
    assert "VERIFIED" in text
    out = tmp_path / "polled"
    reader = RecordReader(out / "record")
    kinds = Counter(decode_envelope(raw).entry().entry_type for raw in reader.envelopes())
    assert kinds[EntryType.BALLOT] == VOTERS
    assert not {EntryType.CVRS, EntryType.CVR_COMMITMENT, EntryType.CVR_EQUALITY,
                EntryType.AUDIT_CVRS} & set(kinds)
    paperchain("verify", "polled/record", "--test-group")
    audited = json.loads(paperchain("audit", "verify", "polled/record", "--test-group",
                                    "--json").stdout)
    assert audited["ok"] is True, audited["findings"]
    assert audited["summary"]["outcome"] == "full-hand-count"
    assert audited["summary"]["rounds"] >= 1
    assert audited["summary"]["hand_count"] is True
    assert audited["summary"]["contests"]["mayor"] > 0.05  # the forged mayor: not confirmed
    report = json.loads((out / "audit" / "report.json").read_text())
    assert report["parameters"]["mode"] == "polling"


@pytest.mark.parametrize(("tamper", "mode", "message"), [
    ("cvr", "polling", "cvr needs CVRs"), (None, "sampling", "the audit mode is one of")])
def test_demo_refuses_a_polling_run_it_cannot_do_before_writing_anything(
        tmp_path: Path, tamper: str | None, mode: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_demo(DemoConfig(out=tmp_path / "x", test_group=True, kdf_limits=FAST,
                            tamper=tamper, audit_mode=mode))
    assert not (tmp_path / "x").exists()
