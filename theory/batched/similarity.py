"""Batched torch twins of :mod:`theory.reference.similarity`: kernel similarity and L_CS (CS paper, eq. 8-10).

A single kernel is ``(..., C, *kernel)``, a layer's weight ``(..., S, C, *kernel)``; batch axes broadcast.
Policies as in the reference (cosines scale invariant for any finite magnitudes, only an exactly zero
kernel is a zero kernel; the memory cap; no inf or NaN result from finite input); float16/bfloat16
input is computed in float32.
"""

from __future__ import annotations

import math

import torch

from .._validate import check_d, check_dft_size, check_same_shape
from .fast_similarity import conv_similarity_normalized, kernel_autocorrelation_sum
from ._tensors import (broadcast_batch, check_alloc, finite_result, full_ranges, harmonise, pairwise_crosscorrelation,
                       pow2_scaled, real_tensor)

__all__ = ["kernel_inner_product", "kernel_cosine", "conv_similarity", "conv_similarity_matrix",
           "crosscorrelation_energy", "crosscorrelation_energy_fft", "kernel_autocorrelation_sum",
           "conv_similarity_normalized"]


def _pair(k1, k2, d):
    d = check_d(d)
    k1 = real_tensor("k1", k1, d + 1, "C, kernel axes")
    k2 = real_tensor("k2", k2, d + 1, "C, kernel axes")
    check_same_shape("k1", k1.shape[-d - 1:], "k2", k2.shape[-d - 1:])
    k1, k2 = harmonise(k1=k1, k2=k2)
    broadcast_batch(("k1", k1, d + 1), ("k2", k2, d + 1))
    return k1, k2, d


def _core_sum(t, rank):
    return t.sum(dim=tuple(range(-rank, 0)))


def kernel_inner_product(k1, k2, *, d: int) -> torch.Tensor:
    """``<K1, K2> = Σ_{c,m} K1[c][m]·K2[c][m]`` on flattened kernels (CS paper, eq. 11's ``<K1, K2>``).

    Result shape: the broadcast batch. Twin of :func:`theory.reference.kernel_inner_product`.

    Parameters
    ----------
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        Kernels of equal core shape; batch axes broadcast.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If a kernel is not a real floating tensor.
    ValueError
        If ``d``, a rank or a value is bad, the core shapes differ, batch shapes do not broadcast or
        devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> k1, k2 = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    >>> B.kernel_inner_product(k1, k2, d=1).item()
    1.0
    """
    k1, k2, d = _pair(k1, k2, d)
    return finite_result("k1 and k2", _core_sum(k1 * k2, d + 1))


def kernel_cosine(k1, k2, *, d: int) -> torch.Tensor:
    """``<K1, K2> / (||K1||·||K2||)`` on flattened kernels (CS paper, Table 1's kernel similarity).

    A zero kernel anywhere in the batch is a ValueError naming ``k1`` or ``k2``.
    Twin of :func:`theory.reference.kernel_cosine`.

    Parameters
    ----------
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        Kernels of equal core shape; batch axes broadcast.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If a kernel is not a real floating tensor.
    ValueError
        As :func:`kernel_inner_product`, and for a zero kernel anywhere in the batch.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> k1, k2 = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    >>> round(B.kernel_cosine(k1, k2, d=1).item(), 6)
    0.141421
    """
    k1, k2, d = _pair(k1, k2, d)
    core = tuple(range(-d - 1, 0))
    k1, k2 = pow2_scaled(k1, core), pow2_scaled(k2, core)         # exact: only exponents change
    n1, n2 = _core_sum(k1 * k1, d + 1).sqrt(), _core_sum(k2 * k2, d + 1).sqrt()
    for name, nrm in (("k1", n1), ("k2", n2)):
        if nrm.device.type != "meta" and bool((nrm == 0).any()):
            raise ValueError(f"{name}: the cosine is undefined for a zero kernel")
    return _core_sum(k1 * k2, d + 1) / (n1 * n2)


def _pair_energy(a, b, d, name):
    """``Σ_n (a[i] ⋆ b[j])²[n]`` per channel pair: ``a (*B, Ca, *N)``, ``b (*B, Cb, *N)`` -> ``(*B, Ca, Cb)``."""
    n = a.shape[-d:]
    kk = pairwise_crosscorrelation(a, b, full_ranges(n, n), d, name, factor=2)
    return _core_sum(kk * kk, d)


