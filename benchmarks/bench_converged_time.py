"""Benchmark: how long the converged design takes on this machine, from a re-run of a sample of its runs.

The converged design (``tools/run-converged.sh``) is about a hundred training runs; timing it whole takes as long
as running it. This re-runs seed 0 of two runs of each kind, with the plan's own settings (the study commands,
``--jobs`` runs at a time, one thread each, nothing else on the machine), into a scratch directory, and compares
each run's wall time with the committed run of the same name under ``reports/``:

* CS Table 5, CNN1: baseline and Algorithm 1 (its L_CS initialisation included);
* CS Table 5, CNN2: baseline and Algorithm 1;
* CS Figure 5, ResNet18 x1/4: I = 0 and I = 10;
* MFD: softmax and MFD (lambda = 1);
* POD: softmax and POD (n = 256).

Projected wall time of the design here: for each kind, the committed runs' total run time (every run of that
results directory: Table 5's 45, Figure 5's 18, MFD's 24, POD's 18) times the median ratio new/old of that kind's
sample, summed and divided by the number of jobs (two runs at a time keep both cores busy; the committed total
over ``--jobs`` is the committed design's wall time the same way). Not included: ``cs kernels`` (minutes).

Also reported: whether each re-run reproduces the committed run epoch by epoch (test accuracies, recalibrated
test accuracies and training losses bit for bit): determinism per seed on CPU, across sessions and machines.

Usage: ``python benchmarks/bench_converged_time.py --scratch DIR [--jobs 2] [--json FILE]`` (about half an hour on
2 cores). ``--scratch`` must be empty or absent; it is left in place (delete it after).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

from experiments.common.io import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
# kind: (study command, committed results directory, sample run names)
KINDS = {
    "CS Table 5 CNN1": (["cs", "run", "--study", "table5", "--models", "cnn1", "--methods", "baseline", "alg1"],
                        "reports/cs/results/converged/table5", ("cnn1-baseline-s0", "cnn1-alg1-s0")),
    "CS Table 5 CNN2": (["cs", "run", "--study", "table5", "--models", "cnn2", "--methods", "baseline", "alg1"],
                        "reports/cs/results/converged/table5", ("cnn2-baseline-s0", "cnn2-alg1-s0")),
    # I = 10 has no rescale twin in the protocol: two runs, not three
    "CS Figure 5": (["cs", "run", "--study", "fig5", "--iters", "0", "10"], "reports/cs/results/converged/fig5",
                    ("resnet18-I0-s0", "resnet18-I10-s0")),
    "MFD": (["mfd", "run", "--study", "compare"], "reports/mfd/results/converged/mfd",
            ("resnet18-softmax-s0", "resnet18-mfd-lg+0-s0")),
    "POD": (["pod", "run", "--study", "table6"], "reports/pod/results/converged/pod",
            ("resnet18-softmax-s0", "resnet18-pod-n256-s0")),
}
# the results directory a kind's committed runs share with other kinds (Table 5's CNN1 and CNN2 runs)
_MODEL_OF = {"CS Table 5 CNN1": "cnn1-", "CS Table 5 CNN2": "cnn2-"}


def committed_runs(kind: str) -> dict:
    """``{name: record}`` of the committed converged runs of ``kind``."""
    _, rel, _ = KINDS[kind]
    prefix = _MODEL_OF.get(kind, "")
    return {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / rel).glob(f"{prefix}*.json"))}


def run_study(args: list) -> None:
    """Run one study command (``args``: the command line) from the repository root, its output discarded."""
    subprocess.run(args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def same_curves(a: dict, b: dict) -> tuple[bool, float]:
    """Whether two records' per-epoch test accuracies (plain, recalibrated) and training losses are equal bit
    for bit, and the largest absolute difference of the test accuracies."""
    keys = ("test_acc", "test_acc_recal", "train_loss")
    ha, hb = a["history"], b["history"]
    if len(ha) != len(hb):
        return False, float("inf")
    equal, worst = True, 0.0
    for ea, eb in zip(ha, hb):
        for k in keys:
            x, y = ea.get(k), eb.get(k)
            equal &= x == y
            if k != "train_loss" and x is not None and y is not None:
                worst = max(worst, abs(x - y))
    return equal, worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scratch", required=True, help="empty (or absent) directory the sample runs are written to")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time, as the plan (default 2)")
    ap.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    ap.add_argument("--json", help="also write every measurement to this JSON file")
    a = ap.parse_args(argv)
    scratch = Path(a.scratch)
    if a.jobs < 1:
        ap.error(f"--jobs: expected a positive number of runs at a time, got {a.jobs}")
    if scratch.exists() and any(scratch.iterdir()):
        ap.error(f"--scratch: {str(scratch)!r} is not empty (the sample would be skipped as already run)")
    for kind in a.kinds:
        missing = [n for n in KINDS[kind][2] if n not in committed_runs(kind)]
        if missing:
            ap.error(f"--kinds: {kind} has no committed run {missing[0]!r} under {KINDS[kind][1]} to compare with")
    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = os.getloadavg()
    print(f"# python {' '.join(shlex.quote(x) for x in sys.argv)}   ({started:%Y-%m-%d %H:%M} UTC; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in load0)} at start)", flush=True)
    rows, out = [], {"started": started.isoformat(), "load_start": load0, "jobs": a.jobs, "kinds": {}}
    for kind in a.kinds:
        cmd, _, names = KINDS[kind]
        exp = cmd[0]
        args = [sys.executable, "-m", "experiments", *cmd, "--protocol", "converged", "--seeds", "0",
                "--out", str(scratch / exp), "--runs-dir", str(scratch / "runs" / exp), "--jobs", str(a.jobs),
                "--no-report", "--no-progress"]
        t0 = time.perf_counter()
        run_study(args)
        wall = time.perf_counter() - t0
        old_all = committed_runs(kind)
        rel = Path(KINDS[kind][1]).relative_to(f"reports/{exp}")
        ratios, per_run = [], []
        for name in names:
            new = json.loads((scratch / exp / rel / f"{name}.json").read_text())
            old = old_all[name]
            r = new["summary"]["wall_seconds"] / old["summary"]["wall_seconds"]
            ratios.append(r)
            equal, worst = same_curves(old, new)
            per_run.append({"name": name, "old_s": old["summary"]["wall_seconds"],
                            "new_s": new["summary"]["wall_seconds"], "ratio": r, "identical": equal,
                            "max_abs_acc_diff": worst})
            rows.append([kind, name, f"{old['summary']['wall_seconds']:.0f}", f"{new['summary']['wall_seconds']:.0f}",
                         f"{r:.2f}", "yes" if equal else f"no (max |Δ acc| {worst:.4f})"])
        total_old = sum(rec["summary"]["wall_seconds"] for rec in old_all.values())
        ratio = statistics.median(ratios)
        out["kinds"][kind] = {"runs": per_run, "command_wall_s": wall, "committed_runs": len(old_all),
                              "committed_run_time_s": total_old, "median_ratio": ratio,
                              "projected_run_time_s": total_old * ratio}
        print(f"# {kind}: {len(names)} runs in {wall:.0f} s", flush=True)
    print()
    print(tabulate(rows, headers=["kind", "run (seed 0)", "committed s", "here s", "here/committed",
                                  "same curves bit for bit"], tablefmt="github"))
    print()
    summ = []
    for kind, k in out["kinds"].items():
        summ.append([kind, k["committed_runs"], f"{k['committed_run_time_s'] / 3600:.2f}", f"{k['median_ratio']:.2f}",
                     f"{k['projected_run_time_s'] / 3600:.2f}"])
    t_old = sum(k["committed_run_time_s"] for k in out["kinds"].values())
    t_new = sum(k["projected_run_time_s"] for k in out["kinds"].values())
    summ.append(["all", sum(k["committed_runs"] for k in out["kinds"].values()), f"{t_old / 3600:.2f}", "",
                 f"{t_new / 3600:.2f}"])
    print(tabulate(summ, headers=["kind", "committed runs", "committed run time h", "median ratio",
                                  "projected run time here h"], tablefmt="github"))
    out.update(committed_run_time_s=t_old, projected_run_time_s=t_new, load_end=os.getloadavg())
    print(f"\nwall time, {a.jobs} runs at a time: committed design {t_old / a.jobs / 3600:.2f} h, projected here "
          f"{t_new / a.jobs / 3600:.2f} h (run time / {a.jobs}; cs kernels not included)")
    print(f"# load average {' '.join(f'{x:.2f}' for x in out['load_end'])} at the end")
    if a.json:
        write_json_atomic(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
