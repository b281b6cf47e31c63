"""The registry: one :class:`~theory.opinfo.OpInfo` per operation, and :func:`audit`.

In the spirit of PyTorch's OpInfo: the test-suite runs one parametrised test over :data:`REGISTRY`
(and one over its error inputs), and anyone can audit an implementation of their own against our
reference with :func:`audit`::

    from theory.registry import audit
    audit("kernel_crosscorrelation", my_xcorr)          # raises AssertionError naming the case

A sample carries arrays with leading batch axes; the implementation runs once on the whole batch and
every slice is compared with the reference run on that slice alone (see :func:`theory.opinfo.check_sample`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .opinfo import DEFAULT_TOL, ErrorInput, OpInfo, Sample, Variant, check_sample

__all__ = ["REGISTRY", "OpInfo", "Sample", "ErrorInput", "Variant", "DEFAULT_TOL", "check_sample", "samples", "audit",
           "get"]


def samples(op: OpInfo, seed: int = 0) -> list[Sample]:
    """The samples of ``op`` for ``seed``, in order (``sample=i`` of :func:`audit` is index ``i``)."""
    return list(op.sample_inputs(np.random.default_rng(seed)))


def _impl_name(impl: Callable) -> str:
    name = getattr(impl, "__name__", "")
    return name if name.isidentifier() else "impl"


def _audit_line(name: str, impl: Callable, seed: int, index: int, dtype, device) -> str:
    return (f"import theory.registry, torch; theory.registry.audit({name!r}, {_impl_name(impl)}, "
            f"seeds=[{seed}], sample={index}, dtype={dtype}, device={str(device)!r})")


def audit(name: str, impl: Callable, *, dtype=torch.float64, device="cpu", seeds: Sequence[int] = (0, 1, 2),
          where: Callable[[Sample], bool] | None = None, sample: int | None = None) -> int:
    """Check an implementation of your own against the reference, sample by sample.

    Every sample of the registry entry ``name`` (for each seed) is passed to ``impl`` once, batched,
    and each slice is compared with the reference on that slice, to the entry's tolerance for
    ``dtype``. The first mismatch raises an AssertionError that names the operation, the sample
    (shapes, padding, ``d``), dtype, device and seed, and ends with a Python line that re-runs
    exactly that check (``seeds=[s], sample=i``; the function is referred to by its ``__name__``).

    Parameters
    ----------
    name : str
        A registry entry, e.g. ``'kernel_crosscorrelation'`` (:func:`get` lists them on a typo).
    impl : callable
        Same signature as the twin in :mod:`theory.batched` (tensors with leading batch axes in).
    dtype : torch.dtype, default torch.float64
        Floating arrays are passed as tensors of this dtype.
    device : str or torch.device, default 'cpu'
        Where the tensors are put.
    seeds : sequence of int, default (0, 1, 2)
        Seeds of the sample generator.
    where : callable, optional
        Keeps only the samples it accepts, e.g. ``lambda s: s.kwargs["d"] == 1``.
    sample : int, optional
        Keeps only the sample with this index in each seed's list (:func:`samples`).

    Returns
    -------
    int
        The number of samples checked.

    Raises
    ------
    AssertionError
        On the first mismatch (or exception raised by ``impl``), with the re-run line.
    KeyError
        If ``name`` is not a registry entry.

    Examples
    --------
    >>> import torch
    >>> from theory.registry import audit
    >>> def my_kernel_crosscorrelation(k1, k2, *, d):    # 1-D only: (K1 ⋆ K2)[n] = Σ_m K1[m]·K2[m+n]
    ...     n = k1.shape[-1]
    ...     pairs = [(k1[..., max(0, -t):n - max(0, t)] * k2[..., max(0, t):n - max(0, -t)]).sum(-1)
    ...              for t in range(1 - n, n)]
    ...     return torch.stack(pairs, dim=-1)
    >>> n = audit("kernel_crosscorrelation", my_kernel_crosscorrelation, where=lambda s: s.kwargs["d"] == 1)
    >>> n >= 3                                           # samples checked, each slice by slice
    True
    >>> def reversed_lags(k1, k2, *, d):
    ...     return my_kernel_crosscorrelation(k1, k2, d=d).flip(-1)
    >>> audit("kernel_crosscorrelation", reversed_lags, where=lambda s: s.kwargs["d"] == 1)
    Traceback (most recent call last):
    ...
    AssertionError: op=kernel_crosscorrelation 1-D N=2, k2 shared: ...
    re-run this check: import theory.registry, torch; theory.registry.audit('kernel_crosscorrelation', ...
    ...
    """
    op = get(name)
    n = 0
    for seed in seeds:
        for i, s in enumerate(samples(op, seed)):
            if (sample is not None and i != sample) or (where is not None and not where(s)):
                continue
            check_sample(op, s, impl=impl, dtype=dtype, device=device, seed=seed,
                         rerun=_audit_line(name, impl, seed, i, dtype, device))
            n += 1
    return n


def get(name: str) -> OpInfo:
    """The registry entry called ``name``; KeyError listing the known names otherwise."""
    for op in REGISTRY:
        if op.name == name:
            return op
    raise KeyError(f"name: no operation {name!r} in the registry; known: {[o.name for o in REGISTRY]}")


def _load() -> list[OpInfo]:
    from ._opinfo_conv import OPS as conv_ops
    from ._opinfo_stats import OPS as stats_ops
    from ._opinfo_orthogonality import OPS as orthogonality_ops
    from ._opinfo_gram import OPS as gram_ops
    from ._variants import VARIANTS
    ops = [*conv_ops, *stats_ops, *orthogonality_ops, *gram_ops]
    return [dataclasses.replace(op, variants=VARIANTS[op.name]) if op.name in VARIANTS else op for op in ops]


REGISTRY: list[OpInfo] = _load()
