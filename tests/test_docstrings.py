"""Every public function of ``theory.reference`` and ``theory.batched`` (their modules' ``__all__``),
``theory.registry.audit`` and ``theory.padding``'s functions has a numpydoc docstring: Parameters,
Returns, Raises (where the function documents bad inputs), and Examples with a ``>>>`` line, which the
default pytest run executes as a doctest (``--doctest-modules`` over ``theory/``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import theory.padding
import theory.registry
from theory.registry import REGISTRY

SECTIONS = ("Parameters\n----------", "Returns\n-------", "Examples\n--------")


def _public():
    for world in ("reference", "batched"):
        pkg = importlib.import_module(f"theory.{world}")
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name in getattr(mod, "__all__", ()):
                fn = getattr(mod, name)
                if callable(fn):
                    yield pytest.param(world, fn, id=f"{mod.__name__}.{name}")
    yield pytest.param("registry", theory.registry.audit, id="theory.registry.audit")
    for name in ("resolve_padding", "output_shape", "full_window"):
        yield pytest.param("padding", getattr(theory.padding, name), id=f"theory.padding.{name}")


def _documents_errors(world: str, fn) -> bool:
    world = {"batched": "twin"}.get(world, world)
    if any(op.name == fn.__name__ and any(world in c.worlds() for c in op.error_inputs()) for op in REGISTRY):
        return True
    return "raise " in inspect.getsource(fn)


@pytest.mark.parametrize("world, fn", list(_public()))
def test_numpydoc_sections_and_a_runnable_example(world, fn):
    doc = inspect.getdoc(fn) or ""
    missing = [s.split("\n")[0] for s in SECTIONS if s not in doc]
    if _documents_errors(world, fn) and "Raises\n------" not in doc:
        missing.append("Raises")
    assert not missing, f"{fn.__qualname__}: no {missing} section"
    assert ">>> " in doc.split("Examples\n--------", 1)[1], f"{fn.__qualname__}: the Examples have no >>> line"
    assert fn.__module__.startswith("theory"), fn.__module__
