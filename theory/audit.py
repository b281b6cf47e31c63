"""Which variant is your function? ``python -m theory.audit module:function --op NAME`` (or :func:`classify`).

Every sample of the registry entry ``NAME`` (seeds 0, 1, 2) is passed to the function, and its result is
compared, slice by slice and to the entry's tolerance, first with the faithful operation (the paper's
formula, :mod:`theory.reference`), then with each known variant of the public implementations
(:class:`theory.opinfo.Variant`, e.g. the CS CUDA library's adjacent-kernels L_CS). Per sample the table says
``faithful``, the variant's name, or ``none`` with the largest error (in units of the tolerance bound) and
a line that re-runs that one sample against the function (:func:`theory.registry.audit`). The exit status
is 0 only when every sample is faithful.

Calling convention: the twin's (:mod:`theory.batched`): torch tensors with leading batch axes, the same
positional and keyword arguments. A NumPy function (one that fails on tensors, or ``--arrays numpy``) is
called slice by slice with float64 arrays, as the references are. A function that cannot be called with the
operation's arguments is refused with the signature it was expected to have.

Examples
--------
>>> from theory.reference import variants as RV
>>> rows = classify("conv_similarity", RV.conv_similarity_adjacent, arrays="numpy", seeds=(0,))
>>> sorted({r["verdict"] for r in rows})
['cs_convsim2d_adjacent_same_channel', 'faithful']
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import itertools
import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .opinfo import error_ratio, to_torch
from .registry import REGISTRY, _audit_line, get, samples

__all__ = ["classify", "load_function", "main"]

ARRAYS = ("auto", "torch", "numpy")


def load_function(spec: str) -> Callable:
    """``module:function`` (or ``path/to/file.py:function``) to the callable; ValueError naming ``spec``."""
    if ":" not in spec:
        raise ValueError(f"function: expected module:function (e.g. mypkg.losses:my_lcs), got {spec!r}")
    mod_name, _, attr = spec.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            spec_obj = importlib.util.spec_from_file_location("_audited", mod_name)
            if spec_obj is None or spec_obj.loader is None:
                raise ImportError(f"cannot load {mod_name}")
            module = importlib.util.module_from_spec(spec_obj)
            spec_obj.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except Exception as exc:
        raise ValueError(f"function: cannot import {mod_name!r}: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"function: {mod_name!r} has no callable {attr!r}")
    return fn


def _expected_signature(op) -> str:
    return f"{op.twin.__name__}{inspect.signature(op.twin)}"


def _check_callable(op, fn: Callable) -> None:
    s0 = samples(op, 0)[0]
    try:
        inspect.signature(fn).bind(*s0.args, **s0.kwargs)
    except TypeError as exc:
        raise ValueError(f"function: {getattr(fn, '__name__', fn)!r} cannot be called as the operation "
                         f"{op.name!r} is ({exc}); expected a signature like {_expected_signature(op)}") from None
    except ValueError:
        pass                                   # builtins without a signature: try calling


def _call(fn, sample, arrays: str, dtype):
    if arrays == "torch":
        with torch.no_grad():
            return fn(*(to_torch(a, dtype) for a in sample.args), **sample.kwargs)
    # NumPy: slice by slice, as the references are called, stacked back into the batch
    outs = []
    for idx in itertools.product(*(range(b) for b in sample.batch)):
        outs.append(np.asarray(fn(*sample.slice(idx), **sample.kwargs), dtype=np.float64))
    if not sample.batch:
        return torch.as_tensor(outs[0])
    return torch.as_tensor(np.stack(outs).reshape(*sample.batch, *outs[0].shape))


def _convention(op, fn, arrays: str, dtype) -> str:
    if arrays != "auto":
        return arrays
    s0 = samples(op, 0)[0]
    try:
        _call(fn, s0, "torch", dtype)
        return "torch"
    except Exception:
        return "numpy"


def classify(name: str, fn: Callable, *, seeds: Sequence[int] = (0, 1, 2), arrays: str = "auto",
             dtype=torch.float64) -> list[dict]:
    """Per sample of the registry entry ``name``: ``{seed, index, desc, verdict, error, rerun}``.

    ``verdict`` is ``faithful``, a variant's name, ``none`` or ``raised``; ``error`` the largest error against
    the faithful operation in units of its tolerance bound (``<= 1`` is faithful).
    """
    if arrays not in ARRAYS:
        raise ValueError(f"arrays: expected one of {ARRAYS}, got {arrays!r}")
    op = get(name)
    _check_callable(op, fn)
    conv = _convention(op, fn, arrays, dtype)
    rows = []
    for seed in seeds:
        for i, s in enumerate(samples(op, seed)):
            row = {"seed": seed, "index": i, "desc": s.describe(), "convention": conv,
                   "rerun": _audit_line(name, fn, seed, i, dtype, "cpu")}
            try:
                got = _call(fn, s, conv, dtype)
            except Exception as exc:
                rows.append({**row, "verdict": "raised", "error": float("inf"),
                             "message": f"{type(exc).__name__}: {exc}"})
                continue
            err = error_ratio(op, s, got, dtype=dtype)
            verdict = "faithful" if err <= 1 else "none"
            if verdict == "none":
                for v in op.variants:
                    if error_ratio(op, s, got, reference=v.reference, dtype=dtype) <= 1:
                        verdict = v.name
                        break
            rows.append({**row, "verdict": verdict, "error": err})
    return rows


def _table(rows) -> str:
    from tabulate import tabulate

    body = [[r["seed"], r["index"], r["desc"][:70], r["verdict"],
             "–" if r["verdict"] == "faithful" else (f"{r['error']:.3g}" if np.isfinite(r["error"]) else "inf")]
            for r in rows]
    return tabulate(body, headers=["seed", "sample", "sample", "agrees with", "max error / tolerance"],
                    tablefmt="github", disable_numparse=True)


def main(argv=None) -> int:
    """The command line; returns the exit status (0: faithful on every sample, 1: not, 2: usage error)."""
    p = argparse.ArgumentParser(prog="python -m theory.audit", description=__doc__.split("\n\n")[0])
    p.add_argument("function", help="module:function or path/to/file.py:function")
    p.add_argument("--op", required=True, help="registry operation, e.g. conv_similarity "
                   f"(known: {', '.join(o.name for o in REGISTRY)})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sample seeds (default: 0 1 2)")
    p.add_argument("--arrays", choices=ARRAYS, default="auto",
                   help="calling convention: torch tensors (batched, like theory.batched), numpy arrays (per "
                        "slice, like theory.reference), or auto (torch, else numpy)")
    a = p.parse_args(argv)
    try:
        op = get(a.op)
    except KeyError as exc:
        p.exit(2, f"{p.prog}: error: --op: {exc.args[0]}\n")
    try:
        fn = load_function(a.function)
        rows = classify(op.name, fn, seeds=a.seeds, arrays=a.arrays)
    except ValueError as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    print(f"{a.function} against {op.name!r} ({rows[0]['convention']} convention; expected signature "
          f"{_expected_signature(op)}); known variants: {', '.join(v.name for v in op.variants) or 'none'}")
    print(_table(rows))
    verdicts = {r["verdict"] for r in rows}
    if verdicts == {"faithful"}:
        print(f"faithful on all {len(rows)} samples")
        return 0
    for v in op.variants:
        if v.name in verdicts:
            print(f"{v.name}: {v.source} — {v.differs}")
    bad = [r for r in rows if r["verdict"] in ("none", "raised")]
    raised = [r for r in rows if r["verdict"] == "raised"]
    if raised:
        print(f"the function raised on {len(raised)} samples, first: {raised[0]['message']}")
    if bad:
        print(f"{len(bad)} samples agree with no known version; re-run the first: {bad[0]['rerun']}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
