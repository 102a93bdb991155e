"""Reusable hypothesis strategies and election fixtures for the e2e tests.

Strategies draw checked values (``ElementModQ``/``ElementModP`` built through the
checked constructors or as powers of g), ciphertexts with their openings, and proof
instances — statement, witness and a valid proof — so that property tests can
assert completeness and then mutate one field at a time.

``CeremonyScript`` plays a whole key ceremony as ledger entries, deterministically
(fixed keys, polynomials and proof seeds), without trustee workspaces, ledgers or
Argon2: ceremony tests replay or mutate its transcript, and ``election_context``
gives the ``ElectionContext`` a closed ceremony yields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nacl.public
from gmpy2 import mpz
from hypothesis import strategies as st

from e2e.ceremony import (
    Commitments,
    EncryptedShares,
    Polynomial,
    SharePlaintext,
    gather_close,
    prove_commitments,
    replay_ceremony,
    share_message,
    sign_close,
)
from e2e.context import ElectionContext
from e2e.election_ledger import election_operator
from e2e.elgamal import Ciphertext, encrypt
from e2e.group import ElementModP, ElementModQ, GroupParameters
from e2e.hashing import Tag
from e2e.keystore import KdfLimits
from e2e.ledger.client import LocalLedger, Writer
from e2e.ledger.entry import Entry, sign_entry
from e2e.ledger.store import open_store
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest, demo_manifest
from e2e.nonces import DerivedNonces
from e2e.official import advance_ceremony, build_setup
from e2e.proofs import (
    ChaumPedersenProof,
    ProofContext,
    RangeProof,
    SchnorrProof,
    prove_chaum_pedersen,
    prove_range,
    prove_schnorr,
)
from e2e.setup import ElectionSetup, TrusteeInfo
from e2e.signing import SignatureTag, SigningKey
from e2e.trustee import TrusteeWorkspace

__all__ = [
    "FAST_KDF",
    "CeremonyScript",
    "ChaumPedersenInstance",
    "RangeInstance",
    "SchnorrInstance",
    "WorkspaceElection",
    "chaum_pedersen_instances",
    "ciphertexts",
    "election_context",
    "elements",
    "exponents",
    "keypairs",
    "proof_contexts",
    "range_instances",
    "schnorr_instances",
    "seeds",
]


# --- values ------------------------------------------------------------------------------


def exponents(group: GroupParameters, min_value: int = 0) -> st.SearchStrategy[ElementModQ]:
    """Exponents in [min_value, q), through the checked constructor; ends over-weighted."""
    q = int(group.q)
    edges = st.sampled_from([v for v in (min_value, min_value + 1, q - 2, q - 1) if v >= min_value])
    return st.one_of(edges, st.integers(min_value, q - 1)).map(
        lambda e: ElementModQ(mpz(e), group))


def elements(group: GroupParameters) -> st.SearchStrategy[ElementModP]:
    """Elements of the order-q subgroup: g^e for any e (1 = g^0 included)."""
    return exponents(group).map(group.g_pow)


def keypairs(group: GroupParameters) -> st.SearchStrategy[tuple[ElementModQ, ElementModP]]:
    """(s, K = g^s) with s ≠ 0."""
    return exponents(group, 1).map(lambda s: (s, group.g_pow(s)))


def seeds() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=32, max_size=32)


def proof_contexts() -> st.SearchStrategy[ProofContext]:
    """A tag with a 32-byte hash and up to three small indices, as the system's contexts."""
    return st.builds(
        lambda tag, digest, indices: ProofContext(tag, (digest, *indices)),
        st.sampled_from(list(Tag)), seeds(), st.lists(st.integers(0, 2**16), max_size=3),
    )


@dataclass(frozen=True, slots=True)
class Opened:
    """A ciphertext with what opens it."""

    ciphertext: Ciphertext
    plaintext: int
    nonce: ElementModQ


def ciphertexts(public_key: ElementModP, max_plaintext: int = 20
                ) -> st.SearchStrategy[Opened]:
    group = public_key.group
    return st.builds(
        lambda m, r: Opened(encrypt(m, r, public_key), m, r),
        st.integers(0, max_plaintext), exponents(group, 1),
    )


