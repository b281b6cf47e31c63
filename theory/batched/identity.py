"""Batched torch twins of :mod:`theory.reference.identity`: ``<F1, F2>`` directly and through the identity.

``x`` is ``(..., C, *spatial)``, ``k1``/``k2`` are ``(..., C, *kernel)`` (equal core shapes); batch axes
broadcast. CS paper, eq. 3, 11, 14, 17-19::

    <F1, F2>_W = Σ_{c1,c2} <K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N, N-1]}>  -  A  -  B

A call over the memory cap (:mod:`theory._validate`) and a result that overflows its dtype are ValueErrors
naming the arguments; float16/bfloat16 input is computed in float32.
"""

from __future__ import annotations

import torch

from .._validate import check_d, check_same_shape
from ..padding import full_window, resolve_padding
from ._tensors import (broadcast_batch, broadcast_shapes, conv, expand_batch, finite_result, full_ranges, harmonise,
                       pad, pairwise_crosscorrelation, real_tensor)

NAMES = "x and k1 and k2"

__all__ = ["feature_inner_product", "identity_inner_product", "edge_terms", "lag_decomposition",
           "correlation_terms"]


def _check_triplet(x, k1, k2, d):
    d = check_d(d)
    x = real_tensor("x", x, d + 1, "C, spatial axes")
    k1 = real_tensor("k1", k1, d + 1, "C, kernel axes")
    k2 = real_tensor("k2", k2, d + 1, "C, kernel axes")
    check_same_shape("k1", k1.shape[-d - 1:], "k2", k2.shape[-d - 1:])
    if k1.shape[-d - 1] != x.shape[-d - 1]:
        raise ValueError(f"k1 and x: expected the same number of channels C, got k1 {tuple(k1.shape)} "
                         f"and x {tuple(x.shape)}")
    x, k1, k2 = harmonise(x=x, k1=k1, k2=k2)
    broadcast_batch(("x", x, d + 1), ("k1", k1, d + 1), ("k2", k2, d + 1))
    return x, k1, k2, d


def _both_maps(x, k1, k2, pads, d):
    """``(F1, F2)`` for the padding ``pads``, from one conv with the two kernels stacked as ``S = 2``."""
    kb = broadcast_shapes(k1.shape[:-d - 1], k2.shape[:-d - 1])
    w = torch.stack([expand_batch(k1, kb, d + 1), expand_batch(k2, kb, d + 1)], dim=-d - 2)
    f = conv(pad(x, pads), w, d, NAMES)
    return f.select(-d - 1, 0), f.select(-d - 1, 1)


def _spatial_sum(t, d):
    return t.sum(dim=tuple(range(-d, 0)))


def feature_inner_product(x, k1, k2, padding="full", *, d: int) -> torch.Tensor:
    """``<F1, F2> = Σ_i F1[i]·F2[i]`` over the padded output (CS paper, eq. 14), from the feature maps themselves.

    Result shape: the broadcast batch. Twin of :func:`theory.reference.feature_inner_product`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        The two kernels (equal core shapes); batch axes broadcast with those of ``x``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor (or ``padding`` not a padding form).
    ValueError
        If ``d``, a rank, a value, the channel count, the kernel shapes or the padding is bad, batch
        shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    >>> k1, k2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> B.feature_inner_product(torch.stack([x, 2 * x]), k1, k2, "valid", d=1).tolist()
    [-8.0, -32.0]
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    pads = resolve_padding(padding, k1.shape[-d:])
    full_window(x.shape[-d:], k1.shape[-d:], pads)           # raises when the padding leaves no output
    f1, f2 = _both_maps(x, k1, k2, pads, d)
    return finite_result(NAMES, _spatial_sum(f1 * f2, d))


def _terms(x, k1, k2, d):
    """``(KK, R)``: ``KK[c1, c2] = K1[c1] ⋆ K2[c2]`` and ``R[c1, c2] = (X[c1] ⋆ X[c2])_{[1-N, N-1]}``."""
    n = k1.shape[-d:]
    kk = pairwise_crosscorrelation(k1, k2, full_ranges(n, n), d, "x and k1", factor=2)
    r = pairwise_crosscorrelation(x, x, [range(1 - s, s) for s in n], d, "x and k1", factor=2)
    return kk, r


def correlation_terms(x, k1, k2, *, d: int) -> torch.Tensor:
    """The ``C×C`` matrix of ``<K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N,N-1]}>`` (CS paper, eq. 3, multi-channel).

    Result ``(*batch, C, C)``. Twin of :func:`theory.reference.correlation_terms`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        The two kernels (equal core shapes); batch axes broadcast with those of ``x``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, C, C)``.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor (or ``padding`` not a padding form).
    ValueError
        If ``d``, a rank, a value, the channel count, the kernel shapes or the padding is bad, batch
        shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    >>> k1, k2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> B.correlation_terms(x, k1, k2, d=1).tolist()
    [[0.0]]
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    kk, r = _terms(x, k1, k2, d)
    return finite_result(NAMES, _spatial_sum(kk * r, d))


