"""Voting on the ledger: cast and challenged ballots, device chains, the device's close.

docs/spec.md §12. Entry payloads:

* ``ballot``: ``{"version": 1, "ballot": <encrypted ballot>}`` — a cast ballot;
* ``challenge``: ``{"version": 1, "ballot": …, "opening": …, "paper_ballot_id": hex16}`` —
  a spoiled ballot with its Benaloh opening and the ID printed on its (now SPOILED) paper;
* ``device-close``: ``{"version": 1, "device_id", "session", "count", "last_code"}``.

Every device keeps one chain: its ballots (cast and challenged) numbered 1, 2, … with
each ``previous_code`` the tracking code before it, the first one's the chain seed.
``DeviceChains`` checks this for the ledger's admission and for the verifier alike;
``alpha_keys`` gives the unique keys that keep any α from appearing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from e2e.ballot import (
    BallotOpening,
    EncryptedBallot,
    MarkedBallot,
    PendingBallot,
    chain_seed,
    encrypt_ballot,
    verify_ballot,
    verify_opening,
)
from e2e.context import ElectionContext
from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import InvalidBallot, LedgerError, StateError, UsageError
from e2e.group import GroupParameters, constant_time_equal
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AdmissionCheck, AppendResult, LedgerState
from e2e.ledger.types import EntryType
from e2e.signing import SigningKey

__all__ = [
    "CastBallot",
    "ChallengedBallot",
    "DeviceChains",
    "DeviceClose",
    "VotingDevice",
    "alpha_keys",
    "voting_admission_checks",
]


@dataclass(frozen=True, slots=True)
class CastBallot:
    ballot: EncryptedBallot

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "ballot": self.ballot.to_json()})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> CastBallot:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        ballot_reader = obj.obj("ballot")
        ballot = EncryptedBallot.from_json(ballot_reader, group)
        ballot_reader.done()
        obj.done()
        return cls(ballot)


@dataclass(frozen=True, slots=True)
class ChallengedBallot:
    ballot: EncryptedBallot
    opening: BallotOpening
    paper_ballot_id: bytes

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "ballot": self.ballot.to_json(),
                               "opening": self.opening.to_json(),
                               "paper_ballot_id": self.paper_ballot_id.hex()})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> ChallengedBallot:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        ballot_reader = obj.obj("ballot")
        ballot = EncryptedBallot.from_json(ballot_reader, group)
        ballot_reader.done()
        opening_reader = obj.obj("opening")
        opening = BallotOpening.from_json(opening_reader, ballot.style_id)
        opening_reader.done()
        result = cls(ballot, opening, obj.hex_bytes("paper_ballot_id", 16))
        obj.done()
        return result


@dataclass(frozen=True, slots=True)
class DeviceClose:
    device_id: str
    session: str
    count: int
    last_code: bytes

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "device_id": self.device_id, "session": self.session,
                               "count": self.count, "last_code": self.last_code.hex()})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> DeviceClose:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.string("device_id", 64), obj.string("session", 64),
                     obj.integer("count"), obj.hex_bytes("last_code", 32))
        obj.done()
        return result


def alpha_keys(ballot: EncryptedBallot) -> list[bytes]:
    """One unique key per selection's α: no α may appear twice anywhere in the election."""
    return [b"alpha:" + hashlib.sha256(s.ciphertext.alpha.to_bytes()).digest()
            for contest in ballot.contests for s in contest.selections]


@dataclass(slots=True)
class _Chain:
    session: str
    count: int
    last_code: bytes
    closed: bool = False


