"""Batched torch twins of :mod:`theory.reference.pearson`: Pearson matrices and the MFD loss (MFD paper, eq. 5-7).

``features`` is ``(..., b, C, *spatial)`` with ``d`` spatial axes; leading axes are batch axes of
independent problems and broadcast against each other (e.g. against ``logits``/``labels`` in
:func:`mfd_joint_loss`). Semantics, degenerate-case policies and error messages are those of the
reference: ``b < 2`` and non-finite input are ValueErrors naming the argument, and a dead channel
(constant over the batch within ``8·eps·max|I|·sqrt(b·P)``, eps of the input's dtype) has a zero row
and column. The dead-channel rule is applied with ``torch.where`` on a safe denominator, so gradients
are finite (no NaN) everywhere; they are zero through the dead entries. (The policy is a
discontinuity: a finite-difference check that perturbs a dead channel's own values makes it live,
so gradchecks keep dead channels constant.)

Cost (:class:`_CentredGram`): forward, one write of the shifted input (transposed to ``(C, b, P)``
unless ``P >= 4C`` or the input is channels-last), one mean, one in-place centring and one GEMM
``(C, b·P) × (b·P, C)`` (or ``b`` small ones); backward, one GEMM ``(G' + G'ᵀ) Z`` (the centring's
adjoint is the identity on it: see the class). Autograd through the plain expression would take three GEMMs and about six more passes
over the input. The centred norms are the Gram matrix's diagonal; the dead-channel rule needs no
extra pass in practice (:func:`_live_channels`).

Precision: float16 and bfloat16 features (as MFD stage features arrive under autocast) are computed in
float32 and the results are float32; their sums of squares overflow float16 (a NaN loss) and lose most
digits in bfloat16. The gradient flows back in the features' own dtype.

Scale: eq. 6 is invariant to rescaling a channel, and computed so for any finite magnitudes (``1e20`` or
``1e-30`` in float32): where the magnitudes would overflow or underflow the dtype, the channels are
scaled by powers of two first (exact; see :func:`_offdiagonal`). A call over the memory cap
(:mod:`theory._validate`) is a ValueError naming ``features``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validate import DEAD_RTOL, check_feature_d, check_lam
from ._tensors import broadcast_batch, check_alloc, finite_result, harmonise, int_labels, pow2_scaled, real_tensor

__all__ = ["pearson_matrix", "mfd_loss", "mfd_joint_loss", "mean_abs_offdiagonal"]

def _features(features, d: int, name: str = "features") -> torch.Tensor:
    x = real_tensor(name, features, d + 2, "b, C" + ", spatial axes" * (d > 0))
    if x.shape[-(d + 2)] < 2:
        raise ValueError(f"{name}: the Pearson correlation needs a batch of b >= 2 samples, "
                         f"got shape {tuple(x.shape)}")
    return x


def _check_channels(x: torch.Tensor, d: int, name: str = "features") -> None:
    c = x.shape[-(d + 1)]
    if c < 2:
        raise ValueError(f"{name}: the off-diagonal of a {c}x{c} matrix is empty; expected C >= 2 channels, "
                         f"got shape {tuple(x.shape)}")


# Layouts of the centred values Z, chosen from timings on a 2-core EPYC (float32, b = 128, ResNet18
# stage shapes): "sample" (B, b, C, P) when P >= 4·C, where G = Σ_k Z_k Z_kᵀ as b small GEMMs beats one
# thin GEMM (C = 16, P = 784: 0.6 vs 0.9 ms) and the input layout needs no transposed write; otherwise
# "channel" (B, C, b·P), one GEMM. Backward in the channel layout: per-sample GEMMs S·Z_k written
# straight into the input's layout for P >= 32 (2-5x faster at P >= 196), else one GEMM and a copy.
_SAMPLE_LAYOUT_MIN_P_PER_C = 4
_BATCHED_BACKWARD_MIN_P = 32


def _sample_layout(c: int, p: int) -> bool:
    return p >= _SAMPLE_LAYOUT_MIN_P_PER_C * c


def _channels_last(x: torch.Tensor) -> bool:
    """``x`` ``(B, b, C, P)`` holds the channel axis innermost, positions then samples outside it (a
    ``channels_last`` feature map flattened: the stage features of a channels-last network). Its centred
    values are then the rows of one contiguous ``(B, b·P, C)`` matrix, ``G = Zᵀ Z`` is one GEMM with no
    transposed write, and the backward ``Z S`` lands in the input's own layout (no layout conversion when
    autograd accumulates it). Measured on ResNet18 x1/4 stage shapes (float32, b = 128, 1 thread): the
    other layouts on such input took about twice as long."""
    c = x.shape[2]
    return c > 1 and x.stride(2) == 1 and x.permute(0, 1, 3, 2).is_contiguous()


class _CentredGram(torch.autograd.Function):
    """``G = Z Zᵀ`` (``(B, C, C)``) with ``Z = (x - x_1) - mean_k (x - x_1)``, ``x`` ``(B, b, C, P)``, the
    sums running over samples ``k`` and positions; also returns (not differentiable) the shifted mean
    ``mean_k (x - x_1)``, ``(B, C, P)``.

    The shift by the first sample keeps a channel that is constant over the batch exactly zero after
    centring (as in the reference). Backward: ``∂/∂Z <G', Z Zᵀ> = S Z`` with ``S = G' + G'ᵀ``; the
    centring is an orthogonal projection over the sample axis and ``S Z`` already lies in its range
    (``Σ_k Z_k = 0``), so ``S Z`` is the gradient with respect to ``x`` itself: one (batched) GEMM. The
    layout of ``Z`` is chosen by shape (see ``_sample_layout``). Twice differentiable: under
    ``create_graph`` the backward rebuilds ``Z`` with differentiable ops.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        n, b, c, p = x.shape
        if _channels_last(x):
            xt = x.permute(0, 1, 3, 2)                                        # (B, b, P, C), contiguous
            y = torch.sub(xt, xt[:, :1]).contiguous()                         # shift by the first sample
            m = y.mean(dim=1)                                                 # (B, P, C)
            y.sub_(m.unsqueeze(1))                                            # I_k - Ī, eq. 6
            z = y.view(n, b * p, c)
            m = m.mT.contiguous()                                             # (B, C, P), small
            ctx.save_for_backward(x, z)
            ctx.mark_non_differentiable(m)
            ctx.channels_last = True
            return z.mT @ z, m
        if _sample_layout(c, p):
            z = torch.sub(x, x[:, :1])                                        # shift by the first sample
            m = z.mean(dim=1)
            z.sub_(m.unsqueeze(1))                                            # I_k - Ī, eq. 6
            g = (z @ z.mT).sum(dim=1)
        else:
            buf = torch.empty((n, c, b, p), dtype=x.dtype, device=x.device)
            torch.sub(x, x[:, :1], out=buf.permute(0, 2, 1, 3))             # shift, written transposed
            m = buf.mean(dim=2)
            buf.sub_(m.unsqueeze(2))                                          # I_k - Ī, eq. 6
            z = buf.view(n, c, b * p)
            g = z @ z.mT
        ctx.save_for_backward(x, z)
        ctx.mark_non_differentiable(m)
        ctx.channels_last = False
        return g, m

    @staticmethod
    def backward(ctx, dg: torch.Tensor, _dm):
        x, z = ctx.saved_tensors
        n, b, c, p = x.shape
        last = ctx.channels_last
        sample = not last and _sample_layout(c, p)
        if torch.is_grad_enabled():                                           # double backward: Z with a graph
            y = x - x[:, :1]
            z = y - y.mean(dim=1, keepdim=True)                               # forward's centring, out of place
            if last:
                z = z.permute(0, 1, 3, 2).reshape(n, b * p, c)
            elif not sample:
                z = z.transpose(1, 2).reshape(n, c, b * p)
        s = dg + dg.mT
        if last:                                                              # Z S: the input's layout
            return (z @ s).view(n, b, p, c).permute(0, 1, 3, 2)
        if sample:
            return s.unsqueeze(1) @ z                                         # S Z_k, (B, b, C, P)
        if p >= _BATCHED_BACKWARD_MIN_P:                                      # S Z_k per sample, (B, b, C, P)
            return s.unsqueeze(1) @ z.view(n, c, b, p).transpose(1, 2)
        return (s @ z).view(n, c, b, p).transpose(1, 2).contiguous()      # one GEMM, then the layout