def _edge_masks(full_shape, window, device):
    """Boolean masks ``(below, above)`` of the dropped full-result positions (reference's A/B rule)."""
    d = len(full_shape)
    below = torch.zeros(full_shape, dtype=torch.bool, device=device)
    decided = torch.zeros(full_shape, dtype=torch.bool, device=device)
    for axis, w in enumerate(window):
        idx = torch.arange(full_shape[axis], device=device).reshape([-1 if a == axis else 1 for a in range(d)])
        out = (idx < w.start) | (idx >= w.stop)
        first = out & ~decided
        below = below | (first & (idx < w.start))
        decided = decided | first
    return below, decided & ~below


def _edges(x, k1, k2, padding, d):
    pads = resolve_padding(padding, k1.shape[-d:])
    window = full_window(x.shape[-d:], k1.shape[-d:], pads)
    f1, f2 = _both_maps(x, k1, k2, tuple((s - 1, s - 1) for s in k1.shape[-d:]), d)
    prod = f1 * f2
    below, above = _edge_masks(prod.shape[-d:], window, prod.device)
    zero = prod.new_zeros(())
    return _spatial_sum(torch.where(below, prod, zero), d), _spatial_sum(torch.where(above, prod, zero), d)


def edge_terms(x, k1, k2, padding="full", *, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)`` of CS paper, eq. 17-18: the full-result positions' share of ``<F1, F2>`` that ``padding`` drops.

    ``A`` sums ``F1·F2`` below the kept window, ``B`` above it (2-D: decided on the first axis that leaves
    the window). Each of shape batch. Twin of :func:`theory.reference.edge_terms`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        The two kernels (equal core shapes); batch axes broadcast with those of ``x``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    tuple of torch.Tensor
        ``(A, B)``, each of the broadcast batch shape.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor (or ``padding`` not a padding form).
    ValueError
        If ``d``, a rank, a value, the channel count, the kernel shapes or the padding is bad, batch
        shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    >>> k1, k2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> [t.item() for t in B.edge_terms(x, k1, k2, "valid", d=1)]
    [-1.0, 9.0]
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    return finite_result(NAMES, _edges(x, k1, k2, padding, d))


def identity_inner_product(x, k1, k2, padding="full", *, d: int) -> torch.Tensor:
    """``<F1, F2>`` through the identity, ``Σ_{c1,c2} <K1[c1] ⋆ K2[c2], (X[c1] ⋆ X[c2])_{[1-N,N-1]}> - A - B``.

    CS paper, eq. 19 (eq. 3 for full padding). Twin of :func:`theory.reference.identity_inner_product`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        The two kernels (equal core shapes); batch axes broadcast with those of ``x``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor (or ``padding`` not a padding form).
    ValueError
        If ``d``, a rank, a value, the channel count, the kernel shapes or the padding is bad, batch
        shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    >>> k1, k2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> B.identity_inner_product(x, k1, k2, "valid", d=1).item()
    -8.0
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    a, b = _edges(x, k1, k2, padding, d)
    kk, r = _terms(x, k1, k2, d)
    return finite_result(NAMES, (kk * r).sum(dim=tuple(range(-d - 2, 0))) - a - b)


def lag_decomposition(x, k1, k2, *, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(zero, rest)``: the full-padding ``<F1, F2>`` split into zero-lag and other lags (CS paper, eq. 11).

    ``zero = Σ_{c1,c2} (X[c1] ⋆ X[c2])[0]·<K1[c1], K2[c2]>``, ``rest = <F1, F2> - zero``.
    Twin of :func:`theory.reference.lag_decomposition`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        The two kernels (equal core shapes); batch axes broadcast with those of ``x``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    tuple of torch.Tensor
        ``(zero, rest)``, each of the broadcast batch shape.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor (or ``padding`` not a padding form).
    ValueError
        If ``d``, a rank, a value, the channel count, the kernel shapes or the padding is bad, batch
        shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    >>> k1, k2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> [t.item() for t in B.lag_decomposition(x, k1, k2, d=1)]    # <K1, K2> = 0 and <F1, F2> = 0
    [0.0, 0.0]
    >>> [t.item() for t in B.lag_decomposition(x, torch.eye(2)[:1].double(), torch.eye(2)[1:].double(), d=1)]
    [0.0, 8.0]
    """
    x, k1, k2, d = _check_triplet(x, k1, k2, d)
    kk, r = _terms(x, k1, k2, d)
    prod = kk * r
    total = prod.sum(dim=tuple(range(-d - 2, 0)))
    zero = prod[(..., slice(None), slice(None), *(s - 1 for s in k1.shape[-d:]))].sum(dim=(-2, -1))
    return finite_result(NAMES, (zero, total - zero))
