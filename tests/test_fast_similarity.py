"""Fast L_CS (Gram and FFT routes) against the direct pairwise route; the model-level helper."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from theory import batched as B
from theory import reference as R
from tests.strategies import weights


def _weight(data, max_s=5, max_c=4, max_n=4):
    return data.draw(weights(max_s=max_s, max_c=max_c, max_n=max_n), label="(d, weight)")


@pytest.mark.parametrize("method", B.CS_METHODS)
@given(data=st.data())
def test_fast_lcs_equals_direct_in_float64(method, data):
    d, w = _weight(data)
    direct = R.conv_similarity(w, d=d)
    scale = R.conv_similarity(np.abs(w), d=d) + np.sum(R.conv_similarity_matrix(np.abs(w), d=d).diagonal())
    got = B.conv_similarity_fast(torch.as_tensor(w), d=d, method=method).item()
    # The fast routes subtract the self terms from the total: round-off is relative to both.
    assert abs(got - direct) <= 1e-12 * scale + 1e-300, (got, direct)


@pytest.mark.parametrize("method", B.CS_METHODS)
@given(data=st.data())
def test_fast_lcs_gradient_equals_direct_gradient(method, data):
    d, w = _weight(data, max_s=4, max_c=3, max_n=3)
    wd = torch.tensor(w, requires_grad=True)
    wf = torch.tensor(w, requires_grad=True)
    B.conv_similarity(wd, d=d).backward()
    B.conv_similarity_fast(wf, d=d, method=method).backward()
    scale = float(np.abs(wd.grad.numpy()).max()) + float(np.sum(np.abs(w))) ** 3
    np.testing.assert_allclose(wf.grad.numpy(), wd.grad.numpy(), rtol=0, atol=1e-12 * scale + 1e-300)


def test_fast_lcs_gradcheck():
    w = torch.randn(3, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    for m in B.CS_METHODS:
        assert torch.autograd.gradcheck(lambda t: B.conv_similarity_fast(t, d=2, method=m), (w,))
    assert torch.autograd.gradcheck(lambda t: B.conv_similarity_normalized(t, d=2), (w,))


@given(st.data())
def test_normalized_lcs_is_scale_invariant_per_kernel(data):
    d, w = _weight(data)
    # no zero kernels, and no entry so small that a scale of 1e-3 or its square leaves the normal floats (a kernel
    # of 5e-324 times 0.5 is zero): the law is about real scalings, not underflow
    w = np.where(np.abs(w) < 1e-150, 0.5, w)
    scales = np.array(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=w.shape[0], max_size=w.shape[0]),
                                label="per-kernel scales")).reshape((-1,) + (1,) * (w.ndim - 1))
    base = R.conv_similarity_normalized(w, d=d)
    assert R.conv_similarity_normalized(w * scales, d=d) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert B.conv_similarity_normalized(torch.as_tensor(w * scales), d=d).item() == pytest.approx(base, rel=1e-9, abs=1e-12)


def test_fast_lcs_batched_and_float32():
    w = torch.randn(2, 3, 6, 4, 3, 3, dtype=torch.float64)
    got = B.conv_similarity_fast(w, d=2)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert got[i, j].item() == pytest.approx(R.conv_similarity(w[i, j].numpy(), d=2), rel=1e-11)
    # float32: documented tolerance 1e-4 relative (the subtraction of self terms loses digits).
    g32 = B.conv_similarity_fast(w.float(), d=2).double()
    torch.testing.assert_close(g32, got, rtol=1e-4, atol=0)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 3)
        self.b = torch.nn.Conv1d(4, 5, 2)
        self.g = torch.nn.Conv2d(4, 4, 3, groups=2)
        self.lin = torch.nn.Linear(3, 3)


def test_model_conv_similarity_sums_selected_layers():
    torch.manual_seed(0)
    net = _Net().double()
    ref_a = R.conv_similarity(net.a.weight.detach().numpy(), d=2)
    ref_b = R.conv_similarity(net.b.weight.detach().numpy(), d=1)
    total = B.model_conv_similarity(net, layers=["a", "b"])
    assert total.item() == pytest.approx(ref_a + ref_b, rel=1e-12)
    weighted = B.model_conv_similarity(net, layers=lambda n, m: n in ("a", "b"), layer_weights={"b": 0.5})
    assert weighted.item() == pytest.approx(ref_a + 0.5 * ref_b, rel=1e-12)
    per = B.model_conv_similarity(net, layers=["a"], reduce=False)
    assert list(per) == ["a"] and per["a"].item() == pytest.approx(ref_a, rel=1e-12)
    total.backward()
    assert net.a.weight.grad is not None and net.g.weight.grad is None


# model_conv_similarity has no reference, hence no registry entry: its bad inputs are checked here.
@pytest.mark.parametrize("kwargs, err, match", [
    ({}, ValueError, "grouped convolution"),
    ({"layers": ["nope"]}, ValueError, "layers: \\['nope'\\]"),
    ({"layers": []}, ValueError, "no Conv1d/Conv2d layer selected"),
    ({"layers": ["a"], "method": "svd"}, ValueError, "method"),
])
def test_model_conv_similarity_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        B.model_conv_similarity(_Net().double(), **kwargs)


def test_model_conv_similarity_rejects_non_module():
    with pytest.raises(TypeError, match="model"):
        B.model_conv_similarity(torch.zeros(3))

