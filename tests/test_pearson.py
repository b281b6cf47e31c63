"""Pearson matrices of feature maps and the MFD loss (MFD paper eq. 5-7, Tables I and III).

Features are drawn on a grid of quarter-integers: a channel is then either exactly constant over the
batch (dead) or varies by at least 1/4, so liveness is decided exactly and independently of the
implementation's tolerance.
"""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.special import logsumexp
from torch.utils._python_dispatch import TorchDispatchMode

import theory.batched as B
from theory import reference as R
from tests.strategies import channel_kinds, float_arrays, grid_arrays, grid_features


# ---------------------------------------------------------------- draws and independent formulas

def _features(data, **kw):
    return data.draw(grid_features(**kw), label="(d, features)")


def _live(x):
    """Channels not constant over the batch at some position (exact on grid data)."""
    b, c = x.shape[:2]
    return np.ptp(x.reshape(b, c, -1), axis=0).max(axis=1) > 0


def _pearson_by_cov(x):
    """Eq. 6 through np.cov at each spatial position: F = Σ_p Cov_p(I,J) / sqrt(Σ_p Var_p(I)·Σ_p Var_p(J))."""
    b, c = x.shape[:2]
    xr = x.reshape(b, c, -1)
    cov = sum(np.atleast_2d(np.cov(xr[:, :, p], rowvar=False)) for p in range(xr.shape[2]))
    var = np.diag(cov).copy()
    live = var > 0
    safe = np.where(live, var, 1.0)
    f = cov / np.sqrt(np.outer(safe, safe))
    np.fill_diagonal(f, 1.0)
    return np.where(np.outer(live, live), f, 0.0)


def _mfd_eq5(f):
    c = f.shape[0]
    return sum(f[i, j] ** 2 for i in range(c) for j in range(c) if j != i) / (c * (c - 1))


# ---------------------------------------------------------------- the Pearson matrix

_RELU = np.maximum(np.arange(-6.0, 18.0).reshape(2, 3, 4) % 7 - 3, 0)
_RELU[:, 1] = 0.0                                        # a dead ReLU map


@given(case=grid_features())
@example(case=(1, _RELU))
@example(case=(2, np.ones((3, 2, 2, 2))))                # every channel dead
@example(case=(0, np.array([[0.0], [1.0]])))             # b = 2, C = 1
@example(case=(0, np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])))   # perfectly correlated: exactly 1
def test_pearson_matrix_basic_properties(case):
    d, x = case
    f = R.pearson_matrix(x, d=d)
    live = _live(x)
    c = x.shape[1]
    assert f.shape == (c, c) and np.all(np.isfinite(f))
    np.testing.assert_array_equal(f, f.T)
    assert np.all(np.abs(f) <= 1.0)
    np.testing.assert_array_equal(np.diag(f), np.where(live, 1.0, 0.0))
    assert np.all(f[~live] == 0) and np.all(f[:, ~live] == 0)
    np.testing.assert_allclose(B.pearson_matrix(torch.tensor(x), d=d).numpy(), f, rtol=0, atol=1e-12)


@given(st.data())
def test_pearson_matrix_equals_covariance_formula(data):
    """Against eq. 6 written with np.cov per position (d = 1, 2) — an independent route."""
    d, x = _features(data)
    np.testing.assert_allclose(R.pearson_matrix(x, d=d), _pearson_by_cov(x), rtol=0, atol=1e-12)


@given(st.data())
def test_pearson_matrix_d0_is_corrcoef(data):
    _, x = _features(data, d=0, min_c=1)
    live = _live(x)
    f = R.pearson_matrix(x, d=0)
    if live.any():
        want = np.atleast_2d(np.corrcoef(x[:, live], rowvar=False))
        np.testing.assert_allclose(f[np.ix_(live, live)], want, rtol=0, atol=1e-12)


