"""The public implementations' variants of three operations, as plain NumPy references (facts read from the
papers' public code; our own code). Each differs from the faithful operation of the same module in a way a
user cannot see from its output alone; :mod:`theory.audit` recognises them.

* :func:`conv_similarity_adjacent` — the CS paper's CUDA library (``ConvSim2D``): the squared full
  cross-correlation summed only over **adjacent** output kernels ``(i, i+1)`` and only for the **same** input
  channel ``c1 = c2``::

      L_adj = Σ_{i=0}^{S-2} Σ_{c=0}^{C-1} Σ_n (K_i[c] ⋆ K_{i+1}[c])²[n]

  It equals eq. 10 for ``S = 2, C = 1``; it is not invariant to permuting the output kernels and ignores
  the cross-channel terms that enter ``<F_i, F_j>``.
* :func:`mfd_loss_clamped` — the MFD code: eq. 5-6 with the Pearson denominator clamped,
  ``max(‖I - Ī‖·‖J - J̄‖, eps)`` (``eps = 1e-8``; a second copy uses 1e-12), which breaks the scale
  invariance of eq. 6 for small activations.
* :func:`sc_loss_over_n_minus_1` — the POD code (2021): the self-correlation loss of eq. 14-15 divided by
  ``n - 1``.
* :func:`ocnn_orthogonality_public` — the OCNN code (``deconv_orth_dist``): the Frobenius norm, not its
  square, and the padding fixed at 1 whatever the kernel and stride: for a 3×3 kernel at stride 1 only lags
  -1..1 are penalised, and at stride 2 the identity target lands on lag (+1, +1) (its index comes from the
  last axis's output length, ``⌊L/2⌋``, for every axis).
* :func:`orthoreg_pair_weight_port` — OrthoReg's PyTorch port: the pair weight ``λC/(C + e^λ)`` instead of
  ``λe^{λC}/(e^{λC} + e^λ)``: linear in ``C`` (and negative for ``C < 0``), a non-local decorrelation.

Examples
--------
>>> import numpy as np
>>> from theory import reference as R
>>> from theory.reference import variants as V
>>> w = np.array([[[1.0, 2.0]], [[3.0, -1.0]]])          # S = 2, C = 1: one pair, one channel
>>> V.conv_similarity_adjacent(w, d=1) == R.conv_similarity(w, d=1)
True
"""

from __future__ import annotations

import numpy as np

import itertools
import math

from .correlations import kernel_crosscorrelation
from ._arrays import finite
from .orthogonality import _ocnn_sum_sq, _weight
from .pearson import _centred_channels, _check_channels, _dead, _features, _offdiagonal
from .pedcc import sc_loss
from .similarity import conv_similarity_matrix  # noqa: F401  (the faithful pair terms, for comparison)
from .._validate import check_feature_d, check_stride

__all__ = ["conv_similarity_adjacent", "mfd_loss_clamped", "sc_loss_over_n_minus_1", "ocnn_orthogonality_public",
           "orthoreg_pair_weight_port", "MFD_EPS"]

MFD_EPS = 1e-8      #: the MFD code's clamp


