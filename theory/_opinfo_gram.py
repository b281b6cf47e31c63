"""Registry entries (see theory.registry) for the Gram-matrix and kernel-spectrum engines of the Monte Carlo
runners: :mod:`theory.reference.gram` paired with :mod:`theory.batched.gram`.

Samples cover 1-D and 2-D, ``C ∈ {1, 2, 3}``, odd, even and non-square kernels, ``N`` equal to ``M``, every
padding form (nested and non-nested windows in one stack), and batch shapes ``()``, ``(3,)``, ``(2, 3)`` with
some arguments shared. Bad inputs (``error_inputs``) are listed per entry; the twins do not reject NaN or
inf (a diverged Monte Carlo episode must not abort its batch), so those cases are the reference's only.
"""

from __future__ import annotations

import numpy as np
import torch

from theory import batched as B
from theory import reference as R

from .opinfo import ErrorInput as E
from .opinfo import OpInfo, Sample

TWIN, REF = "twin", "reference"
#: sums of products: relative to the sum of absolute terms (abs_scale), float32 1e-5 of that scale
GRAM_TOL = {torch.float64: (1e-10, 1e-12), torch.float32: (1e-4, 1e-5)}
#: spectra are O(Σ|K|) <= 15 here: absolute tolerances
SPECTRUM_TOL = {torch.float64: (1e-10, 1e-12), torch.float32: (1e-4, 1e-5)}


def _x(rng, *shape):
    return rng.random(shape)


def _k(rng, *shape):
    return rng.uniform(-1.0, 1.0, shape)


def _arr(*shape):
    n = int(np.prod(shape))
    return np.linspace(0.1, 1.0, n).reshape(shape) if n else np.zeros(shape)


def _nan(a):
    a = a.copy()
    a.reshape(-1)[-1] = np.nan
    return a


# ---------------------------------------------------------------- samples

def _patch_samples(rng):
    yield Sample((_x(rng, 3, 1, 7), (3,)), {"d": 1}, (3,), (0,), "1-D C=1 N=3")
    yield Sample((_x(rng, 2, 3, 2, 6), (4,)), {"d": 1}, (2, 3), (0,), "1-D C=2 even N")
    yield Sample((_x(rng, 1, 5), 5), {"d": 1}, desc="1-D N == M, int kernel_shape")
    yield Sample((_x(rng, 2, 2, 4, 5), (2, 3)), {"d": 2}, (2,), (0,), "2-D C=2 2x3")
    yield Sample((_x(rng, 3, 3, 3), (3, 3)), {"d": 2}, desc="2-D C=3 3x3, N == M")


def _gram_samples(rng):
    yield Sample((_x(rng, 3, 1, 7), (3,), "valid"), {"d": 1}, (3,), (0,), "1-D C=1 'valid'")
    yield Sample((_x(rng, 2, 3, 2, 6), (4,), "same"), {"d": 1}, (2, 3), (0,), "1-D C=2 even N 'same'")
    yield Sample((_x(rng, 1, 5), (5,), "full"), {"d": 1}, desc="1-D N == M 'full'")
    yield Sample((_x(rng, 2, 6), (3,), (0, 2)), {"d": 1}, desc="1-D C=2 (left, right) pair")
    yield Sample((_x(rng, 2, 2, 4, 5), (2, 3), "same_numpy"), {"d": 2}, (2,), (0,), "2-D C=2 2x3 'same_numpy'")
    yield Sample((_x(rng, 3, 4, 4), (3, 3), ((1, 0), (2, 1))), {"d": 2}, desc="2-D C=3 3x3 per-axis pairs")


def _stack_samples(rng):
    yield Sample((_x(rng, 3, 1, 9), (3,), ["valid", "same", "full"]), {"d": 1}, (3,), (0,),
                 "1-D nested valid ⊂ same ⊂ full")
    yield Sample((_x(rng, 2, 5), (4,), [2, "same_numpy", (0, 3), 0]), {"d": 1}, desc="1-D C=2 non-nested")
    yield Sample((_x(rng, 2, 3, 1, 6, 5), (3, 3), ["full", "valid", "same"]), {"d": 2}, (2, 3), (0,),
                 "2-D C=1 3x3, windows given largest first")
    yield Sample((_x(rng, 2, 3, 5, 4), (2, 3), ["same", ((0, 1), (2, 0)), "full"]), {"d": 2}, (2,), (0,),
                 "2-D C=3 2x3 with a per-axis pair")


