"""A ledger operator's directory: the store, the operator's key and its configuration.

::

    LEDGER/
      ledger.json     {"version": 1, "election_id", "test_group": bool, "operator_key": hex,
                       "origin": "<log origin>", "store": "sqlite:ledger.sqlite" | "postgresql://…"}
      operator.key    the operator's Ed25519 seed, hex, mode 0600 (a server key, kept like a
                      TLS key: unencrypted so the service can start unattended)
      ledger.sqlite   the SQLite store (unless ``store`` names PostgreSQL)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from e2e.encoding import ObjectReader, canonical_json, parse_json_object
from e2e.errors import SecretStoreError, UsageError
from e2e.keystore import atomic_write
from e2e.ledger.store import LogStore, directory_store_location, open_store
from e2e.signing import SigningKey, VerifyKey

__all__ = ["LedgerConfig", "init_ledger_directory", "open_ledger_directory"]

CONFIG = "ledger.json"
OPERATOR_KEY = "operator.key"


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    directory: Path
    election_id: str
    test_group: bool
    operator_key: VerifyKey
    origin: str
    store_url: str

    def store_location(self) -> str:
        return directory_store_location(self.directory, self.store_url,
                                        str(self.directory / CONFIG))


def init_ledger_directory(directory: Path, *, election_id: str, test_group: bool = False,
                          origin: str | None = None, store_url: str = "sqlite:ledger.sqlite"
                          ) -> LedgerConfig:
    directory = Path(directory)
    directory_store_location(directory, store_url, "--store")  # refuse before writing
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CONFIG).exists():
        raise UsageError("this directory already holds a ledger", str(directory))
    key = SigningKey.generate()
    atomic_write(directory / OPERATOR_KEY, key.seed.hex().encode(), mode=0o600)
    config = LedgerConfig(directory, election_id, test_group, key.verify_key,
                          origin or f"paperchain.ledger/{election_id}", store_url)
    atomic_write(directory / CONFIG, canonical_json({
        "version": 1, "election_id": election_id, "test_group": test_group,
        "operator_key": key.verify_key.to_hex(), "origin": config.origin, "store": store_url,
    }))
    return config


def open_ledger_directory(directory: Path) -> tuple[LedgerConfig, SigningKey, LogStore]:
    directory = Path(directory)
    where = str(directory / CONFIG)
    try:
        raw = (directory / CONFIG).read_bytes()
    except OSError:
        raise UsageError("not a ledger directory (ledger.json missing)", str(directory)) from None
    obj = ObjectReader(parse_json_object(raw, where), where)
    obj.version([1])
    test_group = obj.raw("test_group")
    if not isinstance(test_group, bool):
        raise UsageError("test_group must be true or false", f"{where}.test_group")
    config = LedgerConfig(directory, obj.string("election_id", 64), test_group,
                          VerifyKey.from_hex(obj.string("operator_key", 64), where),
                          obj.string("origin", 256), obj.string("store", 1024))
    obj.done()
    key_path = directory / OPERATOR_KEY
    if key_path.stat().st_mode & 0o077:
        raise SecretStoreError("operator.key is readable by others (expected mode 0600)",
                               str(key_path))
    try:
        key = SigningKey(bytes.fromhex(key_path.read_text().strip()))
    except (OSError, ValueError):
        raise SecretStoreError("operator.key is unreadable or malformed", str(key_path)) from None
    if key.verify_key != config.operator_key:
        raise SecretStoreError("operator.key does not match ledger.json", str(key_path))
    return config, key, open_store(config.store_location())
