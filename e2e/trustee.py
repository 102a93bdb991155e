"""A trustee's own machine: its keys and secrets on disk, and its steps in the ceremony.

Each trustee works in its own directory (as if on its own machine)::

    trustee.json          public card: index, name, writer ID, Ed25519 and X25519 keys
    identity.secret       Ed25519 signing seed and X25519 secret key
    polynomial.secret     the dealer's coefficients for the current attempt (erased at close)
    received.secret       shares received in the current attempt (erased at close)
    key-share.secret      s_ℓ, H_E and K once the ceremony closes

Every ``*.secret`` file is encrypted under the trustee's passphrase (``e2e.keystore``),
with the election, the owner and the file kind inside the plaintext.
``TrusteeWorkspace.advance`` takes whatever ceremony step is due from the ledger's
state and returns a description of what it did; it can be run again at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.public

from e2e.ceremony import (
    CeremonyProgress,
    Complaint,
    EncryptedShares,
    Polynomial,
    Reveal,
    SharePlaintext,
    generate_polynomial,
    prove_commitments,
    replay_ceremony,
    reveal_is_valid,
    share_message,
    sign_close,
    verify_share,
    verify_share_signature,
)
from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import (
    CeremonyError,
    EncodingError,
    InvalidShare,
    InvalidSignature,
    SecretStoreError,
)
from e2e.group import ElementModP, ElementModQ, GroupParameters
from e2e.keystore import (
    MODERATE_LIMITS,
    KdfLimits,
    atomic_write,
    erase_file,
    new_salt,
    read_secret,
    write_secret,
)
from e2e.ledger.client import LedgerClient, Writer, read_setup
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource, RandomNonces
from e2e.setup import ElectionSetup, TrusteeInfo, check_box_key
from e2e.signing import SignatureTag, SigningKey, VerifyKey

__all__ = ["KeyShare", "TrusteeCard", "TrusteeWorkspace"]

CARD = "trustee.json"
IDENTITY = "identity.secret"
POLYNOMIAL = "polynomial.secret"
RECEIVED = "received.secret"
KEY_SHARE = "key-share.secret"


@dataclass(frozen=True, slots=True)
class TrusteeCard:
    """What a trustee hands the official for the setup (public)."""

    election_id: str
    index: int
    name: str
    writer_id: str
    signing_key: VerifyKey
    box_key: bytes

    def to_json(self) -> bytes:
        return canonical_json({
            "version": 1, "election_id": self.election_id, "index": self.index,
            "name": self.name, "writer_id": self.writer_id,
            "signing_key": self.signing_key.to_hex(), "box_key": self.box_key.hex(),
        })

    @classmethod
    def from_json(cls, data: bytes, where: str) -> TrusteeCard:
        obj = ObjectReader(parse_json_object(data, where), where)
        obj.version([1])
        card = cls(
            obj.string("election_id", 64), obj.integer("index", 1, 64), obj.string("name", 128),
            obj.string("writer_id", 64),
            VerifyKey.from_hex(obj.string("signing_key", 64), obj.path("signing_key")),
            check_box_key(obj.hex_bytes("box_key", 32), obj.path("box_key")),
        )
        obj.done()
        return card

    def info(self) -> TrusteeInfo:
        return TrusteeInfo(self.index, self.name, self.writer_id, self.signing_key, self.box_key)


@dataclass(frozen=True, slots=True)
class KeyShare:
    """A trustee's secret key share s_ℓ after the ceremony, with what it belongs to."""

    index: int
    secret: ElementModQ
    extended_base_hash: bytes
    joint_key: ElementModP

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, secret=<secret>)"


