"""Reliability of ``theory``: refuse bad input before any work, never a silent NaN or inf.

One regression test per finding: low-precision Pearson/MFD input (computed in float32), scale invariance of
cosines and correlations at huge and tiny finite magnitudes, the memory and work caps checked before
allocating or looping, silent accepts (integer ``dtype``, misspelt ``layer_weights`` keys, float sizes and
lags, string or bool options), and errors that name the argument (tensors given to the references, huge
``max_lag``, CUDA devices where there is none). The property-based sweep over every public function is
``tests/test_fuzz_theory.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import theory._validate as V
import theory.batched as B
import theory.reference as R

RNG = np.random.default_rng(15)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where CUDA is absent")


def _t(a, dtype=torch.float64):
    return torch.as_tensor(a, dtype=dtype)


# ---------------------------------------------------------------- 3. float16 / bfloat16 Pearson input

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_mfd_input_is_computed_in_float32(dtype):
    """fp16 stage features of realistic size: the sums of squares overflow fp16 (a NaN loss before); the
    twins compute in float32, return float32, match the float64 reference of the same (rounded) values,
    and give a finite gradient in the input's dtype."""
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, 8, 8, 8, generator=g) * 4).to(dtype)
    want = R.mfd_loss(x.double().numpy(), d=2)
    for fn, ref in ((B.mfd_loss, R.mfd_loss), (B.mean_abs_offdiagonal, R.mean_abs_offdiagonal)):
        got = fn(x, d=2)
        assert got.dtype == torch.float32 and torch.isfinite(got)
        assert abs(float(got) - ref(x.double().numpy(), d=2)) <= 1e-5 * max(1.0, abs(want))
    f = B.pearson_matrix(x, d=2)
    assert f.dtype == torch.float32 and bool(torch.isfinite(f).all())
    np.testing.assert_allclose(f.numpy(), R.pearson_matrix(x.double().numpy(), d=2), rtol=0, atol=1e-5)
    leaf = x.clone().requires_grad_(True)
    B.mfd_loss(leaf, d=2).backward()
    assert leaf.grad.dtype == dtype and bool(torch.isfinite(leaf.grad.float()).all())
    joint = B.mfd_joint_loss(torch.zeros(64, 3), torch.zeros(64, dtype=torch.long), [x], 1.0, d=2)
    assert torch.isfinite(joint)


def test_the_reference_computes_float16_in_float64():
    x = (RNG.normal(size=(16, 4, 3)) * 100).astype(np.float16)
    assert R.mfd_loss(x, d=1) == R.mfd_loss(x.astype(np.float64), d=1)


# ---------------------------------------------------------------- 4. scale invariance at huge and tiny magnitudes

def _weight():
    return RNG.normal(size=(4, 2, 3))


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e-310])
def test_reference_cosines_are_scale_invariant(scale):
    w = _weight()
    np.testing.assert_allclose(R.kernel_cosine_matrix(w * scale, d=1), R.kernel_cosine_matrix(w, d=1),
                               rtol=0, atol=1e-12)
    assert R.kernel_cosine(w[0] * scale, w[1], d=1) == pytest.approx(R.kernel_cosine(w[0], w[1], d=1), abs=1e-12)
    assert R.orthoreg(w * scale, d=1) == pytest.approx(R.orthoreg(w, d=1), rel=1e-12)


#: huge and tiny finite magnitudes per twin dtype (float32's largest safe scales are smaller)
TWIN_SCALES = [(torch.float64, 1e200), (torch.float64, 1e-200), (torch.float32, 1e20), (torch.float32, 1e-20),
               (torch.float32, 1e-30)]
#: the twins' absolute tolerance against the float64 reference at those scales
TWIN_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


@pytest.mark.parametrize("dtype, scale", TWIN_SCALES, ids=str)
def test_twin_cosines_are_scale_invariant(dtype, scale):
    w = _weight()
    want = R.kernel_cosine_matrix(w, d=1)
    tol = TWIN_TOL[dtype]
    got = B.kernel_cosine_matrix(_t(w * scale, dtype), d=1)
    np.testing.assert_allclose(got.double().numpy(), want, rtol=0, atol=tol)
    got = B.kernel_cosine(_t(w[0] * scale, dtype), _t(w[1] * scale, dtype), d=1)
    assert float(got) == pytest.approx(want[0, 1], abs=tol)
    assert float(B.orthoreg(_t(w * scale, dtype), d=1)) == pytest.approx(R.orthoreg(w, d=1), rel=tol * 10)


