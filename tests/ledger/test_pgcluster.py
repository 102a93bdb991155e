"""The PostgreSQL test cluster helper: where it finds the server, and what happens when
it cannot (skip on a developer's machine, fail under CI=true)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests import pgcluster


def _fake_bindir(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        path = directory / tool
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.fixture
def no_debian_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgcluster, "_DEBIAN_ROOT", tmp_path / "no-postgresql")


def test_finds_binaries_named_by_pg_bindir(tmp_path: Path, no_debian_install: None) -> None:
    bindir = _fake_bindir(tmp_path / "bin")
    assert pgcluster.find_bindir({"PG_BINDIR": str(bindir), "PATH": ""}) == bindir


def test_prefers_the_newest_debian_major_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcluster, "_DEBIAN_ROOT", tmp_path)
    _fake_bindir(tmp_path / "9" / "bin")
    newest = _fake_bindir(tmp_path / "16" / "bin")
    assert pgcluster.find_bindir({"PATH": ""}) == newest


def test_ignores_a_directory_missing_a_tool(tmp_path: Path, no_debian_install: None) -> None:
    bindir = _fake_bindir(tmp_path / "bin")
    os.remove(bindir / "pg_ctl")
    assert pgcluster.find_bindir({"PG_BINDIR": str(bindir), "PATH": ""}) is None


def test_missing_postgres_skips_outside_ci(no_debian_install: None) -> None:
    with pytest.raises(pytest.skip.Exception, match="install Debian's 'postgresql' package"):
        pgcluster.require_postgres({"PATH": ""})


def test_missing_postgres_fails_under_ci(no_debian_install: None) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this is a failure"):
        pgcluster.require_postgres({"PATH": "", "CI": "true"})
