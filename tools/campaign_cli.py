"""A campaign of bad arguments against ``python -m experiments``: every case in a fresh working directory
holding a sentinel file, with a timeout, classified as

* **clean error**: exit status 2 (1 for a failure that is not a usage error, e.g. a full disk met mid-write),
  one error line naming the flag, no traceback, nothing written anywhere;
* **right result**: a valid command that exits 0 and writes only inside the outputs it was given;
* **other**: anything else — a silent accept, a traceback, a hang, a file written outside the named output,
  the sentinel changed, a temporary left behind.

Usage::

    python tools/campaign_cli.py [--json PATH] [--only SUBSTRING] [--timeout S] [--repo DIR] [--subprocess]

Each case runs in a child forked from this process once it has imported the test-bed (fast: no interpreter
start per case); ``--subprocess`` runs ``python -m experiments`` instead (slower, the real thing). ``--repo``
runs the campaign against another checkout (e.g. an older commit, to count what it got wrong). Where this
process is root and may mount, a read-only and a full tmpfs are mounted for the output cases (else a
``chmod 0o555`` directory stands in for the read-only one and the full-disk cases are skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

SENTINEL = "SENTINEL.txt"


@dataclass
class Case:
    """One command: ``argv`` (``{name}`` placeholders filled from the fixtures), what it should do."""
    name: str
    argv: list
    expect: str = "error"                  #: "error" or "ok"
    flag: str | None = None                #: the flag an error must name
    outputs: tuple = ("out",)              #: paths (relative to the working directory) it may write in
    setup: object = None                   #: setup(workdir, fixtures) before the run
    copy: dict = field(default_factory=dict)   #: fixture name -> relative path, copied in before the run
    exit_code: int = 2                     #: the status of a clean error (1: a runtime failure, e.g. disk full)


# ---- fixtures ---------------------------------------------------------------------------------------------------

def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def make_fixtures(root: Path, py: str, repo: Path) -> dict:
    """Data, finished tiny results, a read-only and a full directory; paths by name."""
    sys.path.insert(0, str(repo))
    from tests.training_fixtures import write_fashion_mnist

    fx = {"root": str(root)}
    data = root / "fm"
    write_fashion_mnist(data, 2, 1)
    fx["data"] = str(data)
    env = dict(os.environ, PYTHONPATH=str(repo))

    def run(*argv):
        r = subprocess.run([py, "-m", "experiments", *map(str, argv)], cwd=root, env=env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"fixture failed: {' '.join(map(str, argv))}\n{r.stderr[-2000:]}")

    run(*MC_TINY, "--out", root / "mc")
    fx["mc"] = str(root / "mc")
    run(*C2_TINY, "--out", root / "c2")
    fx["c2"] = str(root / "c2")
    run(*CS_TINY, "--data-root", data, "--out", root / "cs" / "out", "--runs-dir", root / "cs" / "runs")
    fx["cs"] = str(root / "cs")
    run("training", "run", *TRAIN_TINY, "--data-root", data, "--out-dir", root / "trained")
    fx["trained"] = str(root / "trained")
    (root / "empty").mkdir()
    fx["empty"] = str(root / "empty")
    ro = root / "ro"
    fx["ro_mounted"] = _mount(ro, "ro,size=64k")
    if not fx["ro_mounted"]:
        ro.chmod(0o555)
    fx["ro"] = str(ro)
    full = root / "full"
    if _mount(full, "size=128k"):
        with open(full / "filler.bin", "wb") as fh:
            try:
                fh.write(b"\0" * (1 << 20))
            except OSError:
                pass
        fx["full"] = str(full)
    return fx


def cleanup_fixtures(fx: dict) -> None:
    for key in ("ro", "full"):
        p = fx.get(key)
        if p and os.path.ismount(p):
            subprocess.run(["umount", "-l", p], capture_output=True)
    if fx.get("ro") and not fx.get("ro_mounted"):
        os.chmod(fx["ro"], 0o755)


# ---- the catalogue -----------------------------------------------------------------------------------------------

MC_TINY = ["montecarlo", "run", "--tables", "1", "--small-n", "3", "--episodes", "4", "--max-iterations", "3",
           "--bootstrap", "0", "--no-progress", "--no-plot"]
C2_TINY = ["claim2d", "run", "--episodes", "3", "--iterations", "2", "--bootstrap", "0", "--no-progress",
           "--no-plot", "--kernel-sizes", "3", "--kernels", "2", "--channels", "1", "--inputs", "uniform",
           "--objectives", "kernel_ip"]
TRAIN_TINY = ["--epochs", "1", "--train-per-class", "2", "--test-per-class", "1", "--batch-size", "8",
              "--no-progress", "--threads", "1"]
CS_TINY = ["cs", "run", "--study", "table5", "--models", "cnn1", "--methods", "baseline", "--seeds", "0",
           "--epochs", "1", "--train-per-class", "2", "--test-per-class", "1", "--tag", "t", "--no-progress",
           "--no-report", "--threads", "1"]
CS_PLAN = ["cs", "plan", "--study", "table5", "--models", "cnn1", "--methods", "baseline", "--seeds", "0", "--epochs",
           "1", "--train-per-class", "2", "--test-per-class", "1", "--tag", "t"]
STUDY = {"mfd": ["mfd", "run", "--study", "compare", "--seeds", "0", "--epochs", "1", "--train-per-class", "2",
                 "--test-per-class", "1", "--width", "0.125", "--tag", "t", "--no-progress", "--no-report",
                 "--threads", "1"],
         "pod": ["pod", "run", "--study", "table6", "--seeds", "0", "--epochs", "1", "--train-per-class", "2",
                 "--test-per-class", "1", "--width", "0.125", "--tag", "t", "--no-progress", "--no-report",
                 "--threads", "1"]}

BAD_OUTPUTS = [("empty", ""), ("parent-is-a-file", "afile/sub"), ("existing-file", "afile"),
               ("read-only", "{ro}"), ("inside-read-only", "{ro}/sub"), ("full-disk", "{full}/x"),
               ("proc", "/proc/campaign-out")]
NON_FINITE = ["nan", "inf", "-inf"]


def _afile(work: Path, fx: dict) -> None:
    (work / "afile").write_text("not a directory")


def _ckpt(kind: str):
    def setup(work: Path, fx: dict) -> None:
        import torch

        d = work / "out"
        shutil.copytree(fx["trained"], d)
        p = d / "checkpoint.pt"
        if kind == "garbage":
            p.write_bytes(b"\x00garbage\xff" * 50)
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "truncated":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        elif kind == "wrong-content":
            torch.save({"a": torch.zeros(10)}, p)
        elif kind == "other-model":
            st = torch.load(p, weights_only=False)
            st["model"] = {"x": torch.zeros(3)}
            torch.save(st, p)
        (d / "result.json").unlink()
    return setup


def _plan_ckpt(work: Path, fx: dict) -> None:
    d = work / "runs" / "quick-t" / "table5" / "cnn1-baseline-s0"
    shutil.copytree(Path(fx["cs"]) / "runs" / "quick-t" / "table5" / "cnn1-baseline-s0", d)
    (d / "checkpoint.pt").write_bytes(b"garbage")
    (d / "result.json").unlink()


def _torn_copy(key: str, dst: str, name: str, *, delete: bool = False, sub: str = ""):
    """Copy fixture ``key`` (its ``sub`` folder) to ``dst`` in the working directory with ``name`` torn (or
    deleted)."""
    def setup(work: Path, fx: dict) -> None:
        shutil.copytree(Path(fx[key]) / sub, work / dst)
        p = work / dst / name
        if delete:
            p.unlink()
        else:
            p.write_text(p.read_text()[:50])
    return setup


def _bad_toml(work: Path, fx: dict) -> None:
    (work / "bad.toml").write_text("episodes = [unclosed\n")


def _torn_result(work: Path, fx: dict) -> None:
    p = work / "out" / "results" / "quick-t" / "table5" / "cnn1-baseline-s0.json"
    p.write_text(p.read_text()[:100])


def catalogue(fx: dict) -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    d = ["--data-root", "{data}"]
    verbs = {
        "montecarlo run": (MC_TINY, "--out", ()),
        "montecarlo report": (["montecarlo", "report", "--results", "{mc}"], "--out", ()),
        "claim2d run": (C2_TINY, "--out", ()),
        "claim2d report": (["claim2d", "report", "--results", "{c2}"], "--out", ()),
        "training run": (["training", "run", *TRAIN_TINY, *d], "--out-dir", ()),
        "cs run": ([*CS_TINY, *d, "--runs-dir", "runs"], "--out", ("runs",)),
        "cs run runs-dir": ([*CS_TINY, *d, "--out", "o2"], "--runs-dir", ("o2",)),
        "mfd run": ([*STUDY["mfd"], *d, "--runs-dir", "runs"], "--out", ("runs",)),
        "pod run": ([*STUDY["pod"], *d, "--runs-dir", "runs"], "--out", ("runs",)),
        "cs report": (["cs", "report", "--results", "{cs}/out/results"], "--out", ()),
        "mfd report": (["mfd", "report", "--results", "{empty}"], "--out", ()),
        "pod report": (["pod", "report", "--results", "{empty}"], "--out", ()),
        "audit run": (["audit", "run", "--episodes", "2", *d], "--out", ()),
        "claims report": (["claims", "report", "--inputs", "{cs}/none.json"], "--out", ()),
    }
    # outputs: every verb, every bad kind
    for verb, (argv, flag, extra) in verbs.items():
        for kind, path in BAD_OUTPUTS:
            if "{full}" in path and "full" not in fx:
                continue
            add(Case(f"{verb} {flag} {kind}", [*argv, flag, path], flag=flag, outputs=(), setup=_afile))
    add(Case("cs kernels --results read-only", ["cs", "kernels", "--group", "g", "--results", "{ro}"],
             flag="--group", outputs=()))
    # valid runs
    add(Case("montecarlo run (tiny)", [*MC_TINY, "--out", "out"], expect="ok"))
    add(Case("montecarlo run --out . (the working directory: the sentinel stays)", [*MC_TINY, "--out", "."],
             expect="ok", outputs=(".",)))
    add(Case("montecarlo run --seeds 0 1 --jobs 2", [*MC_TINY, "--seeds", "0", "1", "--jobs", "2", "--out", "out"],
             expect="ok"))
    add(Case("montecarlo report", ["montecarlo", "report", "--results", "{mc}", "--out", "out"], expect="ok"))
    add(Case("claim2d run (tiny)", [*C2_TINY, "--out", "out"], expect="ok"))
    add(Case("claim2d report", ["claim2d", "report", "--results", "{c2}", "--out", "out"], expect="ok"))
    add(Case("training run (tiny)", ["training", "run", *TRAIN_TINY, *d, "--out-dir", "out"], expect="ok"))
    add(Case("training run --resume of a finished run", ["training", "run", *TRAIN_TINY, *d, "--out-dir", "out",
                                                         "--resume"], expect="ok", copy={"trained": "out"}))
    add(Case("training run --resume --epochs 2 (a longer run)", ["training", "run", *TRAIN_TINY, *d, "--out-dir",
                                                                 "out", "--resume", "--epochs", "2"],
             expect="ok", copy={"trained": "out"}))
    add(Case("cs run (tiny, tagged)", [*CS_TINY, *d, "--out", "out", "--runs-dir", "runs"], expect="ok",
             outputs=("out", "runs")))
    add(Case("cs run of a finished plan (skips)", [*CS_TINY, *d, "--out", "out", "--runs-dir", "runs"], expect="ok",
             outputs=("out", "runs"), copy={"cs/out": "out", "cs/runs": "runs"}))
    add(Case("cs plan", [*CS_PLAN, "--out", "{cs}/out"], expect="ok", outputs=()))
    add(Case("cs report", ["cs", "report", "--results", "{cs}/out/results", "--out", "out"], expect="ok"))
    add(Case("mfd report (empty results)", ["mfd", "report", "--results", "{empty}", "--out", "out"], expect="ok"))
    add(Case("claims report", ["claims", "report", "--inputs", "{cs}/none.json", "--out", "out"], expect="ok"))
    add(Case("cs run --epochs 5 (the protocol's own value, dry run)", ["cs", "run", "--epochs", "5", "--dry-run",
                                                                        "--out", "out", "--runs-dir", "runs"],
             expect="ok", outputs=()))
    # every value case below starts from a valid tiny command of its experiment: only the flag tried is bad
    base = {"montecarlo": MC_TINY[2:], "claim2d": C2_TINY[2:], "training": [*TRAIN_TINY, *d],
            "cs": [*CS_TINY[2:], *d, "--runs-dir", "runs"], "mfd": [*STUDY["mfd"][2:], *d, "--runs-dir", "runs"],
            "pod": [*STUDY["pod"][2:], *d, "--runs-dir", "runs"]}
    # numbers: non-finite, negative, zero, huge, not numbers
    numbers = [
        ("training", "run", "--lr"), ("training", "run", "--momentum"), ("training", "run", "--weight-decay"),
        ("training", "run", "--lr-gamma"), ("training", "run", "--cs-init-lr"), ("training", "run", "--cs-beta"),
        ("training", "run", "--width"), ("cs", "run", "--beta"), ("mfd", "run", "--lgs"), ("mfd", "run", "--width"),
        ("pod", "run", "--pod-lambda"), ("pod", "run", "--width"), ("claim2d", "run", "--lr"),
        ("montecarlo", "run", "--iterations-scale"), ("cs", "run", "--width"),
    ]
    for exp, verb, flag in numbers:
        out_flag = "--out-dir" if exp == "training" else "--out"
        start = base[exp]
        if (exp, flag) == ("cs", "--width"):                      # a fig5 option
            start = ["--study", "fig5", "--iters", "0", "--seeds", "0", "--epochs", "1", "--train-per-class", "2",
                     "--test-per-class", "1", "--tag", "t", "--no-progress", "--no-report", *d, "--runs-dir", "runs"]
        for v in NON_FINITE + (["abc"] if flag == "--lgs" else ["-1", "abc"]):     # lg λ = -1 is a value
            add(Case(f"{exp} {verb} {flag} {v}", [exp, verb, *start, flag, v, out_flag, "out"], flag=flag,
                     outputs=()))
    ints = [("montecarlo", "--episodes"), ("montecarlo", "--seed"), ("montecarlo", "--bootstrap"),
            ("montecarlo", "--threads"), ("montecarlo", "--jobs"), ("montecarlo", "--small-n"),
            ("montecarlo", "--max-iterations"), ("claim2d", "--episodes"), ("claim2d", "--iterations"),
            ("claim2d", "--record-every"), ("claim2d", "--kernel-sizes"), ("claim2d", "--kernels"),
            ("claim2d", "--channels"), ("claim2d", "--threads"), ("training", "--epochs"), ("training", "--batch-size"),
            ("training", "--eval-batch-size"), ("training", "--train-per-class"), ("training", "--test-per-class"),
            ("training", "--seed"), ("training", "--threads"), ("training", "--cs-init-iters"),
            ("training", "--bn-recal-batches"), ("training", "--bn-recal-every"), ("training", "--subset-seed"),
            ("training", "--lr-milestones"), ("cs", "--epochs"), ("cs", "--train-per-class"), ("cs", "--seeds"),
            ("cs", "--jobs"), ("cs", "--threads"), ("cs", "--init-iters"), ("mfd", "--test-per-class"),
            ("mfd", "--bn-recal-batches"), ("pod", "--dims"), ("pod", "--epochs")]
    for exp, flag in ints:
        out_flag = "--out-dir" if exp == "training" else "--out"
        for v in ("-1", "1.5", "nan"):
            add(Case(f"{exp} run {flag} {v}", [exp, "run", *base[exp], flag, v, out_flag, "out"], flag=flag,
                     outputs=()))
        if flag not in ("--seed", "--subset-seed", "--bootstrap", "--bn-recal-batches", "--cs-init-iters",
                        "--init-iters", "--seeds") and (exp, flag) != ("training", "--epochs"):   # 0 is valid there
            add(Case(f"{exp} run {flag} 0", [exp, "run", *base[exp], flag, "0", out_flag, "out"], flag=flag,
                     outputs=()))
    # huge sizes: refused before any work
    add(Case("montecarlo run --episodes 100000000", ["montecarlo", "run", "--episodes", "100000000", "--out", "out"],
             flag="--episodes", outputs=()))
    add(Case("montecarlo run --episodes 100000000 --seeds 0 1 --jobs 2",
             ["montecarlo", "run", "--episodes", "10000000", "--seeds", "0", "1", "--jobs", "2", "--out", "out"],
             flag="--episodes", outputs=()))
    add(Case("claim2d run --episodes 10000000", ["claim2d", "run", "--episodes", "10000000", "--out", "out"],
             flag="--episodes", outputs=()))
    add(Case("training run --train-per-class 100000", ["training", "run", "--train-per-class", "100000", *d,
                                                       "--out-dir", "out"], flag="--train-per-class", outputs=()))
    add(Case("cs run --test-per-class 50", [*CS_TINY, "--test-per-class", "50", *d, "--out", "out", "--runs-dir",
                                            "runs"], flag="--test-per-class", outputs=()))
    # choices
    for exp, flag in [("montecarlo", "--tables"), ("montecarlo", "--dtype"), ("montecarlo", "--metric"),
                      ("montecarlo", "--corr"), ("claim2d", "--objectives"), ("claim2d", "--inputs"),
                      ("claim2d", "--paddings"), ("training", "--model"), ("training", "--dataset"),
                      ("training", "--optimizer"), ("training", "--dtype"), ("training", "--cs-method"),
                      ("training", "--memory-format"), ("training", "--precision"), ("training", "--extra-losses"),
                      ("cs", "--study"), ("cs", "--protocol"), ("cs", "--models"), ("cs", "--methods"),
                      ("cs", "--executor"), ("mfd", "--study"), ("pod", "--study")]:
        out_flag = "--out-dir" if exp == "training" else "--out"
        add(Case(f"{exp} run {flag} bogus", [exp, "run", *base[exp], flag, "bogus", out_flag, "out"], flag=flag,
                 outputs=()))
    # devices
    for exp in ("montecarlo", "claim2d", "training", "cs", "mfd", "pod"):
        out_flag = "--out-dir" if exp == "training" else "--out"
        for dev in ("cuda", "cuda:0", "cuda:7", "tpu", "", "cpu:x"):
            add(Case(f"{exp} run --device {dev!r}", [exp, "run", *base[exp], "--device", dev, out_flag, "out"],
                     flag="--device", outputs=()))
    # combinations and files
    tr = ["training", "run", *TRAIN_TINY, *d]
    for name, extra, flag in [("--amp on cpu", ["--amp"], "--amp"),
                              ("--precision bf16 --dtype float64", ["--precision", "bf16", "--dtype", "float64"],
                               "--precision"),
                              ("--nesterov without momentum", ["--nesterov"], "--nesterov"),
                              ("--cs-init-objective without iterations", ["--cs-init-objective", "normalized"],
                               "--cs-init-objective"),
                              ("--import missing", ["--import", "no_such_module_xyz"], "--import"),
                              ("--data-root missing", ["--data-root", "/nonexistent/fm"], "--data-root"),
                              ("--dataset cifar10 without data", ["--dataset", "cifar10"], "--data-root"),
                              ("--capture of a missing module", ["--capture", "stage9"], "--capture"),
                              ("--model cnn1 --capture stage0", ["--model", "cnn1", "--capture", "stage0"],
                               "--capture"),
                              ("--set unknown", ["--set", "bogus=1"], "--set"),
                              ("--set lr=nan", ["--set", "lr=nan"], "--lr"),
                              ("--set epochs='x'", ["--set", "epochs='x'"], "--epochs"),
                              ("--config missing", ["--config", "missing.toml"], "--config"),
                              ("--config bad TOML", ["--config", "bad.toml"], "--config")]:
        add(Case(f"training run {name}", [*tr, *extra, "--out-dir", "out"], flag=flag, outputs=(),
                 setup=_bad_toml))
    for kind in ("garbage", "empty", "truncated", "wrong-content"):
        add(Case(f"training run --resume, checkpoint {kind}", [*tr, "--out-dir", "out", "--resume"], flag="--resume",
                 outputs=(), setup=_ckpt(kind)))
    # a checkpoint of the right form whose weights do not fit the model: found when they are loaded (exit 1)
    add(Case("training run --resume, checkpoint of another model", [*tr, "--out-dir", "out", "--resume"],
             flag="checkpoint.pt", outputs=(), setup=_ckpt("other-model"), exit_code=1))
    add(Case("training run --resume --lr 0.5 (other settings)", [*tr, "--out-dir", "out", "--resume", "--lr", "0.5"],
             flag="--resume", outputs=(), copy={"trained": "out"}))
    add(Case("training run --resume --epochs 0 (past the checkpoint)", [*tr, "--out-dir", "out", "--resume",
                                                                        "--epochs", "0"],
             flag="--epochs", outputs=(), copy={"trained": "out"}))
    add(Case("training run over a finished run without --resume", [*tr, "--out-dir", "out"], flag="--out-dir",
             outputs=(), copy={"trained": "out"}))
    add(Case("cs run, a corrupt checkpoint in the runs directory", [*CS_TINY, *d, "--out", "out", "--runs-dir",
                                                                    "runs"],
             flag="--runs-dir", outputs=(), setup=_plan_ckpt))
    add(Case("cs run, a torn result file", [*CS_TINY, *d, "--out", "out", "--runs-dir", "runs"], flag="--out",
             outputs=(), copy={"cs/out": "out", "cs/runs": "runs"}, setup=_torn_result))
    # changed settings of a finished plan
    for extra, flag in [(["--epochs", "2"], "--epochs"), (["--train-per-class", "1"], "--train-per-class")]:
        add(Case(f"cs run of a finished plan {' '.join(extra)} (same tag)",
                 [*CS_TINY, *d, "--out", "out", "--runs-dir", "runs", *extra], flag="--out", outputs=(),
                 copy={"cs/out": "out", "cs/runs": "runs"}))
        add(Case(f"cs run {' '.join(extra)} without --tag", ["cs", "run", *extra, "--out", "out", "--runs-dir", "runs"],
                 flag=flag, outputs=()))
    add(Case("cs run --train-per-class 0", ["cs", "run", "--train-per-class", "0", "--tag", "t", "--out", "out"],
             flag="--train-per-class", outputs=()))
    add(Case("mfd run --width 0.5 without --tag", ["mfd", "run", "--width", "0.5", "--out", "out"], flag="--width",
             outputs=()))
    add(Case("pod run --pod-lambda 2 without --tag", ["pod", "run", "--pod-lambda", "2", "--out", "out"],
             flag="--pod-lambda", outputs=()))
    add(Case("cs run --methods rescale under quick", ["cs", "run", "--methods", "rescale", "--out", "out"],
             flag="--methods", outputs=()))
    add(Case("cs run --address without ray", ["cs", "run", "--address", "auto", "--out", "out"], flag="--address",
             outputs=()))
    add(Case("cs run --tag a/b", ["cs", "run", "--tag", "a/b", "--out", "out"], flag="--tag", outputs=()))
    add(Case("cs run --seeds 0 0", ["cs", "run", "--seeds", "0", "0", "--out", "out"], flag="--seeds", outputs=()))
    add(Case("cs report --results missing", ["cs", "report", "--results", "missing", "--out", "out"],
             flag="--results", outputs=()))
    add(Case("montecarlo report --results missing", ["montecarlo", "report", "--results", "missing", "--out", "out"],
             flag="--results", outputs=()))
    add(Case("montecarlo report of a torn results.json", ["montecarlo", "report", "--results", "res", "--out", "out"],
             flag="--results", outputs=(), setup=_torn_copy("mc", "res", "results.json")))
    add(Case("montecarlo report, a listed document missing", ["montecarlo", "report", "--results", "res", "--out",
                                                               "out"],
             flag="--results", outputs=(), setup=_torn_copy("mc", "res", "table1.json", delete=True)))
    add(Case("claim2d report of a torn summary.json", ["claim2d", "report", "--results", "res", "--out", "out"],
             flag="--results", outputs=(), setup=_torn_copy("c2", "res", "summary.json")))
    add(Case("cs report of a torn result file", ["cs", "report", "--results", "res", "--out", "out"],
             flag="--results", outputs=(),
             setup=_torn_copy("cs", "res", "quick-t/table5/cnn1-baseline-s0.json", sub="out/results")))
    add(Case("claims report --inputs a torn file", ["claims", "report", "--inputs", "bad.toml", "--out", "out"],
             flag="--inputs", outputs=(), setup=_bad_toml))
    add(Case("montecarlo run --seeds 0 0", [*MC_TINY, "--seeds", "0", "0", "--out", "out"], flag="--seeds",
             outputs=()))
    add(Case("claim2d run --data-root missing (image inputs)", ["claim2d", "run", "--inputs", "image", "--channels",
                                                                "1", "--data-root", "/nonexistent", "--out", "out"],
             flag="--data-root", outputs=()))
    add(Case("unknown experiment", ["nosuch", "run"], flag="nosuch", outputs=()))
    add(Case("unknown verb", ["montecarlo", "walk"], flag="walk", outputs=()))
    return cases


# ---- running and classifying -------------------------------------------------------------------------------------

def _fill(argv, fx: dict) -> list[str]:
    out = []
    for a in argv:
        a = str(a)
        for k, v in fx.items():
            a = a.replace("{" + k + "}", str(v))
        out.append(a)
    return out


def _snapshot(root: Path) -> dict:
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + [x for x in dirnames if os.path.islink(os.path.join(dirpath, x))]:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as fh:
                    snap[os.path.relpath(p, root)] = hashlib.sha1(fh.read()).hexdigest()
            except OSError:
                snap[os.path.relpath(p, root)] = "?"
        for n in dirnames:
            snap.setdefault(os.path.relpath(os.path.join(dirpath, n), root) + "/", "dir")
    return snap


def _in_fork(argv, work: Path, timeout: float) -> tuple[int | None, str, float]:
    out_path = work.parent / (work.name + ".log")
    t0 = time.time()
    pid = os.fork()
    if pid == 0:                                                   # the child: run the command, never return
        code = 1
        try:
            fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(work)
            from experiments.__main__ import main
            code = int(main(argv) or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:                                      # noqa: BLE001 - report as the interpreter would
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    end = t0 + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.time() > end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            rc = None
            break
        time.sleep(0.01)
    text = out_path.read_text(errors="replace") if out_path.exists() else ""
    return rc, text, time.time() - t0


def _in_subprocess(argv, work: Path, timeout: float, py: str, repo: Path) -> tuple[int | None, str, float]:
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=str(repo))
    try:
        r = subprocess.run([py, "-m", "experiments", *argv], cwd=work, env=env, capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout + r.stderr, time.time() - t0
    except subprocess.TimeoutExpired as exc:
        return None, (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace"), \
            time.time() - t0


def classify(case: Case, rc, text: str, changed: list[str], fixtures_changed: list[str], sentinel_ok: bool):
    """``("clean error" | "right result" | "other", reason)``."""
    lines = [ln for ln in text.splitlines() if "error:" in ln]
    if rc is None:
        return "other", "hang (timeout)"
    if "Traceback (most recent call last)" in text:
        return "other", "traceback: " + (text.strip().splitlines() or ["?"])[-1][:200]
    if not sentinel_ok:
        return "other", "the sentinel file was changed"
    if fixtures_changed:
        return "other", f"wrote outside the named output: {fixtures_changed[:3]}"
    if case.expect == "error":
        if rc == 0:
            return "other", "silent accept (exit 0)"
        if rc != case.exit_code:
            return "other", f"exit status {rc}, expected {case.exit_code}: {(lines or ['?'])[-1][:200]}"
        if len(lines) != 1:
            return "other", f"{len(lines)} error lines"
        if case.flag and case.flag not in lines[0]:
            return "other", f"the error does not name {case.flag}: {lines[0][:200]}"
        if changed:
            return "other", f"an error that wrote {changed[:3]}"
        return "clean error", lines[0][:200]
    if rc != 0:
        return "other", f"a valid command failed (exit {rc}): {(lines or text.splitlines() or ['?'])[-1][:200]}"
    stray = [c for c in changed if not any(c == o or c.startswith(o.rstrip("/") + "/") or o == "."
                                           for o in case.outputs)]
    if stray:
        return "other", f"wrote outside the named output: {stray[:3]}"
    leftovers = [c for c in changed if c.rsplit("/", 1)[-1].endswith(".tmp") or ".staging-" in c]
    if leftovers:
        return "other", f"temporaries left: {leftovers[:3]}"
    return "right result", ""


def run_case(case: Case, fx: dict, base: Path, k: int, args) -> dict:
    work = base / f"case{k:03d}"
    work.mkdir()
    (work / SENTINEL).write_text("do not touch\n")
    for src, dst in case.copy.items():
        shutil.copytree(Path(fx[src.split("/")[0]]) / "/".join(src.split("/")[1:]), work / dst)
    if case.setup is not None:
        case.setup(work, fx)
    before = _snapshot(work)
    fx_before = {key: _snapshot(Path(fx[key])) for key in ("mc", "c2", "cs", "trained", "data", "empty")}
    argv = _fill(case.argv, fx)
    if args.subprocess:
        rc, text, secs = _in_subprocess(argv, work, args.timeout, args.python, args.repo)
    else:
        rc, text, secs = _in_fork(argv, work, args.timeout)
    after = _snapshot(work)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p) and p != "./")
    sentinel_ok = after.get(SENTINEL) == before.get(SENTINEL)
    fx_changed = []
    for key, snap in fx_before.items():
        now = _snapshot(Path(fx[key]))
        fx_changed += [f"{key}/{q}" for q in sorted(set(snap) | set(now)) if snap.get(q) != now.get(q)]
    stray_beside = [p.name for p in base.iterdir() if ".staging-" in p.name]
    if stray_beside:
        fx_changed += stray_beside
        for p in stray_beside:
            shutil.rmtree(base / p, ignore_errors=True)
    verdict, reason = classify(case, rc, text, changed, fx_changed, sentinel_ok)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"name": case.name, "command": "python -m experiments " + " ".join(_quote(a) for a in argv),
            "expect": case.expect, "exit": rc, "verdict": verdict, "reason": reason, "seconds": round(secs, 2)}


def _quote(a: str) -> str:
    import shlex
    return shlex.quote(a)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", metavar="PATH", help="also write every case and its verdict as JSON")
    p.add_argument("--only", metavar="SUBSTRING", help="run only the cases whose name contains SUBSTRING")
    p.add_argument("--skip", metavar="SUBSTRING", action="append", default=[],
                   help="leave out the cases whose name contains SUBSTRING (repeatable)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per case (default 120)")
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the checkout to run (default: this one)")
    p.add_argument("--subprocess", action="store_true", help="run each case as `python -m experiments` (slower)")
    p.add_argument("--keep", action="store_true", help="keep the working directories (printed)")
    args = p.parse_args(argv)
    args.python = sys.executable
    args.repo = args.repo.resolve()
    base = Path(tempfile.mkdtemp(prefix="campaign-cli-"))
    fx = {}
    t0 = time.time()
    try:
        fx = make_fixtures(base / "fixtures", args.python, args.repo)
        sys.path.insert(0, str(args.repo))
        import experiments.__main__  # noqa: F401  (warm: the forked children start from here)
        import torch  # noqa: F401
        cases = [c for c in catalogue(fx) if (not args.only or args.only in c.name)
                 and not any(x in c.name for x in args.skip)]
        rows = []
        for k, c in enumerate(cases):
            rows.append(run_case(c, fx, base, k, args))
            r = rows[-1]
            if r["verdict"] == "other":
                print(f"  other: {r['name']}: {r['reason']}", file=sys.stderr, flush=True)
    finally:
        cleanup_fixtures(fx)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("clean error", "right result", "other")}
    print(f"tried {len(rows)} | clean error {counts['clean error']} | right result {counts['right result']} | "
          f"other {counts['other']}  ({time.time() - t0:.0f} s; {'subprocess' if args.subprocess else 'fork'}; "
          f"repo {args.repo}; read-only: {'tmpfs' if fx.get('ro_mounted') else 'chmod'}; full disk: "
          f"{'tmpfs' if fx.get('full') else 'skipped'})")
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": {"tried": len(rows), **counts}, "cases": rows}, indent=1))
    for r in rows:
        if r["verdict"] == "other":
            print(f"OTHER  {r['name']}\n       {r['reason']}\n       $ {r['command']}")
    if args.keep:
        print(f"working directories kept under {base}")
    return 0 if counts["other"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
