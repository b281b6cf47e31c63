"""Registry entries (see theory.registry) for the correlation, identity and similarity operations.

One :class:`~theory.registry.OpInfo` per public function of :mod:`theory.reference.correlations`,
:mod:`~theory.reference.identity` and :mod:`~theory.reference.similarity`, paired with its twin in
:mod:`theory.batched`. The samples cover 1-D and 2-D, ``C ∈ {1, 2, 3}``, ``S >= 2``, odd and even and
non-square kernels, every padding form (``'full'``, ``'valid'``, ``'same'``, ``'same_numpy'``, ``int P``,
``(left, right)``, per-axis pairs), ``N`` close to or equal to ``M``, and batch shapes ``()``, ``(3,)``,
``(2, 3)`` with some arguments unbatched (shared) so that broadcasting is exercised. Inputs ``X ~ U(0, 1)``
(like images), kernels ``~ U(-1, 1)`` or normal. Sizes are small: the references are Python loops.
"""

from __future__ import annotations

import functools

from ._errors_conv import ERRORS
from .batched import correlations as _bat_c
from .batched import fast_similarity as _bat_f
from .batched import identity as _bat_i
from .batched import similarity as _bat_s
from .opinfo import OpInfo, Sample
from .reference import correlations as _ref_c
from .reference import identity as _ref_i
from .reference import similarity as _ref_s


def _x(rng, *shape):
    return rng.random(shape)


def _k(rng, *shape):
    return rng.uniform(-1.0, 1.0, shape)


def _kn(rng, *shape):
    return rng.normal(size=shape)


# ---------------------------------------------------------------- correlate / convolve

def _correlate_samples(rng):
    yield Sample((_x(rng, 3, 7), _k(rng, 4), "same"), {"d": 1}, (3,), (0,), "1-D even N, 'same', x batched")
    yield Sample((_x(rng, 6), _kn(rng, 2, 3, 3), "full"), {"d": 1}, (2, 3), (1,), "1-D odd N, 'full', k batched")
    yield Sample((_x(rng, 2, 5), _k(rng, 2, 4), "same_numpy"), {"d": 1}, (2,), (0, 1), "1-D even N, 'same_numpy'")
    yield Sample((_x(rng, 4), _k(rng, 4), "valid"), {"d": 1}, desc="1-D N == M, 'valid'")
    yield Sample((_x(rng, 3, 6), _k(rng, 3, 3), 2), {"d": 1}, (3,), (0, 1), "1-D int P = N-1")
    yield Sample((_x(rng, 5), _kn(rng, 4), (0, 3)), {"d": 1}, desc="1-D (left, right) pair")
    yield Sample((_x(rng, 2, 5, 4), _k(rng, 2, 2, 3), ((1, 0), (2, 1))), {"d": 2}, (2,), (0, 1),
                 "2-D 2x3 kernel, per-axis pairs")
    yield Sample((_x(rng, 4, 5), _k(rng, 3, 1, 3), "same"), {"d": 2}, (3,), (1,), "2-D 1x3 kernel, 'same'")
    yield Sample((_x(rng, 2, 3, 3, 4), _kn(rng, 3, 3), "valid"), {"d": 2}, (2, 3), (0,),
                 "2-D 3x3 kernel, N close to M, 'valid'")
    yield Sample((_x(rng, 4, 4), _k(rng, 2, 2), "same_numpy"), {"d": 2}, desc="2-D even 2x2, 'same_numpy'")


# ---------------------------------------------------------------- lagged correlations

def _lags_samples(rng):
    yield Sample((3,), desc="size_a only")
    yield Sample((3, 5), desc="size_a, size_b")
    yield Sample((4, None, 2), desc="max_lag")
    yield Sample((1,), desc="single lag")


def _crosscorrelation_samples(rng):
    yield Sample((_x(rng, 3, 4), _x(rng, 6), None), {"d": 1}, (3,), (0,), "1-D Na < Nb, every lag")
    yield Sample((_x(rng, 5), _x(rng, 2, 3, 3), 2), {"d": 1}, (2, 3), (1,), "1-D Na > Nb, max_lag")
    yield Sample((_k(rng, 2, 4), _k(rng, 2, 4), 6), {"d": 1}, (2,), (0, 1), "1-D max_lag beyond overlap")
    yield Sample((_x(rng, 2, 3), _x(rng, 4, 2), None), {"d": 2}, desc="2-D non-square, every lag")
    yield Sample((_x(rng, 2, 3, 2), _x(rng, 2, 2, 4), (1, 3)), {"d": 2}, (2,), (0, 1), "2-D per-axis max_lag")
    yield Sample((_kn(rng, 3, 3), _kn(rng, 3, 3), 0), {"d": 2}, desc="2-D lag 0 only")


