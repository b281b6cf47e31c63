"""Registry entries (see theory.registry) for the Pearson/MFD and PEDCC/POD operations.

One :class:`~theory.registry.OpInfo` per public function of :mod:`theory.reference.pearson` and
:mod:`theory.reference.pedcc`, paired with its twin in :mod:`theory.batched`. Samples cover ``d ∈ {0,
1, 2}``, batch shapes ``()``, ``(2,)``, ``(2, 3)``, shared (unbatched) arguments that the twin
broadcasts, and dead channels: all-zero maps (a dead ReLU) and maps constant over the batch but not
over space, whose rows and columns of the Pearson matrix are 0 (samples named "... dead ..."). The
twin is differentiable everywhere, but a finite-difference gradcheck must hold dead channels constant
(perturbing one makes it live: the policy is a discontinuity), so gradchecks skip the "dead" samples.
Every quantity here is normalised (correlations, cosines, losses of unit vectors): absolute
tolerances (``abs_scale=False``). Labels are integer NumPy arrays; the registry passes them as int64
tensors.

``mfd_joint_loss`` takes a list of stages; the registry's samples are flat argument tuples, so its
entry calls ``reference(logits, labels, *stages, lam=..., d=...)`` through the thin wrappers
:func:`mfd_joint_loss_ref` and :func:`mfd_joint_loss_twin` below; its error inputs call the two
functions themselves (``error_reference``/``error_twin``), so that a bad ``stages`` can be passed.
Error inputs live in :mod:`theory._errors_stats`.
"""

from __future__ import annotations

import numpy as np

from .batched import pearson as _bat_p
from .batched import pedcc as _bat_e
from .reference import pearson as _ref_p
from .reference import pedcc as _ref_e
from ._errors_stats import ERRORS
from .opinfo import OpInfo, Sample


def _relu_maps(rng, *shape):
    return np.maximum(rng.normal(size=shape), 0.0)


def _with_dead(x, channel_axis: int, zero: int, constant: int | None, rng):
    """Channel ``zero`` all-zero (a dead ReLU); channel ``constant`` one random positive map shared by every
    sample (constant over the batch, not over space). The sample axis is the one before ``channel_axis``."""
    x = np.array(x)
    xs = np.moveaxis(x, (channel_axis - 1, channel_axis), (0, 1))      # a view: (b, C, other axes)
    xs[:, zero] = 0.0
    if constant is not None:
        xs[:, constant] = rng.uniform(0.5, 2.0, size=xs.shape[2:])
    return x


def _pearson_samples(rng, min_channels: int = 1):
    yield Sample((rng.normal(size=(5, 3)),), {"d": 0}, desc="d=0 vectors, b=5 C=3")
    yield Sample((rng.normal(size=(2, 2, 2)),), {"d": 0}, (2,), (0,), "d=0 b=2 (smallest batch)")
    yield Sample((_relu_maps(rng, 2, 3, 4, 4, 5),), {"d": 1}, (2, 3), (0,), "d=1 ReLU maps")
    yield Sample((rng.normal(size=(3, 5, 3, 6)) + 5.0,), {"d": 1}, (3,), (0,), "d=1 offset 5")
    yield Sample((rng.normal(size=(4, 3, 3, 2)),), {"d": 2}, desc="d=2 b=4 C=3")
    yield Sample((rng.normal(size=(2, 3, 4, 2, 3)),), {"d": 2}, (2,), (0,), "d=2 b=3 C=4")
    yield Sample((_with_dead(_relu_maps(rng, 2, 4, 4, 5), 2, 1, 3, rng),), {"d": 1}, (2,), (0,),
                 "d=1 dead channels: one zero, one constant over the batch")
    yield Sample((_with_dead(rng.normal(size=(2, 3, 5, 4, 2, 2)), 3, 0, 2, rng),), {"d": 2}, (2, 3), (0,),
                 "d=2 dead channels: one zero, one constant over the batch")
    yield Sample((_with_dead(rng.normal(size=(6, 3)), 1, 2, None, rng),), {"d": 0}, desc="d=0 dead channel")
    # stored with the channel axis innermost (a channels-last network's stage features): the twin's own layout
    yield Sample((np.ascontiguousarray(_relu_maps(rng, 6, 4, 5, 7).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),),
                 {"d": 2}, desc="d=2 channels-last storage (NHWC), b=6 C=4")
    yield Sample((np.ascontiguousarray(rng.normal(size=(2, 5, 3, 6)).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2),),
                 {"d": 1}, (2,), (0,), "d=1 channel axis innermost, leading batch")
    if min_channels <= 1:
        yield Sample((rng.normal(size=(2, 4, 1, 3)),), {"d": 1}, (2,), (0,), "d=1 C=1")


