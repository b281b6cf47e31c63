"""Faults: a run killed (SIGKILL) at a random point and run again, a full disk, a read-only output.

After a kill the output folder of ``montecarlo run`` / ``claim2d run`` is the old complete one (or absent),
or the new complete one, never a mix; a training plan's results are complete files only. The next run
leaves no temporary or staging directory behind and its results equal an uninterrupted run's (bit for bit
for the training plan: resume is exact on CPU). A full disk is a clean error naming the file, the old folder
untouched; a read-only output is a usage error before any work. The kill points are drawn at random (the seed
is printed on failure; ``FAULT_SEED`` fixes it); ``-m slow`` kills each command at several points.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.__main__ import main
from tests.fs_fixtures import fill, readonly_dir, small_fs, tree
from tests.training_fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
MC = ["montecarlo", "run", "--tables", "1", "2", "--small-n", "3", "--episodes", "4", "--max-iterations", "3",
      "--bootstrap", "0", "--no-progress", "--no-plot"]
C2 = ["claim2d", "run", "--episodes", "3", "--iterations", "4", "--record-every", "2", "--bootstrap", "0",
      "--no-progress", "--kernel-sizes", "3", "--kernels", "2", "--channels", "1", "--inputs", "uniform",
      "--objectives", "kernel_ip", "cs", "--no-plot"]
PLAN = ["cs", "run", "--study", "table5", "--models", "cnn1", "--methods", "baseline", "alg1", "--seeds", "0",
        "--epochs", "2", "--train-per-class", "2", "--test-per-class", "1", "--init-iters", "3", "--tag", "t",
        "--no-progress", "--no-report", "--threads", "1"]
TIMING = {"epoch_seconds", "wall_seconds", "seconds", "wall_time_s", "run_time_s", "started_utc", "timing_s",
          "command", "git_dirty"}


def _rng() -> tuple[random.Random, int]:
    seed = int(os.environ.get("FAULT_SEED") or time.time_ns() % 2**31)
    return random.Random(seed), seed


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _kill_when(argv, ready, delay: float, env: dict, timeout: float = 120) -> int:
    """Start ``python -m experiments argv``; once ``ready()`` holds, wait ``delay`` s and SIGKILL it (unless it
    has ended). Returns its exit status (``-9`` when killed)."""
    proc = subprocess.Popen([sys.executable, "-m", "experiments", *map(str, argv)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.time() + timeout
        while not ready() and proc.poll() is None:
            assert time.time() < end, "the command never reached the kill window"
            time.sleep(0.002)
        time.sleep(delay)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return proc.returncode


def _strip(x):
    """A JSON value without what differs between two runs of the same settings: times, the command, paths."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in TIMING and k not in ("out_dir", "data_root")}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def _docs(folder) -> dict:
    return {p.name: _strip(json.loads(p.read_text())) for p in sorted(Path(folder).glob("*.json"))}


def _leftovers(*dirs) -> list[str]:
    """Temporaries and staging directories in or beside ``dirs`` (recursively)."""
    out = []
    for d in map(Path, dirs):
        for p in [*d.rglob(".*.tmp"), *d.rglob(".*.new"), *d.rglob(".commit-journal.json"),
                  *d.parent.glob(f".{d.name}.staging-*")]:
            out.append(str(p))
    return out


def _consistent(folder, render, reference: dict) -> bool:
    """Every markdown file of ``folder`` is the report of its own JSON, and the JSON is ``reference``'s."""
    files = render(folder)
    mds = {p.name: p.read_text() for p in Path(folder).glob("*.md")}
    want = {Path(p).name: t for p, t in files.items() if str(p).endswith(".md")}
    return mds == want and _docs(folder) == reference