def _kernel_crosscorrelation_samples(rng):
    yield Sample((_k(rng, 3, 2), _k(rng, 2)), {"d": 1}, (3,), (0,), "1-D N=2, k2 shared")
    yield Sample((_kn(rng, 2, 3, 3), _kn(rng, 2, 3, 3)), {"d": 1}, (2, 3), (0, 1), "1-D N=3")
    yield Sample((_k(rng, 4), _k(rng, 2, 4)), {"d": 1}, (2,), (1,), "1-D N=4, k1 shared")
    yield Sample((_k(rng, 1, 3), _k(rng, 1, 3)), {"d": 2}, desc="2-D 1x3")
    yield Sample((_k(rng, 2, 2, 3), _k(rng, 2, 2, 3)), {"d": 2}, (2,), (0, 1), "2-D 2x3")
    yield Sample((_kn(rng, 3, 3, 3), _kn(rng, 3, 3)), {"d": 2}, (3,), (0,), "2-D 3x3")
    yield Sample((_k(rng, 2, 2), _k(rng, 2, 2)), {"d": 2}, desc="2-D 2x2")


def _autocorrelation_samples(rng):
    yield Sample((_x(rng, 3, 6), 2), {"d": 1}, (3,), (0,), "1-D L=2")
    yield Sample((_x(rng, 5), 5), {"d": 1}, desc="1-D L > M-1")
    yield Sample((_k(rng, 2, 3, 4), 0), {"d": 1}, (2, 3), (0,), "1-D L=0")
    yield Sample((_x(rng, 2, 4, 5), (1, 2)), {"d": 2}, (2,), (0,), "2-D per-axis L")
    yield Sample((_x(rng, 3, 3), 2), {"d": 2}, desc="2-D L = M-1")


def _channel_crosscorrelation_samples(rng):
    yield Sample((_x(rng, 2, 3, 6), 2), {"d": 1}, (2,), (0,), "1-D C=3")
    yield Sample((_x(rng, 1, 5), None), {"d": 1}, desc="1-D C=1, every lag")
    yield Sample((_k(rng, 2, 3, 2, 4), 1), {"d": 1}, (2, 3), (0,), "1-D C=2")
    yield Sample((_x(rng, 2, 3, 4, 4), 1), {"d": 2}, (2,), (0,), "2-D C=3")
    yield Sample((_x(rng, 2, 3, 4), (2, 1)), {"d": 2}, desc="2-D C=2, per-axis L")


def _feature_maps_samples(rng):
    yield Sample((_x(rng, 3, 2, 7), _k(rng, 3, 2, 3), "same"), {"d": 1}, (3,), (0,), "1-D C=2 S=3, weight shared")
    yield Sample((_x(rng, 1, 6), _kn(rng, 2, 3, 2, 1, 4), "same"), {"d": 1}, (2, 3), (1,),
                 "1-D C=1 S=2 even N, x shared")
    yield Sample((_x(rng, 2, 3, 5), _k(rng, 2, 2, 3, 2), (0, 1)), {"d": 1}, (2,), (0, 1), "1-D C=3 pair")
    yield Sample((_x(rng, 2, 4, 5), _k(rng, 3, 2, 2, 3), "full"), {"d": 2}, desc="2-D C=2 S=3 2x3")
    yield Sample((_x(rng, 2, 3, 3, 4), _k(rng, 2, 3, 2, 2), ((0, 1), (1, 0))), {"d": 2}, (2,), (0,),
                 "2-D C=3 S=2 per-axis pairs")
    yield Sample((_x(rng, 3, 1, 4, 4), _kn(rng, 3, 2, 1, 3, 3), "valid"), {"d": 2}, (3,), (0, 1),
                 "2-D C=1 3x3 'valid'")
    yield Sample((_x(rng, 2, 4, 4), _k(rng, 2, 2, 1, 3), 0), {"d": 2}, desc="2-D 1x3 int P=0")


