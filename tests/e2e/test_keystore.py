"""Secrets at rest (docs/spec.md §8), and secrets kept out of reprs, logs and the ledger."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from e2e.ballot import encrypt_ballot, mark_ballot
from e2e.ceremony import Polynomial, SharePlaintext
from e2e.encoding import canonical_json
from e2e.errors import SecretStoreError
from e2e.group import TEST_GROUP
from e2e.keystore import (
    INTERACTIVE_LIMITS,
    KdfLimits,
    atomic_write,
    erase_file,
    read_secret,
    write_secret,
)
from e2e.signing import SigningKey
from e2e.trustee import KeyShare
from tests.strategies import PASSPHRASE, WorkspaceElection

ELECTION = "springfield-2026-general"
SECRET = {"share": "5ec7e7" * 10}


def _write(path: Path, **overrides: object) -> None:
    options: dict[str, object] = {
        "kind": "trustee-key-share", "election_id": ELECTION, "owner": "trustee-2",
        "secret": SECRET, "passphrase": PASSPHRASE, "limits": INTERACTIVE_LIMITS,
    }
    options.update(overrides)
    write_secret(path, **options)  # type: ignore[arg-type]


def _read(path: Path, **overrides: object) -> dict[str, object]:
    options: dict[str, object] = {"kind": "trustee-key-share", "election_id": ELECTION,
                                  "owner": "trustee-2", "passphrase": PASSPHRASE}
    options.update(overrides)
    return read_secret(path, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of one secret file (Argon2 runs once for the module's tamper tests)."""
    path = tmp_path_factory.mktemp("sealed") / "key-share.secret"
    _write(path)
    return path.read_bytes()


