"""Kernel similarity and the Convolutional Similarity loss (CS paper, eq. 8-10).

Kernels of one layer are a weight ``(S, C, *kernel)`` as in ``Conv1d``/``Conv2d``; a single kernel is
``(C, *kernel)``. Every function raises TypeError for a non-real array and ValueError for a bad
``d``, rank or value (NaN, inf, an empty axis), for a call over the memory or work cap
(:mod:`theory._validate`) and for a result that overflows float64, naming the argument(s).

Cosines are scale invariant and computed so: each kernel is first divided by the power of two nearest
its largest magnitude (exact), so a cosine is correct for any finite non-zero kernels, however large
or small; only an exactly zero kernel is a zero kernel (a ValueError naming it).
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_d, check_dft_size, check_same_shape, check_work
from ._arrays import as_real, check_alloc, finite, pow2_scaled
from .correlations import _crosscorrelation

__all__ = ["kernel_inner_product", "kernel_cosine", "conv_similarity", "conv_similarity_matrix",
           "crosscorrelation_energy", "crosscorrelation_energy_fft", "kernel_autocorrelation_sum",
           "conv_similarity_normalized"]


def _pair(k1, k2, d):
    d = check_d(d)
    k1 = as_real("k1", k1, d + 1, "C, kernel axes")
    k2 = as_real("k2", k2, d + 1, "C, kernel axes")
    check_same_shape("k1", k1.shape, "k2", k2.shape)
    return k1, k2, d


def _weight(weight, d):
    d = check_d(d)
    return as_real("weight", weight, d + 2, "S, C, kernel axes"), d


def kernel_inner_product(k1, k2, *, d: int) -> float:
    """``<K1, K2> = Σ_{c,m} K1[c][m]·K2[c][m]`` of flattened kernels (CS paper, eq. 11; Table 1 minimises its square).

    Parameters
    ----------
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        Two kernels of equal shape.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        See the module docstring; ValueError also for unequal shapes.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.kernel_inner_product(np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), d=1)
    1.0
    """
    k1, k2, d = _pair(k1, k2, d)
    return finite("k1 and k2", float(np.sum(k1 * k2)))


def kernel_cosine(k1, k2, *, d: int) -> float:
    """``<K1, K2> / (||K1||·||K2||)`` of flattened kernels (CS paper, Table 1's kernel similarity).

    Parameters
    ----------
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        Two kernels of equal shape.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float
        In ``[-1, 1]``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring; ValueError also for unequal shapes or a zero kernel.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.kernel_cosine(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0]]), d=1)  # 1/sqrt(2)
    0.7071067811865475
    """
    k1, k2, d = _pair(k1, k2, d)
    (u1, z1), (u2, z2) = pow2_scaled(k1.reshape(-1), 0), pow2_scaled(k2.reshape(-1), 0)
    for name, zero in (("k1", z1), ("k2", z2)):
        if zero:
            raise ValueError(f"{name}: the cosine is undefined for a zero kernel")
    n1, n2 = np.sqrt(np.sum(u1 * u1)), np.sqrt(np.sum(u2 * u2))
    return float(np.sum(u1 * u2) / (n1 * n2))


def crosscorrelation_energy(k1, k2, *, d: int) -> float:
    """``Σ_{c1,c2} Σ_{n ∈ [1-N, N-1]^d} (K1[c1] ⋆ K2[c2])²[n]``: one pair's term of L_CS (CS paper, eq. 8, 10).

    Parameters
    ----------
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        Two kernels of equal shape.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        See the module docstring; ValueError also for unequal shapes.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.crosscorrelation_energy(np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), d=1)  # lags 6, 1, -1
    38.0
    """
    k1, k2, d = _pair(k1, k2, d)
    c = k1.shape[0]
    _check_pair_work("k1 and k2", c * c, k1.shape[1:])
    return finite("k1 and k2", _energy(k1, k2, "k1 and k2"))


def _kk(a: np.ndarray, b: np.ndarray, name: str) -> np.ndarray:
    """``(a ⋆ b)[n]``, ``n ∈ [1-N, N-1]`` per axis, of two checked kernels of equal shape."""
    return _crosscorrelation(a, b, [range(1 - n, n) for n in a.shape], name)


def _energy(k1: np.ndarray, k2: np.ndarray, name: str) -> float:
    """``Σ_{c1,c2} Σ_n (K1[c1] ⋆ K2[c2])²[n]`` of checked ``(C, *kernel)`` kernels."""
    c = k1.shape[0]
    return float(sum(np.sum(_kk(k1[c1], k2[c2], name) ** 2) for c1 in range(c) for c2 in range(c)))


def _check_pair_work(name, pairs, kshape):
    """The work cap of ``pairs`` full kernel cross-correlations of kernels ``kshape``."""
    lags = math.prod(2 * n - 1 for n in kshape)
    check_work(name, f"{pairs} kernel cross-correlations", steps=pairs * lags, flops=pairs * lags * math.prod(kshape))


def crosscorrelation_energy_fft(k1, k2, *, d: int, size=None) -> float:
    """:func:`crosscorrelation_energy` by Parseval: ``(1/L) Σ_ω Σ_{c1,c2} |K̂1[c1](ω)|²·|K̂2[c2](ω)|²``.

    CS paper, the remark after eq. 7. Any DFT size ``L ≥ 2N-1`` per axis avoids circular wrap-around.

    Parameters
    ----------
    k1, k2 : array_like, shape (C, N) or (C, h, w)
        Two kernels of equal shape.
    d : {1, 2}
        Spatial rank, keyword-only.
    size : int or tuple of int, optional
        DFT length, one or one per axis, each ``>= 2N-1`` (the default).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an array is not real, or ``size`` is not ints.
    ValueError
        See the module docstring; also for unequal shapes or a ``size`` too short or of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> round(R.crosscorrelation_energy_fft(np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), d=1, size=8), 12)
    38.0
    """
    k1, k2, d = _pair(k1, k2, d)
    given = size is not None
    size = check_dft_size(size, k1.shape[1:], d)
    check_alloc("size" if given else "k1 and k2", 3 * k1.shape[0] * math.prod(size), "the DFTs", itemsize=16)
    axes = tuple(range(1, d + 1))
    p1 = np.sum(np.abs(np.fft.fftn(k1, s=size, axes=axes)) ** 2, axis=0)
    p2 = np.sum(np.abs(np.fft.fftn(k2, s=size, axes=axes)) ** 2, axis=0)
    return finite("k1 and k2", float(np.sum(p1 * p2) / np.prod(size)))


def conv_similarity_matrix(weight, *, d: int) -> np.ndarray:
    """``G[i, j] = Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]`` for a layer's kernels (CS paper, eq. 9).

    Symmetric; the diagonal holds each kernel's self term, which L_CS leaves out.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` kernels.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(S, S)``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.conv_similarity_matrix(np.array([[[1.0, 2.0]], [[3.0, -1.0]]]), d=1)
    array([[ 33.,  38.],
           [ 38., 118.]])
    """
    w, d = _weight(weight, d)
    s, c = w.shape[:2]
    check_alloc("weight", s * s, "the S×S matrix")
    _check_pair_work("weight", s * s * c * c, w.shape[2:])
    return finite("weight", np.array([[_energy(w[i], w[j], "weight") for j in range(s)] for i in range(s)]))


def conv_similarity(weight, *, d: int) -> float:
    """Convolutional Similarity L_CS of a layer (CS paper, eq. 10; eq. 9 counts each pair twice)::

        L_CS = Σ_{i<j} Σ_{c1=0}^{C-1} Σ_{c2=0}^{C-1} Σ_{n ∈ [1-N, N-1]^d} (K_i[c1] ⋆ K_j[c2])²[n]

    (the paper's "c2 = 0..N-1" is a typo for ``C-1``). A layer with ``S = 1`` has no pairs: 0.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` kernels.
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
    >>> R.conv_similarity(np.array([[[1.0, 2.0]], [[3.0, -1.0]]]), d=1)
    38.0
    """
    g = conv_similarity_matrix(weight, d=d)
    return finite("weight", float(np.sum(np.triu(g, k=1))))


def kernel_autocorrelation_sum(weight, *, d: int) -> np.ndarray:
    """``a_i = Σ_c K_i[c] ⋆ K_i[c]``, the channel-summed autocorrelation of each kernel, lags ``[1-N, N-1]^d``.

    It makes L_CS (CS paper, eq. 10) linear in ``S·C``: by Parseval,
    ``Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n] = <a_i, a_j>``, hence ``L_CS = ½(||Σ_i a_i||² - Σ_i ||a_i||²)``.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` kernels.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(S, *(2N-1,)*d)``.

    Raises
    ------
    TypeError, ValueError
        See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.kernel_autocorrelation_sum(np.array([[[1.0, 2.0], [0.0, 1.0]]]), d=1)
    array([[2., 6., 2.]])
    """
    w, d = _weight(weight, d)
    _check_pair_work("weight", w.shape[0] * w.shape[1], w.shape[2:])
    return finite("weight", np.array([sum(_kk(w[i, c], w[i, c], "weight") for c in range(w.shape[1]))
                                      for i in range(w.shape[0])]))


def conv_similarity_normalized(weight, *, d: int) -> float:
    """Scale-invariant L_CS: :func:`conv_similarity` of the kernels each divided by its norm ``||K_i||``.

    Plain L_CS (CS paper, eq. 10) is homogeneous of degree 4, so it can be lowered by shrinking
    kernels; this variant is homogeneous of degree 0 in each kernel and only falls when the kernels'
    correlation structure does. Each pair term becomes
    ``Σ_{c1,c2,n} (K_i[c1] ⋆ K_j[c2])²[n] / (||K_i||²·||K_j||²)``.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` kernels, none of them zero.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        See the module docstring; ValueError also for a zero kernel.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> w = np.array([[[1.0, 2.0]], [[3.0, -1.0]]])
    >>> round(R.conv_similarity_normalized(w, d=1), 12), round(R.conv_similarity_normalized(10 * w, d=1), 12)
    (0.76, 0.76)
    """
    w, d = _weight(weight, d)
    flat = w.reshape(w.shape[0], -1)
    peak = np.abs(flat).max(axis=1)
    if np.any(peak == 0):
        raise ValueError(f"weight: kernel(s) {np.flatnonzero(peak == 0).tolist()} are zero; "
                         "the normalised L_CS is undefined for them")
    unit = flat / peak[:, None]                      # scale first: tiny kernels must not underflow
    unit = unit / np.sqrt(np.sum(unit ** 2, axis=1))[:, None]
    return conv_similarity(unit.reshape(w.shape), d=d)
