"""Secrets at rest: Argon2id + XSalsa20-Poly1305 (libsodium's SecretBox), files mode 0600.

docs/spec.md §8. A secret file is canonical JSON::

    {"version": 1, "kind": K, "kdf": {"algorithm": "argon2id13", "opslimit": O,
     "memlimit": M, "salt": hex16}, "box": hex(nonce ‖ ciphertext)}

The plaintext is canonical JSON ``{"version": 1, "kind": K, "election_id": E,
"owner": W, "secret": {...}}``: the election, the owner (e.g. ``trustee-2``) and the
file kind sit *inside* the authenticated plaintext, so a file copied from another
election, trustee or purpose is refused even with the right passphrase. The KDF
limits are recorded in the file (moderate by default; tests pass lower ones).

Files are written atomically (temporary file in the same directory, fsync, rename,
fsync of the directory) and created with mode 0600 from the start. Python cannot
promise to wipe memory; secrets are dropped as soon as they are used and deleted
files are overwritten before unlinking as a best effort.
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import EncodingError, SecretStoreError

__all__ = [
    "INTERACTIVE_LIMITS",
    "MODERATE_LIMITS",
    "KdfLimits",
    "atomic_write",
    "erase_file",
    "new_salt",
    "read_secret",
    "write_secret",
]

_ARGON = nacl.pwhash.argon2id


@dataclass(frozen=True, slots=True)
class KdfLimits:
    opslimit: int
    memlimit: int


MODERATE_LIMITS = KdfLimits(_ARGON.OPSLIMIT_MODERATE, _ARGON.MEMLIMIT_MODERATE)
INTERACTIVE_LIMITS = KdfLimits(_ARGON.OPSLIMIT_INTERACTIVE, _ARGON.MEMLIMIT_INTERACTIVE)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def erase_file(path: Path) -> None:
    """Overwrite a secret file with zeros, then unlink it (best effort on flash storage)."""
    path = Path(path)
    if not path.exists():
        return
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(bytes(size))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


@functools.lru_cache(maxsize=32)
def _derive(passphrase: bytes, salt: bytes, limits: KdfLimits) -> bytes:
    """Argon2id; memoised within the process, so one session opening several files written
    with the same salt pays the (deliberately slow) derivation once."""
    return _ARGON.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt,
                      opslimit=limits.opslimit, memlimit=limits.memlimit)


def new_salt() -> bytes:
    return nacl.utils.random(_ARGON.SALTBYTES)


def write_secret(
    path: Path, *, kind: str, election_id: str, owner: str, secret: dict[str, Any],
    passphrase: bytes, limits: KdfLimits = MODERATE_LIMITS, salt: bytes | None = None,
) -> None:
    """Encrypt ``secret`` under ``passphrase`` and write it atomically with mode 0600.

    ``salt`` lets one session reuse its derivation across the files it writes; by default
    each file gets a fresh random salt.
    """
    if len(passphrase) < 8:
        raise SecretStoreError("a passphrase must be at least 8 bytes")
    plaintext = canonical_json({
        "version": 1, "kind": kind, "election_id": election_id, "owner": owner, "secret": secret,
    })
    salt = salt if salt is not None else new_salt()
    if len(salt) != _ARGON.SALTBYTES:
        raise SecretStoreError(f"a salt must be {_ARGON.SALTBYTES} bytes")
    box = nacl.secret.SecretBox(_derive(passphrase, salt, limits))
    sealed = bytes(box.encrypt(plaintext))
    document = {
        "version": 1, "kind": kind,
        "kdf": {"algorithm": "argon2id13", "opslimit": limits.opslimit,
                "memlimit": limits.memlimit, "salt": salt.hex()},
        "box": sealed.hex(),
    }
    atomic_write(Path(path), canonical_json(document), mode=0o600)


def read_secret(
    path: Path, *, kind: str, election_id: str, owner: str, passphrase: bytes,
) -> dict[str, Any]:
    """Decrypt a secret file and check that it is of ``kind`` for this election and owner."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SecretStoreError(f"cannot read: {err.strerror}", where) from None
    if path.stat().st_mode & 0o077:
        raise SecretStoreError("secret file is readable by others (expected mode 0600)", where)
    try:
        outer = ObjectReader(parse_json_object(raw, where), where)
        outer.version([1])
        outer.string("kind")
        kdf = outer.obj("kdf")
        kdf.choice("algorithm", ["argon2id13"])
        limits = KdfLimits(kdf.integer("opslimit", 1, 64), kdf.integer("memlimit", 8192, 4 << 30))
        salt = kdf.hex_bytes("salt", _ARGON.SALTBYTES)
        kdf.done()
        sealed = outer.hex_bytes("box")
        outer.done()
    except EncodingError as err:
        raise SecretStoreError(f"not a secret file: {err}", where) from None
    try:
        plaintext = nacl.secret.SecretBox(_derive(passphrase, salt, limits)).decrypt(sealed)
    except nacl.exceptions.CryptoError:
        raise SecretStoreError("wrong passphrase, or the file was altered", where) from None
    document = parse_json_object(plaintext, where)
    inner = ObjectReader(document, where)
    inner.version([1])
    for key, expected in (("kind", kind), ("election_id", election_id), ("owner", owner)):
        found = inner.string(key)
        if found != expected:
            raise SecretStoreError(f"this file's {key} is {found!r}, expected {expected!r}", where)
    inner.obj("secret")
    inner.done()
    return dict(document["secret"])