# --- proof instances: statement, witness, valid proof ------------------------------------


@dataclass(frozen=True, slots=True)
class SchnorrInstance:
    secret: ElementModQ
    public: ElementModP
    context: ProofContext
    proof: SchnorrProof


@st.composite
def schnorr_instances(draw: st.DrawFn, group: GroupParameters) -> SchnorrInstance:
    secret, public = draw(keypairs(group))
    context = draw(proof_contexts())
    proof = prove_schnorr(secret, public, context, DerivedNonces(draw(seeds())))
    return SchnorrInstance(secret, public, context, proof)


@dataclass(frozen=True, slots=True)
class ChaumPedersenInstance:
    secret: ElementModQ
    public: ElementModP  # X = g^s
    base: ElementModP  # A
    result: ElementModP  # Y = A^s
    context: ProofContext
    proof: ChaumPedersenProof


@st.composite
def chaum_pedersen_instances(draw: st.DrawFn, group: GroupParameters) -> ChaumPedersenInstance:
    secret, public = draw(keypairs(group))
    base = group.g_pow(draw(exponents(group, 1)))
    context = draw(proof_contexts())
    result, proof = prove_chaum_pedersen(secret, base, context, DerivedNonces(draw(seeds())))
    return ChaumPedersenInstance(secret, public, base, result, context, proof)


@dataclass(frozen=True, slots=True)
class RangeInstance:
    public_key: ElementModP
    ciphertext: Ciphertext
    plaintext: int
    nonce: ElementModQ
    limit: int
    context: ProofContext
    proof: RangeProof


@st.composite
def range_instances(draw: st.DrawFn, group: GroupParameters, limits: Sequence[int] = (1, 2, 3, 5)
                    ) -> RangeInstance:
    limit = draw(st.sampled_from(list(limits)))
    plaintext = draw(st.integers(0, limit))
    _, key = draw(keypairs(group))
    nonce = draw(exponents(group, 1))
    context = draw(proof_contexts())
    ciphertext = encrypt(plaintext, nonce, key)
    proof = prove_range(ciphertext, plaintext, nonce, key, limit, context,
                        DerivedNonces(draw(seeds())))
    return RangeInstance(key, ciphertext, plaintext, nonce, limit, context, proof)


# --- a deterministic key ceremony, as ledger entries ---------------------------------------