def _copy(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "copy.secret"
    atomic_write(path, data, mode=0o600)
    return path


def _edited(data: bytes, edit: object) -> bytes:
    document = json.loads(data)
    edit(document)  # type: ignore[operator]
    return canonical_json(document)


# --- the happy path and the file's shape ----------------------------------------------------


def test_secret_round_trips_and_records_its_kdf_limits(tmp_path: Path, sealed: bytes) -> None:
    path = _copy(tmp_path, sealed)
    assert _read(path) == SECRET
    outer = json.loads(sealed)
    assert outer["kdf"] == {"algorithm": "argon2id13", "opslimit": INTERACTIVE_LIMITS.opslimit,
                            "memlimit": INTERACTIVE_LIMITS.memlimit,
                            "salt": outer["kdf"]["salt"]}
    assert len(bytes.fromhex(outer["kdf"]["salt"])) == 16
    assert sealed == canonical_json(outer)


def test_secret_file_holds_no_plaintext(sealed: bytes) -> None:
    for text in ("5ec7e7", ELECTION, "trustee-2"):
        assert text.encode() not in sealed


def test_secret_file_is_created_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        _write(tmp_path / "a.secret", limits=KdfLimits(1, 8192))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.secret").stat().st_mode) == 0o600


def test_two_writes_of_one_secret_differ(tmp_path: Path, sealed: bytes) -> None:
    _write(tmp_path / "again.secret")
    again = json.loads((tmp_path / "again.secret").read_bytes())
    first = json.loads(sealed)
    assert again["kdf"]["salt"] != first["kdf"]["salt"]
    assert again["box"] != first["box"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_refuses_secret_file_readable_by_others(tmp_path: Path, sealed: bytes, mode: int) -> None:
    path = _copy(tmp_path, sealed)
    path.chmod(mode)
    with pytest.raises(SecretStoreError, match="readable by others"):
        _read(path)


def test_refuses_missing_secret_file(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="cannot read"):
        _read(tmp_path / "absent.secret")


def test_refuses_wrong_passphrase(tmp_path: Path, sealed: bytes) -> None:
    path = _copy(tmp_path, sealed)
    with pytest.raises(SecretStoreError, match="wrong passphrase"):
        _read(path, passphrase=PASSPHRASE + b"!")


def test_refuses_passphrase_shorter_than_8_bytes(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="at least 8 bytes"):
        _write(tmp_path / "short.secret", passphrase=b"1234567")
    assert not (tmp_path / "short.secret").exists()


@pytest.mark.parametrize(("key", "value"), [
    ("kind", "trustee-polynomial"), ("election_id", "another-election"), ("owner", "trustee-3"),
])
def test_refuses_file_of_another_kind_election_or_owner(tmp_path: Path, sealed: bytes, key: str,
                                                        value: str) -> None:
    # The right passphrase opens it; the authenticated plaintext names what it is.
    path = _copy(tmp_path, sealed)
    with pytest.raises(SecretStoreError, match=f"this file's {key} is"):
        _read(path, **{key: value})


def _flip_box(document: dict[str, object]) -> None:
    box = bytearray(bytes.fromhex(str(document["box"])))
    box[len(box) // 2] ^= 1
    document["box"] = box.hex()


def _flip_salt(document: dict[str, object]) -> None:
    kdf = document["kdf"]
    assert isinstance(kdf, dict)
    kdf["salt"] = ("1" if kdf["salt"][0] == "0" else "0") + kdf["salt"][1:]


def _bump_opslimit(document: dict[str, object]) -> None:
    kdf = document["kdf"]
    assert isinstance(kdf, dict)
    kdf["opslimit"] += 1


def _truncate_box(document: dict[str, object]) -> None:
    document["box"] = str(document["box"])[:-2]


@pytest.mark.parametrize("tamper", [_flip_box, _flip_salt, _bump_opslimit, _truncate_box])
def test_refuses_tampered_secret_file(tmp_path: Path, sealed: bytes, tamper: object) -> None:
    path = _copy(tmp_path, _edited(sealed, tamper))
    with pytest.raises(SecretStoreError, match="wrong passphrase, or the file was altered"):
        _read(path)


def _set(key: str, value: object) -> object:
    def edit(document: dict[str, object]) -> None:
        document[key] = value
    return edit


@pytest.mark.parametrize(("edit", "reason"), [
    (_set("version", 2), "unsupported version 2"),
    (_set("extra", 1), "unknown key"),
    (_set("kdf", {"algorithm": "scrypt", "opslimit": 2, "memlimit": 8192, "salt": "00" * 16}),
     "'scrypt' is not one of"),
    (_set("box", "XYZ"), "lowercase hexadecimal"),
])
def test_refuses_file_that_is_not_a_secret_file(tmp_path: Path, sealed: bytes, edit: object,
                                                reason: str) -> None:
    path = _copy(tmp_path, _edited(sealed, edit))
    with pytest.raises(SecretStoreError, match=f"not a secret file: .*{reason}"):
        _read(path)


def test_refuses_file_that_is_not_json(tmp_path: Path) -> None:
    path = _copy(tmp_path, b"\x00\x01 not json")
    with pytest.raises(SecretStoreError, match="not a secret file"):
        _read(path)


# --- atomic writes and erasure ---------------------------------------------------------------


def test_failed_write_leaves_the_old_file_and_no_partial_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    target = tmp_path / "key-share.secret"
    atomic_write(target, b"old", mode=0o600)

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        _write(target, limits=KdfLimits(1, 8192))
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key-share.secret"]


def test_failed_rename_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    def failing_replace(source: object, target: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write(tmp_path / "new.secret", b"data", mode=0o600)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_a_file_and_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    target.chmod(0o644)
    atomic_write(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_erase_file_overwrites_before_unlinking(tmp_path: Path) -> None:
    target = tmp_path / "polynomial.secret"
    target.write_bytes(b"secret coefficients")
    witness = tmp_path / "same-inode"
    os.link(target, witness)  # sees the inode's content after the name is gone
    erase_file(target)
    assert not target.exists()
    assert witness.read_bytes() == bytes(len(b"secret coefficients"))
    erase_file(target)  # erasing what is gone is not an error


# --- secrets never shown -------------------------------------------------------------------------


def test_reprs_of_secret_holders_show_no_secret(context) -> None:  # type: ignore[no-untyped-def]
    seed = bytes(range(7, 39))
    key = SigningKey(seed)
    coefficient = TEST_GROUP.exponent_of(0xDEADBEEFCAFE1234567)
    polynomial = Polynomial((coefficient, coefficient + 1))
    share = KeyShare(2, coefficient, bytes(32), TEST_GROUP.g_pow(coefficient))
    manifest = context.manifest
    style = manifest.ballot_styles[0]
    first_contest = manifest.contests_of_style(style.id)[0][1]
    marked = mark_ballot(manifest, style.id, {first_contest.id: [first_contest.selections[2].id]})
    master_nonce = bytes(range(50, 82))
    pending = encrypt_ballot(context, marked, device_id="kiosk-1", session="s", sequence=1,
                             previous_code=bytes(32), master_nonce=master_nonce,
                             proof_seed=bytes(32))
    secrets = [seed.hex(), coefficient.to_hex().lstrip("0")[:12], master_nonce.hex(),
               first_contest.selections[2].id, "(0, 0, 1, 0)"]
    sealed = SharePlaintext(1, 2, 3, coefficient, bytes(64))  # what a ceremony box holds
    for holder in (key, polynomial, share, pending, marked, pending.marked, sealed):
        for shown in (repr(holder), str(holder)):
            for secret in secrets:
                assert secret not in shown, (holder, secret)
            assert "<secret>" in shown or "secrets=" in shown or "public=" in shown


def test_ceremony_keeps_secrets_out_of_logs_ledger_and_public_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    election = WorkspaceElection.create(tmp_path, TEST_GROUP)
    election.run()
    assert election.progress().outcome is not None
    secrets = []
    for workspace in election.workspaces.values():
        share = workspace.key_share(TEST_GROUP)
        secrets += [share.secret.to_hex(), workspace.signing_key.seed.hex()]
    public = b"".join(entry.encode() for _, entry in election.ledger.entries(0))
    public += b"".join(path.read_bytes() for path in tmp_path.rglob("*")
                       if path.is_file() and path.suffix != ".sqlite")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret.encode() not in public
        assert bytes.fromhex(secret) not in public
        assert secret not in logged
    for path in tmp_path.rglob("*.secret"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Coefficients and received shares are erased once the ceremony closes.
    assert sorted(p.name for p in (tmp_path / "trustee-1").iterdir()) == [
        "identity.secret", "key-share.secret", "trustee.json"]