def _live_channels(x: torch.Tensor, n2: torch.Tensor, mean_sq: torch.Tensor) -> torch.Tensor:
    """Boolean ``(..., C)``: ``||I - Ī|| > DEAD_RTOL·eps·max|I|·sqrt(b·P)`` (the reference's dead-channel rule).

    ``x`` ``(..., b, C, P)``, ``n2`` the centred squared norms, ``mean_sq`` ``||Ī||²`` per channel. The
    exact ``max|I|`` costs two passes over ``x``; it is bracketed instead by the channel's 2-norm
    ``sqrt(n2 + b·||Ī||²)`` (``rms <= max <= 2-norm``, with a factor 2 of slack for rounding), which
    decides every channel whose centred norm is not within that bracket of the threshold (all channels
    of a trained network in practice); only if some channel is undecided is ``max|I|`` computed.
    """
    b, p = x.shape[-3], x.shape[-1]
    unit = DEAD_RTOL * torch.finfo(x.dtype).eps * math.sqrt(b * p)
    r = n2.sqrt()
    norm = (n2 + b * mean_sq).sqrt()
    live = r > 2.0 * unit * norm
    dead = (r <= (0.5 * unit / math.sqrt(b * p)) * norm) & (norm < math.inf)
    if bool((live | dead).all()):
        return live
    return r > unit * x.abs().amax(dim=(-3, -1))


