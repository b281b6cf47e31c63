"""Batched torch twins of :mod:`theory.reference.correlations` (CS paper, eq. 1a-1b, 3, 6, 12-14).

Every array argument is ``(*batch, *core)`` with the reference's core shape; batch axes broadcast
against each other and lead the result. Conventions as in the reference::

    (X ⋆ K)[i] = Σ_n K[n]·X[i+n-N+1]            (full padding, eq. 1b)
    (a ⋆ b)[n] = Σ_m a[m]·b[m+n]                (lagged correlation of the identity, eq. 3, 6)

Everything is one grouped ``conv1d``/``conv2d`` call (:func:`theory.batched._tensors.conv`) after an
explicit zero pad, so it is differentiable and runs on the inputs' device and dtype. Errors are the
references', plus TypeError for a non-tensor and ValueError for batch shapes that do not broadcast or
tensors on different devices. float16/bfloat16 input is computed in float32 and the result is float32;
a call over the memory cap (:mod:`theory._validate`) and a result that overflows its dtype are
ValueErrors naming the arguments.
"""

from __future__ import annotations

import torch

from .._validate import check_d, check_memory, check_same_shape, lag_bounds, lag_ranges
from ..padding import output_shape, resolve_padding
from ._tensors import (broadcast_batch, check_device, conv, device_memory, finite_result, harmonise, pad,
                       pairwise_crosscorrelation, real_tensor)

__all__ = [
    "correlate", "convolve", "crosscorrelation", "kernel_crosscorrelation", "autocorrelation",
    "channel_crosscorrelation", "feature_maps", "lags",
]


def _feature_maps(x, weight, padding, d, names):
    """``F_s = Σ_c K_s[c] ⋆ X[c]`` on checked tensors ``x (*B, C, *M)``, ``weight (*B', S, C, *N)``."""
    pads = resolve_padding(padding, weight.shape[-d:])
    output_shape(x.shape[-d:], weight.shape[-d:], pads)
    return finite_result(names, conv(pad(x, pads), weight, d, names))


def correlate(x, k, padding="full", *, d: int) -> torch.Tensor:
    """Cross-correlation ``X ⋆ K`` (CS paper, eq. 1b, 12-13): ``F[i] = Σ_n K[n]·X[i+n-left]``.

    Twin of :func:`theory.reference.correlate`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., M) or (..., H, W)
        Inputs.
    k : torch.Tensor, shape (..., N) or (..., h, w)
        Kernels; batch axes broadcast with those of ``x``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, *out)``, ``out = M - N + 1 + left + right`` per axis.

    Raises
    ------
    TypeError
        If ``x`` or ``k`` is not a real floating tensor, or ``padding`` not a mode, an int or a pair.
    ValueError
        If ``d``, a rank or a value is bad, batch shapes do not broadcast, devices differ, or the
        padding is out of ``[0, N-1]`` or leaves no output.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], dtype=torch.float64)   # a batch of 2
    >>> B.correlate(x, torch.tensor([1.0, -1.0], dtype=torch.float64), d=1).tolist()
    [[-1.0, -1.0, -1.0, 3.0], [0.0, -1.0, 1.0, 0.0]]
    """
    d = check_d(d)
    x = real_tensor("x", x, d, "spatial axes")
    k = real_tensor("k", k, d, "kernel axes")
    x, k = harmonise(x=x, k=k)
    broadcast_batch(("x", x, d), ("k", k, d))
    out = _feature_maps(x.unsqueeze(-d - 1), k.unsqueeze(-d - 1).unsqueeze(-d - 2), padding, d, "x and k")
    return out.squeeze(-d - 1)


def convolve(x, k, padding="full", *, d: int) -> torch.Tensor:
    """Convolution ``X * K`` (CS paper, eq. 1a): ``(X * K)[i] = Σ_n K[n]·X[i-n]``, padded like :func:`correlate`.

    Twin of :func:`theory.reference.convolve`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., M) or (..., H, W)
        Inputs.
    k : torch.Tensor, shape (..., N) or (..., h, w)
        Kernels.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, *out)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`correlate`.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x, k = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, -1.0])
    >>> B.convolve(x, k, d=1).tolist()
    [1.0, 1.0, 1.0, -3.0]
    """
    d = check_d(d)
    k = real_tensor("k", k, d, "kernel axes")
    return correlate(x, torch.flip(k, dims=tuple(range(-d, 0))), padding, d=d)


