"""The feature-map inner product, directly and through the CS paper's identity.

For kernels ``K1, K2`` of shape ``(C, *kernel)`` applied to an input ``X`` of shape ``(C, *spatial)``
(``F_s = Σ_c K_s[c] ⋆ X[c]``) and a padding keeping the full-result window ``W``
(CS paper, eq. 3, 14, 17-19)::

    <F1, F2>_W = Σ_{c1,c2} <K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N, N-1]}>  -  A  -  B

where ``A`` and ``B`` are the contributions of the full-result positions that the padding drops,
``A`` below the window and ``B`` above it (eq. 17 and 18). With full padding ``A = B = 0`` and the
identity is exact (eq. 3, 21). In 2-D a dropped position belongs to ``A`` when, on the first axis on
which it lies outside the window, it lies below it, else to ``B``; in 1-D this is eq. 17-18 exactly.

Every function takes ``(x, k1, k2[, padding], *, d)`` with ``x`` ``(C, M)`` or ``(C, H, W)`` and
``k1``, ``k2`` ``(C, N)`` or ``(C, h, w)`` of equal shapes, and raises TypeError for a non-real
array, ValueError for a bad ``d``, rank, value, channel count, kernel shape or padding, for a call over
the memory or work cap (:mod:`theory._validate`) and for a result that overflows float64 (all naming
the arguments).
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_d, check_same_shape, check_work
from ..padding import full_window, output_shape, resolve_padding
from ._arrays import as_real, check_alloc, finite
from .correlations import _channel_crosscorrelation, _correlate, _crosscorrelation

__all__ = ["feature_inner_product", "identity_inner_product", "edge_terms", "lag_decomposition",
           "correlation_terms"]

NAMES = "x and k1 and k2"


def _check_triplet(x, k1, k2, d):
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    k1 = as_real("k1", k1, d + 1, "C, kernel axes")
    k2 = as_real("k2", k2, d + 1, "C, kernel axes")
    check_same_shape("k1", k1.shape, "k2", k2.shape)
    if k1.shape[0] != x.shape[0]:
        raise ValueError(f"k1 and x: expected the same number of channels C, got k1 {k1.shape} and x {x.shape}")
    return x, k1, k2, d


def _check_pairs(x, k1):
    """The caps of the C×C channel-pair terms (correlation_terms, lag_decomposition)."""
    c, lags = x.shape[0], math.prod(2 * n - 1 for n in k1.shape[1:])
    check_alloc("x and k1", 3 * c * c * lags, "the C×C channel-pair correlations")
    check_work("x and k1", "the C×C channel-pair correlations", steps=2 * c * c * lags,
               flops=c * c * lags * (math.prod(k1.shape[1:]) + math.prod(x.shape[1:])))


def _maps(x, k, padding, d):
    pads = resolve_padding(padding, k.shape[1:])
    out_shape = output_shape(x.shape[1:], k.shape[1:], pads)
    return sum(_correlate(x[c], k[c], pads, out_shape, NAMES) for c in range(x.shape[0]))


def _pair_terms(x, k1, k2):
    """``(KK, R)``: ``KK[c1][c2] = K1[c1] ⋆ K2[c2]`` and ``R = (X ⋆ X)_{[1-N, N-1]}`` per channel pair."""
    n = k1.shape[1:]
    ranges = [range(1 - s, s) for s in n]
    r = _channel_crosscorrelation(x, ranges, "x and k1")
    c = x.shape[0]
    kk = [[_crosscorrelation(k1[c1], k2[c2], ranges, "k1 and k2") for c2 in range(c)] for c1 in range(c)]
    return kk, r


def feature_inner_product(x, k1, k2, padding="full", *, d: int) -> float:
    """``<F1, F2> = Σ_i F1[i]·F2[i]`` over the padded output, from the feature maps (CS paper, eq. 14).

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        The two kernels.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> R.feature_inner_product(x, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), d=1)
    8.0
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    return finite(NAMES, float(np.sum(_maps(x, k1, padding, d) * _maps(x, k2, padding, d))))


