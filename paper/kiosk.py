"""The kiosk: one voter at a time, from a poll worker's activation to cast or challenge.

DESIGN.md, "Voting and the Benaloh challenge" and "Paper". The HTTP pages
(``paperchain.web.kiosk_app``) only call this:

1. a poll worker issues a **one-time activation token** fixing the ballot style
   (``issue_activation``); the voter redeems it (``activate``) and gets a session;
2. the voter marks and reviews (on the page); ``print_ballot`` checks the choices
   (``mark_ballot``: no overvote, no unknown selection), encrypts them
   (``VotingDevice.encrypt``), draws a fresh ballot ID, renders the paper ballot
   record, runs the **self-check** (``self_check_ballot_record``: a mismatch takes the
   kiosk out of service and nothing is printed), hands the PDF to the printer and
   returns the tracking code;
3. the voter reads the paper, then ``cast`` (the ledger appends the ballot; the receipt
   is printed with CAST and the ledger's inclusion promise; the session ends: one cast
   per activation) or ``challenge`` (the opening goes on the ledger; a CHALLENGED
   receipt is printed; the paper is to be marked SPOILED by a poll worker; the voter
   marks again);
4. ``read_back`` reads the printed paper from the kiosk's scanner for the audio
   read-back (``paper.readback``).

Nothing persists: sessions, tokens, choices, ballot IDs and tracking codes live in
memory only, until the session ends; PDFs are handed to the printer and dropped; the
kiosk writes no file and logs nothing about a voter.

The time-out (docs/spec.md §21.2, "The time-out"): a session without a request for
``idle_timeout`` seconds expires (the page warns ``warning`` seconds before and offers
more time; every view says how long is left, by the kiosk's own clock). Before
printing, nothing is kept: the choices only ever lived in the page. A printed ballot
left undecided is **challenged, never cast**: its opening goes on the ledger (so its
encryption can never be cast later), its CHALLENGED receipt is printed, and the count
of such ballots is told to the poll worker with the next activation code, so the paper
gets marked SPOILED (the challenge entry names that paper, so reconciliation finds it).
Either way the activation is used up. If the challenge cannot be published (the
ledger is unreachable), the kiosk takes itself out of service; the encryption stays
unpublished and is dropped at restart, so it cannot be cast either. ``clock`` is
injected (monotonic seconds).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from e2e.ballot import mark_ballot
from e2e.errors import EncodingError, InputError, PaperchainError, StateError, UsageError
from e2e.ledger.operator import AppendResult
from e2e.manifest import Manifest
from e2e.signing import SigningKey
from e2e.voting import VotingDevice
from paper.ids import CROCKFORD_ALPHABET, BallotId
from paper.layout import render_ballot_record, render_receipt
from paper.manifest_views import receipt_view, record_view
from paper.payload import ReceiptStatus, make_ballot_record, make_receipt
from paper.printing import Printer
from paper.readback import ReadBack, read_back_scan
from paper.scan import DeviceFault, self_check_ballot_record

__all__ = [
    "Activation",
    "Decision",
    "Kiosk",
    "KioskSettings",
    "NoSession",
    "OutOfService",
    "SessionState",
    "SessionView",
    "normalise_token",
]

TOKEN_SYMBOLS = 10  # 50 bits, typed as two groups of five
SESSION_BYTES = 32


class NoSession(InputError):
    """No live session goes with this request (none, ended or expired)."""


class OutOfService(StateError):
    """The kiosk stopped itself (a printer fault or a failed self-check)."""


class SessionState(StrEnum):
    MARKING = "marking"  # choosing, reviewing (again after a challenge)
    PRINTED = "printed"  # paper printed; cast or challenge is due
    DONE = "done"  # cast: the activation is used up


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """What the kiosk prints beside the ballot and how long things may wait (seconds)."""

    check_url: str
    complaint_contact: str
    complaint_deadline: str
    test_mode: bool = False
    activation_ttl: float = 900.0
    idle_timeout: float = 600.0
    warning: float = 60.0
    failed_activation_limit: int = 10
    lockout: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.warning < self.idle_timeout:
            raise UsageError("the time-out warning must come before the time-out")


@dataclass(frozen=True, slots=True)
class Activation:
    token: str  # printed form, e.g. "7ZQ4M-0XT8K"
    style_id: str
    expires_in: float
    # Printed ballots challenged by a time-out since the previous code: papers to spoil.
    timed_out_spoiled: int = 0


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the voter's page may know of its own session."""

    state: SessionState
    style_id: str
    language: str
    challenges: int
    idle_timeout: float
    warning: float
    expires_in: float  # seconds until the time-out, unless a request comes first
    tracking_code: bytes | None  # while the printed ballot awaits the decision


