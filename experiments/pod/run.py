"""The runs of the POD studies (softmax; Cosine and POD losses with the PEDCC head at each latent
dimension n), and running them: each run is trained by :class:`~experiments.pod.model.PODTrainer`, then
measured (:func:`experiments.pod.metrics.measure_pod`) before its result is saved.

Example
-------
>>> from experiments.pod.spec import PODPlan
>>> [r.name for r in study_runs(PODPlan(study="table6", seeds=[0]).validate())]
['resnet18-softmax-s0', 'resnet18-pod-n256-s0']
"""

from __future__ import annotations

from experiments.training.runs import executor, make_run, protocol_fields, run_plan, runtime_options

from .metrics import measure_pod
from .model import PODConfig, PODTrainer
from .spec import COMMON, EXPERIMENT, METHODS, PROTOCOLS, run_name, study_variants

__all__ = ["study_runs", "run_study"]


def study_runs(opts) -> list:
    """Each method of the study (the PEDCC ones at each n; softmax once), each seed
    (``opts``: :class:`~experiments.pod.spec.PODPlan`)."""
    overrides = dict(epochs=opts.epochs, train_per_class=opts.train_per_class, test_per_class=opts.test_per_class,
                     data_root=opts.data_root, width=opts.width, bn_recal_batches=opts.bn_recal_batches,
                     lr_milestones=opts.lr_milestones)
    p, seeds = protocol_fields(PROTOCOLS, opts.protocol, EXPERIMENT, overrides, opts.seeds, table=opts.study)
    out = []
    for method, variant, n in study_variants(opts.study, opts.dims):
        extra = {} if n is None else dict(feature_dim=n, capture=["backbone"])
        fields = {**COMMON, **p, **METHODS[method], **extra}
        if opts.pod_lambda is not None:
            fields["pod_lambda"] = float(opts.pod_lambda)
        out += [make_run(PODConfig, group=opts.group, experiment=EXPERIMENT, name=run_name(variant, seed),
                         runs_dir=opts.runs_dir, seed=seed, **fields) for seed in seeds]
    return out


def run_study(opts, log=print) -> list[dict]:
    """Run (or skip, or resume) and measure every run of the study; results under ``opts.out/results``."""
    return run_plan(study_runs(opts), results_dir=opts.results_dir, execute=executor(PODTrainer, measure_pod),
                    log=log, **runtime_options(opts, PROTOCOLS))