def conv_similarity_adjacent(weight, *, d: int) -> float:
    """``Σ_i Σ_c Σ_n (K_i[c] ⋆ K_{i+1}[c])²[n]``: the CS CUDA library's L_CS (module docstring).

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's kernels.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float
        0 for ``S = 1``.

    Raises
    ------
    ValueError
        If ``weight`` does not have ``2 + d`` axes.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> w = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]])        # S = 3: pair (0, 2) is left out
    >>> conv_similarity_adjacent(w, d=1), R.conv_similarity(w, d=1)   # pairs (0,1): 1, (1,2): 2, (0,2): 2
    (3.0, 5.0)
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2 + d:
        raise ValueError(f"weight: expected {2 + d} axes (S, C, *kernel) for d={d}, got shape {w.shape}")
    s, c = w.shape[:2]
    return float(sum(np.sum(kernel_crosscorrelation(w[i, ch], w[i + 1, ch], d=d) ** 2)
                     for i in range(s - 1) for ch in range(c)))


def mfd_loss_clamped(features, *, d: int, eps: float = MFD_EPS) -> float:
    """MFD eq. 5 with eq. 6's denominator clamped at ``eps`` (module docstring); dead channels as in
    :func:`theory.reference.mfd_loss` (zero rows, counted in ``C(C-1)``).

    Parameters
    ----------
    features : array_like, shape (b, C, *spatial)
        One stage's features, ``b >= 2``, ``C >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.
    eps : float
        The clamp of ``‖I - Ī‖·‖J - J̄‖``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]])
    >>> mfd_loss_clamped(x, d=0) == R.mfd_loss(x, d=0)                 # O(1) activations: no clamp
    True
    >>> round(mfd_loss_clamped(1e-5 * x, d=0), 6)                      # the clamp acts: not scale invariant
    0.0
    """
    d = check_feature_d(d)
    x = _features(features, d)
    _check_channels(x, d)
    z = _centred_channels(x)
    dead = _dead(x, z)
    c = x.shape[1]
    norm = [np.sqrt(sum(np.sum(z[i, k] ** 2) for k in range(z.shape[1]))) for i in range(c)]
    f = np.zeros((c, c))
    for i in range(c):
        for j in range(c):
            if i == j or dead[i] or dead[j]:
                continue
            inner = sum(np.sum(z[i, k] * z[j, k]) for k in range(z.shape[1]))
            f[i, j] = inner / max(norm[i] * norm[j], eps)
    return float(np.sum(_offdiagonal(f) ** 2) / (c * (c - 1)))


def sc_loss_over_n_minus_1(features, labels, centroids) -> float:
    """POD eq. 14-15 divided by ``n - 1`` (``n``: the feature dimension), as the 2021 code computes it.

    Parameters
    ----------
    features : array_like, shape (B, n)
        Latent features.
    labels : array_like of int, shape (B,)
        Classes.
    centroids : array_like, shape (k, n)
        PEDCC centroids.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> c = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> f, y = np.array([[1.0, 1.0], [-1.0, 0.0]]), np.array([0, 1])
    >>> sc_loss_over_n_minus_1(f, y, c) == R.sc_loss(f, y, c) / 1
    True
    """
    n = np.shape(features)[-1]
    return sc_loss(features, labels, centroids) / (n - 1)


def ocnn_public_lags(stride) -> tuple[list, int]:
    """``(lags per axis, target index)`` of the OCNN code's ``conv2d(K, K, padding=1, stride=s)``: per axis
    the output length ``⌊2/s⌋ + 1`` with lags ``t·s - 1``, and the identity at index ``⌊L/2⌋`` of the last
    axis's length on every axis."""
    lengths = [2 // st + 1 for st in stride]
    return [[t * st - 1 for t in range(n)] for st, n in zip(stride, lengths)], lengths[-1] // 2


def ocnn_orthogonality_public(weight, stride=1, *, d: int) -> float:
    """``||conv(K, K, padding=1, stride=s) - I||_F`` as the OCNN code computes it (module docstring).

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's filters.
    stride : int or tuple of int, default 1
        ``s >= 1``, one for every axis or one per axis.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> w = np.array([[[1.0, 1.0]], [[1.0, -1.0]]]) / np.sqrt(2.0)        # Haar: orthogonal at stride 2
    >>> round(R.ocnn_orthogonality(w, 2, d=1), 12), round(ocnn_orthogonality_public(w, 2, d=1), 6)
    (0.0, 2.0)
    """
    w, d = _weight(weight, d)
    stride = check_stride(stride, d)
    lags, centre = ocnn_public_lags(stride)
    total = _ocnn_sum_sq(w, ((tuple(lags[a][t] for a, t in enumerate(idx)), all(t == centre for t in idx))
                             for idx in itertools.product(*(range(len(a)) for a in lags))))
    return finite("weight", float(np.sqrt(total)))


def orthoreg_pair_weight_port(cosines, lam: float = 10.0) -> np.ndarray:
    """``λC/(C + e^λ)``, the pair weight of OrthoReg's PyTorch port (module docstring).

    Parameters
    ----------
    cosines : array_like
        Kernel cosines.
    lam : float, default 10.0
        ``λ``.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> [round(float(g), 6) for g in orthoreg_pair_weight_port([1.0, 0.0, -1.0])]
    [0.000454, 0.0, -0.000454]
    """
    c = np.asarray(cosines, dtype=np.float64)
    return lam * c / (c + math.exp(lam))
