"""Reliability of the command line: bad input is refused before any work, with a one-line usage
error naming the flag (exit 2), and nothing is written; a command writes only inside what it was given; no
NaN reaches a run; a corrupt checkpoint or a changed setting is a clear error, never a traceback or a silent
"done"; temporaries of killed runs do not survive the next run; a multi-file output changes in one step."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main
from experiments.common import io as cio
from experiments.common.cli import UsageError, check_out_dir
from experiments.common.commit import deferred_writes, write_folder_atomic
from tests.fs_fixtures import readonly_dir, tree
from tests.training_fixtures import write_fashion_mnist

MC_TINY = ["--tables", "1", "--small-n", "3", "--episodes", "4", "--max-iterations", "3", "--bootstrap", "0",
           "--no-progress", "--no-plot"]
C2_TINY = ["--episodes", "3", "--iterations", "2", "--bootstrap", "0", "--no-progress", "--no-plot",
           "--kernel-sizes", "3", "--kernels", "2", "--channels", "1", "--inputs", "uniform", "--objectives",
           "kernel_ip"]
TRAIN_TINY = ["--epochs", "1", "--train-per-class", "2", "--test-per-class", "1", "--batch-size", "8",
              "--no-progress", "--threads", "1"]
STUDY_TINY = ["--seeds", "0", "--epochs", "1", "--train-per-class", "2", "--test-per-class", "1", "--tag", "t",
              "--no-progress", "--no-report", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fm")
    write_fashion_mnist(root, 2, 1)
    return root


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh working directory holding a sentinel; every test checks that the directory is left as it was."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "sentinel.txt").write_text("untouched")
    monkeypatch.chdir(cwd)
    yield tmp_path
    assert sorted(p.name for p in cwd.iterdir()) == ["sentinel.txt"]
    assert (cwd / "sentinel.txt").read_text() == "untouched"


@pytest.fixture
def no_work(monkeypatch):
    """Any computing (a Monte Carlo batch, a training run or plan, an analysis) fails the test."""
    def forbid(name):
        def f(*a, **k):
            raise AssertionError(f"{name} started: the bad input was not refused first")
        return f
    import experiments.audit.run as audit_run
    import experiments.claim2d.run as c2_run
    import experiments.claims.cli as claims_cli
    import experiments.montecarlo.run as mc_run
    import experiments.training.cli as tcli
    import experiments.training.runs as truns
    monkeypatch.setattr(mc_run, "run_tables", forbid("montecarlo"))
    monkeypatch.setattr(mc_run, "multi_seed_files", forbid("montecarlo"))
    monkeypatch.setattr(c2_run, "run_claim2d", forbid("claim2d"))
    monkeypatch.setattr(tcli, "train", forbid("training"))
    real_run = truns.TrainPlan.run

    def plan_run(self, items, *, dry_run=False, runner=None):
        if not dry_run:
            forbid("a training plan")()
        return real_run(self, items, dry_run=True, runner=runner)

    monkeypatch.setattr(truns.TrainPlan, "run", plan_run)
    monkeypatch.setattr(audit_run, "registry_differences", forbid("audit"))
    monkeypatch.setattr(claims_cli, "write_claims", forbid("claims"))


def usage_error(capsys, argv, flag: str) -> str:
    """The one error line of ``main(argv)``: exit 2, naming ``flag``, no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert f"error: {flag}" in lines[0], lines[0]
    return lines[0]


