"""The training CLIs (``python -m experiments {training,cs,mfd,pod} ...``): a saved result counts as done only when
every setting that changes its numbers matches; ``--help`` shows every flag's real default; bad options are
one-line usage errors (exit 2), never tracebacks."""

import dataclasses
import json
import re

import pytest

from experiments.__main__ import build_parser, main
from experiments.common.cli import flag_of
from experiments.cs.run import study_runs as cs_runs
from experiments.cs.spec import CSPlan
from experiments.mfd.run import study_runs as mfd_runs
from experiments.mfd.spec import MFDPlan
from experiments.pod.run import study_runs as pod_runs
from experiments.pod.spec import PODPlan
from experiments.training.runs import NOT_IDENTITY
from tests.training_fixtures import write_fashion_mnist

CS_ARGS = ["--study", "table5", "--models", "cnn1", "--methods", "baseline", "--seeds", "0"]


def _fake_result(out, run, **changes) -> dict:
    """A result file for ``run`` under ``out/results`` whose config is the run's, with ``changes``."""
    cfg = {**run.config.to_dict(), **changes}
    rec = {"status": "done", "config": cfg, "history": [], "steps": None,
           "summary": {"best_test_acc": 0.5, "best_epoch": 1}}
    p = out / "results" / run.group / run.experiment / f"{run.name}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec))
    return rec


def _usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and len(err.splitlines()) <= 2, err
    return errors[0]


def test_a_result_is_done_only_when_every_number_changing_setting_matches(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "no-data"))        # skipping needs no data
    out = tmp_path / "out"
    (run,) = cs_runs(CSPlan(study="table5", models=["cnn1"], methods=["baseline"], seeds=[0], out=str(out)).validate())
    # paths, device, threads and progress may differ: the result is taken as done
    _fake_result(out, run, out_dir="/elsewhere", data_root="/data", device="cuda", threads=7, progress=False)
    assert set(NOT_IDENTITY) == {"out_dir", "data_root", "device", "progress", "threads"}
    argv = ["cs", "run", *CS_ARGS, "--out", str(out), "--runs-dir", str(tmp_path / "runs"), "--no-report"]
    assert main(argv) == 0
    assert "done" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    # a setting other than the protocol's needs a tag (a group named "quick" holds quick runs only)
    line = _usage_error(capsys, argv + ["--epochs", "1"])
    assert "--epochs" in line and "--tag" in line and "quick" in line
    # under a tag, the saved 5-epoch result is not a 1-epoch run: usage error naming the field, nothing run
    (tagged,) = cs_runs(CSPlan(study="table5", models=["cnn1"], methods=["baseline"], seeds=[0], tag="e",
                               out=str(out)).validate())
    _fake_result(out, tagged)
    line = _usage_error(capsys, argv + ["--epochs", "1", "--tag", "e"])
    assert "epochs: 5 there, 1 now" in line and "--tag" in line
    assert not (tmp_path / "runs").exists()
    # the plan verb lists the conflict and exits 2
    assert main(["cs", "plan", *CS_ARGS, "--out", str(out), "--epochs", "1"]) == 2
    assert "differs (epochs: 5 there, 1 now)" in capsys.readouterr().out
    assert main(["cs", "plan", *CS_ARGS, "--out", str(out), "--seeds", "0", "1"]) == 0
    text = capsys.readouterr().out
    assert "cnn1-baseline-s0: done" in text and "cnn1-baseline-s1: todo" in text
    # with a tag the run goes to another group: no conflict
    assert main(["cs", "plan", *CS_ARGS, "--out", str(out), "--epochs", "1", "--tag", "e1"]) == 0


@pytest.mark.parametrize("experiment, plan, runs_of, flag, value, field, saved", [
    ("mfd", MFDPlan(study="compare", seeds=[0]), mfd_runs, "--train-per-class", "100", "train_per_class", 250),
    ("pod", PODPlan(study="table5", seeds=[0]), pod_runs, "--epochs", "3", "epochs", 10),
])
def test_mfd_and_pod_plans_check_the_identity_too(tmp_path, capsys, experiment, plan, runs_of, flag, value, field,
                                                  saved):
    out = tmp_path / "out"
    for run in runs_of(dataclasses.replace(plan, out=str(out)).validate()):
        _fake_result(out, run, device="cuda")
    argv = [experiment, "plan", "--study", plan.study, "--seeds", "0", "--out", str(out)]
    assert main(argv) == 0 and "todo" not in capsys.readouterr().out
    assert main(argv + [flag, value]) == 2
    assert f"{field}: {saved} there, {value} now" in capsys.readouterr().out


