"""The layers (DESIGN.md, "Packages"; STYLE.md, "Shape") and each package's public surface.

* ``e2e`` imports neither ``tally`` nor ``paper`` — read from the source (every ``import``,
  ``from … import`` and literal ``importlib.import_module``) and checked again by importing
  every ``e2e`` module in a fresh interpreter;
* ``reportlab`` is imported only by ``paper/layout.py`` and ``qrcode`` only by ``paper/qr.py``;
* every name a module or package lists in ``__all__`` exists, once, and every module that
  defines public functions or classes says which in ``__all__``.

The tests read whatever modules exist, so packages still being written are covered as
they land.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("e2e", "tally", "paper", "paperchain")
ONLY_IMPORTER = {"reportlab": "paper/layout.py", "qrcode": "paper/qr.py"}


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved)."""
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path),
                       is_package=path.name == "__init__.py")


def _imports_of(source: str, module: str, is_package: bool) -> set[str]:
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                  "import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_import_walker_sees_every_kind_of_import() -> None:
    source = (
        "import tally.risk\n"
        "from paper import layout\n"
        "from .. import ceremony\n"
        "from .store import open_store\n"
        "def f():\n"
        "    import qrcode\n"
        "    importlib.import_module('reportlab.pdfgen')\n"
    )
    found = _imports_of(source, "e2e.ledger.client", is_package=False)
    assert {"tally.risk", "paper.layout", "e2e.ceremony", "e2e.ledger.store.open_store",
            "qrcode", "reportlab.pdfgen"} <= found
    assert "e2e.ledger.entry" in _imported_modules(ROOT / "e2e" / "ledger" / "client.py")


@pytest.mark.parametrize("path", _sources("e2e"), ids=lambda p: str(p.relative_to(ROOT)))
def test_e2e_module_imports_neither_tally_nor_paper(path: Path) -> None:
    forbidden = sorted(m for m in _imported_modules(path) if _top(m) in ("tally", "paper"))
    assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_importing_all_of_e2e_loads_no_tally_paper_reportlab_or_qrcode() -> None:
    modules = [_module_name(p) for p in _sources("e2e") if p.name != "__main__.py"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    loaded = set(ast.literal_eval(result.stdout.strip()))
    assert "e2e" in loaded
    assert not loaded & {"tally", "paper", "paperchain", "reportlab", "qrcode"}


@pytest.mark.parametrize("library", sorted(ONLY_IMPORTER))
def test_library_is_imported_by_its_one_leaf_module_only(library: str) -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES for path in _sources(package)
        if library in {_top(m) for m in _imported_modules(path)}
    )
    assert importers in ([], [ONLY_IMPORTER[library]]), importers


# --- __all__ ----------------------------------------------------------------------------------


def _modules() -> list[str]:
    return [_module_name(path) for package in PACKAGES for path in _sources(package)
            if path.name != "__main__.py"]


@pytest.mark.parametrize("name", _modules())
def test_every_name_in_all_exists_once(name: str) -> None:
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    if listed is None:
        defined = [n for n, v in vars(module).items()
                   if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                   and getattr(v, "__module__", None) == name]
        assert not defined, f"{name} defines {defined} but has no __all__"
        return
    assert all(isinstance(item, str) for item in listed)
    assert len(set(listed)) == len(listed), f"{name}.__all__ repeats a name"
    missing = [item for item in listed if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ lists {missing}, which do not exist"


@pytest.mark.parametrize("package", ["e2e", "e2e.ledger", "tally"])
def test_package_all_lists_only_existing_names(package: str) -> None:
    module = importlib.import_module(package)
    assert isinstance(module.__all__, list)
    for item in module.__all__:
        assert hasattr(module, item) or importlib.util.find_spec(f"{package}.{item}"), item


# The e2e library's public API is its modules' __all__: every public class and function a
# module defines is listed (the other packages are checked by their own tests or not yet).
_E2E_MODULES = [m for m in _modules() if m == "e2e" or m.startswith("e2e.")]


@pytest.mark.parametrize("name", _E2E_MODULES)
def test_e2e_all_lists_every_public_class_and_function(name: str) -> None:
    module = importlib.import_module(name)
    listed = set(getattr(module, "__all__", ()))
    defined = {n for n, v in vars(module).items()
               if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
               and getattr(v, "__module__", None) == name}
    assert defined <= listed, f"{name}: public but not in __all__: {sorted(defined - listed)}"