def lags(size_a: int, size_b: int | None = None, max_lag: int | None = None, *, device=None) -> torch.Tensor:
    """Lags of :func:`crosscorrelation` along one axis, lowest first.

    Twin of :func:`theory.reference.lags`.

    Parameters
    ----------
    size_a : int
        Length of the first signal, ``Na >= 1``.
    size_b : int, optional
        Length of the second signal (default ``size_a``).
    max_lag : int, optional
        ``L >= 0``: the lags ``[-L, L]`` instead of ``[-(Na-1), Nb-1]``.
    device : torch.device or str, optional
        Where the result lives.

    Returns
    -------
    torch.Tensor
        int64.

    Raises
    ------
    ValueError
        If a size is not a positive int or ``max_lag`` not a non-negative int (floats, strings and bools
        are refused), the lags would not fit in the memory cap, or ``device`` is not a device of this
        machine (e.g. ``'cuda'`` where CUDA is not available).
    TypeError
        If ``device`` is not a str, an int or a ``torch.device``.

    Examples
    --------
    >>> from theory import batched as B
    >>> B.lags(3, 2).tolist(), B.lags(3, max_lag=1).tolist()
    ([-2, -1, 0, 1], [-1, 0, 1])
    """
    lo, hi = lag_bounds(size_a, size_b, max_lag)
    dev = check_device(device)
    if dev is None or dev.type != "meta":
        check_memory("max_lag" if max_lag is not None else "size_a and size_b", 8 * (hi - lo + 1), "the lags",
                     available=None if dev is None else device_memory(dev))
    return torch.arange(lo, hi + 1, dtype=torch.int64, device=dev)


def _crosscorrelation(a, b, max_lag, d, names):
    ranges = lag_ranges(a.shape[-d:], b.shape[-d:], max_lag, d)
    name = names if max_lag is None else "max_lag"
    r = pairwise_crosscorrelation(a.unsqueeze(-d - 1), b.unsqueeze(-d - 1), ranges, d, name)   # (*B, 1, 1, *lags)
    return finite_result(names, r.reshape(*r.shape[:-d - 2], *r.shape[-d:]))


def crosscorrelation(a, b, max_lag=None, *, d: int) -> torch.Tensor:
    """Lagged correlation ``(a ⋆ b)[n] = Σ_m a[m]·b[m+n]`` (the ⋆ of CS paper, eq. 3, 6).

    Twin of :func:`theory.reference.crosscorrelation`.

    Parameters
    ----------
    a, b : torch.Tensor, shape (..., Na) / (..., Nb) or 2-D cores
        The signals; batch axes broadcast.
    max_lag : int or tuple of int, optional
        ``L``: lags ``[-L, L]`` per axis (no overlap: 0). Default ``[-(Na-1), Nb-1]``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, *lags)``, lowest lag first.

    Raises
    ------
    TypeError
        If ``a`` or ``b`` is not a real floating tensor.
    ValueError
        If ``d``, a rank, a value or ``max_lag`` is bad, batch shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.crosscorrelation(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0, -1.0]), d=1).tolist()
    [2.0, 1.0, -2.0, -1.0]
    """
    d = check_d(d)
    a = real_tensor("a", a, d, "spatial axes")
    b = real_tensor("b", b, d, "spatial axes")
    a, b = harmonise(a=a, b=b)
    broadcast_batch(("a", a, d), ("b", b, d))
    return _crosscorrelation(a, b, max_lag, d, "a and b")


