"""Domain-separated SHA-256 over an unambiguous encoding of abstract values.

docs/spec.md §3 is the normative text; in short::

    H(tag; v1, ..., vn) = SHA-256( field(tag) ‖ field(enc(v1)) ‖ ... ‖ field(enc(vn)) )
    field(b)            = u32be(len(b)) ‖ b

where ``tag`` is the UTF-8 string ``"paperchain/v1/" + use`` and ``enc`` is:

* ``bytes``        the bytes themselves;
* ``str``          its UTF-8 bytes;
* ``int``          8 bytes big-endian (indices, counts, limits; 0 <= i < 2^64);
* ``ElementModP``  exactly ceil(bits(p)/8) bytes big-endian;
* ``ElementModQ``  exactly ceil(bits(q)/8) bytes big-endian;
* a sequence       u32be(count) ‖ field(enc(item)) for each item.

Every use has its own tag (``Tag``), and the fields each tag hashes are listed in
docs/spec.md. Nothing is ever hashed over a file's serialization except the
manifest, whose hash is over its exact bytes (``manifest_hash``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from enum import StrEnum

from e2e.errors import EncodingError
from e2e.group import ElementModP, ElementModQ, GroupParameters

__all__ = [
    "TAG_PREFIX",
    "Field",
    "Tag",
    "base_hash",
    "encode_field",
    "extended_base_hash",
    "hash_fields",
    "hash_to_exponent",
    "manifest_hash",
    "parameters_fields",
]

TAG_PREFIX = "paperchain/v1/"

Field = bytes | bytearray | memoryview | str | int | ElementModP | ElementModQ | Sequence["Field"]


class Tag(StrEnum):
    """Every hash use, with its own domain tag (the value after ``TAG_PREFIX``)."""

    MANIFEST = "manifest"  # SHA-256 of the file bytes, not tagged: listed for the spec
    BASE_HASH = "base-hash"
    EXTENDED_BASE_HASH = "extended-base-hash"
    COEFFICIENT_PROOF = "coefficient-proof"
    SELECTION_PROOF = "selection-proof"
    CONTEST_PROOF = "contest-proof"
    SHARE_PROOF = "decryption-share-proof"
    SELECTION_NONCE = "selection-nonce"
    PROOF_NONCE = "proof-nonce"
    TRACKING_CODE = "tracking-code"
    TRACKING_CODE_SEED = "tracking-code-seed"
    CIPHERTEXT_DIGEST = "ciphertext-digest"
    # Encrypted CVRs and the audit (docs/spec.md §19): a CVR's proofs are bound to
    # the paper's ballot ID, never to a sequence number, a tracking code or a time.
    CVR_SELECTION_PROOF = "cvr-selection-proof"
    CVR_CONTEST_PROOF = "cvr-contest-proof"
    CVR_SELECTION_NONCE = "cvr-selection-nonce"
    CVR_DIGEST = "cvr-digest"
    CVR_CIPHERTEXTS = "cvr-ciphertexts"
    CVR_CHAIN = "cvr-chain"
    PAPER_MANIFEST_DIGEST = "paper-manifest-digest"
    AUDIT_READINGS_DIGEST = "audit-readings-digest"


def _u32(n: int) -> bytes:
    return struct.pack(">I", n)


def encode_field(value: Field) -> bytes:
    """enc(v) of docs/spec.md §3.1 (without the outer length prefix)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray):
        return bytes(value)  # the same byte string: never read as a list of small integers
    if isinstance(value, memoryview):
        if value.format not in ("B", "b", "c") or not value.c_contiguous:
            raise EncodingError(f"cannot hash a memoryview of format {value.format!r}; "
                                "give its bytes")
        return value.tobytes()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        raise EncodingError("booleans are not hashed; encode them as 0 or 1")
    if isinstance(value, int):
        if not 0 <= value < 2**64:
            raise EncodingError(f"integer field {value} is outside 0..2^64-1")
        return struct.pack(">Q", value)
    if isinstance(value, ElementModP | ElementModQ):
        return value.to_bytes()
    if isinstance(value, Sequence):
        parts = [_u32(len(value))]
        for item in value:
            encoded = encode_field(item)
            parts.append(_u32(len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    raise EncodingError(f"cannot hash a value of type {type(value).__name__}")


def hash_fields(tag: Tag | str, *fields: Field) -> bytes:
    """H(tag; fields...) — 32 bytes."""
    digest = hashlib.sha256()
    tag_bytes = (TAG_PREFIX + str(tag)).encode("utf-8")
    digest.update(_u32(len(tag_bytes)))
    digest.update(tag_bytes)
    for value in fields:
        encoded = encode_field(value)
        digest.update(_u32(len(encoded)))
        digest.update(encoded)
    return digest.digest()


def hash_to_exponent(group: GroupParameters, tag: Tag | str, *fields: Field) -> ElementModQ:
    """H(tag; fields...) read as a big-endian integer, reduced mod q (a challenge)."""
    return group.exponent_from_hash(hash_fields(tag, *fields))


def manifest_hash(manifest_bytes: bytes) -> bytes:
    """SHA-256 of the manifest file's exact bytes (any changed byte changes it)."""
    return hashlib.sha256(manifest_bytes).digest()


def parameters_fields(group: GroupParameters) -> tuple[bytes, bytes, bytes]:
    """(p, q, g) as fixed-width big-endian byte strings, as hashed into H_B."""
    return (
        int(group.p).to_bytes(group.p_bytes, "big"),
        int(group.q).to_bytes(group.q_bytes, "big"),
        int(group.g).to_bytes(group.p_bytes, "big"),
    )


def base_hash(group: GroupParameters, manifest_digest: bytes, n: int, k: int) -> bytes:
    """H_B = H(base-hash; p, q, g, manifest hash, n, k) — docs/spec.md §3.4."""
    if len(manifest_digest) != 32:
        raise EncodingError("the manifest hash must be 32 bytes")
    return hash_fields(Tag.BASE_HASH, *parameters_fields(group), manifest_digest, n, k)


def extended_base_hash(
    base: bytes,
    joint_key: ElementModP,
    commitments: Sequence[Sequence[ElementModP]],
) -> bytes:
    """H_E = H(extended-base-hash; H_B, K, [[K_ij] per trustee in index order]) — §3.4."""
    return hash_fields(Tag.EXTENDED_BASE_HASH, base, joint_key, [list(c) for c in commitments])
