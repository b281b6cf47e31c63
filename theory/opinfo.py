"""The record types of the registry (Sample, ErrorInput, OpInfo) and the slice-by-slice checker.

See :mod:`theory.registry` for the records themselves and :func:`theory.registry.audit`.

A sample carries arrays with leading batch axes; the implementation runs once on the whole batch and
every slice is compared with the reference run on that slice alone. Tolerances respect cancellation:
the error bound is ``atol·scale + rtol·|ref|`` where ``scale`` is the same reference on ``|inputs|``
(for sums of products, the sum of the absolute terms) when ``OpInfo.abs_scale`` is set, else 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

# float64 claims are exact up to round-off; float32 (CPU, or CUDA with TF32 off) gets 1e-4 of the scale.
DEFAULT_TOL: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-4, 1e-5),
}

WORLDS = ("reference", "twin")


@dataclass(frozen=True)
class Sample:
    """Positional ``args`` (NumPy arrays or plain values) and ``kwargs`` for one call.

    ``batched`` lists the positions of the arrays that carry the leading ``batch`` axes; the other
    arrays are passed to the twin as they are (and broadcast by it).
    """
    args: tuple
    kwargs: dict = field(default_factory=dict)
    batch: tuple[int, ...] = ()
    batched: tuple[int, ...] = ()
    desc: str = ""

    def slice(self, idx: tuple[int, ...]) -> tuple:
        return tuple(a[idx] if i in self.batched else a for i, a in enumerate(self.args))

    def describe(self) -> str:
        shapes = ", ".join(f"{np.shape(a)}" if isinstance(a, np.ndarray) else repr(a) for a in self.args)
        kw = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.desc or 'sample'}: args=({shapes}) kwargs={{{kw}}} batch={self.batch}"


@dataclass(frozen=True)
class ErrorInput:
    """A bad call and the error it must raise: ``exc`` with a message matching ``match`` (``re.search``).

    ``args``/``kwargs`` hold NumPy arrays and plain values (lists and tuples of arrays too); for the
    twin, floating arrays become float64 tensors and integer arrays int64 tensors, as in the samples,
    while tensors and other values pass as they are, and so do the positions in ``raw``. ``only``
    restricts the case to one world (``"reference"`` or ``"twin"``). ``other_device`` lists argument
    positions that the twin receives on a second device (the error test supplies ``meta`` and, where
    present, ``cuda``).
    """
    args: tuple
    kwargs: dict = field(default_factory=dict)
    exc: type[Exception] = ValueError
    match: str = ""
    desc: str = ""
    only: str | None = None
    other_device: tuple[int, ...] = ()
    raw: tuple[int, ...] = ()

    def __post_init__(self):
        if self.only not in (None, *WORLDS):
            raise ValueError(f"only: expected None or one of {WORLDS}, got {self.only!r}")

    def worlds(self) -> tuple[str, ...]:
        return WORLDS if self.only is None else (self.only,)


@dataclass(frozen=True)
class Variant:
    """A known variant of an operation (a public implementation's deviation): its NumPy ``reference`` and
    torch ``twin`` (same calling convention as the operation's), where it comes from and what it changes."""
    name: str
    reference: Callable
    twin: Callable
    source: str
    differs: str


@dataclass(frozen=True)
class OpInfo:
    """One operation: reference, twin, sample inputs, bad inputs and per-dtype tolerances.

    ``error_reference``/``error_twin`` are the callables the error inputs are run against (default:
    ``reference``/``twin``; set them where those are registry wrappers). ``factory`` names the keyword
    arguments (``"dtype"``, ``"device"``) the checker passes to the twin, for functions that create
    their result rather than take tensors.
    """
    name: str
    reference: Callable
    twin: Callable
    sample_inputs: Callable[[np.random.Generator], Iterable[Sample]]
    error_inputs: Callable[[], Iterable[ErrorInput]] = lambda: ()
    tol: dict = field(default_factory=lambda: dict(DEFAULT_TOL))
    abs_scale: bool = True
    gradcheck: bool = True          # twin is differentiable in its floating array inputs
    factory: tuple[str, ...] = ()
    error_reference: Callable | None = None
    error_twin: Callable | None = None
    notes: str = ""
    variants: tuple = ()            # known variants (:class:`Variant`) that theory.audit recognises

    def error_target(self, world: str) -> Callable:
        if world == "reference":
            return self.reference if self.error_reference is None else self.error_reference
        return self.twin if self.error_twin is None else self.error_twin


def to_torch(a, dtype=torch.float64, device="cpu"):
    """NumPy floating arrays -> ``dtype`` tensors, other arrays -> tensors, on ``device``; lists and
    tuples element-wise; everything else unchanged."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return torch.as_tensor(a, dtype=dtype, device=device)
    if isinstance(a, np.ndarray):
        return torch.as_tensor(a, device=device)
    if isinstance(a, (list, tuple)) and any(isinstance(v, np.ndarray) for v in a):
        return type(a)(to_torch(v, dtype, device) for v in a)
    return a


def _flat_outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _abs_args(args):
    return tuple(np.abs(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args)


def registry_rerun(op: OpInfo, dtype, device, seed) -> str:
    """The pytest command that re-runs the registry's own check of ``op``'s twin."""
    dev = torch.device(device).type
    return (f"python -m pytest 'tests/test_registry.py::test_twin_matches_reference"
            f"[{op.name}-{str(dtype).removeprefix('torch.')}-{dev}-seed{seed}]'")


def check_sample(op: OpInfo, sample: Sample, *, impl: Callable | None = None, dtype=torch.float64,
                 device: str | torch.device = "cpu", seed: int | None = None, rerun: str | None = None) -> None:
    """Run ``impl`` (default: the op's twin) once on the batched sample; compare slice by slice.

    Raises AssertionError naming the op, the sample, dtype, device and seed, followed by ``rerun`` (a
    line that repeats this one check; default: the registry test's command, for the twin).
    """
    impl = op.twin if impl is None else impl
    rtol, atol = op.tol.get(dtype, DEFAULT_TOL.get(dtype, (1e-4, 1e-5)))
    if rerun is None:
        rerun = registry_rerun(op, dtype, device, seed)
    where = (f"op={op.name} {sample.describe()} dtype={dtype} device={device} seed={seed}\n"
             f"re-run this check: {rerun}")
    targs = tuple(to_torch(a, dtype, device) for a in sample.args)
    extra = {k: v for k, v in (("dtype", dtype), ("device", device)) if k in op.factory}
    try:
        with torch.no_grad():
            got = _flat_outputs(impl(*targs, **sample.kwargs, **extra))
    except Exception as exc:
        raise AssertionError(f"{where}\nthe implementation raised {type(exc).__name__}: {exc}") from exc
    for idx, j, g, w, bound, err in _slice_errors(op, sample, got, op.reference, dtype, where):
        if not np.all(err <= bound):
            k = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
            raise AssertionError(
                f"{where}\nslice {idx} output {j} at {k}: got {g[k]!r}, reference {w[k]!r}, "
                f"|err| {err[k]:.3g} > bound {bound[k]:.3g} (rtol {rtol}, atol {atol} x scale)")


def _slice_errors(op: OpInfo, sample: Sample, got: list, reference: Callable, dtype, where: str = ""):
    """``(slice, output index, got, reference, bound, |err|)`` per slice and output of a batched result;
    AssertionError on a count or shape mismatch."""
    rtol, atol = op.tol.get(dtype, DEFAULT_TOL.get(dtype, (1e-4, 1e-5)))
    for idx in itertools.product(*(range(b) for b in sample.batch)):
        sl = sample.slice(idx)
        want = _flat_outputs(reference(*sl, **sample.kwargs))
        scale = _flat_outputs(reference(*_abs_args(sl), **sample.kwargs)) if op.abs_scale else [1.0] * len(want)
        if len(got) != len(want):
            raise AssertionError(f"{where}\n{len(got)} outputs, reference has {len(want)}")
        for j, (g, w, s) in enumerate(zip(got, want, scale)):
            g = torch.as_tensor(g)[idx].detach().cpu().to(torch.float64).numpy()
            w = np.asarray(w, dtype=np.float64)
            if g.shape != w.shape:
                raise AssertionError(f"{where}\nslice {idx} output {j}: shape {g.shape}, reference {w.shape}")
            bound = atol * np.maximum(np.abs(np.asarray(s, dtype=np.float64)).max(initial=0.0), 1e-300) \
                + rtol * np.abs(w)
            yield idx, j, g, w, bound, np.abs(g - w)


def error_ratio(op: OpInfo, sample: Sample, got, *, reference: Callable | None = None, dtype=torch.float64) -> float:
    """``max |got - reference| / bound`` over the slices and outputs of a batched result (``<= 1``: within the
    op's tolerance for ``dtype``; ``inf`` on a shape or count mismatch). ``reference`` defaults to the op's."""
    ref = op.reference if reference is None else reference
    worst = 0.0
    try:
        for *_, bound, err in _slice_errors(op, sample, _flat_outputs(got), ref, dtype):
            if not np.all(np.isfinite(err)):
                return float("inf")
            worst = max(worst, float(np.max(err / bound, initial=0.0)))
    except AssertionError:
        return float("inf")
    return worst