@given(st.data())
def test_pearson_matrix_is_corrcoef_of_per_position_residuals(data):
    """Centre at every position over the batch, flatten (batch × space): np.corrcoef of that is eq. 6."""
    d, x = _features(data, d=data.draw(st.sampled_from([1, 2]), label="d"))
    b, c = x.shape[:2]
    res = (x - x.mean(axis=0, keepdims=True)).reshape(b, c, -1).transpose(1, 0, 2).reshape(c, -1)
    live = _live(x)
    if live.any():
        want = np.atleast_2d(np.corrcoef(res[live]))
        np.testing.assert_allclose(R.pearson_matrix(x, d=d)[np.ix_(live, live)], want, rtol=0, atol=1e-12)


@given(st.data())
def test_pearson_matrix_invariances(data):
    """Invariant to a positive scale per channel and to adding any map constant over the batch."""
    d, x = _features(data)
    b, c = x.shape[:2]
    f = R.pearson_matrix(x, d=d)
    scale = data.draw(float_arrays((c,), st.floats(0.01, 100.0)), label="scale")
    scaled = x * scale.reshape((1, c) + (1,) * d)
    np.testing.assert_allclose(R.pearson_matrix(scaled, d=d), f, rtol=0, atol=1e-12)
    shift = data.draw(float_arrays(x.shape[1:], st.floats(-3.0, 3.0)), label="shift map")
    np.testing.assert_allclose(R.pearson_matrix(x + shift[None], d=d), f, rtol=0, atol=1e-12)
    perm = data.draw(st.permutations(range(c)), label="channel permutation")
    np.testing.assert_allclose(R.pearson_matrix(x[:, perm], d=d), f[np.ix_(perm, perm)], rtol=0, atol=1e-15)


def test_global_centring_is_a_different_quantity():
    """Centring once per channel over batch AND space (np.corrcoef of the flattened maps) is not eq. 6.

    Two channels share a strong spatial pattern (position 1 is large in both) but vary independently
    over the batch: eq. 6 sees the independent batch variation, the global centring sees the pattern.
    """
    i = np.array([[0.0, 10.0], [1.0, 10.0], [0.0, 11.0], [1.0, 11.0]])    # (b=4, P=2)
    j = np.array([[0.0, 10.0], [0.0, 11.0], [1.0, 10.0], [1.0, 11.0]])
    x = np.stack([i, j], axis=1)                                           # (4, 2, 2)
    per_position = R.pearson_matrix(x, d=1)[0, 1]
    global_ = np.corrcoef(x.transpose(1, 0, 2).reshape(2, -1))[0, 1]
    assert per_position == pytest.approx(0.0, abs=1e-15)
    assert global_ == pytest.approx(100 / 101, rel=1e-12)


@given(st.data())
def test_dead_channel_policy(data):
    """A channel constant over the batch (zero, or any fixed map) gets a zero row and column, diag 0,
    and the rest of the matrix is that of the other channels alone."""
    d, x = _features(data, min_c=1, max_c=3)
    b, c = x.shape[:2]
    at = data.draw(st.integers(0, c), label="dead channel index")
    kind = data.draw(st.sampled_from(["zero", "constant map"]), label="dead kind")
    dead = np.zeros((b, 1) + x.shape[2:])
    if kind == "constant map":
        dead = dead + data.draw(float_arrays(x.shape[2:], st.floats(-1e3, 1e3)), label="constant map")
    y = np.concatenate([x[:, :at], dead, x[:, at:]], axis=1)
    f = R.pearson_matrix(y, d=d)
    assert np.all(f[at] == 0) and np.all(f[:, at] == 0)
    keep = [i for i in range(c + 1) if i != at]
    np.testing.assert_allclose(f[np.ix_(keep, keep)], R.pearson_matrix(x, d=d), rtol=0, atol=1e-15)


def test_dead_channel_tolerance_is_relative_not_exact():
    """Last-bit jitter over the batch (not exact zero variance) still counts as dead: no noise-driven ±1."""
    base = 1.0e3 * np.array([1.0, 2.0, 3.0])
    jitter = np.stack([base, np.nextafter(base, np.inf), base, np.nextafter(base, -np.inf)])   # (b=4, P=3)
    live = np.arange(12.0).reshape(4, 3) ** 1.5
    x = np.stack([live, jitter, -live], axis=1)                                                  # (4, 3, 3)
    f = R.pearson_matrix(x, d=1)
    np.testing.assert_array_equal(f[1], 0.0)
    assert f[0, 2] == pytest.approx(-1.0)
    torch.testing.assert_close(B.pearson_matrix(torch.tensor(x), d=1), torch.tensor(f), rtol=0, atol=1e-15)
    # a genuine variation of relative size 1e-9 is not dead
    x[1, 1, 0] *= 1 + 1e-9
    assert R.pearson_matrix(x, d=1)[1, 1] == 1.0


