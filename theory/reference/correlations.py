"""Cross-correlation, convolution and lagged correlations: plain NumPy loops, float64.

Conventions (CS paper, eq. 1a-1b, 12-14):

* cross-correlation of an input ``X ∈ R^M`` with a kernel ``K ∈ R^N``, full padding (eq. 1b)::

      (X ⋆ K)[i] = Σ_{n=0}^{N-1} K[n]·X[i+n-N+1],   i ∈ [0, M+N-2],  X = 0 outside [0, M-1]

  equal to ``scipy.signal.correlate(X, K, 'full')`` and ``torch.nn.functional.conv1d(x, w, padding=N-1)``.
  A padding ``(left, right)`` keeps ``i ∈ [N-1-left, M-1+right]`` (see :mod:`theory.padding`).
* convolution (eq. 1a): ``(X * K)[i] = Σ_n K[n]·X[i-n]``, i.e. correlation with the flipped kernel,
  same output window.
* lagged correlation of two signals, the convention of the identity (eq. 3-6)::

      (a ⋆ b)[n] = Σ_m a[m]·b[m+n]

  so ``(K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]`` for ``n ∈ [1-N, N-1]`` and
  ``(X ⋆ X)[n] = Σ_i X[i+n]·X[i]``. In 2-D every index is a pair and every sum a double sum.

Sizes and lags are ints (floats, even integer-valued ones, strings and bools are refused). Before any
work, a call whose arrays would exceed the memory cap, or whose loops the work cap, of
:mod:`theory._validate` is a ValueError naming the argument; so is a result that overflows float64.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._validate import check_d, check_same_shape, check_work, lag_bounds, lag_ranges
from ..padding import output_shape, resolve_padding
from ._arrays import as_real, check_alloc, finite

__all__ = [
    "correlate", "convolve", "crosscorrelation", "kernel_crosscorrelation", "autocorrelation",
    "channel_crosscorrelation", "feature_maps", "lags",
]


def correlate(x, k, padding="full", *, d: int) -> np.ndarray:
    """Cross-correlation ``X ⋆ K`` of one input with one kernel (CS paper, eq. 1b, 12-13).

    ``F[i] = Σ_n K[n]·X[i+n-left]`` for ``i ∈ [0, M-N+left+right]``, which is the full result's
    index ``i + N-1-left``.

    Parameters
    ----------
    x : array_like, shape (M,) or (H, W)
        The input.
    k : array_like, shape (N,) or (h, w)
        The kernel.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding` (``'full'``, ``'valid'``, ``'same'``, ``'same_numpy'``,
        ``P``, ``(left, right)``, per-axis pairs).
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, ``M - N + 1 + left + right`` per axis.

    Raises
    ------
    TypeError
        If an array is not real numeric, or ``padding`` is not a mode, an int or a pair.
    ValueError
        If ``d``, a rank or a value is bad, or the padding is out of ``[0, N-1]`` or leaves no output.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.correlate(np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]), d=1)
    array([-1., -1., -1.,  3.])
    >>> R.correlate(np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]), "valid", d=1)
    array([-1., -1.])
    """
    d = check_d(d)
    x = as_real("x", x, d, "spatial axes")
    k = as_real("k", k, d, "kernel axes")
    pads = resolve_padding(padding, k.shape)
    out_shape = output_shape(x.shape, k.shape, pads)
    return finite("x and k", _correlate(x, k, pads, out_shape))


def _correlate(x, k, pads, out_shape, name="x and k"):
    taps, size = math.prod(k.shape), math.prod(out_shape)
    check_alloc(name, 2 * size + math.prod(a + lo + hi for a, (lo, hi) in zip(x.shape, pads)),
                "the padded input and the output")
    check_work(name, "the correlation", steps=taps, flops=taps * size)
    xp = np.pad(x, pads)
    out = np.zeros(out_shape)
    for n in itertools.product(*(range(s) for s in k.shape)):
        window = tuple(slice(ni, ni + o) for ni, o in zip(n, out_shape))
        out += k[n] * xp[window]
    return out


def convolve(x, k, padding="full", *, d: int) -> np.ndarray:
    """Convolution ``X * K`` (CS paper, eq. 1a): ``(X * K)[i] = Σ_n K[n]·X[i-n]``.

    Correlation with the flipped kernel, padded like :func:`correlate`.

    Parameters
    ----------
    x : array_like, shape (M,) or (H, W)
        The input.
    k : array_like, shape (N,) or (h, w)
        The kernel.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, the same shape as :func:`correlate` gives.

    Raises
    ------
    TypeError, ValueError
        As :func:`correlate`.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.convolve(np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]), d=1)
    array([ 1.,  1.,  1., -3.])
    """
    d = check_d(d)
    k = as_real("k", k, d, "kernel axes")
    return correlate(x, np.flip(k), padding, d=d)


def lags(size_a: int, size_b: int | None = None, max_lag: int | None = None) -> np.ndarray:
    """Lags of :func:`crosscorrelation` along one axis, lowest first.

    Parameters
    ----------
    size_a : int
        Length of the first signal, ``Na >= 1``.
    size_b : int, optional
        Length of the second signal (default ``size_a``).
    max_lag : int, optional
        ``L >= 0``: the lags ``[-L, L]`` instead of ``[-(Na-1), Nb-1]``.

    Returns
    -------
    numpy.ndarray
        int64, ``[1-Na, Nb-1]`` or ``[-L, L]``.

    Raises
    ------
    ValueError
        If a size is not a positive int or ``max_lag`` not a non-negative int (floats, strings and bools are
        refused), or the lags would not fit in the memory cap (:data:`theory._validate.MEMORY_CAP`).

    Examples
    --------
    >>> from theory import reference as R
    >>> R.lags(3, 2).tolist()
    [-2, -1, 0, 1]
    >>> R.lags(3, max_lag=1).tolist()
    [-1, 0, 1]
    """
    lo, hi = lag_bounds(size_a, size_b, max_lag)
    check_alloc("max_lag" if max_lag is not None else "size_a and size_b", hi - lo + 1, "the lags")
    return np.arange(lo, hi + 1, dtype=np.int64)


def crosscorrelation(a, b, max_lag=None, *, d: int) -> np.ndarray:
    """Lagged correlation ``(a ⋆ b)[n] = Σ_m a[m]·b[m+n]`` (the ⋆ of CS paper, eq. 3, 6).

    Parameters
    ----------
    a, b : array_like, shape (Na,) / (Nb,) or 2-D
        The two signals (any sizes).
    max_lag : int or tuple of int, optional
        ``L``: the lags ``[-L, L]`` per axis (one int or one per axis; lags without overlap give 0).
        Default: every lag with overlap, ``[-(Na-1), Nb-1]`` per axis.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64; entry ``j`` along an axis holds the ``j``-th lag of its range, lowest first.

    Raises
    ------
    TypeError
        If ``a`` or ``b`` is not real numeric.
    ValueError
        If ``d``, a rank or a value is bad, ``max_lag`` is not non-negative ints, the lags would not fit
        in the memory cap or the loop exceed the work cap (:mod:`theory._validate`), or the result
        overflows float64.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.crosscorrelation(np.array([1.0, 2.0]), np.array([1.0, 0.0, -1.0]), d=1)
    array([ 2.,  1., -2., -1.])
    >>> R.crosscorrelation(np.array([1.0, 2.0]), np.array([1.0, 0.0, -1.0]), 0, d=1)
    array([1.])
    """
    d = check_d(d)
    a = as_real("a", a, d, "spatial axes")
    b = as_real("b", b, d, "spatial axes")
    ranges = lag_ranges(a.shape, b.shape, max_lag, d)
    return finite("a and b", _crosscorrelation(a, b, ranges, "a and b" if max_lag is None else "max_lag"))


def _crosscorrelation(a: np.ndarray, b: np.ndarray, ranges, name: str) -> np.ndarray:
    """``(a ⋆ b)`` at the lags ``ranges`` of checked arrays; the caps name ``name``."""
    n_lags = math.prod(len(r) for r in ranges)
    check_alloc(name, n_lags, "the lags")
    check_work(name, "the lagged correlation", steps=n_lags,
               flops=n_lags * math.prod(min(na, nb) for na, nb in zip(a.shape, b.shape)))
    out = np.zeros(tuple(len(r) for r in ranges))
    for idx in itertools.product(*(range(len(r)) for r in ranges)):
        n = [r[j] for r, j in zip(ranges, idx)]
        # m runs where both a[m] and b[m+n] exist.
        sa = tuple(slice(max(0, -ni), min(na, nb - ni)) for ni, na, nb in zip(n, a.shape, b.shape))
        if any(s.start >= s.stop for s in sa):
            continue
        sb = tuple(slice(s.start + ni, s.stop + ni) for s, ni in zip(sa, n))
        out[idx] = np.sum(a[sa] * b[sb])
    return out


def kernel_crosscorrelation(k1, k2, *, d: int) -> np.ndarray:
    """Full cross-correlation of two kernels, ``(K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]`` (CS paper, eq. 3, 6).

    Lags ``n ∈ [1-N, N-1]`` per axis; equal to ``scipy.signal.correlate(K2, K1, 'full')``.

    Parameters
    ----------
    k1, k2 : array_like, shape (N,) or (h, w)
        Two kernels of equal shape.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(2N-1,)`` per axis; lag 0 in the middle.

    Raises
    ------
    TypeError
        If a kernel is not real numeric.
    ValueError
        If ``d``, a rank or a value is bad, or the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.kernel_crosscorrelation(np.array([1.0, 2.0]), np.array([3.0, -1.0]), d=1)
    array([ 6.,  1., -1.])
    """
    d = check_d(d)
    k1 = as_real("k1", k1, d, "kernel axes")
    k2 = as_real("k2", k2, d, "kernel axes")
    check_same_shape("k1", k1.shape, "k2", k2.shape)
    return finite("k1 and k2", _crosscorrelation(k1, k2, lag_ranges(k1.shape, k2.shape, None, d), "k1 and k2"))


def autocorrelation(x, max_lag, *, d: int) -> np.ndarray:
    """Input autocorrelation ``(X ⋆ X)[n] = Σ_i X[i+n]·X[i]`` on ``[-L, L]`` (CS paper, eq. 3).

    With ``max_lag = N-1`` this is ``(X ⋆ X)_{[1-N, N-1]}`` of the identity.

    Parameters
    ----------
    x : array_like, shape (M,) or (H, W)
        The input.
    max_lag : int or tuple of int or None
        ``L`` (one per axis allowed); ``None``: every lag ``[1-M, M-1]``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, ``2L+1`` per axis, symmetric in the lag.

    Raises
    ------
    TypeError, ValueError
        As :func:`crosscorrelation`, naming ``x`` and ``max_lag``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.autocorrelation(np.array([1.0, 2.0, 3.0]), 1, d=1)
    array([ 8., 14.,  8.])
    """
    d = check_d(d)
    x = as_real("x", x, d, "spatial axes")
    ranges = lag_ranges(x.shape, x.shape, max_lag, d)
    return finite("x", _crosscorrelation(x, x, ranges, "x" if max_lag is None else "max_lag"))


def channel_crosscorrelation(x, max_lag, *, d: int) -> np.ndarray:
    """Cross-channel correlations ``R[c1, c2][n] = Σ_j X[c1][j]·X[c2][j+n]`` (CS paper, eq. 3, multi-channel).

    The diagonal ``c1 = c2`` is :func:`autocorrelation`; off it ``R[c2, c1][n] = R[c1, c2][-n]``.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        A multi-channel input.
    max_lag : int or tuple of int or None
        ``L``, as in :func:`crosscorrelation`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(C, C, *(2L+1,)*d)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`crosscorrelation`.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> r = R.channel_crosscorrelation(np.array([[1.0, 2.0], [0.0, 1.0]]), 1, d=1)
    >>> r.shape, r[0, 1].tolist(), r[1, 0].tolist()
    ((2, 2, 3), [0.0, 2.0, 1.0], [1.0, 2.0, 0.0])
    """
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    ranges = lag_ranges(x.shape[1:], x.shape[1:], max_lag, d)
    return finite("x", _channel_crosscorrelation(x, ranges, "x" if max_lag is None else "x and max_lag"))


def _channel_crosscorrelation(x: np.ndarray, ranges, name: str) -> np.ndarray:
    """``R[c1, c2]`` at the lags ``ranges`` of a checked ``(C, *spatial)`` array; the caps name ``name``."""
    c = x.shape[0]
    n_lags = math.prod(len(r) for r in ranges)
    check_alloc(name, 2 * c * c * n_lags, "the C×C lagged correlations")
    check_work(name, "the C×C lagged correlations", steps=c * c * n_lags,
               flops=c * c * n_lags * math.prod(x.shape[1:]))
    return np.array([[_crosscorrelation(x[c1], x[c2], ranges, name) for c2 in range(c)] for c1 in range(c)])


def feature_maps(x, weight, padding="full", *, d: int) -> np.ndarray:
    """Multi-channel feature maps as ``Conv2d`` (no bias) computes them: ``F_s = Σ_c K_s[c] ⋆ X[c]``.

    CS paper, eq. 9's multi-channel setting, each term eq. 1b / 12.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        ``S`` kernels of ``C`` channels.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(S, *out)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`correlate`; ValueError also when ``weight`` and ``x`` have different ``C``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 1.0]])
    >>> w = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> R.feature_maps(x, w, "valid", d=1)
    array([[1., 3.]])
    """
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    weight = as_real("weight", weight, d + 2, "S, C, kernel axes")
    if weight.shape[1] != x.shape[0]:
        raise ValueError(f"weight and x: expected weight.shape[1] == x.shape[0] (input channels C), "
                         f"got weight {weight.shape} and x {x.shape}")
    pads = resolve_padding(padding, weight.shape[2:])
    out_shape = output_shape(x.shape[1:], weight.shape[2:], pads)
    s, c, taps, size = weight.shape[0], x.shape[0], math.prod(weight.shape[2:]), math.prod(out_shape)
    check_alloc("x and weight", (s + 2) * size, "the feature maps")
    check_work("x and weight", "the feature maps", steps=s * c * taps, flops=s * c * taps * size)
    return finite("x and weight", np.array([sum(_correlate(x[ch], weight[i, ch], pads, out_shape, "x and weight")
                                                 for ch in range(c)) for i in range(s)]))
