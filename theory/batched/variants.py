"""Torch twins of :mod:`theory.reference.variants` (the public implementations' variants), batched over
leading axes like the other twins and differentiable.

Examples
--------
>>> import torch
>>> from theory import batched as B
>>> from theory.batched import variants as V
>>> w = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=torch.float64)
>>> float(V.conv_similarity_adjacent(w, d=1)) == float(B.conv_similarity(w, d=1))
True
"""

from __future__ import annotations

import math

import torch

from ._tensors import conv, pad
from .correlations import kernel_crosscorrelation
from .orthogonality import _eye_like, _weight
from .pearson import _CentredGram, _check_channels, _features, _live_channels
from .pedcc import sc_loss
from .._validate import check_feature_d, check_stride

__all__ = ["conv_similarity_adjacent", "mfd_loss_clamped", "sc_loss_over_n_minus_1", "ocnn_orthogonality_public",
           "orthoreg_pair_weight_port", "MFD_EPS"]

MFD_EPS = 1e-8


def conv_similarity_adjacent(weight, *, d: int) -> torch.Tensor:
    """Twin of :func:`theory.reference.variants.conv_similarity_adjacent`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights, leading batch axes allowed.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``weight`` is not a real floating tensor.
    ValueError
        If ``weight`` has fewer than ``2 + d`` axes.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]], dtype=torch.float64)
    >>> float(conv_similarity_adjacent(w, d=1))          # pairs (0, 1) and (1, 2): 1 + 2
    3.0
    """
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight: expected a real floating tensor, got {type(weight).__name__}")
    if weight.ndim < 2 + d:
        raise ValueError(f"weight: expected at least {2 + d} axes (..., S, C, *kernel) for d={d}, "
                         f"got shape {tuple(weight.shape)}")
    s_axis = weight.ndim - d - 2
    s = weight.shape[s_axis]
    if s < 2:                                                  # no pair: 0, as eq. 10
        return weight.sum(dim=tuple(range(s_axis, weight.ndim))) * 0.0
    a, b = weight.narrow(s_axis, 0, s - 1), weight.narrow(s_axis, 1, s - 1)   # kernels i and i+1
    r = kernel_crosscorrelation(a, b, d=d)                     # (..., S-1, C, *lags)
    return r.square().flatten(start_dim=r.ndim - d - 2).sum(-1)


def mfd_loss_clamped(features, *, d: int, eps: float = MFD_EPS) -> torch.Tensor:
    """Twin of :func:`theory.reference.variants.mfd_loss_clamped`.

    Parameters
    ----------
    features : torch.Tensor, shape (..., b, C, *spatial)
        Stage features, leading batch axes allowed.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.
    eps : float
        The clamp of ``‖I - Ī‖·‖J - J̄‖``.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]], dtype=torch.float64)
    >>> float(mfd_loss_clamped(x, d=0))
    0.25
    """
    d = check_feature_d(d)
    x = _features(features, d)
    _check_channels(x, d)
    b, c = x.shape[-(d + 2)], x.shape[-(d + 1)]
    x = x.flatten(start_dim=x.ndim - d) if d > 0 else x.unsqueeze(-1)     # (..., b, C, P)
    p = x.shape[-1]
    lead = x.shape[:-3]
    g, m = _CentredGram.apply(x.reshape(-1, b, c, p))
    g = g.reshape(*lead, c, c)
    n2 = g.diagonal(dim1=-2, dim2=-1)
    with torch.no_grad():
        live = _live_channels(x, n2, (x[..., 0, :, :] + m.reshape(*lead, c, p)).square().sum(dim=-1))
    norm = n2.clamp_min(0).sqrt() * live
    f = g / (norm.unsqueeze(-1) * norm.unsqueeze(-2)).clamp_min(eps)
    keep = (live.unsqueeze(-1) & live.unsqueeze(-2)) & ~torch.eye(c, dtype=torch.bool, device=x.device)
    f = torch.where(keep, f, torch.zeros_like(f))
    return f.square().sum(dim=(-2, -1)) / (c * (c - 1))


def sc_loss_over_n_minus_1(features, labels, centroids) -> torch.Tensor:
    """Twin of :func:`theory.reference.variants.sc_loss_over_n_minus_1`.

    Parameters
    ----------
    features : torch.Tensor, shape (..., B, n)
        Latent features.
    labels : torch.Tensor of int, shape (..., B)
        Classes.
    centroids : torch.Tensor, shape (k, n)
        PEDCC centroids.

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> c = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> f = torch.tensor([[1.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> round(float(sc_loss_over_n_minus_1(f, torch.tensor([0, 1]), c)), 6)
    0.085786
    """
    return sc_loss(features, labels, centroids) / (features.shape[-1] - 1)


def ocnn_orthogonality_public(weight, stride=1, *, d: int) -> torch.Tensor:
    """Twin of :func:`theory.reference.variants.ocnn_orthogonality_public`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights, leading batch axes allowed.
    stride : int or tuple of int, default 1
        ``s >= 1``, one for every axis or one per axis.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([[[1.0, 1.0]], [[1.0, -1.0]]], dtype=torch.float64) / 2 ** 0.5
    >>> round(float(ocnn_orthogonality_public(w, 2, d=1)), 6)
    2.0
    """
    w, d = _weight(weight, d)
    stride = check_stride(stride, d)
    s = w.shape[-d - 2]
    # lags -1..1 wherever the kernel reaches them (zero beyond it), as conv(K, K, padding=1) has
    x = pad(w, [(1, 1)] * d)
    z = conv(x, w.unsqueeze(-d - 3), d)                                # (..., S_j, S_i, 3, ...): lags -1, 0, 1
    z = z[(Ellipsis, *(slice(None, None, st) for st in stride))].transpose(-d - 2, -d - 1)
    lengths = [2 // st + 1 for st in stride]
    centre = lengths[-1] // 2
    target = torch.zeros(z.shape[-d - 2:], dtype=z.dtype, device=z.device)
    if all(centre < n for n in lengths):
        target[(slice(None), slice(None), *([centre] * d))] = _eye_like(z, s)
    r = z - target
    return (r * r).sum(dim=tuple(range(-d - 2, 0))).sqrt()


def orthoreg_pair_weight_port(cosines, lam: float = 10.0) -> torch.Tensor:
    """Twin of :func:`theory.reference.variants.orthoreg_pair_weight_port`.

    Parameters
    ----------
    cosines : torch.Tensor
        Kernel cosines.
    lam : float, default 10.0
        ``λ``.

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> [round(g, 6) for g in orthoreg_pair_weight_port(torch.tensor([1.0, -1.0], dtype=torch.float64)).tolist()]
    [0.000454, -0.000454]
    """
    return lam * cosines / (cosines + math.exp(lam))
