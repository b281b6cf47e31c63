"""The README is executable documentation: its commands are what CI runs, they parse with the real CLI,
its tour runs, and the figures of its Results section are the committed results' (so they cannot drift)."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "experiments").rglob("README.md"))]


def _blocks(lang, text=README):
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(b.strip() for b in _blocks("bash") if "pytest" in b)
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#")]
    assert test_cmd in ci, f"README test command {test_cmd!r} not found in .ci/run"


def test_readme_test_command_sets_up_the_data_first():
    """A fresh machine has no Fashion-MNIST: the test command must install it before pytest runs."""
    test_cmd = next(b.strip() for b in _blocks("bash") if "pytest" in b)
    assert "tools/setup-data.sh" in test_cmd
    assert test_cmd.index("tools/setup-data.sh") < test_cmd.index("pytest")
    assert "dataset-fashion-mnist" in (ROOT / "tools" / "setup-data.sh").read_text()


def test_readme_run_command_is_the_montecarlo_run_verb():
    run_cmd = next(b.strip() for b in _blocks("bash") if "experiments" in b)
    assert ("python3 -m experiments montecarlo run --tables 1 2 3 6 --episodes 1000 --seeds 0 1 2 3 4 5 6 7 8 9 --jobs 2 "
            "--device cpu" in run_cmd)


def _experiment_commands():
    """Every ``python[3] -m experiments ...`` command in the READMEs' bash blocks (one per line)."""
    out = []
    for doc in DOCS:
        for block in _blocks("bash", doc.read_text()):
            for line in block.splitlines():
                for part in line.split("&&"):
                    part = part.strip()
                    m = re.match(r"python3? -m experiments (.*)", part)
                    if m:
                        out.append(pytest.param(shlex.split(m.group(1).split("#")[0]),
                                                id=f"{doc.relative_to(ROOT)}:{m.group(1)[:60]}"))
    return out


@pytest.mark.parametrize("argv", _experiment_commands())
def test_documented_commands_parse(argv, capsys):
    """Each documented command is accepted by the CLI as written (resolved with --print-config, no work)."""
    from experiments.__main__ import main

    assert main([*argv, "--print-config"]) == 0, argv
    assert capsys.readouterr().out.strip()


def test_api_tour_runs(capsys):
    (code,) = _blocks("python")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_tour"})
    out = capsys.readouterr().out
    assert "agrees with the reference" in out


def _results_sections():
    body = README[README.index("## Results"):]
    body = body[: body.index("\n## ", 4)] if "\n## " in body[4:] else body
    return [s for s in re.split(r"\n(?=### )", body) if s.startswith("### ")]


NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?:e-?\d+)?%?|(?<![\w.\-])\d+/\d+(?![\w/])")


@pytest.mark.parametrize("section", _results_sections(), ids=lambda s: s.splitlines()[0][4:50])
def test_results_figures_are_the_committed_ones(section):
    """Every decimal figure of a Results subsection appears in the committed files it names."""
    paths = {p.rstrip("/") for p in re.findall(r"`(reports/[^`\s]+)`", section)}
    prose = re.sub(r"`[^`]*`", "", section)                       # code spans: commands, paths, names
    figures = set(NUMBER.findall(prose))
    if not figures:
        return
    assert paths, "a Results subsection with figures must name the committed reports they come from"
    corpus = []
    for p in sorted(paths):
        p = ROOT / p
        assert p.exists(), f"{p} named in README does not exist"
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.suffix in (".md", ".json", ".txt")]
        corpus += [f.read_text(errors="ignore") for f in files]
    text = "\n".join(corpus)
    missing = sorted({n for n in figures if n.lstrip("+-−").rstrip("%") not in text})
    assert not missing, f"figures not found in {sorted(paths)}: {missing}"


def test_no_committed_report_folder_is_mid_commit():
    """A folder holding a write journal may mix two renders (README, Guarantees): none is committed so."""
    left = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "reports").rglob("*")
                  if p.name == ".commit-journal.json" or p.name.endswith(".new"))
    assert not left, f"report folders mid-commit (run their report command again): {left}"


def test_readme_claims_table_is_the_reports():
    """The README's claims block is what ``claims report --readme README.md`` writes from reports/claims.json."""
    from experiments.claims.cli import BEGIN, END, load_claims, readme_block

    text = (ROOT / "README.md").read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == readme_block(load_claims(ROOT / "reports" / "claims.json")).strip(), \
        "run: python -m experiments claims report --readme README.md"
