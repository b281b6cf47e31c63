"""PEDCC centroids and the POD loss (POD paper: PEDCC theorem section III-B, eq. 13-19)."""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import theory.batched as B
from theory import reference as R
from tests.strategies import pod_cases, positive_scales


# ---------------------------------------------------------------- PEDCC centroids

@given(k=st.integers(1, 12), extra=st.integers(-1, 6), seed=st.integers(0, 2 ** 32 - 1))
@example(k=2, extra=-1, seed=0)          # two antipodal points on the line (n = 1)
@example(k=11, extra=-1, seed=5)         # k = n + 1: the full simplex fills R^n
@example(k=1, extra=0, seed=3)           # one class: one random unit vector
def test_pedcc_invariants(k, extra, seed):
    n = max(k + extra, 1)
    a = R.pedcc_centroids(k, n, seed=seed)
    assert a.shape == (k, n)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=0, atol=1e-14)
    if k >= 2:
        g = a @ a.T
        off = g[~np.eye(k, dtype=bool)]
        np.testing.assert_allclose(off, -1.0 / (k - 1), rtol=0, atol=1e-14)
        np.testing.assert_allclose(a.sum(axis=0), 0.0, rtol=0, atol=1e-13)


def test_pedcc_k_equal_n_plus_1():
    a = R.pedcc_centroids(4, 3, seed=1)
    np.testing.assert_allclose(a @ a.T, np.eye(4) * 4 / 3 - 1 / 3, atol=1e-14)


def test_pedcc_seed_determinism():
    np.testing.assert_array_equal(R.pedcc_centroids(5, 8, seed=11), R.pedcc_centroids(5, 8, seed=11))
    assert not np.allclose(R.pedcc_centroids(5, 8, seed=11), R.pedcc_centroids(5, 8, seed=12))
    assert not np.allclose(R.pedcc_centroids(1, 8, seed=0), R.pedcc_centroids(1, 8, seed=1))
    np.testing.assert_array_equal(R.pedcc_centroids(3, 4), R.pedcc_centroids(3, 4, seed=0))


def test_pedcc_twin_dtype_device_and_determinism(device):
    """The twin is computed in torch (not copied from the reference): equal to it up to rounding, and
    the same bits for the same seed."""
    a = B.pedcc_centroids(6, 10, seed=4, device=device)
    assert a.dtype == torch.float64 and a.device.type == torch.device(device).type
    np.testing.assert_allclose(a.cpu().numpy(), R.pedcc_centroids(6, 10, seed=4), rtol=0, atol=1e-14)
    assert torch.equal(a, B.pedcc_centroids(6, 10, seed=4, device=device))
    assert not torch.allclose(a, B.pedcc_centroids(6, 10, seed=5, device=device))
    assert B.pedcc_centroids(3, 2, dtype=torch.float32).dtype == torch.float32


@given(k=st.integers(1, 12), extra=st.integers(-1, 6), seed=st.integers(0, 2 ** 32 - 1))
@example(k=2, extra=-1, seed=0)
@example(k=11, extra=-1, seed=5)
@example(k=1, extra=0, seed=3)
def test_pedcc_twin_equals_reference(k, extra, seed):
    n = max(k + extra, 1)
    np.testing.assert_allclose(B.pedcc_centroids(k, n, seed).numpy(), R.pedcc_centroids(k, n, seed),
                               rtol=0, atol=1e-13)


# ---------------------------------------------------------------- draws and independent formulas

def _case(data, **kw):
    return data.draw(pod_cases(**kw), label="(features, labels, centroids)")


def _cos(u, v):
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def _sc_loop(f, y, c):
    """Eq. 14-15 with explicit loops: R_ij = (1/(B-1)) Σ_b D_ib·D_jb, D_ib = x_b[i]/||x_b|| - c_{y_b}[i]."""
    b, n = f.shape
    dcol = [f[s] / np.linalg.norm(f[s]) - c[y[s]] for s in range(b)]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                r_ij = sum(dcol[s][i] * dcol[s][j] for s in range(b)) / (b - 1)
                total += r_ij ** 2
    return total


# ---------------------------------------------------------------- Cosine loss (eq. 13)

@given(st.data())
def test_cosine_loss_formula_range_and_invariances(data):
    f, y, c = _case(data)
    got = R.cosine_loss(f, y, c)
    want = np.mean([(1 - _cos(f[i], c[y[i]])) ** 2 for i in range(len(y))])
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert 0.0 <= got <= 4.0
    s = data.draw(positive_scales((len(y), 1)), label="positive scales")
    assert R.cosine_loss(f * s, y, c) == pytest.approx(got, rel=1e-9, abs=1e-14)
    assert R.cosine_loss(c[y] * s, y, c) == pytest.approx(0.0, abs=1e-28)
    assert R.cosine_loss(-c[y] * s, y, c) == pytest.approx(4.0, rel=1e-14)


# ---------------------------------------------------------------- SC loss (eq. 14-15)

@given(st.data())
def test_sc_loss_is_eq15(data):
    f, y, c = _case(data, min_b=2)
    assert R.sc_loss(f, y, c) == pytest.approx(_sc_loop(f, y, c), rel=1e-12, abs=1e-14)
    perm = np.array(data.draw(st.permutations(range(len(y))), label="sample permutation"))
    assert R.sc_loss(f[perm], y[perm], c) == pytest.approx(R.sc_loss(f, y, c), rel=1e-12, abs=1e-14)
    s = data.draw(positive_scales((len(y), 1)), label="positive scales")
    assert R.sc_loss(c[y] * s, y, c) == pytest.approx(0.0, abs=1e-28)
    assert R.sc_loss(f * s, y, c) == pytest.approx(R.sc_loss(f, y, c), rel=1e-9, abs=1e-14)


