"""Registry entries (see theory.registry) for the kernel-orthogonality baselines and DeCov.

One :class:`~theory.opinfo.OpInfo` per public function of :mod:`theory.reference.orthogonality`, paired
with its twin in :mod:`theory.batched`. Weight samples cover 1-D and 2-D, ``S ∈ {1, ..., 5}``,
``C ∈ {1, 2, 3}``, odd, even and non-square kernels (1×3, 2×3, 3×2), ``S > F`` (more filters than
fan-in), orthonormal filters, nearly parallel and anti-parallel filters, and batch shapes ``()``,
``(2,)``, ``(2, 3)``. OCNN samples cover strides 1, 2, 3, per-axis strides and ``s >= k`` (lag 0
only). DeCov samples cover ``d ∈ {0, 1, 2}``, ``b = 2``, offsets and decorrelated activations.

Tolerances: soft orthogonality and OCNN are sums of squares of sums of products, so the bound scales
with the reference on ``|weight|`` (``abs_scale``; every Gram entry only grows in magnitude and the
diagonal ones are unchanged, so that value bounds the terms). Cosines, OrthoReg and DeCov are compared
with absolute tolerances (cosines are bounded by 1; DeCov is computed on centred values, for which
``|h|`` gives no bound).
"""

from __future__ import annotations

import numpy as np

from .batched import orthogonality as _bat
from ._errors_orthogonality import ERRORS
from .opinfo import OpInfo, Sample
from .reference import orthogonality as _ref


def _k(rng, *shape):
    return rng.uniform(-1.0, 1.0, shape)


def _kn(rng, *shape):
    return rng.normal(size=shape)


def _orthonormal(rng, s, c, *kernel):
    """``(S, C, *kernel)`` whose flattened filters are orthonormal rows (``S <= C·prod(kernel)``)."""
    f = c * int(np.prod(kernel))
    q, _ = np.linalg.qr(rng.normal(size=(f, s)))
    return q.T.reshape(s, c, *kernel)


def _near_parallel(rng, s, c, *kernel, sign=1.0):
    """Filters ``±(base + small noise)``: cosines close to +1 (``sign=1``) or alternating ±1."""
    base = rng.normal(size=(c, *kernel))
    signs = np.array([1.0 if (i % 2 == 0 or sign > 0) else -1.0 for i in range(s)])
    return signs.reshape(-1, *(1,) * (len(kernel) + 1)) * (base + 0.05 * rng.normal(size=(s, c, *kernel)))


def _weight_samples(rng):
    yield Sample((_k(rng, 3, 2, 1, 3),), {"d": 1}, (3,), (0,), "1-D S=2 C=1 N=3")
    yield Sample((_kn(rng, 3, 2, 4),), {"d": 1}, desc="1-D S=3 C=2 N=4")
    yield Sample((_k(rng, 2, 3, 4, 2, 2),), {"d": 1}, (2, 3), (0,), "1-D S=4 C=2 N=2")
    yield Sample((_k(rng, 1, 2, 3),), {"d": 1}, desc="1-D S=1 (no pairs)")
    yield Sample((_k(rng, 2, 3, 1, 1, 3),), {"d": 2}, (2,), (0,), "2-D S=3 C=1 1x3")
    yield Sample((_kn(rng, 2, 2, 2, 3),), {"d": 2}, desc="2-D S=2 C=2 2x3")
    yield Sample((_k(rng, 2, 5, 3, 3, 2),), {"d": 2}, (2,), (0,), "2-D S=5 C=3 3x2")
    yield Sample((_k(rng, 5, 1, 2),), {"d": 1}, desc="1-D S=5 > F=2")
    yield Sample((_orthonormal(rng, 3, 2, 2, 2),), {"d": 2}, desc="2-D orthonormal filters S=3 C=2 2x2")
    yield Sample((_near_parallel(rng, 4, 2, 3),), {"d": 1}, desc="1-D nearly parallel filters")
    yield Sample((_near_parallel(rng, 3, 2, 2, 2, sign=-1.0),), {"d": 2}, desc="2-D nearly anti-parallel filters")


def _ocnn_samples(rng):
    for s in _weight_samples(rng):
        yield Sample(s.args + (1,), s.kwargs, s.batch, s.batched, s.desc + ", stride 1")
    yield Sample((_kn(rng, 2, 3, 2, 5), 2), {"d": 1}, (2,), (0,), "1-D N=5 stride 2 (P=4: lags -4, -2, 0, 2, 4)")
    yield Sample((_k(rng, 3, 2, 4), 3), {"d": 1}, desc="1-D N=4 stride 3 (P=3)")
    yield Sample((_k(rng, 3, 2, 3), 3), {"d": 1}, desc="1-D N=3 stride 3 >= N (lag 0 only)")
    yield Sample((_k(rng, 2, 3, 2, 3, 3), 2), {"d": 2}, (2,), (0,), "2-D 3x3 stride 2")
    yield Sample((_kn(rng, 2, 3, 2, 1, 3, 2), (1, 2)), {"d": 2}, (2, 3), (0,), "2-D S=2 C=1 3x2 per-axis stride (1, 2)")
    yield Sample((_k(rng, 3, 2, 1, 3), (2, 1)), {"d": 2}, desc="2-D 1x3 stride (2, 1)")
    yield Sample((_orthonormal(rng, 2, 1, 1, 2), 2), {"d": 2}, desc="2-D Haar-like orthonormal 1x2 stride 2")


