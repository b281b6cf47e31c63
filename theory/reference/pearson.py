"""Pearson correlation matrices of feature maps and the MFD loss (MFD paper, eq. 5-7).

Features of one stage are ``(b, C, *spatial)`` with ``d ∈ {0, 1, 2}`` spatial axes (``d = 0``: plain
feature vectors ``(b, C)``). ``I_k`` is channel ``I`` of sample ``k``, a map over the spatial axes, and
``Ī = (1/b) Σ_k I_k`` is the BATCH-mean map, one mean per channel AND spatial position (eq. 6). The
correlation then treats the flattened ``b × spatial`` centred values of a channel as one vector.
Centring once per channel over batch and space together is a different quantity (it keeps the
spatial mean pattern in the centred values); it is not what eq. 6 says.

Degenerate cases (the same in the torch twins, :mod:`theory.batched.pearson`):

* batch ``b < 2``: ValueError naming ``features`` (a single sample centres to zero everywhere);
* non-finite input: ValueError naming ``features``;
* a dead channel, i.e. one constant over the batch at every position (a ReLU map that is zero for
  every sample, or any map the batch does not change): eq. 6 is 0/0. It is detected with a tolerance
  relative to the channel's magnitude,
  ``||I - Ī|| <= 8·eps·max|I|·sqrt(b·P)`` (``P`` = number of spatial positions, ``eps`` of the dtype),
  and its whole row and column of ``F`` are 0, the diagonal entry included. NaN is never returned.
  The MFD paper states the same value: "the correlation between the all-zero-valued feature maps and
  any feature maps is computationally zero".

The batch mean is computed shifted by the first sample, ``Ī = I_1 + (1/b) Σ_k (I_k - I_1)``, so that a
channel constant over the batch centres to exactly zero whatever the order of summation.

Scale: eq. 6 is invariant to rescaling a channel, and computed so. Each channel is first divided by the
power of two nearest its largest magnitude (exact: the result is bit for bit that of the unscaled
channel wherever that neither overflows nor underflows), so channels of any finite magnitude, e.g.
``1e200`` or ``1e-200``, give the correlations of the same channels at unit scale.

Precision: every real dtype is converted to float64 first (a float16 array gives exactly the result of
its float64 copy). A call over the memory or work cap (:mod:`theory._validate`) is a ValueError naming
the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validate import DEAD_RTOL, check_feature_d, check_lam, check_work
from ._arrays import as_real, check_alloc, finite, int_labels, pow2_scaled

__all__ = ["pearson_matrix", "mfd_loss", "mfd_joint_loss", "mean_abs_offdiagonal"]


def _features(features, d: int, name: str = "features") -> np.ndarray:
    x = as_real(name, features, d + 2, "b, C" + ", spatial axes" * (d > 0))
    if x.shape[0] < 2:
        raise ValueError(f"{name}: the Pearson correlation needs a batch of b >= 2 samples, got shape {x.shape}")
    return x


def _centred_channels(x: np.ndarray) -> np.ndarray:
    """``I_k - Ī`` for every channel, sample and position (eq. 6), as ``(C, b, P)``."""
    shift = x[:1]
    centred = (x - shift) - np.mean(x - shift, axis=0, keepdims=True)
    b, c = x.shape[:2]
    return np.moveaxis(centred.reshape(b, c, -1), 1, 0)


def _dead(x: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Boolean ``(C,)``: channel constant over the batch, up to rounding (see the module docstring)."""
    b, c = x.shape[:2]
    mag = np.abs(np.moveaxis(x.reshape(b, c, -1), 1, 0)).max(axis=(1, 2))
    count = centred.shape[1] * centred.shape[2]
    tol = DEAD_RTOL * np.finfo(np.float64).eps * mag * np.sqrt(count)
    return np.sqrt(np.sum(centred ** 2, axis=(1, 2))) <= tol