def _seed(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


def fixed_polynomial(group: GroupParameters, dealer: int, k: int, attempt: int = 1
                     ) -> Polynomial:
    nonces = DerivedNonces(_seed("polynomial", dealer, attempt))
    return Polynomial(tuple(nonces.next_exponent(group) for _ in range(k)))


@dataclass
class CeremonyScript:
    """A key ceremony among trustees 1..n written as signed ledger entries.

    Every key is derived from a fixed label, so the transcript is the same on every
    run. Methods build payloads (``commitments``, ``shares``, ``confirm``, ``close``) and
    ``add`` appends an entry; ``progress()`` replays the transcript so far. Nothing is
    checked here beyond what ``replay_ceremony`` checks.
    """

    setup: ElectionSetup
    trustee_keys: dict[int, SigningKey]
    box_keys: dict[int, nacl.public.PrivateKey]
    official_key: SigningKey
    polynomials: dict[tuple[int, int], Polynomial] = field(default_factory=dict)
    entries: list[tuple[int, Entry]] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, group: GroupParameters, n: int = 3, k: int = 2,
               manifest: Manifest | None = None) -> CeremonyScript:
        manifest = manifest or demo_manifest()
        trustee_keys = {i: SigningKey(_seed("trustee", i)) for i in range(1, n + 1)}
        box_keys = {i: nacl.public.PrivateKey(_seed("box", i)) for i in range(1, n + 1)}
        official = SigningKey(_seed("official"))
        setup = build_setup(
            manifest=manifest, group=group, threshold=k,
            trustees=[TrusteeInfo(i, f"Trustee {i}", f"trustee-{i}", trustee_keys[i].verify_key,
                                  bytes(box_keys[i].public_key)) for i in range(1, n + 1)],
            officials=[("official-1", official.verify_key)],
            devices=[("kiosk-1", SigningKey(_seed("kiosk-1")).verify_key, "Ward 1")],
            operator_key=SigningKey(_seed("operator")).verify_key, log_origin="test",
        )
        return cls(setup, trustee_keys, box_keys, official)

    @property
    def group(self) -> GroupParameters:
        return self.setup.group

    def polynomial(self, dealer: int, attempt: int = 1) -> Polynomial:
        key = (dealer, attempt)
        if key not in self.polynomials:
            self.polynomials[key] = fixed_polynomial(self.group, dealer, self.setup.threshold,
                                                     attempt)
        return self.polynomials[key]

    # --- payloads ----------------------------------------------------------------------

    def commitments(self, dealer: int, attempt: int = 1) -> Commitments:
        progress = self.progress()
        return prove_commitments(self.polynomial(dealer, attempt), progress.base_hash, attempt,
                                 dealer, DerivedNonces(_seed("schnorr", dealer, attempt)))

    def seal(self, dealer: int, recipient: int, share: ElementModQ, attempt: int = 1) -> bytes:
        base_hash = self.progress().base_hash
        signature = self.trustee_keys[dealer].sign(
            SignatureTag.CEREMONY_SHARE, self.setup.election_id,
            share_message(base_hash, attempt, dealer, recipient, share))
        plaintext = SharePlaintext(attempt, dealer, recipient, share, signature)
        box = nacl.public.Box(self.box_keys[dealer], self.box_keys[recipient].public_key)
        return bytes(box.encrypt(plaintext.to_bytes(), _seed("box-nonce", dealer, recipient)[:24]))

    def shares(self, dealer: int, attempt: int = 1,
               tamper: Callable[[int, ElementModQ], ElementModQ] | None = None
               ) -> EncryptedShares:
        progress = self.progress()
        boxes = []
        for recipient in progress.participants:
            if recipient == dealer:
                continue
            share = self.polynomial(dealer, attempt).evaluate(recipient)
            if tamper is not None:
                share = tamper(recipient, share)
            boxes.append((recipient, self.seal(dealer, recipient, share, attempt)))
        return EncryptedShares(attempt, dealer, tuple(boxes))

    def confirm(self, trustee: int) -> bytes:
        progress = self.progress()
        return sign_close(self.trustee_keys[trustee], self.setup, progress, trustee).to_payload()

    def close(self) -> bytes:
        return gather_close(self.progress()).to_payload()

    # --- the transcript ------------------------------------------------------------------

    def entry(self, writer_id: str, entry_type: EntryType, payload: bytes) -> tuple[int, Entry]:
        """A signed entry at the next ledger index (index 0 is the setup), not yet added."""
        if writer_id.startswith("trustee-"):
            key = self.trustee_keys[int(writer_id.removeprefix("trustee-"))]
        else:
            key = self.official_key
        sequence = self.sequences.get(writer_id, 0)
        entry = sign_entry(key, str(entry_type), self.setup.election_id, writer_id, sequence,
                           payload)
        return len(self.entries) + 1, entry

    def add(self, writer_id: str, entry_type: EntryType, payload: bytes) -> tuple[int, Entry]:
        indexed = self.entry(writer_id, entry_type, payload)
        self.entries.append(indexed)
        self.sequences[writer_id] = self.sequences.get(writer_id, 0) + 1
        return indexed

    def add_trustee(self, trustee: int, entry_type: EntryType, payload: bytes
                    ) -> tuple[int, Entry]:
        return self.add(f"trustee-{trustee}", entry_type, payload)

    def progress(self, extra: Sequence[tuple[int, Entry]] = ()):  # -> CeremonyProgress
        return replay_ceremony(self.setup, [*self.entries, *extra])

    def run_attempt(self, attempt: int = 1) -> None:
        """Every participant commits, deals, confirms; the official closes."""
        participants = self.progress().participants
        for dealer in participants:
            self.add_trustee(dealer, EntryType.CEREMONY_COMMITMENTS,
                             self.commitments(dealer, attempt).to_payload())
        for dealer in participants:
            self.add_trustee(dealer, EntryType.CEREMONY_SHARES,
                             self.shares(dealer, attempt).to_payload())
        for trustee in participants:
            self.add_trustee(trustee, EntryType.CEREMONY_CONFIRM, self.confirm(trustee))
        self.add("official-1", EntryType.CEREMONY_CLOSE, self.close())

    def key_share(self, trustee: int) -> ElementModQ:
        """s_ℓ = Σ_i P_i(ℓ) over the participants of the current attempt."""
        progress = self.progress()
        total = self.group.zero_exponent()
        for dealer in progress.participants:
            total = total + self.polynomial(dealer, progress.attempt).evaluate(trustee)
        return total