@dataclass(frozen=True, slots=True)
class Decision:
    status: ReceiptStatus
    tracking_code: bytes
    index: int


class _Voter:
    """One voter's session. Its repr shows nothing: it may hold a pending ballot ID."""

    __slots__ = ("ballot_id", "challenges", "language", "last_seen", "state", "style_id",
                 "tracking_code")

    def __init__(self, style_id: str, language: str, now: float) -> None:
        self.style_id = style_id
        self.language = language
        self.state = SessionState.MARKING
        self.last_seen = now
        self.ballot_id: BallotId | None = None
        self.tracking_code: bytes | None = None
        self.challenges = 0

    def __repr__(self) -> str:
        return "_Voter(<private>)"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def normalise_token(text: object) -> str:
    """The token as issued (upper case, no separators), or raise ``EncodingError``."""
    if not isinstance(text, str) or len(text) > 32:
        raise EncodingError("an activation code is ten letters and digits", "token")
    compact = "".join(c for c in text.upper() if c not in "- ").replace("O", "0")
    compact = compact.replace("I", "1").replace("L", "1")
    if len(compact) != TOKEN_SYMBOLS or any(c not in CROCKFORD_ALPHABET for c in compact):
        raise EncodingError("an activation code is ten letters and digits", "token")
    return compact


