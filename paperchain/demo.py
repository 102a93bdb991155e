"""``paperchain demo``: a whole election on this machine, end to end, with embedded defaults.

Everything a real election has, each role in its own directory under ``--out`` as if
on its own machine: three trustees (threshold 2) run the key ceremony over the
ledger; three kiosks in two polling places take a few hundred simulated voters,
some of whom challenge a ballot before casting; the polls close; the official
publishes the encrypted tally; trustees 1 and 3 decrypt (trustee 2 stays away); the
results are combined; a comparison audit at a 5% risk limit then checks the paper
(``paperchain.demo_audit``: CVRs and their equality proofs, the paper manifest and the
reconciliation, the seed, rounds of blind readings; ``--tamper paper`` or ``--tamper
cvr`` shows what it catches; ``audit_mode="polling"``: kiosks without CVRs and a BRAVO
ballot-polling audit of the same paper); the public record is exported to ``OUT/record`` and
verified by the same code ``paperchain verify`` runs. The ledger runs as a real HTTP service on
127.0.0.1 with two witnesses (``paperchain.demo_network``) that cosign its heads; every
role talks to it over HTTP, and the tally starts at a head both witnesses cosigned.

The passphrases are fixed demo values, printed in ``OUT/README.txt``: a demo is not
an election.
"""

from __future__ import annotations

import importlib.resources
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from e2e.ballot import mark_ballot
from e2e.context import ElectionContext, load_context
from e2e.errors import CeremonyError, UsageError
from e2e.group import STANDARD, TEST_GROUP
from e2e.identity import WriterIdentity
from e2e.keystore import MODERATE_LIMITS, KdfLimits
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.directory import init_ledger_directory
from e2e.ledger.types import EntryType
from e2e.manifest import Contest, Manifest
from e2e.official import advance_ceremony, build_setup, close_voting, open_voting
from e2e.record import RecordReader
from e2e.setup import Role
from e2e.trustee import TrusteeWorkspace
from e2e.verify import VerificationReport
from e2e.voting import VotingDevice
from paperchain.demo_audit import AUDIT_MODES, DemoAudit, DemoCard, audit_demo_election
from paperchain.demo_network import WITNESS_THRESHOLD, WITNESSES, DemoNetwork
from paperchain.demo_paper import DemoPaper, PaperCount, check_printable
from tally.results import Results
from tally.verify import verify_record
from tally.workflow import decrypt_as_trustee, publish_results, publish_tally

__all__ = ["DemoConfig", "DemoOutcome", "Reporter", "demo_manifest_bytes", "run_demo"]

TRUSTEES = 3
THRESHOLD = 2
ABSENT_TRUSTEE = 2
DEVICES = (("kiosk-1", "Precinct 1 — City Hall"), ("kiosk-2", "Precinct 1 — City Hall"),
           ("kiosk-3", "Precinct 2 — Library"))


def demo_manifest_bytes() -> bytes:
    return importlib.resources.files("e2e.data").joinpath("demo_manifest.json").read_bytes()


def demo_passphrase(role: str) -> bytes:
    return f"demo passphrase for {role} (not for a real election)".encode()


@dataclass(frozen=True, slots=True)
class DemoConfig:
    out: Path
    voters: int = 300
    test_group: bool = False
    seed: int = 2026
    challenge_rate: float = 0.05
    kdf_limits: KdfLimits = MODERATE_LIMITS
    audit: bool = True
    tamper: str | None = None  # "paper" or "cvr" (paperchain.demo_audit)
    audit_mode: str = "comparison"  # or "polling": kiosks without CVRs, BRAVO polling


@dataclass(slots=True)
class DemoOutcome:
    record: Path
    report: VerificationReport
    results: Results
    context: ElectionContext
    cast: int = 0
    challenged: int = 0
    notes: list[str] = field(default_factory=list)
    audit: DemoAudit | None = None
    paper: PaperCount | None = None