def _folder_fault(tmp_path, argv, old_args, new_args, render, kills):
    """A run with ``new_args`` killed over the folder of a run with ``old_args``, ``kills`` times, then run
    again to the end."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    assert main([*argv, *old_args, "--out", str(out)]) == 0
    old = tree(out)
    assert main([*argv, *new_args, "--out", str(ref)]) == 0
    reference = _docs(ref)
    rng, seed = _rng()
    n_files = len(list(ref.iterdir()))
    for k in range(kills):
        staging = lambda: any(out.parent.glob(f".{out.name}.staging-*"))      # noqa: E731
        delay = rng.uniform(0, 0.03 * (n_files + 1))
        rc = _kill_when([*argv, *new_args, "--out", out], staging, delay, _env(EXPERIMENTS_TEST_COMMIT_DELAY=0.03))
        state = "old" if tree(out) == old else "new" if _consistent(out, render, reference) else "mixed"
        assert state in ("old", "new"), f"kill {k} after {delay:.3f} s (FAULT_SEED={seed}, rc {rc}): folder {state}"
        if state == "new":
            assert main([*argv, *old_args, "--out", str(out)]) == 0          # back to the old one for the next kill
            old = tree(out)
    assert main([*argv, *new_args, "--out", str(out)]) == 0
    assert _leftovers(out) == [], f"FAULT_SEED={seed}"
    assert _consistent(out, render, reference), f"FAULT_SEED={seed}"


def _mc_render(folder):
    from experiments.montecarlo.report import load_results, render
    return render(load_results(folder), folder, plot=False)


def _c2_render(folder):
    from experiments.claim2d.report import load_results, render
    return render(load_results(folder), folder, plot=False)


@pytest.mark.parametrize("what", ["montecarlo", "claim2d"])
def test_a_folder_killed_mid_write_is_old_or_new_never_mixed(tmp_path, what):
    argv, render = (MC, _mc_render) if what == "montecarlo" else (C2, _c2_render)
    _folder_fault(tmp_path, argv, ["--seed", "0"], ["--seed", "1"], render, kills=1)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["montecarlo", "claim2d"])
def test_a_folder_killed_at_many_points(tmp_path, what):
    argv, render = (MC, _mc_render) if what == "montecarlo" else (C2, _c2_render)
    _folder_fault(tmp_path, argv, ["--seed", "0"], ["--seed", "1"], render, kills=6)


_COMMIT = """
import sys
from pathlib import Path
from experiments.common.commit import write_folder_atomic
root, tag = Path(sys.argv[1]), sys.argv[2]
files = {root / "REPORT.md": f"report {tag}", **{root / "figures" / f"f{i}.png": f"figure {i} {tag}" for i in range(6)},
         root / "summary.json": f'{{"tag": "{tag}"}}'}
if tag == "old":
    files[root / "old-only.md"] = "dropped by the new write"
write_folder_atomic(root, files, owned=r".*\\.(md|json)")
"""


def _render_state(root: Path) -> str:
    """'old' or 'new' when every output file is one write's, else 'mixed'; ``results/`` is not an output."""
    tags = {p.read_text().split()[-1] for p in [root / "REPORT.md", *sorted((root / "figures").glob("*.png"))]}
    tags.add(json.loads((root / "summary.json").read_text())["tag"])
    if (root / "old-only.md").exists():
        tags.add("old")
    return tags.pop() if len(tags) == 1 else "mixed"


def _journal_fault(tmp_path, kills: int):
    from experiments.common.commit import pending, recover

    rng, seed = _rng()
    for k in range(kills):
        root = tmp_path / f"r{k}"
        (root / "results").mkdir(parents=True)                    # a sub-folder: no whole-folder swap
        (root / "results" / "run.json").write_text("{}")
        run = lambda tag, **env: subprocess.run([sys.executable, "-c", _COMMIT, str(root), tag],  # noqa: E731
                                                cwd=ROOT, env=_env(**env), check=True)
        run("old")
        assert _render_state(root) == "old"
        proc = subprocess.Popen([sys.executable, "-c", _COMMIT, str(root), "new"], cwd=ROOT,
                                env=_env(EXPERIMENTS_TEST_COMMIT_DELAY=0.02))
        while proc.poll() is None and not any(root.rglob(".*.new")):
            time.sleep(0.001)
        delay = rng.uniform(0, 0.02 * 9)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        where = f"kill {k} after {delay:.3f} s (FAULT_SEED={seed}, rc {proc.returncode})"
        state = _render_state(root)
        if pending(root):                                         # killed between the renames: rolled forward
            assert recover(root) and not pending(root), where
            assert _render_state(root) == "new", where
        else:
            assert state in ("old", "new"), f"{where}: {state} without a journal"
            recover(root)                                         # removes the dead writer's .new files
        assert _leftovers(root) == [], where
        assert (root / "results" / "run.json").read_text() == "{}", where
        run("new")
        assert _render_state(root) == "new" and _leftovers(root) == [], where


