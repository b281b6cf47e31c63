"""Hypothesis strategies of the theory tests, in one place: labelled composites.

In the style of data-apis' array-api-tests: every strategy is a ``@st.composite`` (or a plain
strategy) whose own draws carry a ``label``, and the tests draw them with
``data.draw(strategy, label=...)``, so a falsifying example names each value it prints.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory import reference as R

FLOATS = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
UNIT = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
# Zero or |v| >= 1e-150: the extreme non-zero lag of two such kernels is one product, which cannot underflow.
SPARSE = st.one_of(st.just(0.0), st.floats(1e-150, 1.0), st.floats(-1.0, -1e-150))


def float_arrays(shape, elements=FLOATS):
    """float64 arrays of ``shape`` (``[-1, 1]`` by default)."""
    return hnp.arrays(np.float64, tuple(shape), elements=elements)


def positive_scales(shape, lo=1e-3, hi=1e3):
    """float64 arrays of ``shape`` with entries in ``[lo, hi]``."""
    return float_arrays(shape, st.floats(lo, hi))


def nonzero_arrays(shape):
    """float64 arrays of ``shape`` with entries in :data:`SPARSE`, not all zero."""
    return hnp.arrays(np.float64, tuple(shape), elements=SPARSE).filter(lambda a: np.any(a != 0))


@st.composite
def spatial_ranks(draw, ranks=(1, 2)):
    return draw(st.sampled_from(list(ranks)), label="d")


# ---------------------------------------------------------------- shapes, paddings, convolution cases

@st.composite
def kernel_shapes(draw, d, max_n=5):
    """``d`` kernel sizes in ``[1, max_n]``."""
    return tuple(draw(st.integers(1, max_n), label=f"N[{a}]") for a in range(d))


@st.composite
def input_shapes(draw, kshape, extra=5, allow_smaller=False):
    """Per axis ``M`` in ``[N, N+extra]`` (or ``[1, N+extra]`` when ``allow_smaller``)."""
    return tuple(draw(st.integers(1 if allow_smaller else n, n + extra), label=f"M[{a}]")
                 for a, n in enumerate(kshape))


@st.composite
def paddings(draw, kshape, ishape):
    """Any accepted padding form that leaves a non-empty output for these shapes."""
    d = len(kshape)

    def fits(pairs):
        return all(m - n + 1 + lo + hi >= 1 for m, n, (lo, hi) in zip(ishape, kshape, pairs))

    n_min = min(kshape)
    options = [("full", [(n - 1, n - 1) for n in kshape])]
    for mode, f in (("valid", lambda n: (0, 0)), ("same", lambda n: ((n - 1) // 2, n // 2)),
                    ("same_numpy", lambda n: (n // 2, (n - 1) // 2))):
        options.append((mode, [f(n) for n in kshape]))
    for p in range(n_min):
        options.append((p, [(p, p)] * d))
    pair = tuple(draw(st.integers(0, n_min - 1), label=f"pair[{i}]") for i in range(2))
    options.append((pair, [pair] * d))
    if d == 2:
        per = tuple(tuple(draw(st.integers(0, n - 1), label=f"axis{a}[{i}]") for i in range(2))
                    for a, n in enumerate(kshape))
        options.append((per, list(per)))
    options = [spec for spec, pairs in options if fits(pairs)]
    return draw(st.sampled_from(options), label="padding")


@st.composite
def conv_cases(draw, *, d=None, max_c=3, max_n=5, extra=5):
    """``(d, x, k1, k2)``: X ~ [0, 1] of shape ``(C, *M)``, kernels ~ [-1, 1] of shape ``(C, *N)``."""
    d = draw(spatial_ranks(), label="d") if d is None else d
    c = draw(st.integers(1, max_c), label="C")
    kshape = draw(kernel_shapes(d, max_n), label="kernel shape")
    ishape = draw(input_shapes(kshape, extra), label="input shape")
    x = draw(float_arrays((c, *ishape), UNIT), label="x")
    k1 = draw(float_arrays((c, *kshape)), label="k1")
    k2 = draw(float_arrays((c, *kshape)), label="k2")
    return d, x, k1, k2


@st.composite
def weights(draw, *, d=None, min_s=1, max_s=4, max_c=3, max_n=4, c=None):
    """``(d, weight)``: a layer's weight ``(S, C, *kernel)`` with entries in ``[-1, 1]``."""
    d = draw(spatial_ranks(), label="d") if d is None else d
    s = draw(st.integers(min_s, max_s), label="S")
    c = draw(st.integers(1, max_c), label="C") if c is None else c
    kshape = draw(kernel_shapes(d, max_n), label="kernel shape")
    return d, draw(float_arrays((s, c, *kshape)), label="weight")


