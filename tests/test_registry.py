"""Every registered twin agrees with its NumPy reference, slice by slice, on every sample.

One parametrised test over REGISTRY x dtype x device x seed; ids read ``<op>-<dtype>-<device>-seed<k>``,
so ``pytest tests/test_registry.py -k 'kernel_crosscorrelation-float32-cpu-seed1'`` re-runs one case.
Also: proof that the checker can fail (deliberately wrong implementations are caught), that a failed
audit prints a line that re-runs exactly the failing check, and that every reference function has a twin
and a registry entry.
"""

from __future__ import annotations

import importlib
import re

import pytest
import torch

import theory.batched as B
import theory.reference as R
from theory import registry
from theory.batched import correlations as BC
from theory.batched import identity as BI
from theory.batched import similarity as BS
from theory.registry import REGISTRY, audit, check_sample, samples

DTYPES = {"float64": torch.float64, "float32": torch.float32}
SEEDS = (0, 1)
CONV_MODULES = ("correlations", "identity", "similarity", "orthogonality")
# Same list as tests/conftest.py's ``device`` fixture, passed to it indirectly to order the ids.
DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device present")])]


@pytest.fixture
def no_tf32():
    """float32 on CUDA: compare true float32 convolutions/matmuls, not TF32 (cuDNN's float32 default).

    torch 2.13 keeps the flags in ``fp32_precision`` (cuDNN conv defaults to 'tf32'); the legacy
    ``allow_tf32`` getters raise once the two APIs are mixed, so the new API is used where it exists.
    """
    conv = getattr(torch.backends.cudnn, "conv", None)
    matmul = torch.backends.cuda.matmul
    if conv is not None and hasattr(conv, "fp32_precision") and hasattr(matmul, "fp32_precision"):
        saved = conv.fp32_precision, matmul.fp32_precision
        conv.fp32_precision, matmul.fp32_precision = "ieee", "ieee"
        yield
        conv.fp32_precision, matmul.fp32_precision = saved
    else:  # older torch: the legacy flags
        saved = torch.backends.cudnn.allow_tf32, matmul.allow_tf32
        torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = False, False
        yield
        torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = saved


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("device", DEVICES, indirect=True)     # the conftest fixture, ids in this order
@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("op", REGISTRY, ids=lambda op: op.name)
def test_twin_matches_reference(op, dtype, device, seed, no_tf32):
    n = 0
    for sample in samples(op, seed):
        check_sample(op, sample, dtype=DTYPES[dtype], device=device, seed=seed)
        n += 1
    assert n >= 3, f"{op.name}: only {n} samples"


# ---------------------------------------------------------------- the checker can fail

def test_audit_accepts_the_twins():
    for name in ("kernel_crosscorrelation", "correlate", "identity_inner_product", "conv_similarity"):
        assert audit(name, registry.get(name).twin) > 0


def test_audit_catches_flipped_lag_order():
    twin = BC.kernel_crosscorrelation

    def flipped(k1, k2, *, d):          # (K2 ⋆ K1): every lag negated
        return torch.flip(twin(k1, k2, d=d), dims=tuple(range(-d, 0)))

    with pytest.raises(AssertionError, match="kernel_crosscorrelation"):
        audit("kernel_crosscorrelation", flipped)


def test_audit_catches_swapped_arguments_in_channel_pairs():
    twin = BC.channel_crosscorrelation

    def transposed(x, max_lag, *, d):   # R[c2, c1] instead of R[c1, c2]: only wrong when C > 1
        return twin(x, max_lag, d=d).transpose(-d - 2, -d - 1)

    with pytest.raises(AssertionError, match="channel_crosscorrelation"):
        audit("channel_crosscorrelation", transposed)


def test_audit_catches_wrong_same_centring():
    twin = BC.correlate

    def numpy_centred(x, k, padding="full", *, d):   # 'same' centred like np.correlate: wrong for even N
        return twin(x, k, "same_numpy" if padding == "same" else padding, d=d)

    with pytest.raises(AssertionError, match="correlate"):
        audit("correlate", numpy_centred)