def crosscorrelation_energy(k1, k2, *, d: int) -> torch.Tensor:
    """``Σ_{c1,c2} Σ_{n ∈ [1-N, N-1]^d} (K1[c1] ⋆ K2[c2])²[n]``: one pair's term of L_CS (CS paper, eq. 8, 10).

    Twin of :func:`theory.reference.crosscorrelation_energy`.

    Parameters
    ----------
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        Kernels of equal core shape; batch axes broadcast.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If a kernel is not a real floating tensor.
    ValueError
        If ``d``, a rank or a value is bad, the core shapes differ, batch shapes do not broadcast or
        devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> k1, k2 = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    >>> B.crosscorrelation_energy(k1, k2, d=1).item()
    38.0
    """
    k1, k2, d = _pair(k1, k2, d)
    return finite_result("k1 and k2", _pair_energy(k1, k2, d, "k1 and k2").sum(dim=(-2, -1)))


def _power(k, size, d):
    """``Σ_c |K̂[c](ω)|²`` on a DFT grid ``size``; real² + imag² keeps the gradient finite at ``K̂ = 0``."""
    z = torch.fft.fftn(k, s=size, dim=tuple(range(-d, 0)))
    return (z.real * z.real + z.imag * z.imag).sum(dim=-d - 1)


def crosscorrelation_energy_fft(k1, k2, *, d: int, size=None) -> torch.Tensor:
    """:func:`crosscorrelation_energy` by Parseval: ``(1/L) Σ_ω Σ_{c1,c2} |K̂1[c1](ω)|²·|K̂2[c2](ω)|²``.

    Any DFT size ``L ≥ 2N-1`` per axis (default ``2N-1``); CS paper's remark after eq. 7 (Parseval).
    Twin of :func:`theory.reference.crosscorrelation_energy_fft`.

    Parameters
    ----------
    k1, k2 : torch.Tensor, shape (..., C, N) or (..., C, h, w)
        Kernels of equal core shape; batch axes broadcast.
    d : {1, 2}
        Spatial rank, keyword-only.
    size : int or tuple of int, optional
        DFT length, one or one per axis, each ``>= 2N-1`` (the default).

    Returns
    -------
    torch.Tensor
        Shape: the broadcast batch.

    Raises
    ------
    TypeError
        If a kernel is not a real floating tensor, or ``size`` not ints.
    ValueError
        As :func:`crosscorrelation_energy`, and for a ``size`` too short or of the wrong length.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> k1, k2 = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    >>> round(B.crosscorrelation_energy_fft(k1, k2, d=1, size=8).item(), 10)
    38.0
    """
    k1, k2, d = _pair(k1, k2, d)
    given = size is not None
    size = check_dft_size(size, k1.shape[-d:], d)
    batch = math.prod(broadcast_batch(("k1", k1, d + 1), ("k2", k2, d + 1)))
    check_alloc("size" if given else "k1 and k2", 8 * batch * k1.shape[-d - 1] * math.prod(size), k1, "the DFTs")
    return finite_result("k1 and k2", _core_sum(_power(k1, size, d) * _power(k2, size, d), d) / math.prod(size))


def _similarity_matrix(weight, d):
    s, c = weight.shape[-d - 2], weight.shape[-d - 1]
    flat = weight.reshape(*weight.shape[:-d - 2], s * c, *weight.shape[-d:])
    e = _pair_energy(flat, flat, d, "weight")                         # (*B, S·C, S·C)
    return e.reshape(*e.shape[:-2], s, c, s, c).sum(dim=(-3, -1))


def conv_similarity_matrix(weight, *, d: int) -> torch.Tensor:
    """``G[i, j] = Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]`` for a weight ``(..., S, C, *kernel)`` (CS paper, eq. 9).

    Symmetric; the diagonal holds each kernel's self term. Result ``(*batch, S, S)``.
    Twin of :func:`theory.reference.conv_similarity_matrix`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, S, S)``.

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
    >>> w = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=torch.float64)     # S = 2, C = 1, N = 2
    >>> B.conv_similarity_matrix(w, d=1).tolist()
    [[33.0, 38.0], [38.0, 118.0]]
    """
    d = check_d(d)
    w = real_tensor("weight", weight, d + 2, "S, C, kernel axes")
    return finite_result("weight", _similarity_matrix(w, d))


def conv_similarity(weight, *, d: int) -> torch.Tensor:
    """Convolutional Similarity ``L_CS = Σ_{i<j} Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]`` (CS paper, eq. 10).

    ``S = 1`` gives 0. Result shape: the batch. Twin of :func:`theory.reference.conv_similarity`.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights.
    d : {1, 2}
        Spatial rank, keyword-only.

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
    >>> w = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]], dtype=torch.float64)     # S = 2, C = 1, N = 2
    >>> B.conv_similarity(w, d=1).item()
    38.0
    """
    d = check_d(d)
    w = real_tensor("weight", weight, d + 2, "S, C, kernel axes")
    return finite_result("weight", torch.triu(_similarity_matrix(w, d), diagonal=1).sum(dim=(-2, -1)))