def _orthoreg_samples(rng):
    lams = (10.0, 10.0, 1.0, 25.0, 10.0, 3.0, 10.0, 10.0, 10.0, 50.0, 10.0)
    for i, (s, lam) in enumerate(zip(_weight_samples(rng), lams)):
        both = i % 3 == 1 or "anti-parallel" in s.desc
        yield Sample(s.args + (lam,), {**s.kwargs, "both_signs": both}, s.batch, s.batched,
                     f"{s.desc}, λ = {lam}, both_signs={both}")


def _with_diagonal_covariance(rng, b, *unit_shape):
    """Activations whose ``1/b`` batch covariance is diagonal (needs ``D <= b-1``), plus offsets."""
    dim = int(np.prod(unit_shape))
    a = rng.normal(size=(b, dim))
    q, _ = np.linalg.qr(a - a.mean(axis=0))       # centred, orthogonal columns
    h = q * rng.uniform(0.5, 3.0, size=dim) + rng.normal(size=dim)
    return h.reshape(b, *unit_shape)


def _decov_samples(rng):
    yield Sample((_kn(rng, 6, 4),), {"d": 0}, desc="d=0 (b, D) = (6, 4)")
    yield Sample((_kn(rng, 2, 2, 3),), {"d": 0}, (2,), (0,), "d=0 b=2 (smallest batch)")
    yield Sample((np.maximum(_kn(rng, 2, 3, 5, 2, 3), 0.0),), {"d": 1}, (2, 3), (0,), "d=1 ReLU maps b=5 C=2")
    yield Sample((_kn(rng, 3, 4, 3, 2) + 5.0,), {"d": 1}, (3,), (0,), "d=1 offset 5")
    yield Sample((_k(rng, 4, 2, 2, 3),), {"d": 2}, desc="d=2 b=4 C=2 2x3")
    yield Sample((_kn(rng, 2, 3, 1, 2, 2),), {"d": 2}, (2,), (0,), "d=2 b=3 C=1 2x2")
    yield Sample((_with_diagonal_covariance(rng, 7, 5),), {"d": 0}, desc="d=0 decorrelated units")
    yield Sample((_kn(rng, 4, 1),), {"d": 0}, desc="d=0 D=1 (no pairs)")


def _pair_weight_samples(rng):
    yield Sample((np.linspace(-1.0, 1.0, 9),), {}, desc="C on [-1, 1], λ = 10 (the paper's)")
    yield Sample((rng.uniform(-1, 1, size=(3, 4)), 3.0), {}, (3,), (0,), "λ = 3")
    yield Sample((rng.uniform(0.9, 1.0, size=(2, 5)), 1.0), {}, (2,), (0,), "C near 1, λ = 1")


OPS: list[OpInfo] = [
    OpInfo("kernel_cosine_matrix", _ref.kernel_cosine_matrix, _bat.kernel_cosine_matrix, _weight_samples,
           ERRORS["kernel_cosine_matrix"], abs_scale=False,
           notes="CS paper, Table 1 kernel similarity; bounded by 1: absolute tolerance"),
    OpInfo("soft_orthogonality", _ref.soft_orthogonality, _bat.soft_orthogonality, _weight_samples,
           ERRORS["soft_orthogonality"], notes="Bansal et al. 2018 SO: ||W Wᵀ - I||²_F"),
    OpInfo("ocnn_orthogonality", _ref.ocnn_orthogonality, _bat.ocnn_orthogonality, _ocnn_samples,
           ERRORS["ocnn_orthogonality"], notes="Wang et al. 2020: ||Conv(K, K, padding=P, stride=s) - I_r0||²_F"),
    OpInfo("orthoreg", _ref.orthoreg, _bat.orthoreg, _orthoreg_samples, ERRORS["orthoreg"], abs_scale=False,
           notes="Rodríguez et al. 2017: Σ_{i≠j} log(1 + e^{λ(C_ij - 1)})"),
    OpInfo("orthoreg_pair_weight", _ref.orthoreg_pair_weight, _bat.orthoreg_pair_weight, _pair_weight_samples,
           ERRORS["orthoreg_pair_weight"], abs_scale=False,
           notes="Rodríguez et al. 2017: g(C) = λe^{λC}/(e^{λC} + e^λ), OrthoReg's per-pair update weight"),
    OpInfo("decov", _ref.decov, _bat.decov, _decov_samples, ERRORS["decov"], abs_scale=False,
           notes="Cogswell et al. 2016: ½(||C||²_F - ||diag C||²)"),
]