class Reporter:
    """How the demo shows progress; the CLI passes one that draws rich progress bars."""

    def step(self, message: str) -> None:
        del message

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        del label, total
        yield lambda advance: None


def _check_out_directory(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} is not empty: it may hold another election; choose a new "
                         "directory (the demo never writes over one)")


class _Voters:
    """Simulated voters whose preferences give wide margins (so the audit can finish)."""

    def __init__(self, manifest: Manifest, seed: int) -> None:
        self.manifest = manifest
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography

    def _weights(self, contest: Contest) -> list[float]:
        count = len(contest.selections)
        return [0.55 ** i for i in range(count)]

    def choose(self, contest: Contest) -> list[str]:
        ids = [s.id for s in contest.selections]
        if self.rng.random() < 0.03:
            return []  # an undervote
        if contest.kind == "supermajority":
            return [ids[0]] if self.rng.random() < 0.82 else [ids[1]]
        if contest.kind == "approval":
            return [s for i, s in enumerate(ids) if self.rng.random() < 0.75 * 0.6 ** i]
        chosen: list[str] = []
        weights = self._weights(contest)
        pool = list(range(len(ids)))
        for _ in range(contest.limit):
            pick = self.rng.choices(pool, [weights[i] for i in pool])[0]
            chosen.append(ids[pick])
            pool.remove(pick)
        return chosen

    def ballot(self) -> tuple[str, dict[str, list[str]]]:
        style = self.rng.choice(self.manifest.ballot_styles)
        return style.id, {c.id: self.choose(c)
                          for _, c in self.manifest.contests_of_style(style.id)}


