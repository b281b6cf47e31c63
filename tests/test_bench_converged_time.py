"""The converged design's re-timing benchmark: its checks, curve comparison and projection, with the study
commands replaced by a copy of the committed runs at a known speed (the real re-run takes half an hour)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    path = ROOT / "benchmarks" / "bench_converged_time.py"
    spec = importlib.util.spec_from_file_location("bench_converged_time", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_sample_run_is_committed():
    bench = _bench()
    for kind, (_, rel, names) in bench.KINDS.items():
        runs = bench.committed_runs(kind)
        assert set(names) <= set(runs), kind
        assert all(r["config"]["seed"] in (0, 1, 2, 3, 4, 5) for r in runs.values())
    # Table 5's two kinds split one results directory by model: together its 45 runs
    assert len(bench.committed_runs("CS Table 5 CNN1")) + len(bench.committed_runs("CS Table 5 CNN2")) == 45


def test_same_curves():
    bench = _bench()
    a = {"history": [{"test_acc": 0.5, "test_acc_recal": None, "train_loss": 1.0},
                     {"test_acc": 0.6, "test_acc_recal": 0.61, "train_loss": 0.9}]}
    assert bench.same_curves(a, json.loads(json.dumps(a))) == (True, 0.0)
    b = json.loads(json.dumps(a))
    b["history"][1]["test_acc_recal"] = 0.64
    equal, worst = bench.same_curves(a, b)
    assert not equal and worst == pytest.approx(0.03)
    assert bench.same_curves(a, {"history": a["history"][:1]}) == (False, float("inf"))


def test_bad_arguments_are_refused_before_any_run(tmp_path, capsys):
    bench = _bench()
    (tmp_path / "x").write_text("")
    with pytest.raises(SystemExit):
        bench.main(["--scratch", str(tmp_path)])
    assert "--scratch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--scratch", str(tmp_path / "new"), "--jobs", "0"])
    assert "--jobs" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_projection_from_a_sample_at_half_the_committed_time(tmp_path, monkeypatch, capsys):
    bench = _bench()
    scratch = tmp_path / "s"

    def fake_run(args):
        # what the study command would write: the committed records of the sample, at half their wall time
        cmd = args[args.index("experiments") + 1:]
        kind = next(k for k, (c, _, _) in bench.KINDS.items() if cmd[:len(c)] == c)
        exp, rel, names = bench.KINDS[kind][0][0], bench.KINDS[kind][1], bench.KINDS[kind][2]
        dest = Path(args[args.index("--out") + 1]) / Path(rel).relative_to(f"reports/{exp}")
        dest.mkdir(parents=True, exist_ok=True)
        for n in names:
            rec = json.loads((ROOT / rel / f"{n}.json").read_text())
            rec["summary"]["wall_seconds"] /= 2
            (dest / f"{n}.json").write_text(json.dumps(rec))

    monkeypatch.setattr(bench, "run_study", fake_run)
    out = tmp_path / "b.json"
    assert bench.main(["--scratch", str(scratch), "--kinds", "MFD", "POD", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    total = sum(json.loads(p.read_text())["summary"]["wall_seconds"]
                for d in ("mfd/results/converged/mfd", "pod/results/converged/pod")
                for p in (ROOT / "reports" / d).glob("*.json"))
    assert r["committed_run_time_s"] == pytest.approx(total)
    assert r["projected_run_time_s"] == pytest.approx(total / 2)
    assert all(run["ratio"] == pytest.approx(0.5) and run["identical"] for k in r["kinds"].values()
               for run in k["runs"])
    text = capsys.readouterr().out
    assert f"committed design {total / 2 / 3600:.2f} h, projected here {total / 4 / 3600:.2f} h" in text
