"""Kernel-orthogonality baselines and DeCov (theory.reference.orthogonality) and the CS paper's claim.

Properties of soft orthogonality (Bansal et al. 2018), OCNN (Wang et al. 2020), OrthoReg (Rodríguez et
al. 2017) and DeCov (Cogswell et al. 2016), each checked against a formula written independently here;
pinned orthogonal-convolution examples; the central point of the CS paper (eq. 11): kernels that are
exactly orthogonal as vectors whose full-padding feature maps on U(0, 1) inputs are not. Bad inputs are
the registry's error inputs (tests/test_errors.py).
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

import theory.batched as B
from theory import reference as R
from theory.batched import orthogonality as BO
from theory.reference import orthogonality as RO
from theory.reference import variants as RV
from theory.registry import REGISTRY
from tests.strategies import (FLOATS, activations, float_arrays, kernel_pairs_with_cosine, kernel_shapes,
                              orthonormal_rows, spatial_ranks, weights)


def _weight(data, **kw):
    return data.draw(weights(**kw), label="(d, weight)")


def _nonzero_kernels(w):
    """Every kernel is non-zero with a representable norm: only an exactly zero kernel is a zero kernel (the
    functions scale each kernel by a power of two first), but the independent formulas of these tests use
    unscaled norms, whose squares must not underflow."""
    return all(np.linalg.norm(k) > 1e-100 for k in w)


def _sum_sq_gram(f, side="rows"):
    g = f @ f.T if side == "rows" else f.T @ f
    return float(np.sum((g - np.eye(g.shape[0])) ** 2))


# ---------------------------------------------------------------- kernel cosines (CS Table 1)

@given(st.data())
def test_kernel_cosine_matrix_entries_are_pairwise_cosines(data):
    d, w = _weight(data)
    assume(_nonzero_kernels(w))
    c = R.kernel_cosine_matrix(w, d=d)
    s = w.shape[0]
    assert c.shape == (s, s)
    np.testing.assert_allclose(c, c.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(c), 1.0, rtol=0, atol=1e-14)
    for i in range(s):
        for j in range(s):
            assert c[i, j] == pytest.approx(R.kernel_cosine(w[i], w[j], d=d), rel=1e-13, abs=1e-15)
            # CS Table 1's objective <K_i, K_j>² is kernel_inner_product squared: C_ij·||K_i||·||K_j||, squared.
            ip = R.kernel_inner_product(w[i], w[j], d=d)
            scale = np.linalg.norm(w[i]) * np.linalg.norm(w[j])
            assert ip ** 2 == pytest.approx((c[i, j] * scale) ** 2, rel=1e-12, abs=1e-14 * scale ** 2)


# ---------------------------------------------------------------- soft orthogonality

@given(st.data())
def test_soft_orthogonality_is_zero_for_orthonormal_rows(data):
    d = data.draw(spatial_ranks(), label="d")
    c = data.draw(st.integers(1, 3), label="C")
    kshape = data.draw(kernel_shapes(d, 3), label="kernel shape")
    f = c * int(np.prod(kshape))
    s = data.draw(st.integers(1, min(f, 6)), label="S")
    w = data.draw(orthonormal_rows(s, f), label="orthonormal rows").reshape(s, c, *kshape)
    assert R.soft_orthogonality(w, d=d) <= 1e-26 * s * s
    np.testing.assert_allclose(R.kernel_cosine_matrix(w, d=d), np.eye(s), rtol=0, atol=1e-13)


@given(st.data())
def test_soft_orthogonality_is_a_squared_gram_residual(data):
    """>= 0; equals ||W Wᵀ - I||² written with matmul; the WᵀW variant differs by the constant F - S."""
    d, w = _weight(data, max_s=6)
    f = w.reshape(w.shape[0], -1)
    s, n = f.shape
    got = R.soft_orthogonality(w, d=d)
    assert got >= 0.0
    scale = _sum_sq_gram(np.abs(f)) + s + n
    assert abs(got - _sum_sq_gram(f)) <= 1e-12 * scale
    assert abs(_sum_sq_gram(f, "cols") - (got + n - s)) <= 1e-12 * scale


def test_soft_orthogonality_with_more_filters_than_fan_in_cannot_reach_zero():
    """S > F: at least S - F (eigenvalues of W Wᵀ beyond rank F are 0, each contributing 1)."""
    w = np.eye(3)[:, :2].reshape(3, 1, 2)          # rows e1, e2, 0: best possible, one zero filter
    assert R.soft_orthogonality(w, d=1) == 1.0
    rng = np.random.default_rng(0)
    assert R.soft_orthogonality(rng.normal(size=(5, 1, 2)), d=1) >= 3.0


@given(st.data())
def test_invariant_to_permuting_kernels(data):
    d, w = _weight(data, min_s=2)
    assume(_nonzero_kernels(w))
    perm = list(data.draw(st.permutations(range(w.shape[0])), label="kernel permutation"))
    stride = data.draw(st.integers(1, 3), label="stride")
    wp = w[perm]
    for name, fn in (("soft_orthogonality", lambda v: R.soft_orthogonality(v, d=d)),
                     ("ocnn_orthogonality", lambda v: R.ocnn_orthogonality(v, stride, d=d)),
                     ("orthoreg", lambda v: R.orthoreg(v, d=d)),
                     ("orthoreg both signs", lambda v: R.orthoreg(v, d=d, both_signs=True))):
        base = fn(w)
        assert fn(wp) == pytest.approx(base, rel=1e-12, abs=1e-12), name
    c = R.kernel_cosine_matrix(w, d=d)
    np.testing.assert_allclose(R.kernel_cosine_matrix(wp, d=d), c[np.ix_(perm, perm)], rtol=0, atol=1e-14)


# ---------------------------------------------------------------- OCNN

@given(st.data())
def test_ocnn_single_channel_1d_stride1_is_autocorrelation_residual(data):
    """S = C = 1, d = 1, stride 1 (P = N-1, every lag): Σ_n ((K ⋆ K)[n] - δ_n)²."""
    n = data.draw(st.integers(1, 6), label="N")
    k = data.draw(float_arrays((n,)), label="kernel")
    auto = np.correlate(k, k, "full")          # lags 1-N .. N-1, lag 0 at index N-1
    delta = np.zeros(2 * n - 1)
    delta[n - 1] = 1.0
    want = float(np.sum((auto - delta) ** 2))
    got = R.ocnn_orthogonality(k.reshape(1, 1, n), 1, d=1)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-13)


@given(st.data())
def test_ocnn_one_channel_stride1_is_twice_lcs_plus_self_terms(data):
    """C = 1, stride 1: the off-diagonal of OCNN is L_CS counted for both orders (Z[j,i][n] = Z[i,j][-n]),
    the diagonal compares each autocorrelation with δ. With C > 1 OCNN drops the c1 ≠ c2 terms of L_CS."""
    d, w = _weight(data, c=1)
    selfs = sum(np.sum((R.kernel_crosscorrelation(k[0], k[0], d=d) - _delta(k.shape[1:])) ** 2) for k in w)
    want = 2.0 * R.conv_similarity(w, d=d) + selfs
    assert R.ocnn_orthogonality(w, 1, d=d) == pytest.approx(want, rel=1e-11, abs=1e-12)


def _delta(kshape):
    out = np.zeros(tuple(2 * n - 1 for n in kshape))
    out[tuple(n - 1 for n in kshape)] = 1.0
    return out


@given(st.data())
def test_ocnn_with_stride_at_least_kernel_is_soft_orthogonality(data):
    d, w = _weight(data, max_s=5)
    kshape = w.shape[2:]
    stride = tuple(data.draw(st.integers(n, n + 2), label=f"stride[{a}]") for a, n in enumerate(kshape))
    assert R.ocnn_orthogonality(w, stride, d=d) == pytest.approx(R.soft_orthogonality(w, d=d), rel=1e-12,
                                                                 abs=1e-12)


@given(st.data())
def test_ocnn_is_zero_for_delta_orthogonal_kernels(data):
    """K_i[c] = Q[i, c]·δ(m - m0), Q with orthonormal rows (S <= C): an orthogonal convolution at any stride."""
    d = data.draw(spatial_ranks(), label="d")
    c = data.draw(st.integers(1, 4), label="C")
    s = data.draw(st.integers(1, c), label="S")
    kshape = data.draw(kernel_shapes(d, 4), label="kernel shape")
    tap = tuple(data.draw(st.integers(0, n - 1), label=f"tap[{a}]") for a, n in enumerate(kshape))
    stride = tuple(data.draw(st.integers(1, 4), label=f"stride[{a}]") for a in range(d))
    q = data.draw(orthonormal_rows(s, c), label="Q")
    w = np.zeros((s, c, *kshape))
    w[(slice(None), slice(None), *tap)] = q
    assert R.ocnn_orthogonality(w, stride, d=d) <= 1e-26 * s * s
    assert R.ocnn_orthogonality(w, stride if d == 2 else stride[0], d=d) <= 1e-26 * s * s


def test_ocnn_identity_kernels_with_c_equal_s():
    """The identity convolution (S = C, K_i[c] = δ_ic at the centre of a 3×3 kernel) is orthogonal."""
    w = np.zeros((3, 3, 3, 3))
    for i in range(3):
        w[i, i, 1, 1] = 1.0
    for stride in (1, 2, 3, (1, 2)):
        assert R.ocnn_orthogonality(w, stride, d=2) == 0.0
        assert float(B.ocnn_orthogonality(torch.tensor(w), stride, d=2)) == 0.0


def test_ocnn_haar_filter_bank_is_orthogonal_at_stride_2_only():
    """Haar analysis filters (S = 2, C = 1, N = 2): orthogonal with stride 2, not as a stride-1 convolution."""
    w = np.array([[[1.0, 1.0]], [[1.0, -1.0]]]) / np.sqrt(2.0)
    assert R.ocnn_orthogonality(w, 2, d=1) == pytest.approx(0.0, abs=1e-30)
    # Stride 1 adds lags ±1, where each of the 4 ordered pairs has (K_i ⋆ K_j)[±1] = ±1/2: 8 · 1/4.
    assert R.ocnn_orthogonality(w, 1, d=1) == pytest.approx(2.0, rel=1e-15)
    assert R.soft_orthogonality(w, d=1) == pytest.approx(0.0, abs=1e-30)


@given(st.data())
def test_ocnn_is_the_papers_conv2d_formula(data):
    """||conv2d(K, K, padding=P, stride=s) - I_r0||²_F with torch's conv2d, P = ⌊(k-1)/s⌋·s per axis."""
    _, w = _weight(data, d=2, max_n=5)
    stride = tuple(data.draw(st.integers(1, 4), label=f"stride[{a}]") for a in range(2))
    pads = tuple(((k - 1) // s) * s for k, s in zip(w.shape[2:], stride))
    kt = torch.tensor(w)
    out = F.conv2d(kt, kt, padding=pads, stride=stride)
    assert out.shape[-2:] == tuple(2 * (p // s) + 1 for p, s in zip(pads, stride))
    target = torch.zeros_like(out)
    target[:, :, pads[0] // stride[0], pads[1] // stride[1]] = torch.eye(w.shape[0], dtype=out.dtype)
    want = float(((out - target) ** 2).sum())
    scale = R.ocnn_orthogonality(np.abs(w), stride, d=2)
    assert abs(R.ocnn_orthogonality(w, stride, d=2) - want) <= 1e-12 * scale + 1e-300


def test_public_ocnn_padding_at_stride_2_misplaces_the_identity():
    """The public deconv_orth_dist (padding=1 for 3×3 kernels at stride 2) keeps lags {-1, +1} and puts the
    identity at index 1 = lag +1: a delta-orthogonal kernel, which the paper's P = 2 scores 0, scores sqrt(S)."""
    s = 4
    w = np.zeros((s, s, 3, 3))
    w[np.arange(s), np.arange(s), 1, 1] = 1.0
    assert R.ocnn_orthogonality(w, 2, d=2) == 0.0
    kt = torch.tensor(w)
    out = F.conv2d(kt, kt, stride=2, padding=1)                  # as the public code calls it
    assert out.shape[-2:] == (2, 2)                              # lags -1, +1: no lag 0
    target = torch.zeros_like(out)
    ct = out.shape[-1] // 2
    target[:, :, ct, ct] = torch.eye(s, dtype=out.dtype)
    assert float(torch.norm(out - target)) == pytest.approx(np.sqrt(s))


@pytest.mark.parametrize("fn", [R.ocnn_orthogonality, RV.ocnn_orthogonality_public], ids=["paper", "public"])
@pytest.mark.parametrize("scale", [1e150, 1e200])
def test_ocnn_overflow_is_a_named_error(fn, scale):
    """Kernels of norm ~1e150 square past float64 (Z ~ 1e300, Z² ~ 1e600): a ValueError naming ``weight``,
    not a bare OverflowError from squaring a Python float, and no RuntimeWarning. At scale 1 the same
    call is finite."""
    w = np.random.default_rng(0).normal(size=(2, 1, 3))
    assert np.isfinite(fn(w, 1, d=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="weight: the result overflows float64"):
            fn(w * scale, 1, d=1)


# ---------------------------------------------------------------- OrthoReg

def _softplus(x):
    return np.log1p(np.exp(x))


@given(st.data())
def test_orthoreg_counts_each_pair_twice_and_ignores_scale(data):
    d, w = _weight(data)
    assume(_nonzero_kernels(w))
    lam = data.draw(st.floats(0.5, 50.0), label="λ")
    c = R.kernel_cosine_matrix(w, d=d)
    s = w.shape[0]
    pairs = [(i, j) for i in range(s) for j in range(i + 1, s)]
    want = 2.0 * sum(_softplus(lam * (c[i, j] - 1.0)) for i, j in pairs)
    want_both = want + 2.0 * sum(_softplus(lam * (-c[i, j] - 1.0)) for i, j in pairs)
    assert R.orthoreg(w, lam, d=d) == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert R.orthoreg(w, lam, d=d, both_signs=True) == pytest.approx(want_both, rel=1e-12, abs=1e-300)
    scales = np.array(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=s, max_size=s), label="kernel scales"))
    scaled = w * scales.reshape(-1, *(1,) * (w.ndim - 1))
    assert R.orthoreg(scaled, lam, d=d) == pytest.approx(R.orthoreg(w, lam, d=d), rel=1e-10)


def _two_kernels(data, cosine):
    return data.draw(kernel_pairs_with_cosine(cosine), label=f"kernels with cosine {cosine}")


@given(st.data())
def test_orthoreg_is_monotone_in_the_cosine(data):
    lam = data.draw(st.floats(1.0, 50.0), label="λ")
    lo = data.draw(st.floats(-1.0, 0.999), label="lower cosine")
    hi = data.draw(st.floats(lo + 1e-3, 1.0), label="higher cosine")
    w_lo, w_hi = _two_kernels(data, lo), _two_kernels(data, hi)
    assert R.orthoreg(w_lo, lam, d=1) < R.orthoreg(w_hi, lam, d=1)
    # Two ordered pairs: 2·log(1 + e^{λ(c - 1)}).
    assert R.orthoreg(w_hi, lam, d=1) == pytest.approx(2 * _softplus(lam * (hi - 1.0)), rel=1e-9)
    # Both signs: a function of |C_ij| only, increasing in it.
    both = [R.orthoreg(_two_kernels(data, c), lam, d=1, both_signs=True) for c in (abs(hi), -abs(hi))]
    assert both[0] == pytest.approx(both[1], rel=1e-9)
    if abs(hi) >= abs(lo) + 1e-3:
        assert R.orthoreg(_two_kernels(data, abs(lo)), lam, d=1, both_signs=True) < both[0]


def test_orthoreg_pinned_values():
    """Orthogonal filters: S(S-1)·log(1 + e^{-λ}); identical filters: S(S-1)·log 2 (λ = 10 default)."""
    w = np.eye(4).reshape(4, 1, 2, 2)
    assert R.orthoreg(w, d=2) == pytest.approx(12 * np.log1p(np.exp(-10.0)), rel=1e-14)
    same = np.ones((3, 2, 3))
    assert R.orthoreg(same, d=1) == pytest.approx(6 * np.log(2.0), rel=1e-14)
    assert R.orthoreg(np.ones((1, 2, 3)), d=1) == 0.0
    anti = np.stack([np.ones((2, 3)), -np.ones((2, 3))])
    assert R.orthoreg(anti, d=1) == pytest.approx(2 * np.log1p(np.exp(-20.0)), rel=1e-14)
    assert R.orthoreg(anti, d=1, both_signs=True) == pytest.approx(2 * np.log(2.0) + 2 * np.log1p(np.exp(-20.0)))


# ---------------------------------------------------------------- DeCov

def _activations(data):
    return data.draw(activations(), label="(d, h)")


def _decov_tolerance(h):
    """A float64 rounding bound for DeCov of ``h``: each covariance is off by at most
    ``e_ij = 1e-13·(u·(Σ_n |c_i^n| + Σ_n |c_j^n|)/b + u² + Σ_n |c_i^n c_j^n|/b)`` (``u = max|h|``, ``c``
    the centred values; 1e-13 is ~450 eps), so ``½Σ C²`` is off by at most ``Σ (2|C|max·e + e²)``."""
    b = h.shape[0]
    units = h.reshape(b, -1)
    a = np.abs(units - units.mean(axis=0))
    u = float(np.max(np.abs(units)))
    cmax = a.T @ a / b
    col = a.sum(axis=0) / b
    e = 1e-13 * (u * (col[:, None] + col[None, :]) + u * u + cmax)
    return float(np.sum(2 * cmax * e + e * e))


@given(st.data())
def test_decov_is_the_covariance_formula(data):
    d, h = _activations(data)
    b = h.shape[0]
    units = h.reshape(b, -1)
    cov = np.cov(units, rowvar=False, bias=True).reshape(units.shape[1], units.shape[1])
    want = 0.5 * (np.sum(cov ** 2) - np.sum(np.diag(cov) ** 2))
    got = R.decov(h, d=d)
    assert got >= 0.0
    assert abs(got - want) <= 2 * _decov_tolerance(h) + 1e-300
    # Flattening policy: every (channel, position) is a unit, i.e. the d = 0 loss of the (b, D) reshape.
    assert got == R.decov(units, d=0)


@given(st.data())
def test_decov_invariant_to_unit_offsets_and_homogeneous_of_degree_4(data):
    d, h = _activations(data)
    shift = data.draw(float_arrays(h.shape[1:]), label="per-unit offsets")
    a = data.draw(st.floats(1e-2, 1e2), label="scale")
    base = R.decov(h, d=d)
    tol = _decov_tolerance(h)
    assert abs(R.decov(h + shift, d=d) - base) <= tol + _decov_tolerance(h + shift) + 1e-300
    assert abs(R.decov(a * h, d=d) - a ** 4 * base) <= a ** 4 * tol + _decov_tolerance(a * h) + 1e-300


@given(st.data())
def test_decov_is_zero_for_decorrelated_activations(data):
    """Units with a diagonal batch covariance: centred, mutually orthogonal columns (D <= b - 1)."""
    b = data.draw(st.integers(3, 8), label="b")
    dim = data.draw(st.integers(1, b - 1), label="D")
    a = data.draw(float_arrays((b, dim)), label="raw activations")
    q, r = np.linalg.qr(a - a.mean(axis=0))
    assume(np.all(np.abs(np.diag(r)) > 1e-3))
    scales = np.array(data.draw(st.lists(st.floats(0.1, 10.0), min_size=dim, max_size=dim), label="unit scales"))
    offsets = data.draw(float_arrays((dim,), FLOATS), label="unit means")
    h = q * scales + offsets
    assert R.decov(h, d=0) <= 1e-26 * np.max(scales) ** 4 * dim * dim
    assert R.decov(h.reshape(b, 1, dim), d=1) <= 1e-26 * np.max(scales) ** 4 * dim * dim


def test_decov_pinned():
    """Two units, b = 2: h = [[0, 0], [2, 2]] has C = [[1, 1], [1, 1]], so L = ½·(1 + 1) = 1."""
    assert R.decov(np.array([[0.0, 0.0], [2.0, 2.0]]), d=0) == 1.0
    assert float(B.decov(torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64), d=0)) == 1.0
    assert R.decov(np.arange(5.0).reshape(5, 1), d=0) == 0.0       # one unit: no pairs
    # A unit constant over the batch (a dead ReLU) centres to exactly 0: no rounding residue.
    dead = np.array([[0.05, 1.0, 0.3], [0.05, 2.0, 0.7], [0.05, 4.0, 0.1]])
    assert R.decov(dead, d=0) == R.decov(dead[:, 1:], d=0)
    assert float(B.decov(torch.tensor(dead), d=0)) == pytest.approx(R.decov(dead[:, 1:], d=0), rel=1e-14)
    assert R.decov(np.full((3, 2), 0.05), d=0) == 0.0
    assert float(B.decov(torch.full((3, 2), 0.05, dtype=torch.float64), d=0)) == 0.0


# ---------------------------------------------------------------- the CS paper's point (eq. 11)

def _feature_cosine(x, k1, k2, d):
    ip = R.feature_inner_product(x, k1, k2, "full", d=d)
    n1 = np.sqrt(R.feature_inner_product(x, k1, k1, "full", d=d))
    n2 = np.sqrt(R.feature_inner_product(x, k2, k2, "full", d=d))
    return ip, ip / (n1 * n2)


def test_orthogonal_kernels_do_not_give_orthogonal_feature_maps_1d():
    """K1 = [1, 0], K2 = [0, 1]: orthonormal (soft orthogonality 0, cosine 0, OrthoReg at its floor), yet
    <F1, F2> = Σ_i X[i]·X[i+1] (eq. 11: only the lag-1 term survives), large for X ~ U(0, 1)."""
    w = np.eye(2).reshape(2, 1, 2)
    assert R.soft_orthogonality(w, d=1) == 0.0
    assert R.kernel_inner_product(w[0], w[1], d=1) == 0.0
    np.testing.assert_array_equal(R.kernel_cosine_matrix(w, d=1), np.eye(2))
    assert R.orthoreg(w, d=1) == pytest.approx(2 * np.log1p(np.exp(-10.0)))
    x = np.random.default_rng(0).uniform(0.0, 1.0, size=(1, 64))
    ip, cos = _feature_cosine(x, w[0], w[1], 1)
    assert ip == pytest.approx(float(np.sum(x[0, :-1] * x[0, 1:])), rel=1e-13)
    assert cos > 0.5                         # the two feature maps are far from orthogonal (0.72)
    # The lag-aware objectives see it: L_CS = 1 and OCNN = 2 (lags ±1 of the off-diagonal pair).
    assert R.conv_similarity(w, d=1) == 1.0
    assert R.ocnn_orthogonality(w, 1, d=1) == 2.0


def test_orthogonal_kernels_do_not_give_orthogonal_feature_maps_2d_multichannel():
    """S = 2 filters of C = 3 channels, 3×3, with orthonormal flattened vectors (soft orthogonality 0 to
    rounding): on an RGB-like U(0, 1) input their full-padding feature maps have a cosine far from 0."""
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.uniform(-1.0, 1.0, size=(27, 2)))
    w = q.T.reshape(2, 3, 3, 3)
    assert R.soft_orthogonality(w, d=2) < 1e-28
    assert abs(R.kernel_cosine_matrix(w, d=2)[0, 1]) < 1e-15
    x = rng.uniform(0.0, 1.0, size=(3, 16, 16))
    ip, cos = _feature_cosine(x, w[0], w[1], 2)
    assert abs(cos) > 0.5, cos                 # -0.71: far from orthogonal
    # The identity (CS eq. 3) explains it: every nonzero lag of the kernels' cross-correlation contributes.
    assert ip == pytest.approx(R.identity_inner_product(x, w[0], w[1], "full", d=2), rel=1e-10)
    assert R.conv_similarity(w, d=2) > 0.01


# ---------------------------------------------------------------- registry, twins

def test_every_orthogonality_reference_has_twin_and_entry():
    names = {op.name for op in REGISTRY}
    for n in RO.__all__:
        assert getattr(B, n, None) is getattr(BO, n)
        assert n in names, f"no registry entry for {n}"


def test_twins_keep_batch_axes_and_device(device):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2, 3, 4, 2, 3, 2, generator=g, dtype=torch.float64).to(device)
    assert B.kernel_cosine_matrix(w, d=2).shape == (2, 3, 4, 4)
    for fn in (B.soft_orthogonality, B.orthoreg):
        out = fn(w, d=2)
        assert out.shape == (2, 3) and out.device.type == torch.device(device).type
    out = B.ocnn_orthogonality(w, (1, 2), d=2)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1, 2].item(), R.ocnn_orthogonality(w[1, 2].cpu().numpy(), (1, 2), d=2),
                               rtol=1e-12)
    h = torch.randn(5, 6, 2, 3, generator=g).to(device)          # float32 stays float32
    out = B.decov(h, d=1)
    assert out.shape == (5,) and out.dtype == torch.float32
