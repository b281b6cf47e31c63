"""Feature-map Gram matrices and kernel spectra: plain NumPy, float64 (CS paper, eq. 1b, 3, 8, 12-14).

A multi-channel feature map is linear in its kernel, ``F = Σ_c K[c] ⋆ X[c]`` (eq. 1b, as ``Conv2d`` computes
it), so for any padding P the inner product of two feature maps is a quadratic form in the kernels::

    <F_1, F_2>_P = vec(K_1)ᵀ G_P vec(K_2),    G_P[a, b] = <F_{e_a}, F_{e_b}>_P

where ``e_a`` is the unit kernel with a single 1 at ``a = (c, m)`` (row-major, the order of
``Conv2d.weight.reshape(S, -1)``). ``G_P`` depends on the input and the padding only. For full padding
it is block-Toeplitz, ``G[(c1, m), (c2, m')] = (X[c1] ⋆ X[c2])[m' - m]``: the identity of eq. 3.

The kernel spectrum is ``K̂(ω) = Σ_m K[m]·e^{-i ω·m}`` on the grid ``ω_a = 2π f_a / (2N_a - 1)``, long
enough that no lag ``n ∈ [1-N, N-1]`` of eq. 3 wraps around, so Parseval gives eq. 8 as
``Σ_n (K1 ⋆ K2)[n]² = (1/L) Σ_ω |K̂1(ω)|²·|K̂2(ω)|²`` with ``L = Π_a (2N_a - 1)``. Only the bins
``f_d = 0..N_d-1`` of the last axis are returned; the others are their complex conjugates.

Each function has a batched torch twin of the same name in :mod:`theory.batched`; the registry holds
them to these references. ``kernel_shape`` is ints; a call over the memory or work cap of
:mod:`theory._validate`, or whose result overflows float64, is a ValueError naming the arguments (the
references reject NaN and inf input, unlike the twins).
"""

from __future__ import annotations

import math

import numpy as np

from theory import reference as R
from theory.padding import output_shape, resolve_padding

from .._validate import check_d, check_kernel_shape, check_work
from ._arrays import as_real, check_alloc, finite

__all__ = ["feature_patches", "feature_gram", "feature_gram_stack", "gram_quadratic_forms", "kernel_spectrum"]


def _kernel_shape(kernel_shape, d: int) -> tuple[int, ...]:
    return check_kernel_shape(kernel_shape, d)


def _check_unit_maps(x: np.ndarray, ks: tuple[int, ...], out_shape, count: int = 1) -> None:
    """The caps of ``count`` passes of the ``D = C·prod(kernel)`` unit kernels' feature maps over ``x``."""
    c, taps = x.shape[0], math.prod(ks)
    dim, size = c * taps, math.prod(out_shape)
    check_alloc("x and kernel_shape", dim * dim * (1 + count) + 2 * dim * size, "the unit kernels' feature maps")
    check_work("x and kernel_shape", "the unit kernels' feature maps", steps=count * dim * c * taps,
               flops=count * dim * (c * taps * size + dim * size))


def _unit_kernels(c: int, ks: tuple[int, ...]) -> np.ndarray:
    """``(D, C, *kernel)``: kernel ``a`` is 1 at the a-th (channel, position), 0 elsewhere."""
    dim = c * int(np.prod(ks))
    return np.eye(dim).reshape(dim, c, *ks)


def feature_patches(x, kernel_shape, *, d: int) -> np.ndarray:
    """The patch matrix ``U`` of the full cross-correlation: ``F_full = U @ vec(K)`` (CS paper, eq. 1b).

    Column ``a = (c, m)`` of ``U`` is the full feature map of the unit kernel ``e_a``, so
    ``U[i, (c, m)] = X[c][i + m - (N - 1)]`` (zero outside the input).

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input, ``C`` channels.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray, shape (M+N-1, D) or (H+h-1, W+w-1, D)
        float64, ``D = C·N`` or ``C·h·w``.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric.
    ValueError
        If ``d`` is not 1 or 2, ``x`` is not ``d + 1`` non-empty axes or holds NaN or inf, or
        ``kernel_shape`` is not ``d`` positive sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.feature_patches(np.array([[1.0, 2.0, 3.0]]), 2, d=1)
    array([[0., 1.],
           [1., 2.],
           [2., 3.],
           [3., 0.]])
    """
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    _check_unit_maps(x, ks, tuple(m + n - 1 for m, n in zip(x.shape[1:], ks)))
    maps = R.feature_maps(x, _unit_kernels(x.shape[0], ks), "full", d=d)        # (D, *full)
    return np.moveaxis(maps, 0, -1)


def feature_gram(x, kernel_shape, padding="full", *, d: int) -> np.ndarray:
    """``G_P`` with ``<F_1, F_2>_P = vec(K_1)ᵀ G_P vec(K_2)`` for every pair of kernels (CS paper, eq. 3, 14).

    ``G_P[a, b] = <F_{e_a}, F_{e_b}>_P``, the feature maps of the unit kernels under padding ``P``.

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray, shape (D, D)
        Symmetric positive semi-definite, float64.

    Raises
    ------
    TypeError, ValueError
        As :func:`feature_patches`; ValueError also when the padding leaves no output.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> g = R.feature_gram(x, 2, "valid", d=1)
    >>> g
    array([[ 5.,  8.],
           [ 8., 13.]])
    >>> k1, k2 = np.array([[1.0, -1.0]]), np.array([[0.5, 2.0]])
    >>> float(k1.ravel() @ g @ k2.ravel()), R.feature_inner_product(x, k1, k2, "valid", d=1)
    (-11.5, -11.5)
    """
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    _check_unit_maps(x, ks, output_shape(x.shape[1:], ks, resolve_padding(padding, ks)))
    return finite("x", _gram(x, ks, padding, d))


