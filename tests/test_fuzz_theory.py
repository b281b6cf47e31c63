"""Property-based fuzzing of every public function of ``theory.reference`` and ``theory.batched``.

Driven by the registry: each entry's sample inputs (one problem, unbatched) give a valid call, and
hypothesis turns one argument into a bad or unusual value (``tests/strategies.py``: int, bool, complex,
float16 and float32 dtypes, NaN, inf, huge and tiny finite magnitudes, empty axes, wrong ranks, tensors that
require grad, meta tensors; negative, fractional, boolean, string and huge sizes and lags). The property:
the function either raises a ValueError/TypeError whose message starts with the name of one of its
arguments, or returns a finite, correct result, where "correct" is what the docstrings promise:

* a scale-invariant quantity (cosines, Pearson correlations, the losses built on them) is unchanged when an
  argument it is invariant in is scaled by a huge or tiny finite factor;
* a reference computes an int, bool or float16 array, or a tensor that requires grad, as its float64 copy;
* a twin computes float16 (and float32) input as the float32 tensor of the same values;
* a twin given meta tensors returns meta tensors (or a named error);
* the Monte Carlo engines (:mod:`theory.batched.gram`) pass non-finite values through, as documented.

The functions the registry does not hold (``model_conv_similarity``, ``dft_operands``) and the ``device=``
and ``dtype=`` arguments of the factories get their own properties. The whole file runs in well under
30 s (few examples per entry, small shapes); ``HYPOTHESIS_PROFILE=thorough`` draws 10x more.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import theory.batched as B
import theory.reference as R
from theory.opinfo import to_torch
from theory.registry import REGISTRY, samples
from tests.strategies import array_mutations, size_mutations

EXAMPLES = max(3, settings.default.max_examples // 8)
FUZZ = settings(max_examples=EXAMPLES, deadline=None)

# (registry entry -> argument positions it is invariant in under a positive rescaling)
SCALE_INVARIANT = {
    "kernel_cosine": {0, 1}, "kernel_cosine_matrix": {0}, "orthoreg": {0}, "conv_similarity_normalized": {0},
    "pearson_matrix": {0}, "mfd_loss": {0}, "mean_abs_offdiagonal": {0}, "cosine_loss": {0, 2}, "sc_loss": {0},
    "pod_loss": {0}, "pedcc_predict": {0, 1},
}
ANY_SHAPE = {"orthoreg_pair_weight"}
PASSTHROUGH = {"feature_patches", "feature_gram", "feature_gram_stack", "gram_quadratic_forms", "kernel_spectrum"}
OPS = list(REGISTRY)


def _invariant_positions(op) -> set:
    if op.name == "mfd_joint_loss":                     # (logits, labels, *stages): the stages
        return set(range(2, 10))
    return SCALE_INVARIANT.get(op.name, set())


def _named(message: str) -> list[str]:
    head = message.split(":", 1)[0].split(" (")[0]
    return [t for t in re.findall(r"[A-Za-z_]\w*", head) if t != "and"]


def _params(fn) -> set[str]:
    return set(inspect.signature(fn).parameters)


def _call(fn, args, kwargs):
    """``('ok', result)`` or ``('raised', exception)``."""
    grad = any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.enable_grad() if grad else torch.no_grad():
                return "ok", fn(*args, **kwargs)
    except Exception as exc:                            # noqa: BLE001 - classified by the caller
        return "raised", exc


def _assert_named(fn, exc, where):
    assert isinstance(exc, (ValueError, TypeError)), f"{where}: raised {type(exc).__name__}: {exc}"
    names = _named(str(exc))
    assert names and set(names) <= _params(fn), (
        f"{where}: the message should start with an argument's name ({sorted(_params(fn))}): {exc}")


def _flat(out) -> list:
    return [v for o in out for v in _flat(o)] if isinstance(out, (tuple, list)) else [out]


def _values(out) -> list[np.ndarray]:
    got = []
    for v in _flat(out):
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu()
            v = v.to(torch.float64) if v.is_floating_point() else v
        got.append(np.asarray(v))
    return got


def _assert_finite(out, where):
    for v in _flat(out):
        if isinstance(v, torch.Tensor) and v.device.type == "meta":
            continue
        a = np.asarray(v.detach().cpu().to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point()
                       else v)
        assert a.dtype.kind not in "fc" or np.all(np.isfinite(a)), f"{where}: returned inf or NaN: {a}"


def _assert_close(out, want, tol, where):
    got, ref = _values(out), _values(want)
    assert len(got) == len(ref), where
    for g, w in zip(got, ref):
        assert g.shape == w.shape, f"{where}: shape {g.shape}, expected {w.shape}"
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w, err_msg=where)
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=tol * max(1.0, float(np.max(np.abs(w), initial=0.0))),
                                       err_msg=where)


# ---------------------------------------------------------------- building a mutated call

def _base(op, world, data):
    """A valid call of ``op``'s ``world`` implementation, from one of its samples, unbatched."""
    ss = samples(op, 0)
    s = ss[data.draw(st.integers(0, min(len(ss), 4) - 1), label="sample")]
    args = list(s.slice((0,) * len(s.batch)))
    if world == "twin":
        args = [to_torch(a) for a in args]
    extra = {"dtype": torch.float64} if world == "twin" and "dtype" in op.factory else {}
    return (op.reference if world == "reference" else op.twin), args, dict(s.kwargs, **extra)


