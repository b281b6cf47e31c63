"""Batched torch twins of :mod:`theory.reference.orthogonality`: kernel-orthogonality baselines and DeCov.

A layer's weight is ``(..., S, C, *kernel)`` and activations are ``(..., b, C, *spatial)``; leading axes
are batch axes of independent problems and the results keep them. Semantics, conventions and error
messages are those of the references (see their docstrings for the papers' equations and the
differences from public implementations). Differentiable; device and dtype follow the input.

Cost: one batched GEMM ``(S, F) × (F, S)`` for the cosine matrix, soft orthogonality and OrthoReg;
for OCNN one batched valid correlation of the zero-padded kernels with the kernels (the conv helper of
:mod:`theory.batched._tensors`) then every ``s``-th lag; for DeCov one batched GEMM ``(D, b) × (b, D)``.

Policies as in the references: cosines scale invariant for any finite magnitudes (each kernel first
divided by a power of two near its largest magnitude, exactly; only an exactly zero kernel is a zero
kernel), the memory cap (:mod:`theory._validate`), no inf or NaN result from finite input (a ValueError
naming the argument); float16/bfloat16 input is computed in float32.
"""

from __future__ import annotations

import torch

import math

from .._validate import check_d, check_feature_d, check_flag, check_positive_lam, check_stride, ocnn_padding
from ._tensors import check_alloc, conv, finite_result, pad, pow2_scaled, real_tensor

__all__ = ["kernel_cosine_matrix", "soft_orthogonality", "ocnn_orthogonality", "orthoreg", "orthoreg_pair_weight",
           "decov"]


def _weight(weight, d):
    d = check_d(d)
    return real_tensor("weight", weight, d + 2, "S, C, kernel axes"), d


def _flat(w: torch.Tensor, d: int) -> torch.Tensor:
    """``(..., S, C, *kernel)`` -> ``(..., S, F)``."""
    return w.flatten(start_dim=w.dim() - d - 1)


def _eye_like(t: torch.Tensor, n: int) -> torch.Tensor:
    return torch.eye(n, dtype=t.dtype, device=t.device)


def _check_pairs(w: torch.Tensor, d: int) -> None:
    rows = math.prod(w.shape[:-d - 1])                              # (..., S)
    check_alloc("weight", 3 * rows * w.shape[-d - 2] + 2 * w.numel(), w, "the S×S matrices")


def _cosines(w: torch.Tensor, d: int) -> torch.Tensor:
    _check_pairs(w, d)
    f = _flat(w, d)
    f = pow2_scaled(f, -1)                                        # exact: only exponents change
    norms = f.norm(dim=-1)
    if w.device.type != "meta" and bool((norms == 0).any()):
        raise ValueError("weight: the cosine is undefined for a zero kernel; a kernel is all zero")
    u = f / norms.unsqueeze(-1)
    return u @ u.transpose(-1, -2)


def kernel_cosine_matrix(weight, *, d: int) -> torch.Tensor:
    """``C_ij = <K_i, K_j> / (||K_i||·||K_j||)`` on flattened kernels: ``(..., S, S)`` (CS paper, Table 1).

    A zero kernel anywhere in the batch is a ValueError naming ``weight``.
    Twin of :func:`theory.reference.kernel_cosine_matrix`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights, no zero kernel.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, S, S)``.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad, or a kernel is zero.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.kernel_cosine_matrix(torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]]), d=1).round(decimals=6).tolist()
    [[1.0, 0.707107], [0.707107, 1.0]]
    """
    w, d = _weight(weight, d)
    return _cosines(w, d)


def soft_orthogonality(weight, *, d: int) -> torch.Tensor:
    """``||W Wᵀ - I_S||²_F`` with ``W`` the ``(S, F)`` flattened filters (Bansal et al. 2018, SO).

    Result shape: the batch. Twin of :func:`theory.reference.soft_orthogonality`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.soft_orthogonality(torch.stack([torch.eye(2), torch.ones(2, 2)]).reshape(2, 2, 1, 2), d=1).tolist()
    [0.0, 10.0]
    """
    w, d = _weight(weight, d)
    _check_pairs(w, d)
    f = _flat(w, d)
    g = f @ f.transpose(-1, -2) - _eye_like(f, f.shape[-2])
    return finite_result("weight", (g * g).sum(dim=(-2, -1)))