def _gram_parts(x: torch.Tensor, may_rescale: bool = True):
    """``(G, n2, live, rescale)`` of ``x`` ``(..., b, C, P)``: the centred Gram matrices ``(..., C, C)``,
    their diagonals, the live-channel mask and whether the magnitudes of ``x`` call for the scaled
    recomputation of :func:`_offdiagonal`: a channel whose 2-norm overflowed, or a non-zero channel so
    small (rms below ``sqrt(tiny)/eps`` of the dtype) that its squares may have underflowed."""
    b, c, p = x.shape[-3:]
    lead = x.shape[:-3]
    g, m = _CentredGram.apply(x.reshape(-1, b, c, p))
    g = g.reshape(*lead, c, c)                                            # (..., C, C)
    n2 = g.diagonal(dim1=-2, dim2=-1)
    if x.device.type == "meta":                                           # shapes only: every channel live
        return g, n2, torch.ones(n2.shape, dtype=torch.bool, device=x.device), False
    with torch.no_grad():
        mean_sq = (x[..., 0, :, :] + m.reshape(*lead, c, p)).square().sum(dim=-1)
        norm = (n2 + b * mean_sq).sqrt()
        fi = torch.finfo(x.dtype)
        small = norm < (math.sqrt(fi.tiny) / fi.eps) * math.sqrt(b * p)
        risky, zero = torch.stack([(~(norm < math.inf) | (small & (norm > 0))).any(), (norm == 0).any()]).tolist()
        rescale = may_rescale and (risky or (zero and bool(x.movedim(-2, -3)[norm == 0].ne(0).any())))
        live = None if rescale else _live_channels(x, n2, mean_sq)
    return g, n2, live, rescale