def test_audit_catches_convolution_for_correlation():
    with pytest.raises(AssertionError, match="feature_inner_product"):
        audit("feature_inner_product",
              lambda x, k1, k2, padding="full", *, d: BI.feature_inner_product(
                  x, torch.flip(k1, dims=tuple(range(-d, 0))), torch.flip(k2, dims=tuple(range(-d, 0))),
                  padding, d=d))


def test_audit_catches_eq9_double_count():
    twin = BS.conv_similarity_matrix

    def eq9(weight, *, d):   # every pair counted twice (eq. 9, i != j) instead of eq. 10
        g = twin(weight, d=d)
        return g.sum(dim=(-2, -1)) - torch.diagonal(g, dim1=-2, dim2=-1).sum(-1)

    with pytest.raises(AssertionError, match="conv_similarity"):
        audit("conv_similarity", eq9)


def _flipped_kernel_crosscorrelation(k1, k2, *, d):     # (K2 ⋆ K1): every lag negated
    return torch.flip(BC.kernel_crosscorrelation(k1, k2, d=d), dims=tuple(range(-d, 0)))


def test_a_failed_audit_prints_a_line_that_reruns_exactly_that_check():
    """The message ends with a Python line (not the project's own test, which passes) that re-runs the
    user's function on the one failing sample; executed, it fails again with the same report."""
    with pytest.raises(AssertionError) as first:
        audit("kernel_crosscorrelation", _flipped_kernel_crosscorrelation, seeds=(2, 1))
    msg = str(first.value)
    line = re.search(r"re-run this check: (.*)", msg).group(1)
    assert line.startswith("import theory.registry, torch; theory.registry.audit('kernel_crosscorrelation', "
                           "_flipped_kernel_crosscorrelation, seeds=[2], sample=0,"), line
    assert "test_registry" not in msg
    with pytest.raises(AssertionError) as again:
        exec(line, {"_flipped_kernel_crosscorrelation": _flipped_kernel_crosscorrelation})
    assert str(again.value) == msg
    # that line selects one sample: the correct twin passes it, checking exactly one sample
    seeds, index = re.search(r"seeds=\[(\d+)\], sample=(\d+)", line).groups()
    assert audit("kernel_crosscorrelation", BC.kernel_crosscorrelation, seeds=[int(seeds)], sample=int(index)) == 1
    assert samples(registry.get("kernel_crosscorrelation"), int(seeds))[int(index)].describe() in msg


def test_a_failed_audit_names_a_lambda_impl():
    """A lambda has no usable name: the line refers to ``impl``, to be bound by the user."""
    with pytest.raises(AssertionError, match=r"theory\.registry\.audit\('conv_similarity', impl, seeds=\[0\], "
                                             r"sample=\d+, dtype=torch\.float32, device='cpu'\)"):
        audit("conv_similarity", lambda w, *, d: BS.conv_similarity(w, d=d) * 2, dtype=torch.float32)


def test_an_impl_that_raises_is_reported_with_the_rerun_line():
    def broken(k1, k2, *, d):
        if d == 2:
            raise RuntimeError("not implemented for d=2")
        return BC.kernel_crosscorrelation(k1, k2, d=d)

    with pytest.raises(AssertionError) as info:
        audit("kernel_crosscorrelation", broken)
    assert "raised RuntimeError: not implemented for d=2" in str(info.value)
    assert "theory.registry.audit('kernel_crosscorrelation', broken, seeds=[0], sample=3," in str(info.value)


def test_the_registry_check_of_a_twin_reruns_its_own_test():
    op = registry.get("conv_similarity_fast[gram]")
    with pytest.raises(AssertionError, match=re.escape(
            "python -m pytest 'tests/test_registry.py::test_twin_matches_reference"
            "[conv_similarity_fast[gram]-float64-cpu-seed1]'")):
        check_sample(op, samples(op, 1)[0], impl=lambda w, *, d: op.twin(w, d=d) + 1.0, seed=1)