@dataclass(slots=True)
class DeviceChains:
    """Every device's chain so far: checks the next ballot or close against it."""

    extended_base_hash: bytes
    chains: dict[str, _Chain] = field(default_factory=dict)

    def check_next(self, writer_id: str, ballot: EncryptedBallot) -> None:
        if ballot.device_id != writer_id:
            raise InvalidBallot(f"ballot names device {ballot.device_id!r} but was written by "
                                f"{writer_id!r}", ballot.label)
        chain = self.chains.get(ballot.device_id)
        if chain is not None and chain.closed:
            raise InvalidBallot("ballot after the device closed its chain", ballot.label)
        if chain is None:
            expected_code, expected_sequence = chain_seed(
                self.extended_base_hash, ballot.device_id, ballot.session), 1
        else:
            if ballot.session != chain.session:
                raise InvalidBallot(f"session {ballot.session!r} differs from the chain's "
                                    f"{chain.session!r}", ballot.label)
            expected_code, expected_sequence = chain.last_code, chain.count + 1
        if ballot.sequence != expected_sequence:
            raise InvalidBallot(f"sequence {ballot.sequence}, expected {expected_sequence}",
                                ballot.label)
        if not constant_time_equal(ballot.previous_code, expected_code):
            raise InvalidBallot("previous code does not continue the device's chain",
                                ballot.label)

    def advance(self, ballot: EncryptedBallot) -> None:
        chain = self.chains.get(ballot.device_id)
        if chain is None:
            self.chains[ballot.device_id] = _Chain(ballot.session, ballot.sequence,
                                                   ballot.tracking_code)
        else:
            chain.count = ballot.sequence
            chain.last_code = ballot.tracking_code

    def check_close(self, writer_id: str, close: DeviceClose) -> None:
        where = f"device {close.device_id} close"
        if close.device_id != writer_id:
            raise InvalidBallot(f"close names device {close.device_id!r} but was written by "
                                f"{writer_id!r}", where)
        chain = self.chains.get(close.device_id)
        count = chain.count if chain else 0
        last = chain.last_code if chain else chain_seed(self.extended_base_hash, close.device_id,
                                                        close.session)
        if chain is not None and chain.closed:
            raise InvalidBallot("the device closed its chain twice", where)
        if close.count != count:
            raise InvalidBallot(f"device says {close.count} ballots, its chain holds {count}",
                                where)
        if not constant_time_equal(close.last_code, last):
            raise InvalidBallot("device's last code differs from its chain's last ballot", where)

    def mark_closed(self, close: DeviceClose) -> None:
        chain = self.chains.get(close.device_id)
        if chain is None:
            self.chains[close.device_id] = _Chain(close.session, 0, close.last_code, closed=True)
        else:
            chain.closed = True

    def unclosed(self) -> list[str]:
        return sorted(d for d, chain in self.chains.items() if not chain.closed)


# --- admission at the ledger ------------------------------------------------------------