def test_all_channels_dead_gives_zero_matrix_and_zero_losses():
    x = np.broadcast_to(np.array([[0.0, 0.0], [5.0, -2.0], [1.0, 1.0]]), (4, 3, 2)).copy()
    np.testing.assert_array_equal(R.pearson_matrix(x, d=1), np.zeros((3, 3)))
    assert R.mfd_loss(x, d=1) == 0.0 and R.mean_abs_offdiagonal(x, d=1) == 0.0


# ---------------------------------------------------------------- losses built on it

@given(st.data())
def test_mfd_loss_is_eq5(data):
    d, x = _features(data, min_c=2)
    f = _pearson_by_cov(x)
    assert R.mfd_loss(x, d=d) == pytest.approx(_mfd_eq5(f), rel=1e-12, abs=1e-15)
    c = f.shape[0]
    want = sum(abs(f[i, j]) for i in range(c) for j in range(c) if j != i) / (c * (c - 1))
    assert R.mean_abs_offdiagonal(x, d=d) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert 0.0 <= R.mfd_loss(x, d=d) <= R.mean_abs_offdiagonal(x, d=d) <= 1.0


def test_mfd_loss_extremes():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 1, 4))
    assert R.mfd_loss(np.concatenate([a, 2 * a, -a], axis=1), d=1) == pytest.approx(1.0)
    # two channels of independent signs on disjoint halves of the batch: uncorrelated exactly
    x = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert R.mfd_loss(x, d=0) == 0.0


@given(st.data())
def test_joint_loss_is_cross_entropy_plus_lambda_sum(data):
    d = data.draw(st.sampled_from([0, 1, 2]), label="d")
    b = data.draw(st.integers(2, 4), label="b")
    k = data.draw(st.integers(1, 4), label="K")
    logits = data.draw(float_arrays((b, k), st.floats(-30, 30)), label="logits")
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=b, max_size=b), label="labels"))
    n_stages = data.draw(st.integers(0, 3), label="number of stages")
    stages = []
    for s in range(n_stages):
        c = data.draw(st.integers(2, 3), label=f"C[{s}]")
        sp = tuple(data.draw(st.integers(1, 3), label=f"stage {s} spatial[{a}]") for a in range(d))
        stages.append(data.draw(grid_arrays((b, c, *sp)), label=f"stage {s}"))
    lam = data.draw(st.floats(0.0, 10.0), label="lam")
    ce = np.mean([logsumexp(logits[i]) - logits[i, labels[i]] for i in range(b)])
    want = ce + lam * sum(_mfd_eq5(_pearson_by_cov(x)) for x in stages)
    got = R.mfd_joint_loss(logits, labels, stages, lam, d=d)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert R.mfd_joint_loss(logits, labels, tuple(stages), d=d) == pytest.approx(
        ce + sum(R.mfd_loss(x, d=d) for x in stages), rel=1e-12, abs=1e-12)


def test_joint_loss_cross_entropy_matches_torch():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(6, 5)) * 4, rng.integers(0, 5, size=6)
    want = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert R.mfd_joint_loss(logits, labels, [], d=2) == pytest.approx(want, rel=1e-13)


# ---------------------------------------------------------------- the torch twins

@given(st.data())
def test_twin_matches_reference_on_leading_batches(data):
    d, x = _features(data, min_c=2, max_c=3, max_b=4)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2), label="leading batch shape"))
    xs = data.draw(grid_arrays(lead + x.shape), label="batched features")
    for name in ("pearson_matrix", "mfd_loss", "mean_abs_offdiagonal"):
        got = getattr(B, name)(torch.tensor(xs), d=d).numpy()
        for idx in np.ndindex(*lead):
            np.testing.assert_allclose(got[idx], getattr(R, name)(xs[idx], d=d), rtol=0, atol=1e-12, err_msg=name)


