"""The training engine: kill -9 + resume equals an uninterrupted run, CLI end to end, hooks, records."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments.common import io as tio
from experiments.training.data import ImageData
from experiments.training.engine import EPOCH_COLUMNS, TrainConfig, Trainer
from tests.conftest import needs_fashion_mnist
from tests.training_fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
TIME_KEYS = {"epoch_seconds", "wall_seconds"}


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _cli(*args):
    return [sys.executable, "-m", "experiments", "training", *map(str, args)]


def _no_times(history):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in history]


RESUME_ARGS = ["run", "--model", "cnn1", "--epochs", 4, "--batch-size", 16, "--train-per-class", 6,
               "--test-per-class", 3, "--optimizer", "sgd", "--lr", 0.05, "--momentum", 0.9, "--weight-decay", 1e-4,
               "--lr-milestones", 2, 3, "--lr-gamma", 0.5, "--cs-init-iters", 3, "--cs-beta", 0.001, "--augment",
               "--bn-recal-batches", 2, "--bn-recal-every", 2, "--threads", 1, "--no-progress", "--seed", 5]


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    data = tmp_path / "fm"
    write_fashion_mnist(data, 6, 3)
    env = _env(FASHION_MNIST_DIR=data)
    full, killed = tmp_path / "full", tmp_path / "killed"
    # the uninterrupted run, alongside the run to kill (one thread each)
    log = tmp_path / "full.log"
    with open(log, "w") as fh:
        whole = subprocess.Popen(_cli(*RESUME_ARGS, "--out-dir", full), env=env, cwd=ROOT,
                                 stdout=fh, stderr=subprocess.STDOUT)

    # the run to kill sleeps after each epoch's checkpoint; SIGKILL once the epoch-1 checkpoint is on disk
    proc = subprocess.Popen(_cli(*RESUME_ARGS, "--out-dir", killed), cwd=ROOT,
                            env=_env(FASHION_MNIST_DIR=data, EXPERIMENTS_TRAINING_TEST_SLEEP=30),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            m = killed / "metrics.json"
            if m.is_file() and len(json.loads(m.read_text())["history"]) >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no epoch-1 checkpoint within 90 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert whole.wait(timeout=120) == 0, log.read_text()
    ck = torch.load(killed / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == 1 and not (killed / "result.json").exists()

    # without --resume the directory is refused; with it the run continues from epoch 1
    refused = subprocess.run(_cli(*RESUME_ARGS, "--out-dir", killed), env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "--resume" in refused.stderr and "Traceback" not in refused.stderr
    subprocess.run(_cli(*RESUME_ARGS, "--out-dir", killed, "--resume"), env=env, check=True, cwd=ROOT,
                   timeout=120, capture_output=True)

    a, b = json.loads((full / "result.json").read_text()), json.loads((killed / "result.json").read_text())
    assert a["status"] == b["status"] == "done"
    assert _no_times(a["history"]) == _no_times(b["history"])
    assert a["steps"] == b["steps"] and a["cs_init"]["l_cs"] == b["cs_init"]["l_cs"]
    assert len(a["history"]) == 5 and a["history"][-1]["lr"] == 0.05 * 0.25
    sa = {k: v for k, v in a["summary"].items() if k != "wall_seconds"}
    assert sa == {k: v for k, v in b["summary"].items() if k != "wall_seconds"}
    ma = torch.load(full / "checkpoint.pt", weights_only=False)
    mb = torch.load(killed / "checkpoint.pt", weights_only=False)
    for part in ("model", "optimizer"):
        fa, fb = _flat(ma[part]), _flat(mb[part])
        assert fa.keys() == fb.keys()
        for k in fa:
            assert torch.equal(fa[k], fb[k]) if isinstance(fa[k], torch.Tensor) else fa[k] == fb[k], (part, k)
    assert torch.equal(ma["rng"]["loader"]["generator"], mb["rng"]["loader"]["generator"])


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}/"))
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}{i}/"))
    else:
        out[prefix] = d
    return out


@needs_fashion_mnist
def test_cli_end_to_end_on_real_fashion_mnist(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(_cli("run", "--model", "cnn1", "--train-per-class", 30, "--test-per-class", 20,
                            "--epochs", 1, "--batch-size", 100, "--lr", 0.05, "--out-dir", out, "--no-progress",
                            "--threads", 1),
                       env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "done: best test acc" in r.stdout
    for f in ("config.json", "metrics.json", "metrics.csv", "checkpoint.pt", "result.json"):
        assert (out / f).is_file(), f
    res = json.loads((out / "result.json").read_text())
    assert res["summary"]["train_size"] == 300 and res["summary"]["test_size"] == 200
    assert res["summary"]["num_parameters"] == 117_706
    assert res["config"]["dataset"] == "fashion-mnist" and res["config"]["epochs"] == 1
    assert [h["epoch"] for h in res["history"]] == [0, 1]
    assert 0.0 <= res["summary"]["best_test_acc"] <= 1.0
    assert len(res["steps"]["task_loss"]) == 3
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert list(rows[0]) == EPOCH_COLUMNS and len(rows) == 2
    assert float(rows[1]["test_acc"]) == res["history"][1]["test_acc"]
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == 1 and {"model", "optimizer", "scheduler", "rng", "history"} <= set(ck)
    assert {"python", "numpy", "torch", "loader"} <= set(ck["rng"])


def _data(n=24, classes=3):
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
                     torch.arange(n) % classes, classes)


def test_extra_loss_hook_and_stage_capture(tmp_path):
    seen = []

    def hook(model, outputs):
        seen.append({k: tuple(v.shape) for k, v in outputs["features"].items()})
        assert outputs["logits"].shape[0] == outputs["targets"].shape[0] == outputs["inputs"].shape[0]
        return 0.5 * outputs["features"]["stage4"].pow(2).mean()

    cfg = TrainConfig(out_dir=str(tmp_path / "r"), model="resnet18", width=0.125, batch_size=8, epochs=1,
                      capture=["stage0", "stage4"], progress=False, threads=1)
    tr = Trainer(cfg, extra_losses={"feat": hook}, train_data=_data(), test_data=_data(6))
    rec = tr.run()
    assert len(seen) == 3 and seen[0] == {"stage0": (8, 8, 28, 28), "stage4": (8, 64, 4, 4)}
    assert rec["history"][1]["train_extra_loss"] > 0
    assert rec["steps"]["extra_loss"][0] > 0
    assert rec["status"] == "done"


def test_config_roundtrip_validation_and_refusal(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "r"), epochs=1, batch_size=8, progress=False, threads=1)
    assert TrainConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp=True).validate()
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs").validate()
    train_kw = dict(train_data=_data(), test_data=_data(6))
    rec = Trainer(cfg, **train_kw).run()
    assert json.loads((tmp_path / "r" / "config.json").read_text()) == cfg.to_dict()
    assert rec["summary"]["best_epoch"] == 1
    with pytest.raises(FileExistsError):
        Trainer(cfg, **train_kw).run()
    # resuming a finished run is a no-op that returns the same numbers; a changed config is refused
    again = Trainer(cfg, **train_kw).run(resume=True)
    assert _no_times(again["history"]) == _no_times(rec["history"])
    with pytest.raises(ValueError, match="different config"):
        Trainer(TrainConfig(**{**cfg.to_dict(), "lr": 0.5}), **train_kw).run(resume=True)
    # more epochs may be asked of a resumed run, fewer than the checkpoint holds may not
    longer = Trainer(TrainConfig(**{**cfg.to_dict(), "epochs": 2}), **train_kw).run(resume=True)
    assert [h["epoch"] for h in longer["history"]] == [0, 1, 2]
    with pytest.raises(ValueError, match="past epochs=1"):
        Trainer(cfg, **train_kw).run(resume=True)


def test_adam_and_float64(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "r"), epochs=1, batch_size=8, optimizer="adam", lr=1e-3,
                      dtype="float64", progress=False, threads=1, eval_at_init=True)
    rec = Trainer(cfg, train_data=_data(), test_data=_data(6)).run()
    assert rec["history"][0]["test_acc"] is not None
    assert rec["environment"]["device"] == "cpu"


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "x.json"
    tio.write_json_atomic(p, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        tio.write_json_atomic(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 1}
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]       # no temporary file left behind


def test_divergence_is_recorded_and_final(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "r"), epochs=3, batch_size=4, lr=1e12, progress=False, threads=1)
    rec = Trainer(cfg, train_data=_data(8, 2), test_data=_data(4, 2)).run()
    assert rec["status"] == "diverged" and rec["summary"]["epochs_done"] < 3
    assert json.loads((tmp_path / "r" / "result.json").read_text())["status"] == "diverged"
    assert "nan" not in (tmp_path / "r" / "result.json").read_text().lower()     # strict JSON: NaN -> null


def test_cli_import_registers_a_named_extra_loss(tmp_path, monkeypatch):
    from experiments.__main__ import main
    from experiments.training.losses import EXTRA_LOSSES

    (tmp_path / "plug_featsq.py").write_text(
        "from experiments.training.losses import register_extra_loss\n"
        "@register_extra_loss('featsq_test')\n"
        "def make(config):\n"
        "    return lambda model, outputs: 0.01 * outputs['features']['stage4'].pow(2).mean()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "fm"
    write_fashion_mnist(data, 2, 1)
    out = tmp_path / "run"
    try:
        assert main(["training", "run", "--import", "plug_featsq", "--model", "resnet18", "--width", "0.125", "--capture",
                     "stage4", "--extra-losses", "featsq_test", "--data-root", str(data), "--batch-size", "10",
                     "--out-dir", str(out), "--no-progress", "--threads", "1"]) == 0
    finally:
        EXTRA_LOSSES.pop("featsq_test", None)
    rec = json.loads((out / "result.json").read_text())
    assert rec["config"]["extra_losses"] == ["featsq_test"] and rec["history"][1]["train_extra_loss"] > 0
