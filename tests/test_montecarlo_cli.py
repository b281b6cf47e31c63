"""End to end, ``python -m experiments montecarlo {run,report}``: the results JSON and its schema, the report
rendered from the results alone, determinism, the flags (help, config round trip), errors that write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main
from experiments.common.cli import UsageError
from experiments.common.io import write_json_atomic, write_text_atomic
from experiments.montecarlo import episodes as ep
from experiments.montecarlo.spec import RunOptions

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--episodes", "6", "--max-iterations", "6", "--bootstrap", "40", "--no-progress"]
ROW_FIELDS = {"n", "optimizer", "lr", "iterations", "episodes", "diverged", "corr_mean", "corr_std",
              "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std", "cos_before_median",
              "cos_after_median", "knorm_ratio_median", "decrease_source", "decrease_statement", "ci", "paper",
              "comparison"}
PROV_FIELDS = {"seed", "versions", "device", "dtype", "git_commit", "wall_time_s"}
MARKDOWN = ["README.md", "REPORT.md", "padding_sweep.md", "fixed_norm.md", "cos2_table3.md", "table1.md", "table2.md", "table3.md",
            "table6.md"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _run(*args):
    return main(["montecarlo", "run", *args])


def _rows(path):
    return json.loads(Path(path).read_text())["rows"]


def _numbers(rows):
    keep = ("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std",
            "cos_before_median", "cos_after_median", "knorm_ratio_median", "ci")
    return [{k: r[k] for k in keep} for r in rows]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mc") / "reports"
    assert _run("--tables", "1", "2", "3", "6", "--seed", "0", "--out", str(out), "--padding-sweep", "--fixed-norm",
                "--cos2-section", *TINY) == 0
    return out


def test_tiny_run_writes_results_and_report(tiny_run):
    names = sorted(p.name for p in tiny_run.iterdir())
    assert names == sorted(MARKDOWN + ["padding_sweep.json", "fixed_norm.json", "cos2_table3.json", "results.json", "table1.json", "table2.json",
                                       "table3.json", "table6.json", "trajectories.png"])
    for t in (1, 2, 3, 6):
        doc = json.loads((tiny_run / f"table{t}.json").read_text())
        assert doc["table"] == t and doc["schema_version"] == 2
        assert PROV_FIELDS <= set(doc["provenance"])
        assert doc["provenance"]["versions"]["torch"] == torch.__version__
        assert doc["provenance"]["command"].startswith("python -m experiments montecarlo run --tables 1 2 3 6")
        # rows: N = 2 and 3 for the smallest size, then 9 and 16, Adam before SGD
        assert [(r["n"], r["optimizer"]) for r in doc["rows"]] == [
            (2, "adam"), (2, "sgd"), (3, "adam"), (3, "sgd"), (9, "adam"), (9, "sgd"), (16, "adam"), (16, "sgd")]
        for r in doc["rows"]:
            assert ROW_FIELDS <= set(r), ROW_FIELDS - set(r)
            assert r["episodes"] == 6 and r["iterations"] == 6
            assert set(r["paper"]) == set(doc["columns"])
        assert doc["verdict"]["smallest_n"] in (2, 3) and doc["verdict"]["text"]
        assert (tiny_run / f"table{t}.md").read_text().startswith("## Table")
    t8 = json.loads((tiny_run / "table2.json").read_text())
    assert t8["rows"][1]["lr"] == 0.2 and t8["experiment"]["hyper_table"] == 8
    index = json.loads((tiny_run / "results.json").read_text())
    assert index["schema_version"] == 2 and index["experiment"] == "montecarlo"
    assert index["documents"] == {"table1": "table1.json", "table2": "table2.json", "table3": "table3.json",
                                  "table6": "table6.json", "padding_sweep": "padding_sweep.json",
                                  "fixed_norm": "fixed_norm.json", "cos2_table3": "cos2_table3.json"}
    # the curves behind trajectories.png: Tables 1 and 2/3, every row, median ratios start at 1
    curves = index["trajectories"]
    assert sorted((c["experiment"], c["n"], c["optimizer"]) for c in curves) == sorted(
        (e, n, o) for e in ("kernel_full", "cs_full") for n in (2, 3, 9, 16) for o in ("adam", "sgd"))
    for c in curves:
        assert len(c["t"]) == len(c["sim_ratio"]) == len(c["cos"]) == len(c["fnorm_ratio"]) == 7
        assert c["t"][0] == 0.0 and c["t"][-1] == 1.0 and c["sim_ratio"][0] == pytest.approx(1.0)
    assert (tiny_run / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![median trajectories](trajectories.png)" in (tiny_run / "REPORT.md").read_text()
    assert not [p for p in tiny_run.iterdir() if p.name.startswith(".")]          # no temp files left


def test_report_is_a_pure_function_of_the_results(tiny_run, tmp_path, monkeypatch):
    """``report`` re-renders the same markdown from the results alone (no episode is run) into --out only."""
    def no_episodes(*a, **k):
        raise AssertionError("the report verb ran episodes")
    monkeypatch.setattr(ep, "run_batched", no_episodes)
    before = {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()}
    out = tmp_path / "elsewhere"
    assert main(["montecarlo", "report", "--results", str(tiny_run), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(MARKDOWN + ["trajectories.png"])
    for name in MARKDOWN:
        assert (out / name).read_text() == (tiny_run / name).read_text(), name
    assert {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()} == before       # results untouched
    bare = tmp_path / "bare"
    assert main(["montecarlo", "report", "--results", str(tiny_run), "--out", str(bare), "--no-plot"]) == 0
    assert not (bare / "trajectories.png").exists()
    assert "trajectories.png" not in (bare / "REPORT.md").read_text()


def test_no_report_writes_the_results_only(tmp_path):
    out = tmp_path / "r"
    assert _run("--tables", "1", "--out", str(out), "--no-report", *TINY) == 0
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "table1.json"]


def _close(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


def test_padding_sweep_rows_reuse_table6_runs(tiny_run, tmp_path):
    sweep = _rows(tiny_run / "padding_sweep.json")
    t6 = _rows(tiny_run / "table6.json")
    for r6 in t6:
        rows = [r for r in sweep if r["n"] == r6["n"] and r["optimizer"] == r6["optimizer"]]
        assert [r["padding_label"] for r in rows] == [f"P={k}" for k in range(r6["n"])] + ["same"]
        assert rows[0]["pads"] == [0, 0]
        # P = 0 is 'valid': Table 6's runs, measured another way (full minus edges): equal up to rounding
        assert _close(_numbers([rows[0]]), _numbers([r6]))
    # Table 6 itself does not depend on whether the sweep was requested: the same kernels and Gram values
    # bit for bit; the running correlation moments are reduced over a wider tensor, so equal to rounding
    alone = tmp_path / "t6"
    assert _run("--tables", "6", "--seed", "0", "--out", str(alone), "--no-report", *TINY) == 0
    assert _close(_numbers(_rows(alone / "table6.json")), _numbers(t6))


def test_cos2_section_judges_the_same_runs_without_scale(tiny_run):
    from experiments.montecarlo.metrics import similarity  # noqa: F401  (the metric the section uses)

    cos2 = json.loads((tiny_run / "cos2_table3.json").read_text())
    free = _rows(tiny_run / "table3.json")
    assert cos2["options"]["metric"] == "cos2" and cos2["table"] == 3 and cos2["verdict"]["text"]
    for c, u in zip(cos2["rows"], free):
        assert (c["n"], c["optimizer"]) == (u["n"], u["optimizer"])
        # same runs: the scale-free statistics agree; the similarity-based ones differ
        assert c["cos_before_median"] == u["cos_before_median"] and c["cos_after_median"] == u["cos_after_median"]
        assert c["knorm_ratio_median"] == u["knorm_ratio_median"]
    assert "Table 3 judged with s_t = cos²" in (tiny_run / "REPORT.md").read_text()


def test_fixed_norm_control_holds_the_norms_on_the_same_draws(tiny_run):
    fixed = _rows(tiny_run / "fixed_norm.json")
    free = _rows(tiny_run / "table3.json")
    assert [(r["n"], r["optimizer"]) for r in fixed] == [(r["n"], r["optimizer"]) for r in free]
    for f, u in zip(fixed, free):
        assert f["knorm_ratio_median"] == pytest.approx(1.0, abs=1e-12)        # the kernels cannot shrink
        assert f["cos_before_median"] == u["cos_before_median"]                 # the same episodes at t = 0
        assert f["unconstrained"]["reduction_freq"] == u["reduction_freq"]
        assert set(f["paper"]) == set(u["paper"])                               # Table 3's values, for reference
    assert "Fixed-norm control" in (tiny_run / "REPORT.md").read_text()


def test_same_seed_same_numbers_other_seed_other_draw(tiny_run, tmp_path):
    again = tmp_path / "again"
    assert _run("--tables", "2", "--seed", "0", "--out", str(again), "--no-report", *TINY) == 0
    # Table 2 alone (other tables not requested) gives the numbers of the full run: seeds per configuration
    assert _numbers(_rows(again / "table2.json")) == _numbers(_rows(tiny_run / "table2.json"))
    other = tmp_path / "other"
    assert _run("--tables", "2", "--seed", "1", "--out", str(other), "--no-report", *TINY) == 0
    assert _numbers(_rows(other / "table2.json")) != _numbers(_rows(tiny_run / "table2.json"))


@pytest.mark.parametrize("args,needle", [
    (["--tables", "4"], "--tables"),
    (["--tables", "1", "5"], "--tables"),
    (["--tables", "one"], "--tables"),
    (["--episodes", "0"], "--episodes"),
    (["--episodes", "-3"], "--episodes"),
    (["--episodes", "1.5"], "--episodes"),
    (["--small-n", "0"], "--small-n"),
    (["--bootstrap", "-1"], "--bootstrap"),
    (["--iterations-scale", "0"], "--iterations-scale"),
    (["--dtype", "float16"], "--dtype"),
    (["--metric", "l2"], "--metric"),
    (["--device", "tpu"], "--device"),
    (["--set", "episodes=0"], "--episodes"),
    (["--set", "nope=1"], "--set"),
])
def test_bad_arguments_fail_clearly_and_write_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        _run("--out", str(out), "--no-progress", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "montecarlo run: error" in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_requested_but_absent(tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        _run("--device", "cuda", "--out", str(out), "--no-progress")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "no CUDA device" in err
    assert not out.exists()


def test_validate_api():
    with pytest.raises(UsageError, match="--tables"):
        RunOptions(tables=[]).validate()
    with pytest.raises(UsageError, match="--episodes"):
        RunOptions(episodes=1.5).validate()
    o = RunOptions(tables=[6, 1, 1], small_n=[3, 3]).validate()
    assert o.tables == [1, 6] and o.small_n == [3]


@pytest.mark.parametrize("verb", ["run", "report"])
def test_out_is_a_file(verb, tmp_path, capsys, tiny_run):
    f = tmp_path / "file"
    f.write_text("x")
    extra = ["--results", str(tiny_run)] if verb == "report" else ["--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(["montecarlo", verb, "--out", str(f), *extra])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err
    assert f.read_text() == "x"


def test_report_needs_a_results_directory(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["montecarlo", "report", "--results", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "--results" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_print_config_round_trips_through_config(tmp_path, capsys):
    assert _run("--tables", "2", "1", "--episodes", "7", "--padding-sweep", "--max-iterations", "3",
                "--print-config") == 0
    text = capsys.readouterr().out
    assert "tables = [1, 2]" in text and "episodes = 7" in text and "padding_sweep = true" in text
    cfg = tmp_path / "mc.toml"
    cfg.write_text(text)
    assert _run("--config", str(cfg), "--print-config") == 0
    assert capsys.readouterr().out == text
    assert _run("--config", str(cfg), "--episodes", "9", "--print-config") == 0     # flags override the file
    assert "episodes = 9" in capsys.readouterr().out
    assert not (ROOT / "mc.toml").exists()


def test_atomic_writes(tmp_path):
    p = tmp_path / "a" / "x.json"
    write_json_atomic(p, {"a": float("nan"), "b": (1, 2)})
    assert json.loads(p.read_text()) == {"a": None, "b": [1, 2]}
    write_text_atomic(p, "new")
    assert p.read_text() == "new" and os.listdir(p.parent) == ["x.json"]


@pytest.mark.parametrize("verb,expect", [
    ("run", ["--episodes", "(default: 1000)", "--tables", "(default: 1 2 3 6)", "--padding-sweep",
             "(default: False)", "(default: reports/montecarlo)", "--no-report", "{float64,float32}"]),
    ("report", ["--results", "--out", "(default: reports/montecarlo)", "--no-plot"]),
])
def test_help_lists_every_flag_with_its_default(verb, expect):
    r = subprocess.run([sys.executable, "-m", "experiments", "montecarlo", verb, "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    missing = [e for e in expect if e not in text]
    assert not missing, missing


def test_the_old_tables_command_is_gone(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tables", "--episodes", "2"])
    assert exc.value.code == 2
