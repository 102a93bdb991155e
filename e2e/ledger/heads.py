"""Signed tree heads, witness cosignatures, and the heads history a store keeps.

docs/spec.md §16.1–§16.2. A tree head is a C2SP checkpoint body
(https://c2sp.org/tlog-checkpoint) with two extension lines::

    <origin>\\n                  the log origin of the setup (``ElectionSetup.log_origin``)
    <size>\\n                    decimal, no leading zeros
    <base64(root)>\\n            RFC 9162 MTH of the first <size> envelopes
    election <election ID>\\n
    time <milliseconds since 1970-01-01T00:00Z>\\n

carried in a C2SP signed note (https://c2sp.org/signed-note): the body, an empty line,
then one line per signature, ``— <key name> <base64(key ID ‖ signature bytes)>``. The
first signature is the operator's (key name = origin); each further line is a witness's
cosignature (key name = witness ID) in the C2SP tlog-cosignature shape, whose bytes are
``key ID (4) ‖ u64be(time) ‖ signature (64)``.

Signatures are Paperchain's tagged Ed25519 (``e2e.signing``), not plain Ed25519 over
the body, so key IDs use signature type 0xff (C2SP: "reserved for other types")::

    key ID = SHA-256(key name ‖ 0x0A ‖ 0xff ‖ "paperchain/v1/sig/" tag ‖ public key)[:4]

* operator:  Ed25519 over signed_message(TREE_HEAD, election ID, body)
* witness:   Ed25519 over signed_message(COSIGNATURE, election ID,
             "paperchain-cosignature/v1\\ntime <ms>\\n" ‖ body)

A head is accepted (``verify_cosigned_head``) when the operator's signature verifies
under the setup's operator key, origin and election are the setup's, and at least
``witness_threshold`` cosignatures verify from distinct witnesses registered in the
setup. Heads are issued with strictly increasing times and never shrinking sizes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from e2e.encoding import u64
from e2e.errors import EncodingError, InvalidSignature, LedgerError
from e2e.ledger.store import LogStore
from e2e.merkle import HASH_SIZE
from e2e.setup import ElectionSetup, WitnessInfo
from e2e.signing import SIGNATURE_BYTES, SignatureTag, SigningKey, VerifyKey

__all__ = [
    "Clock",
    "Cosignature",
    "CosignedHead",
    "HeadLog",
    "HeadPolicy",
    "HeadSigner",
    "SignedHead",
    "TreeHead",
    "cosign_head",
    "decode_note",
    "key_id",
    "sign_head",
    "system_clock",
    "verify_cosigned_head",
]

Clock = Callable[[], int]
"""Milliseconds since the Unix epoch (injected, so tests are reproducible)."""

MAX_NOTE_BYTES = 64 << 10
MAX_COSIGNATURES = 100
MAX_TIME = 2**63 - 1
_DASH = "\u2014 "
_COSIGNATURE_LABEL = b"paperchain-cosignature/v1\n"
_PREVIOUS_KEY = "head-previous:"


def system_clock() -> int:
    return time.time_ns() // 1_000_000


def key_id(name: str, tag: SignatureTag, key: VerifyKey) -> bytes:
    """The 4-byte signed-note key ID of ``key`` under ``name`` (module docstring)."""
    return hashlib.sha256(name.encode() + b"\n\xff" + f"paperchain/v1/sig/{tag}".encode()
                          + key.key_bytes).digest()[:4]


def _check_origin(origin: str, where: str) -> None:
    # C2SP: non-empty, no Unicode spaces, no '+'; we also keep it printable ASCII.
    if (not 1 <= len(origin) <= 256 or not origin.isascii() or not origin.isprintable()
            or " " in origin or "+" in origin):
        raise EncodingError(f"log origin {origin[:80]!r} must be 1-256 printable ASCII "
                            "characters without spaces or '+'", where)


def _check_name(name: str, what: str, where: str) -> None:
    if (not 1 <= len(name) <= 64 or not name.isascii() or not name.isprintable()
            or " " in name or "+" in name):
        raise EncodingError(f"{what} {name[:80]!r} must be 1-64 printable ASCII characters "
                            "without spaces or '+'", where)


@dataclass(frozen=True, slots=True)
class TreeHead:
    """What the operator commits to: the log (origin, election), its size and root, a time."""

    origin: str
    election_id: str
    size: int
    root: bytes
    time: int

    def __post_init__(self) -> None:
        _check_origin(self.origin, "tree head")
        _check_name(self.election_id, "election ID", "tree head")
        for value, what, top in ((self.size, "size", 2**63 - 1), (self.time, "time", MAX_TIME)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise EncodingError(f"{what} must be an integer in 0..{top}", "tree head")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise EncodingError(f"root must be {HASH_SIZE} bytes", "tree head")

    def body(self) -> bytes:
        """The checkpoint body (module docstring), exactly as signed."""
        return (f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
                f"election {self.election_id}\ntime {self.time}\n").encode()

    def cosignature_message(self, cosigned_at: int) -> bytes:
        return _COSIGNATURE_LABEL + f"time {cosigned_at}\n".encode() + self.body()

    def describe(self) -> str:
        return f"head of size {self.size} (root {self.root.hex()[:16]}…, time {self.time})"


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A tree head with the operator's signature."""

    head: TreeHead
    signature: bytes

    @property
    def size(self) -> int:
        return self.head.size

    @property
    def root(self) -> bytes:
        return self.head.root

    @property
    def time(self) -> int:
        return self.head.time

    def signature_line(self, hint: bytes) -> str:
        return _line(self.head.origin, hint + self.signature)

    def verify(self, operator_key: VerifyKey) -> None:
        """Return None if the operator's signature verifies, else raise ``InvalidSignature``."""
        operator_key.verify(SignatureTag.TREE_HEAD, self.head.election_id, self.head.body(),
                            self.signature)


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A witness's statement: "at ``time`` I had verified this head is consistent"."""

    witness_id: str
    time: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.witness_id, "witness ID", "cosignature")
        if isinstance(self.time, bool) or not isinstance(self.time, int) or not (
                0 <= self.time <= MAX_TIME):
            raise EncodingError("cosignature time out of range", "cosignature")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_BYTES:
            raise EncodingError(f"a cosignature is {SIGNATURE_BYTES} bytes", "cosignature")

    def verify(self, head: TreeHead, key: VerifyKey) -> None:
        key.verify(SignatureTag.COSIGNATURE, head.election_id,
                   head.cosignature_message(self.time), self.signature)

    def to_stored(self) -> bytes:
        """As a store keeps it: u64be(time) ‖ signature."""
        return u64(self.time) + self.signature

    @classmethod
    def from_stored(cls, witness_id: str, data: bytes) -> Cosignature:
        if len(data) != 8 + SIGNATURE_BYTES:
            raise EncodingError("a stored cosignature is 72 bytes", f"cosignature {witness_id}")
        return cls(witness_id, int.from_bytes(data[:8], "big"), data[8:])

    def signature_line(self, hint: bytes) -> str:
        return _line(self.witness_id, hint + u64(self.time) + self.signature)


