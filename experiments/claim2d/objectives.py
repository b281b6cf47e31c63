"""Batched kernel objectives of the 2-D Monte Carlo: the orthogonality baselines and L_CS.

Every objective maps a batch of layers ``w`` of shape ``(E, S, C, kh, kw)`` (``E`` independent
episodes, ``S`` kernels of ``C`` input channels, as ``Conv2d.weight``) to ``(E,)`` values; the runner
minimises their SUM with autograd, which is the sum of independent per-episode problems (the gradient
of episode e's value is the gradient with respect to episode e's kernels only). ``W`` below is the
``(S, F)`` matrix of flattened kernels, ``F = C·kh·kw``.

=================  ==========================================================================================
name               value per episode (the test-suite holds each to :mod:`theory.reference` / :mod:`theory.batched`)
=================  ==========================================================================================
``kernel_ip``      ``Σ_{i<j} <K_i, K_j>²`` — the CS paper's Table 1 objective ``<K1,K2>²`` summed over pairs
``soft_orth``      ``||W Wᵀ - I_S||²_F`` (Bansal et al. 2018; :func:`theory.reference.soft_orthogonality`)
``ocnn``           ``||Conv(K, K, padding=k-1, stride=1) - I_r0||²_F`` (Wang et al. 2020, stride 1:
                   every lag; :func:`theory.reference.ocnn_orthogonality`)
``orthoreg``       ``Σ_{i≠j} log(1 + e^{λ(C_ij - 1)})``, ``C`` the kernel cosines, ``λ = 10``, one-sided as
                   published (Rodríguez et al. 2017; :func:`theory.reference.orthoreg`)
``cs``             L_CS ``= Σ_{i<j} Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]`` (CS eq. 10;
                   :func:`theory.reference.conv_similarity`)
``cs_norm``        L_CS of the kernels each divided by its norm (scale-invariant;
                   :func:`theory.reference.conv_similarity_normalized`)
``cs_adjacent``    ``Σ_i Σ_c Σ_n (K_i[c] ⋆ K_{i+1}[c])²[n]``, the CS CUDA library's L_CS (``ConvSim2D``: adjacent
                   kernels, same channel; :func:`theory.reference.variants.conv_similarity_adjacent`)
=================  ==========================================================================================

Why not call the :mod:`theory.batched` twins directly: they validate their input (a NaN anywhere in
the batch raises), which would let one diverging episode abort the 999 others; and OCNN's twin is a
batched direct correlation whose cost grows as ``S²·C·k⁴`` per episode. Here every lag-based objective
comes from ONE real 2-D DFT of the kernels of size ``L = (2kh-1)·(2kw-1)`` (no wrap-around for lags in
``[1-k, k-1]``), computed as one GEMM with a fixed DFT matrix, by Parseval:

* L_CS: ``P_i(ω) = Σ_c |K̂_i[c](ω)|²``, ``L_CS = 1/(2L) Σ_ω [(Σ_i P_i)² - Σ_i P_i²]`` (the FFT route of
  :func:`theory.batched.conv_similarity_fast`);
* OCNN at stride 1 keeps every lag ``n ∈ [1-k, k-1]²`` (``P = ⌊(k-1)/1⌋·1 = k-1``), so with
  ``Z_ij[n] = Σ_c (K_i[c] ⋆ K_j[c])[n]``, ``Ẑ_ij(ω) = Σ_c conj(K̂_i[c]) K̂_j[c]`` and
  ``Σ_{i,j,n} Z_ij[n]² = (1/L) Σ_ω ||A_ω^H A_ω||²_F`` with ``A_ω`` the ``S × C`` matrix ``K̂_i[c](ω)``
  (the smaller of the ``C × C`` and ``S × S`` Gram matrices); ``Z_ii[0] = ||K_i||²``, hence
  ``||Z - I_r0||² = Σ Z² - 2 Σ_i ||K_i||² + S``.

Episodes whose kernels become non-finite simply carry NaN (Adam is per coordinate); the metrics count
them as diverged.
"""

from __future__ import annotations

import functools

import torch

from theory import batched as B

ORTHOREG_LAMBDA = 10.0

