"""The memory a ``claim2d run`` needs, estimated from its options (:func:`estimate_bytes`), so that a run that
cannot fit is refused before any work (:func:`check`).

The groups ``(C, k)`` run one after another; each holds its inputs, the per-episode Gram matrices of every
(input kind, padding) with ``D = C·k²`` (and a copy in the layout the optimiser reads), the kernels with
Adam's buffers, and the recorded feature-map measures. Per episode of the largest group, in 8-byte numbers::

    3 · nI · nP · D² + 2 · nI · C · H · W + (R + 1) · nI · nP · (S(S-1)/2 + S) · 3 + 20 · S · D

(``R`` recorded steps, ``S`` the largest number of kernels). Measured on this CPU (resident set, 2000 against
4000 episodes, the default grid at 10 iterations): 0.97 MB per episode; the formula gives 1.25 MB there, 1.94 MB
at the default 300 iterations.

Example
-------
>>> from experiments.claim2d.spec import RunOptions
>>> round(estimate_bytes(RunOptions(episodes=1000)) / 1e9, 2)
1.94
"""

from __future__ import annotations

from experiments.common.memory import BASE_BYTES, check_memory

from . import data as dt

__all__ = ["estimate_bytes", "check"]


def estimate_bytes(o) -> int:
    """Bytes the run's data needs at its peak (the largest group), for ``o.episodes`` episodes."""
    n_i, n_p = len(o.inputs or ()), len(o.paddings or ())
    s = max(o.kernels or (2,))
    recorded = o.iterations // max(1, o.record_every) + 2
    worst = 0
    for c in o.channels or ():
        h, w = dt.input_hw(c) if c in dt.CHANNELS else (32, 32)
        for k in o.kernel_sizes or ():
            d = c * k * k
            per = (3 * n_i * n_p * d * d + 2 * n_i * c * h * w + recorded * n_i * n_p * (s * (s - 1) // 2 + s) * 3
                   + 20 * s * d)
            worst = max(worst, per)
    return 8 * worst * int(o.episodes)


def check(o) -> None:
    """Refuse (a usage error naming ``--episodes``) a run whose estimate exceeds the available memory."""
    est = estimate_bytes(o)
    check_memory("episodes", o.episodes, est + 2 * BASE_BYTES, f"{o.episodes} episodes per cell",
                 hint=f"about {max(1, est // max(1, o.episodes)) // 1024} KiB per episode; use fewer --episodes, "
                      "--kernel-sizes or --channels")
