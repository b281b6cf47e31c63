"""Private helpers of the batched twins: tensor argument checks and one batched correlation primitive.

Shape convention: an argument is ``(*batch, *core)`` where the core rank is fixed by ``d`` (as in the
NumPy reference) and the leading batch axes broadcast against those of the other arguments.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import NonFiniteError, check_memory, check_positive_sizes, check_rank

#: Floating dtypes computed in float32 (their sums of products overflow or lose all precision otherwise).
LOW_PRECISION = (torch.float16, torch.bfloat16)


def upcast(value: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32 (differentiable: the gradient flows back in the input's dtype)."""
    return value.float() if value.dtype in LOW_PRECISION else value


def real_tensor(name: str, value, rank: int, what: str) -> torch.Tensor:
    """``value`` must be a finite real floating tensor with at least ``rank`` axes (the core ones last).

    TypeError for a non-tensor, an integer/bool or a complex dtype; ValueError for a bad rank, an empty
    axis or a NaN/inf (the references' policy). A float16 or bfloat16 tensor is returned as float32: the
    twins compute low-precision input in float32 and return float32.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.is_complex() or not value.is_floating_point():
        raise TypeError(f"{name}: expected a real floating tensor (e.g. float32 or float64), got dtype {value.dtype}")
    check_rank(name, value.shape, rank, what, batched=True)
    check_positive_sizes(name, value.shape)
    check_alloc(name, 2 * value.numel(), value, "copies of the input (every twin writes at least one result or "
                "intermediate of its size)", itemsize=4 if value.dtype in LOW_PRECISION else None)
    if value.device.type != "meta" and not all_finite(value):   # meta: shapes only
        raise NonFiniteError(f"{name}: expected finite values, found NaN or inf")
    return upcast(value)


def device_memory(device: torch.device) -> int | None:
    """What the memory cap is measured against on ``device``: host memory for the CPU (None: the
    default of :func:`theory._validate.memory_cap`), the total memory of a CUDA device."""
    if device.type == "cuda":
        return _cuda_total(device.index if device.index is not None else torch.cuda.current_device())
    return None


@functools.lru_cache(maxsize=16)
def _cuda_total(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).total_memory)


def check_alloc(name: str, elements, like: torch.Tensor, what: str, itemsize: int | None = None) -> None:
    """ValueError naming ``name`` when ``elements`` values of ``like``'s dtype (or of ``itemsize`` bytes) exceed
    the memory cap of its device (nothing is checked for ``meta`` tensors, which allocate nothing)."""
    if like.device.type == "meta":
        return
    nbytes = int(elements) * (like.element_size() if itemsize is None else itemsize)
    if nbytes > 2 ** 20:
        check_memory(name, nbytes, what, available=device_memory(like.device))


def finite_result(names: str, out):
    """``out`` (a tensor or a tuple of tensors) if every entry is finite, else a ValueError naming ``names``:
    the inputs are finite (checked), so the result or an intermediate overflowed its dtype."""
    items = out if isinstance(out, tuple) else (out,)
    if any(t.device.type != "meta" and not all_finite(t) for t in items):
        dtype = items[0].dtype
        raise NonFiniteError(f"{names}: the result overflows {str(dtype).removeprefix('torch.')} (inf or NaN from "
                         "finite inputs); rescale the input" + (" or use float64" if dtype != torch.float64 else ""))
    return out


def pow2_scaled(t: torch.Tensor, dims) -> torch.Tensor:
    """``t`` times ``2^-e`` over ``dims``, ``max|t| = m·2^e`` with ``m ∈ [0.5, 1)`` there (1 where ``t`` is zero).

    Exact: only exponents change (the factor is applied as two powers of two, so that it is representable
    even for subnormal or near-overflow maxima), and detached (a scale-invariant quantity of the result has
    the gradient of the unscaled one). A scale-invariant quantity of the result equals that of ``t`` bit for
    bit wherever ``t`` neither overflows nor underflows, and stays correct where it would."""
    with torch.no_grad():
        _, e = torch.frexp(t.abs().amax(dim=dims, keepdim=True))
        one = torch.ones(e.shape, dtype=t.dtype, device=t.device)
        lo = torch.div(-e, 2, rounding_mode="floor")
        f1, f2 = torch.ldexp(one, lo), torch.ldexp(one, -e - lo)
    return t * f1 * f2


def check_device(device) -> torch.device | None:
    """``device`` as a ``torch.device`` (None stays None); ValueError naming ``device`` for a string torch
    cannot parse or a device this machine does not have (e.g. ``'cuda'`` without CUDA), TypeError for a
    value that is not a str, an int or a ``torch.device``."""
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(f"device: expected a str, an int or a torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device: {device!r} is not a device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} asks for CUDA, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device: {device!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    try:
        torch.empty(0, device=dev)
    except Exception as exc:                      # noqa: BLE001 - any backend refusal is the device's fault
        raise ValueError(f"device: {device!r} is not available here ({type(exc).__name__}: {exc})") from None
    return dev


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
    if y.device.type != "meta" and (bool((y < 0).any()) or bool((y >= k).any())):
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
    names = " and ".join(n for n, _, _ in specs)
    try:
        batch = broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"{names}: leading batch shapes {', '.join(str(tuple(s)) for s in shapes)} "
                         "do not broadcast") from None
    n = math.prod(batch)
    if n > 1:          # every twin materialises at least one argument expanded to the broadcast batch
        core = max(math.prod(t.shape[t.dim() - c:]) for _, t, c in specs)
        check_alloc(names, n * core, specs[0][1], f"the broadcast batch {tuple(batch)}")
    return batch


def expand_batch(t: torch.Tensor, batch, core: int) -> torch.Tensor:
    return t.expand(*batch, *t.shape[t.dim() - core:])


def pad(t: torch.Tensor, pads) -> torch.Tensor:
    """Zero-pad the last ``len(pads)`` axes by ``(left, right)`` each; a negative pad crops."""
    flat = [p for lo_hi in reversed(tuple(pads)) for p in lo_hi]
    return F.pad(t, flat) if any(flat) else t


def conv_elements(x_shape, w_shape, d: int) -> int:
    """Values :func:`conv` allocates for ``x`` ``(*Bx, C, *sp)`` and ``w`` ``(*Bw, S, C, *k)``: the output,
    and the expanded input, weights or sliding windows it copies."""
    bx, bw = math.prod(x_shape[:-d - 1]), math.prod(w_shape[:-d - 2])
    n = math.prod(np.broadcast_shapes(tuple(x_shape[:-d - 1]), tuple(w_shape[:-d - 2])))
    c, sp = x_shape[-d - 1], x_shape[-d:]
    s, ks = w_shape[-d - 2], w_shape[-d:]
    out = math.prod(max(m - k + 1, 0) for m, k in zip(sp, ks))
    if bw == 1:
        copy = n * c * math.prod(sp) if n != bx else 0
    elif bx == 1:
        copy = n * s * c * math.prod(ks) if n != bw else 0
    else:
        copy = n * c * out * math.prod(ks)
    return n * s * out + copy


def conv(x: torch.Tensor, w: torch.Tensor, d: int, name: str = "x and weight") -> torch.Tensor:
    """Batched multi-channel valid correlation ``out[s] = Σ_c w[s, c] ⋆ x[c]`` (CS paper, eq. 1b, no padding).

    ``x`` is ``(*Bx, C, *sp)``, ``w`` is ``(*Bw, S, C, *k)``; result ``(*B, S, *out)`` with ``B`` the
    broadcast of ``Bx`` and ``Bw``, ``out = sp - k + 1``. Entry ``out[s][i] = Σ_{c,n} w[s,c][n]·x[c][i+n]``.
    A shared weight is one conv call batched over the conv's batch axis; a shared input is one conv call
    with the weights stacked as output channels. Over the memory cap (:func:`conv_elements`): a ValueError
    naming ``name``. When both are batched, sliding windows (``unfold``, a
    view) are contracted with the weights in one ``einsum`` that broadcasts the batch axes: one batched
    matmul, where a conv with the batch folded into groups would run one small kernel per group (and the
    CPU float64 path does exactly that, with one thread hand-off per group).
    """
    check_alloc(name, conv_elements(x.shape, w.shape, d), x, "the correlation's output and copies")
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


def pairwise_crosscorrelation(a: torch.Tensor, b: torch.Tensor, ranges, d: int, name: str = "a and b",
                               factor: int = 1) -> torch.Tensor:
    """``R[ca, cb][n] = Σ_m a[ca][m]·b[cb][m+n]`` for every channel pair, lags ``ranges`` per axis.

    ``a`` is ``(*Ba, Ca, *Na)``, ``b`` is ``(*Bb, Cb, *Nb)``; result ``(*B, Ca, Cb, *len(ranges))``. Before
    padding, the padded ``b`` and ``factor`` results of this size are held to the memory cap (a ValueError
    naming ``name``).
    """
    pads = lag_pads(a.shape[-d:], b.shape[-d:], ranges)
    padded = math.prod(batch_of(b, d + 1)) * b.shape[-d - 1] * math.prod(
        max(nb + lo + hi, 0) for nb, (lo, hi) in zip(b.shape[-d:], pads))
    n = math.prod(np.broadcast_shapes(tuple(batch_of(a, d + 1)), tuple(batch_of(b, d + 1))))
    result = n * a.shape[-d - 1] * b.shape[-d - 1] * math.prod(len(r) for r in ranges)
    check_alloc(name, padded + (factor + 1) * result, a, "the lagged correlations")
    bp = pad(b, pads)
    # b's channels become a batch axis (one input channel each), a's channels the output channels.
    out = conv(bp.unsqueeze(-d - 1), a.unsqueeze(-d - 1).unsqueeze(-d - 3), d, name)   # (*B, Cb, Ca, *lags)
    return out.transpose(-d - 2, -d - 1)


def full_ranges(a_core, b_core):
    return [range(1 - na, nb) for na, nb in zip(a_core, b_core)]
