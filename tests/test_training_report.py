"""The CS studies (Table 5 / Figure 5 analogues): plans, the ``cs`` verbs end to end on a tiny Fashion-MNIST-format
fixture, skip / conflict rules and the report; everything a command writes stays under the directories it was given."""

import json
from pathlib import Path

import pytest

from experiments.__main__ import main
from experiments.cs.metrics import table5_rows, verdict
from experiments.cs.run import fig5_runs, table5_runs
from experiments.cs.spec import FIG5_ITERS, CSPlan
from tests.training_fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_protocol_plans():
    q = [r.config for r in table5_runs(CSPlan().validate())]
    assert len(q) == 2 * 3 * 3
    assert {(c.model, c.cs_init_iters, c.cs_beta) for c in q} == {
        (m, i, b) for m in ("cnn1", "cnn2") for i, b in ((0, 0.0), (500, 0.0), (0, 0.001))}
    assert all(c.lr == 0.01 and c.momentum == 0.0 and c.batch_size == 512 and c.optimizer == "sgd" for c in q)
    p = [r.config for r in table5_runs(CSPlan(protocol="paper").validate())]
    assert all(c.epochs == 100 and c.train_per_class is None and c.test_per_class is None for c in p)
    f = [r.config for r in fig5_runs(CSPlan(study="fig5", protocol="paper").validate())]
    assert [c.cs_init_iters for c in f] == list(FIG5_ITERS) == [0, 10, 20] + list(range(40, 201, 20))
    assert all(c.model == "resnet18" and c.batch_size == 64 and c.lr == 0.01 and c.epochs == 50 for c in f)
    assert len({c.out_dir for c in q + p + f}) == len(q + p + f)


def test_table5_cli_report_and_skip(tmp_path, capsys):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 12, 4)
    out, runs, rep = tmp_path / "out", tmp_path / "runs", tmp_path / "report"
    args = ["cs", "run", "--study", "table5", "--models", "cnn1", "--seeds", "0", "1", "--epochs", "2",
            "--train-per-class", "12", "--test-per-class", "4", "--init-iters", "5", "--tag", "t", "--out", str(out),
            "--runs-dir", str(runs), "--data-root", str(data), "--no-progress", "--no-report", "--threads", "1"]
    assert main(args) == 0
    res = out / "results" / "quick-t" / "table5"
    files = sorted(p.name for p in res.glob("*.json"))
    assert files == [f"cnn1-{m}-s{s}.json" for m in ("alg1", "alg2", "baseline") for s in (0, 1)]
    assert sorted(p.name for p in out.iterdir()) == ["results"]               # --no-report: results only
    rec = json.loads((res / "cnn1-alg1-s0.json").read_text())
    assert rec["config"]["cs_init_iters"] == 5 and len(rec["cs_init"]["l_cs"]) == 6
    assert rec["steps"]["step"] == [1, 2]                  # 120 images, batch 512: one step per epoch
    # a second call skips every run; a different setting under the same tag is a usage error naming it
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().err.count("skipped") == 6
    with pytest.raises(SystemExit) as e:
        main([a if a != "5" else "7" for a in args])
    assert e.value.code == 2 and "cs_init_iters: 5 there, 7 now" in capsys.readouterr().err

    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep)]) == 0
    text = (rep / "REPORT.md").read_text()
    for paper in ("74.66", "79.16", "77.16"):
        assert paper in text
    assert "Fashion-MNIST" in text and "CIFAR-10" in text and "quick-t" in text and "Verdict" in text
    for fig in ("fig1_lcs", "fig2_loss", "fig3_train_acc", "test_acc"):
        assert (rep / "figures" / f"quick-t_{fig}.png").stat().st_size > 1000
        assert f"figures/quick-t_{fig}.png" in text

    rows = table5_rows([json.loads(p.read_text()) for p in res.glob("*.json")])
    assert set(rows) == {("cnn1", "baseline"), ("cnn1", "alg1"), ("cnn1", "alg2")}
    assert rows[("cnn1", "alg1")]["seeds"] == [0, 1]
    lines = verdict(rows, "cnn1")
    assert len(lines) == 2 and "paper: +4.50 pp" in lines[0]


def test_run_and_report_write_only_into_the_given_directories(tmp_path, monkeypatch):
    # a run with its report, then a report of those results elsewhere: only OUT, RUNS and REP change; the
    # committed reports/ and the working directory (where relative defaults would land) are untouched
    data = tmp_path / "fm"
    write_fashion_mnist(data, 4, 2)
    out, runs, rep, cwd = tmp_path / "out", tmp_path / "runs", tmp_path / "rep", tmp_path / "cwd"
    cwd.mkdir()
    before = _tree(ROOT / "reports")
    monkeypatch.chdir(cwd)
    assert main(["cs", "run", "--study", "fig5", "--iters", "0", "3", "--seeds", "0", "--epochs", "1",
                 "--train-per-class", "4", "--test-per-class", "2", "--width", "0.125", "--tag", "t", "--out", str(out),
                 "--runs-dir", str(runs), "--data-root", str(data), "--no-progress", "--threads", "1"]) == 0
    assert sorted(p.name for p in (out / "results" / "quick-t" / "fig5").glob("*.json")) == \
        ["resnet18-I0-s0.json", "resnet18-I3-s0.json"]
    assert (out / "figures" / "quick-t_fig5_resnet18_iters.png").is_file()
    assert "Figure 5 analogue" in (out / "REPORT.md").read_text()
    assert main(["cs", "report", "--results", str(out / "results"), "--out", str(rep)]) == 0
    assert (rep / "REPORT.md").read_text() == (out / "REPORT.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "fm", "out", "rep", "runs"]
    assert not any(cwd.iterdir())
    assert sorted(p.name for p in rep.iterdir()) == ["REPORT.md", "claims.json", "figures"]
    assert _tree(ROOT / "reports") == before


def test_compute_lines_sum_the_runs_wall_time():
    from experiments.training.converged_report import compute_lines

    recs = [{"summary": {"wall_seconds": s}, "config": {"threads": 1}} for s in (360.0, 720.0, 1800.0)]
    (line, blank) = compute_lines(recs + [{"summary": {}, "config": {}}])      # a run without the field: skipped
    assert blank == "" and line.startswith("**Compute** — 3 finished runs took 0.80 h")
    assert "16.0 min per run on average, 6.0-30.0; 1 thread per run" in line
    assert compute_lines([{"summary": {}}]) == []
