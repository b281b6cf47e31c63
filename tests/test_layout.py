"""The layout rules, checked on the source: experiment packages never import each other, ``common`` and
``training`` import no experiment, ``theory`` knows nothing of experiments, there is no import cycle, and
nothing reaches for files outside the repository or edits ``sys.path``.

The import graph is read with ``ast`` from every module of ``theory/`` and ``experiments/`` (imports inside
functions included, since a lazy import is still a dependency); cycles are found as strongly connected
components (Tarjan) of that graph.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "experiments")
EXPERIMENT_PACKAGES = ("montecarlo", "claim2d", "cs", "mfd", "pod")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(p)] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the project that ``name`` imports (resolving relative imports and ``from pkg import mod``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            # the longest known module that is t or a parent of t
            parts = t.split(".")
            for k in range(len(parts), 0, -1):
                cand = ".".join(parts[:k])
                if cand in known:
                    if cand != name:
                        found.add(cand)
                    break
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_within(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def _package_init_edges(graph):
    """Edges from a package's ``__init__`` to its own submodules do not make a cycle worth reporting."""
    return {m: {t for t in ts if not _is_within(t, m)} for m, ts in graph.items()}


def test_graph_is_read_at_all():
    g = _graph()
    assert "experiments.common.cli" in g and "theory.registry" in g
    assert "experiments.common.cli" in g["experiments.__main__"]


def test_tarjan_finds_a_planted_cycle():
    comps = _sccs({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert ["a", "b", "c"] in comps and ["d"] in comps


def test_no_import_cycle():
    cycles = [c for c in _sccs(_package_init_edges(_graph())) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("pkg", EXPERIMENT_PACKAGES)
def test_experiment_packages_do_not_import_each_other(pkg):
    me = f"experiments.{pkg}"
    others = [f"experiments.{p}" for p in EXPERIMENT_PACKAGES if p != pkg]
    bad = {m: sorted(t for t in ts if any(_is_within(t, o) for o in others))
           for m, ts in _graph().items() if _is_within(m, me)}
    bad = {m: ts for m, ts in bad.items() if ts}
    assert not bad, f"{pkg} imports another experiment package: {bad}"


@pytest.mark.parametrize("pkg", ["experiments.common", "experiments.training", "theory"])
def test_shared_layers_import_no_experiment(pkg):
    forbidden = [f"experiments.{p}" for p in EXPERIMENT_PACKAGES]
    if pkg == "theory":
        forbidden = ["experiments"]
    if pkg == "experiments.common":
        forbidden.append("experiments.training")
    bad = {m: sorted(t for t in ts if any(_is_within(t, f) for f in forbidden))
           for m, ts in _graph().items() if _is_within(m, pkg)}
    bad = {m: ts for m, ts in bad.items() if ts}
    assert not bad, f"{pkg} imports what it must not: {bad}"


def _sources():
    for pkg in (*PACKAGES, "benchmarks", "tests"):
        yield from sorted((ROOT / pkg).rglob("*.py"))


def test_no_sys_path_edits():
    bad = [str(p.relative_to(ROOT)) for p in _sources()
           if p.name != "test_layout.py" and re.search(r"sys\.path\.(insert|append)", p.read_text())]
    assert not bad, f"sys.path edits: {bad}"


OUTSIDE = re.compile(r"\.\./shared|CONVENTIONS\.md|\bissue \d+\b", re.I)


def test_sources_point_to_nothing_outside_the_repository():
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in _sources() if p.name != "test_layout.py"
           for i, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert not bad, f"references outside the repository: {bad}"