# ---------------------------------------------------------------- orthogonality and DeCov

@st.composite
def orthonormal_rows(draw, s, f):
    """``(s, f)`` with orthonormal rows (``s <= f``), from the QR factorisation of a drawn matrix."""
    q, r = np.linalg.qr(draw(float_arrays((f, s)), label="matrix"))
    assume(np.all(np.abs(np.diag(r)) > 1e-3))
    return q.T


@st.composite
def kernel_pairs_with_cosine(draw, cosine):
    """``S = 2`` kernels (``C = 2``, ``N = 3``) with the given cosine: ``K1 = u``, ``K2 = cos·u + sin·v``."""
    u, v = draw(orthonormal_rows(2, 6), label="u, v")
    return np.stack([u, cosine * u + np.sqrt(max(0.0, 1.0 - cosine ** 2)) * v]).reshape(2, 2, 3)


@st.composite
def activations(draw, *, max_b=6):
    """``(d, h)``: ``b`` activations ``(b, C, *spatial)``, ``d ∈ {0, 1, 2}``, shifted by a drawn offset."""
    d = draw(spatial_ranks((0, 1, 2)), label="d")
    b = draw(st.integers(2, max_b), label="b")
    c = draw(st.integers(1, 3), label="C")
    spatial = tuple(draw(st.integers(1, 2), label=f"spatial[{a}]") for a in range(d))
    offset = draw(st.floats(-10.0, 10.0), label="offset")
    return d, draw(float_arrays((b, c, *spatial)), label="h") + offset


@st.composite
def pooling_inputs(draw, *, max_b=3, max_c=3, max_side=7):
    """float32 activations ``(b, C, h, w)`` with ``h, w >= 2`` for a 2x2 max-pool: any finite floats, with ties
    (a small pool of values, so windows repeat them), negatives, zeros, subnormals and huge magnitudes."""
    b = draw(st.integers(1, max_b), label="b")
    c = draw(st.integers(1, max_c), label="C")
    h = draw(st.integers(2, max_side), label="h")
    w = draw(st.integers(2, max_side), label="w")
    values = st.floats(width=32, allow_nan=False, allow_infinity=False)
    pool = draw(st.lists(values, min_size=1, max_size=6), label="value pool")
    return draw(hnp.arrays(np.float32, (b, c, h, w), elements=st.one_of(values, st.sampled_from(pool))),
                label="activations")


# ---------------------------------------------------------------- Pearson features on a quarter-integer grid

def grid_arrays(shape, lo=-8, hi=8):
    """Arrays of quarter-integers in ``[lo/4, hi/4]``: a channel is exactly constant or varies by >= 1/4."""
    return hnp.arrays(np.int64, tuple(shape), elements=st.integers(lo, hi)).map(lambda a: a / 4.0)


@st.composite
def grid_features(draw, *, d=None, min_c=1, max_c=4, max_b=5, max_sp=3):
    """``(d, features)``: ``(b, C, *spatial)`` on the quarter-integer grid, ``d ∈ {0, 1, 2}``."""
    d = draw(spatial_ranks((0, 1, 2)), label="d") if d is None else d
    b = draw(st.integers(2, max_b), label="b")
    c = draw(st.integers(min_c, max_c), label="C")
    sp = tuple(draw(st.integers(1, max_sp), label=f"spatial[{a}]") for a in range(d))
    return d, draw(grid_arrays((b, c, *sp)), label="features")