def test_sc_loss_is_not_a_correlation_matrix_loss():
    """R is a raw second moment of the differences: no centring, no unit diagonal (despite the paper's wording).

    All samples share one difference vector d = (1, 1)/√2·… : a correlation matrix of constant columns is
    undefined (0/0), but eq. 15 gives R = B/(B-1)·d dᵀ, with off-diagonal entries d_1·d_2·B/(B-1).
    """
    c = R.pedcc_centroids(2, 2, seed=0)
    y = np.zeros(3, dtype=int)
    f = np.tile(c[0] + np.array([0.3, -0.2]), (3, 1))
    dvec = f[0] / np.linalg.norm(f[0]) - c[0]
    want = 2 * (dvec[0] * dvec[1] * 3 / 2) ** 2
    assert R.sc_loss(f, y, c) == pytest.approx(want, rel=1e-12) and want > 0


def test_sc_twin_gram_branch_equals_direct_branch():
    """n > B takes the B×B Gram route, n <= B the n×n one: same value as the reference either way."""
    rng = np.random.default_rng(0)
    for b, n in ((3, 9), (9, 3), (4, 4)):
        c = R.pedcc_centroids(3, n, seed=1)
        y = rng.integers(0, 3, size=b)
        f = c[y] + 0.4 * rng.normal(size=(b, n))
        got = B.sc_loss(torch.tensor(f), torch.tensor(y), torch.tensor(c)).item()
        assert got == pytest.approx(_sc_loop(f, y, c), rel=1e-12)


# ---------------------------------------------------------------- POD loss (eq. 16) and classification (eq. 17-19)

@given(st.data())
def test_pod_is_cosine_plus_lambda_sc(data):
    f, y, c = _case(data, min_b=2)
    lam = data.draw(st.floats(0.0, 10.0), label="lam")
    want = R.cosine_loss(f, y, c) + lam * R.sc_loss(f, y, c)
    assert R.pod_loss(f, y, c, lam) == pytest.approx(want, rel=1e-13, abs=1e-15)
    assert R.pod_loss(f, y, c) == pytest.approx(R.cosine_loss(f, y, c) + R.sc_loss(f, y, c), rel=1e-13, abs=1e-15)


@given(st.data())
def test_predict_recovers_labels_of_centroid_features(data):
    f, y, c = _case(data)
    s = data.draw(positive_scales((len(y), 1)), label="positive scales")
    pred = R.pedcc_predict(c[y] * s, c)
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, y)
    want = [int(np.argmax([_cos(f[i], c[j]) for j in range(len(c))])) for i in range(len(y))]
    np.testing.assert_array_equal(R.pedcc_predict(f, c), want)
    np.testing.assert_array_equal(B.pedcc_predict(torch.tensor(c[y] * s), torch.tensor(c)).numpy(), y)


def test_predict_is_cosine_not_dot_product():
    """Eq. 19 (cosine) and eq. 17 (dot product) differ when centroids are not unit length."""
    c = np.array([[1.0, 0.0], [0.0, 5.0]])
    x = np.array([[1.0, 0.5]])
    assert R.pedcc_predict(x, c)[0] == 0 and int(np.argmax(x @ c.T)) == 1
    assert B.pedcc_predict(torch.tensor(x), torch.tensor(c))[0].item() == 0


# ---------------------------------------------------------------- torch twins: batching, gradients

def test_twins_broadcast_leading_axes():
    rng = np.random.default_rng(5)
    c = R.pedcc_centroids(4, 6, seed=2)
    cs = np.stack([c, R.pedcc_centroids(4, 6, seed=3)])               # (2, 4, 6)
    y = rng.integers(0, 4, size=(3, 1, 5))
    f = rng.normal(size=(3, 2, 5, 6))
    for name in ("cosine_loss", "sc_loss", "pod_loss"):
        got = getattr(B, name)(torch.tensor(f), torch.tensor(y), torch.tensor(cs)).numpy()
        assert got.shape == (3, 2)
        for i, j in np.ndindex(3, 2):
            assert got[i, j] == pytest.approx(getattr(R, name)(f[i, j], y[i, 0], cs[j]), rel=1e-12), name
    pred = B.pedcc_predict(torch.tensor(f), torch.tensor(cs))
    assert pred.dtype == torch.int64 and pred.shape == (3, 2, 5)


def test_twins_gradcheck():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])
    c = B.pedcc_centroids(3, 5, seed=1)
    for n, cc in ((5, c), (2, B.pedcc_centroids(3, 2, seed=1))):    # B = 4: n = 5 Gram route, n = 2 direct
        f = (cc[y] + 0.5 * torch.randn(2, 4, n, generator=g, dtype=torch.float64)).requires_grad_(True)
        cr = cc.clone().requires_grad_(True)
        for fn in (B.cosine_loss, B.sc_loss, lambda a, b_, z: B.pod_loss(a, b_, z, 0.3)):
            assert torch.autograd.gradcheck(lambda a, z: fn(a, y, z), (f, cr), eps=1e-6, atol=1e-6)


def test_twin_float32(device):
    c = B.pedcc_centroids(3, 4, seed=0, dtype=torch.float32, device=device)
    y = torch.tensor([0, 1, 2, 0], device=device)
    f = c[y] + 0.1
    for fn in (B.cosine_loss, B.sc_loss, B.pod_loss):
        out = fn(f, y, c)
        assert out.dtype == torch.float32 and out.device.type == torch.device(device).type
