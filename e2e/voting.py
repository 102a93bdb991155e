"""Voting on the ledger: cast and challenged ballots, device chains, the device's close.

docs/spec.md §12. Entry payloads:

* ``ballot``: ``{"version": 1, "ballot": <encrypted ballot>}`` — a cast ballot; or its
  compact form (version 2), ``"PCCB" ‖ u8(2) ‖ <the ballot's compact form>`` (``CastBallot``,
  ``EncryptedBallot.to_compact``), the same ballot in half the bytes, read without JSON;
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
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

from e2e.ballot import (
    MAX_ID,
    BallotOpening,
    EncryptedBallot,
    MarkedBallot,
    PendingBallot,
    RawBallot,
    chain_seed,
    encrypt_ballot,
    read_raw_ballot,
    read_raw_compact,
    verify_ballot,
    verify_opening,
    verify_raw_ballots,
)
from e2e.context import ElectionContext
from e2e.cvr import CHUNK, CvrStore, encrypt_cvr, publish_cvrs
from e2e.encoding import (
    ObjectReader,
    Reader,
    canonical_json,
    parse_canonical_json,
    parse_json_object,
)
from e2e.errors import (
    EncodingError,
    InvalidBallot,
    LedgerError,
    PaperchainError,
    StateError,
    UsageError,
)
from e2e.group import GroupParameters, constant_time_equal
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AdmissionCheck, AppendResult, LedgerState
from e2e.ledger.types import EntryType
from e2e.signing import SigningKey
from e2e.verdicts import VERDICTS

__all__ = [
    "COMPACT_MAGIC",
    "COMPACT_PAYLOAD_VERSION",
    "BallotHeader",
    "CastBallot",
    "ChallengedBallot",
    "CheckedCast",
    "DeviceChains",
    "DeviceClose",
    "VotingDevice",
    "alpha_keys",
    "check_cast_payloads",
    "observe_voting",
    "pickled_by_fields",
    "voting_admission_checks",
]


COMPACT_MAGIC = b"PCCB"
COMPACT_PAYLOAD_VERSION = 2


@dataclass(frozen=True, slots=True)
class CastBallot:
    """A ``ballot`` entry's payload, in one of two encodings of the same ballot:

    * version 1, canonical JSON: ``{"version": 1, "ballot": <the ballot's JSON form>}``;
    * version 2, compact: ``"PCCB" ‖ u8(2) ‖ <the ballot's compact form>``
      (``EncryptedBallot.to_compact``): half the bytes, and read without a JSON parser
      — at 10^5 ballots parsing JSON costs more than the tally's arithmetic.

    Decoders accept both (a JSON payload starts with ``{``) and refuse any other version.
    """

    ballot: EncryptedBallot

    def to_payload(self, *, compact: bool = False) -> bytes:
        if compact:
            return COMPACT_MAGIC + bytes([COMPACT_PAYLOAD_VERSION]) + self.ballot.to_compact()
        return canonical_json({"version": 1, "ballot": self.ballot.to_json()})

    @classmethod
    def from_payload(cls, data: bytes, group: GroupParameters, where: str) -> CastBallot:
        if data[:4] == COMPACT_MAGIC:
            reader = _compact_reader(data, where)
            ballot = EncryptedBallot.from_compact(reader, group, f"{where}.ballot")
            reader.end()
            return cls(ballot)
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        ballot_reader = obj.obj("ballot")
        ballot = EncryptedBallot.from_json(ballot_reader, group)
        ballot_reader.done()
        obj.done()
        return cls(ballot)


def _compact_reader(data: bytes, where: str) -> Reader:
    reader = Reader(data, where)
    reader.expect(COMPACT_MAGIC, "payload magic")
    version = reader.u8("payload version")
    if version != COMPACT_PAYLOAD_VERSION:
        raise EncodingError(f"unsupported version {version} (this software reads "
                            f"(1, {COMPACT_PAYLOAD_VERSION}))", f"{where}.version")
    return reader


T = TypeVar("T")


def pickled_by_fields(cls: type[T]) -> type[T]:
    """Pickle a frozen dataclass as a call of its constructor with its fields: what chunks
    of ballots carry between processes, many times per second. (The default goes through
    ``dataclasses``' per-object state in Python: sending a chunk of 64 stripped ballots
    took the verifier 0.67 ms with it and 0.54 ms without, most of it copying bytes.)"""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if len(names) < 2:
        raise TypeError("pickled_by_fields is for dataclasses of two or more fields")
    values = operator.attrgetter(*names)  # a tuple of them, in the constructor's order

    def __reduce__(self: T) -> tuple[type[T], tuple[object, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class BallotHeader:
    """What a device chain needs of a ballot (``DeviceChains`` reads these fields only)."""

    device_id: str
    session: str
    sequence: int
    style_id: str
    previous_code: bytes
    tracking_code: bytes

    @property
    def label(self) -> str:
        return f"ballot {self.device_id}#{self.sequence}"

    @classmethod
    def of(cls, ballot: EncryptedBallot) -> BallotHeader:
        return cls(ballot.device_id, ballot.session, ballot.sequence, ballot.style_id,
                   ballot.previous_code, ballot.tracking_code)

    @classmethod
    def from_admitted_payload(cls, data: bytes, where: str) -> BallotHeader:
        """The header of a ``ballot`` or ``challenge`` payload that already passed
        admission (or verification) in full: only the fields a chain needs are read."""
        if data[:4] == COMPACT_MAGIC:
            reader = _compact_reader(data, where)
            reader.u8("compact ballot version")
            device_id, session = reader.text("device_id"), reader.text("session")
            sequence = reader.u64("sequence")
            return cls(device_id, session, sequence, reader.text("style_id"),
                       reader.fixed(32, "previous_code"), reader.fixed(32, "tracking_code"))
        ballot = ObjectReader(parse_json_object(data, where), where).obj("ballot")
        return cls(ballot.string("device_id", MAX_ID), ballot.string("session", MAX_ID),
                   ballot.integer("sequence", 1), ballot.string("style_id", MAX_ID),
                   ballot.hex_bytes("previous_code", 32), ballot.hex_bytes("tracking_code", 32))


@dataclass(frozen=True, slots=True)
class CheckedCast:
    """What ``CastBallot.from_payload`` and then ``verify_ballot`` say about a payload: the
    decoded ballot, or the decoding error; and the verification error, if any."""

    ballot: EncryptedBallot | None
    decode_error: PaperchainError | None
    verify_error: PaperchainError | None


def check_cast_payloads(context: ElectionContext, payloads: Sequence[tuple[bytes, str]]
                        ) -> list[CheckedCast]:
    """Decode and verify ``ballot`` payloads (bytes, where) with one batch.

    Each payload is read like ``CastBallot.from_payload`` with subgroup membership left
    to the batch (``read_raw_ballot``); all of them are verified together
    (``verify_raw_ballots``: membership and every proof). A payload that fails anything
    is decoded and verified again by the simple path — ``CastBallot.from_payload`` then
    ``verify_ballot(fast=False)`` — whose errors are returned, so both paths give the
    same verdict and the same words. Cost per selection: a fraction of one powmod
    instead of the ≈ 7 of checked decoding plus the ≈ 10 of the simple verifier.
    """
    group = context.group
    raws: list[RawBallot | None] = []
    for data, where in payloads:
        try:
            if data[:4] == COMPACT_MAGIC:
                compact = _compact_reader(data, where)
                raw = read_raw_compact(compact, group, f"{where}.ballot")
                compact.end()
            else:
                obj = ObjectReader(_canonical_object(data, where), where)
                obj.version([1])
                reader = obj.obj("ballot")
                raw = read_raw_ballot(reader, group)
                reader.done()
                obj.done()
        except PaperchainError:
            raw = None
        raws.append(raw)
    verified = iter(verify_raw_ballots(context, [r for r in raws if r is not None]))
    results = []
    for (data, where), raw in zip(payloads, raws, strict=True):
        ballot = next(verified) if raw is not None else None
        if ballot is not None:
            results.append(CheckedCast(ballot, None, None))
            continue
        try:
            cast = CastBallot.from_payload(data, group, where)
        except PaperchainError as err:
            results.append(CheckedCast(None, err, None))
            continue
        try:
            verify_ballot(context, cast.ballot, fast=False)
        except PaperchainError as err:
            results.append(CheckedCast(cast.ballot, None, err))
            continue
        results.append(CheckedCast(cast.ballot, None, None))
    return results


def _canonical_object(data: bytes, where: str) -> dict[str, object]:
    """``parse_canonical_json``'s verdict, faster: a payload is accepted iff it is UTF-8
    JSON holding an object, without floats or NaN, and equal to its canonical
    re-encoding — which also refuses a repeated key (it would not survive the round
    trip), so the per-object duplicate hook (a Python call per object) is not needed.
    Only acceptance matters here: a refused payload goes to the simple path for words."""
    def refuse(text: str) -> object:
        raise EncodingError(f"{text} is not allowed", where)

    try:
        value = json.loads(data.decode("utf-8"), parse_float=refuse, parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as err:
        raise EncodingError("not canonical JSON", where) from err
    if not isinstance(value, dict) or json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
            allow_nan=False).encode("utf-8") != data:
        raise EncodingError("not canonical JSON", where)
    return value


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

    def check_next(self, writer_id: str, ballot: EncryptedBallot | BallotHeader) -> None:
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

    def follow(self, writer_id: str, ballot: EncryptedBallot | BallotHeader
               ) -> PaperchainError | None:
        """The verifier's step: ``check_next``'s refusal (or None), the chain advanced past
        the ballot either way — one finding per bad ballot, not a cascade down the chain."""
        problem: PaperchainError | None = None
        try:
            self.check_next(writer_id, ballot)
        except PaperchainError as err:
            problem = err
        self.advance(ballot)
        return problem

    def advance(self, ballot: EncryptedBallot | BallotHeader) -> None:
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
        checked = check_cast_payloads(context, [(entry.payload, "payload")])[0]
        if checked.decode_error is not None or checked.ballot is None:
            raise checked.decode_error or LedgerError("payload does not decode")
        tracker.check_next(entry.writer_id, checked.ballot)
        if checked.verify_error is not None:
            raise checked.verify_error
        # The same bytes verified under the same H_E: later passes in this process reuse it.
        VERDICTS.add(VERDICTS.ballot_by_payload(context.extended_base_hash, EntryType.BALLOT,
                                                entry.payload))
        return [b"code:" + checked.ballot.tracking_code, *alpha_keys(checked.ballot)]

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
    if entry.entry_type in (EntryType.BALLOT, EntryType.CHALLENGE):
        # Admitted entries only: the chain needs the header, not another checked decoding.
        tracker.advance(BallotHeader.from_admitted_payload(entry.payload, "payload"))
    elif entry.entry_type == EntryType.DEVICE_CLOSE:
        tracker.mark_closed(DeviceClose.from_payload(entry.payload, "payload"))


# --- the voting device --------------------------------------------------------------------


class VotingDevice:
    """A kiosk's library: encrypt a marked ballot, then cast or challenge it, then close.

    One pending ballot at a time; its secrets are dropped when it is cast. Casting also
    encrypts the choices as a CVR keyed by the card's ballot ID (``e2e.cvr``), kept in
    ``cvrs`` (sorted by ballot ID, never in cast order) until ``publish_cvrs`` after the
    results.

    ``cvrs=False`` runs the device without CVRs (an election audited by ballot polling,
    for privacy: no per-ballot record of choices exists anywhere): casting encrypts,
    stores and publishes none, ``cvrs`` stays an empty in-memory store, and
    ``publish_cvrs`` is refused. Every device of an election must run the same way: one
    without CVRs leaves the CVR equality impossible, so only a ballot-polling audit is
    admitted (spec §19.4).
    """

    def __init__(self, context: ElectionContext, ledger: LedgerClient, key: SigningKey,
                 device_id: str, session: str, cvrs: CvrStore | bool | None = None) -> None:
        self.context = context
        self._writer = Writer(ledger, key, device_id)
        self.device_id = device_id
        self.session = session
        self.keeps_cvrs = cvrs is not False
        self.cvrs = cvrs if isinstance(cvrs, CvrStore) else CvrStore()
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

    def cast(self, paper_ballot_id: bytes) -> AppendResult:
        """Append the pending ballot as cast, and keep its CVR under ``paper_ballot_id`` (the
        ID printed on the card going into the box); on refusal nothing is kept and the
        ballot stays pending (retry or challenge). A device without CVRs only appends."""
        if not isinstance(paper_ballot_id, bytes) or len(paper_ballot_id) != 16:
            raise UsageError("a paper ballot ID is 16 bytes")
        pending = self._require_pending()
        if not self.keeps_cvrs:
            result = self._writer.write(EntryType.BALLOT,
                                        CastBallot(pending.ballot).to_payload())
            self._done(pending)
            return result
        if pending.marked is None:
            raise StateError("the pending ballot's choices were erased")
        self.cvrs.check_new(paper_ballot_id)
        cvr = encrypt_cvr(self.context, pending.marked, device_id=self.device_id,
                          ballot_id=paper_ballot_id)
        result = self._writer.write(EntryType.BALLOT, CastBallot(pending.ballot).to_payload())
        self.cvrs.add(cvr)
        self._done(pending)
        return result

    def publish_cvrs(self, chunk: int = CHUNK) -> list[AppendResult]:
        """After the results: the CVRs sorted by ballot ID, then their commitment."""
        if not self.keeps_cvrs:
            raise StateError("this device runs without CVRs: it has none to publish (audit "
                             "the election by ballot polling)")
        if not self._closed:
            raise StateError("the device publishes its CVRs only after closing its chain")
        return publish_cvrs(self._writer, self.context.extended_base_hash, self.device_id,
                            list(self.cvrs), chunk)

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