def ocnn_orthogonality(weight, stride=1, *, d: int) -> torch.Tensor:
    """``||Conv(K, K, padding=P, stride=s) - I_r0||²_F``, ``P = ⌊(k-1)/s⌋·s`` (Wang et al., CVPR 2020).

    ``Z[i, j][n] = Σ_c Σ_m K_i[c][m]·K_j[c][m+n]`` at the lags ``n ∈ {-P, -P+s, ..., P}`` per axis,
    target 1 at ``i = j``, lag 0. Result shape: the batch.
    Twin of :func:`theory.reference.ocnn_orthogonality`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    stride : int or tuple of int, default 1
        ``s >= 1``, one for every axis or one per axis.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor, or ``stride`` not ints.
    ValueError
        If ``d``, the rank or a value is bad, or ``stride`` has the wrong length or an entry < 1.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> w = torch.tensor([[[1.0, 1.0]], [[1.0, -1.0]]], dtype=torch.float64) / 2 ** 0.5
    >>> round(B.ocnn_orthogonality(w, 2, d=1).item(), 12), round(B.ocnn_orthogonality(w, 1, d=1).item(), 12)
    (0.0, 2.0)
    """
    w, d = _weight(weight, d)
    stride = check_stride(stride, d)
    pads = ocnn_padding(w.shape[-d:], stride)
    s = w.shape[-d - 2]
    # Input: every filter K_j (C channels) zero-padded by P, as a batch axis of S inputs; weight: the S
    # filters K_i. conv gives out[..., j, i][t] = Σ_{c,m} K_i[c][m]·K_j[c][m+t-P], lag n = t - P.
    x = pad(w, [(p, p) for p in pads])                               # (..., S_j, C, *(k + 2P))
    out = conv(x, w.unsqueeze(-d - 3), d, "weight")                  # (..., S_j, S_i, *(2P + 1))
    out = out[(Ellipsis, *(slice(None, None, st) for st in stride))].transpose(-d - 2, -d - 1)
    target = torch.zeros(out.shape[-d - 2:], dtype=out.dtype, device=out.device)
    centre = tuple(p // st for p, st in zip(pads, stride))
    target[(slice(None), slice(None), *centre)] = _eye_like(out, s)
    r = out - target
    return finite_result("weight", (r * r).sum(dim=tuple(range(-d - 2, 0))))


def orthoreg(weight, lam: float = 10.0, *, d: int, both_signs: bool = False) -> torch.Tensor:
    """OrthoReg ``Σ_{i≠j} log(1 + e^{λ(C_ij - 1)})`` on the kernel cosine matrix (Rodríguez et al. 2017).

    ``both_signs=True`` adds ``log(1 + e^{λ(-C_ij - 1)})``. Result shape: the batch.
    Twin of :func:`theory.reference.orthoreg`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights, no zero kernel.
    lam : float, default 10.0
        ``λ``, finite and > 0.
    d : {1, 2}
        Spatial rank of the kernels, keyword-only.
    both_signs : bool, default False
        Add the mirror term for ``C_ij`` near -1.

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor, or ``lam`` not a real number.
    ValueError
        If ``d``, the rank or a value is bad, a kernel is zero, or ``lam`` is not finite and > 0.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.orthoreg(torch.ones(2, 1, 3, dtype=torch.float64), d=1).item()     # 2·log 2
    1.386294
    """
    w, d = _weight(weight, d)
    lam = check_positive_lam(lam)
    both_signs = check_flag("both_signs", both_signs)
    c = _cosines(w, d)
    zero = c.new_zeros(())
    terms = torch.logaddexp(lam * (c - 1.0), zero)                   # log(1 + e^x), no overflow
    if both_signs:
        terms = terms + torch.logaddexp(lam * (-c - 1.0), zero)
    off = ~torch.eye(c.shape[-1], dtype=torch.bool, device=c.device)
    return finite_result("weight and lam", torch.where(off, terms, zero).sum(dim=(-2, -1)))


def decov(h, *, d: int) -> torch.Tensor:
    """DeCov ``½(||C||²_F - ||diag C||²)``, ``C`` the ``1/b`` batch covariance of the flattened units.

    ``h`` is ``(..., b, C, *spatial)`` with ``d ∈ {0, 1, 2}`` spatial axes; each sample is flattened
    to ``D = C·prod(spatial)`` units. ``b < 2`` is a ValueError naming ``h``. Result shape: the batch.
    Twin of :func:`theory.reference.decov`.

    Parameters
    ----------
    h : torch.Tensor, shape (..., b, C, *spatial)
        Activations of ``b >= 2`` samples.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the batch.

    Raises
    ------
    TypeError
        If ``h`` is not a real floating tensor.
    ValueError
        If ``d``, the rank or a value is bad, or ``b < 2``.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.decov(torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64), d=0).item()
    1.0
    """
    d = check_feature_d(d)
    x = real_tensor("h", h, d + 2, "b, C" + ", spatial axes" * (d > 0))
    b = x.shape[-d - 2]
    if b < 2:
        raise ValueError(f"h: the batch covariance needs b >= 2 samples, got shape {tuple(x.shape)}")
    units = x.flatten(start_dim=x.dim() - d - 1)                     # (..., b, D)
    dim = units.shape[-1]
    check_alloc("h", 3 * math.prod(units.shape[:-2]) * dim * dim, x, f"the {dim}×{dim} covariance")
    shifted = units - units[..., :1, :]                              # constant units centre to exactly 0
    centred = shifted - shifted.mean(dim=-2, keepdim=True)
    cov = centred.transpose(-1, -2) @ centred / b                    # (..., D, D)
    off = cov * (1.0 - _eye_like(cov, cov.shape[-1]))               # ||C||² - ||diag C||², no cancellation
    return finite_result("h", 0.5 * (off * off).sum(dim=(-2, -1)))


def orthoreg_pair_weight(cosines, lam: float = 10.0) -> torch.Tensor:
    """OrthoReg's pair weight ``λ·σ(λ(C - 1)) = λe^{λC}/(e^{λC} + e^λ)``; twin of
    :func:`theory.reference.orthoreg_pair_weight`.

    Parameters
    ----------
    cosines : torch.Tensor
        Kernel cosines (any shape), finite.
    lam : float, default 10.0
        ``λ``, finite and > 0.

    Returns
    -------
    torch.Tensor
        Same shape.

    Raises
    ------
    TypeError
        If ``cosines`` is not a real floating tensor or ``lam`` not a real number.
    ValueError
        If a value is not finite, or ``lam <= 0``.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> [round(g, 4) for g in B.orthoreg_pair_weight(torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)).tolist()]
    [5.0, 0.0005, 0.0]
    """
    lam = check_positive_lam(lam)
    c = real_tensor("cosines", cosines, 0, "(any shape)")
    return lam * torch.sigmoid(lam * (c - 1.0))
