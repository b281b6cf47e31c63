"""The memory a ``montecarlo run`` needs, estimated from its options (:func:`estimate_bytes`), so that a run
that cannot fit is refused before any work (:func:`check`).

The configurations run one after another; each holds its episodes' draws, the block buffers of the recorders
(48 steps of both kernels), the per-padding quadratic forms and Gram matrices, the running statistics and,
for Spearman correlations, every step's values. Per episode of the largest configuration, in 8-byte numbers::

    3 M + 4 · b · 2N + 3 · b · nP · 3 + nP · N² + 40 · nP  [+ 3 (T+1)(1 + 3 nP) for Spearman]

(``b`` = min(48, T+1), ``nP`` the paddings measured). Measured peaks on this CPU (resident set minus the
process's base): 52 KB per episode for the four tables, 116 KB with the padding sweep; the formula gives 56
and 156 KB. With ``--seeds`` and ``--jobs j``, ``min(j, seeds)`` processes run at once.

Example
-------
>>> from experiments.montecarlo.spec import RunOptions
>>> round(estimate_bytes(RunOptions(episodes=1000)) / 1e6)
57
"""

from __future__ import annotations

from experiments.common.memory import BASE_BYTES, check_memory

from .running import needs_trajectories
from .spec import M, TABLE_EXPERIMENT, configs_for

__all__ = ["estimate_bytes", "need_bytes", "workers", "check"]


def _experiments(o) -> list[str]:
    exps = list(dict.fromkeys(TABLE_EXPERIMENT[t] for t in o.tables if t in TABLE_EXPERIMENT))
    if o.padding_sweep and "cs_valid" not in exps:
        exps.append("cs_valid")
    if o.fixed_norm:
        exps.append("cs_fixed_norm")
    return exps


def estimate_bytes(o) -> int:
    """Bytes one process's data needs at its peak (the largest configuration), for ``o.episodes`` episodes."""
    worst = 0
    for e in _experiments(o):
        for cfg in configs_for(e, o.small_n or (3,), o.iterations_scale, o.max_iterations):
            n, t = cfg.n, cfg.iterations
            n_pad = n + 2 if (e == "cs_valid" and o.padding_sweep) else 1
            b = min(48, t + 1)
            per = 3 * M + 4 * b * 2 * n + 3 * b * n_pad * 3 + n_pad * n * n + 40 * n_pad
            if needs_trajectories(o.corr):
                per += 3 * (t + 1) * (1 + 3 * n_pad)
            worst = max(worst, per)
    return 8 * worst * int(o.episodes)


def workers(o) -> int:
    """Processes that run at once: ``min(jobs, seeds)`` with several ``--seeds``, else 1."""
    return min(o.jobs, len(o.seeds)) if o.seeds and len(o.seeds) > 1 else 1


def need_bytes(o) -> int:
    """The whole command's estimate: each process's data and base (:data:`~experiments.common.memory.BASE_BYTES`)."""
    return workers(o) * (estimate_bytes(o) + BASE_BYTES)


def check(o) -> None:
    """Refuse (a usage error naming ``--episodes``) a run whose estimate exceeds the available memory."""
    need, workers_ = need_bytes(o), workers(o)
    per_episode = max(1, estimate_bytes(o) // max(1, int(o.episodes)))
    check_memory("episodes", o.episodes, need, f"{o.episodes} episodes per row" +
                 (f" in {workers_} worker processes" if workers_ > 1 else ""),
                 hint=f"about {per_episode // 1024} KiB per episode; use fewer --episodes"
                      + (" or fewer --jobs" if workers_ > 1 else ""))