def _pearson_samples_pairs(rng):
    yield from _pearson_samples(rng, min_channels=2)
    # eq. 6 is scale invariant: small activations (where the MFD code's clamped denominator departs from it)
    yield Sample((rng.normal(size=(2, 5, 3, 4)) * 1e-6,), {"d": 1}, (2,), (0,), "d=1 small activations (x1e-6)")


def mfd_joint_loss_ref(logits, labels, *stages, lam=1.0, d):
    """:func:`theory.reference.mfd_joint_loss` with the stages unpacked (registry calling convention)."""
    return _ref_p.mfd_joint_loss(logits, labels, list(stages), lam, d=d)


def mfd_joint_loss_twin(logits, labels, *stages, lam=1.0, d):
    """:func:`theory.batched.mfd_joint_loss` with the stages unpacked (registry calling convention)."""
    return _bat_p.mfd_joint_loss(logits, labels, list(stages), lam, d=d)


def _joint_samples(rng):
    b = 5
    y = rng.integers(0, 4, size=b)
    yield Sample((rng.normal(size=(b, 4)), y, _relu_maps(rng, b, 3, 4, 4), _relu_maps(rng, b, 5, 2, 2)),
                 {"lam": 1.0, "d": 2}, desc="two 2-D stages, λ = 1")
    yield Sample((rng.normal(size=(2, b, 4)), y, rng.normal(size=(2, b, 3, 6)), rng.normal(size=(b, 2, 4))),
                 {"lam": 0.5, "d": 1}, (2,), (0, 2), "labels and stage 1 shared")
    yield Sample((rng.normal(size=(2, 3, b, 4)), rng.integers(0, 4, size=(2, 3, b)), rng.normal(size=(b, 3))),
                 {"lam": 2.0, "d": 0}, (2, 3), (0, 1), "d=0, one shared stage")
    yield Sample((rng.normal(size=(b, 4)) * 3.0, y), {"lam": 1.0, "d": 1}, desc="no stages: cross-entropy only")
    yield Sample((rng.normal(size=(2, b, 4)), y, _with_dead(_relu_maps(rng, 2, b, 4, 5), 2, 0, 3, rng)),
                 {"lam": 1.0, "d": 1}, (2,), (0, 2), "stage with dead channels")


def _pedcc_samples(rng):
    yield Sample((3, 5), {"seed": 0}, desc="k=3 n=5")
    yield Sample((4, 3), {"seed": 7}, desc="k = n+1")
    yield Sample((1, 4), {"seed": 1}, desc="k=1")
    yield Sample((10, 16), {"seed": 2}, desc="k=10 n=16")


def _near(rng, centroids, labels, noise):
    """``centroids[labels]`` (batched: ``(..., k, n)`` indexed by ``(..., B)``) plus Gaussian noise."""
    k, n = centroids.shape[-2:]
    c = np.broadcast_to(centroids, labels.shape[:-1] + (k, n))
    picked = np.take_along_axis(c, labels[..., None], axis=-2)
    return picked + noise * rng.normal(size=picked.shape)


def _pod_samples(rng):
    c = _ref_e.pedcc_centroids(4, 6, seed=int(rng.integers(1000)))
    y = rng.integers(0, 4, size=7)
    yield Sample((_near(rng, c, y, 0.5), y, c), desc="B=7 n=6 k=4, near the centroids")
    yield Sample((rng.normal(size=(2, 7, 6)), y, c), {}, (2,), (0,), "random features, labels and centroids shared")
    ys = rng.integers(0, 4, size=(2, 3, 5))
    cs = np.stack([_ref_e.pedcc_centroids(4, 3, seed=s) for s in range(3)])
    yield Sample((_near(rng, cs, ys, 0.8) * rng.uniform(0.1, 10.0, size=(2, 3, 5, 1)), ys, cs[None]
                  .repeat(2, axis=0)), {}, (2, 3), (0, 1, 2), "k = n+1, everything batched, scaled features")
    c2 = _ref_e.pedcc_centroids(3, 12, seed=3)
    y2 = rng.integers(0, 3, size=4)
    yield Sample((_near(rng, c2, y2, 0.3), y2, c2), desc="n > B (Gram branch)")
    yield Sample((rng.normal(size=(3, 2, 5)), rng.integers(0, 2, size=(3, 2)), rng.normal(size=(2, 5))), {},
                 (3,), (0, 1), "B=2, non-unit random centroids")