def pearson_matrix(features, *, d: int) -> np.ndarray:
    """The ``C×C`` Pearson correlation matrix of the channels of ``features`` (MFD paper, eq. 6)::

        F_IJ = Σ_{k=1}^{b} <I_k - Ī, J_k - J̄>
               / ( sqrt(Σ_{k=1}^{b} ||I_k - Ī||²) · sqrt(Σ_{k=1}^{b} ||J_k - J̄||²) ),   I, J ∈ [0, C-1]

    with ``Ī = (1/b) Σ_k I_k`` the batch-mean map (one mean per position) and ``<·,·>`` the sum of
    elementwise products over the ``d`` spatial axes. Symmetric, diagonal 1 (exactly) for live
    channels, entries clipped to ``[-1, 1]`` against rounding; dead channels (constant over the batch)
    get a zero row and column (module docstring).

    Parameters
    ----------
    features : array_like, shape (b, C, *spatial)
        One stage's features, ``b >= 2`` samples.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(C, C)``.

    Raises
    ------
    TypeError
        If ``features`` is not real numeric.
    ValueError
        If ``d`` or the rank is bad, ``b < 2``, a value is NaN or inf, or the call is over the memory or
        work cap.

    Notes
    -----
    Any real dtype is computed in float64 (float16 input gives exactly the result of its float64 copy;
    the torch twin computes float16 and bfloat16 in float32). Each channel is scaled by a power of two
    first, so the result is scale invariant for any finite magnitudes (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> x = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 3.0, 5.0]])   # (b=3, C=3); channel 2 dead
    >>> R.pearson_matrix(x, d=0)
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0. ],
           [0. , 0. , 0. ]])
    """
    d = check_feature_d(d)
    return _pearson(_features(features, d))


def _pearson(x: np.ndarray, name: str = "features") -> np.ndarray:
    """Eq. 6 of checked features ``(b, C, *spatial)``; the caps name ``name``."""
    b, c = x.shape[:2]
    check_alloc(name, 2 * c * c, "the C×C matrix")
    check_work(name, "the C×C Pearson matrix", steps=c * c * b, flops=c * x.size)
    x = pow2_scaled(x, (0, *range(2, x.ndim)))[0]         # each channel by a power of two: exact
    z = _centred_channels(x)
    dead = _dead(x, z)
    norm = [np.sqrt(sum(np.sum(z[i, k] ** 2) for k in range(z.shape[1]))) for i in range(c)]
    f = np.zeros((c, c))
    for i in range(c):
        for j in range(c):
            if dead[i] or dead[j]:
                continue
            if i == j:
                f[i, j] = 1.0
                continue
            inner = sum(np.sum(z[i, k] * z[j, k]) for k in range(z.shape[1]))
            f[i, j] = np.clip(inner / (norm[i] * norm[j]), -1.0, 1.0)
    return f


def _offdiagonal(f: np.ndarray) -> np.ndarray:
    c = f.shape[0]
    return np.array([f[i, j] for i in range(c) for j in range(c) if i != j])


def _check_channels(features, d: int, name: str = "features") -> None:
    c = np.shape(features)[1]
    if c < 2:
        raise ValueError(f"{name}: the off-diagonal of a {c}x{c} matrix is empty; expected C >= 2 channels, "
                         f"got shape {np.shape(features)}")


def mfd_loss(features, *, d: int) -> float:
    """Multi-stage feature decorrelation loss of one stage (MFD paper, eq. 5)::

        L_MFD = Σ_{i=0}^{C-1} Σ_{j≠i} F_ij² / (C·(C-1))

    with ``F = pearson_matrix(features, d=d)`` (eq. 6; the paper's ``d`` there is our channel count ``C``).

    Parameters
    ----------
    features : array_like, shape (b, C, *spatial)
        One stage's features, ``b >= 2``, ``C >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    float
        In ``[0, 1]``.

    Raises
    ------
    TypeError, ValueError
        As :func:`pearson_matrix`; ValueError also for ``C < 2`` (no pairs).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.mfd_loss(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]]), d=0)
    0.25
    """
    d = check_feature_d(d)
    x = _features(features, d)
    _check_channels(x, d)
    return _mfd(x)


