"""Sub-commands of ``python -m experiments.training`` for the MFD and POD experiments (issue 6).

One command per table analogue (runs shared between tables are trained once and skipped afterwards)::

    mfd-compare   MFD Tables I, III, IV (+ dead channels, Fig. 4-5, epoch time): softmax vs softmax + MFD (λ = 1)
    mfd-lambda    MFD Table II: softmax and lg λ ∈ {-2, -1, 0, 1, 2}
    pod-table6    POD Table VI (softmax vs POD, n = 256) and Table VII (cosine vs Gaussian discriminant)
    pod-table5    POD Table V: Cosine loss only vs POD loss (n = 256)
    pod-dims      POD Table I: POD loss at n ∈ {9, 32, 128, 512} (+ the n = 256 runs)
    mfd-report    reports/training/MFD_REPORT.md and figures from the saved results
    pod-report    reports/training/POD_REPORT.md and figures

Each plan command regenerates its report afterwards (``--no-report`` to skip).
"""

from __future__ import annotations

__all__ = ["add_subcommands"]


def _threads(a, protocols):
    return a.threads if a.threads is not None else protocols[a.protocol].get("threads")


def _mfd_run(a, configs):
    from . import mfd_experiments as M

    results_dir = a.results_dir or M.RESULTS_DIR
    M.run_mfd_plan(configs, results_dir=results_dir, device=a.device, threads=_threads(a, M.PROTOCOLS),
                   progress=not a.no_progress, dry_run=a.dry_run)
    if not a.dry_run and not a.no_report:
        from .mfd_pod_report import write_mfd_report

        print(f"report: {write_mfd_report(results_dir=results_dir)}")
    return 0


def _pod_run(a, configs):
    from . import pod_experiments as P

    results_dir = a.results_dir or P.RESULTS_DIR
    P.run_pod_plan(configs, results_dir=results_dir, device=a.device, threads=_threads(a, P.PROTOCOLS),
                   progress=not a.no_progress, dry_run=a.dry_run)
    if not a.dry_run and not a.no_report:
        from .mfd_pod_report import write_pod_report

        print(f"report: {write_pod_report(results_dir=results_dir)}")
    return 0


def add_subcommands(sub, common_flags, plan_kwargs) -> None:
    """Register the MFD / POD sub-commands on the ``argparse`` sub-parsers ``sub`` of ``__main__``;
    ``common_flags(p, experiment)`` / ``plan_kwargs(a)`` are ``__main__``'s shared plan flags."""
    from .mfd_experiments import LG_LAMBDAS, mfd_configs
    from .pod_experiments import TABLES as POD_TABLES
    from .pod_experiments import pod_configs

    def mfd_cmd(table):
        def run(a):
            return _mfd_run(a, mfd_configs(a.protocol, table=table, lgs=a.lgs, width=a.width, **plan_kwargs(a)))
        return run

    def pod_cmd(table):
        def run(a):
            return _pod_run(a, pod_configs(a.protocol, table=table, dims=a.dims, width=a.width,
                                           pod_lambda=a.pod_lambda, **plan_kwargs(a)))
        return run

    for name, func, what in (
            ("mfd-compare", mfd_cmd("compare"), "MFD Tables I, III, IV analogues, dead channels, Fig. 4-5 "
                                               "(softmax vs softmax + MFD, λ = 1, on stage0..stage4)"),
            ("mfd-lambda", mfd_cmd("lambda"), f"MFD Table II analogue: softmax and lg λ in {list(LG_LAMBDAS)}")):
        p = sub.add_parser(name, help=what, description=what)
        common_flags(p, "mfd")
        p.add_argument("--lgs", type=float, nargs="+", default=None,
                       help="lg λ values (default: the table's); non-default values need --tag")
        p.add_argument("--width", type=float, default=None, help="ResNet18 width multiplier (default: protocol's)")
        p.set_defaults(func=func)

    for name, table, what in (
            ("pod-table6", "table6", "POD Table VI (softmax vs POD) and Table VII (cosine vs Gaussian discriminant) "
                                     "analogues"),
            ("pod-table5", "table5", "POD Table V analogue: Cosine loss only vs POD loss"),
            ("pod-dims", "dims", "POD Table I analogue: POD loss at several feature dimensions")):
        p = sub.add_parser(name, help=what, description=what)
        common_flags(p, "pod")
        p.add_argument("--dims", type=int, nargs="+", default=None,
                       help=f"latent feature dimensions n (default {list(POD_TABLES[table]['dims'])})")
        p.add_argument("--pod-lambda", type=float, default=None, help="λ of POD eq. 16 (default 1; use with --tag)")
        p.add_argument("--width", type=float, default=None, help="ResNet18 width multiplier (default: protocol's)")
        p.set_defaults(func=pod_cmd(table))

    for name, which in (("mfd-report", "mfd"), ("pod-report", "pod")):
        p = sub.add_parser(name, help=f"regenerate reports/training/{which.upper()}_REPORT.md and its figures")
        p.add_argument("--results-dir", default=None, help=f"default reports/training/results-{which}")
        p.add_argument("--out-dir", default=None, help="default reports/training")
        p.add_argument("--bench-json", default=None,
                       help="MFD: benchmark JSON to include (default: every <results-dir>/bench_mfd*.json)")
        p.set_defaults(func=_report_cmd(which))


def _report_cmd(which):
    def run(a):
        from . import mfd_pod_report as R

        if which == "mfd":
            path = R.write_mfd_report(results_dir=a.results_dir or R.MFD_RESULTS_DIR, out_dir=a.out_dir,
                                      bench_json=a.bench_json)
        else:
            path = R.write_pod_report(results_dir=a.results_dir or R.POD_RESULTS_DIR, out_dir=a.out_dir)
        print(f"report: {path}")
        return 0
    return run