def test_twin_dtype_and_device(device):
    x = torch.randn(2, 5, 3, 4, 4, generator=torch.Generator().manual_seed(0)).to(device)
    f = B.pearson_matrix(x, d=2)
    assert f.dtype == torch.float32 and f.device.type == torch.device(device).type and f.shape == (2, 3, 3)
    ref = R.pearson_matrix(x[1].double().cpu().numpy(), d=2)
    np.testing.assert_allclose(f[1].cpu().numpy(), ref, atol=1e-5)
    y = torch.randint(0, 4, (5,), device=device)
    loss = B.mfd_joint_loss(torch.randn(2, 5, 4, device=device), y, [x], 0.5, d=2)
    assert loss.shape == (2,) and loss.device.type == torch.device(device).type


def test_twin_gradcheck_through_dead_channels():
    """Gradients are finite with dead channels present and match finite differences in the live inputs."""
    g = torch.Generator().manual_seed(3)
    live = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(2, 4, 1, 3, dtype=torch.float64)
    const = torch.rand(1, 1, 1, 3, generator=g, dtype=torch.float64).expand(2, 4, 1, 3) + 2.0

    def assemble(a):
        return torch.cat([a[:, :, :1], zero, a[:, :, 1:], const], dim=2)   # channels: live, dead, live, live, dead

    for fn in (B.pearson_matrix, B.mfd_loss, B.mean_abs_offdiagonal):
        assert torch.autograd.gradcheck(lambda a: fn(assemble(a), d=1), (live,), eps=1e-6, atol=1e-6)
    y = torch.tensor([0, 2, 1, 1])
    logits = torch.randn(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, a: B.mfd_joint_loss(z, y, [assemble(a), a], 0.7, d=1),
                                    (logits, live), eps=1e-6, atol=1e-6)
    # backward through the dead channels themselves: zero, never NaN
    dead_in = torch.cat([zero, const], dim=2).clone().requires_grad_(True)
    B.mfd_loss(torch.cat([live, dead_in], dim=2), d=1).sum().backward()
    assert torch.equal(dead_in.grad, torch.zeros_like(dead_in))
    assert torch.isfinite(live.grad).all()


class _CountOps(TorchDispatchMode):
    """Counts the dispatched calls of the named aten operators (``counts``; ``n`` their total)."""

    def __init__(self, names):
        super().__init__()
        self.counts = dict.fromkeys(names, 0)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in self.counts:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def _count_matmuls():
    return _CountOps(("mm", "bmm", "addmm", "baddbmm", "matmul", "dot", "mv"))


@pytest.mark.parametrize("shape,d", [((6, 4), 0), ((2, 3, 6, 4, 5), 1), ((2, 6, 4, 3, 3), 2)])
def test_twin_pearson_is_one_gemm(shape, d):
    x = torch.randn(*shape, dtype=torch.float64)
    with _count_matmuls() as counter:
        B.pearson_matrix(x, d=d)
    assert counter.n == 1


# ---------------------------------------------------------------- the fused centred Gram and its shortcuts

from theory.batched import pearson as BP  # noqa: E402


def _plain_centred_gram(x):
    """``Z Zᵀ`` by plain autograd ops, ``x`` ``(B, b, C, P)``: the expression :class:`_CentredGram` fuses."""
    z = x - x.mean(dim=1, keepdim=True)
    return torch.einsum("nkcp,nkdp->ncd", z, z)


@pytest.mark.parametrize("c,p,last", [(3, 3, False), (10, 36, False), (3, 12, False), (3, 40, False),
                                      (3, 1, False), (3, 3, True), (10, 36, True), (3, 12, True)],
                         ids=["channel-gemm-P3", "channel-batched", "sample-P12", "sample-P40", "P1-channel-inner",
                              "channels-last-P3", "channels-last-P36", "channels-last-P12"])
