"""Bad inputs of the correlation, identity and similarity operations (``error_inputs`` of the registry).

One generator per registry entry of :mod:`theory._opinfo_conv`; each yields
:class:`~theory.opinfo.ErrorInput` cases, run against the reference and the twin by the error test.
Arrays are NumPy (the twin gets float64 tensors); cases for one world say so with ``only``.
"""

from __future__ import annotations

import math

import numpy as np

from .opinfo import ErrorInput as E

TWIN, REF = "twin", "reference"


def arr(*shape, fill=None) -> np.ndarray:
    """A float64 array of ``shape``: distinct values in ``[0.1, 1]``, or ``fill`` everywhere."""
    n = math.prod(shape)
    out = np.linspace(0.1, 1.0, n).reshape(shape) if n else np.zeros(shape)
    return out if fill is None else np.full(shape, float(fill))


def nan_at(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.reshape(-1)[-1] = np.nan
    return a


def inf_at(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.reshape(-1)[0] = np.inf
    return a


def d_cases(*args, **kwargs):
    """``d`` outside {1, 2} (3, True, 0)."""
    for d in (3, True, 0):
        yield E(args, {**kwargs, "d": d}, ValueError, r"^d: expected", f"d={d!r}")


X1, K1 = np.linspace(0.0, 1.0, 8), np.array([0.5, -1.0, 0.25])


def _correlate_errors():
    yield from d_cases(arr(5), arr(3))
    yield E((arr(5), arr(3, 3)), {"d": 2}, ValueError, r"^x: expected shape", "x rank")
    yield E((arr(5), np.array(1.0)), {"d": 1}, ValueError, r"^k: expected shape", "k rank")
    yield E((arr(5, 5), np.array(1.0)), {"d": 1}, ValueError, r"^k: expected shape", "k rank, x batched", TWIN)
    yield E((X1[None], K1), {"d": 1}, ValueError, "x: expected shape", "x with an extra axis", REF)
    yield E((X1, K1[None]), {"d": 1}, ValueError, "k: expected shape", "k with an extra axis", REF)
    yield E((np.zeros(0), K1), {"d": 1}, ValueError, r"^x: every axis", "empty x")
    yield E((arr(0, 5), arr(3)), {"d": 1}, ValueError, r"^x: every axis", "empty batch axis", TWIN)
    yield E((arr(2, 5), arr(3, 3)), {"d": 1}, ValueError, r"x and k: .*do not broadcast", "batch shapes", TWIN)
    for pad, exc, match in [("circular", ValueError, r"^padding: unknown mode"),
                            (3, ValueError, r"^padding .*\[0, N-1\] = \[0, 2\]"),
                            (-1, ValueError, r"^padding .*\[0, N-1\]"),
                            ((0, 5), ValueError, r"^padding .*\[0, N-1\]"),
                            (1.5, TypeError, r"^padding"), (True, TypeError, r"^padding"),
                            ((1, 2, 3), TypeError, r"^padding")]:
        yield E((X1, K1, pad), {"d": 1}, exc, match, f"padding={pad!r}")
    yield E((arr(5, 5), arr(1, 3), ((0, 1), (1, 1))), {"d": 2}, ValueError, r"^padding \(axis 0 of 2",
            "per-axis padding out of range")
    yield E((arr(2), arr(3), "valid"), {"d": 1}, ValueError, r"^padding .*leave no output", "valid, N > M")
    yield E((np.ones(2), np.ones(4), "valid"), {"d": 1}, ValueError, "leave no output", "valid, N = 2M")
    yield E((X1 + 1j, K1), {"d": 1}, TypeError, r"^x: expected a real.*complex128", "complex x")
    yield E((np.array(["a", "b"]), K1), {"d": 1}, TypeError, r"^x: expected a real", "string x", REF)
    yield E((arr(5), np.ones(3, dtype=np.int64)), {"d": 1}, TypeError, r"^k: .*int64", "integer k", TWIN)
    yield E((np.r_[X1, np.nan], K1), {"d": 1}, ValueError, r"^x: expected finite", "NaN in x")
    yield E((X1, np.r_[K1, np.inf]), {"d": 1}, ValueError, r"^k: expected finite", "inf in k")
    yield E((arr(5), arr(3)), {"d": 1}, ValueError, r"^x and k: expected tensors on the same device",
            "k on another device", TWIN, other_device=(1,))


def _crosscorrelation_errors():
    yield from d_cases(arr(3), arr(4))
    for lag, desc in ((-1, "negative"), (1.5, "fractional"), (True, "bool"), ((1, 2), "two for d=1"),
                      (math.nan, "NaN"), (2.0, "an int-valued float"), (1e300, "1e300 (OverflowError before)"),
                      (10 ** 12, "more lags than the memory cap")):
        yield E((X1, X1, lag), {"d": 1}, ValueError, r"^max_lag", f"max_lag {desc}")
    yield E((arr(4, 4), arr(4, 4), (1, 2, 3)), {"d": 2}, ValueError, r"^max_lag", "max_lag three for d=2")
    yield E((arr(3), arr(2, 2)), {"d": 1}, ValueError, r"^b: expected shape", "b rank", REF)
    yield E((arr(3), nan_at(arr(4, 3))), {"d": 1}, ValueError, r"^b: expected finite", "NaN in batched b", TWIN)
    yield E((arr(3), nan_at(arr(3))), {"d": 1}, ValueError, r"^b: expected finite", "NaN in b")
    yield E(([1.0, 2.0], arr(2)), {"d": 1}, TypeError, r"^a: expected a torch.Tensor", "a list", TWIN)


def _kernel_crosscorrelation_errors():
    yield from d_cases(arr(3), arr(3))
    yield E((K1, K1[:2]), {"d": 1}, ValueError, r"^k1 and k2", "shapes differ")
    yield E((arr(3, 2), arr(2, 3)), {"d": 2}, ValueError, r"^k1 and k2", "2-D shapes differ")
    yield E((arr(3), inf_at(arr(3))), {"d": 1}, ValueError, r"^k2: expected finite", "inf in k2")


def _autocorrelation_errors():
    yield from d_cases(arr(5), 1)
    yield E((arr(5), -1), {"d": 1}, ValueError, r"^max_lag", "negative max_lag")
    yield E((arr(5, 5), (1, 1, 1)), {"d": 2}, ValueError, r"^max_lag", "max_lag three for d=2")
    yield E((arr(2, 2), 1), {"d": 1}, ValueError, r"^x: expected shape", "x rank", REF)


def _channel_crosscorrelation_errors():
    yield from d_cases(arr(2, 5), 1)
    yield E((arr(4, 4), 1), {"d": 2}, ValueError, r"^x: expected shape", "x rank")
    yield E((arr(2, 5), True), {"d": 1}, ValueError, r"^max_lag", "bool max_lag")
    yield E((nan_at(arr(2, 5)), 1), {"d": 1}, ValueError, r"^x: expected finite", "NaN in x")


def _feature_maps_errors():
    yield from d_cases(arr(2, 6), arr(3, 2, 3))
    yield E((arr(2, 5), arr(2, 3)), {"d": 1}, ValueError, r"^weight: expected shape", "weight rank")
    yield E((np.ones((2, 8)), np.ones((3, 3))), {"d": 1}, ValueError, r"^weight: expected shape", "weight rank 2")
    yield E((arr(5), arr(1, 1, 3)), {"d": 1}, ValueError, r"^x: expected shape", "x rank")
    yield E((arr(3, 6), arr(2, 2, 3)), {"d": 1}, ValueError, r"^weight and x", "channels differ")
    yield E((np.ones((2, 8)), np.ones((3, 1, 3))), {"d": 1}, ValueError, r"^weight and x", "C = 1 vs 2")
    yield E((arr(1, 5), arr(2, 1, 3), (-1, 0)), {"d": 1}, ValueError, r"^padding", "negative pad")
    yield E((nan_at(arr(2, 6)), arr(3, 2, 3)), {"d": 1}, ValueError, r"^x: expected finite", "NaN in x")


def _lags_errors():
    for args, match in [((0,), r"^size_a"), ((2.5,), r"^size_a"), ((True,), r"^size_a"), ((3, 0), r"^size_b"),
                        ((3, None, -1), r"^max_lag"), ((3, None, 1.5), r"^max_lag"), ((3, None, 2.0), r"^max_lag"),
                        (("3",), r"^size_a"), ((3, None, 10 ** 12), r"^max_lag: .*GiB")]:
        yield E(args, {}, ValueError, match, f"lags{args}")


# ---------------------------------------------------------------- identity

def _triplet_errors(padded: bool):
    p = ("full",) if padded else ()
    yield from d_cases(arr(1, 5), arr(1, 3), arr(1, 3), *p)
    yield E((arr(2, 5), arr(2, 3), arr(3), *p), {"d": 1}, ValueError, r"^k2: expected shape", "k2 rank")
    yield E((arr(3, 6), arr(2, 3), arr(2, 3), *p), {"d": 1}, ValueError, r"^k1 and x", "channels differ")
    yield E((np.ones((2, 8)), np.ones((1, 3)), np.ones((1, 3)), *p), {"d": 1}, ValueError, r"^k1 and x",
            "C = 1 vs 2")
    yield E((arr(2, 6), arr(2, 3), arr(2, 2), *p), {"d": 1}, ValueError, r"^k1 and k2", "kernel shapes differ")
    yield E((arr(1, 5), arr(1, 3), nan_at(arr(1, 3)), *p), {"d": 1}, ValueError, r"^k2: expected finite",
            "NaN in k2")
    yield E((arr(2, 1, 5), arr(3, 1, 3), arr(1, 3), *p), {"d": 1}, ValueError,
            r"^x and k1 and k2: .*do not broadcast", "batch shapes", TWIN)
    yield E((arr(1, 5), arr(1, 3), arr(1, 3), *p), {"d": 1}, ValueError, r"^x and k2: .*same device",
            "k2 on another device", TWIN, other_device=(2,))
    if padded:
        yield E((arr(1, 2), arr(1, 3), arr(1, 3), "valid"), {"d": 1}, ValueError, r"^padding .*no output",
                "valid, N > M")
        yield E((np.ones((1, 2)), np.ones((1, 4)), np.ones((1, 4)), 0), {"d": 1}, ValueError, "leave no output",
                "P = 0, N = 2M")
        for pad in (5, 7):
            yield E((arr(1, 8), arr(1, 3), arr(1, 3), pad), {"d": 1}, ValueError, r"^padding", f"padding={pad}")


def _padded_triplet_errors():
    yield from _triplet_errors(True)


def _triplet_errors_unpadded():
    yield from _triplet_errors(False)


# ---------------------------------------------------------------- similarity

def _kernel_pair_errors():
    yield from d_cases(arr(2, 3), arr(2, 3))
    yield E((arr(3), arr(1, 3)), {"d": 1}, ValueError, r"^k1: expected shape", "k1 rank")
    yield E((arr(2, 3), arr(3, 3)), {"d": 1}, ValueError, r"^k1 and k2", "channels differ")
    yield E((np.ones((1, 3), dtype=bool), arr(1, 3)), {"d": 1}, TypeError, r"^k1: expected a real floating",
            "bool k1", TWIN)
    yield E((arr(1, 3), arr(1, 3)), {"d": 1}, ValueError, r"^k1 and k2: .*same device", "k2 on another device",
            TWIN, other_device=(1,))


def _kernel_cosine_errors():
    yield from _kernel_pair_errors()
    yield E((arr(1, 3, fill=0), arr(1, 3)), {"d": 1}, ValueError, r"^k1: .*zero kernel", "zero k1")
    yield E((arr(2, 3), arr(2, 3, fill=0)), {"d": 1}, ValueError, r"^k2: .*zero kernel", "zero k2")
    yield E((arr(1, 3), np.stack([arr(1, 3), arr(1, 3, fill=0)])), {"d": 1}, ValueError, r"^k2: .*zero kernel",
            "a zero k2 in the batch", TWIN)


def _fft_errors():
    yield from _kernel_pair_errors()
    yield E((arr(1, 3), arr(1, 3)), {"d": 1, "size": 4}, ValueError, r"^size: expected a DFT size >= 2N-1",
            "size 4 < 2N-1 = 5")
    yield E((arr(1, 3, 3), arr(1, 3, 3)), {"d": 2, "size": (5,)}, ValueError, r"^size", "one size for d=2")
    yield E((np.ones((1, 3)), np.ones((1, 3))), {"d": 1, "size": (5, 5)}, ValueError, r"^size", "two for d=1")
    yield E((arr(1, 3), arr(1, 3)), {"d": 1, "size": 7.5}, TypeError, r"^size", "fractional size")
    yield E((arr(1, 3), arr(1, 3)), {"d": 1, "size": True}, TypeError, r"^size", "bool size")


def _weight_errors():
    yield from d_cases(arr(2, 1, 3))
    yield E((arr(2, 3),), {"d": 1}, ValueError, r"^weight: expected shape", "weight rank")
    yield E((np.full((2, 1, 3), np.nan),), {"d": 1}, ValueError, r"^weight: expected finite", "NaN weight")
    yield E((inf_at(arr(2, 2, 3)),), {"d": 1}, ValueError, r"^weight: expected finite", "inf in weight")
    yield E((np.ones((2, 1, 3)),), {"d": 1}, TypeError, r"^weight: expected a torch.Tensor", "a NumPy weight",
            TWIN, raw=(0,))


def _normalized_errors():
    yield from _weight_errors()
    w = np.ones((2, 1, 3))
    w[1] = 0.0
    yield E((w,), {"d": 1}, ValueError, r"^weight: .*zero", "a zero kernel")


def _fast_errors():
    yield from _weight_errors()
    yield E((arr(2, 1, 3),), {"d": 1, "method": "svd"}, ValueError, r"^method", "unknown method", TWIN)


ERRORS = {
    "correlate": _correlate_errors, "convolve": _correlate_errors, "crosscorrelation": _crosscorrelation_errors,
    "kernel_crosscorrelation": _kernel_crosscorrelation_errors, "autocorrelation": _autocorrelation_errors,
    "channel_crosscorrelation": _channel_crosscorrelation_errors, "feature_maps": _feature_maps_errors,
    "lags": _lags_errors,
    "feature_inner_product": _padded_triplet_errors, "edge_terms": _padded_triplet_errors,
    "identity_inner_product": _padded_triplet_errors, "correlation_terms": _triplet_errors_unpadded,
    "lag_decomposition": _triplet_errors_unpadded,
    "kernel_inner_product": _kernel_pair_errors, "kernel_cosine": _kernel_cosine_errors,
    "crosscorrelation_energy": _kernel_pair_errors, "crosscorrelation_energy_fft": _fft_errors,
    "conv_similarity_matrix": _weight_errors, "conv_similarity": _weight_errors,
    "kernel_autocorrelation_sum": _weight_errors, "conv_similarity_normalized": _normalized_errors,
    "conv_similarity_fast": _fast_errors,
}
