"""The package's layers, checked on its source (no imports run).

(a) Only the engine (modules under ``lawfit/engine/``) imports the compiled
    module ``lawfit._core``; everything above reaches the core through
    :mod:`lawfit.engine`.

(b) No module uses another part of the package's private names.  The rule: a
    name starting with one underscore (``_ragged_arange``, ``_status``; dunder
    names such as ``__version__`` are public) belongs to the directory of the
    module that defines it -- for a private *module* ``pkg/_m.py`` that is
    ``pkg/`` -- and may be imported or reached as an attribute
    (``module._name``) only from modules in that same directory.  So
    ``lawfit/result.py`` may use ``lawfit.bootstrap._ragged_arange`` (both in
    ``lawfit/``), but ``lawfit/catalog/law.py`` may not use
    ``lawfit.status`` or ``lawfit.api._listify``.  ``lawfit._core`` is left to
    rule (a).  Relative imports are resolved first; only names of lawfit's
    own modules are checked.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lawfit

ROOT = Path(lawfit.__file__).resolve().parent  # .../python/lawfit
PKG = "lawfit"
CORE = "lawfit._core"


def _modules() -> dict[str, Path]:
    """{dotted module name: file} for every .py file of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return name in MODULES and MODULES[name].name == "__init__.py"


def _package_of(name: str) -> str:
    """The package a module lives in (a package's __init__ lives in the package itself)."""
    return name if _is_package(name) else name.rpartition(".")[0]


def _directory_of(name: str) -> str:
    """The directory (as a package name) that owns module ``name``'s own private names."""
    return _package_of(name)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = _package_of(importer).split(".")
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _uses(importer: str, tree: ast.AST):
    """(line, dotted path) of every lawfit module or name the module imports or reaches as an attribute."""
    aliases: dict[str, str] = {}  # local name -> the lawfit module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] != PKG:
                    continue
                yield node.lineno, a.name
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(importer, node)
            if mod.split(".")[0] != PKG:
                continue
            yield node.lineno, mod
            for a in node.names:
                if a.name == "*":
                    continue
                full = f"{mod}.{a.name}"
                yield node.lineno, full
                if full in MODULES:
                    aliases[a.asname or a.name] = full
    for node in ast.walk(tree):  # module._name, lawfit.api._x
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                yield node.lineno, ".".join([aliases[base.id]] + chain[::-1])


def _owner(path: str) -> tuple[str, str] | None:
    """For a dotted path, the first private component and the directory that owns it (or None)."""
    parts = path.split(".")
    for i in range(1, len(parts)):
        if _private(parts[i]):
            parent = ".".join(parts[:i])
            return ".".join(parts[:i + 1]), _directory_of(parent) if parent in MODULES else parent
    return None


def _relative(name: str) -> str:
    path = MODULES[name]
    return str(path.relative_to(ROOT.parent))


def _scan():
    core, private = [], []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = _directory_of(name)  # a package's __init__ sits in its own directory
        for line, used in sorted(set(_uses(name, tree))):
            where = f"{_relative(name)}:{line}"
            if used == CORE or used.startswith(CORE + "."):
                if not name.startswith(f"{PKG}.engine.") and name != f"{PKG}.engine":
                    core.append(f"{where} imports {CORE}")
                continue
            hit = _owner(used)
            if hit is None:
                continue
            what, owner = hit
            if what == CORE:
                continue
            if owner != here:
                private.append(f"{where} uses {what} (private to {owner.replace('.', '/')}/)")
    return sorted(set(core)), sorted(set(private))


CORE_VIOLATIONS, PRIVATE_VIOLATIONS = _scan()

def test_scanner_sees_imports():
    """The scanner resolves relative imports and aliases (else the checks below would pass vacuously)."""
    tree = ast.parse("from . import native as n\nfrom .. import api\nimport lawfit.bootstrap as b\n"
                     "x = api._listify\ny = b._ragged_arange\nfrom ..catalog.law import _trace_formula\n")
    used = {u for _, u in _uses("lawfit.engine.core", tree)}
    assert "lawfit.engine.native" in used
    assert "lawfit.api._listify" in used
    assert "lawfit.bootstrap._ragged_arange" in used
    assert "lawfit.catalog.law._trace_formula" in used
    assert _owner("lawfit.api._listify") == ("lawfit.api._listify", "lawfit")
    assert _owner("lawfit.status.Status") is None  # a public module's public name
    assert _owner("lawfit.catalog._grid.x") == ("lawfit.catalog._grid", "lawfit.catalog")
    assert _owner("lawfit.engine.native.__version__") is None
    assert _package_of("lawfit.engine") == "lawfit.engine"
    assert _package_of("lawfit.engine.core") == "lawfit.engine"


def test_only_the_engine_imports_core():
    assert "lawfit.engine.native" in MODULES
    assert not CORE_VIOLATIONS, "only lawfit/engine/ may import lawfit._core:\n" + "\n".join(CORE_VIOLATIONS)


def test_no_private_names_across_directories():
    """A name starting with one underscore is used only in its own package directory."""
    assert not PRIVATE_VIOLATIONS, "\n".join(PRIVATE_VIOLATIONS)
