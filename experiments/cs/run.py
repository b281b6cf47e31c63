"""The runs of the CS paper's Table 5 and Figure 5 analogues, and running them.

Example
-------
>>> from experiments.cs.spec import CSPlan
>>> runs = table5_runs(CSPlan(models=["cnn1"], methods=["alg1"], seeds=[0]).validate())
>>> [(r.group, r.experiment, r.name, r.config.cs_init_iters, r.config.epochs) for r in runs]
[('quick', 'table5', 'cnn1-alg1-s0', 500, 5)]
"""

from __future__ import annotations

from experiments.training.engine import TrainConfig
from experiments.training.runs import make_run, protocol_fields, run_plan, runtime_options

from .spec import FIG5_COMMON, METHODS, PROTOCOLS, TABLE5_COMMON

__all__ = ["table5_runs", "fig5_runs", "study_runs", "run_study"]


def _overrides(opts) -> dict:
    return dict(epochs=opts.epochs, train_per_class=opts.train_per_class, test_per_class=opts.test_per_class,
                data_root=opts.data_root)


def table5_runs(opts) -> list:
    """One run per (model, method, seed) of the Table 5 analogue (``opts``: :class:`~.spec.CSPlan`)."""
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, "table5", _overrides(opts), opts.seeds)
    out = []
    for model in opts.models:
        for method in opts.methods:
            m = dict(METHODS[method])
            if method == "alg1" and opts.init_iters is not None:
                m["cs_init_iters"] = int(opts.init_iters)
            if method == "alg2" and opts.beta is not None:
                m["cs_beta"] = float(opts.beta)
            for seed in seeds:
                out.append(make_run(TrainConfig, group=opts.group, experiment="table5",
                                    name=f"{model}-{method}-s{seed}", runs_dir=opts.runs_dir, model=model, seed=seed,
                                    **{**TABLE5_COMMON, **p, **m}))
    return out


def fig5_runs(opts) -> list:
    """One run per (I, seed) of the Figure 5 analogue (ResNet18, Algorithm 1)."""
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, "fig5", {**_overrides(opts), "width": opts.width},
                               opts.seeds)
    return [make_run(TrainConfig, group=opts.group, experiment="fig5", name=f"resnet18-I{int(i)}-s{seed}",
                     runs_dir=opts.runs_dir, seed=seed, cs_init_iters=int(i), **{**FIG5_COMMON, **p})
            for i in opts.iters for seed in seeds]


def study_runs(opts) -> list:
    """The runs of ``opts.study``."""
    return table5_runs(opts) if opts.study == "table5" else fig5_runs(opts)


def run_study(opts, log=print) -> list[dict]:
    """Run (or skip, or resume) every run of the study; results under ``opts.out/results``."""
    return run_plan(study_runs(opts), results_dir=opts.results_dir, log=log, **runtime_options(opts, PROTOCOLS))