#: name -> (short label, description, family) ; family "kernel" = kernel-orthogonality baseline.
OBJECTIVES = {
    "kernel_ip": ("<K_i,K_j>²", "sum_{i<j} <K_i, K_j>^2 (CS Table 1 objective, all pairs)", "kernel"),
    "soft_orth": ("SO", "||W W^T - I||_F^2 (soft orthogonality, Bansal et al. 2018)", "kernel"),
    "ocnn": ("OCNN", "||Conv(K, K, padding=k-1, stride=1) - I_r0||_F^2 (Wang et al. 2020)", "kernel"),
    "orthoreg": ("OrthoReg", "sum_{i!=j} log(1 + exp(10 (cos(K_i,K_j) - 1))) (Rodriguez et al. 2017)", "kernel"),
    "cs": ("L_CS", "sum_{i<j} sum_{c1,c2,n} (K_i[c1] * K_j[c2])^2[n] (CS eq. 10)", "cs"),
    "cs_norm": ("L_CS norm.", "L_CS of the kernels divided by their norms (scale-invariant)", "cs"),
    "cs_adjacent": ("L_CS adj.", "sum_i sum_c sum_n (K_i[c] * K_{i+1}[c])^2[n] (the CS CUDA library's ConvSim2D: "
                    "adjacent kernels, same channel)", "cs"),
}


def _flat(w: torch.Tensor) -> torch.Tensor:
    return w.flatten(2)                                              # (E, S, F)


def _off_diagonal_sq_sum(g: torch.Tensor) -> torch.Tensor:
    """``Σ_{i<j} g_ij²`` of symmetric ``(E, S, S)`` matrices."""
    return 0.5 * ((g * g).sum((-2, -1)) - (torch.diagonal(g, dim1=-2, dim2=-1) ** 2).sum(-1))


def kernel_ip(w: torch.Tensor) -> torch.Tensor:
    f = _flat(w)
    return _off_diagonal_sq_sum(f @ f.transpose(-1, -2))


def soft_orth(w: torch.Tensor) -> torch.Tensor:
    f = _flat(w)
    g = f @ f.transpose(-1, -2) - torch.eye(f.shape[1], dtype=f.dtype, device=f.device)
    return (g * g).sum((-2, -1))


def kernel_cosines(w: torch.Tensor) -> torch.Tensor:
    """``(E, S, S)`` cosines of the flattened kernels (NaN for a zero kernel, never an exception)."""
    f = _flat(w)
    u = f / f.norm(dim=-1, keepdim=True)
    return u @ u.transpose(-1, -2)


def orthoreg(w: torch.Tensor, lam: float = ORTHOREG_LAMBDA) -> torch.Tensor:
    c = kernel_cosines(w)
    terms = torch.nn.functional.softplus(lam * (c - 1.0))            # log(1 + e^x), overflow-safe
    s = c.shape[-1]
    off = 1.0 - torch.eye(s, dtype=c.dtype, device=c.device)
    return (terms * off).sum((-2, -1))


@functools.lru_cache(maxsize=32)
def _dft_matrix(kh: int, kw: int, dtype: torch.dtype, device: str):
    """Real DFT of a ``kh × kw`` kernel on the ``(2kh-1) × (2kw-1)`` grid, half spectrum along the last axis.

    Returns ``(D_re, D_im, mult, L)`` from :func:`theory.batched.dft_operands` (the registry proves it as
    ``kernel_spectrum``): ``D_re @ K_flat = Re K̂``, ``D_im @ K_flat = Im K̂`` over the ``B = (2kh-1)·kw``
    kept bins, ``mult`` the multiplicity of each bin in the full spectrum (1 for ``ω2 = 0``, 2 otherwise:
    the conjugate bins) and ``L = (2kh-1)(2kw-1)``. A GEMM is faster than ``torch.fft.rfft2`` on thousands of
    tiny kernels (one transform call each).
    """
    re, im, mult, size = B.dft_operands((kh, kw))
    t = lambda a: torch.tensor(a, dtype=dtype, device=device)        # noqa: E731
    return t(re), t(im), t(mult), size


def _spectra(w: torch.Tensor):
    """``(re, im)`` of ``K̂_i[c](ω)``, each ``(S, C, B, E)`` (episodes last and contiguous, so the
    elementwise work runs over long rows), the bin multiplicities ``(B,)`` and ``L``."""
    e, s, c, kh, kw = w.shape
    d_re, d_im, mult, size = _dft_matrix(kh, kw, w.dtype, str(w.device))
    k = w.permute(1, 2, 3, 4, 0).reshape(s, c, kh * kw, e)          # (S, C, T, E)
    return d_re @ k, d_im @ k, mult, size                            # (S, C, B, E) each


