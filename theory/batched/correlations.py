"""Batched torch twins of :mod:`theory.reference.correlate` (CS paper eq. 1a-1b, 3, 6, 12-14).

Every array argument is ``(*batch, *core)`` with the reference's core shape; batch axes broadcast
against each other and lead the result. Conventions as in the reference::

    (X ⋆ K)[i] = Σ_n K[n]·X[i+n-N+1]            (full padding, eq. 1b)
    (a ⋆ b)[n] = Σ_m a[m]·b[m+n]                (lagged correlation of the identity, eq. 3, 6)

Everything is one grouped ``conv1d``/``conv2d`` call (:func:`theory.batched._tensors.conv`) after an
explicit zero pad, so it is differentiable and runs on the inputs' device and dtype.
"""

from __future__ import annotations

import torch

from .._validate import check_d, check_same_shape
from ..padding import output_shape, resolve_padding
from ..reference.correlate import _lag_ranges
from ..reference.correlate import lags as _np_lags
from ._tensors import broadcast_batch, conv, harmonise, pad, pairwise_crosscorrelation, real_tensor

__all__ = [
    "correlate", "convolve", "crosscorrelation", "kernel_crosscorrelation", "autocorrelation",
    "channel_crosscorrelation", "feature_maps", "lags",
]


def _feature_maps(x, weight, padding, d):
    """``F_s = Σ_c K_s[c] ⋆ X[c]`` on checked tensors ``x (*B, C, *M)``, ``weight (*B', S, C, *N)``."""
    pads = resolve_padding(padding, weight.shape[-d:])
    output_shape(x.shape[-d:], weight.shape[-d:], pads)
    return conv(pad(x, pads), weight, d)


def correlate(x, k, padding="full", *, d: int) -> torch.Tensor:
    """Cross-correlation ``X ⋆ K`` (CS eq. 1b, 12-13): ``F[i] = Σ_n K[n]·X[i+n-left]``.

    ``x`` is ``(..., *M)``, ``k`` is ``(..., *N)`` with ``d`` core axes each; result ``(*batch, *out)``.
    Twin of :func:`theory.reference.correlate.correlate`.
    """
    d = check_d(d)
    x = real_tensor("x", x, d, "spatial axes")
    k = real_tensor("k", k, d, "kernel axes")
    x, k = harmonise(x=x, k=k)
    broadcast_batch(("x", x, d), ("k", k, d))
    out = _feature_maps(x.unsqueeze(-d - 1), k.unsqueeze(-d - 1).unsqueeze(-d - 2), padding, d)
    return out.squeeze(-d - 1)


def convolve(x, k, padding="full", *, d: int) -> torch.Tensor:
    """Convolution ``X * K`` (CS eq. 1a): ``(X * K)[i] = Σ_n K[n]·X[i-n]``, padded like :func:`correlate`.

    Twin of :func:`theory.reference.correlate.convolve`.
    """
    d = check_d(d)
    k = real_tensor("k", k, d, "kernel axes")
    return correlate(x, torch.flip(k, dims=tuple(range(-d, 0))), padding, d=d)


def lags(size_a: int, size_b: int | None = None, max_lag: int | None = None, *, device=None) -> torch.Tensor:
    """Lags of :func:`crosscorrelation` along one axis: ``[-(size_a-1), size_b-1]`` or ``[-L, L]``.

    Twin of :func:`theory.reference.correlate.lags` (an int64 tensor on ``device``).
    """
    return torch.as_tensor(_np_lags(size_a, size_b, max_lag), dtype=torch.int64, device=device)


def _crosscorrelation(a, b, max_lag, d):
    ranges = _lag_ranges(a.shape[-d:], b.shape[-d:], max_lag, d)
    r = pairwise_crosscorrelation(a.unsqueeze(-d - 1), b.unsqueeze(-d - 1), ranges, d)   # (*B, 1, 1, *lags)
    return r.reshape(*r.shape[:-d - 2], *r.shape[-d:])


