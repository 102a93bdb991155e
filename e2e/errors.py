"""The exceptions Paperchain raises, as one small hierarchy.

Every check either returns ``None`` or raises one of these; nothing is reported by
logging and returning ``False``. Each exception carries a human-readable reason and,
where known, ``where``: the place in the input the problem was found (a file and
line, a ledger index, a ballot and selection), so that a user sees *what* is wrong
and *where* without a traceback.

::

    PaperchainError
    ├── InputError (ValueError)      malformed data from outside
    │   ├── EncodingError            wrong type, width, length, version, unknown field
    │   ├── InvalidElement           not 0 < x < p, outside the order-q subgroup, non-canonical
    │   ├── InvalidExponent          not 0 <= e < q
    │   ├── InvalidParameters        not the pinned group, or a malformed test group
    │   ├── ManifestError            the manifest fails its schema or its rules
    │   └── UsageError               a command was asked something it cannot do
    ├── VerificationError            well-formed data that fails a check
    │   ├── InvalidProof             a zero-knowledge proof does not verify
    │   ├── InvalidSignature         an Ed25519 signature or key is refused
    │   ├── InvalidBallot            a ballot fails a rule other than its proofs
    │   ├── InvalidShare             a key share or decryption share fails
    │   ├── LedgerError              chain, Merkle, head or admission failure
    │   └── RecordError              the election record is inconsistent
    ├── CeremonyError                the key ceremony cannot proceed (e.g. aborted)
    ├── DecryptionError              too few shares, count out of bounds, refused input
    ├── SecretStoreError             a secret file cannot be opened (passphrase, tampering)
    └── StateError                   an operation out of order (second seed, write after close)
"""

from __future__ import annotations

__all__ = [
    "CeremonyError",
    "DecryptionError",
    "EncodingError",
    "InputError",
    "InvalidBallot",
    "InvalidElement",
    "InvalidExponent",
    "InvalidParameters",
    "InvalidProof",
    "InvalidShare",
    "InvalidSignature",
    "LedgerError",
    "ManifestError",
    "PaperchainError",
    "RecordError",
    "SecretStoreError",
    "StateError",
    "UsageError",
    "VerificationError",
]


class PaperchainError(Exception):
    """Base of every error Paperchain raises on purpose.

    ``reason`` says what is wrong; ``where`` (optional) says where it was found.
    ``str(err)`` gives ``"where: reason"`` so a CLI can print it as is.
    """

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, where: str) -> PaperchainError:
        """The same error, located inside ``where`` (e.g. a ballot holding a bad proof)."""
        located = type(self).__new__(type(self))
        inner = f"{where} {self.where}" if self.where else where
        PaperchainError.__init__(located, self.reason, inner)
        return located


class InputError(PaperchainError, ValueError):
    """Data from outside (a file, QR code, HTTP request, CLI argument) is malformed."""


class EncodingError(InputError):
    """A value has the wrong type, width, length or version, or an unknown field."""


class InvalidElement(InputError):
    """A group element is out of range, outside the order-q subgroup, or non-canonical."""


class InvalidExponent(InputError):
    """An exponent is not in 0 <= e < q, or is non-canonical."""


class InvalidParameters(InputError):
    """The group parameters are not the pinned ones (or a well-formed test group)."""


class ManifestError(InputError):
    """The election manifest fails its schema or one of its rules."""


class UsageError(InputError):
    """A command or function was asked for something it cannot do."""


class VerificationError(PaperchainError):
    """Well-formed data fails a check."""


class InvalidProof(VerificationError):
    """A zero-knowledge proof does not verify against its statement."""


class InvalidSignature(VerificationError):
    """A signature does not verify, or a public key is refused."""


class InvalidBallot(VerificationError):
    """A ballot breaks a rule other than its proofs (style, chain, repeated alpha, ...)."""


class InvalidShare(VerificationError):
    """A key-ceremony share or a decryption share fails its check."""


class LedgerError(VerificationError):
    """A ledger envelope, chain link, Merkle proof, head or admission rule fails."""


class RecordError(VerificationError):
    """The election record is missing something or contradicts itself."""


class CeremonyError(PaperchainError):
    """The key ceremony cannot proceed as asked (aborted, incomplete, out of turn)."""


class DecryptionError(PaperchainError):
    """Decryption is refused or impossible (too few shares, count beyond its bound)."""


class SecretStoreError(PaperchainError):
    """A secret file cannot be opened: wrong passphrase, tampered, or of another kind."""


class StateError(PaperchainError):
    """An operation was attempted out of order (a second seed, a write after close)."""