def _pod_lam_samples(rng):
    for s, lam in zip(_pod_samples(rng), (1.0, 0.3, 2.0, 1.0, 0.0)):
        yield Sample(s.args, {**s.kwargs, "lam": lam}, s.batch, s.batched, f"{s.desc}, λ = {lam}")


def _predict_samples(rng):
    c = _ref_e.pedcc_centroids(5, 8, seed=1)
    y = rng.integers(0, 5, size=6)
    yield Sample((_near(rng, c, y, 0.2), c), desc="near the centroids")
    yield Sample((c * 3.0, c), desc="features = scaled centroids")
    ys = rng.integers(0, 5, size=(2, 3, 6))
    yield Sample((_near(rng, c, ys, 0.3), c), {}, (2, 3), (0,), "centroids shared")
    cs = np.stack([_ref_e.pedcc_centroids(5, 4, seed=s) for s in range(2)])
    yb = rng.integers(0, 5, size=(2, 6))
    yield Sample((_near(rng, cs, yb, 0.2), cs), {}, (2,), (0, 1), "k = n+1, batched")


_DEAD_NOTE = "samples named 'dead' hold constant channels: gradchecks must keep them constant"

OPS: list[OpInfo] = [
    OpInfo("pearson_matrix", _ref_p.pearson_matrix, _bat_p.pearson_matrix, _pearson_samples,
           ERRORS["pearson_matrix"], abs_scale=False, notes="MFD paper, eq. 6, batch-mean centring; " + _DEAD_NOTE),
    OpInfo("mfd_loss", _ref_p.mfd_loss, _bat_p.mfd_loss, _pearson_samples_pairs, ERRORS["mfd_loss"],
           abs_scale=False, notes="MFD paper, eq. 5; " + _DEAD_NOTE),
    OpInfo("mean_abs_offdiagonal", _ref_p.mean_abs_offdiagonal, _bat_p.mean_abs_offdiagonal,
           _pearson_samples_pairs, ERRORS["mean_abs_offdiagonal"], abs_scale=False,
           notes="MFD paper, Tables I, III; " + _DEAD_NOTE),
    OpInfo("mfd_joint_loss", mfd_joint_loss_ref, mfd_joint_loss_twin, _joint_samples, ERRORS["mfd_joint_loss"],
           abs_scale=False, error_reference=_ref_p.mfd_joint_loss, error_twin=_bat_p.mfd_joint_loss,
           notes="MFD paper, eq. 7; called as (logits, labels, *stages, lam=, d=); " + _DEAD_NOTE),
    OpInfo("pedcc_centroids", _ref_e.pedcc_centroids, _bat_e.pedcc_centroids, _pedcc_samples,
           ERRORS["pedcc_centroids"], abs_scale=False, gradcheck=False, factory=("dtype", "device"),
           notes="a set-up constant: the twin builds it in torch from the same Gaussian draw"),
    OpInfo("cosine_loss", _ref_e.cosine_loss, _bat_e.cosine_loss, _pod_samples, ERRORS["cosine_loss"],
           abs_scale=False, notes="POD paper, eq. 13"),
    OpInfo("sc_loss", _ref_e.sc_loss, _bat_e.sc_loss, _pod_samples, ERRORS["sc_loss"], abs_scale=False,
           notes="POD paper, eq. 14-15"),
    OpInfo("pod_loss", _ref_e.pod_loss, _bat_e.pod_loss, _pod_lam_samples, ERRORS["pod_loss"], abs_scale=False,
           notes="POD paper, eq. 16"),
    OpInfo("pedcc_predict", _ref_e.pedcc_predict, _bat_e.pedcc_predict, _predict_samples, ERRORS["pedcc_predict"],
           abs_scale=False, gradcheck=False, notes="POD paper, eq. 17-19, integer labels"),
]
