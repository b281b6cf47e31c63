"""Bad inputs of the Pearson/MFD and PEDCC/POD operations (``error_inputs`` of :mod:`theory._opinfo_stats`)."""

from __future__ import annotations

import numpy as np

from ._errors_conv import TWIN
from .opinfo import ErrorInput as E

GOOD = np.arange(24.0).reshape(3, 2, 4) % 5          # (b=3, C=2, P=4), d = 1
Z32 = np.zeros((3, 2))                               # logits (b=3, K=2)
Y3 = np.array([0, 1, 1])


def _feature_errors(pairs: bool):
    yield E((np.ones((1, 3, 4)),), {"d": 1}, ValueError, r"^features: .*b >= 2", "b = 1")
    yield E((np.full((2, 2), np.nan),), {"d": 0}, ValueError, r"^features: .*finite", "NaN")
    yield E((np.array([[1.0, np.inf], [0.0, 1.0]]),), {"d": 0}, ValueError, r"^features: .*finite", "inf")
    yield E((np.ones((3, 2)),), {"d": 1}, ValueError, r"^features: expected shape", "rank")
    for d in (3, True, 1.0, -1):
        yield E((GOOD,), {"d": d}, ValueError, r"^d: ", f"d={d!r}")
    yield E((np.ones((3, 2), dtype=complex),), {"d": 0}, TypeError, r"^features", "complex")
    yield E((np.ones((3, 2), dtype=np.int64),), {"d": 0}, TypeError, r"^features", "integer", TWIN)
    if pairs:
        yield E((np.ones((3, 1, 2)) * np.arange(3)[:, None, None],), {"d": 1}, ValueError,
                r"^features: .*C >= 2", "C = 1, d = 1")
        yield E((np.arange(3.0)[:, None],), {"d": 0}, ValueError, r"^features: .*C >= 2", "C = 1, d = 0")


def _pearson_errors():
    yield from _feature_errors(False)


def _pairs_errors():
    yield from _feature_errors(True)


def _joint_errors():
    yield E((Z32, np.zeros(3), []), {"d": 1}, TypeError, r"^labels: expected integer", "float labels")
    yield E((Z32, np.array([0, 1, 2]), []), {"d": 1}, ValueError, r"^labels: expected labels in \[0, 2\)",
            "label >= K")
    yield E((Z32, np.array([0, -1, 1]), []), {"d": 1}, ValueError, r"^labels", "negative label")
    yield E((Z32, np.array([0, 1]), []), {"d": 1}, ValueError, r"^labels: expected shape", "label count")
    yield E((Z32, Y3, GOOD), {"d": 1}, TypeError, r"^stages: expected a list or tuple", "stages an array")
    yield E((Z32, Y3, [GOOD[:2]]), {"d": 1}, ValueError, r"^stages\[0\]: expected the batch size",
            "stage batch size")
    yield E((np.zeros((1, 2)), np.array([0]), [GOOD[:1]]), {"d": 1}, ValueError, r"^stages\[0\]: .*b >= 2",
            "stage b = 1")
    yield E((Z32, Y3, [GOOD, GOOD[:, :1]]), {"d": 1}, ValueError, r"^stages\[1\]: .*C >= 2", "stage C = 1")
    yield E((Z32, Y3, [GOOD]), {"d": 2}, ValueError, r"^stages\[0\]: expected shape", "stage rank")
    yield E((Z32, Y3, [GOOD], float("nan")), {"d": 1}, ValueError, r"^lam: ", "lam NaN")
    yield E((Z32, Y3, [GOOD], "1"), {"d": 1}, TypeError, r"^lam: ", "lam a string")
    yield E((np.zeros(3), Y3, []), {"d": 1}, ValueError, r"^logits: expected shape", "logits rank")
    yield E((Z32, Y3, []), {"d": 3}, ValueError, r"^d: ", "d=3")


# ---------------------------------------------------------------- PEDCC / POD

def _pedcc_errors():
    for bad in (0, -2, 2.5, True, "3", None):
        yield E((bad, 4), {}, ValueError, r"^k: ", f"k={bad!r}")
        yield E((2, bad), {}, ValueError, r"^n: ", f"n={bad!r}")
    for bad in ("8", 2.5, -1, True):
        yield E((3, 4), {"seed": bad}, ValueError, r"^seed: ", f"seed={bad!r}")
    yield E((2, 10 ** 10), {}, ValueError, r"^k and n: .*GiB", "n beyond the memory cap")
    yield E((5, 3), {}, ValueError, r"^k and n: .*k = 5, n = 3", "k > n + 1")
    yield E((3, 1), {}, ValueError, r"^k and n", "k = 3, n = 1")


