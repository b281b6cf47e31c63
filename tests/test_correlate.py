"""The NumPy references agree with scipy.signal and torch for every padding form, even kernels included;
the padding forms resolve to the documented (left, right) pairs."""

import numpy as np
import pytest
import scipy.signal as ss
import torch
import torch.nn.functional as tF
from hypothesis import given
from hypothesis import strategies as st

from theory import reference as R
from theory.padding import resolve_padding
from tests.strategies import UNIT, float_arrays, input_shapes, kernel_shapes, paddings, spatial_ranks


def _torch_correlate(x, k, pads):
    """torch conv1d/conv2d with explicit (left, right) pads: an independent route."""
    flat = [p for pair in reversed(pads) for p in pair]   # F.pad wants the last axis first
    xt = tF.pad(torch.as_tensor(x)[None, None], flat)
    conv = tF.conv1d if x.ndim == 1 else tF.conv2d
    return conv(xt, torch.as_tensor(k)[None, None])[0, 0].numpy()


@given(st.data())
def test_correlate_matches_torch_for_every_padding(data):
    d = data.draw(spatial_ranks(), label="d")
    kshape = data.draw(kernel_shapes(d), label="kernel shape")
    ishape = data.draw(input_shapes(kshape), label="input shape")
    x, k = data.draw(float_arrays(ishape, UNIT), label="x"), data.draw(float_arrays(kshape), label="k")
    pad = data.draw(paddings(kshape, ishape), label="padding")
    got = R.correlate(x, k, pad, d=d)
    want = _torch_correlate(x, k, resolve_padding(pad, kshape))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"padding={pad!r}")


@given(st.data())
def test_correlate_1d_matches_scipy_modes(data):
    kshape = data.draw(kernel_shapes(1, max_n=6), label="kernel shape")
    ishape = data.draw(input_shapes(kshape), label="input shape")
    x, k = data.draw(float_arrays(ishape, UNIT), label="x"), data.draw(float_arrays(kshape), label="k")
    for ours, theirs in (("full", "full"), ("valid", "valid"), ("same_numpy", "same")):
        np.testing.assert_allclose(R.correlate(x, k, ours, d=1), ss.correlate(x, k, theirs),
                                   rtol=1e-12, atol=1e-12, err_msg=ours)
        np.testing.assert_allclose(R.correlate(x, k, ours, d=1), np.correlate(x, k, theirs),
                                   rtol=1e-12, atol=1e-12, err_msg=ours)
        np.testing.assert_allclose(R.convolve(x, k, ours, d=1), ss.convolve(x, k, theirs),
                                   rtol=1e-12, atol=1e-12, err_msg=ours)


