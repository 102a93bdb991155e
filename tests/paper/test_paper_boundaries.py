"""The shape of ``paper``: one reportlab module, one qrcode module, no tally, explicit APIs."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import paper

PAPER = Path(paper.__file__).parent
MODULES = sorted(p.stem for p in PAPER.glob("*.py") if p.stem != "__init__")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_layout_imports_reportlab_and_only_qr_imports_qrcode() -> None:
    importers = {p.stem: _imports(p) for p in PAPER.glob("*.py")}
    assert {m for m, names in importers.items() if "reportlab" in names} == {"layout"}
    assert {m for m, names in importers.items() if "qrcode" in names} == {"qr"}


def test_paper_never_imports_tally() -> None:
    for path in PAPER.glob("*.py"):
        assert "tally" not in _imports(path), path.name


def test_package_re_exports_nothing() -> None:
    assert paper.__all__ == []


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(f"paper.{name}")
    declared = set(module.__all__)
    assert all(hasattr(module, n) for n in declared)
    defined = {
        n for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }
    assert defined <= declared, f"public but not in __all__: {sorted(defined - declared)}"