def _offdiagonal(x: torch.Tensor, d: int, name: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """``(F with a zero diagonal, live)``: the Pearson matrix's off-diagonal entries (zero in a dead
    channel's row and column) and the ``(..., C)`` live-channel mask. Few small ops: this runs once per
    regularised stage and training step.

    Eq. 6 is invariant to rescaling a channel. Where the magnitudes would overflow or underflow the dtype
    (:func:`_gram_parts`), every channel is multiplied by a power of two near ``1/max|I|`` (exact, detached:
    the gradient is that of the unscaled expression) and the Gram matrices recomputed; elsewhere the
    result is bit for bit the unscaled one, at no extra pass."""
    c = x.shape[-(d + 1)]
    x = x.flatten(start_dim=x.ndim - d) if d > 0 else x.unsqueeze(-1)     # (..., b, C, P)
    check_alloc(name, 3 * math.prod(x.shape[:-3]) * c * c + x.numel(), x, "the C×C Gram matrices")
    g, n2, live, rescale = _gram_parts(x)
    if rescale:
        g, n2, live, _ = _gram_parts(pow2_scaled(x, (-3, -1)), may_rescale=False)
    with torch.no_grad():
        off = ~torch.eye(c, dtype=torch.bool, device=x.device)
    inv = torch.where(live, n2, torch.ones_like(n2)).rsqrt() * live      # 0 for a dead channel
    f = (g * (inv.unsqueeze(-1) * inv.unsqueeze(-2))).clamp(-1.0, 1.0)
    return f * off, live


def _pearson(x: torch.Tensor, d: int) -> torch.Tensor:
    f, live = _offdiagonal(x, d)
    eye = torch.eye(f.shape[-1], dtype=torch.bool, device=f.device)
    return torch.where(eye, live.unsqueeze(-1).to(f.dtype), f)         # diagonal: 1 live, 0 dead


def pearson_matrix(features, *, d: int) -> torch.Tensor:
    """``(..., C, C)`` Pearson matrices of ``features`` ``(..., b, C, *spatial)`` (MFD paper, eq. 6)::

        F_IJ = Σ_k <I_k - Ī, J_k - J̄> / ( sqrt(Σ_k ||I_k - Ī||²) · sqrt(Σ_k ||J_k - J̄||²) )

    ``Ī`` the batch-mean map; see :func:`theory.reference.pearson_matrix` for the policies.

    Parameters
    ----------
    features : torch.Tensor, shape (..., b, C, *spatial)
        One stage's features, ``b >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(..., C, C)``.

    Raises
    ------
    TypeError
        If ``features`` is not a real floating tensor.
    ValueError
        If ``d`` or the rank is bad, ``b < 2``, or a value is NaN or inf.

    Notes
    -----
    float16 and bfloat16 features are computed in float32 and the result is float32 (module docstring:
    float16 sums of squares overflow). Any finite magnitudes give the correlations of the same channels at
    unit scale (exact power-of-two scaling where the dtype would overflow or underflow).

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 3.0, 5.0]], dtype=torch.float64)
    >>> B.pearson_matrix(x, d=0).tolist()     # channel 2 is dead
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    d = check_feature_d(d)
    return _pearson(_features(features, d), d)


def _mean_offdiagonal(features, d, entry) -> torch.Tensor:
    """``(1/(C(C-1))) Σ_{i≠j} entry(F_ij)``, shape ``(...)``, after the argument checks."""
    d = check_feature_d(d)
    x = _features(features, d)
    _check_channels(x, d)
    return _mean_entry(x, d, entry)


def _mean_entry(x, d, entry, name="features") -> torch.Tensor:
    f, _ = _offdiagonal(x, d, name)
    c = f.shape[-1]
    return entry(f).sum(dim=(-2, -1)) / (c * (c - 1))


def mfd_loss(features, *, d: int) -> torch.Tensor:
    """MFD loss of one stage (MFD paper, eq. 5): ``Σ_{i≠j} F_ij² / (C(C-1))``, shape ``(...)``.

    Parameters
    ----------
    features : torch.Tensor, shape (..., b, C, *spatial)
        One stage's features, ``b >= 2``, ``C >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``features`` is not a real floating tensor.
    ValueError
        If ``d`` or the rank is bad, ``b < 2``, or a value is NaN or inf, or ``C < 2``.

    Notes
    -----
    float16 and bfloat16 features are computed in float32 and the result is float32 (module docstring:
    float16 sums of squares overflow). Any finite magnitudes give the correlations of the same channels at
    unit scale (exact power-of-two scaling where the dtype would overflow or underflow).

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 3.0, 5.0]], dtype=torch.float64)
    >>> B.mfd_loss(x[:, :2], d=0).item()
    0.25
    """
    return _mean_offdiagonal(features, d, torch.square)


def mean_abs_offdiagonal(features, *, d: int) -> torch.Tensor:
    """``(1/(C(C-1))) Σ_{i≠j} |F_ij|`` (the statistic of MFD paper, Tables I and III), shape ``(...)``.

    Parameters
    ----------
    features : torch.Tensor, shape (..., b, C, *spatial)
        One stage's features, ``b >= 2``, ``C >= 2``.
    d : {0, 1, 2}
        Number of spatial axes, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If ``features`` is not a real floating tensor.
    ValueError
        If ``d`` or the rank is bad, ``b < 2``, or a value is NaN or inf, or ``C < 2``.

    Notes
    -----
    float16 and bfloat16 features are computed in float32 and the result is float32 (module docstring:
    float16 sums of squares overflow). Any finite magnitudes give the correlations of the same channels at
    unit scale (exact power-of-two scaling where the dtype would overflow or underflow).

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 3.0, 5.0]], dtype=torch.float64)
    >>> B.mean_abs_offdiagonal(x[:, :2], d=0).item()
    0.5
    """
    return _mean_offdiagonal(features, d, torch.abs)


def _cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy over the sample axis, ``z`` ``(..., b, K)``, ``y`` ``(..., b)``, broadcast."""
    lead = broadcast_batch(("logits", z, 2), ("labels", y, 1))
    z = z.expand(*lead, *z.shape[-2:])
    y = y.to(z.device).expand(*lead, y.shape[-1])
    picked = z.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(z, dim=-1) - picked).mean(dim=-1)