# ---------------------------------------------------------------- identity

def _triplets(rng, with_padding: bool):
    """``(x, k1, k2[, padding])`` samples; the padding list is used only ``with_padding``."""
    cases = [
        # (d, x shape, k1 shape, k2 shape, padding, batch, batched, desc)
        (1, (3, 1, 7), (3, 1, 3), (1, 3), "same", (3,), (0, 1), "1-D C=1 N=3"),
        (1, (2, 6), (2, 3, 2, 4), (2, 3, 2, 4), "same", (2, 3), (1, 2), "1-D C=2 even N=4, x shared"),
        (1, (2, 3, 5), (3, 4), (2, 3, 4), "valid", (2,), (0, 2), "1-D C=3 N close to M"),
        (1, (1, 4), (1, 4), (1, 4), 2, (), (), "1-D N == M, int P"),
        (2, (2, 1, 4, 5), (2, 1, 2, 3), (1, 2, 3), "same_numpy", (2,), (0, 1), "2-D C=1 2x3"),
        (2, (2, 4, 4), (2, 2, 1, 3), (2, 2, 1, 3), ((0, 0), (2, 1)), (2,), (1, 2), "2-D C=2 1x3 per-axis"),
        (2, (3, 3, 4), (3, 2, 2), (3, 2, 2), "full", (), (), "2-D C=3 2x2"),
        (2, (2, 2, 3, 3), (2, 3, 3), (2, 3, 3), (1, 2), (2,), (0,), "2-D C=2 3x3, N == M, pair"),
    ]
    for d, xs, k1s, k2s, padding, batch, batched, desc in cases:
        args = (_x(rng, *xs), _k(rng, *k1s), _kn(rng, *k2s))
        yield Sample(args + ((padding,) if with_padding else ()), {"d": d}, batch, batched,
                     desc + (f", padding {padding!r}" if with_padding else ""))


def _padded_triplet_samples(rng):
    yield from _triplets(rng, True)


def _triplet_samples(rng):
    yield from _triplets(rng, False)


# ---------------------------------------------------------------- similarity

def _kernel_pair_samples(rng):
    yield Sample((_k(rng, 3, 1, 2), _k(rng, 1, 2)), {"d": 1}, (3,), (0,), "1-D C=1 N=2, k2 shared")
    yield Sample((_kn(rng, 2, 3, 2, 3), _kn(rng, 2, 3, 2, 3)), {"d": 1}, (2, 3), (0, 1), "1-D C=2 N=3")
    yield Sample((_k(rng, 3, 4), _k(rng, 2, 3, 4)), {"d": 1}, (2,), (1,), "1-D C=3 N=4, k1 shared")
    yield Sample((_k(rng, 2, 1, 3), _k(rng, 2, 1, 3)), {"d": 2}, desc="2-D C=2 1x3")
    yield Sample((_k(rng, 2, 1, 2, 3), _k(rng, 2, 1, 2, 3)), {"d": 2}, (2,), (0, 1), "2-D C=1 2x3")
    yield Sample((_kn(rng, 3, 2, 3, 3), _kn(rng, 2, 3, 3)), {"d": 2}, (3,), (0,), "2-D C=2 3x3")
    yield Sample((_k(rng, 3, 2, 2), _k(rng, 3, 2, 2)), {"d": 2}, desc="2-D C=3 2x2")


def _fft_samples(rng):
    yield from _kernel_pair_samples(rng)
    yield Sample((_k(rng, 2, 2, 3), _k(rng, 2, 2, 3)), {"d": 1, "size": 8}, (2,), (0, 1), "1-D size 8 > 2N-1")
    yield Sample((_k(rng, 2, 2, 3), _kn(rng, 2, 2, 3)), {"d": 2, "size": (3, 6)}, desc="2-D per-axis size")


