"""Argument checks and small helpers shared by the references and the twins.

Both :mod:`theory.reference` and :mod:`theory.batched` import these; neither imports the other's
private names. Every message starts with the name of the argument it is about.
"""

from __future__ import annotations

import math
import numbers
import os
import time

# Pearson matrices (MFD paper, eq. 6): a channel whose centred norm is at most
# DEAD_RTOL·eps·max|channel|·sqrt(count) counts as dead (constant over the batch).
DEAD_RTOL = 8.0


class NonFiniteError(ValueError):
    """A NaN or inf where the arguments must be finite, or a result that overflowed from finite arguments.

    A ``ValueError`` (naming the argument, like every other refusal) that callers who must record rather
    than stop, such as a training loop that marks a diverged run, can catch on its own."""


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


# ---------------------------------------------------------------- size, memory and work caps
#
# Every public function estimates, from the shapes and sizes it is given and before allocating or looping,
# the memory its largest intermediate tensors need and (the NumPy references) the work of its Python loops,
# and refuses with a ValueError naming the argument when an estimate exceeds its cap.

#: The fixed part of the memory cap, in bytes: 8 GiB.
DEFAULT_MEMORY_CAP = 8 * 2 ** 30
#: The memory cap in bytes, or None for the default ``min(available memory, DEFAULT_MEMORY_CAP)`` (available
#: memory: ``MemAvailable`` of ``/proc/meminfo``, else ``os.sysconf``; for a CUDA tensor the device's total
#: memory). Assign a number to override it (it is then used as given), or set the environment variable
#: ``THEORY_MEMORY_CAP_GIB``.
MEMORY_CAP: int | None = None
#: The work cap of the NumPy references' loops, in elementary operations (a multiply-add counts 1, one
#: Python-level step of a loop 1000): about a minute on one core. Assign to override.
WORK_CAP = 2 * 10 ** 10
STEP_COST = 1000

_AVAILABLE: list = [0.0, None]          # (time read, bytes): /proc/meminfo is read at most once a second


def available_memory() -> int | None:
    """Available host memory in bytes (``MemAvailable``, else free pages from ``os.sysconf``), or None."""
    now = time.monotonic()
    if now - _AVAILABLE[0] < 1.0:
        return _AVAILABLE[1]
    found = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            found = None
    _AVAILABLE[:] = [now, found]
    return found


def memory_cap(available: int | None = None) -> int:
    """The memory cap in bytes: :data:`MEMORY_CAP` if set, else ``$THEORY_MEMORY_CAP_GIB``, else
    ``min(available, DEFAULT_MEMORY_CAP)`` (``available`` defaults to :func:`available_memory`)."""
    if MEMORY_CAP is not None:
        return int(MEMORY_CAP)
    env = os.environ.get("THEORY_MEMORY_CAP_GIB")
    if env:
        try:
            return int(float(env) * 2 ** 30)
        except ValueError:
            raise ValueError(f"THEORY_MEMORY_CAP_GIB: expected a number of GiB, got {env!r}") from None
    avail = available_memory() if available is None else available
    return DEFAULT_MEMORY_CAP if avail is None else min(DEFAULT_MEMORY_CAP, int(avail))


def _gib(nbytes) -> str:
    return f"{nbytes / 2 ** 30:.3g}"


def check_memory(name: str, nbytes, what: str, *, available: int | None = None) -> None:
    """ValueError naming ``name`` when ``nbytes`` (an estimate, Python int arithmetic: no overflow) exceeds
    the memory cap (:func:`memory_cap`). Called before anything is allocated."""
    if nbytes <= 2 ** 20:                       # 1 MiB: never refused, no look-up
        return
    cap = memory_cap(available)
    if nbytes > cap:
        raise ValueError(f"{name}: {what} would need about {_gib(nbytes)} GiB of memory, over the cap of "
                         f"{_gib(cap)} GiB (theory._validate.MEMORY_CAP, default min(available memory, 8 GiB)); "
                         "use smaller inputs or raise the cap")


def check_work(name: str, what: str, *, steps=0, flops=0) -> None:
    """ValueError naming ``name`` when a reference loop of ``steps`` Python-level steps and ``flops``
    elementary operations exceeds :data:`WORK_CAP` (see there). Called before the loop starts."""
    work = steps * STEP_COST + flops
    if work > WORK_CAP:
        raise ValueError(f"{name}: {what} would take about {work:.2g} operations in the reference's Python loops "
                         f"(~{work / 1e9:.2g} s), over the work cap of {WORK_CAP:.2g} (theory._validate.WORK_CAP); "
                         "the references are plain loops for small inputs: use the twin in theory.batched, "
                         "smaller inputs, or raise the cap")


def check_d(d) -> int:
    """``d``, the spatial rank of a signal or kernel: 1 or 2."""
    if not _is_int(d) or d not in (1, 2):
        raise ValueError(f"d: expected the number of spatial dimensions, 1 or 2, got {d!r}")
    return int(d)


def check_feature_d(d) -> int:
    """``d``, the number of spatial axes of a feature map: 0, 1 or 2."""
    if not _is_int(d) or d not in (0, 1, 2):
        raise ValueError(f"d: expected the number of spatial dimensions, 0, 1 or 2, got {d!r}")
    return int(d)


def check_rank(name: str, shape, rank: int, what: str, *, batched: bool = False) -> None:
    """``shape`` must have exactly ``rank`` axes (at least ``rank`` when ``batched``)."""
    nd = len(shape)
    if (nd < rank) if batched else (nd != rank):
        lead = "(..., " if batched else "("
        raise ValueError(f"{name}: expected shape {lead}{what}) with {'at least ' if batched else ''}"
                         f"{rank} axes, got shape {tuple(shape)}")


