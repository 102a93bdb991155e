"""Cost of each cryptographic operation, in units of one modular exponentiation.

    .venv/bin/python benchmarks/bench_crypto.py            # standard group, ~1 min
    .venv/bin/python benchmarks/bench_crypto.py --json     # the same, as JSON on stdout
    .venv/bin/python benchmarks/bench_crypto.py --quick    # fewer repetitions (~15 s)

The unit is one ``gmpy2.powmod`` with a 4096-bit modulus (the standard p) and a
256-bit exponent, measured in the same run, so the figures compare across machines.
To survive a busy machine each operation is timed in rounds, each round a batch of
units then a batch of the operation back to back, and the fastest batch of each is
kept: ratio = fastest operation batch / fastest unit batch.

* element check — ``ElementModP(x, group)``: 0 < x < p and x^q = 1 (docs/spec.md §2.3), on
  an element this process has not seen; and again on one it has (the membership memo of
  ``e2e.group`` then skips x^q);
* encryption — ``encrypt``: (g^r, g^m·K^r);
* Schnorr, Chaum–Pedersen, range 0..L (L = 1, 2, 4) — each ``prove_*`` and ``verify_*``;
* ballots — ``encrypt_ballot`` and ``verify_ballot`` of a marked ballot of each of the
  demo manifest's styles, in total and per selection (the selection's 0/1 proof plus
  its share of the contest proofs and the tracking code).

Single process, single thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gmpy2
import nacl.public

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2e.ballot import encrypt_ballot, mark_ballot, verify_ballot  # noqa: E402
from e2e.ceremony import (  # noqa: E402
    CeremonyOutcome,
    Polynomial,
    joint_key,
    prove_commitments,
    verification_key,
)
from e2e.context import ElectionContext  # noqa: E402
from e2e.elgamal import encrypt  # noqa: E402
from e2e.group import STANDARD, TEST_GROUP, ElementModP, GroupParameters  # noqa: E402
from e2e.hashing import Tag, base_hash, extended_base_hash  # noqa: E402
from e2e.manifest import Manifest, demo_manifest  # noqa: E402
from e2e.nonces import DerivedNonces  # noqa: E402
from e2e.official import build_setup  # noqa: E402
from e2e.proofs import (  # noqa: E402
    ProofContext,
    prove_chaum_pedersen,
    prove_range,
    prove_schnorr,
    verify_chaum_pedersen,
    verify_range,
    verify_schnorr,
)
from e2e.setup import TrusteeInfo  # noqa: E402
from e2e.signing import SigningKey  # noqa: E402


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _best_per_call(function: Callable[[], object], batch: int, batches: int) -> float:
    """Seconds per call: the fastest of ``batches`` batches of ``batch`` calls."""
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(batch):
            function()
        best = min(best, (time.perf_counter() - start) / batch)
    return best


def _context(group: GroupParameters, manifest: Manifest) -> ElectionContext:
    """A closed 2-of-3 ceremony's context, computed directly (no ledger, no Argon2)."""
    h_b = base_hash(group, manifest.digest, 3, 2)
    commitments = {}
    for dealer in (1, 2, 3):
        nonces = DerivedNonces(_seed(f"bench dealer {dealer}"))
        polynomial = Polynomial(tuple(nonces.next_exponent(group) for _ in range(2)))
        commitments[dealer] = prove_commitments(polynomial, h_b, 1, dealer, nonces).commitments
    key = joint_key(commitments)
    h_e = extended_base_hash(h_b, key, [commitments[i] for i in (1, 2, 3)])
    keys = {i: SigningKey(_seed(f"bench trustee {i}")) for i in (1, 2, 3)}
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


def _full_ballot_choices(manifest: Manifest, style_id: str) -> dict[str, list[str]]:
    """Each contest of the style marked up to its limit (the most plaintext 1s)."""
    return {contest.id: [s.id for s in contest.selections[:contest.limit]]
            for _, contest in manifest.contests_of_style(style_id)}