def _gram(x: np.ndarray, ks: tuple[int, ...], padding, d: int) -> np.ndarray:
    maps = R.feature_maps(x, _unit_kernels(x.shape[0], ks), padding, d=d)       # (D, *out)
    maps = maps.reshape(maps.shape[0], -1)
    return maps @ maps.T


def feature_gram_stack(x, kernel_shape, paddings, *, d: int) -> np.ndarray:
    """:func:`feature_gram` for each of several paddings, stacked: one ``G_P`` each (CS paper, eq. 3, 14).

    Parameters
    ----------
    x : array_like, shape (C, M) or (C, H, W)
        The input.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    paddings : sequence
        Paddings in any form of :mod:`theory.padding` (a list, so that pairs are not mistaken for it).
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray, shape (len(paddings), D, D)

    Raises
    ------
    TypeError, ValueError
        As :func:`feature_gram`; ValueError also for an empty or non-list ``paddings``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.feature_gram_stack(np.array([[1.0, 2.0, 3.0]]), 2, ["valid", "full"], d=1)[:, 0, 0]
    array([ 5., 14.])
    """
    d = check_d(d)
    x = as_real("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    if not isinstance(paddings, (list, tuple)) or not paddings:
        raise ValueError(f"paddings: expected a non-empty list of paddings, got {paddings!r}")
    full = tuple(m + n - 1 for m, n in zip(x.shape[1:], ks))
    for i, p in enumerate(paddings):
        try:
            output_shape(x.shape[1:], ks, resolve_padding(p, ks))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"paddings[{i}]: {exc}") from None
    _check_unit_maps(x, ks, full, len(paddings))
    return finite("x", np.stack([_gram(x, ks, p, d) for p in paddings]))


def gram_quadratic_forms(weight, grams, *, d: int) -> np.ndarray:
    """``Q[p, a, b] = vec(K_a)ᵀ G_p vec(K_b)``: every ``<F_a, F_b>_P`` of a layer (CS paper, eq. 3, 14).

    With ``grams`` from :func:`feature_gram_stack`, ``Q[p]`` is the matrix of feature-map inner products
    of the ``S`` kernels under padding ``p`` (its diagonal the squared norms ``||F_a||²``).

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The kernels of a layer, as ``Conv1d``/``Conv2d.weight``.
    grams : array_like, shape (P, D, D)
        Gram matrices, ``D = C·N`` or ``C·h·w``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    numpy.ndarray, shape (P, S, S)

    Raises
    ------
    TypeError, ValueError
        For non-real or non-finite arrays, bad shapes, or ``grams`` not ``D × D``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> w = np.array([[[1.0, -1.0]], [[0.5, 2.0]]])
    >>> R.gram_quadratic_forms(w, np.eye(2)[None], d=1)
    array([[[ 2.  , -1.5 ],
            [-1.5 ,  4.25]]])
    """
    d = check_d(d)
    w = as_real("weight", weight, d + 2, "S, C, kernel axes")
    g = as_real("grams", grams, 3, "P, D, D")
    dim = int(np.prod(w.shape[1:]))
    if g.shape[1:] != (dim, dim):
        raise ValueError(f"grams: expected shape (P, {dim}, {dim}) for weight {w.shape}, got {g.shape}")
    f = w.reshape(w.shape[0], dim)
    s, n_p = w.shape[0], g.shape[0]
    check_alloc("weight and grams", n_p * s * (s + dim), "the quadratic forms")
    check_work("weight and grams", "the quadratic forms", steps=n_p, flops=n_p * s * dim * (dim + s))
    return finite("weight and grams", np.stack([f @ gp @ f.T for gp in g]))


def kernel_spectrum(k, *, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``Re`` and ``Im`` of ``K̂(ω) = Σ_m K[m]·e^{-i ω·m}``, ``ω_a = 2π f_a/(2N_a - 1)`` (CS paper, eq. 8).

    The half spectrum ``f_a ∈ [0, 2N_a - 2]`` for the leading axes and ``f_d ∈ [0, N_d - 1]`` for the last
    (``numpy.fft.rfftn`` with ``s = 2N - 1`` per axis). A bin ``f`` with ``f_d > 0`` stands for itself and its
    conjugate ``-f``: sums over the full grid count it twice.

    Parameters
    ----------
    k : array_like, shape (N,) or (h, w)
        A kernel.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Real and imaginary parts, shape ``(N,)`` or ``(2h - 1, w)``.

    Raises
    ------
    TypeError, ValueError
        For a non-real, non-finite or badly shaped kernel, or a bad ``d``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> re, im = R.kernel_spectrum(np.array([1.0, 1.0]), d=1)
    >>> np.round(re, 6).tolist(), np.round(im, 6).tolist()
    ([2.0, 0.5], [0.0, -0.866025])
    """
    d = check_d(d)
    k = as_real("k", k, d, "kernel axes")
    check_alloc("k", 6 * math.prod(2 * n - 1 for n in k.shape), "the spectrum")
    spec = np.fft.rfftn(k, s=[2 * n - 1 for n in k.shape], axes=tuple(range(d)))
    return finite("k", (spec.real.copy(), spec.imag.copy()))