@dataclass(frozen=True, slots=True)
class CosignedHead:
    """A signed head and the cosignatures gathered for it (possibly none yet)."""

    signed: SignedHead
    cosignatures: tuple[Cosignature, ...] = ()
    key_hints: Mapping[str, bytes] = field(default_factory=dict, compare=False)

    @property
    def head(self) -> TreeHead:
        return self.signed.head

    @property
    def size(self) -> int:
        return self.signed.head.size

    @property
    def root(self) -> bytes:
        return self.signed.head.root

    @property
    def time(self) -> int:
        return self.signed.head.time

    def with_cosignatures(self, extra: Sequence[Cosignature]) -> CosignedHead:
        """These cosignatures merged in (a witness's newer one replaces its older one)."""
        merged = {c.witness_id: c for c in self.cosignatures}
        for cosignature in extra:
            merged[cosignature.witness_id] = cosignature
        return CosignedHead(self.signed, tuple(merged[w] for w in sorted(merged)),
                            self.key_hints)

    def note(self, policy: HeadPolicy | None = None) -> str:
        """The signed note: body, empty line, the operator's line, one line per cosignature.

        Key IDs are computed from ``policy``'s keys when given, else the ones parsed
        (zeros if none): they are hints for readers, never trusted in verification.
        """
        origin = self.head.origin
        witness_keys = policy.witness_keys() if policy is not None else {}
        hint = (key_id(origin, SignatureTag.TREE_HEAD, policy.operator_key) if policy is not None
                else self.key_hints.get(origin, bytes(4)))
        lines = [self.head.body().decode(), "\n", self.signed.signature_line(hint)]
        for cosignature in self.cosignatures:
            key = witness_keys.get(cosignature.witness_id)
            hint = (key_id(cosignature.witness_id, SignatureTag.COSIGNATURE, key) if key
                    else self.key_hints.get(f"witness:{cosignature.witness_id}", bytes(4)))
            lines.append(cosignature.signature_line(hint))
        return "".join(lines)