def _is_float_array(v) -> bool:
    return ((isinstance(v, np.ndarray) and v.dtype.kind == "f")
            or (isinstance(v, torch.Tensor) and v.is_floating_point()))


def _is_size(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _mutate_array(world, v, kind, detail):
    """``(new value, expectation, same)``: expectation ``refuse``/``finite``/``equal``/``invariant``/``meta``,
    and for ``equal`` the value whose result it must reproduce."""
    if world == "reference":
        a = np.asarray(v)
        if kind == "int":
            new = np.rint(a * 4).astype(np.int64)
            return new, "equal", new.astype(np.float64)
        if kind == "bool":
            new = a > np.median(a)
            return new, "equal", new.astype(np.float64)
        if kind in ("float16", "float32"):
            new = a.astype(kind)
            return new, "equal", new.astype(np.float64)
        if kind == "requires_grad":
            return torch.tensor(a, requires_grad=True), "equal", a
        if kind == "meta":
            return torch.empty(a.shape, device="meta"), "refuse", None
        if kind == "complex":
            return a + 0j, "refuse", None
    else:
        t = v
        if kind == "int":
            return torch.as_tensor(np.rint(t.numpy() * 4).astype(np.int64)), "refuse", None
        if kind == "bool":
            return t > t.median(), "refuse", None
        if kind == "complex":
            return t.to(torch.complex128), "refuse", None
        if kind in ("float16", "float32"):
            new = t.to(getattr(torch, kind))
            return new, "equal", new.float()
        if kind == "requires_grad":
            return t.clone().requires_grad_(True), "finite", None
        if kind == "meta":
            return t.to("meta"), "meta", None
        a = t.numpy()
    if kind in ("nan", "inf"):
        new = a.copy().reshape(-1)
        new[detail % new.size] = math.nan if kind == "nan" else math.inf
        new = new.reshape(a.shape)
        return (new if world == "reference" else torch.as_tensor(new)), "refuse", None
    if kind == "empty":
        shape = list(a.shape)
        shape[min(detail, len(shape) - 1)] = 0
        new = np.zeros(shape)
        return (new if world == "reference" else torch.as_tensor(new)), "refuse", None
    if kind == "extra_axis":
        new = a[None]
        return (new if world == "reference" else torch.as_tensor(new)), ("refuse" if world == "reference" else
                                                                          "finite"), None
    if kind == "drop_axis":
        new = a[0]
        return (new if world == "reference" else torch.as_tensor(new)), "finite", None
    raise AssertionError(kind)


def _run_property(op, world, data):
    fn, args, kwargs = _base(op, world, data)
    arrays = [i for i, a in enumerate(args) if _is_float_array(a)]
    sizes = [i for i, a in enumerate(args) if _is_size(a)]
    target = data.draw(st.sampled_from(arrays + sizes), label="argument") if arrays + sizes else None
    where = f"{op.name} ({world})"
    if target is None:
        return
    compare = None
    if target in sizes:
        new = data.draw(size_mutations(), label="value")
        args[target] = new
        expect = "finite" if isinstance(new, int) and not isinstance(new, bool) and new > 0 else "refuse"
    else:
        kind, detail = data.draw(array_mutations(np.ndim(args[target])), label="mutation")
        where += f", argument {target} -> {kind} {detail}"
        if kind == "scale":
            dtype, factor = detail
            if world == "twin":
                dt = getattr(torch, dtype)
                args = [a.to(dt) if _is_float_array(a) else a for a in args]
                base_args = list(args)
                args[target] = (args[target].double() * factor).to(dt)
            else:
                base_args = list(args)
                args[target] = args[target] * factor
            if target in _invariant_positions(op):
                expect, compare = "invariant", (fn, base_args, kwargs)
            else:
                expect = "passthrough" if world == "twin" and op.name in PASSTHROUGH else "finite"
        else:
            new, expect, same = _mutate_array(world, args[target], kind, detail)
            if expect == "equal":
                ref_args = list(args)
                ref_args[target] = same
                compare = (fn, ref_args, kwargs)
            args[target] = new
            if op.name in ANY_SHAPE and kind in ("extra_axis", "drop_axis"):
                expect = "finite"
            if world == "twin" and op.name in PASSTHROUGH and kind in ("nan", "inf", "empty"):
                expect = "passthrough"
            if world == "twin" and kind == "meta":
                args = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
    status, out = _call(fn, args, kwargs)
    if status == "raised":
        _assert_named(fn, out, where)
        assert expect != "invariant", f"{where}: refused a scale-invariant call: {out}"
        if expect == "equal":                       # the same values as float64/float32 must fail alike
            st2, want = _call(*compare)
            assert st2 == "raised" and type(want) is type(out), f"{where}: refused {out}, but its copy gives a result"
        return
    assert expect != "refuse", f"{where}: silently accepted a bad input, returned {out}"
    if expect == "passthrough":
        return
    if expect == "meta":
        assert all(v.device.type == "meta" for v in _flat(out) if isinstance(v, torch.Tensor)), where
        return
    _assert_finite(out, where)
    if compare is not None:
        st2, want = _call(*compare)
        assert st2 == "ok", f"{where}: accepted, but its comparison call raised {want!r}"
        f32 = any(isinstance(a, torch.Tensor) and a.dtype in (torch.float32, torch.float16) for a in args)
        tol = 0.0 if expect == "equal" else (5e-4 if f32 else 1e-8)
        _assert_close(out, want, tol, where)


@pytest.mark.parametrize("world", ["reference", "twin"])
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@FUZZ
@given(data=st.data())
def test_bad_input_gives_a_named_error_or_a_finite_right_result(op, world, data):
    _run_property(op, world, data)


# ---------------------------------------------------------------- what the registry does not hold

def _public(world) -> dict:
    pkg = R if world == "reference" else B
    return {n: getattr(pkg, n) for n in pkg.__all__ if callable(getattr(pkg, n))}


EXTRA = {"model_conv_similarity", "dft_operands", "conv_similarity_fast"}


@pytest.mark.parametrize("world", ["reference", "twin"])
def test_every_public_function_is_fuzzed(world):
    covered = set()
    for op in REGISTRY:
        for fn in (op.reference, op.twin, op.error_target("reference"), op.error_target("twin")):
            fn = getattr(fn, "func", fn)
            covered.add(fn.__name__)
    missing = sorted(set(_public(world)) - covered - EXTRA)
    assert not missing, f"theory.{world}: public functions without a fuzzed registry entry: {missing}"


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3, bias=False), torch.nn.ReLU(), torch.nn.Conv2d(1, 2, 2))


