"""The committed reports say truthfully what produced them: a committed commit, with no local changes."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WITH_PROVENANCE = sorted(p for p in (ROOT / "reports").rglob("*.json") if '"git_dirty"' in p.read_text())


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except OSError:
        return None


def test_there_are_reports_with_provenance():
    names = {p.relative_to(ROOT).as_posix() for p in WITH_PROVENANCE}
    assert {"reports/montecarlo/results.json", "reports/claim2d/summary.json"} <= names


@pytest.mark.parametrize("path", WITH_PROVENANCE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_results_come_from_a_clean_committed_tree(path):
    prov = json.loads(path.read_text())["provenance"]
    assert prov["git_dirty"] is False, f"{path.name} was produced with local changes (git_dirty true)"
    commit = prov["git_commit"]
    assert commit and len(commit) == 40
    shallow = _git("rev-parse", "--is-shallow-repository")
    if shallow is None or shallow.returncode != 0 or shallow.stdout.strip() == "true":
        pytest.skip("no full git history here to check the commit against")
    r = _git("merge-base", "--is-ancestor", commit, "HEAD")
    assert r.returncode == 0, f"{path.name}: provenance commit {commit[:10]} is not in this branch's history"


@pytest.mark.parametrize("argv", [["cs", "plan", "--study", "table5"], ["cs", "plan", "--study", "fig5"],
                                  ["mfd", "plan", "--study", "lambda"], ["pod", "plan", "--study", "dims"],
                                  ["pod", "plan", "--study", "table5"], ["pod", "plan", "--study", "table6"]])
def test_committed_training_results_are_still_the_quick_protocols_runs(argv, capsys):
    """Changing a default that changes numbers (e.g. the memory format) must not orphan the committed
    results: the quick protocols' plans still find every run done."""
    from experiments.__main__ import main

    assert main(argv) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "would run" not in text and "done" in text