def _line(name: str, raw: bytes) -> str:
    return f"{_DASH}{name} {base64.b64encode(raw).decode()}\n"


def _b64(text: str, length: int, what: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise EncodingError(f"{what} is not base64", where) from None
    if len(raw) != length or base64.b64encode(raw).decode() != text:
        raise EncodingError(f"{what} must be the canonical base64 of {length} bytes", where)
    return raw


def _decimal(text: str, what: str, where: str) -> int:
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0") or len(
            text) > 19:
        raise EncodingError(f"{what} {text[:40]!r} is not a decimal integer without leading "
                            "zeros", where)
    value = int(text)
    if value > 2**63 - 1:
        raise EncodingError(f"{what} out of range", where)
    return value


def _decode_body(body: str, where: str) -> TreeHead:
    lines = body.split("\n")
    if len(lines) != 6 or lines[5] != "":
        raise EncodingError("a tree head body has exactly five lines", where)
    origin, size_text, root_text, election_line, time_line, _ = lines
    if not election_line.startswith("election ") or not time_line.startswith("time "):
        raise EncodingError("expected the lines 'election <ID>' and 'time <ms>'", where)
    _check_origin(origin, where)
    return TreeHead(origin, election_line.removeprefix("election "),
                    _decimal(size_text, "size", where),
                    _b64(root_text, HASH_SIZE, "root", where),
                    _decimal(time_line.removeprefix("time "), "time", where))