class TrusteeWorkspace:
    """One trustee's directory and passphrase."""

    def __init__(self, directory: Path, passphrase: bytes, card: TrusteeCard,
                 signing_key: SigningKey, box_key: nacl.public.PrivateKey,
                 limits: KdfLimits) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase
        self.card = card
        self._signing_key = signing_key
        self._box_key = box_key
        self._limits = limits
        self._salt = new_salt()  # one derivation for every file this session writes

    def __repr__(self) -> str:
        return f"TrusteeWorkspace({self.directory}, index={self.card.index})"

    # --- creation and opening ----------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, *, election_id: str, index: int, name: str,
               passphrase: bytes, limits: KdfLimits = MODERATE_LIMITS) -> TrusteeWorkspace:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / IDENTITY).exists() or (directory / CARD).exists():
            raise CeremonyError("this directory already holds a trustee", str(directory))
        signing_key = SigningKey.generate()
        box_key = nacl.public.PrivateKey.generate()
        card = TrusteeCard(election_id, index, name, f"trustee-{index}", signing_key.verify_key,
                           bytes(box_key.public_key))
        write_secret(directory / IDENTITY, kind="trustee-identity", election_id=election_id,
                     owner=card.writer_id, passphrase=passphrase, limits=limits,
                     secret={"signing_seed": signing_key.seed.hex(),
                             "box_secret": bytes(box_key).hex()})
        atomic_write(directory / CARD, card.to_json())
        return cls(directory, passphrase, card, signing_key, box_key, limits)

    @classmethod
    def open(cls, directory: Path, passphrase: bytes, limits: KdfLimits = MODERATE_LIMITS
             ) -> TrusteeWorkspace:
        directory = Path(directory)
        try:
            card_bytes = (directory / CARD).read_bytes()
        except OSError:
            raise CeremonyError("no trustee here (trustee.json missing)", str(directory)) from None
        card = TrusteeCard.from_json(card_bytes, str(directory / CARD))
        secret = read_secret(directory / IDENTITY, kind="trustee-identity",
                             election_id=card.election_id, owner=card.writer_id,
                             passphrase=passphrase)
        try:
            signing_key = SigningKey(bytes.fromhex(secret["signing_seed"]))
            box_key = nacl.public.PrivateKey(bytes.fromhex(secret["box_secret"]))
        except (KeyError, ValueError, TypeError):
            raise SecretStoreError("identity file content is malformed", str(directory)) from None
        if signing_key.verify_key != card.signing_key or bytes(box_key.public_key) != card.box_key:
            raise SecretStoreError("identity keys do not match trustee.json", str(directory))
        return cls(directory, passphrase, card, signing_key, box_key, limits)

    # --- secrets on disk ---------------------------------------------------------------

    def _write(self, name: str, kind: str, secret: dict[str, object]) -> None:
        write_secret(self.directory / name, kind=kind, election_id=self.card.election_id,
                     owner=self.card.writer_id, secret=secret, passphrase=self._passphrase,
                     limits=self._limits, salt=self._salt)

    def _read(self, name: str, kind: str) -> dict[str, object] | None:
        if not (self.directory / name).exists():
            return None
        return read_secret(self.directory / name, kind=kind, election_id=self.card.election_id,
                           owner=self.card.writer_id, passphrase=self._passphrase)

    def _polynomial(self, group: GroupParameters, attempt: int) -> Polynomial | None:
        stored = self._read(POLYNOMIAL, "trustee-polynomial")
        if stored is None or stored.get("attempt") != attempt:
            return None
        coefficients = stored.get("coefficients")
        if not isinstance(coefficients, list):
            raise SecretStoreError("polynomial file content is malformed")
        return Polynomial(tuple(group.exponent_from_hex(c, "coefficient") for c in coefficients))

    def _received(self, group: GroupParameters, attempt: int) -> dict[int, ElementModQ]:
        stored = self._read(RECEIVED, "trustee-received-shares")
        if stored is None or stored.get("attempt") != attempt:
            return {}
        shares = stored.get("shares")
        if not isinstance(shares, dict):
            raise SecretStoreError("received-shares file content is malformed")
        return {int(d): group.exponent_from_hex(s, "share") for d, s in shares.items()}

    def _store_received(self, attempt: int, shares: dict[int, ElementModQ]) -> None:
        self._write(RECEIVED, "trustee-received-shares",
                    {"attempt": attempt, "shares": {str(d): s.to_hex() for d, s in shares.items()}})

    def key_share(self, group: GroupParameters) -> KeyShare:
        """The secret share s_ℓ, for decryption (refused before the ceremony closed)."""
        stored = self._read(KEY_SHARE, "trustee-key-share")
        if stored is None:
            raise CeremonyError("no key share yet: the ceremony has not closed for this trustee",
                                str(self.directory))
        try:
            return KeyShare(
                index=self.card.index,
                secret=group.exponent_from_hex(stored["share"], "share"),
                extended_base_hash=bytes.fromhex(str(stored["extended_base_hash"])),
                joint_key=group.element_from_hex(stored["joint_key"], "joint_key"),
            )
        except (KeyError, ValueError) as err:
            raise SecretStoreError(f"key-share file content is malformed: {err}") from None

    @property
    def signing_key(self) -> SigningKey:
        return self._signing_key

    # --- the ceremony --------------------------------------------------------------------

    def advance(self, ledger: LedgerClient, *, allow_test_group: bool = False,
                nonces: NonceSource | None = None,
                tamper_share: Callable[[int, ElementModQ], ElementModQ] | None = None,
                ) -> list[str]:
        """Take every ceremony step that is due now; return what was done.

        ``tamper_share`` exists only so tests can make this trustee a cheating dealer.
        """
        nonces = nonces or RandomNonces()
        setup = read_setup(ledger, allow_test_group)
        if setup.election_id != self.card.election_id:
            raise CeremonyError("this ledger holds another election")
        me = setup.trustee(self.card.index)
        if me.signing_key != self.card.signing_key:
            raise CeremonyError("the setup registers another key for this trustee index")
        writer = Writer(ledger, self._signing_key, me.writer_id)
        done: list[str] = []
        while True:
            progress = replay_ceremony(setup, ledger.entries(0))
            step = self._next_step(setup, progress, writer, nonces, tamper_share)
            if step is None:
                return done
            done.append(step)

    def _next_step(self, setup: ElectionSetup, progress: CeremonyProgress, writer: Writer,
                   nonces: NonceSource,
                   tamper_share: Callable[[int, ElementModQ], ElementModQ] | None) -> str | None:
        group, index, attempt = setup.group, self.card.index, progress.attempt
        if progress.outcome is not None:
            return self._finish(progress)
        if index not in progress.participants:
            return None
        polynomial = self._polynomial(group, attempt)
        if index not in progress.commitments:
            polynomial = generate_polynomial(group, setup.threshold, nonces)
            self._write(POLYNOMIAL, "trustee-polynomial", {
                "attempt": attempt, "coefficients": [a.to_hex() for a in polynomial.coefficients],
            })
            payload = prove_commitments(polynomial, progress.base_hash, attempt, index, nonces)
            writer.write(EntryType.CEREMONY_COMMITMENTS, payload.to_payload())
            return f"attempt {attempt}: published {setup.threshold} coefficient commitments"
        if not progress.all_committed:
            return None
        if polynomial is None:
            raise CeremonyError("the polynomial for this attempt is missing from this directory")
        if index not in progress.shares:
            boxes = []
            for recipient in progress.participants:
                if recipient == index:
                    continue
                share = polynomial.evaluate(recipient)
                if tamper_share is not None:
                    share = tamper_share(recipient, share)
                boxes.append((recipient, self._seal_share(setup, progress.base_hash, attempt,
                                                          recipient, share)))
            writer.write(EntryType.CEREMONY_SHARES,
                         EncryptedShares(attempt, index, tuple(boxes)).to_payload())
            return f"attempt {attempt}: sent encrypted shares to {len(boxes)} trustees"
        for (dealer, recipient), _ in progress.complaints.items():
            if dealer == index and (dealer, recipient) not in progress.reveals:
                writer.write(EntryType.CEREMONY_REVEAL, Reveal(
                    attempt, index, recipient, polynomial.evaluate(recipient)).to_payload())
                return f"attempt {attempt}: revealed the share for trustee {recipient}"
        if not progress.all_dealt:
            return None
        received = self._received(group, attempt)
        for dealer in progress.participants:
            if dealer == index or dealer in received:
                continue
            if (dealer, index) in progress.complaints:
                reveal = progress.reveals.get((dealer, index))
                if reveal is not None and reveal_is_valid(progress, reveal):
                    received[dealer] = reveal.share
                    self._store_received(attempt, received)
                continue
            try:
                share = self._open_share(setup, progress, dealer)
            except (InvalidShare, InvalidSignature, EncodingError) as err:
                writer.write(EntryType.CEREMONY_COMPLAINT,
                             Complaint(attempt, dealer, index, err.reason).to_payload())
                return f"attempt {attempt}: complained about dealer {dealer}: {err.reason}"
            received[dealer] = share
            self._store_received(attempt, received)
        if index in progress.confirmations:
            return None
        if set(received) != set(progress.participants) - {index}:
            return None  # waiting for a reveal, or for the official to abort
        secret = polynomial.evaluate(index)
        for share in received.values():
            secret = secret + share
        extended, joint, keys = progress.expected_outcome()
        if group.g_pow(secret) != keys[index]:
            raise CeremonyError("the key share does not match its verification key")
        self._write(KEY_SHARE, "trustee-key-share", {
            "attempt": attempt, "share": secret.to_hex(),
            "extended_base_hash": extended.hex(), "joint_key": joint.to_hex(),
        })
        writer.write(EntryType.CEREMONY_CONFIRM,
                     sign_close(self._signing_key, setup, progress, index).to_payload())
        return f"attempt {attempt}: confirmed the joint key and signed the closing statement"

    def _finish(self, progress: CeremonyProgress) -> str | None:
        erased = [name for name in (POLYNOMIAL, RECEIVED) if (self.directory / name).exists()]
        if not erased:
            return None
        stored = self._read(KEY_SHARE, "trustee-key-share")
        if stored is None or stored.get("attempt") != progress.attempt:
            raise CeremonyError("the ceremony closed but this trustee holds no key share for it")
        for name in erased:
            erase_file(self.directory / name)
        return "ceremony closed: erased the polynomial and the received shares"

    def erase_ceremony_secrets(self, extended_base_hash: bytes) -> bool:
        """Erase the coefficients and the received shares once the ceremony has closed.

        ``extended_base_hash`` is H_E of a ceremony close the caller verified on the
        ledger (decryption comes only after it); the erasure happens only when this
        trustee's key share is that close's, so a trustee who never ran ``advance``
        after the close keeps no coefficients past its first decryption.
        Returns whether anything was erased.
        """
        stored = self._read(KEY_SHARE, "trustee-key-share")
        if stored is None or stored.get("extended_base_hash") != extended_base_hash.hex():
            return False
        erased = [name for name in (POLYNOMIAL, RECEIVED) if (self.directory / name).exists()]
        for name in erased:
            erase_file(self.directory / name)
        return bool(erased)

    def _seal_share(self, setup: ElectionSetup, base_hash: bytes, attempt: int, recipient: int,
                    share: ElementModQ) -> bytes:
        signature = self._signing_key.sign(
            SignatureTag.CEREMONY_SHARE, setup.election_id,
            share_message(base_hash, attempt, self.card.index, recipient, share))
        plaintext = SharePlaintext(attempt, self.card.index, recipient, share, signature)
        box = nacl.public.Box(self._box_key,
                              nacl.public.PublicKey(setup.trustee(recipient).box_key))
        return bytes(box.encrypt(plaintext.to_bytes()))

    def _open_share(self, setup: ElectionSetup, progress: CeremonyProgress, dealer: int
                    ) -> ElementModQ:
        sealed = progress.shares[dealer].box_for(self.card.index)
        box = nacl.public.Box(self._box_key,
                              nacl.public.PublicKey(setup.trustee(dealer).box_key))
        try:
            raw = box.decrypt(sealed)
        except nacl.exceptions.CryptoError:
            raise InvalidShare("the encrypted share does not open") from None
        plaintext = SharePlaintext.from_bytes(raw, setup.group, f"share from dealer {dealer}")
        if (plaintext.attempt, plaintext.dealer, plaintext.recipient) != (
                progress.attempt, dealer, self.card.index):
            raise InvalidShare("the share names another attempt, dealer or recipient")
        verify_share_signature(setup.trustee(dealer).signing_key, setup.election_id,
                               progress.base_hash, plaintext)
        verify_share(plaintext.share, progress.commitments[dealer].commitments,
                     self.card.index, dealer)
        return plaintext.share
