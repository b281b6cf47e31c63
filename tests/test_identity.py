"""CS paper eq. 3, 11, 17-19 proved property-wise on the NumPy references (float64).

Tolerances are relative to Σ|terms| — the same sums on |X|, |K1|, |K2| — not to the result, which may
be near zero by cancellation.
"""

import numpy as np
from hypothesis import given, note
from hypothesis import strategies as st

from theory import reference as R
from tests.strategies import UNIT, conv_cases, float_arrays, input_shapes, kernel_shapes, paddings, spatial_ranks

EPS = 1e-12
FLOOR = 1e-300   # products of subnormals: round-off floor independent of the scale


def _abs_scale(x, k1, k2, d):
    return R.feature_inner_product(np.abs(x), np.abs(k1), np.abs(k2), "full", d=d)


@given(st.data())
def test_full_padding_identity_is_exact(data):
    """<F1, F2> = Σ_{c1,c2} <K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N,N-1]}> (eq. 3), any M, N, d, C."""
    d, x, k1, k2 = data.draw(conv_cases(), label="case")
    direct = R.feature_inner_product(x, k1, k2, "full", d=d)
    via = float(np.sum(R.correlation_terms(x, k1, k2, d=d)))
    note(f"direct={direct!r} identity={via!r}")
    assert abs(direct - via) <= EPS * _abs_scale(x, k1, k2, d) + FLOOR
    assert R.edge_terms(x, k1, k2, "full", d=d) == (0.0, 0.0)


@given(st.data())
def test_full_identity_when_kernel_is_longer_than_input(data):
    """Full padding needs no M >= N: the identity still holds when the kernel outgrows the input."""
    d = data.draw(spatial_ranks(), label="d")
    kshape = data.draw(kernel_shapes(d, max_n=6), label="kernel shape")
    ishape = data.draw(input_shapes(kshape, extra=0, allow_smaller=True), label="input shape")
    x = data.draw(float_arrays((1, *ishape), UNIT), label="x")
    k1, k2 = data.draw(float_arrays((1, *kshape)), label="k1"), data.draw(float_arrays((1, *kshape)), label="k2")
    direct = R.feature_inner_product(x, k1, k2, "full", d=d)
    assert abs(direct - R.identity_inner_product(x, k1, k2, "full", d=d)) <= EPS * _abs_scale(x, k1, k2, d) + FLOOR


@given(st.data())
def test_general_padding_identity_with_edge_terms(data):
    """<F1, F2>_P = <K1 ⋆ K2, (X ⋆ X)_{[1-N,N-1]}> - A - B for every padding (eq. 19)."""
    d, x, k1, k2 = data.draw(conv_cases(), label="case")
    pad = data.draw(paddings(k1.shape[1:], x.shape[1:]), label="padding")
    direct = R.feature_inner_product(x, k1, k2, pad, d=d)
    a, b = R.edge_terms(x, k1, k2, pad, d=d)
    full = float(np.sum(R.correlation_terms(x, k1, k2, d=d)))
    scale = _abs_scale(x, k1, k2, d)
    note(f"direct={direct!r} full={full!r} A={a!r} B={b!r}")
    assert abs(direct - (full - a - b)) <= EPS * scale + FLOOR
    assert abs(direct - R.identity_inner_product(x, k1, k2, pad, d=d)) <= EPS * scale + FLOOR


def _eq17_18_literal(x, k1, k2, p):
    """A and B transcribed from CS eq. 17-18 (1-D, one channel, symmetric padding P)."""
    m, n = len(x), len(k1)
    xv = lambda j: x[j] if 0 <= j < m else 0.0  # noqa: E731
    a = sum(k1[n1] * k2[n2] * sum(xv(i + n2 - n1) * xv(i) for i in range(n1 + 1 - n, n1 - p))
            for n1 in range(n) for n2 in range(n))
    b = sum(k1[n1] * k2[n2] * sum(xv(i + n2 - n1) * xv(i) for i in range(m - n + p + n1 + 1, m + n1))
            for n1 in range(n) for n2 in range(n))
    return a, b


