"""A witness: an independent copy of the ledger that cosigns the heads it has checked.

docs/spec.md §16.2. A witness's directory::

    WITNESS/
      witness.json    {"version": 1, "witness_id", "election_id", "test_group": bool,
                       "key": hex (its Ed25519 public key, registered in the setup),
                       "store": "sqlite:witness.sqlite" | "postgresql://…"}
      witness.key     its Ed25519 seed, hex, mode 0600 (a server key, like the operator's)
      witness.sqlite  its own copy of the log, its heads and cosignatures

Each ``Witness.sync`` takes the operator's latest head and, before cosigning it:

1. fetches only the entries it does not have yet, and checks each one: envelope
   encoding, index, chain link, and the operator's admission rules (writer registered
   and not revoked, entry signature, sequence number, role, phase: ``LedgerState``);
2. keeps each verified envelope in its own store, byte for byte;
3. checks the head: the operator's signature, origin and election (from the setup),
   a size not below and a time strictly after its last cosigned head, a consistency
   proof from that head, and a root equal to its own copy's root at that size;
4. cosigns (time: its own clock, strictly increasing), keeps the head with every valid
   cosignature it has seen, and submits its cosignature to the operator.

A head that contradicts one it cosigned is refused with an ``EquivocationDetected``
carrying the proof. The witness serves its copy (``LedgerNode`` in witness mode), so
voters and verifiers can fetch cosigned heads and proofs from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import LedgerError, PaperchainError, SecretStoreError, UsageError
from e2e.keystore import atomic_write
from e2e.ledger.entry import GENESIS_PREVIOUS, Envelope, check_chain, decode_envelope
from e2e.ledger.equivocation import EquivocationProof
from e2e.ledger.heads import (
    Clock,
    Cosignature,
    CosignedHead,
    HeadLog,
    HeadPolicy,
    cosign_head,
    system_clock,
)
from e2e.ledger.monitor import HeldHead, Party, compare_heads
from e2e.ledger.node import LedgerNode, LedgerView, NodeInfo
from e2e.ledger.operator import LedgerState
from e2e.ledger.store import LogStore, PendingEntry, directory_store_location, open_store
from e2e.merkle import verify_consistency
from e2e.setup import ElectionSetup, WitnessInfo
from e2e.signing import SigningKey, VerifyKey

__all__ = [
    "EquivocationDetected",
    "SyncResult",
    "Witness",
    "WitnessConfig",
    "init_witness_directory",
    "open_witness",
    "read_witness_card",
]

CONFIG = "witness.json"
KEY_FILE = "witness.key"
_PAGE = 500


class EquivocationDetected(LedgerError):
    """The operator's head contradicts one this witness cosigned (``proof`` shows it)."""

    def __init__(self, reason: str, proof: EquivocationProof | None = None,
                 where: str | None = None) -> None:
        super().__init__(reason, where)
        self.proof = proof


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    directory: Path
    witness_id: str
    election_id: str
    test_group: bool
    key: VerifyKey
    store_url: str

    def store_location(self) -> str:
        return directory_store_location(self.directory, self.store_url,
                                        str(self.directory / CONFIG))


@dataclass(frozen=True, slots=True)
class SyncResult:
    new_entries: int
    head: CosignedHead | None
    cosigned: bool

    def describe(self) -> str:
        if self.head is None:
            return "the ledger is empty: nothing to cosign"
        verb = "cosigned" if self.cosigned else "already cosigned"
        return f"{verb} the {self.head.head.describe()} after {self.new_entries} new entries"


