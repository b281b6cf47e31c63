"""The layout of ``theory/``: the two worlds share checks through ``theory._validate`` only, and
module names never shadow function names.

* No module of ``theory/batched`` imports from ``theory.reference`` (so no twin can call, or reuse a
  private helper of, the function it is checked against), and no module of ``theory/reference``
  imports from ``theory.batched`` or torch. In particular no private name (leading underscore) crosses
  between the two. Imports are read with ``ast``, relative ones resolved, lazy ones included.
* No module of either package has the name of a function it or its package exports: star imports
  would make ``theory.reference.<name>`` the function and hide the module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import theory

THEORY = Path(theory.__file__).resolve().parent
WORLDS = ("reference", "batched")


def _imports(path: Path, package: str):
    """``(module, name)`` pairs imported by the module at ``path`` (``name`` None for ``import module``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    base = package.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([mod] if mod else []))
            for a in node.names:
                yield mod, a.name


def _world_modules(world: str):
    for path in sorted((THEORY / world).glob("*.py")):
        yield path, f"theory.{world}"


def _crossings(world: str, other: str, extra=()):
    """Imports of ``world``'s modules that reach into ``theory.<other>`` (or a module in ``extra``)."""
    bad = []
    target = f"theory.{other}"
    for path, package in _world_modules(world):
        for mod, name in _imports(path, package):
            full = f"{mod}.{name}" if name else mod
            if any(full == t or full.startswith(t + ".") for t in (target, *extra)):
                bad.append(f"{path.name}: {full}")
            elif mod == "theory" and name == other:
                bad.append(f"{path.name}: from theory import {other}")
    return bad


def _private_crossings(world: str, other: str):
    bad = []
    for path, package in _world_modules(world):
        for mod, name in _imports(path, package):
            if mod.startswith(f"theory.{other}") and (
                    (name or "").startswith("_") or any(p.startswith("_") for p in mod.split(".")[2:])):
                bad.append(f"{path.name}: {mod}.{name}")
    return bad


def test_twins_do_not_import_the_references():
    assert not _crossings("batched", "reference"), "theory.batched imports theory.reference"


def test_references_do_not_import_the_twins_or_torch():
    assert not _crossings("reference", "batched", extra=("torch",)), "theory.reference imports torch or twins"


@pytest.mark.parametrize("world, other", [("batched", "reference"), ("reference", "batched")])
def test_no_private_name_crosses_between_the_worlds(world, other):
    assert not _private_crossings(world, other)


def test_the_import_reader_can_fail(tmp_path):
    """Planted offenders of both rules are found (as the twins' imports of ``_lag_ranges``,
    ``_check_lam``, ... and the pedcc twin's import of the reference module were before)."""
    src = ("from ..reference.correlations import _lag_ranges\n"
           "from ..reference import pedcc as _ref\n"
           "def f():\n    import theory.reference.pearson\n")
    path = tmp_path / "planted.py"
    path.write_text(src)
    found = {(m, n) for m, n in _imports(path, "theory.batched")}
    assert ("theory.reference.correlations", "_lag_ranges") in found
    assert ("theory.reference", "pedcc") in found
    assert ("theory.reference.pearson", None) in found


def _exported(world: str) -> set[str]:
    pkg = importlib.import_module(f"theory.{world}")
    names = set()
    for info in pkgutil.iter_modules(pkg.__path__):
        names |= set(getattr(importlib.import_module(f"{pkg.__name__}.{info.name}"), "__all__", ()))
    return names | {n for n in dir(pkg) if not n.startswith("_") and callable(getattr(pkg, n))}


@pytest.mark.parametrize("world", WORLDS)
def test_module_names_differ_from_function_names(world):
    pkg = importlib.import_module(f"theory.{world}")
    modules = {info.name for info in pkgutil.iter_modules(pkg.__path__)}
    clash = sorted(modules & _exported(world))
    assert not clash, f"theory.{world}: modules named like exported functions: {clash}"
    for name in modules:                       # each module is reachable as an attribute, as a module
        assert isinstance(getattr(pkg, name, None), type(pkg)), f"theory.{world}.{name} is not the module"