def decode_note(note: str | bytes, where: str = "tree head") -> CosignedHead:
    """Parse a signed note strictly (nothing is verified here: see ``verify_cosigned_head``).

    The first signature line must be the operator's (key name = origin); the rest are
    cosignatures, one per witness. Anything else — other text, non-canonical numbers or
    base64, a repeated witness, trailing bytes — is refused.
    """
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise EncodingError(f"a note is at most {MAX_NOTE_BYTES} bytes", where)
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise EncodingError("a note is UTF-8 text", where) from None
    if not isinstance(note, str):
        raise EncodingError("a note is text", where)
    if len(note) > MAX_NOTE_BYTES:
        raise EncodingError(f"a note is at most {MAX_NOTE_BYTES} characters", where)
    split = note.find("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise EncodingError("a signed note is a body, an empty line and signature lines", where)
    head = _decode_body(note[: split + 1], where)
    signature_lines = note[split + 2 :].split("\n")[:-1]
    if not signature_lines or len(signature_lines) > 1 + MAX_COSIGNATURES:
        raise EncodingError(f"expected 1 to {1 + MAX_COSIGNATURES} signature lines", where)
    hints: dict[str, bytes] = {}
    signature = b""
    cosignatures: list[Cosignature] = []
    for number, line in enumerate(signature_lines):
        here = f"{where} signature line {number + 1}"
        if not line.startswith(_DASH) or line.count(" ") != 2:
            raise EncodingError("a signature line is '— <name> <base64>'", here)
        name, text = line[len(_DASH):].split(" ")
        if number == 0:
            if name != head.origin:
                raise EncodingError("the first signature must be the log's (its origin)", here)
            raw = _b64(text, 4 + SIGNATURE_BYTES, "signature", here)
            hints[name], signature = raw[:4], raw[4:]
            continue
        _check_name(name, "witness ID", here)
        if f"witness:{name}" in hints:
            raise EncodingError(f"witness {name!r} cosigns twice", here)
        raw = _b64(text, 4 + 8 + SIGNATURE_BYTES, "cosignature", here)
        hints[f"witness:{name}"] = raw[:4]
        cosigned_at = int.from_bytes(raw[4:12], "big")
        if cosigned_at > MAX_TIME:
            raise EncodingError("cosignature time out of range", here)
        cosignatures.append(Cosignature(name, cosigned_at, raw[12:]))
    cosignatures.sort(key=lambda c: c.witness_id)
    return CosignedHead(SignedHead(head, signature), tuple(cosignatures), hints)


def sign_head(key: SigningKey, head: TreeHead) -> SignedHead:
    """The operator signs a head (tag TREE_HEAD)."""
    return SignedHead(head, key.sign(SignatureTag.TREE_HEAD, head.election_id, head.body()))


def cosign_head(key: SigningKey, witness_id: str, head: TreeHead, cosigned_at: int
                ) -> Cosignature:
    """A witness cosigns a head it has checked (tag COSIGNATURE)."""
    return Cosignature(witness_id, cosigned_at, key.sign(
        SignatureTag.COSIGNATURE, head.election_id, head.cosignature_message(cosigned_at)))


@dataclass(frozen=True, slots=True)
class HeadPolicy:
    """Who may sign heads for an election, and how many cosignatures a head needs."""

    election_id: str
    origin: str
    operator_key: VerifyKey
    witnesses: tuple[WitnessInfo, ...]
    threshold: int

    @classmethod
    def from_setup(cls, setup: ElectionSetup) -> HeadPolicy:
        return cls(setup.election_id, setup.log_origin, setup.operator_key, setup.witnesses,
                   setup.witness_threshold)

    def witness_keys(self) -> dict[str, VerifyKey]:
        return {w.witness_id: w.key for w in self.witnesses}

    def verify_signed(self, signed: SignedHead, where: str = "tree head") -> None:
        """The operator's signature, origin and election — not the cosignatures."""
        head = signed.head
        if head.election_id != self.election_id:
            raise LedgerError(f"head for election {head.election_id!r}, expected "
                              f"{self.election_id!r}", where)
        if head.origin != self.origin:
            raise LedgerError(f"head of log {head.origin!r}, the setup's log is {self.origin!r}",
                              where)
        try:
            signed.verify(self.operator_key)
        except InvalidSignature as err:
            raise InvalidSignature(f"the operator's signature: {err.reason}", where) from None

    def valid_cosigners(self, cosigned: CosignedHead) -> list[str]:
        """The distinct registered witnesses whose cosignature on this head verifies."""
        keys = self.witness_keys()
        valid = []
        for cosignature in cosigned.cosignatures:
            key = keys.get(cosignature.witness_id)
            if key is None or cosignature.witness_id in valid:
                continue
            try:
                cosignature.verify(cosigned.head, key)
            except InvalidSignature:
                continue
            valid.append(cosignature.witness_id)
        return valid

    def verify_cosignature(self, head: TreeHead, cosignature: Cosignature) -> None:
        key = self.witness_keys().get(cosignature.witness_id)
        if key is None:
            raise InvalidSignature(f"{cosignature.witness_id!r} is not a witness of this "
                                   "election's setup")
        cosignature.verify(head, key)


def verify_cosigned_head(policy: HeadPolicy, cosigned: CosignedHead,
                         where: str = "tree head") -> None:
    """Accept a head only with the operator's signature and k-of-n witness cosignatures."""
    policy.verify_signed(cosigned.signed, where)
    valid = policy.valid_cosigners(cosigned)
    if len(valid) < policy.threshold:
        raise LedgerError(f"{len(valid)} valid witness cosignature(s) on the "
                          f"{cosigned.head.describe()}; the setup requires "
                          f"{policy.threshold}", where)


class HeadLog:
    """The heads a store keeps, with their cosignatures, and the order they came in.

    The store keeps heads and cosignatures as opaque bytes (the operator's signed note,
    and u64be(time) ‖ signature per witness). To list the history without reading every
    size, each head's predecessor's size is kept in the store's metadata
    (``head-previous:<size>``), written before the head itself.
    """

    def __init__(self, store: LogStore) -> None:
        self.store = store

    def _load(self, size: int, raw: bytes) -> CosignedHead:
        decoded = decode_note(raw, f"stored head of size {size}")
        cosignatures = [Cosignature.from_stored(witness, data)
                        for witness, data in self.store.cosignatures(size).items()]
        return CosignedHead(decoded.signed, tuple(cosignatures), decoded.key_hints)

    def latest(self) -> CosignedHead | None:
        stored = self.store.latest_head()
        return None if stored is None else self._load(stored.size, stored.head)

    def at(self, size: int) -> CosignedHead | None:
        stored = self.store.head(size)
        return None if stored is None else self._load(size, stored.head)

    def add(self, signed: SignedHead, operator_key: VerifyKey) -> None:
        """Keep a head (sizes never shrink; the store refuses a smaller one)."""
        latest = self.store.latest_head()
        if latest is not None and latest.size == signed.size:
            raise LedgerError(f"a head of size {signed.size} is already kept")
        previous = b"" if latest is None else u64(latest.size)
        self.store.set_metadata(f"{_PREVIOUS_KEY}{signed.size}", previous)
        hint = key_id(signed.head.origin, SignatureTag.TREE_HEAD, operator_key)
        note = signed.head.body().decode() + "\n" + signed.signature_line(hint)
        self.store.put_head(signed.size, note.encode())

    def add_cosignature(self, size: int, cosignature: Cosignature) -> None:
        self.store.put_cosignature(size, cosignature.witness_id, cosignature.to_stored())

    def sizes_before(self, size: int | None = None, limit: int = 1000) -> list[int]:
        """Sizes of kept heads, newest first, starting below ``size`` (at the latest if None)."""
        if size is None:
            latest = self.store.latest_head()
            current = None if latest is None else latest.size
        else:
            current = self._previous(size)
        sizes: list[int] = []
        while current is not None and len(sizes) < limit:
            sizes.append(current)
            current = self._previous(current)
        return sizes

    def _previous(self, size: int) -> int | None:
        raw = self.store.metadata(f"{_PREVIOUS_KEY}{size}")
        if not raw:
            return None
        previous = int.from_bytes(raw, "big")
        if previous >= size:
            raise LedgerError(f"the heads history loops at size {size}")
        return previous

    def history(self) -> Iterator[CosignedHead]:
        """Every kept head, oldest first."""
        sizes = self.sizes_before(None, limit=2**62)
        for size in reversed(sizes):
            head = self.at(size)
            if head is not None:
                yield head

    def latest_cosigned(self, policy: HeadPolicy, search: int = 1000) -> CosignedHead | None:
        """The newest head (among the last ``search``) that ``policy`` accepts."""
        for size in self.sizes_before(None, limit=search):
            head = self.at(size)
            if head is None:
                continue
            try:
                verify_cosigned_head(policy, head)
            except LedgerError:
                continue
            return head
        return None


class HeadSigner:
    """The operator's side: a new signed head whenever the log has grown.

    Times strictly increase: a head is stamped max(clock, previous time + 1).
    """

    def __init__(self, log: HeadLog, key: SigningKey, origin: str, election_id: str,
                 clock: Clock = system_clock) -> None:
        _check_origin(origin, "log origin")
        self.log = log
        self.key = key
        self.origin = origin
        self.election_id = election_id
        self.clock = clock
        self._lock = threading.Lock()

    def current(self) -> CosignedHead | None:
        """The latest head, signing one for the current size first if the log grew."""
        with self._lock:
            store = self.log.store
            size = store.size()
            latest = self.log.latest()
            if size == 0 or (latest is not None and latest.size >= size):
                return latest
            stamp = self.clock()
            if latest is not None:
                stamp = max(stamp, latest.time + 1)
            head = TreeHead(self.origin, self.election_id, size, store.root(size), stamp)
            self.log.add(sign_head(self.key, head), self.key.verify_key)
            return self.log.at(size)