def _verbs(tmp: Path, data: Path) -> dict:
    """verb -> (argv without the output flag, the output flag)."""
    mc = tmp / "mc-results"
    mc.mkdir(exist_ok=True)
    (mc / "results.json").write_text("{}")
    c2 = tmp / "c2-results"
    c2.mkdir(exist_ok=True)
    (c2 / "summary.json").write_text("{}")
    (tmp / "none").mkdir(exist_ok=True)                           # an empty results directory
    d = ["--data-root", str(data)]
    return {
        "montecarlo run": (["montecarlo", "run", *MC_TINY], "--out"),
        "montecarlo report": (["montecarlo", "report", "--results", str(mc)], "--out"),
        "claim2d run": (["claim2d", "run", *C2_TINY], "--out"),
        "claim2d report": (["claim2d", "report", "--results", str(c2)], "--out"),
        "training run": (["training", "run", *TRAIN_TINY, *d], "--out-dir"),
        "cs run --out": (["cs", "run", "--models", "cnn1", "--methods", "baseline", *STUDY_TINY, *d, "--runs-dir",
                          str(tmp / "runs")], "--out"),
        "cs run --runs-dir": (["cs", "run", "--models", "cnn1", "--methods", "baseline", *STUDY_TINY, *d, "--out",
                               str(tmp / "out")], "--runs-dir"),
        "mfd run": (["mfd", "run", *STUDY_TINY, *d, "--runs-dir", str(tmp / "runs")], "--out"),
        "pod run": (["pod", "run", *STUDY_TINY, *d, "--runs-dir", str(tmp / "runs")], "--out"),
        "cs report": (["cs", "report", "--results", str(tmp / "none")], "--out"),
        "mfd report": (["mfd", "report", "--results", str(tmp / "none")], "--out"),
        "pod report": (["pod", "report", "--results", str(tmp / "none")], "--out"),
        "audit run": (["audit", "run", "--episodes", "2", *d], "--out"),
        "claims report": (["claims", "report", "--inputs", str(tmp / "none.json")], "--out"),
    }


VERBS = ["montecarlo run", "montecarlo report", "claim2d run", "claim2d report", "training run", "cs run --out",
         "cs run --runs-dir", "mfd run", "pod run", "cs report", "mfd report", "pod report", "audit run",
         "claims report"]


# ---- 1. outputs: only what was named, refused before any work ----------------------------------------------

@pytest.mark.parametrize("kind", ["empty", "parent-is-a-file", "existing-file"])
@pytest.mark.parametrize("verb", VERBS)
def test_a_bad_output_is_a_usage_error_before_any_work(verb, kind, work, data, no_work, capsys):
    argv, flag = _verbs(work, data)[verb]
    (work / "afile").write_text("x")
    bad = {"empty": "", "parent-is-a-file": str(work / "afile" / "sub"), "existing-file": str(work / "afile")}[kind]
    before = tree(work)
    line = usage_error(capsys, [*argv, flag, bad], flag)
    assert {"empty": "empty", "parent-is-a-file": "not a directory", "existing-file": "not a directory"}[kind] in line
    assert tree(work) == before


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize("verb", VERBS)
def test_a_read_only_output_is_a_usage_error_before_any_work(verb, inside, work, data, no_work, capsys):
    argv, flag = _verbs(work, data)[verb]
    with readonly_dir(work / "ro") as ro:
        target = ro / "sub" if inside else ro
        line = usage_error(capsys, [*argv, flag, str(target)], flag)
        assert "cannot write" in line and str(ro) in line
        assert not any(ro.iterdir())


def test_cs_kernels_refuses_a_read_only_results_directory(work, no_work, capsys):
    with readonly_dir(work / "res", {"g/table5/x.json": "{}"}) as res:
        line = usage_error(capsys, ["cs", "kernels", "--group", "g", "--results", str(res)], "--results")
        assert "cannot write" in line


def test_training_run_with_an_empty_out_dir_writes_nothing(work, data, no_work, capsys):
    # before: it trained and wrote config.json, checkpoint.pt and the metrics into the working directory
    usage_error(capsys, ["training", "run", *TRAIN_TINY, "--data-root", str(data), "--out-dir", ""], "--out-dir")


