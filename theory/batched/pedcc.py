"""Batched torch twins of :mod:`theory.reference.pedcc`: PEDCC centroids and the POD loss (POD paper, eq. 13-19).

Shapes: ``features`` ``(..., B, n)``, ``labels`` integer ``(..., B)``, ``centroids`` ``(..., k, n)``;
leading axes broadcast against each other, results are ``(...)`` (losses) or ``(..., B)``
(predictions). Zero feature vectors and zero centroids are ValueErrors naming the argument, as in the
reference; cosines are scale invariant for any finite magnitudes (each row first divided by a power of two
near its largest magnitude, exactly: only an exactly zero row is a zero vector). The memory cap
(:mod:`theory._validate`) and results that overflow are ValueErrors naming the arguments; float16/bfloat16
input is computed in float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import check_centroid_count, check_lam, check_memory, check_seed
from ._tensors import (broadcast_batch, check_alloc, check_device, device_memory, finite_result, harmonise, int_labels,
                       pow2_scaled, real_tensor)

__all__ = ["pedcc_centroids", "cosine_loss", "sc_loss", "pod_loss", "pedcc_predict"]


def pedcc_centroids(k: int, n: int, seed: int = 0, *, dtype: torch.dtype = torch.float64,
                    device=None) -> torch.Tensor:
    """``(k, n)`` PEDCC centroids, unit rows with ``<a_i, a_j> = -1/(k-1)`` (POD paper, Sec. III-B).

    Twin of :func:`theory.reference.pedcc_centroids`, built in torch (float64, then cast) from the
    same Gaussian draw, ``numpy.random.default_rng(seed).standard_normal((n, max(k-1, 1)))``:

    * ``G``, the Q of its QR factorisation with ``diag R > 0`` (unique), maps ``R^{k-1}`` into ``R^n``
      keeping inner products;
    * the simplex in ``R^{k-1}``: the rows of ``-H``, where the columns
      ``h_j ∝ e_j - (1/(k-j)) Σ_{i>=j} e_i`` (``j < k-1``) are the orthonormal basis of ``1^⊥`` that
      Gram-Schmidt gives for ``e_0 - 1/k, ..., e_{k-2} - 1/k`` (``-H`` is the Householder QR's Q, the
      basis the reference uses);
    * ``a = -H Gᵀ``, rows renormalised. ``k = 1``: ``a = Gᵀ``.

    Parameters
    ----------
    k : int
        Number of classes, ``1 <= k <= n + 1``.
    n : int
        Dimension of the latent features, ``>= 1``.
    seed : int, default 0
        Seed of the Gaussian draw; the same seed gives the same centroids.
    dtype : torch.dtype, default torch.float64
        Of the result: a real floating dtype.
    device : torch.device or str, optional
        Where the result is computed and lives.

    Returns
    -------
    torch.Tensor
        Shape ``(k, n)``.

    Raises
    ------
    TypeError
        If ``dtype`` is not a real floating ``torch.dtype`` (an integer dtype would round every entry to
        0), or ``device`` is not a str, an int or a ``torch.device``.
    ValueError
        If ``k`` or ``n`` is not a positive int, ``k > n + 1``, ``seed`` is not an int >= 0, ``device``
        is not a device of this machine (e.g. ``'cuda'`` where CUDA is not available), or the centroids
        would not fit in the memory cap.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> a = B.pedcc_centroids(3, 4, seed=0)
    >>> tuple(a.shape), (a @ a.T).round(decimals=12).tolist()
    ((3, 4), [[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])
    """
    k, n = check_centroid_count(k, n)
    seed = check_seed(seed)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a real floating torch.dtype (e.g. torch.float32), got {dtype!r}")
    device = check_device(device)
    check_memory("k and n", 8 * (4 * n * k + 3 * k * k), "the centroids")
    if device is not None and device.type != "meta":
        check_memory("k and n", 8 * (4 * n * k + 3 * k * k), "the centroids", available=device_memory(device))
    f64 = torch.float64
    draw = np.random.default_rng(seed).standard_normal((n, max(k - 1, 1)))
    q, r = torch.linalg.qr(torch.as_tensor(draw, dtype=f64, device=device))
    g = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)               # (n, k-1), unique
    if k == 1:
        a = g.T
    else:
        i = torch.arange(k, dtype=f64, device=g.device).unsqueeze(1)
        j = torch.arange(k - 1, dtype=f64, device=g.device)
        h = torch.where(i == j, 1.0 - 1.0 / (k - j), torch.where(i > j, -1.0 / (k - j), 0.0))
        h = h / torch.linalg.vector_norm(h, dim=0)                        # (k, k-1), orthonormal columns
        a = -h @ g.T
    return (a / torch.linalg.vector_norm(a, dim=1, keepdim=True)).to(dtype)


def _triplet(features, labels, centroids):
    f = real_tensor("features", features, 2, "B, n")
    c = real_tensor("centroids", centroids, 2, "k, n")
    if c.shape[-1] != f.shape[-1]:
        raise ValueError(f"features and centroids: expected the same feature dimension n, got features "
                         f"{tuple(f.shape)} and centroids {tuple(c.shape)}")
    f, c = harmonise(features=f, centroids=c)
    y = int_labels(labels, f.shape[-2], c.shape[-2]).to(f.device)
    lead = broadcast_batch(("features", f, 2), ("labels", y, 1), ("centroids", c, 2))
    b, k, n = f.shape[-2], c.shape[-2], f.shape[-1]
    f = f.expand(*lead, b, n)
    y = y.expand(*lead, b)
    cy = c.expand(*lead, k, n).gather(-2, y.unsqueeze(-1).expand(*lead, b, n))   # centroids[labels]
    return f, cy, c


def _scaled(name: str, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows scaled by powers of two, their norms)``: exact, so cosines are those of ``a`` and any finite
    non-zero row has a representable norm; a zero row is a ValueError naming ``name``."""
    a = pow2_scaled(a, -1)
    nrm = torch.linalg.vector_norm(a, dim=-1)
    if a.device.type != "meta" and bool((nrm == 0).any()):
        raise ValueError(f"{name}: a row is a zero vector; its direction is undefined")
    return a, nrm


def cosine_loss(features, labels, centroids) -> torch.Tensor:
    """Cosine loss (POD paper, eq. 13): ``(1/B) Σ_i (1 - cos θ_{y_i})²``, shape ``(...)``.

    Parameters
    ----------
    features : torch.Tensor, shape (..., B, n)
        Latent features, no zero row.
    labels : torch.Tensor of int, shape (..., B)
        Classes in ``[0, k)``.
    centroids : torch.Tensor, shape (..., k, n)
        One centroid per class, no zero row; batch axes of the three broadcast.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``features`` or ``centroids`` is not a real floating tensor, or ``labels`` not an integer tensor.
    ValueError
        If a rank, a value, a label or the dimensions ``n`` are bad, a row is zero, batch shapes do not
        broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> c = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> B.cosine_loss(torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64), torch.tensor([0, 1]), c).item()
    0.5
    """
    f, cy, c = _triplet(features, labels, centroids)
    _scaled("centroids", c)
    (f, fn), (cy, cn) = _scaled("features", f), _scaled("centroids", cy)
    cos = (f * cy).sum(-1) / (fn * cn)
    return (1.0 - cos).square().mean(-1)


def sc_loss(features, labels, centroids) -> torch.Tensor:
    """Self-correlation constraint loss, POD paper, eq. 14-15: ``Σ_{i≠j} R_ij²``,
    ``R = (1/(B-1)) (X - X_pedcc)(X - X_pedcc)ᵀ`` with unit-normalised feature columns; shape ``(...)``.

    With ``D = X - X_pedcc`` (``n×B``): for ``n <= B`` the ``n×n`` matrix ``R`` is formed and its
    off-diagonal summed; for ``n > B`` the same value comes from the smaller ``B×B`` Gram matrix,
    ``Σ_{i≠j} R_ij² = (||DᵀD||_F² - Σ_i (Σ_b D_ib²)²) / (B-1)²``.

    Parameters
    ----------
    features : torch.Tensor, shape (..., B, n)
        Latent features, ``B >= 2``, no zero row.
    labels : torch.Tensor of int, shape (..., B)
        Classes in ``[0, k)``.
    centroids : torch.Tensor, shape (..., k, n)
        One centroid per class, no zero row; batch axes of the three broadcast.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``features`` or ``centroids`` is not a real floating tensor, or ``labels`` not an integer tensor.
    ValueError
        If a rank, a value, a label or the dimensions ``n`` are bad, a row is zero, batch shapes do not
        broadcast or devices differ, or ``B < 2``.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> c = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> B.sc_loss(torch.tensor([[1.0, 1.0], [-1.0, 0.0]], dtype=torch.float64), torch.tensor([0, 1]), c).item()
    0.08578643762690497
    """
    f, cy, c = _triplet(features, labels, centroids)
    bsz, n = f.shape[-2], f.shape[-1]
    if bsz < 2:
        raise ValueError(f"features: eq. 15 divides by B-1; expected B >= 2 samples, got shape {tuple(f.shape)}")
    f, fn = _scaled("features", f)
    diff = f / fn.unsqueeze(-1) - cy                                # (..., B, n): rows are the columns of D
    if n <= bsz:
        r = diff.transpose(-1, -2) @ diff / (bsz - 1)               # (..., n, n)
        off = ~torch.eye(n, dtype=torch.bool, device=r.device)
        return finite_result("centroids", torch.where(off, r * r, torch.zeros_like(r)).sum(dim=(-2, -1)))
    g = diff @ diff.transpose(-1, -2)                                # (..., B, B)
    diag = diff.square().sum(-2)                                     # (..., n): (B-1)·R_ii
    return finite_result("centroids", (g.square().sum(dim=(-2, -1)) - diag.square().sum(-1)) / (bsz - 1) ** 2)


def pod_loss(features, labels, centroids, lam: float = 1.0) -> torch.Tensor:
    """POD loss (POD paper, eq. 16): ``cosine_loss + λ·sc_loss``, shape ``(...)``.

    Parameters
    ----------
    features : torch.Tensor, shape (..., B, n)
        Latent features, ``B >= 2``, no zero row.
    labels : torch.Tensor of int, shape (..., B)
        Classes in ``[0, k)``.
    centroids : torch.Tensor, shape (..., k, n)
        One centroid per class, no zero row; batch axes of the three broadcast.
    lam : float, default 1.0
        ``λ``, finite.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``features`` or ``centroids`` is not a real floating tensor, or ``labels`` not an integer tensor.
    ValueError
        If a rank, a value, a label or the dimensions ``n`` are bad, a row is zero, batch shapes do not
        broadcast or devices differ, ``B < 2``, or ``lam`` is not finite (TypeError: not a real number).

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> c = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> B.pod_loss(torch.tensor([[2.0, 0.0], [-3.0, 0.0]], dtype=torch.float64), torch.tensor([0, 1]), c, 0.5).item()
    0.0
    """
    lam = check_lam(lam)
    return finite_result("centroids and lam", cosine_loss(features, labels, centroids)
                         + lam * sc_loss(features, labels, centroids))


def pedcc_predict(features, centroids) -> torch.Tensor:
    """``argmax_i cos θ_{x, pedcc_i}`` (POD paper, eq. 17-19), int64 ``(..., B)``, first index on ties.

    Parameters
    ----------
    features : torch.Tensor, shape (..., B, n)
        Latent features, no zero row.
    centroids : torch.Tensor, shape (..., k, n)
        One centroid per class, no zero row.

    Returns
    -------
    torch.Tensor
        int64, shape ``(..., B)``.

    Raises
    ------
    TypeError
        If an argument is not a real floating tensor.
    ValueError
        If a rank, a value or the dimensions ``n`` are bad, a row is zero, batch shapes do not broadcast
        or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> c = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    >>> B.pedcc_predict(torch.tensor([[1.0, 0.5], [0.1, 2.0]]), c).tolist()
    [0, 1]
    """
    f = real_tensor("features", features, 2, "B, n")
    c = real_tensor("centroids", centroids, 2, "k, n")
    if c.shape[-1] != f.shape[-1]:
        raise ValueError(f"features and centroids: expected the same feature dimension n, got features "
                         f"{tuple(f.shape)} and centroids {tuple(c.shape)}")
    f, c = harmonise(features=f, centroids=c)
    lead = broadcast_batch(("features", f, 2), ("centroids", c, 2))
    check_alloc("features and centroids", 2 * math.prod(lead) * f.shape[-2] * c.shape[-2], f, "the B×k cosines")
    (f, fn), (c, cn) = _scaled("features", f), _scaled("centroids", c)
    cos = (f / fn.unsqueeze(-1)) @ (c / cn.unsqueeze(-1)).transpose(-1, -2)   # (..., B, k)
    return cos.argmax(dim=-1)