def test_float32_cannot_pass_the_float64_tolerance():
    """A float32 computation compared at float64 tolerances must fail: the bound is not vacuous."""
    op = registry.get("identity_inner_product")
    twin = op.twin

    def lossy(*args, **kw):
        return twin(*(a.float() if torch.is_tensor(a) else a for a in args), **kw).double()

    with pytest.raises(AssertionError):
        audit("identity_inner_product", lossy)


# ---------------------------------------------------------------- completeness

def _public(module):
    mod = importlib.import_module(module)
    return list(getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]))


@pytest.mark.parametrize("module", CONV_MODULES)
def test_every_conv_reference_has_twin_and_entry(module):
    names = {op.name for op in REGISTRY}
    ref_names = _public(f"theory.reference.{module}")
    assert ref_names
    bat_names = set(_public(f"theory.batched.{module}"))
    missing_twin = [n for n in ref_names if n not in bat_names or not callable(getattr(B, n, None))]
    missing_entry = [n for n in ref_names if n not in names]
    assert not missing_twin, f"no batched twin for {missing_twin}"
    assert not missing_entry, f"no registry entry for {missing_entry}"
    for n in ref_names:
        op = registry.get(n)
        assert op.reference is getattr(importlib.import_module(f"theory.reference.{module}"), n)
        assert op.twin is not op.reference
        assert op.twin is getattr(B, n)


def test_every_registered_reference_name_has_a_twin():
    """Names in both the reference package and the registry (stats ones included) have a twin in theory.batched."""
    ref_public = {n for n in dir(R) if not n.startswith("_") and callable(getattr(R, n))}
    for op in REGISTRY:
        if op.name in ref_public:
            assert callable(getattr(B, op.name, None)), f"theory.batched lacks {op.name}"


def test_registry_names_unique():
    names = [op.name for op in REGISTRY]
    assert len(names) == len(set(names))


# ---------------------------------------------------------------- broadcasting beyond the registry's slicing

def test_partial_broadcast_matches_expanded():
    """Batch axes (2, 1) and (1, 3) broadcast to (2, 3) like torch: same result as expanding first."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 2, 5, 4, generator=g, dtype=torch.float64)
    k1 = torch.randn(1, 3, 2, 2, 3, generator=g, dtype=torch.float64)
    k2 = torch.randn(3, 2, 2, 3, generator=g, dtype=torch.float64)
    for fn in (B.feature_inner_product, B.identity_inner_product):
        got = fn(x, k1, k2, "same", d=2)
        want = fn(x.expand(2, 3, 2, 5, 4), k1.expand(2, 3, 2, 2, 3), k2.expand(2, 3, 2, 2, 3), "same", d=2)
        assert got.shape == (2, 3)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn(1, 2, 3, 2, 2, 3, generator=g, dtype=torch.float64)
    got = B.feature_maps(x, w, "same", d=2)
    assert got.shape == (2, 2, 3, 5, 4)
    torch.testing.assert_close(got, B.feature_maps(x.expand(2, 2, 2, 5, 4), w.expand(2, 2, 3, 2, 2, 3), "same", d=2))


def test_mixed_float_dtypes_promote():
    """float32 and float64 arguments promote to float64 (as torch does), rather than failing inside conv."""
    out = B.correlate(torch.rand(5).float(), torch.rand(3, dtype=torch.float64), d=1)
    assert out.dtype == torch.float64


def test_float32_stays_float32():
    assert B.feature_maps(torch.rand(2, 6), torch.rand(3, 2, 3), "same", d=1).dtype == torch.float32


def test_no_twin_is_its_reference():
    """Every registry check compares two implementations (a twin calling its reference would pass
    trivially): no twin is, or wraps by name, a reference function."""
    ref_funcs = {id(getattr(R, n)) for n in dir(R) if callable(getattr(R, n))}
    for op in REGISTRY:
        twin = getattr(op.twin, "func", op.twin)                  # functools.partial
        assert id(twin) not in ref_funcs, op.name
        assert twin.__module__.startswith("theory.batched") or twin.__module__.startswith("theory._opinfo"), op.name
