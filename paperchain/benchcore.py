"""The core's speed on the standard group, in units of one ``gmpy2.powmod`` of the same run.

What ``paperchain bench`` prints and ``benchmarks/bench_scale.py`` reports (issue 7):

* ``powmod_ms`` — the unit: ``gmpy2.powmod`` with the 4096-bit p and a 256-bit exponent;
* encryption of a 10-contest × 4-selection ballot (vote for 1), per selection, proofs
  and tracking code included: *bulk* (every exponentiation through the fixed-base
  tables) and *online* (the proof randomness drawn from a ``PrecomputedPool`` filled
  beforehand; the fill reported apart);
* verification per selection of such ballots from their payload bytes — decoding,
  subgroup checks, every proof, tracking code — in one batch of ``ballots`` ballots
  (compact and JSON payloads), one ballot alone (the ledger's admission), and by the
  simple reference path;
* the fixed-base table for each window size: milliseconds to build, MiB, units per
  exponentiation.

Every figure is a ratio of CPU times (``time.process_time``) in one process, each the
fastest of a few rounds, each round a batch of units then a batch of the operation:
a busy machine slows both alike, and what other processes do is not counted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import gmpy2
import nacl.public

from e2e.ballot import MarkedBallot, encrypt_ballot, mark_ballot, verify_ballot
from e2e.ceremony import (
    CeremonyOutcome,
    Polynomial,
    joint_key,
    prove_commitments,
    verification_key,
)
from e2e.context import ElectionContext
from e2e.fixedbase import FixedBaseTable, PrecomputedPool, default_window, prepare
from e2e.group import STANDARD, GroupParameters
from e2e.hashing import base_hash, extended_base_hash
from e2e.manifest import Manifest
from e2e.nonces import DerivedNonces
from e2e.official import build_setup
from e2e.setup import TrusteeInfo
from e2e.signing import SigningKey
from e2e.voting import CastBallot, check_cast_payloads

__all__ = ["bench_manifest", "measure_core", "synthetic_context"]


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"paperchain bench/{label}".encode()).digest()


def bench_manifest(contests: int = 10, selections: int = 4, vote_for: int = 1) -> Manifest:
    """``contests`` plurality contests of ``selections`` candidates, one ballot style."""
    manifest = {
        "version": 1, "election_id": "bench-election", "name": {"en": "Benchmark"},
        "jurisdiction": {"en": "Benchmark"}, "date": "2026-11-03", "languages": ["en"],
        "contests": [
            {"id": f"contest-{i}", "title": {"en": f"Contest {i}"}, "kind": "plurality",
             "vote_for": vote_for, "winners": vote_for,
             "selections": [{"id": f"candidate-{j}", "label": {"en": f"Candidate {j}"}}
                            for j in range(selections)]}
            for i in range(contests)],
        "ballot_styles": [{"id": "all", "label": {"en": "All"},
                           "contests": [f"contest-{i}" for i in range(contests)]}],
    }
    return Manifest.from_bytes(json.dumps(manifest, indent=1).encode())


def synthetic_context(group: GroupParameters, manifest: Manifest) -> ElectionContext:
    """A closed 2-of-3 ceremony's context computed directly (no ledger, no passphrases)."""
    h_b = base_hash(group, manifest.digest, 3, 2)
    commitments = {}
    for dealer in (1, 2, 3):
        nonces = DerivedNonces(_seed(f"dealer {dealer}"))
        polynomial = Polynomial(tuple(nonces.next_exponent(group) for _ in range(2)))
        commitments[dealer] = prove_commitments(polynomial, h_b, 1, dealer, nonces).commitments
    key = joint_key(commitments)
    h_e = extended_base_hash(h_b, key, [commitments[i] for i in (1, 2, 3)])
    keys = {i: SigningKey(_seed(f"trustee {i}")) for i in (1, 2, 3)}
    setup = build_setup(
        manifest=manifest, group=group, threshold=2,
        trustees=[TrusteeInfo(i, f"T{i}", f"trustee-{i}", keys[i].verify_key,
                              bytes(nacl.public.PrivateKey(_seed(f"box {i}")).public_key))
                  for i in (1, 2, 3)],
        officials=[("official-1", SigningKey(_seed("official")).verify_key)],
        operator_key=SigningKey(_seed("operator")).verify_key, log_origin="bench")
    outcome = CeremonyOutcome(1, (1, 2, 3), h_b, h_e, key, commitments,
                              {i: verification_key(commitments, i) for i in (1, 2, 3)})
    return ElectionContext(setup, outcome)


def one_vote_each(manifest: Manifest, style_id: str, seed: int) -> MarkedBallot:
    """Exactly one candidate in every contest, candidate (seed + i) mod n in contest i —
    the same ballots ElectionGuard is run on (``benchmarks/electionguard_side.py``)."""
    return mark_ballot(manifest, style_id, {
        contest.id: [contest.selections[(seed + i) % len(contest.selections)].id]
        for i, (_, contest) in enumerate(manifest.contests_of_style(style_id))})


