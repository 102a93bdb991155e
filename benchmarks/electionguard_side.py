"""ElectionGuard 1.4.0 on the ballots Paperchain's scale benchmark uses; JSON on stdout.

Run by ``benchmarks/bench_scale.py`` with the Python 3.10 interpreter of the virtual
environment ``benchmarks/cache/eg-venv`` (``electionguard==1.4.0 dacite==1.6.0
hypothesis``; the package imports only on Python 3.10)::

    benchmarks/cache/eg-venv/bin/python benchmarks/electionguard_side.py --ballots 100

The election: 10 contests × 4 candidates, vote for 1, one ballot style; ballot n votes
for candidate (n + i) mod 4 in contest i — the same choices as
``paperchain.benchcore.one_vote_each``. ElectionGuard's standard 4096-bit group, one
guardian (the key does not change what encryption and verification cost). Encryption:
``encrypt_ballot`` (selection and contest proofs; ElectionGuard adds one placeholder
selection per contest for vote-for-1). Verification: ``ballot_is_valid_for_election``
with proofs checked. Times are process CPU time; the unit is one ``powmod`` with the
same p and a 256-bit exponent in this interpreter, measured around the runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from datetime import datetime

import gmpy2
from electionguard.ballot import PlaintextBallot, PlaintextBallotContest, PlaintextBallotSelection
from electionguard.ballot_validator import ballot_is_valid_for_election
from electionguard.constants import get_large_prime, get_small_prime
from electionguard.elgamal import elgamal_keypair_from_secret
from electionguard.encrypt import encrypt_ballot
from electionguard.group import ONE_MOD_Q, int_to_q
from electionguard.manifest import (
    BallotStyle,
    Candidate,
    CandidateContestDescription,
    ElectionType,
    GeopoliticalUnit,
    Manifest,
    ReportingUnitType,
    SelectionDescription,
    SpecVersion,
    VoteVariationType,
)
from electionguard_tools.factories.election_factory import ElectionFactory

CONTESTS, CANDIDATES = 10, 4


def manifest() -> Manifest:
    contests = []
    for i in range(CONTESTS):
        contests.append(CandidateContestDescription(
            f"contest-{i}", i, "district", VoteVariationType.one_of_m, 1, 1, f"Contest {i}",
            [SelectionDescription(f"contest-{i}-candidate-{j}", j, f"candidate-{j}")
             for j in range(CANDIDATES)]))
    style = BallotStyle("all")
    style.geopolitical_unit_ids = ["district"]
    return Manifest(
        spec_version=SpecVersion.EG0_95, election_scope_id="bench", type=ElectionType.general,
        start_date=datetime(2026, 11, 3), end_date=datetime(2026, 11, 3),
        geopolitical_units=[GeopoliticalUnit("district", "District", ReportingUnitType.county)],
        parties=[], candidates=[Candidate(f"candidate-{j}") for j in range(CANDIDATES)],
        contests=contests, ballot_styles=[style])


def ballot(n: int) -> PlaintextBallot:
    return PlaintextBallot(f"ballot-{n}", "all", [
        PlaintextBallotContest(f"contest-{i}", [PlaintextBallotSelection(
            f"contest-{i}-candidate-{(n + i) % CANDIDATES}", 1, False)])
        for i in range(CONTESTS)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ballots", type=int, default=100)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # ElectionGuard logs every encryption's pad at INFO
    p, q = get_large_prime(), get_small_prime()
    keypair = elgamal_keypair_from_secret(int_to_q(123456789))
    internal, context = ElectionFactory.get_fake_ciphertext_election(manifest(),
                                                                    keypair.public_key)
    exponents = [int.from_bytes(hashlib.sha256(b"unit %d" % k).digest(), "big") % q
                 for k in range(32)]
    base = gmpy2.powmod(2, 12345, p)

    def unit() -> float:
        start = time.process_time()
        for e in exponents:
            gmpy2.powmod(base, e, p)
        return (time.process_time() - start) / len(exponents)

    units = [unit()]
    start = time.process_time()
    encrypted = [encrypt_ballot(ballot(n), internal, context, ONE_MOD_Q)
                 for n in range(args.ballots)]
    encrypt = time.process_time() - start
    units.append(unit())
    start = time.process_time()
    valid = [ballot_is_valid_for_election(b, internal, context, True) for b in encrypted]
    verify = time.process_time() - start
    units.append(unit())
    if not all(e is not None for e in encrypted) or not all(valid):
        print(json.dumps({"error": "ElectionGuard refused its own ballots"}))
        return 1
    unit_s = min(units)
    selections = sum(len(c.ballot_selections) for c in encrypted[0].contests)
    print(json.dumps({
        "software": "electionguard 1.4.0", "python": sys.version.split()[0],
        "ballots": args.ballots, "powmod_ms": unit_s * 1e3,
        "selections_per_ballot_with_placeholders": selections,
        "encrypt_ms_per_ballot": encrypt / args.ballots * 1e3,
        "verify_ms_per_ballot": verify / args.ballots * 1e3,
        "encrypt_units_per_ballot": encrypt / args.ballots / unit_s,
        "verify_units_per_ballot": verify / args.ballots / unit_s,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
