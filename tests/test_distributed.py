"""torchrun + DistributedDataParallel for real: 2 CPU ranks (gloo) of ``python -m experiments training run``.

One launch is killed (SIGKILL to the launcher and both ranks) once the epoch-1 checkpoint is on disk, a second
one resumes it and finishes; then

* only rank 0 wrote anything in the run directory (every file write, temporary file and rename of each
  process is logged by an audit hook that a ``sitecustomize`` on ``PYTHONPATH`` installs);
* the result matches a single-process run with the same (global) batch: per-step and per-epoch losses to a
  relative 1e-10 (measured: <= 7e-15), accuracies equal, the data seen identical (same steps, same sizes).

The run is in float64 so that the comparison is exact up to rounding. In float32 the same two runs differ by
float32 rounding amplified by training (measured on this configuration: 2e-5 per step, 7e-5 on the epoch-2
test loss; up to 6e-2 per step in other small configurations — augmented data, ResNet18 at lr 0.05 —,
about as much as two single processes whose BatchNorm merely rounds differently), so a float32 tolerance
would say little.

The configuration exercises what DDP changes: BatchNorm (synchronised), a global batch of 15 that splits
8 / 7 and a last batch of 5 that splits 3 / 2 (the task loss is weighted by each rank's share), augmentation
(drawn for the whole global batch), Algorithm 1 (run on every rank, rank 0's weights broadcast) and
Algorithm 2 (a weights-only extra term).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.__main__ import main
from tests.training_fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
RTOL = 1e-10             # float64: DDP against one process (measured: <= 7e-15)

ARGS = ["--model", "cnn1", "--epochs", 2, "--batch-size", 15, "--train-per-class", 8, "--test-per-class", 4,
        "--lr", 0.02, "--momentum", 0.5, "--augment", "--cs-init-iters", 3, "--cs-beta", 0.001, "--seed", 3,
        "--dtype", "float64", "--threads", 1, "--no-progress"]

PROBE = '''
import os, sys
_root, _log = os.environ.get("WRITE_PROBE_ROOT"), os.environ.get("WRITE_PROBE_LOG")
if _root and _log:
    _fh = open(f"{_log}.rank{os.environ.get('RANK', '-')}.{os.getpid()}", "a", buffering=1)
    _W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def _hook(event, args):
        path = None
        if event == "open" and isinstance(args[0], (str, os.PathLike)) and (args[2] or 0) & _W:
            path = args[0]
        elif event in ("os.rename", "os.mkdir", "os.remove"):
            path = args[1] if event == "os.rename" else args[0]
        if path is not None and os.path.abspath(os.fspath(path)).startswith(_root):
            _fh.write(f"{event} {os.fspath(path)}\\n")

    sys.addaudithook(_hook)
'''


def _torchrun():
    exe = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def _launch(out, data, probe, log, *extra, **env_extra):
    tmp = Path(log).parent / "tmp"                 # torchrun's torchelastic_* folders: under tmp_path, not /tmp
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, FASHION_MNIST_DIR=str(data), OMP_NUM_THREADS="1", WRITE_PROBE_ROOT=str(out), TMPDIR=str(tmp),
               WRITE_PROBE_LOG=str(log), PYTHONPATH=os.pathsep.join([str(probe), str(ROOT),
                                                                     os.environ.get("PYTHONPATH", "")]),
               **{k: str(v) for k, v in env_extra.items()})
    cmd = [*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "experiments", "training", "run",
           *map(str, ARGS), "--out-dir", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _kill_all(proc):
    """SIGKILL the launcher's process group and each rank's (torchrun starts each rank in its own session)."""
    ranks = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in ranks:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    deadline = time.time() + 30
    while any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]
              for p in ranks) and time.time() < deadline:
        time.sleep(0.05)
    return ranks


def _writes(log_dir) -> dict:
    """``{rank: [lines]}`` of the probe logs."""
    out: dict = {}
    for p in sorted(Path(log_dir).glob("w.rank*")):
        out.setdefault(p.name.split(".")[1], []).extend(p.read_text().splitlines())
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; gloo on Linux")
def test_torchrun_two_ranks_rank0_writes_resumes_after_kill_and_matches_one_process(tmp_path):
    data, probe, logs = tmp_path / "fm", tmp_path / "probe", tmp_path / "logs"
    write_fashion_mnist(data, 8, 4)                     # 80 train images: batches of 15, 15, ..., 5
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)
    logs.mkdir()
    out = tmp_path / "ddp"

    # launch 1: every rank sleeps after each epoch's checkpoint; kill everything once epoch 1 is on disk
    proc = _launch(out, data, probe, logs / "w", EXPERIMENTS_TRAINING_TEST_SLEEP=60)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            m = out / "metrics.json"
            if m.is_file() and len(json.loads(m.read_text())["history"]) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail("torchrun ended before it could be killed:\n" + proc.stdout.read())
            time.sleep(0.1)
        else:
            pytest.fail("no epoch-1 checkpoint within 120 s")
    finally:
        ranks = _kill_all(proc)
    assert len(ranks) == 2
    assert not (out / "result.json").exists()
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1

    # launch 2: resume, finish
    proc = _launch(out, data, probe, logs / "w", "--resume")
    text, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, text
    assert text.count("done: best test acc") == 1                  # one summary line, from rank 0

    # only rank 0 wrote in the run directory (in both launches); the launchers wrote nothing there either
    writes = _writes(logs)
    assert {"rank0", "rank1"} <= set(writes) <= {"rank0", "rank1", "rank-"}      # the probe ran in both ranks
    assert writes.get("rank1", []) == [] and writes.get("rank-", []) == []
    written = {Path(line.split(" ", 1)[1]).name for line in writes["rank0"] if line.startswith("os.rename")}
    assert {"config.json", "metrics.json", "metrics.csv", "checkpoint.pt", "result.json"} <= written
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "metrics.csv", "metrics.json",
                                                    "result.json"]

    # one process with the same (global) batch
    single = tmp_path / "single"
    assert main(["training", "run", *map(str, ARGS), "--data-root", str(data), "--out-dir", str(single)]) == 0
    std = json.loads((single / "result.json").read_text())
    a = json.loads((out / "result.json").read_text())
    assert a["status"] == std["status"] == "done"
    assert a["environment"]["world_size"] == 2 and a["environment"]["executor"] == "torchrun"
    assert a["environment"]["threads"] == 1
    assert std["environment"]["world_size"] == 1 and std["environment"]["executor"] == "sequential"
    assert a["config"] == {**std["config"], "out_dir": str(out), "data_root": None}
    assert a["summary"]["train_size"] == std["summary"]["train_size"] == 80
    assert len(a["steps"]["task_loss"]) == len(std["steps"]["task_loss"]) == 2 * 6
    assert a["cs_init"]["l_cs"] == std["cs_init"]["l_cs"]              # weights only, before any data
    _close(a, std, RTOL)


def _close(a: dict, b: dict, rtol: float) -> None:
    """Per-step and per-epoch losses of two records within ``rtol`` (relative), accuracies equal."""
    for key in ("task_loss", "extra_loss", "l_cs"):
        assert _rel(a["steps"][key], b["steps"][key]) < rtol, key
    for ha, hb in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "train_extra_loss", "test_loss", "l_cs", "conv_kernel_norm"):
            if hb[key] is not None:
                assert _rel(ha[key], hb[key]) < rtol, (ha["epoch"], key)
        for key in ("train_acc", "test_acc"):
            assert ha[key] == hb[key], (ha["epoch"], key)
    assert a["steps"]["batch_acc"] == b["steps"]["batch_acc"]