def test_a_report_folder_with_sub_folders_killed_mid_commit_is_rolled_forward(tmp_path):
    # the training studies' reports, claims report and audit run write into folders that hold sub-folders
    # (results/): their writes are journaled, and a kill between the renames is completed by recover()
    _journal_fault(tmp_path, kills=3)


@pytest.mark.slow
def test_a_report_folder_killed_at_many_points(tmp_path):
    _journal_fault(tmp_path, kills=12)


def test_a_journaled_write_that_cannot_rename_keeps_its_journal(tmp_path):
    from experiments.common.commit import JOURNAL, pending, recover

    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    (root / JOURNAL).write_text(json.dumps({"writer": "h-1-ab", "moves": [[".a.commit-h-1-ab.new", "a.md"]],
                                            "deletes": []}))
    with pytest.raises(OSError, match="a.md"):                   # the journaled file is gone: named, journal kept
        recover(root)
    assert pending(root)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fm")
    write_fashion_mnist(root, 2, 1)
    return root


def _plan_fault(tmp_path, data, kills: int):
    out, runs = tmp_path / "out", tmp_path / "runs"
    dirs = ["--data-root", str(data)]
    assert main([*PLAN, *dirs, "--out", str(tmp_path / "ref"), "--runs-dir", str(tmp_path / "ref-runs")]) == 0
    reference = _docs(tmp_path / "ref" / "results" / "quick-t" / "table5")
    rng, seed = _rng()
    res = out / "results" / "quick-t" / "table5"
    for k in range(kills):
        started = lambda: any(runs.rglob("checkpoint.pt"))                       # noqa: E731
        delay = rng.uniform(0, 1.2)
        rc = _kill_when([*PLAN, *dirs, "--out", out, "--runs-dir", runs], started, delay,
                        _env(EXPERIMENTS_TRAINING_TEST_SLEEP=0.25))
        for p in res.glob("*.json") if res.is_dir() else ():                     # complete results only
            rec = json.loads(p.read_text())
            assert rec["status"] == "done" and _strip(rec) == reference[p.name], \
                f"kill {k} after {delay:.2f} s (FAULT_SEED={seed}, rc {rc}): {p.name}"
    assert main([*PLAN, *dirs, "--out", str(out), "--runs-dir", str(runs)]) == 0
    assert _leftovers(out, runs) == [], f"FAULT_SEED={seed}"
    got = _docs(res)
    strip_env = lambda d: {k: {kk: vv for kk, vv in v.items() if kk != "environment"} for k, v in d.items()}  # noqa
    assert strip_env(got) == strip_env(reference), f"FAULT_SEED={seed}"     # bit-identical numbers


def test_a_training_plan_killed_and_rerun_equals_an_uninterrupted_one(tmp_path, data):
    _plan_fault(tmp_path, data, kills=1)


@pytest.mark.slow
def test_a_training_plan_killed_at_many_points(tmp_path, data):
    _plan_fault(tmp_path, data, kills=4)


