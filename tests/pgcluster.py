"""A throwaway PostgreSQL cluster for tests and benchmarks, started from the installed binaries.

Debian's ``postgresql`` package installs the server under /usr/lib/postgresql/<major>/bin
without starting anything usable by tests. ``start_cluster`` runs ``initdb`` into a
directory of its own, serves on a unix socket in that directory (and on 127.0.0.1 at a
free port), and ``PgCluster.stop`` shuts it down and removes it. Nothing outside that
directory is touched, except on a root machine without a ``postgres`` system user, where
one is created (``initdb`` refuses to run as root).

Pytest wiring (see tests/ledger/conftest.py): a session-scoped fixture per xdist worker,
so two workers run two clusters in two directories and never share a port or socket;
``require_postgres`` skips when the binaries are missing, or fails under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PgCluster",
    "PostgresUnavailable",
    "find_bindir",
    "require_postgres",
    "start_cluster",
]

_TOOLS = ("initdb", "pg_ctl", "postgres")
_SUPERUSER = "paperchain"  # the database role the tests connect as (trust auth, local only)
_FALLBACK_SYSTEM_USER = "paperchain-pg"
_CONF_NAME = "paperchain.conf"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")  # one bin/ per installed major version


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed here."""


def find_bindir(env: Mapping[str, str] | None = None) -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: $PG_BINDIR, the newest
    /usr/lib/postgresql/*/bin (Debian), or wherever ``initdb`` is on $PATH."""
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if env.get("PG_BINDIR"):
        candidates.append(Path(env["PG_BINDIR"]))

    def major(path: Path) -> int:
        match = re.fullmatch(r"\d+", path.parent.name)
        return int(match.group()) if match else -1

    candidates.extend(sorted(_DEBIAN_ROOT.glob("*/bin"), key=major, reverse=True))
    on_path = shutil.which("initdb", path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in _TOOLS):
            return directory
    return None


def require_postgres(env: Mapping[str, str] | None = None) -> Path:
    """The binaries' directory; otherwise skip the test, or fail it when CI=true (CI must
    run the PostgreSQL tests, so a machine without the package is an error there)."""
    import pytest

    env = os.environ if env is None else env
    bindir = find_bindir(env)
    if bindir is not None:
        return bindir
    message = (
        "PostgreSQL server binaries not found (looked in $PG_BINDIR, /usr/lib/postgresql/*/bin "
        "and $PATH): install Debian's 'postgresql' package to run the PostgreSQL store tests"
    )
    if env.get("CI") == "true":
        pytest.fail(message + " — CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")  # pytest.skip raises


def _system_user() -> str | None:
    """Who runs the server: ourselves, or, as root, the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _FALLBACK_SYSTEM_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         _FALLBACK_SYSTEM_USER],
        check=True, capture_output=True,
    )
    return _FALLBACK_SYSTEM_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgCluster:
    """A running cluster: connect through ``url(dbname)``; ``stop()`` when done."""

    bindir: Path
    base: Path
    port: int
    run_as: str | None
    remove_on_stop: bool

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{_SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_schema(self, name: str, dbname: str = "postgres") -> str:
        """Create an empty schema and return a URL whose connections see only it (its
        search_path): much cheaper than a database per test."""
        self._admin(f'CREATE SCHEMA "{name}"', dbname)
        return f"{self.url(dbname)}&options=-csearch_path%3D{name}"

    def drop_schema(self, name: str, dbname: str = "postgres") -> None:
        self._admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', dbname)

    def _admin(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as connection:
            connection.execute(statement)

    def stop(self) -> None:
        _run(self, ["pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop"], check=False)
        if self.remove_on_stop:
            shutil.rmtree(self.base, ignore_errors=True)


def _run(cluster: PgCluster, command: list[str], check: bool = True) -> None:
    argv = [str(cluster.bindir / command[0]), *command[1:]]
    if cluster.run_as is not None:
        argv = ["runuser", "-u", cluster.run_as, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        log = cluster.base / "server.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(
            f"{' '.join(command[:2])} failed ({result.returncode}):\n{result.stdout}\n"
            f"{result.stderr}\n{tail}"
        )


def start_cluster(
    bindir: Path | None = None, *, base: Path | None = None, durable: bool = False
) -> PgCluster:
    """Start a cluster in ``base`` (a new temporary directory by default, removed on stop).

    An existing cluster in ``base`` is reused (benchmarks keep theirs between runs).
    ``durable=False`` turns fsync off: tests kill clients, not the machine, and run faster.
    """
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL server binaries not found")
    run_as = _system_user()
    remove_on_stop = base is None
    if base is None:
        # As root the server runs as another user, who must reach the socket directory:
        # /tmp is traversable by everyone, pytest's 0700 temporary directories are not.
        base = Path(tempfile.mkdtemp(prefix="pcpg-", dir="/tmp" if run_as else None))
    base.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        shutil.chown(base, run_as)
    cluster = PgCluster(bindir, base, _free_port(), run_as, remove_on_stop)
    try:
        if not (cluster.datadir / "PG_VERSION").exists():
            _run(cluster, ["initdb", "-D", str(cluster.datadir), "-U", _SUPERUSER, "-A", "trust",
                           "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"])
            with (cluster.datadir / "postgresql.conf").open("a") as conf:
                conf.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(cluster.port),
            "unix_socket_directories": f"'{cluster.socket_dir}'",
            "fsync": "on" if durable else "off",
            "full_page_writes": "on" if durable else "off",
            "max_connections": "40",
        }
        conf_path = cluster.datadir / _CONF_NAME
        conf_path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if run_as is not None:
            shutil.chown(conf_path, run_as)
        _run(cluster, ["pg_ctl", "-D", str(cluster.datadir), "-l", str(base / "server.log"),
                       "-w", "-t", "60", "start"])
    except BaseException:
        if remove_on_stop:
            shutil.rmtree(base, ignore_errors=True)
        raise
    return cluster