def run(group: GroupParameters, quick: bool) -> dict[str, Any]:
    scale = 1 if quick else 3
    p = group.p
    unit_base = gmpy2.mpz(group.g_pow(123456789).value)
    exponents = [gmpy2.mpz(int.from_bytes(_seed(f"unit {i}"), "big")) for i in range(64)]
    position = iter(range(10**9))

    def unit() -> object:
        return gmpy2.powmod(unit_base, exponents[next(position) % 64], p)

    rounds = 4 * scale
    fastest_unit = [_best_per_call(unit, 64, 3)]
    results: dict[str, float] = {}

    def measure(name: str, function: Callable[[], object], batch: int = 8) -> float:
        """Fastest batch of ``function`` over fastest unit batch, rounds interleaved."""
        best_unit = best_op = float("inf")
        for _ in range(rounds):
            best_unit = min(best_unit, _best_per_call(unit, 16, 1))
            best_op = min(best_op, _best_per_call(function, batch, 1))
        fastest_unit.append(best_unit)
        results[name] = best_op / best_unit
        return results[name]

    nonces = DerivedNonces(_seed("bench proofs"))
    secret = nonces.next_exponent(group)
    public = group.g_pow(secret)
    element_value = public.value
    context = ProofContext(Tag.SELECTION_PROOF, (bytes(32), "kiosk-1", 1, 0, 0))

    # A fresh element every call: the process remembers elements that passed x^q = 1
    # (e2e.group's membership memo), so checking one element again measures only the memo.
    fresh = [element_value]
    for _ in range(rounds * 32):
        fresh.append(fresh[-1] * group.g % p)
    unseen = iter(fresh)
    measure("element check (0 < x < p, x^q = 1)", lambda: ElementModP(next(unseen), group), 32)
    measure("element check, seen before (membership memo)",
            lambda: ElementModP(element_value, group), 32)
    measure("powmod_sec (constant time, same sizes)",
            lambda: gmpy2.powmod_sec(unit_base, exponents[next(position) % 64], p), 16)
    nonce = nonces.next_exponent(group)
    measure("encrypt", lambda: encrypt(1, nonce, public), 16)

    schnorr = prove_schnorr(secret, public, context, nonces)
    measure("Schnorr prove", lambda: prove_schnorr(secret, public, context, nonces))
    measure("Schnorr verify", lambda: verify_schnorr(schnorr, public, context))

    base = group.g_pow(nonces.next_exponent(group))
    result, chaum = prove_chaum_pedersen(secret, base, context, nonces)
    measure("Chaum–Pedersen prove", lambda: prove_chaum_pedersen(secret, base, context, nonces))
    measure("Chaum–Pedersen verify",
            lambda: verify_chaum_pedersen(chaum, public, base, result, context))

    for limit in (1, 2, 4):
        ciphertext = encrypt(1, nonce, public)
        proof = prove_range(ciphertext, 1, nonce, public, limit, context, nonces)
        measure(f"range 0..{limit} prove",
                lambda c=ciphertext, lim=limit: prove_range(c, 1, nonce, public, lim, context,
                                                             nonces), 4)
        measure(f"range 0..{limit} verify",
                lambda c=ciphertext, lim=limit, pr=proof: verify_range(pr, c, public, lim,
                                                                       context), 4)

    manifest = demo_manifest()
    election = _context(group, manifest)
    ballots: dict[str, Any] = {}
    for style in manifest.ballot_styles:
        marked = mark_ballot(manifest, style.id, _full_ballot_choices(manifest, style.id))
        selections = sum(len(votes) for _, votes in marked.votes)
        counter = iter(range(10**9))

        def encrypt_one(m: object = marked, counter: Any = counter) -> object:
            n = next(counter)
            return encrypt_ballot(election, m, device_id="kiosk-1", session="bench",  # type: ignore[arg-type]
                                  sequence=n + 1, previous_code=bytes(32),
                                  master_nonce=_seed(f"xi {n}"), proof_seed=_seed(f"ps {n}"))

        ballot = encrypt_ballot(election, marked, device_id="kiosk-1", session="bench",
                                sequence=1, previous_code=bytes(32)).ballot
        encrypt_units = measure(f"ballot {style.id}: encrypt", encrypt_one, 1)
        verify_units = measure(f"ballot {style.id}: verify",
                               lambda b=ballot: verify_ballot(election, b), 1)
        del results[f"ballot {style.id}: encrypt"], results[f"ballot {style.id}: verify"]
        ballots[style.id] = {
            "contests": len(marked.votes), "selections": selections,
            "encrypt": encrypt_units, "verify": verify_units,
            "encrypt_per_selection": encrypt_units / selections,
            "verify_per_selection": verify_units / selections,
        }

    return {
        "group": group.name,
        "unit": "one gmpy2.powmod, 4096-bit modulus, 256-bit exponent"
                if group == STANDARD else f"one gmpy2.powmod on {group.name}, 256-bit exponent",
        "unit_microseconds": min(fastest_unit) * 1e6,
        "gmpy2": gmpy2.version(), "gmp": gmpy2.mp_version(),
        "python": platform.python_version(), "machine": platform.machine(),
        "operations": results,
        "ballots": ballots,
    }


def _print(report: dict[str, Any]) -> None:
    print(f"group {report['group']}; unit = {report['unit']} = "
          f"{report['unit_microseconds']:.0f} µs ({report['gmp']}, gmpy2 {report['gmpy2']})")
    width = max(len(name) for name in report["operations"]) + 2
    for name, units in report["operations"].items():
        print(f"  {name:<{width}} {units:8.2f}")
    for style, figures in report["ballots"].items():
        print(f"  ballot {style} ({figures['contests']} contests, {figures['selections']} "
              f"selections): encrypt {figures['encrypt']:.0f} "
              f"({figures['encrypt_per_selection']:.2f}/selection), verify "
              f"{figures['verify']:.0f} ({figures['verify_per_selection']:.2f}/selection)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--test-group", action="store_true",
                        help="measure on the 1022-bit test group instead of the standard one")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = run(TEST_GROUP if args.test_group else STANDARD, args.quick)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        _print(report)
        print(f"({report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