def _grams(rng, *shape):
    """Random Gram matrices ``A Aᵀ`` (any D x D matrix would do: the forms are bilinear)."""
    a = rng.normal(size=shape)
    return a @ np.swapaxes(a, -1, -2)


def _form_samples(rng):
    yield Sample((_k(rng, 3, 2, 1, 3), _grams(rng, 2, 3, 3)), {"d": 1}, (3,), (0,), "1-D S=2 C=1, grams shared")
    yield Sample((_k(rng, 3, 2, 4), _grams(rng, 2, 3, 1, 8, 8)), {"d": 1}, (2, 3), (1,),
                 "1-D S=3 C=2, weight shared")
    yield Sample((_k(rng, 2, 4, 2, 2, 3), _grams(rng, 2, 3, 12, 12)), {"d": 2}, (2,), (0, 1), "2-D S=4 C=2 2x3")
    yield Sample((_k(rng, 2, 3, 3, 3), _grams(rng, 1, 27, 27)), {"d": 2}, desc="2-D S=2 C=3 3x3, one padding")


def _spectrum_samples(rng):
    yield Sample((_k(rng, 3, 1),), {"d": 1}, (3,), (0,), "1-D N=1")
    yield Sample((_k(rng, 2, 3, 4),), {"d": 1}, (2, 3), (0,), "1-D even N")
    yield Sample((_k(rng, 16),), {"d": 1}, desc="1-D N=16")
    yield Sample((_k(rng, 3, 3, 3),), {"d": 2}, (3,), (0,), "2-D 3x3")
    yield Sample((_k(rng, 2, 5),), {"d": 2}, desc="2-D 2x5")


# ---------------------------------------------------------------- bad inputs

def _d_cases(*args):
    for d in (3, True, 0):
        yield E(args, {"d": d}, ValueError, r"^d: expected", f"d={d!r}")


def _input_cases(tail=()):
    """Bad ``x`` / ``kernel_shape`` for the functions ``(x, kernel_shape, *tail, *, d)``."""
    x, ks = _arr(1, 6), (3,)
    yield from _d_cases(x, ks, *tail)
    yield E((_arr(6), ks, *tail), {"d": 1}, ValueError, r"^x: expected shape", "x without a channel axis")
    yield E((_arr(1, 0), ks, *tail), {"d": 1}, ValueError, r"^x: every axis.* must have size >= 1", "empty x")
    yield E((x + 1j, ks, *tail), {"d": 1}, TypeError, r"^x: expected a real", "complex x")
    yield E((_nan(x), ks, *tail), {"d": 1}, ValueError, r"^x: expected finite", "NaN in x", REF)
    yield E(([[0.5, 1.0]], ks, *tail), {"d": 1}, TypeError, r"^x: expected a torch.Tensor", "x a list", TWIN)
    for bad in ((0,), (2, 2), 1.5, True, 3.0, "3", (3.0,)):
        yield E((x, bad, *tail), {"d": 1}, ValueError, r"^kernel_shape: expected", f"kernel_shape={bad!r}")


def _patch_errors():
    yield from _input_cases()


def _gram_errors():
    yield from _input_cases(("full",))
    yield E((_arr(1, 6), (3,), "circular"), {"d": 1}, ValueError, r"^padding: unknown mode", "unknown mode")
    yield E((_arr(1, 6), (3,), 3), {"d": 1}, ValueError, r"^padding .*\[0, N-1\]", "P = N")
    yield E((_arr(1, 2), (3,), "valid"), {"d": 1}, ValueError, r"^padding .*leave no output", "valid, N > M")
    yield E((_arr(1, 6), (3,), 1.5), {"d": 1}, TypeError, r"^padding", "fractional P")