def test_stale_temporaries_of_a_killed_run_go_with_the_next_run(tmp_path, data):
    # temporaries left by a dead writer (as kill -9 mid-write leaves them) are gone after the next run
    from experiments.common.io import writer_tag

    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = [*PLAN, "--methods", "baseline", "--epochs", "1", "--data-root", str(data), "--out", str(out),
            "--runs-dir", str(runs)]
    assert main(argv) == 0
    run_dir = runs / "quick-t" / "table5" / "cnn1-baseline-s0"
    result = out / "results" / "quick-t" / "table5" / "cnn1-baseline-s0.json"
    dead = f"{writer_tag().split('-')[0]}-{2 ** 22 + 7}"             # above the default pid_max: never alive
    stale = [run_dir / f".checkpoint.pt.{dead}.k2j4abcd.tmp", result.parent / f".{result.name}.{dead}.x1y2z3w4.tmp"]
    for p in stale:
        p.write_bytes(b"torn")
    result.unlink()                                                   # the run is reloaded and its result saved again
    assert main(argv) == 0
    assert not any(p.exists() for p in stale) and result.is_file()


# ---- a full disk, a read-only output ----------------------------------------------------------------------

def test_a_full_disk_is_refused_before_any_work(tmp_path, capsys):
    with small_fs(tmp_path / "fs", 256) as fs:
        fill(fs)
        with pytest.raises(SystemExit) as e:
            main([*MC, "--out", str(fs / "mc")])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "--out" in err and "full" in err and "Traceback" not in err
        assert sorted(p.name for p in fs.iterdir()) == ["filler.bin"]


def test_a_disk_filling_up_mid_write_names_the_file_and_keeps_the_old_folder(tmp_path, capsys):
    with small_fs(tmp_path / "fs", 1024) as fs:
        out = fs / "mc"
        assert main([*MC, "--out", str(out)]) == 0
        old = tree(out)
        fill(fs, keep_bytes=160 << 10)                    # passes the check (64 KiB), too little for the figure
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([*MC, "--seed", "1", "--plot", "--out", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 1 and "Traceback" not in "\n".join(err)
        assert "cannot write" in err[-1] and str(out) in err[-1] and "No space left" in err[-1]
        assert tree(out) == old and _leftovers(out) == []


def test_a_full_disk_during_training_names_the_checkpoint(tmp_path, data, capsys):
    with small_fs(tmp_path / "fs", 512) as fs:
        fill(fs, keep_bytes=128 << 10)                    # CNN1's checkpoint (about 1 MB) does not fit
        run = fs / "run"
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(["training", "run", "--epochs", "1", "--train-per-class", "2", "--test-per-class", "1",
                  "--data-root", str(data), "--no-progress", "--threads", "1", "--out-dir", str(run)])
        err = capsys.readouterr().err
        assert e.value.code == 1 and "Traceback" not in err
        assert f"cannot write {run / 'checkpoint.pt'}" in err and "No space left" in err
        assert not (run / "checkpoint.pt").exists() and _leftovers(run) == []


def test_a_read_only_output_is_refused_before_any_work(tmp_path, capsys):
    with readonly_dir(tmp_path / "ro") as ro:
        t0 = time.perf_counter()
        with pytest.raises(SystemExit) as e:
            main([*MC, "--episodes", "100000", "--out", str(ro / "mc")])
        assert e.value.code == 2 and "--out" in capsys.readouterr().err
        assert time.perf_counter() - t0 < 5 and not any(ro.iterdir())


def test_recover_removes_a_journal_killed_while_being_written(tmp_path):
    from experiments.common.commit import JOURNAL, pending, recover
    from experiments.common.io import writer_tag

    root = tmp_path / "r"
    (root / "results").mkdir(parents=True)
    (root / "REPORT.md").write_text("old")
    dead = f"{writer_tag().split('-')[0]}-{2 ** 22 + 7}"             # above the default pid_max: never alive
    torn = root / f".{JOURNAL}.{dead}.ab12cd34.tmp"
    new = root / f".REPORT.md.commit-{dead}-ab12cd34.new"
    torn.write_text('{"moves": [')
    new.write_text("new")
    assert not recover(root) and not pending(root)
    assert not torn.exists() and not new.exists() and (root / "REPORT.md").read_text() == "old"