def test_centred_gram_value_and_gradients_match_plain_autograd(c, p, last):
    """Every layout (channel layout with one GEMM then a copy or per-sample GEMMs backward; sample
    layout; channel axis innermost, as a channels-last network's features) against autograd of the plain
    expression, with a leading batch axis; the second derivative by gradgradcheck."""
    assert BP._sample_layout(c, p) == (p >= 4 * c)
    assert (p >= BP._BATCHED_BACKWARD_MIN_P) == (p >= 32)
    g = torch.Generator().manual_seed(p)
    if last:                                                  # (2, 5, C, P) with the channel axis innermost
        x = torch.randn(2, 5, p, c, generator=g, dtype=torch.float64).transpose(2, 3).requires_grad_(True)
    else:
        x = torch.randn(2, 5, c, p, generator=g, dtype=torch.float64, requires_grad=True)
    assert BP._channels_last(x) == (last or p == 1)
    w = torch.randn(2, c, c, generator=g, dtype=torch.float64)
    got, m = BP._CentredGram.apply(x)
    want = _plain_centred_gram(x)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(m, (x - x[:, :1]).mean(dim=1), rtol=1e-13, atol=1e-13)
    (gx,) = torch.autograd.grad((got * w).sum(), x)
    (wx,) = torch.autograd.grad((want * w).sum(), x)
    torch.testing.assert_close(gx, wx, rtol=1e-12, atol=1e-12)
    small = x[:1, :2].detach().clone().requires_grad_(True)                 # same layout as x
    assert BP._channels_last(small) == BP._channels_last(x)
    assert torch.autograd.gradcheck(lambda a: BP._CentredGram.apply(a)[0], (small,))
    assert torch.autograd.gradgradcheck(lambda a: BP._CentredGram.apply(a)[0], (small,))


def _tol_unit(x):
    b, p = x.shape[-3], x.shape[-1]
    return BP.DEAD_RTOL * torch.finfo(x.dtype).eps * (b * p) ** 0.5


def _check_bracket(dtype, b, p, kinds, scale, seed):
    g = torch.Generator().manual_seed(seed)
    chans = []
    for k in kinds:
        base = torch.rand(1, p, generator=g, dtype=torch.float64) + 0.5
        if k == "random":
            ch = torch.rand(b, p, generator=g, dtype=torch.float64)
        elif k == "zero":
            ch = torch.zeros(b, p, dtype=torch.float64)
        elif k == "constant":
            ch = base.expand(b, p)
        elif k.startswith("jitter"):
            ch = base * (1 + 10.0 ** float(k.split(":")[1]) * torch.randn(b, p, generator=g, dtype=torch.float64))
        else:   # one entry raised so that the centred norm is k times the threshold, up to rounding
            ch = base.expand(b, p).clone()
            unit = BP.DEAD_RTOL * torch.finfo(dtype).eps * (b * p) ** 0.5
            ch[1, 0] += float(k.split(":")[1]) * unit * float(base.max()) / (1 - 1 / b) ** 0.5
        chans.append(ch)
    x = (scale * torch.stack(chans, dim=1)).to(dtype).unsqueeze(0)             # (1, b, C, P)
    gram, m = BP._CentredGram.apply(x)
    n2 = gram.diagonal(dim1=-2, dim2=-1)
    mean_sq = (x[:, 0] + m).square().sum(dim=-1)
    exact = n2.sqrt() > _tol_unit(x) * x.abs().amax(dim=(-3, -1))
    torch.testing.assert_close(BP._live_channels(x, n2, mean_sq), exact, rtol=0, atol=0)


@given(st.data())
def test_live_channel_bracket_decides_like_the_exact_rule(data):
    """``_live_channels`` brackets max|I| by the channel's 2-norm; its decision must equal the exact rule
    ``||I - Ī|| > DEAD_RTOL·eps·max|I|·sqrt(b·P)`` on the same centred norms, including channels whose
    variation over the batch straddles the threshold (relative jitter 10^u, u drawn across it, and one
    entry raised to k times the threshold, k in [0.3, 3])."""
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64]), label="dtype")
    b, p = data.draw(st.integers(2, 6), label="b"), data.draw(st.integers(1, 40), label="P")
    kinds = data.draw(st.lists(channel_kinds(dtype), min_size=1, max_size=6), label="channel kinds")
    scale = 10.0 ** data.draw(st.integers(-3, 6), label="lg scale")
    _check_bracket(dtype, b, p, kinds, scale, data.draw(st.integers(0, 2**16), label="seed"))


