#!/usr/bin/env python3
"""Bad-input campaign over every public function of ``theory.reference`` and ``theory.batched``.

Each function is called from a valid base call (its registry sample, sliced to one problem; a few hand-made
bases for the functions the registry does not hold) with a fixed catalogue of bad or unusual inputs, one
argument at a time: wrong dtypes (int, bool, complex, float16, bfloat16), NaN, inf, huge (x1e200; x1e20 in
float32) and tiny (x1e-200; x1e-30 in float32) magnitudes, empty axes, wrong ranks, strings, lists, tensors
that require grad (references), meta tensors, oversized shapes (zero-memory broadcast views that would need
more than the memory cap), negative, fractional, boolean, string and huge sizes/lags, bad devices and dtypes.

Every call runs in a worker process with a timeout (``--timeout``, default 10 s) under an address-space
limit, and its outcome is classified:

* ``clean error``: a ValueError/TypeError whose message starts with the name of one of the function's
  arguments (``'x and k: ...'``), as the error tests require;
* ``right result``: a result that is finite and, where the behaviour is documented, equal to it: cosines
  and correlations unchanged by huge/tiny scaling, float16 computed as its float32 (twins) or float64
  (references) copy, a tensor that requires grad read as its values by a reference, a leading batch axis
  giving the per-slice results, meta tensors giving meta results, the Monte Carlo engines passing NaN through;
* ``other``: anything else: a silent accept of a bad input, an inf/NaN or wrong result, an unnamed or
  ugly error (RuntimeError from torch internals, IndexError, AssertionError, OverflowError, MemoryError,
  an allocator refusal), a hang or a crashed worker.

It prints the counts and one line per ``other`` case with its reproduction
(``python tools/campaign_theory.py --only ID`` re-runs it in this process and prints the traceback).

    python tools/campaign_theory.py [--json PATH] [--jobs N] [--timeout S] [--only ID] [--verbose]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import multiprocessing as mp
import re
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

MEMORY_CAP = 1 << 30            # the cap the workers run under (theory._validate.MEMORY_CAP), 1 GiB
ADDRESS_LIMIT = 12 << 30        # RLIMIT_AS of a worker: a refused allocation fails instead of swapping
OVERSIZE = 3 * 10 ** 8          # elements of an oversized argument (a broadcast view: no memory)
WORLDS = ("reference", "twin")

# arguments (public calling convention) in which the function is invariant to a positive rescaling
SCALE_INVARIANT = {
    "kernel_cosine": {0, 1}, "kernel_cosine_matrix": {0}, "orthoreg": {0}, "conv_similarity_normalized": {0},
    "pearson_matrix": {0}, "mfd_loss": {0}, "mean_abs_offdiagonal": {0}, "mfd_joint_loss": {2},
    "cosine_loss": {0, 2}, "sc_loss": {0}, "pod_loss": {0}, "pedcc_predict": {0, 1},
}
ANY_SHAPE = {"orthoreg_pair_weight"}           # arrays of any rank
PASSTHROUGH = {"feature_patches", "feature_gram", "feature_gram_stack", "gram_quadratic_forms", "kernel_spectrum"}


# ---------------------------------------------------------------- the functions and their base calls

def public(world: str) -> dict:
    """``name -> function`` of ``theory.<world>``'s ``__all__`` (its modules' ``__all__`` where the package
    has none), callables only."""
    pkg = importlib.import_module("theory." + ("reference" if world == "reference" else "batched"))
    names = getattr(pkg, "__all__", None)
    if names is None:
        import pkgutil
        names = []
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name != "variants" and not info.name.startswith("_"):
                names += list(getattr(importlib.import_module(f"{pkg.__name__}.{info.name}"), "__all__", ()))
    return {n: getattr(pkg, n) for n in dict.fromkeys(names) if callable(getattr(pkg, n, None))}


@dataclasses.dataclass
class Base:
    """A valid call in the public calling convention: NumPy arrays and plain values (the twin gets float64
    tensors, integer arrays as int64 tensors)."""
    args: list
    kwargs: dict
    registry: str = ""


def _registry_base(name: str) -> Base | None:
    from theory.registry import REGISTRY, samples
    op_name = {"conv_similarity_fast": "conv_similarity_fast[gram]"}.get(name, name)
    ops = [op for op in REGISTRY if op.name == op_name]
    if not ops:
        return None
    s = samples(ops[0], 0)[0]
    args = list(s.slice((0,) * len(s.batch)))
    kwargs = dict(s.kwargs)
    if name == "mfd_joint_loss":                      # registry convention (logits, labels, *stages, lam=, d=)
        args = [args[0], args[1], list(args[2:]), kwargs.pop("lam")]
    if name == "conv_similarity_fast":
        kwargs["method"] = "gram"
    return Base(args, kwargs, op_name)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3, bias=False), torch.nn.ReLU(), torch.nn.Conv2d(1, 2, 2))


MANUAL = {
    "dft_operands": Base([(3,)], {}),
    "model_conv_similarity": Base([_net], {"layer_weights": {"0": 2.0}}),
}


def base_call(name: str) -> Base:
    b = _registry_base(name)
    if b is None:
        b = MANUAL[name]
    return b


# ---------------------------------------------------------------- the catalogue

@dataclasses.dataclass
class Case:
    id: str
    world: str
    name: str
    where: str            # "arg0", "kw:d", "arg2[0]" (an array inside a list), "call"
    kind: str             # the mutation
    expect: str           # refuse | accept | equal | invariant | batch | meta | passthrough


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray)


def _positions(base: Base):
    """``(where, value)`` of every argument a mutation applies to."""
    for i, v in enumerate(base.args):
        if isinstance(v, list) and v and all(_is_array(a) for a in v):
            yield f"arg{i}[0]", v[0]
        yield f"arg{i}", v
    for k, v in base.kwargs.items():
        yield f"kw:{k}", v


ARRAY_REF = [("int", "equal"), ("bool", "equal"), ("complex", "refuse"), ("float16", "equal"), ("nan", "refuse"),
             ("inf", "refuse"), ("huge", "scale"), ("tiny", "scale"), ("subnormal", "scale"), ("empty", "refuse"),
             ("extra_axis", "refuse"), ("scalar", "refuse"), ("strings", "refuse"), ("ragged", "refuse"),
             ("requires_grad", "equal"), ("meta_tensor", "refuse"), ("oversized", "refuse")]
ARRAY_TWIN = [("int", "refuse"), ("bool", "refuse"), ("complex", "refuse"), ("float16", "equal"),
              ("bfloat16", "equal"), ("nan", "refuse"), ("inf", "refuse"), ("huge", "scale"), ("tiny", "scale"),
              ("huge32", "scale"), ("tiny32", "scale"), ("empty", "refuse"), ("batch", "batch"),
              ("scalar", "refuse"), ("list", "refuse"), ("numpy", "refuse"), ("requires_grad", "accept"),
              ("meta", "meta"), ("all_meta", "meta"), ("oversized", "refuse")]
LABELS = [("float_labels", "refuse"), ("out_of_range", "refuse"), ("negative_label", "refuse"),
          ("short", "refuse"), ("numpy", "refuse_twin"), ("list", "refuse")]
INTS = [("-1", "refuse"), ("2.5", "refuse"), ("int_float", "refuse"), ("True", "refuse"), ("'3'", "refuse"),
        ("1e12", "accept"), ("1e30", "accept"), ("None", "accept")]
FLOATS = [("nan", "refuse"), ("inf", "refuse"), ("'1'", "refuse"), ("True", "refuse"), ("-1.0", "accept"),
          ("1e308", "accept"), ("None", "refuse")]
STRINGS = [("'bogus'", "refuse"), ("3.5", "refuse"), ("None", "accept"), ("['full']", "refuse")]
D_VALUES = [("3", "refuse"), ("True", "refuse"), ("1.0", "refuse"), ("'1'", "refuse"), ("None", "refuse")]
FLAGS = [("'no'", "refuse"), ("1", "refuse"), ("None", "refuse")]
DEVICES = [("'cuda'", "device"), ("'cuda:7'", "device"), ("'meta'", "meta"), ("'bogus'", "refuse"),
           ("1.5", "refuse"), ("'cpu'", "accept")]
DTYPES = [("torch.int64", "refuse"), ("torch.bool", "refuse"), ("torch.complex64", "refuse"),
          ("'float32'", "refuse"), ("torch.float16", "accept")]
SEQ = [("[]", "refuse"), ("'full'", "refuse"), ("['full', 'bogus']", "refuse"), ("tuple", "accept")]
TUPLES = [("first=-1", "refuse"), ("first=2.5", "refuse"), ("first=2.0", "refuse"), ("first=True", "refuse"),
          ("first='3'", "refuse"), ("first=1e12", "accept"), ("as_list", "accept"), ("too_long", "refuse")]
EXTRA = {   # mutations of keyword arguments the base call does not pass
    "crosscorrelation_energy_fft": [("kw:size", k, e) for k, e in
                                    [("2.5", "refuse"), ("'8'", "refuse"), ("-1", "refuse"), ("1e12", "refuse"),
                                     ("(5, 5)", "refuse"), ("True", "refuse"), ("9", "accept")]],
    "lags": [("kw:device", k, e) for k, e in DEVICES],
    "pedcc_centroids": [("kw:device", k, e) for k, e in DEVICES] + [("kw:dtype", k, e) for k, e in DTYPES],
    "model_conv_similarity": [("kw:layer_weights", k, e) for k, e in
                              [("{'O': 2.0}", "refuse"), ("{'0': 'x'}", "refuse"), ("{'0': nan}", "refuse"),
                               ("[2.0]", "refuse")]]
                             + [("kw:layers", k, e) for k, e in [("'0'", "refuse"), ("['9']", "refuse"),
                                                                 ("[]", "refuse")]]
                             + [("kw:normalized", k, e) for k, e in FLAGS] + [("kw:reduce", k, e) for k, e in FLAGS]
                             + [("kw:method", k, e) for k, e in [("'svd'", "refuse"), ("'fft'", "accept")]]
                             + [("arg0", k, e) for k, e in [("not_a_module", "refuse"), ("nan_weight", "refuse"),
                                                            ("huge32_normalized", "invariant")]],
    "conv_similarity_fast": [("kw:method", k, e) for k, e in [("'svd'", "refuse"), ("None", "refuse")]],
}


def catalogue(world: str, name: str) -> list[Case]:
    base = base_call(name)
    cases = []

    def add(where, kind, expect):
        cases.append(Case(f"{world}:{name}:{where}:{kind}", world, name, where, kind, expect))

    if name not in MANUAL:
        for where, v in _positions(base):
            key = where.split(":")[-1]
            if key == "d":
                table = D_VALUES
            elif key == "both_signs":
                table = FLAGS
            elif key == "method":
                table = STRINGS[:2]
            elif _is_array(v) and v.dtype.kind in "iu":
                table = LABELS
            elif _is_array(v):
                table = ARRAY_REF if world == "reference" else ARRAY_TWIN
            elif isinstance(v, bool):
                table = FLAGS
            elif isinstance(v, int):
                table = INTS
            elif isinstance(v, float):
                table = FLOATS
            elif isinstance(v, str):
                table = STRINGS
            elif isinstance(v, tuple):
                table = TUPLES
            elif isinstance(v, list) and all(isinstance(a, str) for a in v):
                table = SEQ
            elif v is None:
                table = [("-1", "refuse"), ("2.5", "refuse"), ("1e12", "accept")]
            else:
                continue
            for kind, expect in table:
                if table is LABELS and kind == "list" and world == "reference":
                    expect = "accept"                 # array_like: a list of ints is a valid label array
                if expect == "refuse_twin":
                    if world != "twin":
                        continue
                    expect = "refuse"
                add(where, kind, expect)
    if name == "dft_operands":
        for kind, expect in TUPLES + [("'3'", "refuse"), ("3", "refuse"), ("(3, 3, 3)", "refuse"),
                                      ("(100000, 100000)", "refuse")]:
            add("arg0", kind, expect)
    for where, kind, expect in EXTRA.get(name, []):
        if where in ("kw:device", "kw:dtype") and world == "reference":
            continue
        add(where, kind, expect)
    add("call", "base", "accept")
    return cases


def all_cases(names=None) -> list[Case]:
    out = []
    for world in WORLDS:
        for name in public(world):
            if names is None or name in names:
                out += catalogue(world, name)
    return out


# ---------------------------------------------------------------- building and running one case

def _twin_value(v, dtype=torch.float64):
    if _is_array(v):
        return torch.as_tensor(v, dtype=dtype) if v.dtype.kind == "f" else torch.as_tensor(v)
    if isinstance(v, list) and v and all(_is_array(a) for a in v):
        return [_twin_value(a, dtype) for a in v]
    return v


def _scaled(world, v, kind):
    factor = {"huge": 1e200, "tiny": 1e-200, "subnormal": 1e-310, "huge32": 1e20, "tiny32": 1e-30}[kind]
    if world == "reference":
        return v * factor
    dt = torch.float32 if kind.endswith("32") else torch.float64
    return torch.as_tensor(v * factor, dtype=dt)


def _array_mutation(world, v, kind):
    if world == "reference":
        return {
            "int": lambda: np.rint(v * 4).astype(np.int64), "bool": lambda: v > np.median(v),
            "complex": lambda: v + 0j, "float16": lambda: v.astype(np.float16),
            "nan": lambda: np.where(np.arange(v.size).reshape(v.shape) == v.size - 1, np.nan, v),
            "inf": lambda: np.where(np.arange(v.size).reshape(v.shape) == 0, np.inf, v),
            "empty": lambda: np.zeros((0, *v.shape[1:])), "extra_axis": lambda: v[None],
            "scalar": lambda: np.float64(v.reshape(-1)[0]), "strings": lambda: np.full(v.shape, "a"),
            "ragged": lambda: [[1.0], [1.0, 2.0]], "requires_grad": lambda: torch.tensor(v, requires_grad=True),
            "meta_tensor": lambda: torch.empty(v.shape, device="meta"),
            "oversized": lambda: np.broadcast_to(v[:1], (max(v.shape[0], OVERSIZE // max(1, v[0].size)), *v.shape[1:])),
        }[kind]()
    t = torch.as_tensor(v, dtype=torch.float64)
    return {
        "int": lambda: torch.as_tensor(np.rint(v * 4).astype(np.int64)), "bool": lambda: t > t.median(),
        "complex": lambda: t.to(torch.complex128), "float16": lambda: t.half(), "bfloat16": lambda: t.bfloat16(),
        "nan": lambda: t.reshape(-1).index_fill(0, torch.tensor([t.numel() - 1]), math.nan).reshape(t.shape),
        "inf": lambda: t.reshape(-1).index_fill(0, torch.tensor([0]), math.inf).reshape(t.shape),
        "empty": lambda: torch.zeros((0, *t.shape[1:]), dtype=t.dtype), "batch": lambda: torch.stack([t, t]),
        "scalar": lambda: t.reshape(-1)[0], "list": lambda: v.tolist(), "numpy": lambda: v,
        "requires_grad": lambda: t.clone().requires_grad_(True), "meta": lambda: t.to("meta"),
        "all_meta": lambda: t.to("meta"),
        "oversized": lambda: t[:1].expand(max(t.shape[0], OVERSIZE // max(1, t[0].numel())), *t.shape[1:]),
    }[kind]()


def _labels_mutation(world, v, kind):
    out = {"float_labels": lambda: v.astype(np.float64), "out_of_range": lambda: v + 100,
           "negative_label": lambda: v - 100, "short": lambda: v[:-1], "numpy": lambda: v,
           "list": lambda: v.tolist()}[kind]()
    if world == "twin" and kind not in ("numpy", "list"):
        out = torch.as_tensor(out)
    return out


_LITERALS = {"-1": -1, "2.5": 2.5, "True": True, "'3'": "3", "1e12": 10 ** 12, "1e30": 10 ** 30, "None": None,
             "nan": math.nan, "inf": math.inf, "'1'": "1", "-1.0": -1.0, "1e308": 1e308, "'bogus'": "bogus",
             "3.5": 3.5, "['full']": ["full"], "3": 3, "1.0": 1.0, "'no'": "no", "1": 1, "'cuda'": "cuda",
             "'cuda:7'": "cuda:7", "'meta'": "meta", "1.5": 1.5, "'cpu'": "cpu", "[]": [], "'full'": "full",
             "['full', 'bogus']": ["full", "bogus"], "'8'": "8", "(5, 5)": (5, 5), "9": 9, "'svd'": "svd",
             "'fft'": "fft", "'0'": "0", "['9']": ["9"], "{'O': 2.0}": {"O": 2.0}, "{'0': 'x'}": {"0": "x"},
             "{'0': nan}": {"0": math.nan}, "[2.0]": [2.0], "(3, 3, 3)": (3, 3, 3),
             "(100000, 100000)": (100000, 100000)}


def _scalar_mutation(v, kind):
    if kind == "int_float":
        return float(v)
    if kind == "tuple":
        return tuple(v)
    if kind.startswith("first="):
        return (_LITERALS.get(kind[6:], 2.0 if kind[6:] == "2.0" else None), *v[1:])
    if kind == "as_list":
        return list(v)
    if kind == "too_long":
        return (*v, *v, 1)
    return {"torch.int64": torch.int64, "torch.bool": torch.bool, "torch.complex64": torch.complex64,
            "'float32'": "float32", "torch.float16": torch.float16}.get(kind, _LITERALS.get(kind, kind))


def _to_meta(v):
    if isinstance(v, torch.Tensor):
        return v.to("meta")
    if isinstance(v, list) and v and all(isinstance(a, torch.Tensor) for a in v):
        return [a.to("meta") for a in v]
    return v


def _set(args, kwargs, where, value):
    if where.startswith("kw:"):
        kwargs[where[3:]] = value
        return
    m = re.fullmatch(r"arg(\d+)(\[0\])?", where)
    i = int(m.group(1))
    if m.group(2):
        args[i] = [value, *args[i][1:]]
    else:
        args[i] = value


def _get(args, kwargs, where):
    if where.startswith("kw:"):
        return kwargs.get(where[3:])
    m = re.fullmatch(r"arg(\d+)(\[0\])?", where)
    v = args[int(m.group(1))]
    return v[0] if m.group(2) else v


def build(case: Case):
    """``(fn, args, kwargs, compare)``: the call and, for ``equal``/``invariant``/``batch`` cases, the call
    whose result it must reproduce (``None`` otherwise)."""
    fn = public(case.world)[case.name]
    base = base_call(case.name)
    twin = case.world == "twin"
    args = [_twin_value(a) if twin else a for a in base.args]
    kwargs = {k: (_twin_value(v) if twin else v) for k, v in base.kwargs.items()}
    if case.name == "model_conv_similarity":
        args = [a() if callable(a) and not isinstance(a, torch.nn.Module) else a for a in args]
    compare = None
    if case.where == "call":
        return fn, args, kwargs, None
    if case.name == "model_conv_similarity" and case.where == "arg0":
        net = args[0]
        if case.kind == "not_a_module":
            args[0] = "net"
        elif case.kind == "nan_weight":
            with torch.no_grad():
                net[0].weight[0, 0, 0] = math.nan
        else:
            net = net.float()
            kwargs = {"normalized": True}
            compare = (fn, [net], dict(kwargs))
            big = _net().float()
            with torch.no_grad():
                for p_big, p in zip(big.parameters(), net.parameters()):
                    p_big.copy_(p * 1e20)
            args = [big]
        return fn, args, kwargs, compare
    raw = _get(base.args, base.kwargs, case.where)
    if _is_array(raw) and raw.dtype.kind in "iu":
        _set(args, kwargs, case.where, _labels_mutation(case.world, raw, case.kind))
    elif _is_array(raw):
        if case.kind in ("huge", "tiny", "subnormal", "huge32", "tiny32"):
            new = _scaled(case.world, raw, case.kind)
            if case.kind.endswith("32"):            # every floating argument in float32
                args = [_twin_value(a, torch.float32) for a in base.args]
                kwargs = {k: _twin_value(v, torch.float32) for k, v in base.kwargs.items()}
            ref_args, ref_kwargs = list(args), dict(kwargs)
            _set(args, kwargs, case.where, new)
            pos = int(re.fullmatch(r"arg(\d+).*", case.where).group(1)) if case.where.startswith("arg") else -1
            if pos in SCALE_INVARIANT.get(case.name, ()):
                case.expect = "invariant"
                compare = (fn, ref_args, ref_kwargs)
            elif twin and case.name in PASSTHROUGH:
                case.expect = "passthrough"           # the Monte Carlo engines: overflow gives inf there
            else:
                case.expect = "accept"
        else:
            new = _array_mutation(case.world, raw, case.kind)
            ref_args, ref_kwargs = list(args), dict(kwargs)
            _set(args, kwargs, case.where, new)
            if case.expect == "equal":
                if twin:      # float16/bfloat16: the float32 computation of the same values
                    same = new.float()
                else:         # int/bool/float16 arrays and tensors: their float64 copies
                    same = (new.detach().numpy() if isinstance(new, torch.Tensor) else new).astype(np.float64)
                _set(ref_args, ref_kwargs, case.where, same)
                compare = (fn, ref_args, ref_kwargs)
            elif case.expect == "batch":
                compare = (fn, ref_args, ref_kwargs)
            if case.kind == "all_meta":             # every tensor argument on meta: a shape-only call
                args = [_to_meta(a) for a in args]
                kwargs = {k: _to_meta(v) for k, v in kwargs.items()}
            if case.name in ANY_SHAPE and case.kind in ("extra_axis", "scalar"):
                case.expect = "accept"
            if twin and case.name in PASSTHROUGH and case.kind in ("nan", "inf"):
                case.expect = "passthrough"
    else:
        _set(args, kwargs, case.where, _scalar_mutation(raw, case.kind))
    if case.expect == "device":
        case.expect = "accept" if torch.cuda.is_available() else "refuse"
    return fn, args, kwargs, compare


# ---------------------------------------------------------------- classification

def _named(message: str) -> list[str]:
    """The argument names a message starts with (``'x and k: ...'`` -> ``['x', 'k']``), as tests/test_errors.py."""
    head = message.split(":", 1)[0].split(" (")[0]
    return [t for t in re.findall(r"[A-Za-z_]\w*", head) if t != "and"]


def _params(fn) -> set[str]:
    return set(inspect.signature(fn).parameters)


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [v for o in out for v in _flat(o)]
    if isinstance(out, dict):
        return [v for o in out.values() for v in _flat(o)]
    return [out]


def _finite(out) -> bool:
    for v in _flat(out):
        if isinstance(v, torch.Tensor):
            if v.device.type == "meta" or not (v.is_floating_point() or v.is_complex()):
                continue
            if not bool(torch.isfinite(v.detach()).all()):
                return False
        elif isinstance(v, (float, np.floating, np.ndarray)):
            a = np.asarray(v)
            if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
                return False
    return True


def _as_np(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().to(torch.float64).numpy() if v.is_floating_point() else v.cpu().numpy()
    return np.asarray(v, dtype=np.float64) if not isinstance(v, np.ndarray) or v.dtype.kind != "i" else v


def _close(a, b, tol) -> tuple[bool, str]:
    fa, fb = _flat(a), _flat(b)
    if len(fa) != len(fb):
        return False, f"{len(fa)} outputs vs {len(fb)}"
    for x, y in zip(fa, fb):
        x, y = _as_np(x), _as_np(y)
        if x.shape != y.shape:
            return False, f"shape {x.shape} vs {y.shape}"
        if x.dtype.kind in "iub" or y.dtype.kind in "iub":
            if not np.array_equal(x, y):
                return False, "integer results differ"
            continue
        err = float(np.max(np.abs(x - y), initial=0.0))
        scale = float(np.max(np.abs(y), initial=0.0))
        if not err <= tol * max(1.0, scale):
            return False, f"max |difference| {err:.3g} (tolerance {tol:g})"
    return True, ""


def _run(fn, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad() if not any(isinstance(a, torch.Tensor) and a.requires_grad for a in _flat(args)) \
                else _null():
            return fn(*args, **kwargs)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _snapshot(args, kwargs) -> list:
    """Copies of the (small) arrays and tensors of a call, to check that the call leaves them as they were."""
    out = []
    for v in _flat(list(args) + list(kwargs.values())):
        if isinstance(v, np.ndarray) and v.size <= 10 ** 6:
            out.append((v, v.copy()))
        elif isinstance(v, torch.Tensor) and v.device.type != "meta" and v.numel() <= 10 ** 6:
            out.append((v, v.detach().clone()))
    return out


def _global_state() -> dict:
    """What a call must not change: the RNGs, the default dtype, grad mode, threads, the cap settings."""
    import theory._validate as V
    return {"torch RNG": torch.random.get_rng_state().clone(), "NumPy RNG": np.random.get_state()[1].copy(),
            "default dtype": torch.get_default_dtype(), "grad mode": torch.is_grad_enabled(),
            "threads": torch.get_num_threads(), "MEMORY_CAP": getattr(V, "MEMORY_CAP", None),
            "WORK_CAP": getattr(V, "WORK_CAP", None), "NumPy errstate": np.geterr()}


def _touched(snap, before) -> str:
    for v, copy in snap:
        same = np.array_equal(v, copy, equal_nan=v.dtype.kind == "f") if isinstance(v, np.ndarray) else \
            torch.equal(v.detach(), copy) or bool(torch.isnan(copy).any())
        if not same:
            return "the call modified an input in place"
    after = _global_state()
    for k, v in before.items():
        w = after[k]
        equal = torch.equal(v, w) if isinstance(v, torch.Tensor) else (np.array_equal(v, w) if isinstance(v, np.ndarray)
                                                                       else v == w)
        if not equal:
            return f"the call changed the global {k}"
    return ""


def classify(case: Case) -> dict:
    """Run one case in this process: ``{id, outcome, detail}`` with outcome clean/right/other; any case that
    modifies its inputs or global state (RNGs, default dtype, grad mode, threads, caps) is ``other``."""
    try:
        fn, args, kwargs, compare = build(case)
    except Exception as exc:                  # noqa: BLE001 - a broken case is reported, not hidden
        return {"id": case.id, "outcome": "other", "detail": f"building the case failed: {type(exc).__name__}: {exc}"}
    snap, state = _snapshot(args, kwargs), _global_state()
    res = _classify(case, fn, args, kwargs, compare)
    touched = _touched(snap, state)
    if touched:
        return {"id": case.id, "outcome": "other", "detail": touched}
    return res


def _classify(case, fn, args, kwargs, compare) -> dict:
    try:
        out = _run(fn, args, kwargs)
    except (ValueError, TypeError) as exc:
        names = _named(str(exc))
        if names and set(names) <= _params(fn):
            if case.expect == "invariant":
                return {"id": case.id, "outcome": "other",
                        "detail": f"refused a scale-invariant call: {type(exc).__name__}: {exc}"}
            if case.expect in ("equal", "batch") and compare is not None:
                try:
                    _run(*compare)
                except type(exc):
                    return {"id": case.id, "outcome": "clean", "detail": f"{type(exc).__name__}: {exc}"}
                except Exception:             # noqa: BLE001
                    pass
                return {"id": case.id, "outcome": "clean", "detail": f"{type(exc).__name__}: {exc}"}
            return {"id": case.id, "outcome": "clean", "detail": f"{type(exc).__name__}: {exc}"}
        return {"id": case.id, "outcome": "other",
                "detail": f"unnamed {type(exc).__name__} (message should start with an argument of "
                          f"{sorted(_params(fn))}): {str(exc)[:300]}"}
    except Exception as exc:                  # noqa: BLE001
        return {"id": case.id, "outcome": "other", "detail": f"{type(exc).__name__}: {str(exc)[:300]}"}
    if case.expect == "refuse":
        return {"id": case.id, "outcome": "other", "detail": "silently accepted a bad input"}
    if case.expect == "passthrough":
        return {"id": case.id, "outcome": "right", "detail": "non-finite values passed through (documented)"}
    if case.expect == "meta":
        tensors = [v for v in _flat(out) if isinstance(v, torch.Tensor)]
        if tensors and any(t.device.type != "meta" for t in tensors) and case.where != "kw:device":
            return {"id": case.id, "outcome": "other", "detail": "a meta input gave a non-meta result"}
        return {"id": case.id, "outcome": "right", "detail": "meta result"}
    if not _finite(out):
        return {"id": case.id, "outcome": "other", "detail": "returned inf or NaN"}
    if compare is not None:
        try:
            want = _run(*compare)
        except Exception as exc:              # noqa: BLE001
            return {"id": case.id, "outcome": "other",
                    "detail": f"accepted, but its comparison call raised {type(exc).__name__}: {exc}"}
        if case.expect == "batch":
            ok, why = _close([_index0(o) for o in _flat(out)], want, 1e-12)
        else:
            f32 = any(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in _flat(args))
            tol = 0.0 if case.expect == "equal" else (2e-4 if f32 else 1e-9)
            ok, why = _close(out, want, tol)
        if not ok:
            return {"id": case.id, "outcome": "other", "detail": f"wrong result ({case.expect}): {why}"}
    return {"id": case.id, "outcome": "right", "detail": "finite" + (" and as documented" if compare else "")}


def _index0(v):
    return v[0] if isinstance(v, torch.Tensor) and v.dim() > 0 else v


# ---------------------------------------------------------------- workers with a timeout

def _worker(conn, cases):
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
    torch.set_num_threads(1)
    import theory._validate as V
    V.MEMORY_CAP = MEMORY_CAP
    while True:
        i = conn.recv()
        if i is None:
            return
        conn.send(classify(cases[i]))


class Pool:
    def __init__(self, cases, jobs, timeout):
        self.cases, self.timeout = cases, timeout
        self.ctx = mp.get_context("fork")
        self.slots = [self._spawn() for _ in range(jobs)]

    def _spawn(self):
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, self.cases), daemon=True)
        p.start()
        return {"proc": p, "conn": parent, "case": None, "t0": 0.0}

    def run(self, on_result):
        todo = list(range(len(self.cases)))[::-1]
        busy = 0
        while todo or busy:
            for k, s in enumerate(self.slots):
                if s["case"] is None and todo:
                    s["case"], s["t0"] = todo.pop(), time.monotonic()
                    s["conn"].send(s["case"])
                    busy += 1
            time.sleep(0.001)
            for k, s in enumerate(self.slots):
                if s["case"] is None:
                    continue
                i = s["case"]
                if s["conn"].poll():
                    try:
                        res = s["conn"].recv()
                    except EOFError:
                        res = {"id": self.cases[i].id, "outcome": "other", "detail": "the worker died (crash or OOM)"}
                        self._restart(k)
                    on_result(i, res)
                    s["case"] = None
                    busy -= 1
                elif not s["proc"].is_alive():
                    on_result(i, {"id": self.cases[i].id, "outcome": "other",
                                  "detail": f"the worker died (exit code {s['proc'].exitcode})"})
                    self._restart(k)
                    busy -= 1
                elif time.monotonic() - s["t0"] > self.timeout:
                    on_result(i, {"id": self.cases[i].id, "outcome": "other",
                                  "detail": f"hang: no answer within {self.timeout:g} s"})
                    self._restart(k)
                    busy -= 1

    def _restart(self, k):
        s = self.slots[k]
        s["proc"].kill()
        s["proc"].join()
        self.slots[k] = self._spawn()

    def close(self):
        for s in self.slots:
            try:
                s["conn"].send(None)
            except (BrokenPipeError, OSError):
                pass
            s["proc"].join(timeout=2)
            if s["proc"].is_alive():
                s["proc"].kill()


# ---------------------------------------------------------------- command line

def _describe(case: Case) -> str:
    return f"{case.world} {case.name}, {case.where} = {case.kind} (expect {case.expect})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="PATH", help="write every case and its outcome here")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    ap.add_argument("--only", metavar="ID", help="run one case here, printing the traceback of its call")
    ap.add_argument("--functions", nargs="+", metavar="NAME", help="only these functions")
    ap.add_argument("--verbose", action="store_true", help="print every case")
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.timeout <= 0:
        ap.error("--jobs and --timeout must be positive")
    t0 = time.monotonic()
    cases = all_cases(set(a.functions) if a.functions else None)
    if a.only:
        match = [c for c in cases if c.id == a.only]
        if not match:
            ap.error(f"--only: no case {a.only!r}")
        import theory._validate as V
        V.MEMORY_CAP = MEMORY_CAP
        case = match[0]
        fn, args, kwargs, _ = build(case)
        print(_describe(case))
        print(classify(case))
        try:
            _run(fn, args, kwargs)
        except Exception:                     # noqa: BLE001
            traceback.print_exc()
        return 0
    results = [None] * len(cases)

    def on_result(i, res):
        results[i] = res
        if a.verbose:
            print(f"{res['outcome']:6s} {cases[i].id}: {res['detail'][:160]}", flush=True)

    pool = Pool(cases, a.jobs, a.timeout)
    try:
        pool.run(on_result)
    finally:
        pool.close()
    counts = {k: sum(r["outcome"] == k for r in results) for k in ("clean", "right", "other")}
    others = [(c, r) for c, r in zip(cases, results) if r["outcome"] == "other"]
    print(f"tried {len(cases)}  clean error {counts['clean']}  right result {counts['right']}  "
          f"other {counts['other']}  ({time.monotonic() - t0:.0f} s)")
    for c, r in others:
        print(f"OTHER {_describe(c)}: {r['detail'][:200]}\n"
              f"      reproduce: python tools/campaign_theory.py --only '{c.id}'")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "counts": {"tried": len(cases), **counts},
            "cases": [{**dataclasses.asdict(c), **r} for c, r in zip(cases, results)]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
