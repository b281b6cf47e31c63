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

from .spec import ARMS, FIG5_COMMON, FIG5_ITERS, METHODS, PROTOCOLS, TABLE5_COMMON

__all__ = ["table5_runs", "fig5_runs", "study_runs", "run_study"]


def _overrides(opts) -> dict:
    return dict(epochs=opts.epochs, train_per_class=opts.train_per_class, test_per_class=opts.test_per_class,
                data_root=opts.data_root, bn_recal_batches=opts.bn_recal_batches)


def table5_runs(opts) -> list:
    """The runs of the Table 5 analogue (``opts``: :class:`~.spec.CSPlan`): one per (model, method, seed), or,
    under a protocol with ``arms`` (``converged``), one per (model, arm) of the design and seed, seed by seed
    (every seed's arms finish together, so a partial plan is a paired one)."""
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, "table5", _overrides(opts), opts.seeds)
    arms = p.pop("arms", None)
    if arms is None:
        pairs = [(model, method) for model in opts.models for method in (opts.methods or list(METHODS))]
        order = [(model, method, seed) for model, method in pairs for seed in seeds]
    else:
        pairs = [(m, a) for m, a in arms if m in opts.models and (opts.methods is None or a in opts.methods)]
        order = [(model, arm, seed) for seed in seeds for model, arm in pairs]
    out = []
    for model, method, seed in order:
        m = dict(ARMS[method])
        if m.get("cs_init_iters") and opts.init_iters is not None:
            m["cs_init_iters"] = int(opts.init_iters)
        if m.get("cs_beta") and opts.beta is not None:
            m["cs_beta"] = float(opts.beta)
        out.append(make_run(TrainConfig, group=opts.group, experiment="table5", name=f"{model}-{method}-s{seed}",
                            runs_dir=opts.runs_dir, model=model, seed=seed, **{**TABLE5_COMMON, **p, **m}))
    return out


def fig5_runs(opts) -> list:
    """One run per (I, seed) of the Figure 5 analogue (ResNet18, Algorithm 1), and under a protocol with
    ``rescale_iters`` (``converged``) a rescale twin per such I (the initial kernels at the per-layer norms
    Algorithm 1 with that I ends with), seed by seed."""
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, "fig5", {**_overrides(opts), "width": opts.width,
                                                                  "lr_milestones": opts.lr_milestones}, opts.seeds)
    iters = list(opts.iters) if opts.iters is not None else list(p.pop("iters", FIG5_ITERS))
    p.pop("iters", None)
    twins = [i for i in p.pop("rescale_iters", ()) if i in iters]
    arms = [(f"I{i}", {"cs_init_iters": int(i)}) for i in iters]
    arms += [(f"I{i}-rescale", {"cs_init_iters": int(i), "cs_init_apply": "norms"}) for i in twins]
    if twins:
        order = [(seed, name, m) for seed in seeds for name, m in arms]
    else:
        order = [(seed, name, m) for name, m in arms for seed in seeds]
    return [make_run(TrainConfig, group=opts.group, experiment="fig5", name=f"resnet18-{name}-s{seed}",
                     runs_dir=opts.runs_dir, seed=seed, **{**FIG5_COMMON, **p, **m}) for seed, name, m in order]


def study_runs(opts) -> list:
    """The runs of ``opts.study``."""
    return table5_runs(opts) if opts.study == "table5" else fig5_runs(opts)


def run_study(opts, log=print) -> list[dict]:
    """Run (or skip, or resume) every run of the study; results under ``opts.out/results``."""
    return run_plan(study_runs(opts), results_dir=opts.results_dir, log=log, **runtime_options(opts, PROTOCOLS))
