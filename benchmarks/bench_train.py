"""Benchmark: training throughput of the engine's paths, FLOPs per image and the fraction of a peak measured in the
same run, for the networks the CPU protocols train.

Models and settings (what the quick protocols run, Fashion-MNIST 1x28x28 as the loaders give it, unpadded):

* CNN1, CNN2 (CS Table 5, :data:`experiments.cs.spec.TABLE5_COMMON`): batch 512, SGD lr 0.01, per-step L_CS log;
* ResNet18 width 1/4 (MFD / POD, :data:`experiments.mfd.spec.COMMON`): batch 128, SGD 0.1 + momentum 0.9 + wd 5e-4.

Variants, each a :class:`experiments.training.engine.Trainer` timed on its own training loop
(``_train_epoch``: loader, forward, losses, backward, optimiser step, step log) over ``--steps`` batches:

* ``old``: the engine's default before the speed settings: ``memory_format='contiguous'``, fp32, CNN blocks in
  Table 4's order (LeakyReLU before MaxPool: ``pool_first=False``), and torch's
  NaN fill of new tensors under deterministic algorithms (``torch.utils.deterministic.fill_uninitialized_memory``,
  which the engine now turns off: :data:`experiments.training.engine.FILL_UNINITIALIZED_MEMORY`); the numbers
  are bit-identical to that path's; the allocator tuning on, as the CLI applied it then;
* ``new``: the default, ``memory_format='channels_last'``, fp32 (exact: float32 arithmetic throughout), no fill,
  CNN blocks pooling before the activation (the same function, a quarter of the activation's work);
* ``bf16``: channels_last + ``precision='bf16'`` (bfloat16 autocast of the forward);
* ``jobs``: a plan's throughput with ``--jobs N`` (``--plan-jobs``, default: ``--threads``): ``N`` worker
  processes of one torch thread each, as :class:`experiments.common.executors.LocalPool` runs a plan's runs
  (:func:`experiments.training.runs.worker_setup`), each training the ``new`` variant at once on its own copy
  of the data; its time is the wall time until all ``N`` are done divided by ``N`` (seconds per run's epoch), its
  images/s ``N`` epochs' images over that wall time. The sequential variants above are one run at a time on
  ``--threads`` threads, as a plan without ``--jobs`` runs. The workers are started once (their start-up,
  spawn to first timed epoch, is printed, not counted: a plan's pool starts once).

The variants are interleaved: each of ``--rounds`` rounds times every variant of every model once, in an order
rotated from round to round, so that load changes and order effects hit all alike. Reported: median images/s
over the rounds, the median over rounds of the per-round ratio to ``old`` (with its min-max), FLOPs per image
(forward + backward, :class:`torch.utils.flop_counter.FlopCounterMode`: convolutions and matrix products only,
not BatchNorm or elementwise ops), achieved GFLOP/s and its fraction of the peak measured in the same run
(each round: median of ``torch.mm`` 2048² and of a 1x1 convolution 32x512x28x28 -> 512 through oneDNN,
channels-last; the peak is the best round's larger of the two; fp32 for the fp32 rows, bf16 for the bf16 row).
Also printed: the optimiser step alone (torch's per-parameter loop, ``foreach``, ``fused``) and whether each is
bit-identical to the loop.

Usage: ``python benchmarks/bench_train.py [--models cnn1 cnn2 resnet18] [--rounds 5] [--threads 2]
[--plan-jobs N] [--json FILE]``. Data: the first images of the real Fashion-MNIST training split when installed, else random
uint8 images (timing only: the numbers do not depend on the pixel values).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from experiments.common.io import write_json_atomic
from experiments.cs.spec import TABLE5_COMMON
from experiments.mfd.spec import COMMON as MFD_COMMON
from experiments.training import engine
from experiments.training.data import ImageData
from experiments.training.engine import TrainConfig, Trainer, load_split

VARIANTS = {"old": dict(memory_format="contiguous", precision="fp32", pool_first=False),
            "new": dict(memory_format="channels_last", precision="fp32"),
            "bf16": dict(memory_format="channels_last", precision="bf16")}
MODELS = {
    "cnn1": dict(TABLE5_COMMON, model="cnn1", batch_size=512),
    "cnn2": dict(TABLE5_COMMON, model="cnn2", batch_size=512),
    "resnet18": dict(MFD_COMMON, model="resnet18", width=0.25, batch_size=128, augment=False),
}
LABELS = {"cnn1": "CNN1", "cnn2": "CNN2", "resnet18": "ResNet18 x1/4"}
STEPS = {"cnn1": 3, "cnn2": 2, "resnet18": 8}


#: per-process scratch for the Trainers' run directories (nothing in them is kept); removed at exit
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench_train_")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _data(n: int) -> ImageData:
    try:
        full = load_split("fashion-mnist", "train")
        if len(full) >= n:
            return full.subset(torch.arange(n))
    except FileNotFoundError:
        pass
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8), torch.arange(n) % 10, 10,
                     "synthetic")


def make_trainer(model: str, variant: str, steps: int, batch: int | None = None) -> Trainer:
    fields = dict(MODELS[model], **VARIANTS[variant], progress=False, out_dir=tempfile.mkdtemp(dir=_SCRATCH.name))
    if batch:
        fields["batch_size"] = batch
    fields = {k: v for k, v in fields.items() if k in {f for f in TrainConfig.__dataclass_fields__}}
    data = _data(steps * fields["batch_size"])
    return Trainer(TrainConfig(**fields), train_data=data, test_data=data)


def time_variant(tr: Trainer, variant: str) -> tuple[float, float]:
    """:func:`time_epoch` with torch's NaN fill of new memory as the variant has it (on only for ``old``)."""
    torch.utils.deterministic.fill_uninitialized_memory = variant == "old" or engine.FILL_UNINITIALIZED_MEMORY
    try:
        return time_epoch(tr)
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = engine.FILL_UNINITIALIZED_MEMORY


