"""The executors behind every plan command: ``--jobs N`` (a local spawn pool) and ``--executor ray`` (a real
local Ray instance, started once for this module) give the sequential path's results to the last digit,
an interrupted plan resumes and finishes, a conflicting saved result is refused before any work, and Ray
stays optional (not imported unless chosen; a usage error naming ``--executor`` where it is missing).

A tiny CS Table-5 plan of 3 runs (CNN1 x baseline / Algorithm 1 / Algorithm 2, 2 epochs on 40 generated
images) is the workload; the interruption is :class:`tests.executor_helpers.FailingTrainer`, which raises
after one run's epoch-1 checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main
from experiments.cs.run import study_runs
from experiments.cs.spec import CSPlan
from experiments.common.cli import UsageError
from experiments.training.runs import executor, run_plan
from tests.executor_helpers import FAIL_NAME, FailingTrainer
from tests.training_fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["cnn1-baseline-s0", "cnn1-alg1-s0", "cnn1-alg2-s0"]
PLAN = dict(study="table5", models=["cnn1"], methods=["baseline", "alg1", "alg2"], seeds=[0], epochs=2,
            train_per_class=4, test_per_class=2, init_iters=3, tag="t")
TIMING = {"epoch_seconds", "wall_seconds", "seconds"}


def _argv(out, runs, data, *extra):
    return ["cs", "run", "--study", "table5", "--models", "cnn1", "--methods", "baseline", "alg1", "alg2",
            "--seeds", "0", "--epochs", "2", "--train-per-class", "4", "--test-per-class", "2", "--init-iters", "3",
            "--tag", "t", "--out", str(out), "--runs-dir", str(runs), "--data-root", str(data), "--no-report",
            "--no-progress", *map(str, extra)]


def _numbers(rec: dict) -> str:
    """A record as JSON text without what may differ between executors: timings, the environment, paths and
    the progress flag (not part of a run's identity)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in TIMING}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    rec = {k: v for k, v in rec.items() if k not in ("environment", "_path")}
    rec["config"] = {k: v for k, v in rec["config"].items() if k not in ("out_dir", "data_root", "progress")}
    return json.dumps(strip(rec), sort_keys=True)


def _results(out) -> dict:
    d = Path(out) / "results" / "quick-t" / "table5"
    return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))}


# one pytest-xdist worker runs the whole module: the module's plans (sequential reference, Ray) once, not per worker
pytestmark = pytest.mark.xdist_group("executors")


def _opts(tmp, out, runs, data):
    return CSPlan(**PLAN, out=str(tmp / out), runs_dir=str(tmp / runs), data_root=str(data)).validate()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fm")
    write_fashion_mnist(root, 4, 2)
    return root


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, data):
    """The sequential path's results (``--jobs 1``), the reference of every executor."""
    tmp = tmp_path_factory.mktemp("seq")
    assert main(_argv(tmp / "out", tmp / "runs", data, "--jobs", 1)) == 0
    recs = _results(tmp / "out")
    assert sorted(recs) == sorted(NAMES)
    assert {r["environment"]["executor"] for r in recs.values()} == {"sequential"}
    return recs