def channel_kinds(dtype):
    """How a channel of the dead-channel bracket test is built: random, zero, constant, relative jitter
    ``10^u`` straddling the threshold, or one entry raised to ``k`` times the threshold."""
    lo, hi = (-9, -2) if str(dtype) == "torch.float32" else (-18, -10)
    return st.one_of(st.sampled_from(["random", "zero", "constant"]),
                     st.floats(lo, hi).map(lambda u: f"jitter:{u}"),
                     st.floats(0.3, 3.0).map(lambda k: f"threshold:{k}"))


# ---------------------------------------------------------------- POD

@st.composite
def pod_cases(draw, *, min_b=1, max_b=6):
    """``(features, labels, centroids)``: PEDCC centroids ``(k, n)``, ``B`` labels, features in
    ``[-2, 2]`` with near-zero rows moved next to their centroid (a direction is needed)."""
    k = draw(st.integers(1, 5), label="k")
    n = draw(st.integers(max(k - 1, 1), 7), label="n")
    c = R.pedcc_centroids(k, n, seed=draw(st.integers(0, 100), label="seed"))
    b = draw(st.integers(min_b, max_b), label="B")
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=b, max_size=b), label="labels"))
    f = draw(float_arrays((b, n), st.floats(-2.0, 2.0)), label="features")
    small = np.linalg.norm(f, axis=1) < 1e-3
    f[small] += c[y[small]]
    return f, y, c


# ---------------------------------------------------------------- data-based draws (test_slow.py, test_claim2d.py)

def arrays(data, shape, label, elements=FLOATS):
    """``data.draw(float_arrays(shape, elements), label=label)``."""
    return data.draw(float_arrays(shape, elements), label=label)


def kernel_shape(data, d, max_n=5, label="kernel shape"):
    return data.draw(kernel_shapes(d, max_n), label=label)


def input_shape(data, kshape, extra=5, allow_smaller=False, label="input shape"):
    return data.draw(input_shapes(kshape, extra, allow_smaller), label=label)


def padding(data, kshape, ishape, label="padding"):
    return data.draw(paddings(kshape, ishape), label=label)


# ---------------------------------------------------------------- bad and unusual inputs (tests/test_fuzz_theory.py)

#: what an array argument can be turned into; scales are drawn per world and dtype by :func:`array_mutations`
ARRAY_KINDS = ("int", "bool", "complex", "float16", "nan", "inf", "scale", "empty", "extra_axis", "drop_axis",
               "requires_grad", "meta", "float32")
#: what an int argument (a size, a lag, a stride, a padding P, a seed) can be turned into
SIZE_VALUES = (-1, -7, 2.5, 2.0, True, "3", 10 ** 12, 10 ** 30)
#: huge and tiny finite factors: float64 (1e-310 is subnormal) and float32
SCALES = {"float64": (1e200, 1e-200, 1e-310, 1e150), "float32": (1e20, 1e-20, 1e-30)}


@st.composite
def array_mutations(draw, ndim: int):
    """``(kind, detail)`` for an array argument with ``ndim`` axes: the kind from :data:`ARRAY_KINDS`, and the
    drawn detail (a scale and its dtype, the axis made empty, the flat position of a NaN/inf)."""
    kinds = [k for k in ARRAY_KINDS if not (k == "drop_axis" and ndim == 0)]
    kind = draw(st.sampled_from(kinds), label="mutation")
    if kind == "scale":
        dtype = draw(st.sampled_from(sorted(SCALES)), label="scale dtype")
        return kind, (dtype, draw(st.sampled_from(SCALES[dtype]), label="factor"))
    if kind == "empty":
        return kind, draw(st.integers(0, max(ndim - 1, 0)), label="empty axis")
    if kind in ("nan", "inf"):
        return kind, draw(st.integers(0, 10 ** 6), label="position")
    return kind, None


@st.composite
def size_mutations(draw):
    """A bad or extreme value for an int argument: negative, fractional, an int-valued float, a bool, a
    string, or huge (10**12, 10**30: more than any memory or loop can take)."""
    return draw(st.sampled_from(SIZE_VALUES), label="size")