def run_demo(config: DemoConfig, reporter: Reporter | None = None) -> DemoOutcome:
    reporter = reporter or Reporter()
    out = Path(config.out)
    _check_out_directory(out)
    if config.audit_mode not in AUDIT_MODES:
        raise UsageError(f"the audit mode is one of {list(AUDIT_MODES)}", "--audit-mode")
    if config.audit_mode == "polling" and config.tamper == "cvr":
        raise UsageError("cvr needs CVRs: a ballot-polling demo's kiosks keep none", "--tamper")
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.from_bytes(demo_manifest_bytes())
    check_printable(manifest)  # one legible card per ballot, or no election
    group = TEST_GROUP if config.test_group else STANDARD
    election_id = manifest.election_id
    limits = config.kdf_limits
    reporter.step(f"Election {election_id!r} on the {group.name} group "
                  f"({int(group.p).bit_length()}-bit p)")

    trustees = [
        TrusteeWorkspace.create(out / "trustees" / f"trustee-{i}", election_id=election_id,
                                index=i, name=f"Trustee {i}",
                                passphrase=demo_passphrase(f"trustee-{i}"), limits=limits)
        for i in range(1, TRUSTEES + 1)]
    official = WriterIdentity.create(out / "official", election_id=election_id,
                                     writer_id="official-1", role=Role.OFFICIAL,
                                     passphrase=demo_passphrase("official-1"), limits=limits)
    devices = [WriterIdentity.create(out / "devices" / device_id, election_id=election_id,
                                     writer_id=device_id, role=Role.DEVICE,
                                     passphrase=demo_passphrase(device_id), location=location,
                                     limits=limits)
               for device_id, location in DEVICES]
    ledger_config = init_ledger_directory(out / "ledger", election_id=election_id,
                                          test_group=config.test_group)
    network = DemoNetwork.start(out, election_id, config.test_group)
    reporter.step(f"Ledger service on {network.url}; witnesses "
                  f"{', '.join(WITNESSES)} ({WITNESS_THRESHOLD}-of-{len(WITNESSES)})")
    try:
        ledger = network.ledger
        setup = build_setup(
            manifest=manifest, group=group, threshold=THRESHOLD,
            trustees=[t.card.info() for t in trustees],
            officials=[(official.card.writer_id, official.card.key)],
            devices=[(d.card.writer_id, d.card.key, d.card.location) for d in devices],
            witnesses=network.witness_infos(), witness_threshold=WITNESS_THRESHOLD,
            operator_key=ledger_config.operator_key, log_origin=ledger_config.origin)
        official_writer = Writer(ledger, official.key, official.card.writer_id)
        official_writer.write(EntryType.SETUP, setup.to_payload())
        reporter.step(f"Setup on the ledger: {TRUSTEES} trustees, threshold {THRESHOLD}, "
                      f"{len(devices)} kiosks, manifest {manifest.digest.hex()[:16]}…")
        network.sync_witnesses(reporter.step)

        context = _ceremony(ledger, official_writer, trustees, config, reporter)
        network.sync_witnesses(reporter.step)
        open_voting(official_writer, "polls open (demo)")
        # A ballot-polling demo runs its kiosks without CVRs: none exists anywhere.
        cvrs = False if config.audit_mode == "polling" else None
        kiosks = [VotingDevice(context, ledger, d.key, d.card.writer_id, "election-day", cvrs)
                  for d in devices]
        cards: list[DemoCard] = []  # the paper the kiosks print (box and spoiled envelope)
        paper = DemoPaper(out, context, {d.card.writer_id: d.key for d in devices},
                          {d.card.writer_id: d.card.location for d in devices}, seed=config.seed)
        outcome_counts = _voting(context, kiosks, cards, paper, config, reporter)
        close_voting(official_writer, "polls closed (demo)")
        reporter.step(f"Polls closed: {outcome_counts[0]} ballots cast, "
                      f"{outcome_counts[1]} challenged and checked")
        network.sync_witnesses(reporter.step)  # the close-of-voting head, cosigned
        counted = paper.count_and_scan(ledger, allow_test_group=config.test_group,
                                       step=reporter.step)

        results = _tally(ledger, official_writer, trustees, config, reporter)
        network.sync_witnesses(reporter.step)
        audit = None
        if config.audit:
            audit = audit_demo_election(
                out=out, ledger=ledger, context=context, official=official, trustees=trustees,
                absent=ABSENT_TRUSTEE, kiosks=kiosks, cards=cards, seed=config.seed,
                tamper=config.tamper, test_group=config.test_group, kdf_limits=limits,
                passphrase=demo_passphrase, reporter=reporter, scanned=counted.for_audit(cards),
                mode=config.audit_mode)
            network.sync_witnesses(reporter.step)
        record = out / "record"
        network.export(record, setup)
        reporter.step(f"Public record written to {record}")
        reader = RecordReader(record)
        with reporter.progress("Verifying the record", reader.summary.entries) as advance:
            report = verify_record(record, allow_test_group=config.test_group,
                                   progress=lambda _: advance(1), ledger=ledger)
    finally:
        network.stop()
    _write_readme(out, config)
    return DemoOutcome(record, report, results, context, *outcome_counts, audit=audit,
                       paper=counted)


def _ceremony(ledger: LedgerClient, official: Writer, trustees: Sequence[TrusteeWorkspace],
              config: DemoConfig, reporter: Reporter) -> ElectionContext:
    allow = config.test_group
    for _ in range(8):
        for trustee in trustees:
            for done in trustee.advance(ledger, allow_test_group=allow):
                reporter.step(f"  trustee {trustee.card.index}: {done}")
        done_by_official = advance_ceremony(ledger, official, allow_test_group=allow)
        if done_by_official:
            reporter.step(f"  official: {done_by_official}")
        if done_by_official and done_by_official.startswith("closed"):
            for trustee in trustees:
                trustee.advance(ledger, allow_test_group=allow)
            context = load_context(ledger, allow)
            reporter.step(f"Key ceremony closed: joint key K = "
                          f"{context.joint_key.to_hex()[:16]}…, "
                          f"H_E = {context.extended_base_hash.hex()[:16]}…")
            return context
    raise CeremonyError("the demo's key ceremony did not close")