def time_epoch(tr: Trainer) -> tuple[float, float]:
    """Seconds of one pass of the trainer's own training loop (every batch of its data), and the process's CPU
    seconds per wall second and thread over it (about 1 when the threads had the cores to themselves, lower
    when another job took them; OpenMP's spin-waits count as busy, so it is only a rough sign)."""
    tr.net.train()
    c0, t0 = time.process_time(), time.perf_counter()
    tr._train_epoch(None)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    tr.status = "running"
    return dt, dc / dt / torch.get_num_threads()


def flops_per_image(tr: Trainer) -> float:
    """Forward + backward FLOPs of one training batch (fp32 reference), per image."""
    from torch.utils.flop_counter import FlopCounterMode

    x, y = next(iter(tr.train_loader))
    tr.model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(tr.model(x), y).backward()
    tr.model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / x.shape[0]


def peak(dtype: torch.dtype, reps: int = 5, size: int = 2048, conv=(32, 512, 28)) -> dict:
    """GFLOP/s of ``torch.mm`` (size²) and of a 1x1 convolution (batch, channels, side), median of ``reps``."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=g).to(dtype) for _ in range(2))
    n, c, s = conv
    x = torch.randn(n, c, s, s, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, c, 1, 1, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    out = {}
    with torch.no_grad():
        for name, fn, flops in (("mm", lambda: torch.mm(a, b), 2 * size ** 3),
                                ("conv1x1", lambda: F.conv2d(x, w), 2 * n * s * s * c * c)):
            fn()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            out[name] = flops / statistics.median(ts) / 1e9
    return out


def optimizer_steps(model: str, reps: int = 20) -> dict:
    """Median step time (ms) of the model's protocol optimiser as loop / foreach / fused, and bit-identity."""
    cfg = MODELS[model]
    res, finals = {}, {}
    for mode in ("loop", "foreach", "fused"):
        tr = make_trainer(model, "new", 1, batch=8)
        params = list(tr.model.parameters())
        kw = {"loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}[mode]
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], **kw)
        g = torch.Generator().manual_seed(1)
        grads = [[torch.randn(p.shape, generator=g).contiguous(memory_format=torch.channels_last) if p.dim() == 4
                  else torch.randn(p.shape, generator=g) for p in params] for _ in range(3)]
        ts = []
        for i in range(reps + 3):
            for p, gr in zip(params, grads[i % 3]):
                p.grad = gr.clone()
            t0 = time.perf_counter()
            opt.step()
            ts.append(time.perf_counter() - t0)
            if i == 2:
                finals[mode] = [p.detach().clone() for p in params]
        res[mode] = statistics.median(ts[3:]) * 1e3
    return {"ms": res, "bit_identical_to_loop": {m: all(torch.equal(a, b) for a, b in zip(finals["loop"], finals[m]))
                                                 for m in finals}}