@given(st.data())
def test_correlate_2d_matches_scipy_modes(data):
    kshape = data.draw(kernel_shapes(2, max_n=4), label="kernel shape")
    ishape = data.draw(input_shapes(kshape), label="input shape")
    x, k = data.draw(float_arrays(ishape, UNIT), label="x"), data.draw(float_arrays(kshape), label="k")
    # scipy.signal.correlate2d centres 'same' as torch does (our 'same'); scipy.signal.correlate as numpy.
    for ours, fn, theirs in (("full", ss.correlate2d, "full"), ("valid", ss.correlate2d, "valid"),
                             ("same", ss.correlate2d, "same"), ("same_numpy", ss.correlate, "same"),
                             ("full", ss.correlate, "full")):
        np.testing.assert_allclose(R.correlate(x, k, ours, d=2), fn(x, k, theirs),
                                   rtol=1e-12, atol=1e-12, err_msg=f"{ours} vs {fn.__name__} {theirs}")
    np.testing.assert_allclose(R.convolve(x, k, "full", d=2), ss.convolve2d(x, k, "full"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_same_is_torch_centring(n):
    rng = np.random.default_rng(n)
    x, k = rng.uniform(0, 1, 9), rng.uniform(-1, 1, n)
    want = tF.conv1d(torch.as_tensor(x)[None, None], torch.as_tensor(k)[None, None], padding="same")[0, 0]
    np.testing.assert_allclose(R.correlate(x, k, "same", d=1), want.numpy(), rtol=1e-12, atol=1e-12)
    # For even N the two centrings differ by one sample.
    differs = not np.allclose(R.correlate(x, k, "same", d=1), R.correlate(x, k, "same_numpy", d=1))
    assert differs == (n % 2 == 0)


@given(st.data())
def test_paper_eq_1b_index_formula(data):
    """Eq. 1b literally: (X ⋆ K)[i] = Σ_n K[n]·X[i+n-N+1], X zero outside [0, M-1]."""
    kshape = data.draw(kernel_shapes(1, max_n=6), label="kernel shape")
    ishape = data.draw(input_shapes(kshape, allow_smaller=True), label="input shape")
    x, k = data.draw(float_arrays(ishape, UNIT), label="x"), data.draw(float_arrays(kshape), label="k")
    m, n = len(x), len(k)
    xv = lambda j: x[j] if 0 <= j < m else 0.0  # noqa: E731
    want = [sum(k[t] * xv(i + t - n + 1) for t in range(n)) for i in range(m + n - 1)]
    np.testing.assert_allclose(R.correlate(x, k, "full", d=1), want, rtol=1e-12, atol=1e-12)
    for p in range(n):
        lo, hi = n - 1 - p, m - 1 + p   # CS eq. 12-14: i ∈ [N-1-P, M-1+P]
        if hi >= lo:
            np.testing.assert_allclose(R.correlate(x, k, p, d=1), want[lo:hi + 1], rtol=1e-12, atol=1e-12)


@given(st.data())
def test_lagged_correlation_convention(data):
    """(a ⋆ b)[n] = Σ_m a[m]·b[m+n]; equals scipy.signal.correlate(b, a, 'full'); swapping reverses lags."""
    d = data.draw(spatial_ranks(), label="d")
    ka, kb = data.draw(kernel_shapes(d), label="a shape"), data.draw(kernel_shapes(d), label="b shape")
    a, b = data.draw(float_arrays(ka), label="a"), data.draw(float_arrays(kb), label="b")
    got = R.crosscorrelation(a, b, d=d)
    np.testing.assert_allclose(got, ss.correlate(b, a, "full"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(R.crosscorrelation(b, a, d=d), np.flip(got), rtol=1e-12, atol=1e-12)
    # Clipping to [-L, L] keeps the central lags and pads with zeros beyond the support.
    L = data.draw(st.integers(0, max(ka + kb)), label="max_lag")
    clipped = R.crosscorrelation(a, b, L, d=d)
    full = np.zeros(tuple(2 * L + 1 + 2 * (na + nb) for na, nb in zip(ka, kb)))
    off = tuple(L + na + nb for na, nb in zip(ka, kb))
    full[tuple(slice(o - (na - 1), o + nb) for o, na, nb in zip(off, ka, kb))] = got
    np.testing.assert_allclose(clipped, full[tuple(slice(o - L, o + L + 1) for o in off)], atol=1e-14)


def test_kernel_crosscorrelation_lag_zero_is_inner_product():
    rng = np.random.default_rng(0)
    k1, k2 = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    kk = R.kernel_crosscorrelation(k1, k2, d=2)
    assert kk.shape == (5, 3)
    assert kk[2, 1] == pytest.approx(np.sum(k1 * k2), rel=1e-14)


@given(st.data())
def test_feature_maps_sum_over_channels(data):
    d = data.draw(spatial_ranks(), label="d")
    c, s = data.draw(st.integers(1, 3), label="C"), data.draw(st.integers(1, 3), label="S")
    kshape = data.draw(kernel_shapes(d, max_n=3), label="kernel shape")
    ishape = data.draw(input_shapes(kshape, extra=3), label="input shape")
    x = data.draw(float_arrays((c, *ishape), UNIT), label="x")
    w = data.draw(float_arrays((s, c, *kshape)), label="weight")
    pad = data.draw(paddings(kshape, ishape), label="padding")
    got = R.feature_maps(x, w, pad, d=d)
    pads = resolve_padding(pad, kshape)
    flat = [p for pair in reversed(pads) for p in pair]
    conv = tF.conv1d if d == 1 else tF.conv2d
    want = conv(tF.pad(torch.as_tensor(x)[None], flat), torch.as_tensor(w))[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding, kernel_shape, want", [
    ("full", (3,), ((2, 2),)),
    ("valid", (3,), ((0, 0),)),
    ("same", (4,), ((1, 2),)),          # torch / TF centring
    ("same_numpy", (4,), ((2, 1),)),    # np.correlate / scipy.signal.correlate centring
    ("same", (3,), ((1, 1),)),
    (2, (3, 4), ((2, 2), (2, 2))),
    ((0, 1), (3,), ((0, 1),)),
    (((0, 1), (2, 3)), (3, 4), ((0, 1), (2, 3))),
])
def test_resolve_padding(padding, kernel_shape, want):
    assert resolve_padding(padding, kernel_shape) == want


def test_full_padding_allows_a_kernel_longer_than_the_input():
    """Only the paddings that leave no output are errors (see the registry's error inputs): full is fine."""
    assert R.correlate(np.ones(2), np.ones(4), "full", d=1).shape == (5,)