def correlation_terms(x, k1, k2, *, d: int) -> np.ndarray:
    """The ``C×C`` terms ``<K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N,N-1]}>`` (CS paper, eq. 3, multi-channel).

    Their sum is the right-hand side of eq. 3, i.e. ``<F1, F2>`` under full padding.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        The two kernels.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(C, C)``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> R.correlation_terms(x, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), d=1)
    array([[8.]])
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    _check_pairs(x, k1)
    kk, r = _pair_terms(x, k1, k2)
    c = x.shape[0]
    return finite(NAMES, np.array([[np.sum(kk[c1][c2] * r[c1, c2]) for c2 in range(c)] for c1 in range(c)]))


def edge_terms(x, k1, k2, padding="full", *, d: int) -> tuple[float, float]:
    """``(A, B)``: the share of ``<F1, F2>`` at full-result positions that ``padding`` drops (CS paper, eq. 17-18).

    ``A = Σ_{i < N-1-left} F1[i]·F2[i]`` and ``B = Σ_{i > M-1+right} F1[i]·F2[i]`` over full-padding
    feature maps; eq. 17-18 are the same sums written through the kernel taps. Both 0 for ``'full'``.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        The two kernels.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    tuple of float
        ``(A, B)``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> R.edge_terms(x, np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]]), "valid", d=1)
    (-1.0, 9.0)
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    pads = resolve_padding(padding, k1.shape[1:])
    window = full_window(x.shape[1:], k1.shape[1:], pads)
    prod = _maps(x, k1, "full", d) * _maps(x, k2, "full", d)
    below = np.zeros(prod.shape, dtype=bool)
    decided = np.zeros(prod.shape, dtype=bool)
    for axis, w in enumerate(window):
        idx = np.arange(prod.shape[axis]).reshape([-1 if a == axis else 1 for a in range(d)])
        out = (idx < w.start) | (idx >= w.stop)
        first = out & ~decided
        below |= first & (idx < w.start)
        decided |= first
    return finite(NAMES, (float(np.sum(prod[below])), float(np.sum(prod[decided & ~below]))))


def identity_inner_product(x, k1, k2, padding="full", *, d: int) -> float:
    """``<F1, F2>`` through the identity: ``Σ_{c1,c2} <K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N,N-1]}> - A - B``.

    CS paper, eq. 19 (eq. 3 for full padding, where ``A = B = 0``), summed over channel pairs; equal to
    :func:`feature_inner_product` for every padding.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        The two kernels.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x, k1, k2 = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]])
    >>> R.identity_inner_product(x, k1, k2, "valid", d=1), R.feature_inner_product(x, k1, k2, "valid", d=1)
    (-8.0, -8.0)
    """
    a, b = edge_terms(x, k1, k2, padding, d=d)
    return finite(NAMES, float(np.sum(correlation_terms(x, k1, k2, d=d))) - a - b)


def lag_decomposition(x, k1, k2, *, d: int) -> tuple[float, float]:
    """The full-padding ``<F1, F2>`` split into its zero-lag and non-zero-lag parts (CS paper, eq. 11).

    ``zero = Σ_{c1,c2} (X[c1] ⋆ X[c2])[0]·<K1[c1], K2[c2]>`` (for ``C = 1``: ``||X||²·<K1, K2>``) and
    ``rest = Σ_{n≠0} ...``, so ``zero + rest = <F1, F2>``. Kernel orthogonality zeroes only ``zero``
    (and, for ``C > 1``, only when every channel pair is orthogonal).

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        The two kernels.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    tuple of float
        ``(zero, rest)``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    Orthogonal kernels, yet correlated feature maps:

    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.lag_decomposition(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), d=1)
    (0.0, 8.0)
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    _check_pairs(x, k1)
    kks, r = _pair_terms(x, k1, k2)
    centre = tuple(s - 1 for s in k1.shape[1:])
    zero = total = 0.0
    for c1 in range(x.shape[0]):
        for c2 in range(x.shape[0]):
            kk = kks[c1][c2]
            total += float(np.sum(kk * r[c1, c2]))
            zero += float(kk[centre] * r[c1, c2][centre])
    return finite(NAMES, (zero, total - zero))