@pytest.mark.parametrize("dtype,b,p,kinds", [
    (torch.float32, 4, 3, ["random", "zero", "constant", "jitter:-7.5", "threshold:0.9"]),
    # b = 2, P = 1: the 2-norm is only sqrt(2)·max, so the bracket's slack matters for k in (0.71, 1)
    (torch.float64, 2, 1, ["threshold:0.8", "threshold:0.95", "threshold:1.1", "random"]),
    (torch.float32, 2, 1, ["threshold:0.75", "threshold:0.9", "threshold:1.05", "zero"]),
], ids=["mixed-f32", "b2-f64", "b2-f32"])
def test_live_channel_bracket_pinned_cases(dtype, b, p, kinds):
    _check_bracket(dtype, b, p, kinds, 1e3, 0)


def test_exact_channel_maximum_is_computed_only_for_undecided_channels():
    """A ReLU-like stage output (with a dead channel) is decided by the 2-norm bracket, with no max|x|
    pass; channels whose centred norm is within the bracket of the threshold take the exact rule."""
    x = torch.relu(torch.randn(8, 6, 5, 5, generator=torch.Generator().manual_seed(1)))
    x[:, 2] = 0.0
    with _CountOps(["amax"]) as ops:
        B.pearson_matrix(x, d=2)
    assert ops.counts["amax"] == 0
    # ones with one entry raised by k·unit: centred norm k·unit·sqrt(3/4) against the threshold unit·max
    x = torch.ones(4, 3, 3, dtype=torch.float64)
    x[:, 0] = torch.arange(12.0, dtype=torch.float64).reshape(4, 3)
    unit = _tol_unit(x.unsqueeze(0))
    x[1, 1, 0] += 1.5 * unit     # 1.30 * threshold: live
    x[1, 2, 0] += 1.0 * unit     # 0.87 * threshold: dead
    with _CountOps(["amax"]) as ops:
        f = B.pearson_matrix(x, d=1)
    assert ops.counts["amax"] == 1
    assert f[1, 1] == 1.0 and torch.all(f[2] == 0)
    np.testing.assert_allclose(f.numpy(), R.pearson_matrix(x.numpy(), d=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("spatial", [(2, 2), (6, 6)], ids=["P=4", "P=36"])
def test_twin_mfd_backward_is_one_gemm(spatial):
    x = torch.randn(6, 4, *spatial, dtype=torch.float64, requires_grad=True)
    loss = B.mfd_loss(x, d=2)
    with _count_matmuls() as counter:
        loss.backward()
    assert counter.n == 1


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_twin_on_channels_last_features_matches_contiguous(dtype, tol):
    """Stage features of a channels-last network take the channel-innermost layout: same loss and gradient
    as the contiguous input (to rounding), the gradient in the input's layout, one GEMM each way."""
    g = torch.Generator().manual_seed(7)
    base = torch.randn(16, 6, 5, 7, generator=g, dtype=torch.float64).to(dtype)
    a = base.clone().requires_grad_(True)
    b = base.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with _count_matmuls() as counter:
        lb = B.mfd_loss(b, d=2)
    assert counter.n == 1
    la = B.mfd_loss(a, d=2)
    torch.testing.assert_close(lb, la, rtol=tol, atol=tol)
    la.backward()
    with _count_matmuls() as counter:
        lb.backward()
    assert counter.n == 1
    torch.testing.assert_close(b.grad, a.grad, rtol=tol, atol=tol * float(a.grad.abs().max()))
    assert b.grad.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(B.pearson_matrix(b.detach().double(), d=2).numpy(),
                               R.pearson_matrix(base.double().numpy(), d=2), rtol=0, atol=1e-12)