class PlanWorkers:
    """``jobs`` worker processes (this script with ``--worker``), one torch thread each, that time one epoch of the
    ``new`` variant of ``model`` together on each ``go``; :meth:`time` returns the wall seconds until all are done.

    A line protocol on the workers' stdin / stdout (lines starting ``@@``); the workers' temporary directories go
    where this process's do (``TMPDIR``), and are removed when they exit (:meth:`close`)."""

    def __init__(self, model: str, jobs: int, steps: int, batch: int | None):
        env = dict(os.environ, TMPDIR=tempfile.gettempdir())
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", model, "--steps", str(steps)]
        cmd += ["--batch", str(batch)] if batch else []
        t0 = time.perf_counter()
        self.procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                      for _ in range(jobs)]
        for p in self.procs:
            self._read(p)
        self.startup = time.perf_counter() - t0

    @staticmethod
    def _read(p) -> str:
        for line in p.stdout:
            if line.startswith("@@"):
                return line[2:].strip()
        raise RuntimeError(f"bench_train worker exited with code {p.wait()}")

    def time(self) -> float:
        t0 = time.perf_counter()
        for p in self.procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in self.procs:
            self._read(p)
        return time.perf_counter() - t0

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait()


def _worker(model: str, steps: int, batch: int | None) -> int:
    """The ``--worker`` side of :class:`PlanWorkers`: one thread and the allocator setting, as a pool worker."""
    from experiments.training.runs import worker_setup

    worker_setup(1)
    tr = make_trainer(model, "new", steps, batch)
    with engine._determinism(True):
        time_variant(tr, "new")                                   # warm-up (oneDNN primitives)
        print("@@ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "go":
                break
            print(f"@@{time_variant(tr, 'new')[0]}", flush=True)
    return 0


def _cpu_busy(interval: float = 1.0) -> float:
    """Share of all CPUs busy over ``interval`` seconds while this process sleeps (others' load), from /proc/stat."""
    def read():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v), v[3] + v[4]                                   # total, idle + iowait
    try:
        t0, i0 = read()
        time.sleep(interval)
        t1, i1 = read()
    except OSError:
        return 0.0
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