def cs(w: torch.Tensor) -> torch.Tensor:
    re, im, mult, size = _spectra(w)
    p = (re * re + im * im).sum(1)                                   # (S, B, E): P_i(ω)
    total = p.sum(0)
    diff = total * total - (p * p).sum(0)                            # (B, E)
    return (mult @ diff) / (2 * size)


def cs_adjacent(w: torch.Tensor) -> torch.Tensor:
    """The CS CUDA library's L_CS (:func:`theory.reference.variants.conv_similarity_adjacent`): by Parseval,
    ``(1/L) Σ_ω Σ_i Σ_c |K̂_i[c](ω)|² |K̂_{i+1}[c](ω)|²``."""
    re, im, mult, size = _spectra(w)
    p = re * re + im * im                                            # (S, C, B, E)
    return (mult @ (p[:-1] * p[1:]).sum((0, 1))) / size


def normalize_kernels(w: torch.Tensor) -> torch.Tensor:
    """Each kernel divided by its norm (scaled by its peak first so tiny kernels do not underflow)."""
    f = _flat(w)
    peak = f.abs().amax(-1, keepdim=True)
    u = f / peak
    u = u / u.norm(dim=-1, keepdim=True)
    return u.reshape(w.shape)


def cs_norm(w: torch.Tensor) -> torch.Tensor:
    return cs(normalize_kernels(w))


def _hermitian_gram_sq(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """``Σ_{c,d} |Σ_i conj(A_ic) A_id|²`` for ``A = re + i·im`` of shape ``(I, C, ...)``: result ``(...)``.

    Written as loops over the ``C(C+1)/2`` channel pairs of elementwise products over long rows (the
    trailing axes): faster on CPU than tens of thousands of tiny batched matrix products.
    """
    res, ims = re.unbind(1), im.unbind(1)                           # unbind: one backward op, not C selects
    c = len(res)
    out = None
    for a in range(c):
        for b in range(a, c):
            g_re = (res[a] * res[b] + ims[a] * ims[b]).sum(0)
            if a == b:                                               # G_aa is real
                term = g_re * g_re
            else:
                g_im = (res[a] * ims[b] - ims[a] * res[b]).sum(0)
                term = 2.0 * (g_re * g_re + g_im * g_im)             # |G_ab|² = |G_ba|²
            out = term if out is None else out + term
    return out


def ocnn(w: torch.Tensor) -> torch.Tensor:
    re, im, mult, size = _spectra(w)
    s, c = w.shape[1], w.shape[2]
    if c <= s:      # ||A^H A||_F over the C × C Gram: sum over kernels i, pairs of channels
        sq = _hermitian_gram_sq(re, im)
    else:           # ||A A^H||_F, the same norm, over the S × S Gram: sum over channels, pairs of kernels
        sq = _hermitian_gram_sq(re.transpose(0, 1), im.transpose(0, 1))
    zz = (mult @ sq) / size                                          # Σ_{i,j,n} Z_ij[n]²  (E,)
    norms = (_flat(w) ** 2).sum((-2, -1))                            # Σ_i ||K_i||² = Σ_i Z_ii[0]
    return zz - 2.0 * norms + s


FUNCTIONS = {"kernel_ip": kernel_ip, "soft_orth": soft_orth, "ocnn": ocnn, "orthoreg": orthoreg,
             "cs": cs, "cs_norm": cs_norm, "cs_adjacent": cs_adjacent}
if set(FUNCTIONS) != set(OBJECTIVES):                               # pragma: no cover - module invariant
    raise RuntimeError("objectives: FUNCTIONS and OBJECTIVES disagree")


def objective(name: str):
    """The batched function ``(E, S, C, kh, kw) -> (E,)`` of objective ``name``."""
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"objective: unknown {name!r}; expected one of {', '.join(OBJECTIVES)}") from None


__all__ = ["OBJECTIVES", "FUNCTIONS", "objective", "kernel_cosines", "normalize_kernels",
           "ORTHOREG_LAMBDA"] + list(FUNCTIONS)