def _stack_errors():
    yield from _input_cases((["full"],))
    x, ks = _arr(1, 6), (3,)
    for bad, desc in (("valid", "a string"), ([], "empty"), (None, "None")):
        yield E((x, ks, bad), {"d": 1}, ValueError, r"^paddings: expected a non-empty list", f"paddings {desc}")
    yield E((x, ks, ["full", "circular"]), {"d": 1}, ValueError, r"^paddings\[1\]: padding: unknown mode",
            "one unknown mode")
    yield E((_arr(1, 2), ks, ["full", "valid"]), {"d": 1}, ValueError, r"^paddings\[1\]: .*leave no output",
            "valid, N > M")
    yield E((x, ks, [1.5]), {"d": 1}, TypeError, r"^paddings\[0\]: padding", "fractional P")
    yield E((x, ks, ["full"]), {"d": 1, "chunk": 0}, ValueError, r"^chunk: expected", "chunk 0", TWIN)


def _form_errors():
    w, g = _arr(2, 1, 3), np.stack([np.eye(3)])
    yield from _d_cases(w, g)
    yield E((_arr(2, 3), g), {"d": 1}, ValueError, r"^weight: expected shape", "weight rank")
    yield E((w, np.eye(3)), {"d": 1}, ValueError, r"^grams: expected shape", "grams rank")
    yield E((w, np.stack([np.eye(2)])), {"d": 1}, ValueError, r"^grams: expected shape \(.*P, 3, 3\)", "D differs")
    yield E((w, _arr(1, 3, 4)), {"d": 1}, ValueError, r"^grams: expected shape", "grams not square")
    yield E((w + 1j, g), {"d": 1}, TypeError, r"^weight: expected a real", "complex weight")
    yield E((_nan(w), g), {"d": 1}, ValueError, r"^weight: expected finite", "NaN in weight", REF)
    yield E((_arr(2, 2, 1, 3), np.stack([g] * 3)), {"d": 1}, ValueError, r"^weight and grams: .*do not broadcast",
            "batch shapes", TWIN)
    yield E((w, g), {"d": 1}, ValueError, r"^weight and grams: expected one device", "grams on another device",
            TWIN, other_device=(1,))


def _spectrum_errors():
    yield from _d_cases(_arr(3))
    yield E((_arr(3),), {"d": 2}, ValueError, r"^k: expected shape", "k rank")
    yield E((np.zeros((2, 0)),), {"d": 1}, ValueError, r"^k: (expected shape|every axis.* must have size >= 1)",
            "empty k")
    yield E((_arr(3) + 1j,), {"d": 1}, TypeError, r"^k: expected a real", "complex k")
    yield E((_nan(_arr(3)),), {"d": 1}, ValueError, r"^k: expected finite", "NaN in k", REF)
    yield E((np.arange(3),), {"d": 1}, TypeError, r"^k: expected a real floating tensor", "integer k", TWIN)


# ---------------------------------------------------------------- the entries

def _op(name, samples, errors, tol=GRAM_TOL, **kw) -> OpInfo:
    return OpInfo(name=name, reference=getattr(R, name), twin=getattr(B, name), sample_inputs=samples,
                  error_inputs=errors, tol=dict(tol), **kw)


OPS: list[OpInfo] = [
    _op("feature_patches", _patch_samples, _patch_errors, abs_scale=False,
        notes="F_full = U vec(K), CS eq. 1b (a rearrangement: exact)"),
    _op("feature_gram", _gram_samples, _gram_errors, notes="<F1,F2>_P = vec(K1)ᵀ G_P vec(K2), CS eq. 3, 14"),
    _op("feature_gram_stack", _stack_samples, _stack_errors, notes="nested windows accumulated"),
    _op("gram_quadratic_forms", _form_samples, _form_errors, notes="Q[p] = W G_p Wᵀ"),
    _op("kernel_spectrum", _spectrum_samples, _spectrum_errors, tol=SPECTRUM_TOL, abs_scale=False,
        notes="half spectrum on the (2N-1)^d grid, CS eq. 8 (Parseval)"),
]
