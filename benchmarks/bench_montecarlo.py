"""Benchmark: batched Monte Carlo runner vs the naive per-episode NumPy loop, in one process.

    python benchmarks/bench_montecarlo.py                 # 1000 episodes batched, 5 naive per config
    python benchmarks/bench_montecarlo.py --naive-episodes 2 --repeats 3 --json bench.json

For every configuration of Tables 1, 2/3 (one set of runs) and 6 (smallest size as N = 2 and N = 3,
then 9 and 16; the paper's iteration counts) it times the batched runner on all episodes (best of
``--repeats``) and the naive loop (:mod:`experiments.montecarlo.naive`, feature maps by
``theory.reference.correlate`` every iteration) on ``--naive-episodes`` episodes, extrapolated linearly
to the full count (episodes are independent and identical in cost). It also times the whole
``python -m experiments montecarlo run`` pipeline in-process (runs + statistics + bootstrap + rendering).

``--modes`` times the main job in fresh processes instead, with and without ``--padding-sweep``: wall time,
peak RSS and in-process time of the running statistics (the default) against the stored trajectories (the
old path, forced), next to the floor of a process that only imports torch, numpy and scipy, and the
issue's targets (≤ 3 s with the sweep, ≤ 2 s without, ≤ 400 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from experiments.montecarlo import naive
from experiments.montecarlo.episodes import draw_for_config, run_batched
from experiments.montecarlo.run import main as run_main
from experiments.montecarlo.spec import RunOptions, configs_for

EXPERIMENTS = ("kernel_full", "cs_full", "cs_valid")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--naive-episodes", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="batched timings: best of this many")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-pipeline", action="store_true", help="do not time the whole CLI pipeline")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--modes", action="store_true", help="only the main job in fresh processes: running vs stored")
    ap.add_argument("--floors", action="store_true",
                    help="only the optimisation time of every row against its eager-dispatch and GEMM floors")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.modes:
        return modes(args)
    if args.floors:
        return floors(args)

    rows = []
    print(f"{'configuration':26s} {'T':>5s} {'batched s':>10s} {'naive s':>9s} {'naive->E s':>11s} {'ratio':>8s}")
    for exp in EXPERIMENTS:
        for cfg in configs_for(exp):
            d = draw_for_config(0, cfg, args.episodes)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                run_batched(d.k, d.x, cfg.objective, cfg.optimizer, cfg.lr, cfg.iterations, (cfg.padding,),
                            device=args.device)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            ne = args.naive_episodes
            t0 = time.perf_counter()
            naive.run_naive(d.k[:ne], d.x[:ne], cfg.objective, cfg.optimizer, cfg.lr, cfg.iterations,
                            (cfg.padding,))
            t_naive = time.perf_counter() - t0
            extrap = t_naive * args.episodes / ne
            rows.append({"config": cfg.label, "iterations": cfg.iterations, "batched_s": best,
                         "naive_s": t_naive, "naive_episodes": ne, "naive_extrapolated_s": extrap})
            print(f"{cfg.label:26s} {cfg.iterations:5d} {best:10.3f} {t_naive:9.2f} {extrap:11.1f} "
                  f"{extrap / best:8.0f}x", flush=True)
    tb = sum(r["batched_s"] for r in rows)
    tn = sum(r["naive_extrapolated_s"] for r in rows)
    print(f"\nTables 1, 2, 3, 6 ({len(rows)} configurations, {args.episodes} episodes each, "
          f"{sum(r['iterations'] for r in rows)} iterations):")
    print(f"  batched runner (sum of best-of-{args.repeats}): {tb:.2f} s")
    print(f"  naive loop, {args.naive_episodes} episodes/config extrapolated to {args.episodes}: {tn:.0f} s")
    print(f"  ratio naive / batched: {tn / tb:.0f}x")
    result = {"episodes": args.episodes, "threads": args.threads, "device": args.device, "rows": rows,
              "batched_total_s": tb, "naive_extrapolated_total_s": tn, "ratio": tn / tb,
              "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "torch": torch.__version__, "loadavg": os.getloadavg()}}
    if not args.skip_pipeline:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            for plot in (False, True):
                t0 = time.perf_counter()
                opts = RunOptions(out=tmp, episodes=args.episodes, progress=False, plot=plot,
                                  threads=args.threads, device=args.device).validate()
                run_main(opts, {"command": "benchmarks/bench_montecarlo.py"})
                dt = time.perf_counter() - t0
                result[f"pipeline_s{'_with_plot' if plot else ''}"] = dt
                print(f"  whole pipeline in-process (runs, statistics, bootstrap, markdown/JSON"
                      f"{', plot' if plot else ''}): {dt:.2f} s")
    print(f"  load average at the end: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


_CHILD = """
import resource, sys, time, tempfile
t0 = time.perf_counter()
import experiments.montecarlo.run as mrun
from experiments.montecarlo.spec import RunOptions
if sys.argv[1] == "stored":
    mrun.needs_trajectories = lambda corr: True
with tempfile.TemporaryDirectory() as tmp:
    o = RunOptions(out=tmp, episodes=int(sys.argv[2]), progress=False, padding_sweep=sys.argv[3] == "1").validate()
    t1 = time.perf_counter()
    mrun.main(o, {"command": "bench"})
    t2 = time.perf_counter()
