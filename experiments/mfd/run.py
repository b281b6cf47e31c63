"""The runs of the MFD studies (softmax, and softmax + MFD at each λ = 10^lg), and running them: each run
is trained, then measured (:func:`experiments.mfd.metrics.measure_mfd`) before its result is saved.

Example
-------
>>> from experiments.mfd.spec import MFDPlan
>>> [r.name for r in study_runs(MFDPlan(study="compare", seeds=[0]).validate())]
['resnet18-softmax-s0', 'resnet18-mfd-lg+0-s0']
"""

from __future__ import annotations

from experiments.training.models import STAGES
from experiments.training.runs import executor, make_run, protocol_fields, run_plan, runtime_options

from .loss import MFDConfig
from .metrics import measure_mfd
from .spec import COMMON, EXPERIMENT, PROTOCOLS, lam_name, run_name, study_lgs

__all__ = ["study_runs", "run_study"]


def study_runs(opts, *, softmax: bool = True, stages=STAGES) -> list:
    """Softmax only (if ``softmax``) and softmax + MFD with ``λ = 10**lg`` for each lg of the study, for each
    seed (``opts``: :class:`~experiments.mfd.spec.MFDPlan`)."""
    overrides = dict(epochs=opts.epochs, train_per_class=opts.train_per_class, test_per_class=opts.test_per_class,
                     data_root=opts.data_root, width=opts.width, bn_recal_batches=opts.bn_recal_batches)
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, EXPERIMENT, overrides, opts.seeds, table=opts.study)
    methods = ([("softmax", {})] if softmax else []) + [
        (lam_name(lg), dict(mfd_lambda=10.0 ** lg, mfd_stages=list(stages), capture=list(stages),
                            extra_losses=["mfd"])) for lg in study_lgs(opts.study, opts.lgs)]
    model = p.get("model", COMMON["model"])
    return [make_run(MFDConfig, group=opts.group, experiment=EXPERIMENT, name=run_name(name, seed, model),
                     runs_dir=opts.runs_dir, seed=seed, **{**COMMON, **p, **m})
            for name, m in methods for seed in seeds]


def run_study(opts, log=print) -> list[dict]:
    """Run (or skip, or resume) and measure every run of the study; results under ``opts.out/results``."""
    return run_plan(study_runs(opts), results_dir=opts.results_dir, execute=executor(measure=measure_mfd), log=log,
                    **runtime_options(opts, PROTOCOLS))