def wait_quiet(max_wait: float, threshold: float = 0.1) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until other processes use under ``threshold`` of the CPUs for 2 s in a row;
    returns (seconds waited, others' share in the last second)."""
    t0 = time.perf_counter()
    busy = _cpu_busy()
    quiet = 0
    while max_wait > 0:
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2 or time.perf_counter() - t0 > max_wait:
            break
        busy = _cpu_busy()
    return time.perf_counter() - t0, busy


def _med(v):
    return statistics.median(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="batches per timing (default: cnn1 3, cnn2 2, resnet18 8)")
    ap.add_argument("--batch", type=int, default=None, help="override the protocols' batch sizes (smoke tests)")
    ap.add_argument("--peak-size", type=int, default=2048, help="torch.mm side of the peak measurement")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each model's variants in a round, wait up to S seconds until other processes use "
                         "under 10%% of the CPUs for 2 s (a shared machine; default 0: do not wait)")
    ap.add_argument("--plan-jobs", type=int, default=None, metavar="N",
                    help="the 'jobs' variant: N one-thread worker processes at once, as a plan's --jobs N runs "
                         "(default: --threads; 0 or 1: not measured)")
    ap.add_argument("--json", default=None, help="also write every measurement to this JSON file")
    ap.add_argument("--worker", default=None, choices=list(MODELS), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return _worker(a.worker, a.steps or STEPS[a.worker], a.batch)
    jobs = a.threads if a.plan_jobs is None else a.plan_jobs
    if jobs < 0 or a.rounds < 1 or a.threads < 1:
        ap.error(f"--plan-jobs >= 0, --rounds >= 1, --threads >= 1 expected, got {jobs}, {a.rounds}, {a.threads}")
    from tabulate import tabulate

    torch.set_num_threads(a.threads)
    malloc = engine.tune_malloc()
    load0 = os.getloadavg()
    cmd = "python " + " ".join(shlex.quote(x) for x in [os.path.relpath(__file__)] + list(argv if argv is not None
                                                                                              else sys.argv[1:]))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{cpu_name()}, {os.cpu_count()} CPUs"
    print(f"# {cmd}   ({stamp}; {machine}; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start)")
    print(f"# torch {torch.__version__}, {a.threads} threads, malloc tuning {'on' if malloc else 'off'}, "
          f"{a.rounds} interleaved rounds, medians" + (f"; 'jobs': {jobs} one-thread worker processes" if jobs > 1
                                                       else ""))

    trainers, steps, workers = {}, {}, {}
    for m in a.models:
        steps[m] = a.steps or STEPS[m]
        for v in VARIANTS:
            trainers[m, v] = make_trainer(m, v, steps[m], a.batch)
    flops = {m: flops_per_image(trainers[m, "old"]) for m in a.models}
    variants = list(VARIANTS) + (["jobs"] if jobs > 1 else [])
    times = {(m, v): [] for m in a.models for v in variants}
    util = {k: [] for k in trainers}
    round_load, waits = [], []
    peaks = {"float32": [], "bfloat16": []}
    try:
        for m in a.models if jobs > 1 else ():
            workers[m] = PlanWorkers(m, jobs, steps[m], a.batch)
        if workers:
            print("# 'jobs' workers' start-up (spawn, imports, data, one warm-up epoch; not timed below): "
                  + ", ".join(f"{LABELS[m]} {w.startup:.1f} s" for m, w in workers.items()))
        with engine._determinism(True):
            for k in trainers:                                    # warm-up: one pass each (oneDNN primitives)
                time_variant(trainers[k], k[1])
            for r in range(a.rounds):
                round_load.append(os.getloadavg()[0])
                for dt, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
                    peaks[name].append(peak(dt, size=a.peak_size))
                for m in a.models:
                    if a.wait_quiet:
                        waits.append(wait_quiet(a.wait_quiet))
                    for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                        if v == "jobs":
                            times[m, v].append(workers[m].time() / jobs)
                            continue
                        t, u = time_variant(trainers[m, v], v)
                        times[m, v].append(t)
                        util[m, v].append(u)
    finally:
        for w in workers.values():
            w.close()
    load1 = os.getloadavg()
    peak_best = {k: {p: max(r[p] for r in rs) for p in ("mm", "conv1x1")} for k, rs in peaks.items()}

    rows, results = [], {}
    for m in a.models:
        n = steps[m] * trainers[m, "old"].cfg.batch_size
        r = {"batch": trainers[m, "old"].cfg.batch_size, "steps": steps[m], "images": n,
             "train_mflop_per_image": flops[m] / 1e6, "variants": {}}
        for v in variants:
            ips = [n / t for t in times[m, v]]
            ratio = [t_old / t for t_old, t in zip(times[m, "old"], times[m, v])]
            pk = peak_best["bfloat16" if v == "bf16" else "float32"]
            gflops = flops[m] * _med(ips) / 1e9
            extra = (dict(VARIANTS["new"], jobs=jobs, threads_per_job=1) if v == "jobs"
                     else dict(VARIANTS[v], jobs=1, threads_per_job=a.threads))
            r["variants"][v] = {"seconds": times[m, v], "cpu_utilisation": util.get((m, v)),
                                "images_per_s": _med(ips), "ratio_to_old": _med(ratio),
                                "ratio_range": [min(ratio), max(ratio)], "gflop_per_s": gflops,
                                "fraction_of_peak": gflops / max(pk.values()), **extra}
        results[m] = r
        vr = r["variants"]
        rows.append([LABELS[m], r["batch"], f"{r['train_mflop_per_image']:.0f}"]
                    + [f"{vr[v]['images_per_s']:.0f}" for v in variants]
                    + [f"{vr[v]['ratio_to_old']:.2f}x ({vr[v]['ratio_range'][0]:.2f}-{vr[v]['ratio_range'][1]:.2f})"
                       for v in variants[1:]]
                    + [" / ".join(f"{vr[v]['gflop_per_s']:.0f}" for v in variants),
                       " / ".join(f"{100 * vr[v]['fraction_of_peak']:.0f}%" for v in variants)])
    print()
    names = " / ".join(variants)
    print(tabulate(rows, headers=["model", "batch", "train MFLOP/img"] + [f"{v} img/s" for v in variants]
                   + [f"{v}/old (min-max)" for v in variants[1:]] + [f"GFLOP/s {names}", f"of peak {names}"],
                   tablefmt="github"))
    f32, b16 = peak_best["float32"], peak_best["bfloat16"]
    print(f"\npeak (best round, median of 5 calls): fp32 torch.mm {a.peak_size}² {f32['mm']:.0f} GFLOP/s, 1x1 conv "
          f"{f32['conv1x1']:.0f} GFLOP/s; bf16 torch.mm {b16['mm']:.0f}, 1x1 conv {b16['conv1x1']:.0f} GFLOP/s "
          "(fractions are of the larger of each pair)")
    print("targets: new/old >= 1.4x for every model (exact fp32), bf16/old >= 1.7x: " + ", ".join(
        f"{LABELS[m]} {'met' if results[m]['variants']['new']['ratio_to_old'] >= 1.4 else 'NOT met'} / "
        f"{'met' if results[m]['variants']['bf16']['ratio_to_old'] >= 1.7 else 'NOT met'}" for m in a.models))
    if jobs > 1:
        print(f"a plan's throughput, --jobs {jobs} (one thread each, exact fp32) against the old path one run at a "
              f"time on {a.threads} threads: " + ", ".join(
                  f"{LABELS[m]} {results[m]['variants']['jobs']['ratio_to_old']:.2f}x "
                  f"({'>=' if results[m]['variants']['jobs']['ratio_to_old'] >= 1.4 else '<'} 1.4x)" for m in a.models))

    opt = {m: optimizer_steps(m) for m in a.models}
    print()
    print(tabulate([[LABELS[m], f"{o['ms']['loop']:.2f}", f"{o['ms']['foreach']:.2f}", f"{o['ms']['fused']:.2f}",
                     "yes" if o["bit_identical_to_loop"]["foreach"] else "no",
                     "yes" if o["bit_identical_to_loop"]["fused"] else "no"] for m, o in opt.items()],
                   headers=["optimiser step (protocol's SGD)", "loop ms", "foreach ms", "fused ms",
                            "foreach = loop bits", "fused = loop bits"], tablefmt="github"))
    allu = [u for v in util.values() for u in v]
    print(f"\n# load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at the end; 1-min load at each round's "
          f"start: {', '.join(f'{x:.2f}' for x in round_load)}; CPU seconds per wall second and thread over the "
          f"timed loops: median {_med(allu):.2f}, min {min(allu):.2f}")
    if waits:
        print(f"# waited for a quiet machine before each model's variants: {sum(w for w, _ in waits):.0f} s in all; "
              f"others' CPU share when starting: median {100 * _med([b for _, b in waits]):.0f}%, "
              f"max {100 * max(b for _, b in waits):.0f}%")
    if a.json:
        write_json_atomic(a.json, {"command": cmd, "date": stamp, "machine": machine, "torch": torch.__version__,
                                   "threads": a.threads, "rounds": a.rounds, "malloc_tuned": malloc,
                                   "plan_jobs": jobs,
                                   "jobs_startup_s": {m: w.startup for m, w in workers.items()},
                                   "load_average_start": list(load0), "load_average_end": list(load1),
                                   "load_1min_per_round": round_load,
                                   "quiet_waits": [{"seconds": w, "others_cpu_share": b} for w, b in waits],
                                   "peaks_gflop_per_s": peaks, "peak_best": peak_best, "models": results,
                                   "optimizer_step": opt})
    return 0


if __name__ == "__main__":
    sys.exit(main())