def kernel_crosscorrelation(k1, k2, *, d: int) -> torch.Tensor:
    """Full cross-correlation ``(K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]``, ``n ∈ [1-N, N-1]`` (CS paper, eq. 3, 6).

    Twin of :func:`theory.reference.kernel_crosscorrelation`.

    Parameters
    ----------
    k1, k2 : torch.Tensor, shape (..., N) or (..., h, w)
        Kernels of equal core shape; batch axes broadcast.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, *(2N-1,)*d)``.

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
    >>> B.kernel_crosscorrelation(torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0]), d=1).tolist()
    [6.0, 1.0, -1.0]
    """
    d = check_d(d)
    k1 = real_tensor("k1", k1, d, "kernel axes")
    k2 = real_tensor("k2", k2, d, "kernel axes")
    check_same_shape("k1", k1.shape[-d:], "k2", k2.shape[-d:])
    k1, k2 = harmonise(k1=k1, k2=k2)
    broadcast_batch(("k1", k1, d), ("k2", k2, d))
    return _crosscorrelation(k1, k2, None, d, "k1 and k2")


def autocorrelation(x, max_lag, *, d: int) -> torch.Tensor:
    """Input autocorrelation ``(X ⋆ X)[n] = Σ_i X[i+n]·X[i]`` on ``[-L, L]`` (CS paper, eq. 3).

    Twin of :func:`theory.reference.autocorrelation`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., M) or (..., H, W)
        Inputs.
    max_lag : int or tuple of int or None
        ``L`` (one per axis allowed); ``None``: every lag.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, *(2L+1,)*d)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`crosscorrelation`, naming ``x`` and ``max_lag``.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.autocorrelation(torch.tensor([1.0, 2.0, 3.0]), 1, d=1).tolist()
    [8.0, 14.0, 8.0]
    """
    d = check_d(d)
    x = real_tensor("x", x, d, "spatial axes")
    return _crosscorrelation(x, x, max_lag, d, "x")


def channel_crosscorrelation(x, max_lag, *, d: int) -> torch.Tensor:
    """Cross-channel correlations ``R[c1, c2][n] = Σ_j X[c1][j]·X[c2][j+n]`` (CS paper, eq. 3, multi-channel).

    Twin of :func:`theory.reference.channel_crosscorrelation`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Multi-channel inputs.
    max_lag : int or tuple of int or None
        ``L``, as in :func:`crosscorrelation`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, C, C, *(2L+1,)*d)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`crosscorrelation`.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> r = B.channel_crosscorrelation(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), 1, d=1)
    >>> tuple(r.shape), r[0, 1].tolist()
    ((2, 2, 3), [0.0, 2.0, 1.0])
    """
    d = check_d(d)
    x = real_tensor("x", x, d + 1, "C, spatial axes")
    ranges = lag_ranges(x.shape[-d:], x.shape[-d:], max_lag, d)
    name = "x" if max_lag is None else "x and max_lag"
    return finite_result("x", pairwise_crosscorrelation(x, x, ranges, d, name))


def feature_maps(x, weight, padding="full", *, d: int) -> torch.Tensor:
    """Multi-channel feature maps as ``Conv2d`` (no bias): ``F_s = Σ_c K_s[c] ⋆ X[c]`` (CS paper, eq. 1b, 9, 12).

    Twin of :func:`theory.reference.feature_maps`.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        Inputs.
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        Layer weights; batch axes broadcast with those of ``x``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, S, *out)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`correlate`; ValueError also when ``weight`` and ``x`` have different ``C``.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 1.0]])
    >>> B.feature_maps(x, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), "valid", d=1).tolist()
    [[1.0, 3.0]]
    """
    d = check_d(d)
    x = real_tensor("x", x, d + 1, "C, spatial axes")
    weight = real_tensor("weight", weight, d + 2, "S, C, kernel axes")
    if weight.shape[-d - 1] != x.shape[-d - 1]:
        raise ValueError(f"weight and x: expected weight.shape[-{d + 1}] == x.shape[-{d + 1}] (input channels C), "
                         f"got weight {tuple(weight.shape)} and x {tuple(x.shape)}")
    x, weight = harmonise(x=x, weight=weight)
    broadcast_batch(("x", x, d + 1), ("weight", weight, d + 2))
    return _feature_maps(x, weight, padding, d, "x and weight")