class Kiosk:
    """See the module docstring. Thread-safe: every operation holds one lock."""

    def __init__(self, device: VotingDevice, key: SigningKey, printer: Printer,
                 receipt_printer: Printer, settings: KioskSettings, *,
                 scanner: Callable[[], bytes | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.device = device
        self.manifest: Manifest = device.context.manifest
        self.election_id = device.context.election_id
        self._key = key
        self._printer = printer
        self._receipt_printer = receipt_printer
        self.settings = settings
        self._scanner = scanner
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[bytes, tuple[str, float]] = {}  # SHA-256(token) → (style, expiry)
        self._sessions: dict[bytes, _Voter] = {}  # SHA-256(session secret) → voter
        self._failures: list[float] = []
        self._fault: str | None = None
        self._timed_out_spoiled = 0

    # --- poll worker -------------------------------------------------------------------

    def issue_activation(self, style_id: str) -> Activation:
        """A one-time token that starts one voter's session on ``style_id``."""
        self.manifest.style(style_id)  # UsageError if there is no such style
        with self._lock:
            self._check_service()
            now = self._clock()
            self._drop_expired_tokens(now)
            token = "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(TOKEN_SYMBOLS))
            self._tokens[_digest(token)] = (style_id, now + self.settings.activation_ttl)
            spoiled, self._timed_out_spoiled = self._timed_out_spoiled, 0
            return Activation(f"{token[:5]}-{token[5:]}", style_id, self.settings.activation_ttl,
                              spoiled)

    # --- the voter's session -------------------------------------------------------------

    def activate(self, token: object, language: str) -> tuple[str, SessionView]:
        """Redeem a token (once); return the session secret (the page's cookie) and view."""
        if language not in self.manifest.languages:
            raise UsageError(f"language {language!r} is not one of the ballot's", "language")
        compact = normalise_token(token)
        with self._lock:
            self._check_service()
            now = self._clock()
            self._expire(now)
            self._failures = [t for t in self._failures if now - t < self.settings.lockout]
            if len(self._failures) >= self.settings.failed_activation_limit:
                raise StateError("too many wrong activation codes: wait a minute, or ask a "
                                 "poll worker", "token")
            for done in [v for v in self._sessions.values() if v.state is SessionState.DONE]:
                self._drop(done)
            if self._sessions:
                raise StateError("this kiosk is in use by another voter", "token")
            self._drop_expired_tokens(now)
            found = self._tokens.pop(_digest(compact), None)
            if found is None:
                self._failures.append(now)
                raise NoSession("this activation code is not valid (wrong, used or expired): "
                                "ask a poll worker for a new one", "token")
            secret = secrets.token_urlsafe(SESSION_BYTES)
            voter = _Voter(found[0], language, now)
            self._sessions[_digest(secret)] = voter
            return secret, self._view(voter)

    def session(self, secret: str | None) -> SessionView:
        with self._lock:
            return self._view(self._voter(secret, touch=False))

    def keepalive(self, secret: str | None) -> SessionView:
        with self._lock:
            return self._view(self._voter(secret))

    def set_language(self, secret: str | None, language: str) -> SessionView:
        if language not in self.manifest.languages:
            raise UsageError(f"language {language!r} is not one of the ballot's", "language")
        with self._lock:
            voter = self._voter(secret)
            voter.language = language
            return self._view(voter)

    def end(self, secret: str | None) -> None:
        """The voter leaves before printing (or after casting): the session is dropped."""
        with self._lock:
            voter = self._voter(secret, touch=False)
            if voter.state is SessionState.PRINTED:
                raise StateError("a printed ballot must be cast or challenged first", "session")
            self._drop(voter)

    def print_ballot(self, secret: str | None, choices: Mapping[str, Sequence[str]]) -> bytes:
        """Mark, encrypt, print (after the self-check); return the tracking code."""
        with self._lock:
            voter = self._voter(secret)
            if voter.state is not SessionState.MARKING:
                raise StateError("this ballot is already printed: cast or challenge it"
                                 if voter.state is SessionState.PRINTED
                                 else "this session's ballot is cast", "session")
            self._check_service()
            marked = mark_ballot(self.manifest, voter.style_id, choices)
            pending = self.device.encrypt(marked)
            ballot_id = BallotId.generate()
            payload = make_ballot_record(self._key, self.election_id, voter.style_id, ballot_id,
                                         test=self.settings.test_mode)
            view = record_view(self.manifest, voter.style_id, voter.language,
                               marked.choices(self.manifest), ballot_id,
                               test_mode=self.settings.test_mode)
            pdf = render_ballot_record(view, payload)
            try:
                self_check_ballot_record(pdf, view, election_id=self.election_id,
                                         style_id=voter.style_id,
                                         signer_key=self._key.verify_key)
                self._printer.print_pdf(pdf, "ballot-record")
            except (DeviceFault, StateError) as err:
                # The ballot stays pending and unprinted: nobody saw it, nothing is published.
                self._fault = err.reason
                raise OutOfService(f"the kiosk stopped: {err.reason}. Please ask a poll "
                                   "worker for help.") from None
            finally:
                del pdf
            voter.ballot_id = ballot_id
            voter.tracking_code = pending.ballot.tracking_code
            voter.state = SessionState.PRINTED
            return pending.ballot.tracking_code

    def cast(self, secret: str | None) -> Decision:
        with self._lock:
            voter = self._printed(self._voter(secret))
            result = self.device.cast(self._ballot_id(voter).value)
            decision = self._receipt(voter, ReceiptStatus.CAST, result)
            # Kept (state DONE) so a repeated cast is refused by name; it holds no ballot.
            voter.state = SessionState.DONE
            voter.ballot_id = None
            voter.tracking_code = None
            return decision

    def challenge(self, secret: str | None) -> Decision:
        with self._lock:
            voter = self._printed(self._voter(secret))
            return self._challenge(voter)

    def read_back(self, secret: str | None) -> ReadBack:
        """Read the printed paper from the scanner (the newest scan), for the voter to hear."""
        with self._lock:
            voter = self._printed(self._voter(secret))
            if self._scanner is None:
                raise StateError("this kiosk has no scanner", "scanner")
            scan = self._scanner()
            if scan is None:
                raise StateError("the scanner has no page: place the paper in the scanner "
                                 "and try again", "scanner")
            return read_back_scan(scan, manifest=self.manifest, style_id=voter.style_id,
                                  language=voter.language, device_keys=[self._key.verify_key])

    def expire_idle(self) -> int:
        """Expire idle sessions now (challenging a printed, undecided ballot); the count."""
        with self._lock:
            return self._expire(self._clock())

    # --- inside the lock ---------------------------------------------------------------

    def _check_service(self) -> None:
        if self._fault is not None:
            raise OutOfService(f"the kiosk is out of service ({self._fault}): a poll worker "
                               "must restart it")

    def _drop_expired_tokens(self, now: float) -> None:
        for digest in [d for d, (_, expiry) in self._tokens.items() if expiry <= now]:
            del self._tokens[digest]

    def _expire(self, now: float) -> int:
        expired = [v for v in self._sessions.values()
                   if now - v.last_seen >= self.settings.idle_timeout]
        for voter in expired:
            if voter.state is SessionState.PRINTED:
                try:
                    self._challenge(voter)
                    self._timed_out_spoiled += 1
                except PaperchainError:
                    # Never cast: the pending encryption stays unpublished until a restart
                    # drops it; the paper in the tray must still be spoiled.
                    self._fault = ("a timed-out ballot could not be challenged; mark its "
                                   "paper SPOILED")
            self._drop(voter)
        return len(expired)

    def _voter(self, secret: str | None, *, touch: bool = True) -> _Voter:
        now = self._clock()
        self._expire(now)
        voter = None if not isinstance(secret, str) else self._sessions.get(_digest(secret))
        if voter is None:
            raise NoSession("no voting session: it ended or timed out", "session")
        if touch:
            voter.last_seen = now
        return voter

    def _printed(self, voter: _Voter) -> _Voter:
        if voter.state is not SessionState.PRINTED:
            raise StateError("no printed ballot is waiting to be cast or challenged", "session")
        return voter

    @staticmethod
    def _ballot_id(voter: _Voter) -> BallotId:
        if voter.ballot_id is None:
            raise StateError("no printed ballot", "session")
        return voter.ballot_id

    def _challenge(self, voter: _Voter) -> Decision:
        result = self.device.challenge(self._ballot_id(voter).value)
        decision = self._receipt(voter, ReceiptStatus.CHALLENGED, result)
        voter.state = SessionState.MARKING
        voter.challenges += 1
        voter.ballot_id = None
        voter.tracking_code = None
        return decision

    def _receipt(self, voter: _Voter, status: ReceiptStatus, result: AppendResult) -> Decision:
        code = voter.tracking_code
        if code is None:
            raise StateError("no printed ballot", "session")
        payload = make_receipt(self._key, self.election_id, code, status, result.promise,
                               test=self.settings.test_mode)
        view = receipt_view(self.manifest, voter.language, payload,
                            check_url=self.settings.check_url,
                            complaint_contact=self.settings.complaint_contact,
                            complaint_deadline=self.settings.complaint_deadline)
        pdf = render_receipt(view)
        try:
            self._receipt_printer.print_pdf(pdf, "receipt")
        except StateError as err:
            # The ballot is recorded; the voter can still find it by the code on screen.
            self._fault = err.reason
        finally:
            del pdf
        return Decision(status, code, result.index)

    def _drop(self, voter: _Voter) -> None:
        for digest in [d for d, v in self._sessions.items() if v is voter]:
            del self._sessions[digest]
        voter.ballot_id = None
        voter.tracking_code = None

    def _view(self, voter: _Voter) -> SessionView:
        left = max(0.0, voter.last_seen + self.settings.idle_timeout - self._clock())
        return SessionView(voter.state, voter.style_id, voter.language, voter.challenges,
                           self.settings.idle_timeout, self.settings.warning, left,
                           voter.tracking_code if voter.state is SessionState.PRINTED else None)