def _features():
    x = RNG.normal(size=(6, 4, 5)) + 3.0
    x[:, 2] = 7.0                                             # a dead channel: constant over the batch
    return x


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_reference_pearson_is_scale_invariant(scale):
    x = _features()
    np.testing.assert_allclose(R.pearson_matrix(x * scale, d=1), R.pearson_matrix(x, d=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, scale", TWIN_SCALES, ids=str)
def test_twin_pearson_is_scale_invariant(dtype, scale):
    x = _features()
    want = R.pearson_matrix(x, d=1)
    tol = TWIN_TOL[dtype]
    got = B.pearson_matrix(_t(x * scale, dtype), d=1)
    assert bool(torch.isfinite(got).all())
    np.testing.assert_allclose(got.double().numpy(), want, rtol=0, atol=tol)
    assert float(B.mfd_loss(_t(x * scale, dtype), d=1)) == pytest.approx(R.mfd_loss(x, d=1), abs=tol)


@pytest.mark.parametrize("dtype, exponent", [(torch.float64, 600), (torch.float64, -600), (torch.float32, 80),
                                             (torch.float32, -80)], ids=str)
def test_the_scaled_path_keeps_the_exact_gradient(dtype, exponent):
    """Pearson is invariant to x -> s·x, so its gradient at s·x is the gradient at x divided by s; the
    power-of-two rescaling (triggered at these magnitudes) is detached and exact, so this holds exactly."""
    x = _t(_features(), dtype)
    s = 2.0 ** exponent
    a, b = x.clone().requires_grad_(True), (x * s).requires_grad_(True)
    B.mfd_loss(a, d=1).backward()
    B.mfd_loss(b, d=1).backward()
    assert bool(torch.isfinite(b.grad).all())
    torch.testing.assert_close(b.grad.double() * s, a.grad.double(), rtol=0, atol=0)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_pod_cosines_are_scale_invariant(scale):
    c = R.pedcc_centroids(3, 4, seed=1)
    y = np.array([0, 1, 2, 0, 1])
    f = c[y] + 0.3 * RNG.normal(size=(5, 4))
    for fn in (R.cosine_loss, R.sc_loss, R.pod_loss):
        assert fn(f * scale, y, c) == pytest.approx(fn(f, y, c), rel=1e-12, abs=1e-15)
    assert R.cosine_loss(f, y, c * scale) == pytest.approx(R.cosine_loss(f, y, c), rel=1e-12)
    assert R.pedcc_predict(f * scale, c * scale).tolist() == R.pedcc_predict(f, c).tolist()
    for fn in (B.cosine_loss, B.sc_loss):
        want = fn(_t(f), _t(y, torch.long), _t(c)).item()
        assert float(fn(_t(f * scale), _t(y, torch.long), _t(c))) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert B.pedcc_predict(_t(f * scale), _t(c * scale)).tolist() == R.pedcc_predict(f, c).tolist()


def test_only_an_exactly_zero_kernel_is_a_zero_kernel():
    """The policy: after scaling by a power of two near max|K|, a kernel is zero only if every entry is 0
    (a squared norm that underflows no longer counts as zero)."""
    w = _weight()
    w[1] *= 1e-300
    assert np.isfinite(R.kernel_cosine_matrix(w, d=1)).all()
    assert bool(torch.isfinite(B.kernel_cosine_matrix(_t(w), d=1)).all())
    w[1] = 0.0
    with pytest.raises(ValueError, match=r"^weight: the cosine is undefined for a zero kernel"):
        R.kernel_cosine_matrix(w, d=1)
    with pytest.raises(ValueError, match=r"^weight: the cosine is undefined for a zero kernel"):
        B.kernel_cosine_matrix(_t(w), d=1)


@pytest.mark.parametrize("world", [R, B], ids=["reference", "twin"])
def test_an_overflowing_result_is_a_named_error_not_inf(world):
    w = _weight() * 1e200
    arg = w if world is R else _t(w)
    with pytest.raises(ValueError, match=r"^weight: the result overflows"):
        world.conv_similarity(arg, d=1)


# ---------------------------------------------------------------- 6. memory and work caps, before any work

def _quick(fn, *args, exc=ValueError, match, **kw):
    t0 = time.perf_counter()
    with pytest.raises(exc, match=match):
        fn(*args, **kw)
    assert time.perf_counter() - t0 < 2.0, "refused only after doing the work"


def test_the_twins_refuse_oversized_intermediates_before_allocating():
    """conv_similarity_matrix of a 2.4 MB weight asked the allocator for 400 GiB."""
    w = torch.rand(256, 256, 3, 3)
    _quick(B.conv_similarity_matrix, w, d=2, match=r"^weight: .* GiB of memory, over the cap")
    _quick(B.conv_similarity, w, d=2, match=r"^weight: .*GiB")
    _quick(B.kernel_cosine_matrix, torch.rand(200_000, 1, 1), d=1, match=r"^weight: .*GiB")
    _quick(B.autocorrelation, torch.rand(5), 10 ** 10, d=1, match=r"^max_lag: .*GiB")
    _quick(B.lags, 3, None, 10 ** 12, match=r"^max_lag: .*GiB")
    _quick(B.pedcc_centroids, 2, 10 ** 10, match=r"^k and n: .*GiB")
    _quick(B.decov, torch.rand(2, 100_000), d=0, match=r"^h: .*GiB")
    _quick(B.kernel_inner_product, torch.rand(10 ** 5, 1, 1, 100), torch.rand(1, 10 ** 5, 1, 100), d=1,
           match=r"^k1 and k2: .*GiB")


def test_the_references_refuse_hours_of_loops_and_oversized_arrays():
    _quick(R.conv_similarity_matrix, RNG.random((64, 64, 3, 3)), d=2, match=r"^weight: .*work cap")
    _quick(R.pearson_matrix, RNG.random((64, 2048)), d=0, match=r"^features: .*work cap")
    _quick(R.decov, RNG.random((4, 64, 16, 16)), d=2, match=r"^h: .*work cap")
    _quick(R.autocorrelation, RNG.random(5), 10 ** 10, d=1, match=r"^max_lag: .*GiB")
    _quick(R.lags, 3, None, 10 ** 12, match=r"^max_lag: .*GiB")
    _quick(R.pedcc_centroids, 2, 10 ** 10, match=r"^k and n: .*GiB")


def test_the_caps_are_overridable(monkeypatch):
    w = torch.rand(8, 4, 3, 3)
    B.conv_similarity_matrix(w, d=2)
    monkeypatch.setattr(V, "MEMORY_CAP", 2 ** 20 + 1)            # checks run above 1 MiB
    with pytest.raises(ValueError, match=r"^weight: .* over the cap of 0\.000977 GiB"):
        B.conv_similarity_matrix(torch.rand(64, 16, 5, 5), d=2)
    monkeypatch.setattr(V, "MEMORY_CAP", None)
    monkeypatch.setenv("THEORY_MEMORY_CAP_GIB", "0.001")
    with pytest.raises(ValueError, match=r"^weight: .*GiB"):
        B.conv_similarity_matrix(torch.rand(64, 16, 5, 5), d=2)
    monkeypatch.delenv("THEORY_MEMORY_CAP_GIB")
    monkeypatch.setattr(V, "WORK_CAP", 10 ** 4)
    with pytest.raises(ValueError, match=r"^weight: .*work cap"):
        R.conv_similarity_matrix(RNG.random((4, 2, 3)), d=1)


def test_the_default_cap_is_at_most_the_available_memory():
    avail = V.available_memory()
    assert V.memory_cap() <= V.DEFAULT_MEMORY_CAP
    if avail is not None:
        assert V.memory_cap() <= avail


# ---------------------------------------------------------------- 7. silent accepts

@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64, "float32"], ids=str)
def test_pedcc_centroids_refuse_a_non_floating_dtype(dtype):
    with pytest.raises(TypeError, match=r"^dtype: expected a real floating"):
        B.pedcc_centroids(3, 4, dtype=dtype)