def voting_admission_checks(context_of: dict[str, ElectionContext]
                            ) -> dict[str, AdmissionCheck]:
    """Content checks for the operator: every ballot, challenge and device close.

    ``context_of`` is filled with the election context (key "context") once the ceremony
    has closed; the operator's observer does that.
    """

    def chains(state: LedgerState) -> DeviceChains:
        context = context_of.get("context")
        if context is None:
            raise LedgerError("no election context: the key ceremony has not closed")
        tracker = state.extras.get("chains")
        if not isinstance(tracker, DeviceChains):
            tracker = DeviceChains(context.extended_base_hash)
            state.extras["chains"] = tracker
        return tracker

    def check_ballot(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        tracker = chains(state)
        context = context_of["context"]
        cast = CastBallot.from_payload(entry.payload, context.group, "payload")
        tracker.check_next(entry.writer_id, cast.ballot)
        verify_ballot(context, cast.ballot)
        return [b"code:" + cast.ballot.tracking_code, *alpha_keys(cast.ballot)]

    def check_challenge(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        tracker = chains(state)
        context = context_of["context"]
        challenged = ChallengedBallot.from_payload(entry.payload, context.group, "payload")
        tracker.check_next(entry.writer_id, challenged.ballot)
        verify_ballot(context, challenged.ballot)
        verify_opening(context, challenged.ballot, challenged.opening)
        return [b"code:" + challenged.ballot.tracking_code,
                b"paper:" + challenged.paper_ballot_id, *alpha_keys(challenged.ballot)]

    def check_close(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        close = DeviceClose.from_payload(entry.payload, "payload")
        chains(state).check_close(entry.writer_id, close)
        return ()

    return {EntryType.BALLOT: check_ballot, EntryType.CHALLENGE: check_challenge,
            EntryType.DEVICE_CLOSE: check_close}


def observe_voting(state: LedgerState, index: int, entry: Entry,
                   context_of: dict[str, ElectionContext]) -> None:
    """Advance the device chains after an accepted ballot, challenge or close."""
    context = context_of.get("context")
    if context is None:
        return
    tracker = state.extras.get("chains")
    if not isinstance(tracker, DeviceChains):
        tracker = DeviceChains(context.extended_base_hash)
        state.extras["chains"] = tracker
    if entry.entry_type == EntryType.BALLOT:
        tracker.advance(CastBallot.from_payload(entry.payload, context.group, "payload").ballot)
    elif entry.entry_type == EntryType.CHALLENGE:
        tracker.advance(
            ChallengedBallot.from_payload(entry.payload, context.group, "payload").ballot)
    elif entry.entry_type == EntryType.DEVICE_CLOSE:
        tracker.mark_closed(DeviceClose.from_payload(entry.payload, "payload"))


# --- the voting device --------------------------------------------------------------------


class VotingDevice:
    """A kiosk's library: encrypt a marked ballot, then cast or challenge it, then close.

    One pending ballot at a time; its secrets are dropped when it is cast.
    """

    def __init__(self, context: ElectionContext, ledger: LedgerClient, key: SigningKey,
                 device_id: str, session: str) -> None:
        self.context = context
        self._writer = Writer(ledger, key, device_id)
        self.device_id = device_id
        self.session = session
        self._sequence = 0
        self._last_code = chain_seed(context.extended_base_hash, device_id, session)
        self._pending: PendingBallot | None = None
        self._closed = False
        self._resume(ledger)

    def _resume(self, ledger: LedgerClient) -> None:
        """Continue the chain this device already has on the ledger (after a restart)."""
        group = self.context.group
        for index, entry in ledger.entries(0):
            if entry.writer_id != self.device_id:
                continue
            if entry.entry_type == EntryType.BALLOT:
                ballot = CastBallot.from_payload(entry.payload, group, f"entry {index}").ballot
            elif entry.entry_type == EntryType.CHALLENGE:
                ballot = ChallengedBallot.from_payload(entry.payload, group,
                                                       f"entry {index}").ballot
            elif entry.entry_type == EntryType.DEVICE_CLOSE:
                self._closed = True
                continue
            else:
                continue
            if ballot.session != self.session:
                raise StateError(f"this device's chain runs in session {ballot.session!r}")
            self._sequence, self._last_code = ballot.sequence, ballot.tracking_code

    @property
    def pending(self) -> PendingBallot | None:
        return self._pending

    def encrypt(self, marked: MarkedBallot) -> PendingBallot:
        if self._closed:
            raise StateError("this device has closed its chain")
        if self._pending is not None:
            raise StateError("a ballot is waiting to be cast or challenged")
        pending = encrypt_ballot(self.context, marked, device_id=self.device_id,
                                 session=self.session, sequence=self._sequence + 1,
                                 previous_code=self._last_code)
        self._pending = pending
        return pending

    def _require_pending(self) -> PendingBallot:
        if self._pending is None:
            raise StateError("no ballot is waiting to be cast or challenged")
        return self._pending

    def _done(self, pending: PendingBallot) -> None:
        """After the ledger accepted the ballot: move the chain on and drop the secrets."""
        self._pending = None
        self._sequence = pending.ballot.sequence
        self._last_code = pending.ballot.tracking_code
        pending.erase()

    def cast(self) -> AppendResult:
        """Append the pending ballot as cast; on refusal it stays pending (retry or challenge)."""
        pending = self._require_pending()
        result = self._writer.write(EntryType.BALLOT, CastBallot(pending.ballot).to_payload())
        self._done(pending)
        return result

    def challenge(self, paper_ballot_id: bytes) -> AppendResult:
        """Publish the pending ballot's opening; its paper (``paper_ballot_id``) is spoiled."""
        if len(paper_ballot_id) != 16:
            raise UsageError("a paper ballot ID is 16 bytes")
        pending = self._require_pending()
        payload = ChallengedBallot(pending.ballot, pending.opening(), paper_ballot_id)
        result = self._writer.write(EntryType.CHALLENGE, payload.to_payload())
        self._done(pending)
        return result

    def close(self) -> AppendResult:
        if self._pending is not None:
            raise StateError("a ballot is still waiting to be cast or challenged")
        result = self._writer.write(EntryType.DEVICE_CLOSE, DeviceClose(
            self.device_id, self.session, self._sequence, self._last_code).to_payload())
        self._closed = True
        return result
