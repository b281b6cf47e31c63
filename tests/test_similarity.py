"""Convolutional Similarity (CS eq. 8-10): Parseval route, invariances, homogeneity, nonzero correlation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import reference as R
from tests.strategies import kernel_shapes, nonzero_arrays, spatial_ranks, weights


def _weight(data, max_s=4):
    return data.draw(weights(min_s=2, max_s=max_s, max_c=3, max_n=4), label="(d, weight)")


def _abs_lcs(w, d):
    return R.conv_similarity(np.abs(w), d=d)


@given(st.data())
def test_parseval_route_equals_direct(data):
    d, w = _weight(data, max_s=2)
    n = w.shape[2:]
    extra = tuple(data.draw(st.integers(0, 4), label=f"extra DFT length[{a}]") for a in range(d))
    size = tuple(2 * s - 1 + e for s, e in zip(n, extra))
    direct = R.crosscorrelation_energy(w[0], w[1], d=d)
    scale = R.crosscorrelation_energy(np.abs(w[0]), np.abs(w[1]), d=d)
    assert abs(R.crosscorrelation_energy_fft(w[0], w[1], d=d, size=size) - direct) <= 1e-12 * (scale + 1e-300)


@given(st.data())
def test_lcs_is_sum_over_pairs_eq_10(data):
    """Eq. 10 written out: Σ_{i<j} Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]; eq. 9 (i ≠ j) is twice that."""
    d, w = _weight(data)
    s, c = w.shape[:2]
    eq10 = sum(np.sum(R.kernel_crosscorrelation(w[i, c1], w[j, c2], d=d) ** 2)
               for i in range(s) for j in range(i + 1, s) for c1 in range(c) for c2 in range(c))
    eq9 = sum(np.sum(R.kernel_crosscorrelation(w[i, c1], w[j, c2], d=d) ** 2)
              for i in range(s) for j in range(s) if j != i for c1 in range(c) for c2 in range(c))
    got = R.conv_similarity(w, d=d)
    tol = 1e-12 * _abs_lcs(w, d) + 1e-300
    assert abs(got - eq10) <= tol and abs(2 * got - eq9) <= 2 * tol
    g = R.conv_similarity_matrix(w, d=d)
    np.testing.assert_allclose(g, g.T, rtol=1e-12, atol=tol)


@given(st.data())
def test_lcs_invariances(data):
    """Invariant to permuting kernels, to permuting channels, to flipping every kernel, to signs."""
    d, w = _weight(data)
    base = R.conv_similarity(w, d=d)
    tol = 1e-12 * _abs_lcs(w, d) + 1e-300
    perm = data.draw(st.permutations(range(w.shape[0])), label="kernel permutation")
    cperm = data.draw(st.permutations(range(w.shape[1])), label="channel permutation")
    signs = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=w.shape[0], max_size=w.shape[0]),
                               label="signs")).reshape((-1,) + (1,) * (w.ndim - 1))
    flip_axes = tuple(range(2, w.ndim))
    for name, v in (("permute kernels", w[list(perm)]), ("permute channels", w[:, list(cperm)]),
                    ("flip kernels", np.flip(w, axis=flip_axes)), ("flip signs", w * signs)):
        assert abs(R.conv_similarity(v, d=d) - base) <= tol, name


@given(st.data())
def test_lcs_homogeneous_of_degree_4(data):
    d, w = _weight(data)
    a = data.draw(st.floats(1e-3, 1e3), label="scale")
    base = R.conv_similarity(w, d=d)
    assert abs(R.conv_similarity(a * w, d=d) - a ** 4 * base) <= 1e-12 * a ** 4 * _abs_lcs(w, d) + 1e-300


@given(st.data())
def test_full_crosscorrelation_of_nonzero_kernels_is_never_zero(data):
    """Product of two nonzero polynomials is nonzero: eq. 7's condition only holds for a zero kernel."""
    d = data.draw(spatial_ranks(), label="d")
    kshape = data.draw(kernel_shapes(d, max_n=5), label="kernel shape")
    k1 = data.draw(nonzero_arrays(kshape), label="k1")
    k2 = data.draw(nonzero_arrays(kshape), label="k2")
    assert np.any(R.kernel_crosscorrelation(k1, k2, d=d) != 0)


def test_nonzero_corner_case_sparse_kernels():
    """Pinned: single taps at opposite corners still leave one nonzero lag (the extreme one)."""
    k1, k2 = np.zeros((3, 3)), np.zeros((3, 3))
    k1[0, 0], k2[2, 2] = 1e-300, 1e-3
    kk = R.kernel_crosscorrelation(k1, k2, d=2)
    assert np.count_nonzero(kk) == 1 and kk[4, 4] != 0


def test_kernel_cosine_and_inner_product():
    rng = np.random.default_rng(0)
    k1, k2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    ip = R.kernel_inner_product(k1, k2, d=1)
    assert ip == pytest.approx(float(k1.ravel() @ k2.ravel()), rel=1e-14)
    cos = R.kernel_cosine(k1, k2, d=1)
    assert cos == pytest.approx(ip / np.linalg.norm(k1) / np.linalg.norm(k2), rel=1e-14)
    assert R.kernel_cosine(k1, -3 * k1, d=1) == pytest.approx(-1.0, rel=1e-14)


def test_single_kernel_layer_has_zero_lcs():
    assert R.conv_similarity(np.ones((1, 2, 3)), d=1) == 0.0