def _mfd(x: np.ndarray, name: str = "features") -> float:
    f = _pearson(x, name)
    c = f.shape[0]
    return float(np.sum(_offdiagonal(f) ** 2) / (c * (c - 1)))


def mean_abs_offdiagonal(features, *, d: int) -> float:
    """``(1/(C(C-1))) Σ_{i≠j} |F_ij|``, the "average value of correlation coefficients" (MFD paper, Tables I, III).

    The paper takes absolute values "to avoid mutual cancellation" (section III-C); dead channels
    contribute their zero entries, as in the paper.

    Parameters
    ----------
    features : array_like, shape (b, C, *spatial)
        One stage's features, ``b >= 2``, ``C >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    float
        In ``[0, 1]``.

    Raises
    ------
    TypeError, ValueError
        As :func:`mfd_loss`.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.mean_abs_offdiagonal(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]]), d=0)
    0.5
    """
    d = check_feature_d(d)
    x = _features(features, d)
    _check_channels(x, d)
    return float(np.mean(np.abs(_offdiagonal(_pearson(x)))))


def _cross_entropy(logits, labels) -> float:
    """Mean softmax cross-entropy ``-(1/b) Σ_i ln(e^{z_{y_i}} / Σ_j e^{z_j})`` (MFD paper, eq. 7, first term)."""
    z = as_real("logits", logits, 2, "b, K")
    y = int_labels(labels, z.shape[0], z.shape[1])
    m = z.max(axis=1)
    lse = m + np.log(np.sum(np.exp(z - m[:, None]), axis=1))
    return float(np.mean([lse[i] - z[i, y[i]] for i in range(z.shape[0])]))


def mfd_joint_loss(logits, labels, stages: Sequence, lam: float = 1.0, *, d: int) -> float:
    """Softmax loss plus ``λ`` times the MFD loss of every constrained stage (MFD paper, eq. 7)::

        L = -(1/b) Σ_{i=1}^{b} ln( e^{z_{y_i}} / Σ_{j=1}^{K} e^{z_j} )  +  λ Σ_{s=1}^{S} L_MFD(stage s)

    Parameters
    ----------
    logits : array_like, shape (b, K)
        Class scores.
    labels : array_like of int, shape (b,)
        Classes in ``[0, K)``.
    stages : list or tuple of array_like
        Feature arrays ``(b, C_s, *spatial_s)`` with ``d`` spatial axes, the batch ``b`` of ``logits``
        and ``C_s >= 2`` each (:func:`mfd_loss`); empty: the cross-entropy alone.
    lam : float, default 1.0
        ``λ``, finite.
    d : {0, 1, 2}
        Number of spatial axes of every stage, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an array is not real, ``labels`` not integer, ``stages`` not a list or tuple, ``lam`` not real.
    ValueError
        If ``d``, a rank, a value, a label, a stage's batch size or channel count, or ``lam`` is bad.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> logits, labels = np.zeros((3, 2)), np.array([0, 1, 1])
    >>> stage = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]])
    >>> R.mfd_joint_loss(logits, labels, [], d=0), R.mfd_joint_loss(logits, labels, [stage], 2.0, d=0)
    (0.693147, 1.193147)
    """
    d = check_feature_d(d)
    lam = check_lam(lam)
    z = as_real("logits", logits, 2, "b, K")
    int_labels(labels, z.shape[0], z.shape[1])
    if isinstance(stages, np.ndarray) or not isinstance(stages, Sequence):
        raise TypeError(f"stages: expected a list or tuple of feature arrays, got {type(stages).__name__}")
    total = 0.0
    for s, stage in enumerate(stages):
        x = _features(stage, d, name=f"stages[{s}]")
        if x.shape[0] != z.shape[0]:
            raise ValueError(f"stages[{s}]: expected the batch size b = {z.shape[0]} of logits, got shape {x.shape}")
        _check_channels(x, d, name=f"stages[{s}]")
        total += _mfd(x, f"stages[{s}]")
    return finite("logits and lam", _cross_entropy(z, labels) + lam * total)
