"""Input coercion for the NumPy references: real, finite, float64 arrays; integer labels."""

from __future__ import annotations

import numpy as np

from .._validate import check_positive_sizes, check_rank


def as_real(name: str, value, rank: int | None = None, what: str = "") -> np.ndarray:
    """``value`` as a float64 array; TypeError if not real numeric, ValueError if not finite or badly shaped."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if rank is not None:
        check_rank(name, arr.shape, rank, what)
    check_positive_sizes(name, arr.shape)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return arr


def int_labels(labels, b: int, k: int, name: str = "labels") -> np.ndarray:
    """``labels`` as int64 ``(b,)`` in ``[0, k)``: TypeError if not integer, ValueError otherwise."""
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    if y.shape != (b,):
        raise ValueError(f"{name}: expected shape ({b},), one label per sample, got shape {y.shape}")
    if np.any(y < 0) or np.any(y >= k):
        raise ValueError(f"{name}: expected labels in [0, {k}), got values in [{y.min()}, {y.max()}]")
    return y.astype(np.int64)