C3 = np.array([[1.0, 0.0, 0.0, 0.0], [-0.5, 0.8, 0.2, 0.2], [-0.5, -0.8, -0.2, -0.2]])
F4 = C3[[0, 1, 2, 0]] + 0.1
Y4 = np.array([0, 1, 2, 0])


def _triplet_errors(lam: bool, needs_pairs: bool):
    x = (1.0,) if lam else ()
    yield E((np.vstack([F4[:3], np.zeros(4)]), Y4, C3, *x), {}, ValueError, r"^features: .*zero vector",
            "a zero feature row")
    if not needs_pairs or lam:          # sc_loss uses the centroids as given: a zero one is allowed
        yield E((F4, Y4, np.vstack([C3[:2], np.zeros(4)]), *x), {}, ValueError, r"^centroids: .*zero vector",
                "a zero centroid")
    yield E((F4[:, :3], Y4, C3, *x), {}, ValueError, r"^features and centroids", "n differs")
    yield E((F4, Y4.astype(float), C3, *x), {}, TypeError, r"^labels: expected integer", "float labels")
    yield E((F4, np.array([0, 1, 3, 0]), C3, *x), {}, ValueError, r"^labels: expected labels in \[0, 3\)",
            "label >= k")
    yield E((F4, Y4[:3], C3, *x), {}, ValueError, r"^labels: expected shape", "label count")
    yield E((F4[0], Y4[:1], C3, *x), {}, ValueError, r"^features: expected shape", "features rank")
    yield E((F4, Y4, C3[0], *x), {}, ValueError, r"^centroids: expected shape", "centroids rank")
    yield E((np.full((4, 4), np.nan), Y4, C3, *x), {}, ValueError, r"^features", "NaN features")
    yield E((F4, [0, 1, 2, 0], C3, *x), {}, TypeError, r"^labels: expected a torch.Tensor", "labels a list", TWIN)
    yield E((np.stack([F4, F4]), np.stack([Y4, Y4, Y4]), C3, *x), {}, ValueError,
            r"^features and labels and centroids: .*do not broadcast", "batch shapes", TWIN)
    if needs_pairs:
        yield E((F4[:1], Y4[:1], C3, *x), {}, ValueError, r"^features: .*B >= 2", "B = 1")
    if lam:
        yield E((F4, Y4, C3, float("inf")), {}, ValueError, r"^lam: ", "lam inf")
        yield E((F4, Y4, C3, None), {}, TypeError, r"^lam: ", "lam None")


def _cosine_errors():
    yield from _triplet_errors(False, False)


def _sc_errors():
    yield from _triplet_errors(False, True)


def _pod_errors():
    yield from _triplet_errors(True, True)


def _predict_errors():
    yield E((np.zeros((2, 4)), C3), {}, ValueError, r"^features: .*zero vector", "zero features")
    yield E((F4, np.zeros((3, 4))), {}, ValueError, r"^centroids: .*zero vector", "zero centroids")
    yield E((F4[:, :3], C3), {}, ValueError, r"^features and centroids", "n differs")
    yield E((F4, C3[0]), {}, ValueError, r"^centroids: expected shape", "centroids rank")
    yield E((np.where(F4 == F4[0, 0], np.inf, F4), C3), {}, ValueError, r"^features: expected finite",
            "inf features")
    yield E((F4.astype(complex), C3), {}, TypeError, r"^features", "complex features")
    yield E((np.stack([F4, F4]), np.stack([C3, C3, C3])), {}, ValueError,
            r"^features and centroids: .*do not broadcast", "batch shapes", TWIN)
    yield E((F4[0], C3), {}, ValueError, r"^features: expected shape", "features rank")


ERRORS = {
    "pearson_matrix": _pearson_errors, "mfd_loss": _pairs_errors, "mean_abs_offdiagonal": _pairs_errors,
    "mfd_joint_loss": _joint_errors, "pedcc_centroids": _pedcc_errors, "cosine_loss": _cosine_errors,
    "sc_loss": _sc_errors, "pod_loss": _pod_errors, "pedcc_predict": _predict_errors,
}