def _voting(context: ElectionContext, kiosks: Sequence[VotingDevice], cards: list[DemoCard],
            paper: DemoPaper, config: DemoConfig, reporter: Reporter) -> tuple[int, int]:
    voters = _Voters(context.manifest, config.seed)
    cast = challenged = 0
    with reporter.progress("Voting", config.voters) as advance:
        for number in range(config.voters):
            kiosk = kiosks[number % len(kiosks)]
            style_id, choices = voters.ballot()
            marked = mark_ballot(context.manifest, style_id, choices)
            pending = kiosk.encrypt(marked)
            if voters.rng.random() < config.challenge_rate:
                printed = paper.print_record(kiosk.device_id, marked)  # self-checked
                cards.append(printed.demo_card(choices, spoiled=True))
                result = kiosk.challenge(printed.ballot_id.value)  # the spoiled paper's ID
                paper.challenge(printed, pending.ballot.tracking_code, result)
                challenged += 1
                pending = kiosk.encrypt(marked)  # the voter marks again: fresh nonces
            printed = paper.print_record(kiosk.device_id, marked)
            cards.append(printed.demo_card(choices, spoiled=False))
            result = kiosk.cast(printed.ballot_id.value)  # the card goes into the box
            paper.cast(printed, pending.ballot.tracking_code, result)
            cast += 1
            advance(1)
    for kiosk in kiosks:
        kiosk.close()
    return cast, challenged


def _tally(ledger: LedgerClient, official: Writer, trustees: Sequence[TrusteeWorkspace],
           config: DemoConfig, reporter: Reporter) -> Results:
    allow = config.test_group
    size = ledger.size()
    with reporter.progress("Tally: recomputing from the ledger", size) as advance:
        publish_tally(ledger, official, allow_test_group=allow, progress=lambda _: advance(1))
    for trustee in trustees:
        if trustee.card.index == ABSENT_TRUSTEE:
            reporter.step(f"  trustee {trustee.card.index} is absent")
            continue
        with reporter.progress(f"Trustee {trustee.card.index}: verifying before decrypting",
                               ledger.size()) as advance:
            decrypt_as_trustee(trustee, ledger, allow_test_group=allow,
                               progress=lambda _: advance(1))
    with reporter.progress("Combining shares", ledger.size()) as advance:
        _, results, _ = publish_results(ledger, official, allow_test_group=allow,
                                     progress=lambda _: advance(1))
    reporter.step(f"Results published from trustees {list(results.trustees)}")
    return results


def _write_readme(out: Path, config: DemoConfig) -> None:
    lines = [
        "Paperchain demo election — every role in its own directory, as if on its own machine.",
        "",
        "  record/      the public election record: check it with `paperchain verify record`",
        "  ledger/      the ledger operator (SQLite store, operator key)",
        "  witnesses/   witness-1..2: each witness's key and its own copy of the ledger",
        "  trustees/    trustee-1..3: each trustee's key share, encrypted at rest",
        "  official/    the election official's signing key, encrypted at rest",
        "  devices/     the kiosks' signing keys, encrypted at rest",
        "  auditors/    the audit board's two members' signing keys, encrypted at rest",
        "  audit/       the audit report (report.json, report.pdf, audit-record.csv)",
        "  paper/       the printed paper: boxes/ (ballot records by batch, box order),",
        "               spoiled/ (SPOILED papers, kept apart), receipts.pdf, manifest.csv",
        "               (the ID-level manifest scanned back), forms/ (official forms)",
        "",
        "Demo passphrases (never use fixed passphrases in a real election):",
    ]
    for role in [f"trustee-{i}" for i in range(1, TRUSTEES + 1)] + ["official-1"] + [
            d for d, _ in DEVICES] + ["auditor-1", "auditor-2"]:
        lines.append(f"  {role}: {demo_passphrase(role).decode()}")
    if config.audit_mode == "polling":
        lines.append("")
        lines.append("The kiosks ran without CVRs (none exists anywhere); the audit polled the "
                     "paper (BRAVO).")
    if config.test_group:
        lines.append("")
        lines.append("This demo used the TEST group: verify with --test-group.")
    (out / "README.txt").write_text("\n".join(lines) + "\n")