def mfd_joint_loss(logits, labels, stages: Sequence, lam: float = 1.0, *, d: int) -> torch.Tensor:
    """Softmax loss plus ``λ Σ_s L_MFD(stage s)`` (MFD paper, eq. 7); ``logits`` ``(..., b, K)``, ``labels``
    integer ``(..., b)``, ``stages`` a list or tuple of ``(..., b, C_s, *spatial_s)``; returns ``(...)``.

    All leading axes broadcast together; the stages are promoted to a common dtype and device with
    ``logits`` (ValueError naming them when the devices differ).

    Parameters
    ----------
    logits : torch.Tensor, shape (..., b, K)
        Class scores.
    labels : torch.Tensor of int, shape (..., b)
        Classes in ``[0, K)``.
    stages : list or tuple of torch.Tensor
        Features ``(..., b, C_s, *spatial_s)``, ``C_s >= 2``; empty: the cross-entropy alone.
    lam : float, default 1.0
        ``λ``, finite.
    d : {0, 1, 2}
        Number of spatial axes of every stage, keyword-only.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``.

    Raises
    ------
    TypeError
        If a tensor is not real floating (``labels``: not integer), ``stages`` is not a list or tuple,
        or ``lam`` not a real number.
    ValueError
        If ``d``, a rank, a value, a label, a stage's batch size or channel count, or ``lam`` is bad,
        batch shapes do not broadcast or devices differ.

    Examples
    --------
    >>> import torch
    >>> from theory import batched as B
    >>> x = torch.tensor([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 3.0, 5.0]], dtype=torch.float64)
    >>> logits, labels = torch.zeros(3, 2, dtype=torch.float64), torch.tensor([0, 1, 1])
    >>> round(B.mfd_joint_loss(logits, labels, [x[:, :2]], 2.0, d=0).item(), 6)
    1.193147
    """
    d = check_feature_d(d)
    lam = check_lam(lam)
    z = real_tensor("logits", logits, 2, "b, K")
    y = int_labels(labels, z.shape[-2], z.shape[-1])
    if isinstance(stages, torch.Tensor) or not isinstance(stages, Sequence):
        raise TypeError(f"stages: expected a list or tuple of feature arrays, got {type(stages).__name__}")
    xs = {}
    for s, stage in enumerate(stages):
        name = f"stages[{s}]"
        x = _features(stage, d, name=name)
        if x.shape[-(d + 2)] != z.shape[-2]:
            raise ValueError(f"{name}: expected the batch size b = {z.shape[-2]} of logits, got shape {tuple(x.shape)}")
        _check_channels(x, d, name=name)
        xs[name] = x
    z, *stage_ts = harmonise(logits=z, **xs)
    broadcast_batch(("logits", z, 2), ("labels", y, 1), *((n, x, d + 2) for n, x in zip(xs, stage_ts)))
    total = _cross_entropy(z, y)
    if stage_ts:
        total = total + lam * sum(_mean_entry(x, d, torch.square, n) for n, x in zip(xs, stage_ts))
    return finite_result("logits and lam", total)