def _interrupt(tmp, data, **kw) -> dict:
    """Run the plan with one run failing after its epoch-1 checkpoint; check what was kept; the saved results."""
    opts = _opts(tmp, "out", "runs", data)
    with pytest.raises(RuntimeError, match="injected failure"):
        run_plan(study_runs(opts), results_dir=opts.results_dir, execute=executor(FailingTrainer), log=lambda m: None,
                 **kw)
    saved = _results(tmp / "out")
    assert FAIL_NAME not in saved and saved, "the run in flight beside the failing one must be saved"
    ck = torch.load(tmp / "runs" / "quick-t" / "table5" / FAIL_NAME / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == 1
    return saved


def _check_same(tmp, sequential, executor_name):
    recs = _results(tmp / "out")
    assert sorted(recs) == sorted(NAMES)
    for name in NAMES:                  # the resumed run too: resume is bit-identical
        assert _numbers(recs[name]) == _numbers(sequential[name]), name
        env = recs[name]["environment"]
        assert (env["executor"], env["threads"], env["world_size"]) == (executor_name, 1, 1)


# ---- the local process pool ---------------------------------------------------------------------------------

def test_jobs_2_interrupted_plan_resumes_and_gives_the_sequential_results(tmp_path, data, sequential, capsys):
    saved = _interrupt(tmp_path, data, jobs=2)
    capsys.readouterr()
    assert main(_argv(tmp_path / "out", tmp_path / "runs", data, "--jobs", 2)) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == len(saved) and err.count("started (local)") == 3 - len(saved)
    _check_same(tmp_path, sequential, "local")


def test_jobs_2_conflict_is_refused_before_any_work(tmp_path, data, sequential, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    d = out / "results" / "quick-t" / "table5"
    d.mkdir(parents=True)
    rec = dict(sequential["cnn1-alg2-s0"])
    rec["config"] = {**rec["config"], "epochs": 5}
    (d / "cnn1-alg2-s0.json").write_text(json.dumps(rec))
    with pytest.raises(SystemExit) as e:
        main(_argv(out, runs, data, "--jobs", 2))
    assert e.value.code == 2
    assert "epochs: 5 there, 2 now" in capsys.readouterr().err
    assert not runs.exists() and sorted(p.name for p in d.iterdir()) == ["cnn1-alg2-s0.json"]


def test_executor_options_are_checked(tmp_path, data, capsys, monkeypatch):
    for extra, msg in ((["--jobs", 0], "--jobs"), (["--address", "auto"], "--address: only with --executor ray")):
        with pytest.raises(SystemExit) as e:
            main(_argv(tmp_path / "out", tmp_path / "runs", data, *extra))
        assert e.value.code == 2 and msg in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)            # Ray not installed
    with pytest.raises(SystemExit) as e:
        main(_argv(tmp_path / "out", tmp_path / "runs", data, "--executor", "ray"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--executor" in err and "pip install" in err and "Traceback" not in err
    with pytest.raises(UsageError, match="pip install"):
        run_plan(study_runs(_opts(tmp_path, "o2", "r2", data)), results_dir=tmp_path / "o2" / "results",
                 executor="ray", log=lambda m: None)
    assert not (tmp_path / "r2").exists()


def test_importing_the_experiments_does_not_import_ray():
    code = ("import sys, importlib, experiments.__main__ as m\n"
            "for mod, _ in m.EXPERIMENTS.values(): importlib.import_module(mod)\n"
            "import experiments.common.executors, experiments.training.runs\n"
            "print('ray' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# ---- Ray ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance (2 CPUs) for the module; workers find the tests package through PYTHONPATH."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[test]' installs it)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


def test_ray_gives_the_sequential_results(tmp_path, data, sequential, ray_local, capsys):
    assert main(_argv(tmp_path / "out", tmp_path / "runs", data, "--executor", "ray")) == 0
    assert capsys.readouterr().err.count("started (ray)") == 3
    assert ray_local.is_initialized()                       # a Ray the plan did not start is left running
    _check_same(tmp_path, sequential, "ray")
    recs = _results(tmp_path / "out")
    assert all(Path(r["config"]["out_dir"]).is_absolute() for r in recs.values())  # workers may have another cwd


def test_ray_interrupted_plan_resumes(tmp_path, data, sequential, ray_local, capsys):
    saved = _interrupt(tmp_path, data, executor="ray")
    capsys.readouterr()
    assert main(_argv(tmp_path / "out", tmp_path / "runs", data, "--executor", "ray")) == 0
    assert capsys.readouterr().err.count("skipped") == len(saved)
    _check_same(tmp_path, sequential, "ray")
