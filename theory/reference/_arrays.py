"""Input coercion for the NumPy references: real, finite, float64 arrays; integer labels; finite results.

Any real numeric dtype is accepted and converted to float64 (bool, integers, and float16/float32: a float16
array is computed in float64, exactly as its float64 copy). A ``torch.Tensor`` is accepted as array_like:
it is detached and copied to the CPU (this module does not import torch; the tensor is read through its own
methods), so a tensor that requires grad or lives on a GPU gives the same result as its values; a ``meta``
tensor, which has no values, is a TypeError naming the argument.
"""

from __future__ import annotations

import numpy as np

from .._validate import NonFiniteError, check_memory, check_positive_sizes, check_rank


def _is_torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "device")


def to_numpy(name: str, value) -> np.ndarray:
    """``np.asarray(value)``; a torch tensor is detached and copied to the CPU first. TypeError naming ``name``
    for a meta tensor, ValueError for a ragged nested sequence."""
    if _is_torch_tensor(value):
        if value.device.type == "meta":
            raise TypeError(f"{name}: a meta tensor has no values; pass a NumPy array (or a tensor with values)")
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":             # NumPy has no bfloat16: exact in float32
            t = t.float()
        return t.numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: expected a rectangular array of numbers, got {type(value).__name__} ({exc})") \
            from None


def as_real(name: str, value, rank: int | None = None, what: str = "") -> np.ndarray:
    """``value`` as a float64 array; TypeError if not real numeric, ValueError if not finite or badly shaped."""
    arr = to_numpy(name, value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    check_memory(name, arr.size * (9 if arr.dtype != np.float64 else 17),
                 "the float64 copies of the input (the references copy their inputs a few times)")
    arr = arr.astype(np.float64, copy=False)
    if rank is not None:
        check_rank(name, arr.shape, rank, what)
    check_positive_sizes(name, arr.shape)
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{name}: expected finite values, found NaN or inf")
    return arr


def int_labels(labels, b: int, k: int, name: str = "labels") -> np.ndarray:
    """``labels`` as int64 ``(b,)`` in ``[0, k)``: TypeError if not integer, ValueError otherwise."""
    y = to_numpy(name, labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    if y.shape != (b,):
        raise ValueError(f"{name}: expected shape ({b},), one label per sample, got shape {y.shape}")
    if np.any(y < 0) or np.any(y >= k):
        raise ValueError(f"{name}: expected labels in [0, {k}), got values in [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def check_alloc(name: str, elements, what: str, itemsize: int = 8) -> None:
    """ValueError naming ``name`` when ``elements`` float64 values exceed the memory cap (host memory)."""
    check_memory(name, int(elements) * itemsize, what)


def finite(names: str, value):
    """``value`` (a float, an array or a tuple of them) if every entry is finite, else a ValueError naming
    ``names``: the inputs are finite (checked), so the result or an intermediate overflowed float64."""
    items = value if isinstance(value, tuple) else (value,)
    if not all(np.all(np.isfinite(v)) for v in items):
        raise NonFiniteError(f"{names}: the result overflows float64 (inf or NaN from finite inputs); "
                         "rescale the input")
    return value


def pow2_scaled(a: np.ndarray, axis=-1) -> tuple[np.ndarray, np.ndarray]:
    """``(a·2^-e, zero)``: every slice along ``axis`` divided by the power of two ``2^e`` with
    ``max|slice| = m·2^e``, ``m ∈ [0.5, 1)`` (exact: only exponents change), and the mask of the
    slices that are exactly zero. Scale-invariant quantities (cosines, correlations) computed from the
    scaled slices equal those of ``a`` bit for bit where ``a`` neither overflows nor underflows, and
    stay correct where it would: any finite non-zero slice has a representable norm after scaling."""
    peak = np.max(np.abs(a), axis=axis, keepdims=True)
    _, e = np.frexp(peak)
    return np.ldexp(a, -e), np.squeeze(peak == 0, axis=axis)
