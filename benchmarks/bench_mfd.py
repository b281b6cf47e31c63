"""Benchmark: training-step time of ResNet18 with and without the MFD loss (MFD paper eq. 7), in one run.

Both steps go through the training engine's own code path (:class:`experiments.training.engine.Trainer`:
stage capture hooks, ``compute_loss`` = cross-entropy [+ λ Σ_s L_MFD on ``stage0`` .. ``stage4``, each by
:func:`theory.batched.pearson.mfd_loss`], ``backward``, SGD step) on the same fixed batch, the two
models starting from the same weights. Steps alternate in ABBA order (softmax, MFD, MFD, softmax,
softmax, ...) so that load changes on a shared machine hit both alike and an effect of going first or
second cancels; the overhead is the median over pairs of (MFD step / its neighbouring softmax step) - 1, with
its interquartile range (also printed: the ratio of the two medians). Target: MFD overhead <= 10 % on
CPU (the MFD paper reports +52-65 % per epoch on a GPU, its Table VII). Also printed: the forward+backward
time of the MFD loss alone per stage, on the captured stage outputs, and its sum divided by the softmax step
time: a second estimate of the overhead that is less sensitive to load swings between the two steps.

Usage: ``python benchmarks/bench_mfd.py [--width 0.25 1] [--batch 128] [--repeats 20] [--threads 1]
[--json out.json]``. Input 1x28x28 (Fashion-MNIST), 10 classes, synthetic data (timing only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

from experiments.common.io import write_json_atomic
from experiments.mfd.loss import MFDConfig
from experiments.mfd.spec import COMMON
from experiments.training.data import ImageData
from experiments.training.engine import Trainer
from experiments.training.models import STAGES, capture_stages
from theory.batched.pearson import mfd_loss


#: per-process scratch for the Trainers' run directories (nothing in them is kept); removed at exit
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench_mfd_")


def _data(n: int, shape=(1, 28, 28), classes: int = 10, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    return ImageData(images, torch.arange(n) % classes, classes, "synthetic")


def _trainer(width: float, batch: int, mfd: bool, data: ImageData, lam: float, threads: int | None) -> Trainer:
    fields = {**COMMON, "width": width, "batch_size": batch, "augment": False, "progress": False,
              "threads": threads, "out_dir": tempfile.mkdtemp(dir=_SCRATCH.name)}
    if mfd:
        fields.update(mfd_lambda=lam, mfd_stages=list(STAGES), capture=list(STAGES), extra_losses=["mfd"])
    return Trainer(MFDConfig(**fields), train_data=data, test_data=data)


def _step(tr: Trainer, x, y) -> float:
    t0 = time.perf_counter()
    ctx = capture_stages(tr.model, tr.cfg.capture) if tr.cfg.capture else contextlib.nullcontext({})
    with ctx as feats:
        loss, _, _ = tr.compute_loss(x, y, features=feats)
        tr.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        tr.optimizer.step()
    return time.perf_counter() - t0


def bench_width(width: float, *, batch: int = 128, repeats: int = 20, warmup: int = 2, lam: float = 1.0,
                threads: int | None = 1) -> dict:
    """Median step times (s) softmax vs softmax + MFD, and the per-stage MFD loss time; returns a dict."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        data = _data(batch)
        base, mfd = _trainer(width, batch, False, data, lam, threads), _trainer(width, batch, True, data, lam, threads)
        mfd.model.load_state_dict(base.model.state_dict())
        x, y = next(iter(base.train_loader))
        base.model.train()
        mfd.model.train()
        for _ in range(warmup):
            _step(base, x, y)
            _step(mfd, x, y)
        tb, tm = [], []
        for i in range(repeats):                              # ABBA order: order effects cancel in pairs
            if i % 2 == 0:
                tb.append(_step(base, x, y))
                tm.append(_step(mfd, x, y))
            else:
                tm.append(_step(mfd, x, y))
                tb.append(_step(base, x, y))
        # the MFD loss alone, forward + backward, on each captured stage output
        with capture_stages(mfd.model, STAGES, detach=True) as feats:
            mfd.model(x)
        per_stage = {}
        for s in STAGES:
            f = feats[s].clone().requires_grad_(True)
            ts = []
            for _ in range(max(3, repeats // 2)):
                t0 = time.perf_counter()
                mfd_loss(f, d=2).backward()
                ts.append(time.perf_counter() - t0)
                f.grad = None
            per_stage[s] = {"shape": list(f.shape), "seconds": statistics.median(ts)}
        mb, mm = statistics.median(tb), statistics.median(tm)
        pairs = [m / b - 1.0 for b, m in zip(tb, tm)]          # each MFD step against its neighbouring softmax step
        q1, _, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (pairs[0],) * 3
        return {"width": width, "batch": batch, "repeats": repeats, "threads": torch.get_num_threads(),
                "softmax_step_s": mb, "mfd_step_s": mm, "overhead_of_medians": mm / mb - 1.0,
                "overhead": statistics.median(pairs), "overhead_iqr": [q1, q3],
                "softmax_steps_s": tb, "mfd_steps_s": tm, "mfd_loss_per_stage": per_stage,
                "mfd_loss_sum_s": sum(v["seconds"] for v in per_stage.values())}
    finally:
        torch.set_num_threads(old)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, nargs="+", default=[0.25], help="ResNet18 width multipliers")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)
    from tabulate import tabulate

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"threads {a.threads}, load average {load}")
    results = []
    rows = []
    for w in a.width:
        r = bench_width(w, batch=a.batch, repeats=a.repeats, warmup=a.warmup, lam=a.lam, threads=a.threads)
        results.append(r)
        lo, hi = r["overhead_iqr"]
        rows.append([w, a.batch, f"{r['softmax_step_s'] * 1e3:.1f}", f"{r['mfd_step_s'] * 1e3:.1f}",
                     f"{100 * r['overhead']:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}]",
                     f"{100 * r['overhead_of_medians']:+.1f} %", f"{r['mfd_loss_sum_s'] * 1e3:.1f}",
                     f"{100 * r['mfd_loss_sum_s'] / r['softmax_step_s']:.1f} %",
                     ", ".join(f"{v['seconds'] * 1e3:.1f}" for v in r["mfd_loss_per_stage"].values())])
    print(tabulate(rows, headers=["width", "batch", "step softmax (ms, median)", "step softmax+MFD (ms, median)",
                                  "MFD overhead, paired median [IQR]", "ratio of medians",
                                  "MFD loss fwd+bwd, 5 stages (ms)",
                                  "MFD loss / softmax step", "per stage 0..4 (ms)"],
                   tablefmt="github"))
    print("target: overhead <= 10 % on CPU; MFD paper Table VII: +52 % (CIFAR) to +65 % (FaceScrub) per epoch, GPU")
    if load and load[0] > (os.cpu_count() or 1) * 0.5:
        print(f"note: the machine was loaded (load average {load[0]:.2f} on {os.cpu_count()} CPUs); "
              "the alternating order shares the load between both, but medians are noisy")
    if a.json:
        write_json_atomic(a.json, {"load_average": load, "torch": torch.__version__, "cpus": os.cpu_count(),
                                   "processor": platform.processor() or platform.machine(), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
