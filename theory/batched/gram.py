"""Batched torch twins of :mod:`theory.reference.gram`: the engines of the Monte Carlo runners.

Every array argument is ``(*batch, *core)``; batch axes broadcast and lead the result. Unlike the other
twins these do not reject NaN or inf: a batch of Monte Carlo episodes in which one diverged must still
be measured (non-finite values propagate to that episode's outputs only; likewise a finite input whose
result overflows gives inf there, documented behaviour, not an error). float16/bfloat16 input is computed
in float32. Before allocating, a call whose outputs or intermediates would exceed the memory cap
(:mod:`theory._validate`) is a ValueError naming the arguments.

* :func:`feature_patches` — the full cross-correlation's patch matrix ``U`` (one ``unfold``, a view in 1-D).
* :func:`feature_gram`, :func:`feature_gram_stack` — ``G_P = U_Pᵀ U_P`` over the output window a padding
  keeps (CS paper, eq. 12-14), so ``<F_a, F_b>_P = vec(K_a)ᵀ G_P vec(K_b)``; nested windows (valid ⊂ same ⊂ full)
  are accumulated, ``G_big = G_small + U_ringᵀ U_ring``, so several paddings cost one pass.
* :func:`gram_quadratic_forms` — every ``<F_a, F_b>_P`` of ``S`` kernels as two batched GEMMs with all
  Gram matrices side by side (inner sizes ``P·D`` and ``D``, not ``S·P`` tiny products).
* :func:`kernel_spectrum` — the real DFT on the ``(2N-1)^d`` grid as one GEMM with the fixed matrices of
  :func:`dft_operands` (faster than an FFT call on thousands of tiny kernels).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from theory.padding import output_shape, resolve_padding

from .._validate import check_d, check_kernel_shape, check_memory, check_rank, check_size
from ._tensors import broadcast_shapes, check_alloc, upcast

__all__ = ["feature_patches", "feature_gram", "feature_gram_stack", "gram_quadratic_forms", "kernel_spectrum",
           "dft_operands"]


def _tensor(name: str, value, rank: int, what: str) -> torch.Tensor:
    """A real floating tensor ``(*batch, *core)`` with ``rank`` non-empty core axes; NaN and inf pass.

    Batch axes may be empty (an empty batch of episodes), so only the core axes are checked for size.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name}: expected a real floating tensor, got dtype {value.dtype}")
    if value.is_complex():
        raise TypeError(f"{name}: expected a real floating tensor, got dtype {value.dtype}")
    check_rank(name, value.shape, rank, what, batched=True)
    if 0 in value.shape[-rank:]:
        raise ValueError(f"{name}: every axis of ({what}) must have size >= 1, got shape {tuple(value.shape)}")
    return upcast(value)


def _kernel_shape(kernel_shape, d: int) -> tuple[int, ...]:
    return check_kernel_shape(kernel_shape, d)


def _check_patches(x: torch.Tensor, ks: tuple[int, ...], per_element: int, what: str) -> None:
    """Memory cap: ``per_element`` values for each element of ``x``'s batch (its patch matrix ``D × L``)."""
    d = len(ks)
    batch = math.prod(x.shape[:-d - 1])
    dim = x.shape[-d - 1] * math.prod(ks)
    full = math.prod(m + n - 1 for m, n in zip(x.shape[-d:], ks))
    check_alloc("x and kernel_shape", batch * per_element(dim, full), x, what)