def test_a_run_directory_holding_another_run_is_refused(tmp_path, capsys):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 2, 1)
    runs, out = tmp_path / "runs", tmp_path / "out"
    (run,) = cs_runs(CSPlan(study="table5", models=["cnn1"], methods=["baseline"], seeds=[0], tag="e",
                            runs_dir=str(runs)).validate())
    d = runs / "quick-e" / "table5" / "cnn1-baseline-s0"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(run.config.to_dict()))       # an interrupted 5-epoch run
    line = _usage_error(capsys, ["cs", "run", *CS_ARGS, "--epochs", "1", "--tag", "e", "--out", str(out),
                                 "--runs-dir", str(runs), "--data-root", str(data), "--no-progress"])
    assert "--runs-dir" in line and "epochs: 5 there, 1 now" in line
    assert not (out / "results").exists()


def _help_entries(text: str) -> dict:
    """``flag -> its help entry`` (continuation lines joined) of an argparse help text."""
    entries, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"  (-[-\w]+)", line)
        if m:
            cur = m.group(1)
            entries[cur] = line.strip()
        elif cur and line.startswith("   "):
            entries[cur] += " " + line.strip()
        else:
            cur = None
    return {k: re.sub(r"\s+", " ", v) for k, v in entries.items()}


def _shown(v) -> str:
    if isinstance(v, (list, tuple)):
        return " ".join(map(str, v)) if v else "none"
    return "none" if v is None else str(v)


@pytest.mark.parametrize("experiment", ["training", "cs", "mfd", "pod"])
def test_help_shows_every_flag_with_its_real_default(experiment):
    parser = build_parser(experiment)
    verbs = parser._subparsers._group_actions[0].choices
    for name, vp in verbs.items():
        entries = _help_entries(vp.format_help())
        cfg = vp.get_default("_verb").config()
        for f in dataclasses.fields(cfg):
            if not f.metadata.get("cli", True):
                continue
            entry = entries.get(flag_of(f.name))
            assert entry is not None, (experiment, name, f.name)
            assert f.metadata["help"] and entry.endswith(f"(default: {_shown(getattr(cfg, f.name))})"), entry
            if f.metadata.get("choices"):
                assert "{" + ",".join(f.metadata["choices"]) + "}" in entry, entry
    if experiment != "training":
        run_help = _help_entries(verbs["run"].format_help())
        assert run_help["--out"].endswith(f"(default: reports/{experiment})")
        assert "OUT/results/<group>/" in run_help["--out"]
        assert run_help["--runs-dir"].endswith(f"(default: runs/{experiment})")
        assert _help_entries(verbs["report"].format_help())["--results"].endswith(
            f"(default: reports/{experiment}/results)")


def test_bad_options_are_one_line_usage_errors(tmp_path, capsys):
    line = _usage_error(capsys, ["training", "run", "--model", "foo"])
    assert "--model" in line and "cnn1" in line
    assert "--model" in _usage_error(capsys, ["training", "run", "--set", "model='foo'"])
    assert "--import" in _usage_error(capsys, ["training", "run", "--import", "no_such_module_xyz"])
    line = _usage_error(capsys, ["training", "run", "--data-root", str(tmp_path / "none"), "--out-dir",
                                 str(tmp_path / "r")])
    assert "--data-root" in line and "dataset-fashion-mnist" in line
    assert "--study" in _usage_error(capsys, ["cs", "run", "--study", "table6"])
    assert "--iters" in _usage_error(capsys, ["cs", "plan", "--study", "table5", "--iters", "0", "10"])
    assert "--tag" in _usage_error(capsys, ["mfd", "plan", "--tag", "a/b"])
    assert "--seeds" in _usage_error(capsys, ["pod", "plan", "--seeds", "0", "0"])
    assert not any(tmp_path.iterdir())
    assert main(["training", "run", "--epochs", "3", "--print-config"]) == 0
    assert "epochs = 3" in capsys.readouterr().out
