"""Private helpers of the batched twins: tensor argument checks and one batched correlation primitive.

Shape convention: an argument is ``(*batch, *core)`` where the core rank is fixed by ``d`` (as in the
NumPy reference) and the leading batch axes broadcast against those of the other arguments.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import check_positive_sizes, check_rank


def real_tensor(name: str, value, rank: int, what: str) -> torch.Tensor:
    """``value`` must be a finite real floating tensor with at least ``rank`` axes (the core ones last).

    TypeError for a non-tensor, an integer/bool or a complex dtype; ValueError for a bad rank, an empty
    axis or a NaN/inf (the references' policy).
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.is_complex() or not value.is_floating_point():
        raise TypeError(f"{name}: expected a real floating tensor (e.g. float32 or float64), got dtype {value.dtype}")
    check_rank(name, value.shape, rank, what, batched=True)
    check_positive_sizes(name, value.shape)
    if value.device.type != "meta" and not all_finite(value):   # meta: shapes only
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return value


def all_finite(value: torch.Tensor) -> bool:
    """True iff every entry is finite. One reduction: a NaN or inf anywhere makes the sum non-finite;
    only when the sum overflows (or is non-finite) is the elementwise check run."""
    with torch.no_grad():
        if math.isfinite(float(value.sum())):
            return True
        return bool(torch.isfinite(value).all())


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def int_labels(labels, b: int, k: int, name: str = "labels") -> torch.Tensor:
    """``labels`` as an int64 tensor ``(..., b)`` in ``[0, k)``; TypeError if not an integer tensor."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(labels).__name__}")
    y = labels
    if y.dtype not in _INT_DTYPES:
        raise TypeError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    if y.ndim < 1 or y.shape[-1] != b:
        raise ValueError(f"{name}: expected shape (..., {b}), one label per sample, got shape {tuple(y.shape)}")
    if bool((y < 0).any()) or bool((y >= k).any()):
        raise ValueError(f"{name}: expected labels in [0, {k}), got values in [{int(y.min())}, {int(y.max())}]")
    return y.long()


def harmonise(**named: torch.Tensor) -> list[torch.Tensor]:
    """Same device for all (else ValueError naming them); promote to the common floating dtype."""
    items = list(named.items())
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.device != t0.device:
            raise ValueError(f"{name0} and {name}: expected tensors on the same device, "
                             f"got {t0.device} and {t.device}")
    dtype = t0.dtype
    for _, t in items[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for _, t in items]


def batch_of(t: torch.Tensor, core: int) -> torch.Size:
    return t.shape[:t.dim() - core]


def broadcast_shapes(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` without its first-call cost (it imports ``torch._refs`` and sympy, ~0.7 s);
    RuntimeError when the shapes do not broadcast, as torch raises."""
    try:
        return torch.Size(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError as err:
        raise RuntimeError(str(err)) from None


def broadcast_batch(*specs: tuple[str, torch.Tensor, int]) -> torch.Size:
    """Broadcast the batch shapes of ``(name, tensor, core_rank)`` triples; ValueError naming them if impossible."""
    shapes = [batch_of(t, core) for _, t, core in specs]
    try:
        return broadcast_shapes(*shapes)
    except RuntimeError:
        names = " and ".join(n for n, _, _ in specs)
        raise ValueError(f"{names}: leading batch shapes {', '.join(str(tuple(s)) for s in shapes)} "
                         "do not broadcast") from None


def expand_batch(t: torch.Tensor, batch, core: int) -> torch.Tensor:
    return t.expand(*batch, *t.shape[t.dim() - core:])


def pad(t: torch.Tensor, pads) -> torch.Tensor:
    """Zero-pad the last ``len(pads)`` axes by ``(left, right)`` each; a negative pad crops."""
    flat = [p for lo_hi in reversed(tuple(pads)) for p in lo_hi]
    return F.pad(t, flat) if any(flat) else t


def conv(x: torch.Tensor, w: torch.Tensor, d: int) -> torch.Tensor:
    """Batched multi-channel valid correlation ``out[s] = Σ_c w[s, c] ⋆ x[c]`` (CS paper, eq. 1b, no padding).

    ``x`` is ``(*Bx, C, *sp)``, ``w`` is ``(*Bw, S, C, *k)``; result ``(*B, S, *out)`` with ``B`` the
    broadcast of ``Bx`` and ``Bw``, ``out = sp - k + 1``. Entry ``out[s][i] = Σ_{c,n} w[s,c][n]·x[c][i+n]``.
    A shared weight is one conv call batched over the conv's batch axis; a shared input is one conv call
    with the weights stacked as output channels. When both are batched, sliding windows (``unfold``, a
    view) are contracted with the weights in one ``einsum`` that broadcasts the batch axes: one batched
    matmul, where a conv with the batch folded into groups would run one small kernel per group (and the
    CPU float64 path does exactly that, with one thread hand-off per group).
    """
    convf = F.conv1d if d == 1 else F.conv2d
    bx, bw = batch_of(x, d + 1), batch_of(w, d + 2)
    batch = broadcast_shapes(bx, bw)
    c, sp = x.shape[-d - 1], x.shape[-d:]
    s, ks = w.shape[-d - 2], w.shape[-d:]
    n = math.prod(batch)
    if math.prod(bw) == 1:
        out = convf(x.expand(*batch, c, *sp).reshape(n, c, *sp), w.reshape(s, c, *ks))
        return out.reshape(*batch, s, *out.shape[-d:])
    if math.prod(bx) == 1:
        out = convf(x.reshape(1, c, *sp), w.expand(*batch, s, c, *ks).reshape(n * s, c, *ks))
        return out.reshape(*batch, s, *out.shape[-d:])
    windows = x
    for a, kn in enumerate(ks):       # (*Bx, C, *out, *k): windows[..., c, i, n] = x[..., c, i + n]
        windows = windows.unfold(x.dim() - d + a, kn, 1)
    if d == 1:
        return torch.einsum("...coa,...sca->...so", windows, w)
    return torch.einsum("...cijab,...scab->...sij", windows, w)


def lag_pads(a_core, b_core, ranges) -> tuple[tuple[int, int], ...]:
    """Pads of ``b`` so that a valid correlation with weight ``a`` yields the lags ``ranges`` (lowest first).

    Output index ``i`` is lag ``n = i - left``, so ``left = -lo``; the right pad makes the output
    ``len(range)`` long (negative: crop ``b`` where no requested lag can reach).
    """
    pads = []
    for na, nb, r in zip(a_core, b_core, ranges):
        left = -r.start
        pads.append((left, len(r) - 1 + na - nb - left))
    return tuple(pads)


def pairwise_crosscorrelation(a: torch.Tensor, b: torch.Tensor, ranges, d: int) -> torch.Tensor:
    """``R[ca, cb][n] = Σ_m a[ca][m]·b[cb][m+n]`` for every channel pair, lags ``ranges`` per axis.

    ``a`` is ``(*Ba, Ca, *Na)``, ``b`` is ``(*Bb, Cb, *Nb)``; result ``(*B, Ca, Cb, *len(ranges))``.
    """
    bp = pad(b, lag_pads(a.shape[-d:], b.shape[-d:], ranges))
    # b's channels become a batch axis (one input channel each), a's channels the output channels.
    out = conv(bp.unsqueeze(-d - 1), a.unsqueeze(-d - 1).unsqueeze(-d - 3), d)   # (*B, Cb, Ca, *lags)
    return out.transpose(-d - 2, -d - 1)


def full_ranges(a_core, b_core):
    return [range(1 - na, nb) for na, nb in zip(a_core, b_core)]