def init_witness_directory(directory: Path, *, witness_id: str, election_id: str,
                           test_group: bool = False, store_url: str = "sqlite:witness.sqlite"
                           ) -> WitnessConfig:
    directory = Path(directory)
    directory_store_location(directory, store_url, "--store")  # refuse before writing
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CONFIG).exists():
        raise UsageError("this directory already holds a witness", str(directory))
    key = SigningKey.generate()
    atomic_write(directory / KEY_FILE, key.seed.hex().encode(), mode=0o600)
    config = WitnessConfig(directory, witness_id, election_id, test_group, key.verify_key,
                           store_url)
    atomic_write(directory / CONFIG, canonical_json({
        "version": 1, "witness_id": witness_id, "election_id": election_id,
        "test_group": test_group, "key": key.verify_key.to_hex(), "store": store_url}))
    return config


def read_witness_card(path: Path, url: str = "") -> WitnessInfo:
    """The public part of a witness (its ID and key) from its directory or witness.json."""
    path = Path(path)
    config_path = path / CONFIG if path.is_dir() else path
    where = str(config_path)
    try:
        raw = config_path.read_bytes()
    except OSError:
        raise UsageError("not a witness (witness.json missing)", where) from None
    obj = ObjectReader(parse_json_object(raw, where), where)
    obj.version([1])
    return WitnessInfo(obj.string("witness_id", 64),
                       VerifyKey.from_hex(obj.string("key", 64), obj.path("key")), url)


def open_witness(directory: Path, clock: Clock = system_clock) -> Witness:
    directory = Path(directory)
    where = str(directory / CONFIG)
    try:
        raw = (directory / CONFIG).read_bytes()
    except OSError:
        raise UsageError("not a witness directory (witness.json missing)",
                         str(directory)) from None
    obj = ObjectReader(parse_json_object(raw, where), where)
    obj.version([1])
    test_group = obj.raw("test_group")
    if not isinstance(test_group, bool):
        raise UsageError("test_group must be true or false", f"{where}.test_group")
    config = WitnessConfig(directory, obj.string("witness_id", 64), obj.string("election_id", 64),
                           test_group, VerifyKey.from_hex(obj.string("key", 64), where),
                           obj.string("store", 1024))
    obj.done()
    key_path = directory / KEY_FILE
    if key_path.stat().st_mode & 0o077:
        raise SecretStoreError("witness.key is readable by others (expected mode 0600)",
                               str(key_path))
    try:
        key = SigningKey(bytes.fromhex(key_path.read_text().strip()))
    except (OSError, ValueError):
        raise SecretStoreError("witness.key is unreadable or malformed", str(key_path)) from None
    if key.verify_key != config.key:
        raise SecretStoreError("witness.key does not match witness.json", str(key_path))
    return Witness(config, key, open_store(config.store_location()), clock)