def check_same_shape(name_a: str, a, name_b: str, b) -> None:
    if tuple(a) != tuple(b):
        raise ValueError(f"{name_a} and {name_b}: expected equal shapes, got {tuple(a)} and {tuple(b)}")


def check_positive_sizes(name: str, shape) -> None:
    if any(s < 1 for s in shape):
        raise ValueError(f"{name}: every axis must have size >= 1, got shape {tuple(shape)}")


def check_size(name: str, value) -> int:
    """A positive int (a count or a length)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_seed(seed) -> int:
    """A seed of ``numpy.random.default_rng``: an int >= 0 (not a bool, a float or a string)."""
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def check_flag(name: str, value) -> bool:
    """A bool option (``True``/``False``; a string such as ``'no'`` would be silently truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def check_kernel_shape(kernel_shape, d: int) -> tuple[int, ...]:
    """``kernel_shape``: one int (1-D) or ``d`` ints, each >= 1 (not floats, strings or bools)."""
    ks = tuple(kernel_shape) if isinstance(kernel_shape, (tuple, list)) else (kernel_shape,)
    if len(ks) != d or not all(_is_int(n) and n >= 1 for n in ks):
        raise ValueError(f"kernel_shape: expected {d} positive int kernel sizes, got {kernel_shape!r}")
    return tuple(int(n) for n in ks)


def check_lam(lam) -> float:
    """A loss weight ``λ``: a finite real number."""
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError(f"lam: expected a real number, got {type(lam).__name__}")
    if not math.isfinite(lam):
        raise ValueError(f"lam: expected a finite number, got {lam!r}")
    return float(lam)


def check_positive_lam(lam) -> float:
    """OrthoReg's sharpness ``λ``: a finite real number > 0."""
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError(f"lam: expected a real number, got {type(lam).__name__}")
    if not math.isfinite(lam) or lam <= 0:
        raise ValueError(f"lam: expected a finite number > 0, got {lam!r}")
    return float(lam)


def lag_ranges(a_shape, b_shape, max_lag, d: int) -> list[range]:
    """Lags of ``(a ⋆ b)`` per axis: ``[1-Na, Nb-1]`` (every overlap), or ``[-L, L]`` for ``max_lag=L``."""
    if max_lag is None:
        return [range(1 - na, nb) for na, nb in zip(a_shape, b_shape)]
    ls = (max_lag,) * d if isinstance(max_lag, numbers.Real) else tuple(max_lag) \
        if isinstance(max_lag, (tuple, list)) else ()
    if len(ls) != d or not all(_is_int(v) and v >= 0 for v in ls):
        raise ValueError(f"max_lag: expected a non-negative int or {d} of them, got {max_lag!r}")
    if math.prod(2 * int(v) + 1 for v in ls) > 2 ** 60:
        raise ValueError(f"max_lag: {max_lag!r} asks for more lags than any memory holds")
    return [range(-int(v), int(v) + 1) for v in ls]


def lag_bounds(size_a, size_b, max_lag) -> tuple[int, int]:
    """``(lowest, highest)`` lag of :func:`theory.reference.lags` along one axis."""
    size_a = check_size("size_a", size_a)
    if max_lag is not None:
        if not _is_int(max_lag) or max_lag < 0:
            raise ValueError(f"max_lag: expected a non-negative int or None, got {max_lag!r}")
        return -int(max_lag), int(max_lag)
    size_b = size_a if size_b is None else check_size("size_b", size_b)
    return 1 - size_a, size_b - 1


def check_dft_size(size, kernel_shape, d: int) -> tuple[int, ...]:
    """DFT lengths for Parseval: one int or ``d`` ints, each ``>= 2N-1`` (default ``2N-1``)."""
    least = tuple(2 * s - 1 for s in kernel_shape)
    if size is None:
        return least
    items = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
    if any(not _is_int(v) for v in items):
        raise TypeError(f"size: expected an int DFT length or {d} of them, got {size!r}")
    if len(items) != d:
        raise ValueError(f"size: expected one DFT length or {d} of them, got {size!r}")
    if any(v < m for v, m in zip(items, least)):
        raise ValueError(f"size: expected a DFT size >= 2N-1 = {least} per axis, got {tuple(items)}")
    return tuple(int(v) for v in items)


def check_stride(stride, d: int) -> tuple[int, ...]:
    """``stride`` as ``d`` ints >= 1: one int for every axis or one per axis."""
    items = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,) * d
    if any(not _is_int(s) for s in items):
        raise TypeError(f"stride: expected an int or {d} ints, got {stride!r}")
    if len(items) != d:
        raise ValueError(f"stride: expected one stride or {d} of them (one per kernel axis), got {stride!r}")
    if any(s < 1 for s in items):
        raise ValueError(f"stride: expected strides >= 1, got {stride!r}")
    return tuple(int(s) for s in items)


def ocnn_padding(kernel_shape, stride) -> tuple[int, ...]:
    """OCNN's padding ``P = ⌊(k-1)/s⌋·s`` per kernel axis (Wang et al. 2020)."""
    return tuple(((k - 1) // s) * s for k, s in zip(kernel_shape, stride))


def check_centroid_count(k, n) -> tuple[int, int]:
    """``k`` evenly distributed unit vectors in ``R^n`` need ``k <= n + 1`` (POD paper, Sec. III-B)."""
    k, n = check_size("k", k), check_size("n", n)
    if k > n + 1:
        raise ValueError(f"k and n: at most n+1 = {n + 1} evenly distributed centroids with inner products "
                         f"-1/(k-1) exist in R^n, got k = {k}, n = {n}")
    return k, n