def crosscorrelation(a, b, max_lag=None, *, d: int) -> torch.Tensor:
    """Lagged correlation ``(a ⋆ b)[n] = Σ_m a[m]·b[m+n]`` (the ⋆ of CS eq. 3, 6).

    Lags ``[-(Na-1), Nb-1]`` per axis, or ``[-L, L]`` for ``max_lag=L`` (lowest first; no overlap: 0).
    Twin of :func:`theory.reference.correlate.crosscorrelation`.
    """
    d = check_d(d)
    a = real_tensor("a", a, d, "spatial axes")
    b = real_tensor("b", b, d, "spatial axes")
    a, b = harmonise(a=a, b=b)
    broadcast_batch(("a", a, d), ("b", b, d))
    return _crosscorrelation(a, b, max_lag, d)


def kernel_crosscorrelation(k1, k2, *, d: int) -> torch.Tensor:
    """Full cross-correlation of two kernels ``(K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]``, ``n ∈ [1-N, N-1]`` (CS eq. 3, 6).

    Output ``(*batch, *(2N-1,)*d)``. Twin of :func:`theory.reference.correlate.kernel_crosscorrelation`.
    """
    d = check_d(d)
    k1 = real_tensor("k1", k1, d, "kernel axes")
    k2 = real_tensor("k2", k2, d, "kernel axes")
    check_same_shape("k1", k1.shape[-d:], "k2", k2.shape[-d:])
    k1, k2 = harmonise(k1=k1, k2=k2)
    broadcast_batch(("k1", k1, d), ("k2", k2, d))
    return _crosscorrelation(k1, k2, None, d)


def autocorrelation(x, max_lag, *, d: int) -> torch.Tensor:
    """Input autocorrelation on ``[-L, L]``: ``(X ⋆ X)[n] = Σ_i X[i+n]·X[i]`` (CS eq. 3).

    Twin of :func:`theory.reference.correlate.autocorrelation`.
    """
    d = check_d(d)
    x = real_tensor("x", x, d, "spatial axes")
    return _crosscorrelation(x, x, max_lag, d)


def channel_crosscorrelation(x, max_lag, *, d: int) -> torch.Tensor:
    """Cross-channel correlations ``R[c1, c2][n] = Σ_j X[c1][j]·X[c2][j+n]`` (CS eq. 3, multi-channel).

    ``x`` is ``(..., C, *spatial)``; result ``(*batch, C, C, *(2L+1,)*d)``.
    Twin of :func:`theory.reference.correlate.channel_crosscorrelation`.
    """
    d = check_d(d)
    x = real_tensor("x", x, d + 1, "C, spatial axes")
    ranges = _lag_ranges(x.shape[-d:], x.shape[-d:], max_lag, d)
    return pairwise_crosscorrelation(x, x, ranges, d)


def feature_maps(x, weight, padding="full", *, d: int) -> torch.Tensor:
    """Multi-channel feature maps as ``Conv2d`` (no bias): ``F_s = Σ_c K_s[c] ⋆ X[c]`` (CS eq. 1b, 9, 12).

    ``x`` is ``(..., C, *spatial)``, ``weight`` is ``(..., S, C, *kernel)``; result ``(*batch, S, *out)``.
    Twin of :func:`theory.reference.correlate.feature_maps`.
    """
    d = check_d(d)
    x = real_tensor("x", x, d + 1, "C, spatial axes")
    weight = real_tensor("weight", weight, d + 2, "S, C, kernel axes")
    if weight.shape[-d - 1] != x.shape[-d - 1]:
        raise ValueError(f"weight and x: expected weight.shape[-{d + 1}] == x.shape[-{d + 1}] (input channels C), "
                         f"got weight {tuple(weight.shape)} and x {tuple(x.shape)}")
    x, weight = harmonise(x=x, weight=weight)
    broadcast_batch(("x", x, d + 1), ("weight", weight, d + 2))
    return _feature_maps(x, weight, padding, d)