@FUZZ
@given(key=st.sampled_from(["layers", "layer_weights", "normalized", "reduce", "method", "scale"]), data=st.data())
def test_model_conv_similarity_refuses_bad_options_and_is_scale_invariant_when_normalised(key, data):
    fn = B.model_conv_similarity
    bad = {"layers": ["0", "9"], "layer_weights": data.draw(st.sampled_from([{"O": 1.0}, {"0": "x"}, {"0": math.nan},
                                                                            [1.0]])),
           "normalized": "yes", "reduce": 1, "method": "svd"}
    net = _net()
    if key == "scale":
        factor = data.draw(st.sampled_from([1e20, 1e-30]), label="factor")
        want = fn(net, normalized=True)
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(factor)
        got = fn(net, normalized=True)
        assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-4)
        return
    status, out = _call(fn, [net], {key: bad[key]})
    assert status == "raised", f"model_conv_similarity({key}={bad[key]!r}) accepted it"
    _assert_named(fn, out, f"model_conv_similarity({key}={bad[key]!r})")


@FUZZ
@given(first=size_mutations(), shape=st.sampled_from([(3,), (2, 3)]))
def test_dft_operands_take_positive_int_sizes(first, shape):
    ks = (first, *shape[1:])
    status, out = _call(B.dft_operands, [ks], {})
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        if status == "raised":
            _assert_named(B.dft_operands, out, f"dft_operands({ks})")
        return
    assert status == "raised", f"dft_operands({ks!r}) accepted it"
    _assert_named(B.dft_operands, out, f"dft_operands({ks!r})")


@FUZZ
@given(device=st.sampled_from(["cuda", "cuda:3", "meta", "cpu", "bogus", 1.5, torch.device("cuda")]),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool, torch.complex64, "float32"]),
       which=st.sampled_from(["pedcc_centroids", "lags"]))
def test_factories_check_device_and_dtype(device, dtype, which):
    fn = getattr(B, which)
    kwargs = {"device": device, **({"dtype": dtype} if which == "pedcc_centroids" else {})}
    status, out = _call(fn, [3, 4] if which == "pedcc_centroids" else [3], kwargs)
    where = f"{which}({kwargs})"
    dev = str(device)
    bad_dtype = which == "pedcc_centroids" and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point)
    bad_device = dev == "bogus" or isinstance(device, float) or (dev.startswith("cuda") and (
        not torch.cuda.is_available() or (":" in dev and int(dev.split(":")[1]) >= torch.cuda.device_count())))
    if bad_dtype or bad_device:
        assert status == "raised", f"{where}: accepted"
        _assert_named(fn, out, where)
        if bad_device and not bad_dtype and dev.startswith("cuda") and not torch.cuda.is_available():
            assert "CUDA is not available" in str(out)
    else:
        assert status == "ok", f"{where}: raised {out!r}"
        assert out.device.type == torch.device(device).type