@given(st.data())
def test_edge_terms_equal_paper_eq_17_18(data):
    kshape = data.draw(kernel_shapes(1, max_n=6), label="kernel shape")
    ishape = data.draw(input_shapes(kshape, extra=6), label="input shape")
    x = data.draw(float_arrays(ishape, UNIT), label="x")
    k1, k2 = data.draw(float_arrays(kshape), label="k1"), data.draw(float_arrays(kshape), label="k2")
    p = data.draw(st.integers(0, kshape[0] - 1), label="P")
    a, b = R.edge_terms(x[None], k1[None], k2[None], p, d=1)
    a_lit, b_lit = _eq17_18_literal(x, k1, k2, p)
    scale = _abs_scale(x[None], k1[None], k2[None], 1)
    assert abs(a - a_lit) <= EPS * scale + FLOOR and abs(b - b_lit) <= EPS * scale + FLOOR


def test_documented_example_same_valid_full():
    """M=9, N=3: the three paddings give different <F1, F2>; only full matches eq. 3."""
    rng = np.random.default_rng(1)
    x, k1, k2 = rng.uniform(0, 1, (1, 9)), rng.uniform(-1, 1, (1, 3)), rng.uniform(-1, 1, (1, 3))
    eq3 = float(np.sum(R.correlation_terms(x, k1, k2, d=1)))
    vals = {p: R.feature_inner_product(x, k1, k2, p, d=1) for p in ("valid", "same", "full")}
    assert abs(vals["full"] - eq3) < 1e-13
    assert abs(vals["valid"] - eq3) > 1e-6 and abs(vals["same"] - eq3) > 1e-6


@given(st.data())
def test_zero_lag_decomposition_eq_11(data):
    """<F1,F2> = Σ R[c1,c2][0]<K1[c1],K2[c2]> + non-zero lags; for C = 1 the first is ||X||²<K1,K2>."""
    d, x, k1, k2 = data.draw(conv_cases(), label="case")
    zero, rest = R.lag_decomposition(x, k1, k2, d=d)
    scale = _abs_scale(x, k1, k2, d)
    assert abs(zero + rest - R.feature_inner_product(x, k1, k2, "full", d=d)) <= EPS * scale + FLOOR
    if x.shape[0] == 1:
        assert abs(zero - np.sum(x * x) * np.sum(k1 * k2)) <= EPS * scale + FLOOR


def test_orthogonal_kernels_do_not_give_orthogonal_feature_maps():
    """Eq. 11's point: <K1, K2> = 0 leaves the non-zero-lag part, generically non-zero."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (1, 64))
    k1 = rng.uniform(-1, 1, (1, 5))
    k2 = rng.uniform(-1, 1, (1, 5))
    k2 -= np.sum(k1 * k2) / np.sum(k1 * k1) * k1          # Gram-Schmidt: <K1, K2> = 0
    zero, rest = R.lag_decomposition(x, k1, k2, d=1)
    assert abs(zero) < 1e-12
    assert abs(R.feature_inner_product(x, k1, k2, "full", d=1)) > 1e-3


@given(st.data())
def test_channel_crosscorrelation_symmetry(data):
    """R[c2, c1][n] = R[c1, c2][-n]: cross-channel terms are not symmetric in lag, but mirror."""
    d, x, _, _ = data.draw(conv_cases(), label="case")
    L = data.draw(st.integers(0, 4), label="max_lag")
    r = R.channel_crosscorrelation(x, L, d=d)
    flip_axes = tuple(range(2, 2 + d))
    np.testing.assert_allclose(r.swapaxes(0, 1), np.flip(r, axis=flip_axes), rtol=0, atol=1e-12 * (1 + np.abs(r).max()))
    for c in range(x.shape[0]):
        np.testing.assert_allclose(r[c, c], R.autocorrelation(x[c], L, d=d), atol=1e-13)