def _weight_samples(rng):
    yield Sample((_k(rng, 3, 2, 1, 3),), {"d": 1}, (3,), (0,), "1-D S=2 C=1 N=3")
    yield Sample((_kn(rng, 3, 2, 4),), {"d": 1}, desc="1-D S=3 C=2 N=4")
    yield Sample((_k(rng, 2, 3, 2, 3, 2),), {"d": 1}, (2, 3), (0,), "1-D S=2 C=3 N=2")
    yield Sample((_k(rng, 1, 2, 3),), {"d": 1}, desc="1-D S=1 (no pairs)")
    yield Sample((_k(rng, 2, 3, 1, 1, 3),), {"d": 2}, (2,), (0,), "2-D S=3 C=1 1x3")
    yield Sample((_kn(rng, 2, 2, 2, 3),), {"d": 2}, desc="2-D S=2 C=2 2x3")
    yield Sample((_k(rng, 2, 2, 3, 3, 3),), {"d": 2}, (2,), (0,), "2-D S=2 C=3 3x3")


# ---------------------------------------------------------------- the entries

def _op(name, ref_mod, bat_mod, sample_inputs, **kw) -> OpInfo:
    return OpInfo(name=name, reference=getattr(ref_mod, name), twin=getattr(bat_mod, name),
                  sample_inputs=sample_inputs, error_inputs=ERRORS[name], **kw)


OPS: list[OpInfo] = [
    _op("correlate", _ref_c, _bat_c, _correlate_samples, notes="CS paper, eq. 1b, 12-13"),
    _op("convolve", _ref_c, _bat_c, _correlate_samples, notes="CS paper, eq. 1a"),
    _op("crosscorrelation", _ref_c, _bat_c, _crosscorrelation_samples, notes="(a ⋆ b)[n] = Σ a[m] b[m+n]"),
    _op("kernel_crosscorrelation", _ref_c, _bat_c, _kernel_crosscorrelation_samples, notes="CS paper, eq. 3, 6"),
    _op("autocorrelation", _ref_c, _bat_c, _autocorrelation_samples, notes="CS paper, eq. 3"),
    _op("channel_crosscorrelation", _ref_c, _bat_c, _channel_crosscorrelation_samples),
    _op("feature_maps", _ref_c, _bat_c, _feature_maps_samples, notes="Conv2d without bias"),
    _op("lags", _ref_c, _bat_c, _lags_samples, abs_scale=False, gradcheck=False, factory=("device",),
        notes="integer lags"),
    _op("feature_inner_product", _ref_i, _bat_i, _padded_triplet_samples, notes="CS paper, eq. 14"),
    _op("correlation_terms", _ref_i, _bat_i, _triplet_samples, notes="CS paper, eq. 3, C x C"),
    _op("edge_terms", _ref_i, _bat_i, _padded_triplet_samples, notes="CS paper, eq. 17-18"),
    _op("identity_inner_product", _ref_i, _bat_i, _padded_triplet_samples, notes="CS paper, eq. 19"),
    _op("lag_decomposition", _ref_i, _bat_i, _triplet_samples, notes="CS paper, eq. 11"),
    _op("kernel_inner_product", _ref_s, _bat_s, _kernel_pair_samples),
    _op("kernel_cosine", _ref_s, _bat_s, _kernel_pair_samples, abs_scale=False,
        notes="bounded by 1: absolute tolerance"),
    _op("crosscorrelation_energy", _ref_s, _bat_s, _kernel_pair_samples, notes="CS paper, eq. 8, 10"),
    _op("crosscorrelation_energy_fft", _ref_s, _bat_s, _fft_samples, notes="Parseval"),
    _op("conv_similarity_matrix", _ref_s, _bat_s, _weight_samples, notes="CS paper, eq. 9"),
    _op("conv_similarity", _ref_s, _bat_s, _weight_samples, notes="CS paper, eq. 10"),
    _op("kernel_autocorrelation_sum", _ref_s, _bat_s, _weight_samples, notes="a_i = Σ_c K_i[c] ⋆ K_i[c]"),
    _op("conv_similarity_normalized", _ref_s, _bat_s, _weight_samples, notes="kernels normalised first"),
    *(OpInfo(name=f"conv_similarity_fast[{m}]", reference=_ref_s.conv_similarity,
             twin=functools.partial(_bat_f.conv_similarity_fast, method=m), sample_inputs=_weight_samples,
             error_inputs=ERRORS["conv_similarity_fast"],
             notes="CS paper, eq. 10 in O(S·C): ½(||Σ a_i||² - Σ ||a_i||²)")
      for m in _bat_f.CS_METHODS),
]