def election_context(script: CeremonyScript) -> ElectionContext:
    """The context of a script whose ceremony has closed."""
    outcome = script.progress().outcome
    if outcome is None:
        raise AssertionError("the scripted ceremony has not closed")
    return ElectionContext(script.setup, outcome)


# --- the real thing: trustee workspaces and a ledger -----------------------------------------

# libsodium's minimum Argon2id cost: what the ceremony tests test is not the KDF (the
# keystore tests use INTERACTIVE_LIMITS), and the ceremony reads its secrets often.
FAST_KDF = KdfLimits(1, 8192)
PASSPHRASE = b"correct horse battery staple"


@dataclass
class WorkspaceElection:
    """n trustee workspaces, a SQLite ledger behind the election operator, an official."""

    directory: Path
    workspaces: dict[int, TrusteeWorkspace]
    ledger: LocalLedger
    official: Writer
    setup: ElectionSetup

    @classmethod
    def create(cls, directory: Path, group: GroupParameters, n: int = 3, k: int = 2
               ) -> WorkspaceElection:
        manifest = demo_manifest()
        workspaces = {
            i: TrusteeWorkspace.create(directory / f"trustee-{i}", election_id=manifest.election_id,
                                       index=i, name=f"Trustee {i}", passphrase=PASSPHRASE,
                                       limits=FAST_KDF)
            for i in range(1, n + 1)
        }
        official, operator = SigningKey(_seed("official")), SigningKey(_seed("operator"))
        setup = build_setup(
            manifest=manifest, group=group, threshold=k,
            trustees=[w.card.info() for w in workspaces.values()],
            officials=[("official-1", official.verify_key)],
            devices=[("kiosk-1", SigningKey(_seed("kiosk-1")).verify_key, "Ward 1")],
            operator_key=operator.verify_key, log_origin="test",
        )
        store = open_store(directory / "ledger.sqlite")
        ledger = LocalLedger(election_operator(store, operator, manifest.election_id,
                                               allow_test_group=True))
        writer = Writer(ledger, official, "official-1")
        writer.write(EntryType.SETUP, setup.to_payload())
        return cls(directory, workspaces, ledger, writer, setup)

    def round(self, *, silent: Sequence[int] = (),
              tamper: Mapping[int, Callable[[int, ElementModQ], ElementModQ]] | None = None,
              ) -> list[str]:
        """Every trustee not ``silent`` takes its due steps, then the official; what was done."""
        done = []
        for index, workspace in self.workspaces.items():
            if index in silent:
                continue
            steps = workspace.advance(self.ledger, allow_test_group=True,
                                      tamper_share=(tamper or {}).get(index))
            done += [f"trustee {index}: {step}" for step in steps]
        official = advance_ceremony(self.ledger, self.official, allow_test_group=True)
        if official is not None:
            done.append(f"official: {official}")
        return done

    def run(self, rounds: int = 6, **options: object) -> list[str]:
        """Rounds until nothing happens (or ``rounds`` are spent); everything that was done."""
        done: list[str] = []
        for _ in range(rounds):
            steps = self.round(**options)  # type: ignore[arg-type]
            if not steps:
                break
            done += steps
        return done

    def progress(self):  # -> CeremonyProgress
        return replay_ceremony(self.setup, self.ledger.entries(0))