def test_a_misspelt_layer_weights_key_is_an_error_listing_the_layers():
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 2), torch.nn.ReLU(), torch.nn.Conv1d(2, 2, 2))
    with pytest.raises(ValueError, match=r"^layer_weights: \['O'\] are not .* valid names: \['0', '2'\]"):
        B.model_conv_similarity(net, layer_weights={"O": 2.0})
    with pytest.raises(TypeError, match=r"^layer_weights: "):
        B.model_conv_similarity(net, layer_weights={"0": "2"})
    with pytest.raises(TypeError, match=r"^layers: .*string"):
        B.model_conv_similarity(net, layers="0")
    with pytest.raises(TypeError, match=r"^normalized: "):
        B.model_conv_similarity(net, normalized="yes")


@pytest.mark.parametrize("world", [R, B], ids=["reference", "twin"])
def test_sizes_and_lags_are_ints(world):
    t = (lambda a: a) if world is R else _t
    for args in [(-1,), (2.5,), (True,), ("3",), (3, 2.0), (3, None, 2.0), (3, None, -1)]:
        with pytest.raises(ValueError, match=r"^(size_a|size_b|max_lag): "):
            world.lags(*args)
    for lag in (2.0, np.float64(1.0), (1.0,), "1", -1, 1e300, 10 ** 30):
        with pytest.raises(ValueError, match=r"^max_lag: "):
            world.autocorrelation(t(np.ones(4)), lag, d=1)
    for ks in (2.0, "2", (2.5,), True):
        with pytest.raises(ValueError, match=r"^kernel_shape: "):
            world.feature_patches(t(np.ones((1, 4))), ks, d=1)
    for seed in ("8", 2.5, -1, True):
        with pytest.raises(ValueError, match=r"^seed: "):
            world.pedcc_centroids(3, 4, seed=seed)
    with pytest.raises(TypeError, match=r"^both_signs: "):
        world.orthoreg(t(_weight()), d=1, both_signs="no")