print(t2 - t1, t2 - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
_FLOOR = ("import resource, time; t0 = time.perf_counter(); import torch, numpy, scipy; "
          "print(0, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")


def _child(code: str, *argv) -> dict:
    import subprocess
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    return {"wall_s": time.perf_counter() - t0, "run_s": float(out[0]), "in_process_s": float(out[1]),
            "peak_rss_mb": float(out[2])}


def modes(args) -> int:
    """Main job (Tables 1, 2, 3, 6) in fresh processes: running statistics vs stored trajectories."""
    floor = min((_child(_FLOOR) for _ in range(args.repeats)), key=lambda r: r["wall_s"])
    print(f"load average at the start: {os.getloadavg()}")
    print(f"floor (python -c 'import torch, numpy, scipy'): {floor['wall_s']:.2f} s wall, "
          f"{floor['peak_rss_mb']:.0f} MB peak RSS")
    result = {"floor": floor, "episodes": args.episodes}
    print(f"{'job':22s} {'path':8s} {'wall s':>7s} {'run s':>6s} {'RSS MB':>7s}   target")
    for sweep, target in ((True, 3.0), (False, 2.0)):
        got = {}
        for path in ("stored", "running"):
            got[path] = min((_child(_CHILD, path, str(args.episodes), "1" if sweep else "0")
                             for _ in range(args.repeats)), key=lambda r: r["wall_s"])
            r = got[path]
            print(f"{'--padding-sweep' if sweep else 'tables 1 2 3 6':22s} {path:8s} {r['wall_s']:7.2f} "
                  f"{r['run_s']:6.2f} {r['peak_rss_mb']:7.0f}   <= {target:g} s, <= 400 MB")
        s, r = got["stored"], got["running"]
        print(f"{'':22s} ratio stored/running: wall {s['wall_s'] / r['wall_s']:.2f}x, "
              f"RSS {s['peak_rss_mb'] / r['peak_rss_mb']:.2f}x; running vs target: wall "
              f"{r['wall_s'] / target:.2f}x, RSS {r['peak_rss_mb'] / 400:.2f}x; above the import floor: "
              f"{r['wall_s'] - floor['wall_s']:.2f} s, {r['peak_rss_mb'] - floor['peak_rss_mb']:.0f} MB")
        result["sweep" if sweep else "no_sweep"] = got
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _dispatch_seconds() -> float:
    """Median time of one eager op on a 1-element tensor: what every torch call costs at least."""
    a, b = torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            torch.add(a, b, out=a)
        times.append((time.perf_counter() - t0) / 2000)
    return sorted(times)[2]


def _gemm_rate(dtype=torch.float64) -> float:
    a = torch.randn(1024, 1024, dtype=dtype)
    a @ a
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    return 2 * 1024 ** 3 / sorted(times)[2]


def floors(args) -> int:
    """Every row of the main job (with the padding sweep): measured optimisation time against two floors
    counted from a short run of the same row (ops and FLOPs per step scale linearly with the steps):
    eager dispatch (torch ops x the time of one eager op on a 1-element tensor) and GEMM (FLOPs counted by
    ``torch.utils.flop_counter`` at this machine's float64 GEMM rate)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    from experiments.montecarlo.run import plan, run_config
    from experiments.montecarlo.running import RunningStats
    from experiments.common.stats import Bootstrap

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, a=(), kw=None):
            Count.n += 1
            return func(*a, **(kw or {}))

    t_op, gemm = _dispatch_seconds(), _gemm_rate()
    print(f"load average at the start: {os.getloadavg()}")
    print(f"one eager op: {t_op * 1e6:.1f} us; float64 GEMM 1024^2: {gemm / 1e9:.1f} GFLOP/s")
    o = RunOptions(episodes=args.episodes, progress=False, padding_sweep=True, bootstrap=0).validate()
    boot = Bootstrap(o.episodes, 0, 0)
    rows, tot = [], {"run": 0.0, "dispatch": 0.0, "gemm": 0.0}
    for job in plan(o):
        cfg = job["cfg"]
        run_s = min(run_config(o, job, boot)["run_s"] for _ in range(args.repeats))
        short = 20
        d = draw_for_config(0, cfg, args.episodes)
        Count.n = 0
        with FlopCounterMode(display=False) as fc, Count():
            run_batched(d.k, d.x, cfg.objective, cfg.optimizer, cfg.lr, short, job["paddings"],
                        gram_paddings=job["gram_paddings"], sink=RunningStats(["sim"], short + 1))
        per_step_ops, per_step_flops = Count.n / (short + 1), fc.get_total_flops() / (short + 1)
        f_disp = per_step_ops * (cfg.iterations + 1) * t_op
        f_gemm = per_step_flops * (cfg.iterations + 1) / gemm
        tot["run"] += run_s
        tot["dispatch"] += f_disp
        tot["gemm"] += f_gemm
        rows.append(f"{cfg.experiment:14s} N={cfg.n:<3d} {cfg.optimizer:5s} T={cfg.iterations:<5d} {run_s:7.3f} s  "
                    f"ops/step {per_step_ops:5.0f} -> dispatch floor {f_disp:6.3f} s   "
                    f"GEMM floor {f_gemm:6.3f} s   ratio to the larger {run_s / max(f_disp, f_gemm):5.1f}x")
    print("\n".join(rows))
    print(f"all rows: optimisation {tot['run']:.2f} s; dispatch floor {tot['dispatch']:.2f} s "
          f"({tot['run'] / tot['dispatch']:.2f}x); GEMM floor {tot['gemm']:.3f} s ({tot['run'] / tot['gemm']:.0f}x)")
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