class _Clock:
    """Units and operations timed in alternation; ratios of the fastest of each."""

    def __init__(self, group: GroupParameters) -> None:
        self._group = group
        base = gmpy2.mpz(group.g_pow(123456789).value)
        exponents = [gmpy2.mpz(int.from_bytes(_seed(f"unit {i}"), "big")) % group.q
                     for i in range(32)]
        self._unit_batch = [(base, e) for e in exponents]
        self.unit = float("inf")

    def _units(self) -> None:
        p = self._group.p
        start = time.process_time()
        for base, exponent in self._unit_batch:
            gmpy2.powmod(base, exponent, p)
        self.unit = min(self.unit, (time.process_time() - start) / len(self._unit_batch))

    def best(self, operation: Callable[[], object], rounds: int) -> float:
        """CPU seconds of the fastest of ``rounds`` runs of ``operation``."""
        best = float("inf")
        for _ in range(rounds):
            self._units()
            start = time.process_time()
            operation()
            best = min(best, time.process_time() - start)
        self._units()
        return best


def measure_core(group: GroupParameters = STANDARD, *, ballots: int = 48, rounds: int = 3,
                 windows: tuple[int, ...] = (8, 10, 12, 13), quick: bool = False
                 ) -> dict[str, Any]:
    """The figures listed in the module docstring, as one JSON-ready dict."""
    manifest = bench_manifest()
    context = synthetic_context(group, manifest)
    clock = _Clock(group)
    key = context.joint_key.value
    started = time.perf_counter()
    prepare(group, group.g, key)
    tables_built = time.perf_counter() - started
    selections = sum(len(c.selections) for _, c in manifest.contests_of_style("all"))
    marked = [one_vote_each(manifest, "all", i) for i in range(ballots)]

    def encrypt_all(count: int, pool: PrecomputedPool | None = None) -> list[Any]:
        return [encrypt_ballot(context, marked[i], device_id="kiosk-1", session="bench",
                               sequence=i + 1, previous_code=bytes(32), pool=pool).ballot
                for i in range(count)]

    sample = 4 if quick else 8
    encrypt_cpu = clock.best(lambda: encrypt_all(sample), rounds) / (sample * selections)

    pool = PrecomputedPool(group, key)
    per_ballot = sum(2 * (c.limit + 1) for _, c in manifest.contests_of_style("all")) \
        + selections * 2
    fill_cpu = clock.best(lambda: pool.fill(sample * per_ballot, sample * per_ballot // 2),
                          1) / (sample * selections)
    online_cpu = clock.best(lambda: encrypt_all(sample, pool), 1) / (sample * selections)

    encrypted = encrypt_all(ballots)
    compact = [(CastBallot(b).to_payload(compact=True), "payload") for b in encrypted]
    as_json = [(CastBallot(b).to_payload(), "payload") for b in encrypted]

    def check(payloads: list[tuple[bytes, str]]) -> None:
        results = check_cast_payloads(context, payloads)
        if any(r.decode_error or r.verify_error for r in results):
            raise RuntimeError("an honest ballot failed verification")

    heavy = 1 if quick else max(1, rounds - 1)
    verify_cpu = clock.best(lambda: check(compact), heavy) / (ballots * selections)
    verify_json_cpu = clock.best(lambda: check(as_json), heavy) / (ballots * selections)
    single_cpu = clock.best(lambda: [check([one]) for one in compact[:sample]],
                            heavy) / (sample * selections)
    simple_cpu = clock.best(lambda: [verify_ballot(context, b, fast=False)
                                     for b in encrypted[:2]], 1) / (2 * selections)
    tables = []
    for window in windows if not quick else (default_window(group),):
        start = time.process_time()
        table = FixedBaseTable.build(group.g, group.p, int(group.q).bit_length(), window)
        build = time.process_time() - start
        exponents = [int.from_bytes(_seed(f"e {i}"), "big") % int(group.q) for i in range(64)]
        per_exp = clock.best(lambda t=table, es=exponents: [t.pow(e) for e in es], rounds) / 64
        tables.append({"window": window, "build_ms": round(build * 1e3, 1),
                       "mib": round(table.nbytes / 2**20, 1),
                       "units_per_exponentiation": round(per_exp / clock.unit, 4)})
        del table
    unit = clock.unit

    def figures(name: str, seconds: float) -> dict[str, float]:
        return {f"{name}_ms_per_selection": round(seconds * 1e3, 4),
                f"{name}_units_per_selection": round(seconds / unit, 3)}

    return {
        "group": group.name, "timer": "process CPU time, fastest of rounds",
        "powmod_ms": round(unit * 1e3, 4),
        "ballot": f"{len(manifest.contests)} contests x 4 selections, vote for 1",
        **figures("encrypt", encrypt_cpu),
        **figures("encrypt_online", online_cpu),
        **figures("pool_fill", fill_cpu),
        **figures("verify", verify_cpu),
        **figures("verify_json", verify_json_cpu),
        **figures("verify_single", single_cpu),
        **figures("verify_simple", simple_cpu),
        "encrypt_ms_per_ballot": round(encrypt_cpu * selections * 1e3, 2),
        "verify_ms_per_ballot": round(verify_cpu * selections * 1e3, 2),
        "verify_batch_ballots": ballots,
        "default_window": default_window(group),
        "tables_built_s": round(tables_built, 2),
        "fixed_base_tables": tables,
    }
