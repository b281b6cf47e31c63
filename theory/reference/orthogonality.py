"""Kernel-orthogonality baselines that the CS paper argues against, and DeCov on activations.

The CS paper (Sec. 2, 3.1 and eq. 11) claims that kernel orthogonality does
not imply feature-map orthogonality. This module gives the test-bed the objectives it argues against,
each as its paper writes it, in plain float64 NumPy loops:

* :func:`kernel_cosine_matrix`: cosines of flattened kernels (CS paper, Table 1 kernel similarity; the
  objective that Table 1 minimises, ``<K1, K2>²``, is :func:`theory.reference.kernel_inner_product`
  squared and is not duplicated here);
* :func:`soft_orthogonality`: ``||W Wᵀ - I||²_F`` (Bansal et al., NeurIPS 2018);
* :func:`ocnn_orthogonality`: ``||Conv(K, K, padding=P, stride=s) - I_r0||²_F`` (Wang et al., CVPR 2020);
* :func:`orthoreg`: ``Σ_{i≠j} log(1 + exp(λ(C_ij - 1)))`` (Rodríguez et al., ICLR 2017);
* :func:`decov`: ``½(||C||²_F - ||diag C||²)`` of the batch covariance of activations (Cogswell et al.,
  ICLR 2016).

A layer's weight is ``(S, C, *kernel)`` as in ``Conv1d``/``Conv2d`` (``S`` filters of ``C`` input
channels, ``d`` kernel axes); "flattened" means the ``(S, F)`` matrix ``W`` with ``F = C·prod(kernel)``
(the fan-in), one filter per row. A ``Linear`` weight ``(S, F)`` is the case ``(S, F, 1)`` with ``d = 1``.

The formulas below are the published ones; their equation numbers are not quoted because the
texts of these four papers could not be checked here. Where a public
implementation was read, its repository and file are named with the differences found.

Every function also raises a ValueError naming the argument for a call over the memory or work cap
(:mod:`theory._validate`) and for a result that overflows float64. Cosines are scale invariant and
computed so (each kernel first divided by the power of two nearest its largest magnitude, exactly): only
an exactly zero kernel is a zero kernel.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._validate import (check_d, check_feature_d, check_flag, check_positive_lam, check_stride, check_work,
                         ocnn_padding)
from ._arrays import as_real, check_alloc, finite, pow2_scaled

__all__ = ["kernel_cosine_matrix", "soft_orthogonality", "ocnn_orthogonality", "orthoreg", "orthoreg_pair_weight",
           "decov"]


def _weight(weight, d):
    d = check_d(d)
    return as_real("weight", weight, d + 2, "S, C, kernel axes"), d


def _flat(w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1)


def _unit_rows(w: np.ndarray, name: str = "weight") -> tuple[np.ndarray, np.ndarray]:
    """``(f, norms)``: the flattened kernels each divided by a power of two near its largest magnitude
    (exact), and their norms; a zero kernel (its cosine is undefined) is a ValueError.

    Only an exactly zero kernel is a zero kernel, here and in the twin, as in
    :func:`theory.reference.kernel_cosine`: after the scaling every non-zero kernel's norm is in
    ``[0.5, sqrt(F))``, however small or large its entries.
    """
    f, zero = pow2_scaled(_flat(w), 1)
    if zero.any():
        raise ValueError(f"{name}: the cosine is undefined for a zero kernel; kernel {int(np.argmax(zero))} "
                         "is all zero")
    return f, np.array([np.sqrt(np.sum(k * k)) for k in f])


def _check_pairs(w: np.ndarray, per_pair: int = 1) -> None:
    s, f = w.shape[0], math.prod(w.shape[1:])
    check_alloc("weight", 2 * s * s, "the S×S matrix")
    check_work("weight", "the S×S kernel pairs", steps=s * s * per_pair, flops=s * s * per_pair * f)


def kernel_cosine_matrix(weight, *, d: int) -> np.ndarray:
    """``S×S`` matrix of cosines between flattened kernels (CS paper, Table 1's kernel similarity)::

        C_ij = <K_i, K_j> / (||K_i||·||K_j||),   <K_i, K_j> = Σ_{c,m} K_i[c][m]·K_j[c][m]

    for a weight ``(S, C, *kernel)``; ``C_ij`` is :func:`theory.reference.kernel_cosine` of kernels
    ``i`` and ``j``. Symmetric, diagonal 1 up to rounding. A zero kernel is a ValueError naming ``weight``.
    The CS paper, Table 1 objective for a pair is ``kernel_inner_product(K_i, K_j)²``.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` filters, none of them zero.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(S, S)``.

    Raises
    ------
    TypeError
        If ``weight`` is not real numeric.
    ValueError
        If ``d``, the rank or a value is bad, or a kernel is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.kernel_cosine_matrix(np.array([[[1.0, 0.0]], [[1.0, 1.0]]]), d=1).round(6)
    array([[1.      , 0.707107],
           [0.707107, 1.      ]])
    """
    w, d = _weight(weight, d)
    _check_pairs(w)
    f, norms = _unit_rows(w)
    s = w.shape[0]
    return np.array([[np.sum(f[i] * f[j]) / (norms[i] * norms[j]) for j in range(s)] for i in range(s)])


def soft_orthogonality(weight, *, d: int) -> float:
    """Soft orthogonality of the flattened filters (Bansal et al., "Can We Gain More from
    Orthogonality Regularizations in Training Deep CNNs?", NeurIPS 2018, their "SO" regulariser)::

        SO(W) = ||W Wᵀ - I_S||²_F = Σ_{i,j} (<K_i, K_j> - δ_ij)²,   W = weight.reshape(S, F)

    Bansal et al. write ``λ||WᵀW - I||²_F`` with the kernel reshaped so that the filters are the
    COLUMNS of their ``W`` (as we read the paper; its text could not be checked here), i.e. the same
    ``S × S`` Gram matrix as here, without the factor ``λ``. Zero iff the filters are orthonormal, which
    needs ``S <= F``; for ``S > F`` the minimum is ``S - F``.

    Variant: much public code (e.g. the ``orth_dist`` of the OCNN repository, see
    :func:`ocnn_orthogonality`, and ``l2_reg_ortho`` of VITA-Group/Orthogonality-in-CNNs
    ``Wide-Resnet/train_n.py``) uses the smaller Gram matrix, i.e. ``WᵀW`` (``F × F``) when ``S > F``.
    Since ``W Wᵀ`` and ``WᵀW`` share their nonzero eigenvalues, ``||WᵀW - I_F||²_F =
    ||W Wᵀ - I_S||²_F + F - S``: the variants differ by a constant only, and have the same gradient.
    (The OCNN code returns the norm, not its square; VITA-Group's is SRIP, a spectral norm estimate.)

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` filters.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``weight`` is not real numeric.
    ValueError
        If ``d``, the rank or a value is bad.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.soft_orthogonality(np.eye(2).reshape(2, 1, 2), d=1), R.soft_orthogonality(np.ones((2, 1, 2)), d=1)
    (0.0, 10.0)
    """
    w, d = _weight(weight, d)
    _check_pairs(w)
    f = _flat(w)
    s = f.shape[0]
    return finite("weight", float(sum((np.sum(f[i] * f[j]) - (i == j)) ** 2 for i in range(s) for j in range(s))))


def _lagged_inner(a: np.ndarray, b: np.ndarray, lag) -> np.float64:
    """``Σ_c Σ_m a[c][m]·b[c][m+n]`` over the overlap (zero outside the kernels), one lag ``n``. A NumPy
    float, not a Python one: squaring a Python float past float64's range raises a bare OverflowError,
    NumPy's gives inf, which the caller's :func:`finite` turns into a named error."""
    sa, sb = [], []
    for n, size in zip(lag, a.shape[1:]):
        lo, hi = max(0, -n), min(size, size - n)         # m and m+n both in [0, size)
        if lo >= hi:
            return np.float64(0.0)
        sa.append(slice(lo, hi))
        sb.append(slice(lo + n, hi + n))
    return np.sum(a[(slice(None), *sa)] * b[(slice(None), *sb)], dtype=np.float64)


def _ocnn_sum_sq(w: np.ndarray, lags) -> np.float64:
    """``Σ_(lag, centre) Σ_{i,j} (Z[i, j][lag] - δ_ij·[centre])²`` over ``lags``, pairs ``(lag, centre)``; inf
    (not an exception) when it overflows float64, for the caller's :func:`finite`."""
    s = w.shape[0]
    total = np.float64(0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for lag, centre in lags:
            for i in range(s):
                for j in range(s):
                    total += (_lagged_inner(w[i], w[j], lag) - (1.0 if (centre and i == j) else 0.0)) ** 2
    return total


def ocnn_orthogonality(weight, stride=1, *, d: int) -> float:
    """Kernel orthogonality loss of Orthogonal CNNs (Wang, Chen, Chakraborty, Yu, CVPR 2020)::

        L_orth = ||Conv(K, K, padding=P, stride=s) - I_r0||²_F,   P = ⌊(k-1)/s⌋·s

    (the paper writes the stride as ``S``; here ``S`` is the number of filters and ``s`` the stride).
    The kernel tensor ``K`` is correlated with itself, each filter's stack of ``C`` input channels
    serving both as input and as filter, at the strided lags only::

        Z[i, j][n] = Σ_c (K_i[c] ⋆ K_j[c])[n] = Σ_c Σ_m K_i[c][m]·K_j[c][m+n],
        n ∈ {-P, -P+s, ..., P}  (per axis: 2⌊(k-1)/s⌋ + 1 lags, lag 0 in the middle)

        L_orth = Σ_{i,j} Σ_n (Z[i, j][n] - δ_ij·δ_n)²

    ``I_r0`` is 1 where ``i = j`` at lag 0 and 0 elsewhere. ``Z`` is ``(S, S, 2P/s+1, ...)``;
    ``stride`` is one int for every axis or one per axis, and each axis has its own ``k`` and ``P``
    (non-square kernels). Only same-channel correlations enter (``c1 = c2``), unlike L_CS (CS paper, eq. 10),
    which sums all channel pairs ``(c1, c2)`` at every lag; OCNN's target is ``δ_ij·δ_n`` where L_CS has
    0 and no self terms. With ``s >= k`` on every axis (``P = 0``) only lag 0 is left and ``L_orth`` is
    :func:`soft_orthogonality`. ``torch.nn.functional.conv2d(K, K, padding=P, stride=s)`` computes
    ``Z[j, i]`` flipped in lag (``(K_j ⋆ K_i)[n] = (K_i ⋆ K_j)[-n]``): the same set of values, the same
    loss.

    The public implementation read for comparison, ``deconv_orth_dist`` in
    samaonline/Orthogonal-Convolutional-Neural-Networks ``imagenet/utils.py`` (called from
    ``imagenet/main_orth18.py``), differs:

    * it returns ``torch.norm(output - target)``, the Frobenius norm, not its square;
    * the padding is an argument with default 1 instead of ``⌊(k-1)/S⌋·S``, and ``main_orth18.py``
      calls it with that default for 3×3 kernels: at stride 1 it keeps lags -1..1 only (the paper's
      ``P = 2`` keeps -2..2); at stride 2 the output has the two lags {-1, +1} and the target's
      "centre" index ``⌊2/2⌋ = 1`` puts the identity at lag +1, so lag 0 is never compared with I;
    * the centre index comes from the last output axis for both axes (square kernels assumed);
    * 1×1 convolutions use ``orth_dist`` instead: ``||WᵀW - I||_F`` on the smaller Gram matrix, again
      not squared (see :func:`soft_orthogonality`).

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` filters.
    stride : int or tuple of int, default 1
        ``s >= 1``, one for every axis or one per axis.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``weight`` is not real numeric, or ``stride`` not ints.
    ValueError
        If ``d``, the rank or a value is bad, or ``stride`` has the wrong length or an entry < 1.

    Examples
    --------
    Haar filters: orthogonal at stride 2, not at stride 1.

    >>> import numpy as np
    >>> from theory import reference as R
    >>> w = np.array([[[1.0, 1.0]], [[1.0, -1.0]]]) / np.sqrt(2.0)
    >>> round(R.ocnn_orthogonality(w, 2, d=1), 12), round(R.ocnn_orthogonality(w, 1, d=1), 12)
    (0.0, 2.0)
    """
    w, d = _weight(weight, d)
    stride = check_stride(stride, d)
    pads = ocnn_padding(w.shape[2:], stride)
    lag_axes = [range(-p, p + 1, s) for p, s in zip(pads, stride)]
    _check_pairs(w, math.prod(len(r) for r in lag_axes))
    total = _ocnn_sum_sq(w, ((lag, all(n == 0 for n in lag)) for lag in itertools.product(*lag_axes)))
    return finite("weight", float(total))


def _softplus(x: float) -> float:
    """``log(1 + e^x)`` without overflow."""
    return float(np.logaddexp(0.0, x))


def orthoreg(weight, lam: float = 10.0, *, d: int, both_signs: bool = False) -> float:
    """OrthoReg, locally constrained decorrelation of filters (Rodríguez, Gonzàlez, Cucurull, Gonfaus,
    Roca, "Regularizing CNNs with Locally Constrained Decorrelations", ICLR 2017)::

        C(θ) = Σ_{i=1}^{S} Σ_{j≠i} log(1 + e^{λ(C_ij - 1)}),   C_ij = cos(θ_i, θ_j)

    with ``C`` the :func:`kernel_cosine_matrix` and ``λ = 10`` the paper's default. Every ordered
    pair is counted, so each unordered pair twice; ``S = 1`` gives 0. Each term increases with
    ``C_ij``: positively correlated filters are pushed apart strongly (``λ`` sets how locally),
    negatively correlated ones hardly at all (``log(1 + e^{-2λ})`` at ``C_ij = -1``); this one-sided,
    "local" form is the paper's point. ``both_signs=True`` adds the mirror term
    ``log(1 + e^{λ(-C_ij - 1)})`` so that ``C_ij`` near -1 is penalised like ``C_ij`` near +1: the
    symmetric decorrelation that the paper argues against (``|C_ij|`` matters, not its sign); this
    mirror form is our construction, not checked against the paper's text.
    A zero kernel is a ValueError naming ``weight``; ``lam`` must be finite and > 0.

    The public implementation read for comparison, prlz77/orthoreg (``orthoreg_pytorch.py`` and
    ``forward-hook.lua``), never computes this value: it updates the weights directly after each
    optimiser step, ``θ_i -= β·lr·Σ_{j≠i} g(C_ij)·θ̂_j`` with ``θ̂`` the normalised filters (norm
    ``+ ε``), i.e. the gradient with respect to the normalised filters without the projection of
    the normalisation and without the factor 2 of the symmetric sum. In ``forward-hook.lua``
    ``g(C) = λe^{λC}/(e^{λC} + e^{10})``, which is ``dlog(1 + e^{λ(C-1)})/dC`` only for ``λ = 10``
    (``e^{10}`` is hard-coded where ``e^λ`` belongs); in ``orthoreg_pytorch.py`` (both stored
    versions) ``g(C) = λC/(C + e^λ)``: the exponential is missing, so that update is not this loss's
    gradient for any ``λ``.

    Parameters
    ----------
    weight : array_like, shape (S, C, N) or (S, C, h, w)
        The layer's ``S`` filters, none of them zero.
    lam : float, default 10.0
        ``λ``, finite and > 0.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.
    both_signs : bool, default False
        Add the mirror term for ``C_ij`` near -1.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``weight`` is not real numeric, or ``lam`` not a real number.
    ValueError
        If ``d``, the rank or a value is bad, a kernel is zero, or ``lam`` is not finite and > 0.

    Examples
    --------
    Two identical filters: ``2·log 2``.

    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.orthoreg(np.ones((2, 1, 3)), d=1)
    1.386294
    """
    w, d = _weight(weight, d)
    lam = check_positive_lam(lam)
    both_signs = check_flag("both_signs", both_signs)
    c = kernel_cosine_matrix(w, d=d)
    s = c.shape[0]
    total = 0.0
    for i in range(s):
        for j in range(s):
            if i == j:
                continue
            total += _softplus(lam * (c[i, j] - 1.0))
            if both_signs:
                total += _softplus(lam * (-c[i, j] - 1.0))
    return finite("weight and lam", float(total))


def decov(h, *, d: int) -> float:
    """DeCov loss of a batch of activations (Cogswell, Ahmed, Girshick, Zitnick, Batra, "Reducing
    Overfitting in Deep Networks by Decorrelating Representations", ICLR 2016)::

        C_ij = (1/b) Σ_{n=1}^{b} (h_i^n - μ_i)(h_j^n - μ_j),   μ_i = (1/b) Σ_n h_i^n
        L_DeCov = ½ (||C||²_F - ||diag(C)||²_2) = ½ Σ_{i≠j} C_ij²

    ``h`` is ``(b, C, *spatial)`` with ``d ∈ {0, 1, 2}`` spatial axes (``d = 0``: the paper's case,
    ``(b, D)`` activations of a fully connected layer). For ``d > 0`` each sample is flattened, so every
    (channel, position) is one unit ``h_i`` and ``D = C·prod(spatial)``: the covariance is ``D × D``
    and is estimated over the ``b`` samples only (positions are units, not samples). Treating
    positions as extra samples of ``C`` channel units is a different quantity, as in the Pearson
    matrices (see :mod:`theory.reference.pearson`). The covariance is the biased one (``1/b``).
    A batch of ``b < 2`` (every centred value is zero) is a ValueError naming ``h``. The mean is taken
    after shifting by the first sample, ``μ = h^1 + (1/b) Σ_n (h^n - h^1)``, so that a unit constant over
    the batch (a dead ReLU) has exactly zero covariances, as in :mod:`theory.reference.pearson`.

    Matches chainer's ``chainer.functions.decov`` (chainer/chainer ``chainer/functions/loss/decov.py``,
    read for comparison: ``1/b`` covariance, diagonal zeroed, half squared sum), which takes 2-D
    ``(b, D)`` input only.

    Parameters
    ----------
    h : array_like, shape (b, C, *spatial)
        Activations of ``b >= 2`` samples.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``h`` is not real numeric.
    ValueError
        If ``d``, the rank or a value is bad, or ``b < 2``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import reference as R
    >>> R.decov(np.array([[0.0, 0.0], [2.0, 2.0]]), d=0)    # C = [[1, 1], [1, 1]]
    1.0
    """
    d = check_feature_d(d)
    x = as_real("h", h, d + 2, "b, C" + ", spatial axes" * (d > 0))
    b = x.shape[0]
    if b < 2:
        raise ValueError(f"h: the batch covariance needs b >= 2 samples, got shape {x.shape}")
    units = x.reshape(b, -1)
    n = units.shape[1]
    check_work("h", f"the {n}×{n} covariance of the flattened units", steps=n * n, flops=n * n * b)
    shifted = units - units[:1]                          # a unit constant over the batch centres to exactly 0
    centred = shifted - np.mean(shifted, axis=0, keepdims=True)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total += (np.sum(centred[:, i] * centred[:, j]) / b) ** 2
    return finite("h", float(0.5 * total))


def orthoreg_pair_weight(cosines, lam: float = 10.0) -> np.ndarray:
    """OrthoReg's pair weight ``g(C) = dlog(1 + e^{λ(C-1)})/dC = λe^{λC}/(e^{λC} + e^λ)`` (Rodríguez et al.
    2017): the factor each pair's normalised filter enters the update with (see :func:`orthoreg`).

    Computed as ``λ·σ(λ(C - 1))`` (the logistic function), which cannot overflow.

    Parameters
    ----------
    cosines : array_like
        Kernel cosines ``C_ij`` (any shape), finite.
    lam : float, default 10.0
        ``λ``, finite and > 0.

    Returns
    -------
    numpy.ndarray
        Same shape, in ``(0, λ)``, increasing in ``C``: ``λ/2`` at ``C = 1``.

    Raises
    ------
    TypeError
        If ``cosines`` is not real numeric or ``lam`` not a real number.
    ValueError
        If a value is not finite, or ``lam <= 0``.

    Examples
    --------
    >>> from theory import reference as R
    >>> [round(float(g), 4) for g in R.orthoreg_pair_weight([1.0, 0.0, -1.0])]
    [5.0, 0.0005, 0.0]
    """
    lam = check_positive_lam(lam)
    c = as_real("cosines", cosines)
    from scipy.special import expit

    return lam * expit(lam * (c - 1.0))