def test_dft_operands_take_int_sizes_only():
    for ks in ((2.5,), ("3",), (True,), (3.0, 2)):
        with pytest.raises(ValueError, match=r"^kernel_shape: "):
            B.dft_operands(ks)
    assert B.dft_operands([2])[3] == B.dft_operands((2,))[3] == 3


# ---------------------------------------------------------------- 8. helpful errors

def test_a_reference_reads_a_tensor_that_requires_grad():
    w = _weight()
    t = torch.tensor(w, requires_grad=True)
    np.testing.assert_array_equal(R.kernel_cosine_matrix(t, d=1), R.kernel_cosine_matrix(w, d=1))
    x = _features()
    assert R.mfd_loss(torch.tensor(x, requires_grad=True), d=1) == R.mfd_loss(x, d=1)
    with pytest.raises(TypeError, match=r"^weight: a meta tensor has no values"):
        R.kernel_cosine_matrix(torch.ones(2, 1, 3, device="meta"), d=1)
    with pytest.raises(ValueError, match=r"^x: expected a rectangular array"):
        R.autocorrelation([[1.0], [1.0, 2.0]], None, d=1)


@pytest.mark.parametrize("world", [R, B], ids=["reference", "twin"])
def test_autocorrelation_errors_name_x_and_max_lag(world):
    t = (lambda a: a) if world is R else _t
    with pytest.raises(ValueError, match=r"^max_lag: "):
        world.autocorrelation(t(np.ones(4)), 1e300, d=1)          # OverflowError before
    with pytest.raises(ValueError, match=r"^max_lag: "):
        world.autocorrelation(t(np.ones(4)), float("inf"), d=1)
    with pytest.raises(ValueError, match=r"^x: the result overflows"):
        world.autocorrelation(t(np.full(4, 1e200)), 1, d=1)


@NO_CUDA
@pytest.mark.parametrize("call", [lambda dev: B.pedcc_centroids(3, 4, device=dev),
                                  lambda dev: B.lags(3, device=dev)], ids=["pedcc_centroids", "lags"])
def test_a_cuda_device_without_cuda_is_a_named_error(call):
    for dev in ("cuda", "cuda:1", torch.device("cuda")):
        with pytest.raises(ValueError, match=r"^device: .*CUDA is not available"):
            call(dev)
    with pytest.raises(ValueError, match=r"^device: "):
        call("gpu")
    with pytest.raises(TypeError, match=r"^device: "):
        call(1.5)
    assert call("meta").device.type == "meta"