def test_check_out_dir_creates_nothing_and_probes_an_existing_directory(tmp_path):
    assert check_out_dir("out", tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    assert check_out_dir("out", tmp_path) == tmp_path
    assert sorted(tmp_path.iterdir()) == []                    # the probe file is gone
    with pytest.raises(UsageError, match="^--out: expected a directory path"):
        check_out_dir("out", "  ")


# ---- 7. no NaN or inf reaches a run ---------------------------------------------------------------------------

NON_FINITE = [
    (["training", "run", "--lr", "nan"], "--lr"),
    (["training", "run", "--lr", "inf"], "--lr"),
    (["training", "run", "--lr", "0"], "--lr"),
    (["training", "run", "--momentum", "nan"], "--momentum"),
    (["training", "run", "--momentum", "-0.5"], "--momentum"),
    (["training", "run", "--weight-decay", "inf"], "--weight-decay"),
    (["training", "run", "--weight-decay", "-1"], "--weight-decay"),
    (["training", "run", "--lr-gamma", "nan"], "--lr-gamma"),
    (["training", "run", "--cs-init-lr", "nan"], "--cs-init-lr"),
    (["training", "run", "--cs-beta", "nan"], "--cs-beta"),
    (["training", "run", "--cs-beta", "-1"], "--cs-beta"),
    (["training", "run", "--width", "nan"], "--width"),
    (["training", "run", "--width", "inf"], "--width"),
    (["training", "run", "--set", "lr=nan"], "--lr"),
    (["training", "run", "--threads", "0"], "--threads"),
    (["training", "run", "--seed", "-1"], "--seed"),
    (["training", "run", "--cs-init-iters", "-1"], "--cs-init-iters"),
    (["training", "run", "--subset-seed", "-1"], "--subset-seed"),
    (["cs", "run", "--beta", "nan"], "--beta"),
    (["cs", "run", "--beta", "-0.1"], "--beta"),
    (["cs", "run", "--study", "fig5", "--width", "nan"], "--width"),
    (["mfd", "run", "--lgs", "nan"], "--lgs"),
    (["mfd", "run", "--lgs", "inf"], "--lgs"),
    (["mfd", "run", "--width", "inf"], "--width"),
    (["pod", "run", "--pod-lambda", "nan"], "--pod-lambda"),
    (["claim2d", "run", "--lr", "inf"], "--lr"),
    (["montecarlo", "run", "--iterations-scale", "nan"], "--iterations-scale"),
    (["montecarlo", "run", "--iterations-scale", "inf"], "--iterations-scale"),
]


@pytest.mark.parametrize("argv,flag", NON_FINITE, ids=[" ".join(a) for a, _ in NON_FINITE])
def test_non_finite_and_out_of_range_numbers_are_usage_errors(argv, flag, work, no_work, capsys):
    out_flag = "--out-dir" if argv[0] == "training" else "--out"
    usage_error(capsys, [*argv, out_flag, str(work / "out")], flag)
    assert not (work / "out").exists()


def test_lr_nan_creates_no_directory(work, data, capsys):
    # before: the run directory (and config.json) existed when the NaN weights failed the first step
    usage_error(capsys, ["training", "run", *TRAIN_TINY, "--data-root", str(data), "--out-dir", str(work / "x"),
                         "--lr", "nan"], "--lr")
    assert not (work / "x").exists()


# ---- 8. devices, corrupt checkpoints, write errors -----------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("experiment", ["training", "cs", "mfd", "pod", "claim2d", "montecarlo"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_a_usage_error(experiment, device, work, no_work, capsys):
    out_flag = "--out-dir" if experiment == "training" else "--out"
    line = usage_error(capsys, [experiment, "run", "--device", device, out_flag, str(work / "o")], "--device")
    assert "no CUDA device" in line and not (work / "o").exists()


def _checkpoint_dir(tmp: Path, kind: str) -> Path:
    d = tmp / "run"
    d.mkdir()
    p = d / "checkpoint.pt"
    if kind == "garbage":
        p.write_bytes(b"\x00not a checkpoint\xff" * 10)
    elif kind == "empty":
        p.write_bytes(b"")
    else:
        torch.save({"a": torch.zeros(1000)} if kind == "wrong-content" else {"epoch": 1}, p)
        if kind == "truncated":
            b = p.read_bytes()
            p.write_bytes(b[: len(b) // 2])
    return d


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated", "wrong-content"])
def test_a_corrupt_checkpoint_is_one_clear_error(kind, work, data, capsys):
    d = _checkpoint_dir(work, kind)
    before = tree(d)
    line = usage_error(capsys, ["training", "run", *TRAIN_TINY, "--data-root", str(data), "--out-dir", str(d),
                                "--resume"], "--resume")
    assert str(d / "checkpoint.pt") in line and "delete it" in line and "restore" in line
    assert tree(d) == before


def test_a_corrupt_checkpoint_in_a_plan_is_refused_before_any_run(work, data, capsys):
    runs, out = work / "runs", work / "out"
    args = ["cs", "run", "--models", "cnn1", "--methods", "baseline", "alg1", *STUDY_TINY, "--data-root", str(data),
            "--out", str(out), "--runs-dir", str(runs)]
    assert main([*args, "--dry-run"]) == 0
    from experiments.cs.run import study_runs
    from experiments.cs.spec import CSPlan
    run = study_runs(CSPlan(models=["cnn1"], methods=["alg1"], seeds=[0], epochs=1, train_per_class=2,
                            test_per_class=1, tag="t", runs_dir=str(runs)).validate())[0]
    rd = Path(run.config.out_dir)
    rd.mkdir(parents=True)
    (rd / "config.json").write_text(json.dumps(run.config.to_dict()))
    (rd / "checkpoint.pt").write_bytes(b"garbage")
    line = usage_error(capsys, args, "--runs-dir")
    assert str(rd / "checkpoint.pt") in line and "delete it" in line
    assert not (out / "results").exists()                        # the baseline did not run first


def test_resuming_with_other_settings_is_a_usage_error(work, data, capsys):
    d = work / "run"
    argv = ["training", "run", *TRAIN_TINY, "--data-root", str(data), "--out-dir", str(d)]
    assert main(argv) == 0
    before = tree(d)
    line = usage_error(capsys, [*argv, "--resume", "--lr", "0.5"], "--resume")        # before: a ValueError traceback
    assert "lr" in line and "0.5" in line
    line = usage_error(capsys, [*argv[:-2], "--out-dir", str(d), "--resume", "--epochs", "0"], "--epochs")
    assert "epoch 1" in line
    assert tree(d) == before
    assert main([*argv, "--resume", "--epochs", "2"]) == 0                             # a longer run continues
    assert json.loads((d / "result.json").read_text())["summary"]["epochs_done"] == 2


def test_write_errors_name_the_file(tmp_path):
    with readonly_dir(tmp_path / "ro") as ro:
        with pytest.raises(cio.WriteError) as e:
            cio.write_text_atomic(ro / "x.json", "{}")
        assert str(ro / "x.json") in str(e.value) and isinstance(e.value, OSError)
        with pytest.raises(cio.WriteError, match=str(ro / "sub")):
            cio.write_text_atomic(ro / "sub" / "x.json", "{}")


# ---- 9. config validation surfaces as usage errors ------------------------------------------------------------

def test_more_images_per_class_than_the_data_has_is_a_usage_error(work, data, no_work, capsys):
    line = usage_error(capsys, ["training", "run", "--train-per-class", "5", "--test-per-class", "1", "--data-root",
                                str(data), "--out-dir", str(work / "r")], "--train-per-class")
    assert "2" in line
    usage_error(capsys, ["cs", "run", "--models", "cnn1", "--methods", "baseline", "--seeds", "0", "--epochs", "1",
                         "--train-per-class", "2", "--test-per-class", "3", "--tag", "t", "--data-root", str(data),
                         "--out", str(work / "o"), "--runs-dir", str(work / "r2")], "--test-per-class")
    assert not (work / "r").exists() and not (work / "o").exists()


def test_unknown_config_fields_are_usage_errors(work, no_work, capsys):
    # an MFD config field given to the plain training verb's --set is refused naming --set
    usage_error(capsys, ["training", "run", "--set", "mfd_lambda=1", "--out-dir", str(work / "r")], "--set")
    assert not (work / "r").exists()


# ---- 2. the identity of a result; settings other than the protocol's need a tag ------------------------------

def test_train_per_class_zero_is_refused_everywhere(work, no_work, capsys):
    for exp in ("cs", "mfd", "pod"):
        usage_error(capsys, [exp, "run", "--train-per-class", "0", "--tag", "t", "--out", str(work / "o")],
                    "--train-per-class")
        usage_error(capsys, [exp, "plan", "--test-per-class", "0"], "--test-per-class")
    usage_error(capsys, ["training", "run", "--train-per-class", "0", "--out-dir", str(work / "o")],
                "--train-per-class")
    assert not (work / "o").exists()


@pytest.mark.parametrize("argv,flag", [
    (["cs", "run", "--epochs", "1"], "--epochs"),
    (["cs", "run", "--train-per-class", "7"], "--train-per-class"),
    (["cs", "run", "--methods", "alg1", "--init-iters", "5"], "--init-iters"),
    (["cs", "run", "--methods", "alg2", "--beta", "0.5"], "--beta"),
    (["cs", "run", "--study", "fig5", "--width", "0.5"], "--width"),
    (["cs", "run", "--study", "fig5", "--lr-milestones", "2"], "--lr-milestones"),
    (["mfd", "run", "--width", "0.5"], "--width"),
    (["mfd", "run", "--bn-recal-batches", "3"], "--bn-recal-batches"),
    (["pod", "run", "--pod-lambda", "2"], "--pod-lambda"),
    (["pod", "run", "--set", "epochs=2"], "--epochs"),
    (["pod", "run", "--lr-milestones", "4", "8"], "--lr-milestones"),
])
def test_settings_other_than_the_protocols_need_a_tag(argv, flag, work, no_work, capsys):
    line = usage_error(capsys, [*argv, "--out", str(work / "o"), "--runs-dir", str(work / "r")], flag)
    assert "--tag" in line and "quick" in line
    assert not (work / "o").exists() and not (work / "r").exists()
    # with a tag they are another group; the protocol's own values need none
    assert main([*argv, "--tag", "t", "--out", str(work / "o"), "--runs-dir", str(work / "r"), "--dry-run"]) == 0


def test_the_protocols_own_values_need_no_tag(work, no_work, capsys):
    for argv in (["cs", "run", "--epochs", "5", "--train-per-class", "200"], ["cs", "run", "--seeds", "7"],
                 ["mfd", "run", "--lgs", "0", "1"], ["pod", "run", "--study", "dims", "--dims", "64"],
                 ["cs", "run", "--study", "fig5", "--iters", "0", "30"]):
        assert main([*argv, "--out", str(work / "o"), "--runs-dir", str(work / "r"), "--dry-run"]) == 0, argv
    assert not (work / "o").exists()


# ---- 6. memory of a Monte Carlo run is estimated first --------------------------------------------------------

def test_a_monte_carlo_run_larger_than_memory_is_refused(work, no_work, capsys):
    # before: "Unable to allocate 47.7 GiB" after seconds of work
    line = usage_error(capsys, ["montecarlo", "run", "--episodes", "100000000", "--out", str(work / "o")],
                       "--episodes")
    assert "GiB" in line and "available" in line
    assert not (work / "o").exists()
    line = usage_error(capsys, ["claim2d", "run", "--episodes", "10000000", "--out", str(work / "o")], "--episodes")
    assert "GiB" in line


def test_the_memory_estimate_scales_with_episodes_and_jobs():
    from experiments.montecarlo.memory import estimate_bytes, need_bytes
    from experiments.montecarlo.spec import RunOptions
    small = estimate_bytes(RunOptions(episodes=1000))
    assert 0 < small < 2 ** 30                                   # the README's command fits anywhere
    big = estimate_bytes(RunOptions(episodes=100000))
    assert 50 < big / small < 150
    one = need_bytes(RunOptions(episodes=1000, seeds=[0, 1, 2], jobs=1))
    assert need_bytes(RunOptions(episodes=1000, seeds=[0, 1, 2], jobs=3)) == 3 * one     # three processes at once


# ---- 5. temporaries of killed runs; multi-file outputs change in one step -------------------------------------

def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    host = cio.writer_tag().split("-")[0]
    dead = 2 ** 22 + 12345                                        # above the default pid_max: never alive
    stale = d / f".x.json.{host}-{dead}.abc12345.tmp"             # of a dead process: removed
    stale_other = d / f".y.json.{host}-{dead}.abc12345.tmp"       # another name in the same directory: removed
    live = d / f".x.json.{cio.writer_tag()}.zzz.tmp"             # this process: alive, kept
    other = d / ".y.json.otherhost-1.abc.tmp"                    # another host, recent: kept
    mine = d / ".notes.tmp"                                       # not a name of ours: kept
    for p in (stale, stale_other, live, other, mine):
        p.write_text("partial")
    cio.write_json_atomic(d / "x.json", {"a": 1})
    assert sorted(p.name for p in d.iterdir()) == sorted([live.name, other.name, mine.name, "x.json"])
    os.utime(other, (1, 1))                                       # older than STALE_AFTER_S
    os.utime(mine, (1, 1))
    cio.remove_stale_temps(d)
    assert not other.exists() and live.exists() and mine.exists()


def test_a_folder_is_swapped_whole_and_keeps_foreign_files(tmp_path):
    out = tmp_path / "out"
    write_folder_atomic(out, {out / "results.json": "1", out / "table1.json": "1", out / "REPORT.md": "1"},
                        owned=r".*\.(json|md)")
    (out / "notes.txt").write_text("mine")
    ino = (out / "notes.txt").stat().st_ino
    write_folder_atomic(out, {out / "results.json": "2", out / "REPORT.md": "2"}, owned=r".*\.(json|md)")
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md", "notes.txt", "results.json"]
    assert (out / "notes.txt").stat().st_ino == ino and (out / "results.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no staging left beside it


def test_a_failed_folder_write_leaves_the_old_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_folder_atomic(out, {out / "a.json": "old", out / "b.json": "old"})
    import experiments.common.commit as commit
    real = commit._write_plain

    def fail_second(path, data, target):
        if target.name == "b.json":
            raise cio.WriteError(28, "No space left on device", str(target))
        real(path, data, target)

    monkeypatch.setattr(commit, "_write_plain", fail_second)
    with pytest.raises(cio.WriteError, match="b.json"):
        write_folder_atomic(out, {out / "a.json": "new", out / "b.json": "new"})
    assert tree(out) == {"a.json": b"old", "b.json": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_deferred_writes_write_nothing_after_an_exception(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError):
        with deferred_writes(out):
            cio.write_text_atomic(out / "REPORT.md", "half")
            raise RuntimeError("the rendering failed")
    assert not out.exists()
    out.mkdir()
    (out / "results").mkdir()                                     # a folder with sub-folders: files one by one
    with deferred_writes(out):
        cio.write_text_atomic(out / "REPORT.md", "whole")
        cio.write_json_atomic(out / "claims.json", {"claims": []})
        assert sorted(p.name for p in out.iterdir()) == ["results"]
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md", "claims.json", "results"]


def test_capturing_a_missing_module_is_a_usage_error(work, data, capsys):
    # before: an AttributeError traceback from the first training step, after the run directory was written
    usage_error(capsys, ["training", "run", *TRAIN_TINY, "--data-root", str(data), "--out-dir", str(work / "r"),
                         "--capture", "stage9"], "--capture")
    assert not (work / "r").exists()


@pytest.mark.parametrize("what", ["montecarlo", "claim2d", "cs"])
def test_a_torn_results_file_is_a_usage_error_naming_it(what, work, capsys):
    res = work / "res"
    if what == "cs":
        p = res / "quick" / "table5" / "x.json"
    else:
        p = res / ("results.json" if what == "montecarlo" else "summary.json")
    p.parent.mkdir(parents=True)
    p.write_text('{"documents": {"tab')                                     # torn mid-write by another tool
    line = usage_error(capsys, [what, "report", "--results", str(res), "--out", str(work / "r")], "--results")
    assert str(res) in line and not (work / "r").exists()


def test_report_results_must_be_a_directory(work, capsys):
    for exp in ("cs", "mfd", "pod"):
        usage_error(capsys, [exp, "report", "--results", str(work / "missing"), "--out", str(work / "r")], "--results")
    assert not (work / "r").exists()


def test_montecarlo_run_replaces_its_folder_and_drops_its_old_outputs(work, capsys):
    out = work / "mc"
    assert main(["montecarlo", "run", *MC_TINY, "--tables", "1", "6", "--out", str(out)]) == 0
    assert (out / "table6.json").is_file()
    (out / "keep.txt").write_text("a file that is not an output")
    assert main(["montecarlo", "run", *MC_TINY, "--tables", "1", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "table6.json" not in names and "table6.md" not in names and "keep.txt" in names
    index = json.loads((out / "results.json").read_text())
    assert set(index["documents"].values()) | {"results.json"} == {n for n in names if n.endswith(".json")}
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []


def test_json_is_strict_and_finite():
    assert math.isnan(float("nan")) and cio.dumps_json({"a": float("nan")}) == '{\n  "a": null\n}\n'