class Witness:
    """One witness over its own store (module docstring). Thread-safe: one sync at a time."""

    def __init__(self, config: WitnessConfig, key: SigningKey, store: LogStore,
                 clock: Clock = system_clock) -> None:
        self.config = config
        self.key = key
        self.store = store
        self.clock = clock
        self.heads = HeadLog(store)
        self._lock = threading.Lock()
        self._state: LedgerState | None = None
        self._node: LedgerNode | None = None

    # --- what it serves ----------------------------------------------------------------

    def setup(self) -> ElectionSetup | None:
        state = self._local_state()
        return state.setup

    def node(self) -> LedgerNode:
        """The witness node serving this copy (available once the setup is copied)."""
        if self._node is None:
            setup = self.setup()
            if setup is None:
                raise UsageError("the witness holds no copy yet: sync it first")
            info = NodeInfo("witness", self.config.election_id, setup.log_origin,
                            setup.operator_key, self.config.test_group, self.config.witness_id)
            self._node = LedgerNode(self.store, info)
        return self._node

    # --- local state -------------------------------------------------------------------

    def _local_state(self) -> LedgerState:
        """The admission state after every entry in the local copy (rebuilt once)."""
        if self._state is None:
            state = LedgerState(self.config.election_id, self.config.test_group)
            for index, raw in enumerate(self.store.envelopes(0, self.store.size())):
                state.observe(index, decode_envelope(raw, f"stored envelope {index}").entry())
            self._state = state
        return self._state

    def policy(self) -> HeadPolicy:
        setup = self.setup()
        if setup is None:
            raise UsageError("the witness holds no copy of the setup yet")
        policy = HeadPolicy.from_setup(setup)
        if self.config.witness_id not in policy.witness_keys():
            raise UsageError(f"{self.config.witness_id!r} is not a witness in this election's "
                             "setup")
        if policy.witness_keys()[self.config.witness_id] != self.key.verify_key:
            raise UsageError(f"the setup registers another key for {self.config.witness_id!r}")
        return policy

    # --- syncing -----------------------------------------------------------------------

    def _copy(self, source: LedgerView, end: int) -> int:
        """Fetch, check and keep the entries from the local size up to ``end``."""
        state = self._local_state()
        size = self.store.size()
        previous = GENESIS_PREVIOUS if size == 0 else self.store.leaf_hash(size - 1)
        copied = 0
        while size < end:
            batch: list[tuple[int, bytes, PendingEntry]] = []
            failure: PaperchainError | None = None
            for index, raw in enumerate(source.envelope_range(size, min(end, size + _PAGE)),
                                        start=size):
                where = f"ledger entry {index}"
                try:
                    envelope = decode_envelope(raw, where)
                    check_chain(envelope, index, previous)
                    entry = envelope.entry()
                    state.check(index, entry)
                except PaperchainError as err:
                    failure = err if err.where else err.at(where)
                    break
                state.observe(index, entry)
                batch.append((index, raw, PendingEntry(entry_bytes=envelope.entry_bytes,
                                                       writer_id=entry.writer_id,
                                                       writer_seq=entry.sequence,
                                                       entry_type=entry.entry_type)))
                previous = envelope.leaf_hash
            if batch:
                expected = {index: raw for index, raw, _ in batch}

                def make_envelope(index: int, previous_hash: bytes, entry_bytes: bytes,
                                  expected: dict[int, bytes] = expected) -> bytes:
                    rebuilt = Envelope(index, previous_hash, entry_bytes).encode()
                    if rebuilt != expected.get(index):
                        raise LedgerError("the local copy and the operator's envelope differ",
                                          f"ledger entry {index}")
                    return rebuilt

                self.store.append([pending for _, _, pending in batch], make_envelope)
                size += len(batch)
                copied += len(batch)
            if failure is not None:
                self._state = None  # the refused entry may have moved the state halfway
                raise LedgerError(f"refused to copy: {failure.reason}", failure.where)
            if not batch:
                raise LedgerError(f"the operator served no entry at {size} below its head "
                                  f"of size {end}")
        return copied

    def _conflict(self, source: LedgerView, mine: CosignedHead, theirs: CosignedHead,
                  policy: HeadPolicy, reason: str) -> EquivocationDetected:
        local = Party(f"witness {self.config.witness_id}", self.node())
        remote = Party("operator", source)
        try:
            outcome = compare_heads(policy, HeldHead(local, mine), HeldHead(remote, theirs))
        except PaperchainError as err:
            outcome = f"{reason}; no proof could be built: {err}"
        if isinstance(outcome, EquivocationProof):
            return EquivocationDetected(f"{reason}: {outcome.describe()}", outcome)
        return EquivocationDetected(outcome or reason)

    def sync(self, source: LedgerView, *, submit: bool = True) -> SyncResult:
        """Copy, check and cosign the source's latest head (module docstring)."""
        with self._lock:
            head = source.latest_head()
            if head is None:
                return SyncResult(0, None, False)
            mine = self.heads.latest()
            local = self.store.size()
            if mine is not None and local < mine.size:
                raise LedgerError(f"the local copy holds {local} entries, fewer than its last "
                                  f"cosigned head's {mine.size}: the witness store is damaged")
            if mine is not None:
                policy = self.policy()
                policy.verify_signed(head.signed, "the operator's latest head")
                if head.size < mine.size or (head.size == mine.size and head.root != mine.root):
                    raise self._conflict(source, mine, head, policy,
                                         "the operator's head contradicts one this witness "
                                         "cosigned")
                if head.size == mine.size:
                    self._gather(source, mine, policy, submit)
                    return SyncResult(0, self.heads.latest(), False)
                if head.time <= mine.time:
                    raise self._conflict(source, mine, head, policy,
                                         "the operator's larger head is not signed after the "
                                         "last one this witness cosigned")
                try:
                    proof = source.consistency_proof(mine.size, head.size)
                    verify_consistency(mine.size, head.size, proof, mine.root, head.root)
                except PaperchainError as err:
                    raise self._conflict(source, mine, head, policy,
                                         f"no consistency from the cosigned head: "
                                         f"{err.reason}") from None
            if local > head.size:
                raise LedgerError(f"the local copy already holds {local} entries, more than the "
                                  f"operator's latest head ({head.size}): the operator must "
                                  "explain")
            copied = self._copy(source, head.size)
            policy = self.policy()
            policy.verify_signed(head.signed, "the operator's latest head")
            root = self.store.root(head.size)
            if root != head.root:
                raise LedgerError(f"the operator's {head.head.describe()} does not match the "
                                  f"entries it served (their root is {root.hex()[:16]}…)")
            stamp = self.clock()
            if mine is not None:
                own = next((c for c in mine.cosignatures
                            if c.witness_id == self.config.witness_id), None)
                if own is not None:
                    stamp = max(stamp, own.time + 1)
            cosignature = cosign_head(self.key, self.config.witness_id, head.head, stamp)
            self.heads.add(head.signed, policy.operator_key)
            self.heads.add_cosignature(head.size, cosignature)
            self._keep_valid(policy, head.size, head.cosignatures)
            if submit:
                self._submit(source, head, cosignature)
            return SyncResult(copied, self.heads.latest(), True)

    def _keep_valid(self, policy: HeadPolicy, size: int, cosignatures: tuple[Cosignature, ...]
                    ) -> None:
        kept = self.heads.at(size)
        if kept is None:
            return
        for cosignature in cosignatures:
            if cosignature.witness_id == self.config.witness_id:
                continue
            try:
                policy.verify_cosignature(kept.head, cosignature)
            except PaperchainError:
                continue
            self.heads.add_cosignature(size, cosignature)

    def _gather(self, source: LedgerView, mine: CosignedHead, policy: HeadPolicy,
                submit: bool) -> None:
        """Pick up other witnesses' cosignatures of our latest head; resubmit ours."""
        theirs = source.head_at(mine.size)
        if theirs is not None and theirs.root == mine.root:
            self._keep_valid(policy, mine.size, theirs.cosignatures)
            own = next((c for c in mine.cosignatures if c.witness_id == self.config.witness_id),
                       None)
            if submit and own is not None and all(
                    c.witness_id != self.config.witness_id for c in theirs.cosignatures):
                self._submit(source, mine, own)

    def _submit(self, source: LedgerView, head: CosignedHead, cosignature: Cosignature) -> None:
        submit = getattr(source, "submit_cosignature", None)
        if callable(submit):
            submit(head.size, head.root, cosignature)

    def run(self, source: LedgerView, *, interval: float, stop: threading.Event,
            report: Callable[[str], None] = lambda _: None) -> None:
        """Sync every ``interval`` seconds until ``stop`` is set; report what happens.

        A refused sync (the operator unreachable, a bad entry or head) is reported and
        retried; ``EquivocationDetected`` ends the loop: the operator contradicted a head
        this witness cosigned, and the caller keeps the proof."""
        while not stop.is_set():
            try:
                result = self.sync(source)
                if result.cosigned:
                    report(result.describe())
            except EquivocationDetected:
                raise
            except PaperchainError as err:
                report(f"refused: {err}")
            stop.wait(interval)
