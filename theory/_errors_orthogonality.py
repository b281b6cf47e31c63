"""Bad inputs of the kernel-orthogonality baselines and DeCov (``error_inputs`` of
:mod:`theory._opinfo_orthogonality`)."""

from __future__ import annotations

import numpy as np

from ._errors_conv import TWIN
from .opinfo import ErrorInput as E

W = np.arange(1.0, 13.0).reshape(2, 2, 3)                     # (S=2, C=2, N=3), d = 1
ZERO_K = np.stack([np.ones((2, 3)), np.zeros((2, 3))])
H = np.arange(12.0).reshape(3, 4) % 5                         # (b=3, D=4), d = 0


def _weight_errors(*extra):
    yield E((np.ones((2, 3)), *extra), {"d": 1}, ValueError, r"^weight: expected shape", "weight rank")
    yield E((W, *extra), {"d": 2}, ValueError, r"^weight: expected shape", "weight rank for d=2")
    yield E((np.full((2, 1, 3), np.nan), *extra), {"d": 1}, ValueError, r"^weight: expected finite", "NaN weight")
    yield E((np.full((2, 1, 3), np.inf), *extra), {"d": 1}, ValueError, r"^weight: expected finite", "inf weight")
    yield E((W, *extra), {"d": 0}, ValueError, r"^d: ", "d=0")
    yield E((np.ones((2, 1, 3), dtype=complex), *extra), {"d": 1}, TypeError, r"^weight", "complex weight")
    yield E((np.ones((2, 1, 3), dtype=np.int64), *extra), {"d": 1}, TypeError,
            r"^weight: expected a real floating tensor", "integer weight", TWIN)
    yield E((W, *extra), {"d": 1}, TypeError, r"^weight: expected a torch.Tensor", "a NumPy weight", TWIN,
            raw=(0,))


def _cosine_errors():
    yield from _weight_errors()
    yield E((ZERO_K,), {"d": 1}, ValueError, r"^weight: the cosine is undefined for a zero kernel", "zero kernel")


def _soft_errors():
    yield from _weight_errors()


def _ocnn_errors():
    yield from _weight_errors(1)
    yield E((W, 0), {"d": 1}, ValueError, r"^stride: expected strides >= 1", "stride 0")
    yield E((W.reshape(2, 2, 1, 3), (1, -1)), {"d": 2}, ValueError, r"^stride: expected strides >= 1",
            "stride -1 on one axis")
    yield E((W, 1.5), {"d": 1}, TypeError, r"^stride: expected an int", "fractional stride")
    yield E((W, True), {"d": 1}, TypeError, r"^stride", "bool stride")
    yield E((W, (1, 2)), {"d": 1}, ValueError, r"^stride: expected one", "two strides for d=1")


def _orthoreg_errors():
    yield from _weight_errors(10.0)
    yield E((ZERO_K,), {"d": 1}, ValueError, r"^weight: the cosine", "zero kernel")
    yield E((np.stack([W, ZERO_K]),), {"d": 1}, ValueError, r"^weight: the cosine", "a zero kernel in the batch",
            TWIN)
    yield E((W, 0.0), {"d": 1}, ValueError, r"^lam: expected a finite number > 0", "lam 0")
    yield E((W, -1.0), {"d": 1}, ValueError, r"^lam: expected a finite number > 0", "lam negative")
    yield E((W, float("inf")), {"d": 1}, ValueError, r"^lam", "lam inf")
    yield E((W, "10"), {"d": 1}, TypeError, r"^lam: expected a real", "lam a string")
    yield E((W,), {"d": 1, "both_signs": "no"}, TypeError, r"^both_signs: expected True or False",
            "both_signs a string")


def _pair_weight_errors():
    yield E((np.array([0.5, np.nan]),), {}, ValueError, r"^cosines: expected finite", "NaN cosine")
    yield E((np.array(["a"]),), {}, TypeError, r"^cosines", "strings", "reference")
    yield E((np.array([0.5]), 0.0), {}, ValueError, r"^lam: expected a finite number > 0", "lam 0")
    yield E((np.array([0.5]), "10"), {}, TypeError, r"^lam: expected a real", "lam a string")


def _decov_errors():
    yield E((H[:1],), {"d": 0}, ValueError, r"^h: the batch covariance needs b >= 2", "b = 1")
    yield E((H,), {"d": 1}, ValueError, r"^h: expected shape", "rank")
    yield E((np.full((3, 2), np.nan),), {"d": 0}, ValueError, r"^h: expected finite", "NaN")
    yield E((H,), {"d": 3}, ValueError, r"^d: ", "d=3")
    yield E((np.ones((3, 2), dtype=np.int64),), {"d": 0}, TypeError, r"^h: expected a real floating tensor",
            "integer h", TWIN)


ERRORS = {
    "kernel_cosine_matrix": _cosine_errors, "soft_orthogonality": _soft_errors, "ocnn_orthogonality": _ocnn_errors,
    "orthoreg": _orthoreg_errors, "orthoreg_pair_weight": _pair_weight_errors, "decov": _decov_errors,
}
