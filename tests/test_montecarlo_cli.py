"""End-to-end: the CLI writes valid JSON with the schema fields; determinism; errors write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main
from experiments.common.io import write_json_atomic, write_text_atomic
from experiments.montecarlo.tables import Options, UsageError, run_tables, validate

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--episodes", "6", "--max-iterations", "6", "--bootstrap", "40", "--no-progress", "--no-plot"]
ROW_FIELDS = {"n", "optimizer", "lr", "iterations", "episodes", "diverged", "corr_mean", "corr_std",
              "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std", "cos_before_median",
              "cos_after_median", "knorm_ratio_median", "decrease_source", "decrease_statement", "ci", "paper",
              "comparison"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


PROV_FIELDS = {"seed", "versions", "device", "dtype", "git_commit", "wall_time_s"}


def _rows(path):
    return json.loads(Path(path).read_text())["rows"]


def _numbers(rows):
    keep = ("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std",
            "cos_before_median", "cos_after_median", "knorm_ratio_median", "ci")
    return [{k: r[k] for k in keep} for r in rows]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mc") / "reports"
    assert main(["tables", "--tables", "1", "2", "3", "6", "--seed", "0", "--out", str(out),
                 "--padding-sweep", *TINY]) == 0
    return out


def test_tiny_run_writes_valid_json_with_schema(tiny_run):
    for t in (1, 2, 3, 6):
        doc = json.loads((tiny_run / f"table{t}.json").read_text())
        assert doc["table"] == t and doc["schema_version"] == 1
        assert PROV_FIELDS <= set(doc["provenance"])
        assert doc["provenance"]["versions"]["torch"] == torch.__version__
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
    assert (tiny_run / "REPORT.md").exists() and (tiny_run / "README.md").exists()
    assert not [p for p in tiny_run.iterdir() if p.name.startswith(".")]          # no temp files left


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
    # Table 6 itself does not depend on whether the sweep was requested
    alone = tmp_path / "t6"
    assert main(["tables", "--tables", "6", "--seed", "0", "--out", str(alone), *TINY]) == 0
    assert _numbers(_rows(alone / "table6.json")) == _numbers(t6)


def test_same_seed_same_numbers_other_seed_other_draw(tiny_run, tmp_path):
    again = tmp_path / "again"
    assert main(["tables", "--tables", "2", "--seed", "0", "--out", str(again), *TINY]) == 0
    # Table 2 alone (other tables not requested) gives the numbers of the full run: seeds per configuration
    assert _numbers(_rows(again / "table2.json")) == _numbers(_rows(tiny_run / "table2.json"))
    other = tmp_path / "other"
    assert main(["tables", "--tables", "2", "--seed", "1", "--out", str(other), *TINY]) == 0
    assert _numbers(_rows(other / "table2.json")) != _numbers(_rows(tiny_run / "table2.json"))


@pytest.mark.parametrize("args,needle", [
    (["--tables", "4"], "--tables"),
    (["--tables", "1", "5"], "--tables"),
    (["--episodes", "0"], "--episodes"),
    (["--episodes", "-3"], "--episodes"),
    (["--small-n", "0"], "--small-n"),
    (["--bootstrap", "-1"], "--bootstrap"),
    (["--iterations-scale", "0"], "--iterations-scale"),
    (["--device", "tpu"], "--device"),
])
def test_bad_arguments_fail_clearly_and_write_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["tables", "--out", str(out), "--no-progress", *args])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_requested_but_absent(tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["tables", "--device", "cuda", "--out", str(out), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "no CUDA device" in err
    assert not out.exists()


def test_validate_api():
    with pytest.raises(UsageError, match="--tables"):
        validate(Options(tables=[]))
    with pytest.raises(UsageError, match="--episodes"):
        validate(Options(episodes=1.5))
    o = validate(Options(tables=[6, 1, 1], small_n=[3, 3]))
    assert o.tables == [1, 6] and o.small_n == [3]


def test_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UsageError, match="--out"):
        run_tables(Options(out=str(f), progress=False))
    assert f.read_text() == "x"


def test_atomic_writes(tmp_path):
    p = tmp_path / "a" / "x.json"
    write_json_atomic(p, {"a": float("nan"), "b": (1, 2)})
    assert json.loads(p.read_text()) == {"a": None, "b": [1, 2]}
    write_text_atomic(p, "new")
    assert p.read_text() == "new" and os.listdir(p.parent) == ["x.json"]


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "experiments", "tables", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--episodes" in r.stdout and "--padding-sweep" in r.stdout