def _patches(xb: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """``(B, D, L)`` with ``L`` the full result's positions (row-major) for ``xb`` ``(B, C, *spatial)``."""
    b, c = xb.shape[:2]
    if len(ks) == 1:
        n = ks[0]
        u = F.pad(xb, (n - 1, n - 1)).unfold(-1, n, 1)             # (B, C, L, N), a view
        return u.permute(0, 1, 3, 2).reshape(b, c * n, -1)         # still a view when C == 1
    kh, kw = ks
    return F.unfold(F.pad(xb, (kw - 1, kw - 1, kh - 1, kh - 1)), (kh, kw))


def feature_patches(x, kernel_shape, *, d: int) -> torch.Tensor:
    """Patch matrix ``U`` of the full cross-correlation, ``F_full = U @ vec(K)`` (CS paper, eq. 1b).

    Twin of :func:`theory.reference.feature_patches`: ``U[..., i, (c, m)] = X[c][i + m - (N - 1)]``.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        The input, ``C`` channels; leading batch axes. NaN and inf are not rejected.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor, shape (..., M+N-1, D) or (..., H+h-1, W+w-1, D)
        ``D = C·N`` or ``C·h·w``, the dtype of ``x``. A view of the padded input in 1-D with ``C = 1``.

    Raises
    ------
    TypeError
        If ``x`` is not a torch.Tensor of a real floating dtype.
    ValueError
        If ``d`` is not 1 or 2, ``x`` has fewer than ``d + 1`` axes or an empty channel or spatial axis,
        or ``kernel_shape`` is not ``d`` positive sizes.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.feature_patches(torch.tensor([[[1.0, 2.0, 3.0]]]), 2, d=1)[0]
    tensor([[0., 1.],
            [1., 2.],
            [2., 3.],
            [3., 0.]])
    """
    d = check_d(d)
    x = _tensor("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    _check_patches(x, ks, lambda dim, full: 2 * dim * full, "the patch matrices")
    batch, c, sp = x.shape[:-d - 1], x.shape[-d - 1], x.shape[-d:]
    u = _patches(x.reshape(-1, c, *sp), ks)
    full = tuple(m + n - 1 for m, n in zip(sp, ks))
    return u.reshape(*batch, u.shape[1], *full).movedim(-d - 1, -1)


def _window_mask(sp, ks, padding, device) -> torch.Tensor:
    """Boolean ``(L,)`` mask of the full-result positions ``i_a ∈ [N_a-1-left_a, M_a-1+right_a]`` (eq. 12-14)."""
    pads = resolve_padding(padding, ks)
    output_shape(sp, ks, pads)                                     # raises if nothing is left
    mask = torch.zeros(tuple(m + n - 1 for m, n in zip(sp, ks)), dtype=torch.bool, device=device)
    mask[tuple(slice(n - 1 - lo, m + hi) for m, n, (lo, hi) in zip(sp, ks, pads))] = True
    return mask.reshape(-1)


def _columns(u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``u[..., mask]``, as a slice (a view) when the kept positions are one run."""
    idx = torch.nonzero(mask).flatten()
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    return u[..., lo:hi] if hi - lo == idx.numel() else u[..., mask]


def _stack(x: torch.Tensor, ks: tuple[int, ...], masks: list, chunk: int) -> torch.Tensor:
    """The Gram matrices of the windows ``masks`` (smallest first, nested ones by their ring)."""
    d = len(ks)
    batch, c, sp = x.shape[:-d - 1], x.shape[-d - 1], tuple(x.shape[-d:])
    dim = c * math.prod(ks)
    if x.device.type == "meta":                                    # shapes only
        return torch.empty((*batch, len(masks), dim, dim), dtype=x.dtype, device=x.device)
    xb = x.reshape(-1, c, *sp)
    order = sorted(range(len(masks)), key=lambda j: int(masks[j].sum()))
    out = torch.empty((xb.shape[0], len(masks), dim, dim), dtype=x.dtype, device=x.device)
    for start in range(0, xb.shape[0], chunk):
        u = _patches(xb[start:start + chunk], ks)                  # (b, D, L)
        prev = None
        for j in order:
            m = masks[j]
            if prev is not None and bool((masks[prev] <= m).all()):
                ring = u[..., m & ~masks[prev]]
                g = out[start:start + chunk, prev] + ring @ ring.transpose(-1, -2)
            else:
                rows = _columns(u, m)
                g = rows @ rows.transpose(-1, -2)
            out[start:start + chunk, j] = g
            prev = j
    return out.reshape(*batch, len(masks), dim, dim)


def feature_gram_stack(x, kernel_shape, paddings, *, d: int, chunk: int = 128) -> torch.Tensor:
    """One Gram matrix ``G_P = U_Pᵀ U_P`` per padding, ``<F_a, F_b>_P = vec(K_a)ᵀ G_P vec(K_b)``.

    The quadratic form of CS paper, eq. 3, over the output window each padding keeps (eq. 12-14); twin of
    :func:`theory.reference.feature_gram_stack`. Paddings are processed from the smallest window up; a
    window containing the previous one adds only the ring of positions it gains. The batch is processed
    ``chunk`` elements at a time (a patch matrix holds ``D·L`` values per element).

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        The input; leading batch axes. NaN and inf are not rejected.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    paddings : list
        Paddings in any form of :mod:`theory.padding` (a list, so that pairs are not mistaken for it).
    d : {1, 2}
        Spatial rank, keyword-only.
    chunk : int, default 128
        Batch elements per pass, a positive int.

    Returns
    -------
    torch.Tensor, shape (..., len(paddings), D, D)
        Symmetric positive semi-definite, the dtype of ``x``.

    Raises
    ------
    TypeError
        As :func:`feature_patches`; also for a padding of a wrong type, named ``paddings[i]``.
    ValueError
        As :func:`feature_patches`; also for an empty or non-list ``paddings``, a bad padding or one that
        leaves no output (named ``paddings[i]``), or ``chunk`` not a positive int.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.feature_gram_stack(torch.tensor([[[1.0, 2.0, 3.0]]]), 2, ["valid", "full"], d=1)[0, :, 0, 0]
    tensor([ 5., 14.])
    """
    d = check_d(d)
    x = _tensor("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    if not isinstance(paddings, (list, tuple)) or not paddings:
        raise ValueError(f"paddings: expected a non-empty list of paddings, got {paddings!r}")
    chunk = check_size("chunk", chunk)
    _check_stack(x, ks, len(paddings), chunk)
    masks = []
    for i, p in enumerate(paddings):
        try:
            masks.append(_window_mask(tuple(x.shape[-d:]), ks, p, x.device))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"paddings[{i}]: {exc}") from None
    return _stack(x, ks, masks, chunk)


def _check_stack(x: torch.Tensor, ks: tuple[int, ...], n_pads: int, chunk: int) -> None:
    """Memory cap of :func:`_stack`: the ``(B, P, D, D)`` result and one chunk's patch matrices."""
    d = len(ks)
    batch = math.prod(x.shape[:-d - 1])
    dim = x.shape[-d - 1] * math.prod(ks)
    full = math.prod(m + n - 1 for m, n in zip(x.shape[-d:], ks))
    check_alloc("x and kernel_shape", batch * n_pads * dim * dim + 3 * min(chunk, batch) * (dim * full + dim * dim),
                x, "the Gram matrices")


def feature_gram(x, kernel_shape, padding="full", *, d: int) -> torch.Tensor:
    """``G_P`` for one padding, ``<F_a, F_b>_P = vec(K_a)ᵀ G_P vec(K_b)`` (CS paper, eq. 3, 14).

    Twin of :func:`theory.reference.feature_gram`: ``G_P[a, b] = <F_{e_a}, F_{e_b}>_P``.

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, M) or (..., C, H, W)
        The input; leading batch axes. NaN and inf are not rejected.
    kernel_shape : int or tuple of int
        ``(N,)`` or ``(h, w)``.
    padding : str, int or pair, default 'full'
        Any form of :mod:`theory.padding`.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor, shape (..., D, D)
        Symmetric positive semi-definite, the dtype of ``x``.

    Raises
    ------
    TypeError
        As :func:`feature_patches`; also for a padding of a wrong type.
    ValueError
        As :func:`feature_patches`; also for a bad padding or one that leaves no output.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> B.feature_gram(torch.tensor([[1.0, 2.0, 3.0]]), 2, "valid", d=1)
    tensor([[ 5.,  8.],
            [ 8., 13.]])
    """
    d = check_d(d)
    x = _tensor("x", x, d + 1, "C, spatial axes")
    ks = _kernel_shape(kernel_shape, d)
    mask = _window_mask(tuple(x.shape[-d:]), ks, padding, x.device)
    _check_stack(x, ks, 1, 128)
    return _stack(x, ks, [mask], 128)[..., 0, :, :]


def gram_quadratic_forms(weight, grams, *, d: int) -> torch.Tensor:
    """``Q[..., p, a, b] = vec(K_a)ᵀ G_p vec(K_b) = <F_a, F_b>_p`` for every pair of ``S`` kernels.

    The quadratic forms of CS paper, eq. 3, 14; twin of :func:`theory.reference.gram_quadratic_forms`.
    Two batched GEMMs over all Gram matrices side by side, ``(S × D) @ (D × P·D)`` then
    ``(S·P × D) @ (D × S)``. The side-by-side layout is ``grams.transpose(-3, -2)``: when that is contiguous
    (``grams`` is a transposed view of a ``(..., D, P, D)`` buffer) nothing is copied, so a caller
    evaluating many kernels against the same Gram matrices keeps them in that layout.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., S, C, N) or (..., S, C, h, w)
        The kernels of a layer, as ``Conv1d``/``Conv2d.weight``; leading batch axes.
    grams : torch.Tensor, shape (..., P, D, D)
        Gram matrices (as from :func:`feature_gram_stack`), ``D = C·N`` or ``C·h·w``; cast to the dtype
        of ``weight``.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    torch.Tensor, shape (..., P, S, S)
        The batch shape is ``weight``'s and ``grams``' broadcast.

    Raises
    ------
    TypeError
        If ``weight`` or ``grams`` is not a torch.Tensor of a real floating dtype.
    ValueError
        If ``d`` is not 1 or 2, a shape is bad or ``grams`` is not ``D × D``, the batch shapes do not
        broadcast, or the two are on different devices.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> w = torch.tensor([[[1.0, -1.0]], [[0.5, 2.0]]])
    >>> B.gram_quadratic_forms(w, torch.eye(2)[None], d=1)
    tensor([[[ 2.0000, -1.5000],
             [-1.5000,  4.2500]]])
    """
    d = check_d(d)
    weight = _tensor("weight", weight, d + 2, "S, C, kernel axes")
    grams = _tensor("grams", grams, 3, "P, D, D")
    s, dim, n_p = weight.shape[-d - 2], math.prod(weight.shape[-d - 1:]), grams.shape[-3]
    if tuple(grams.shape[-2:]) != (dim, dim):
        raise ValueError(f"grams: expected shape (..., P, {dim}, {dim}) for weight {tuple(weight.shape)}, got "
                         f"{tuple(grams.shape)}")
    if weight.device != grams.device:
        raise ValueError(f"weight and grams: expected one device, got {weight.device} and {grams.device}")
    try:
        batch = broadcast_shapes(weight.shape[:-d - 2], grams.shape[:-3])
    except RuntimeError:
        raise ValueError(f"weight and grams: batch shapes {tuple(weight.shape[:-d - 2])} and "
                         f"{tuple(grams.shape[:-3])} do not broadcast") from None
    nb = math.prod(batch)
    check_alloc("weight and grams", nb * (s * dim + 2 * dim * n_p * dim + 2 * s * n_p * dim + 2 * n_p * s * s), weight,
                "the quadratic forms and their operands")
    f = weight.expand(*batch, *weight.shape[-d - 2:]).reshape(-1, s, dim)                 # (B, S, D)
    gs = grams.expand(*batch, *grams.shape[-3:]).transpose(-3, -2).reshape(-1, dim, n_p * dim)
    p = torch.bmm(f, gs.to(f.dtype)).view(-1, s * n_p, dim)                             # rows (a, p): vec(K_a)ᵀ G_p
    q = torch.bmm(p, f.transpose(1, 2))                                                  # (B, S·P, S)
    return q.view(-1, s, n_p, s).permute(0, 2, 1, 3).reshape(*batch, n_p, s, s)


def dft_operands(kernel_shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The real DFT on the ``(2N-1)^d`` grid as GEMM operands, for kernels flattened row-major.

    ``re @ vec(K) = Re K̂`` and ``im @ vec(K) = Im K̂`` over the half spectrum's bins (row-major;
    ``f_d = 0..N_d-1`` on the last axis), ``mult`` the number of full-grid bins each stands for (1 where
    ``f_d = 0``, else 2: the bin and its conjugate) and ``size = L = Π (2N_a - 1)``. So for any ``s(ω)``
    with ``s(-ω) = s(ω)``, ``Σ_{all ω} s(ω) = mult @ s`` (Parseval, CS eq. 8). Read-only float64 arrays.

    Parameters
    ----------
    kernel_shape : tuple or list of int
        ``(N,)`` or ``(h, w)`` (the result is cached per shape).

    Returns
    -------
    re, im : numpy.ndarray, shape (B, T)
        ``B`` bins, ``T = Π N_a`` kernel entries.
    mult : numpy.ndarray, shape (B,)
        1 or 2, the number of full-grid bins each half-spectrum bin stands for.
    size : int
        ``L = Π (2N_a - 1)``, the number of full-grid bins.

    Raises
    ------
    ValueError
        If ``kernel_shape`` is not 1 or 2 positive ints (floats, strings and bools are refused), or the
        matrices would not fit in the memory cap.

    Examples
    --------
    >>> from theory import batched as B
    >>> re, im, mult, size = B.dft_operands((2,))
    >>> re.round(6).tolist(), mult.tolist(), size
    ([[1.0, 1.0], [1.0, -0.5]], [1.0, 2.0], 3)
    """
    ks = tuple(kernel_shape) if isinstance(kernel_shape, (tuple, list)) else ()
    if not ks or len(ks) > 2:
        raise ValueError(f"kernel_shape: expected 1 or 2 positive kernel sizes, got {kernel_shape!r}")
    ks = check_kernel_shape(ks, len(ks))
    check_memory("kernel_shape", 8 * 5 * _bins(ks) * math.prod(ks), "the DFT matrices")
    return _dft_operands(ks)


def _bins(ks) -> int:
    return math.prod(2 * n - 1 for n in ks[:-1]) * ks[-1]


@functools.lru_cache(maxsize=64)
def _dft_operands(ks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    lengths = [2 * n - 1 for n in ks]
    half = lengths[:-1] + [ks[-1]]
    d = len(ks)
    phase = 0
    for a, (nb, n, length) in enumerate(zip(half, ks, lengths)):
        f = np.arange(nb).reshape([nb if i == a else 1 for i in range(d)] + [1] * d)
        m = np.arange(n).reshape([1] * d + [n if i == a else 1 for i in range(d)])
        phase = phase + 2.0 * np.pi * f * m / length                  # ω_a·m_a, ω_a = 2π f_a / L_a
    nbins, taps = math.prod(half), math.prod(ks)
    re = np.cos(phase).reshape(nbins, taps)
    im = (-np.sin(phase)).reshape(nbins, taps)
    mult = np.full(half, 2.0)
    mult[..., 0] = 1.0
    out = (re, im, mult.reshape(-1))
    for a in out:
        a.setflags(write=False)
    return (*out, math.prod(lengths))


@functools.lru_cache(maxsize=64)
def _dft_tensors(ks, dtype, device):
    re, im, _, _ = _dft_operands(ks)
    return tuple(torch.tensor(a.T, dtype=dtype, device=device).contiguous() for a in (re, im))


def kernel_spectrum(k, *, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``Re`` and ``Im`` of ``K̂(ω) = Σ_m K[m]·e^{-i ω·m}`` on the half ``(2N-1)^d`` grid (CS paper, eq. 8).

    Twin of :func:`theory.reference.kernel_spectrum`, as one GEMM with the matrices of :func:`dft_operands`.

    Parameters
    ----------
    k : torch.Tensor, shape (..., N) or (..., h, w)
        Kernels; leading batch axes. NaN and inf are not rejected.
    d : {1, 2}
        Spatial rank, keyword-only.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Real and imaginary parts, shape ``(..., N)`` or ``(..., 2h - 1, w)`` each, the dtype of ``k``.

    Raises
    ------
    TypeError
        If ``k`` is not a torch.Tensor of a real floating dtype.
    ValueError
        If ``d`` is not 1 or 2, or ``k`` has fewer than ``d`` axes or an empty kernel axis.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> re, im = B.kernel_spectrum(torch.tensor([1.0, 1.0], dtype=torch.float64), d=1)
    >>> re.round(decimals=6).tolist(), im.round(decimals=6).tolist()
    ([2.0, 0.5], [0.0, -0.866025])
    """
    d = check_d(d)
    k = _tensor("k", k, d, "kernel axes")
    ks = tuple(k.shape[-d:])
    half = tuple(2 * n - 1 for n in ks[:-1]) + (ks[-1],)
    check_memory("k", 8 * 5 * _bins(ks) * math.prod(ks), "the DFT matrices")
    check_alloc("k", 2 * math.prod(k.shape[:-d]) * _bins(ks), k, "the spectra")
    re_t, im_t = _dft_tensors(ks, k.dtype, k.device)
    kf = k.reshape(*k.shape[:-d], math.prod(ks))
    return (kf @ re_t).reshape(*k.shape[:-d], *half), (kf @ im_t).reshape(*k.shape[:-d], *half)
