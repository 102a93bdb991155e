"""The ``card-remake`` ledger entry: an official's remake of a damaged paper card.

docs/spec.md §18.6. When a ballot record card is too damaged to be read or handled
(torn, stained, jammed), two people remake it: they read the damaged card's printed
text, print a new card marked DUPLICATE that carries the *original's* ballot ID and a
remake number n (the n-th remake of that card), both sign the remake form, keep the
original with the form, and an official records the remake on the ledger. The new
card then pairs with the same encrypted CVR in the audit; if the original reaches the
count too, the ID-level manifest sees its ID twice and flags both.

Payload (canonical JSON)::

    {"version": 1, "ballot_id": hex16, "remake": n, "style_id": str, "test": bool,
     "reason": str, "original_kept_in": str,
     "board": [writer ID, cosigner ID], "cosignature": hex64}

``board`` names the two people who remade the card: the official who writes the
entry, then a second registered official or auditor, whose Ed25519 signature (tag
``card-remake``) over the canonical JSON of every other field (``board`` included)
is ``cosignature``. No time, no ledger position of the original ballot and no device
sequence: nothing that could link the card to cast order.

Rules, checked at admission and again by the verifier (``check_remake``):

1. the writer is the board's first member; the second is another writer, registered
   (not revoked) as an official or an auditor, whose cosignature verifies;
2. the ballot style is the manifest's, and ``test`` says whether the election is a
   test election (``ElectionSetup.test_election``: stamped TEST everywhere);
3. the ballot ID is not the ID of a challenged ballot's paper (SPOILED paper is never
   remade: it is not counted);
4. remake numbers of one ballot ID run 1, 2, 3, … in ledger order.

Entry rules (``e2e.ledger.types``): an official writes it after the close of voting
and before the audit seed. Not during voting: an entry naming a ballot ID next to the
cast ballot it was printed for would link the card (which shows the choices) to a
tracking code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json, parse_json_object
from e2e.errors import EncodingError, InvalidSignature, RecordError
from e2e.ledger.entry import Entry
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.setup import Role, WriterInfo
from e2e.signing import SIGNATURE_BYTES, SignatureTag, SigningKey

__all__ = [
    "BALLOT_ID_BYTES",
    "MAX_REMAKES",
    "CardRemake",
    "RemakeTracker",
    "check_remake",
]

BALLOT_ID_BYTES = 16
MAX_REMAKES = 255  # the QR payload's remake number is one byte, 0 meaning the original
_COSIGNER_ROLES = frozenset({Role.OFFICIAL, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class CardRemake:
    """Payload of a ``card-remake`` entry (see the module docstring)."""

    ballot_id: bytes
    remake: int
    style_id: str
    test: bool
    reason: str
    original_kept_in: str
    board: tuple[str, str]
    cosignature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.ballot_id, bytes) or len(self.ballot_id) != BALLOT_ID_BYTES:
            raise EncodingError(f"a ballot ID is {BALLOT_ID_BYTES} bytes", "card-remake.ballot_id")
        if not isinstance(self.remake, int) or not 1 <= self.remake <= MAX_REMAKES:
            raise EncodingError(f"the remake number is 1..{MAX_REMAKES}", "card-remake.remake")
        if not isinstance(self.test, bool):
            raise EncodingError("test is true or false", "card-remake.test")
        for name in ("style_id", "reason", "original_kept_in"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise EncodingError("must not be blank", f"card-remake.{name}")
        if (not isinstance(self.board, tuple) or len(self.board) != 2
                or not all(isinstance(member, str) and member for member in self.board)):
            raise EncodingError("two board members' writer IDs", "card-remake.board")
        if not isinstance(self.cosignature, bytes) or len(self.cosignature) != SIGNATURE_BYTES:
            raise EncodingError(f"a signature is {SIGNATURE_BYTES} bytes",
                                "card-remake.cosignature")

    def body(self) -> dict[str, Any]:
        """Every field but the cosignature: what the cosigner signs."""
        return {"version": 1, "ballot_id": self.ballot_id.hex(), "remake": self.remake,
                "style_id": self.style_id, "test": self.test, "reason": self.reason,
                "original_kept_in": self.original_kept_in, "board": list(self.board)}

    @classmethod
    def sign(cls, *, ballot_id: bytes, remake: int, style_id: str, test: bool, reason: str,
             original_kept_in: str, writer_id: str, cosigner_id: str, cosigner: SigningKey,
             election_id: str) -> CardRemake:
        """The payload with the second board member's cosignature.

        Refuses a board of one: the writer and the cosigner must be two writers.
        """
        if writer_id == cosigner_id:
            raise InvalidSignature("a remake needs two signatures: the cosigner must be "
                                   "another person than the official writing the entry")
        unsigned = cls(ballot_id, remake, style_id, test, reason, original_kept_in,
                       (writer_id, cosigner_id), bytes(SIGNATURE_BYTES))
        signature = cosigner.sign(SignatureTag.CARD_REMAKE, election_id,
                                  canonical_json(unsigned.body()))
        return cls(ballot_id, remake, style_id, test, reason, original_kept_in,
                   (writer_id, cosigner_id), signature)

    def to_payload(self) -> bytes:
        return canonical_json({**self.body(), "cosignature": self.cosignature.hex()})

    @classmethod
    def from_payload(cls, data: bytes, where: str = "card-remake") -> CardRemake:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        test = obj.raw("test")
        if not isinstance(test, bool):
            raise EncodingError("expected true or false", obj.path("test"))
        board = obj.items("board", 2)
        if len(board) != 2 or not all(isinstance(b, str) and 1 <= len(b) <= 64 for b in board):
            raise EncodingError("two board members' writer IDs", obj.path("board"))
        result = cls(obj.hex_bytes("ballot_id", BALLOT_ID_BYTES),
                     obj.integer("remake", 1, MAX_REMAKES), obj.string("style_id", 64), test,
                     obj.string("reason", 512), obj.string("original_kept_in", 200),
                     (board[0], board[1]), obj.hex_bytes("cosignature", SIGNATURE_BYTES))
        obj.done()
        return result


@dataclass(slots=True)
class RemakeTracker:
    """What the rules need from earlier entries: spoiled paper IDs and remake numbers."""

    spoiled: set[bytes] = field(default_factory=set)
    last_remake: dict[bytes, int] = field(default_factory=dict)

    def observe(self, entry: Entry, where: str) -> None:
        """Follow an entry already admitted (or verified): challenges and remakes."""
        if entry.entry_type == EntryType.CHALLENGE:
            # Admitted in full already; only the paper's ID is needed here.
            paper = parse_json_object(entry.payload, where).get("paper_ballot_id")
            if isinstance(paper, str):
                self.spoiled.add(bytes.fromhex(paper))
        elif entry.entry_type == EntryType.CARD_REMAKE:
            remake = CardRemake.from_payload(entry.payload, where)
            self.last_remake[remake.ballot_id] = remake.remake

    def remakes(self) -> Mapping[bytes, int]:
        """Ballot ID → how many times its card was remade so far."""
        return self.last_remake


def check_remake(remake: CardRemake, *, writer_id: str, election_id: str, manifest: Manifest,
                 test_election: bool, writer_at: Callable[[str], WriterInfo],
                 spoiled: Collection[bytes], last_remake: Mapping[bytes, int]) -> None:
    """Return None if ``remake`` follows rules 1–4 of the module docstring, else raise.

    ``writer_at`` gives a registered, unrevoked writer at the entry's index (or raises).
    """
    first, second = remake.board
    if first != writer_id:
        raise InvalidSignature(f"the board names {first!r} first but {writer_id!r} wrote "
                               "the entry")
    if second == writer_id:
        raise InvalidSignature("the same person signed twice: a remake needs two signatures")
    cosigner = writer_at(second)
    if cosigner.role not in _COSIGNER_ROLES:
        raise InvalidSignature(f"the cosigner {second!r} is a {cosigner.role}, not an official "
                               "or an auditor")
    cosigner.key.verify(SignatureTag.CARD_REMAKE, election_id, canonical_json(remake.body()),
                        remake.cosignature)
    manifest.style(remake.style_id)  # raises UsageError for an unknown style
    if remake.test != test_election:
        raise RecordError("a remake in a test election is TEST, and only there"
                          if test_election else "a TEST remake in a real election")
    if remake.ballot_id in spoiled:
        raise RecordError("this ballot ID is a challenged ballot's SPOILED paper, which is "
                          "never remade")
    expected = last_remake.get(remake.ballot_id, 0) + 1
    if remake.remake != expected:
        raise RecordError(f"remake number {remake.remake}; this card's next remake is "
                          f"number {expected}")
