"""Batched optimisation of S kernels per episode, all episodes of a configuration as one torch batch.

Per step ``t = 0..T``: the objective of every episode and its gradient (autograd through
:mod:`.objectives`, the gradient of the SUM over episodes, i.e. every episode's own gradient), then one
Adam step with ``torch.optim.Adam``'s defaults (betas (0.9, 0.999), eps 1e-8, no weight decay) — the
fused kernel of ``Adam(fused=True)`` batched over the episodes (:class:`experiments.common.optim.FusedAdam`,
the 1-D runner's optimiser too; per coordinate, so equal to independent per-episode Adams).

Every ``record_every`` steps (and at ``t = T``) the feature maps' inner products are evaluated for each
measured (input, padding) through the per-episode Gram matrices
(:func:`theory.batched.gram_quadratic_forms`, registered against :mod:`theory.reference`), and reduced at once to
per-episode scalars, so memory does not grow with ``S``:

* ``sim``   = Σ_{i<j} <F_i, F_j>²                         (the feature-map similarity s_t)
* ``cos2``  = Σ_{i<j} cos²(F_i, F_j)                      (its scale-invariant part)
* ``mcos``  = mean_{i<j} |cos(F_i, F_j)|                  (mean pairwise |cosine|)

plus, at ``t = 0`` and ``t = T``, every pair's ``cos(F_i, F_j)``; the kernels' norms and pairwise cosines
at ``t = 0`` and ``T``. For ``S = 2`` these are the 1-D runner's ``<F1,F2>²``, ``cos²`` and ``|cos|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.common.optim import FusedAdam, PythonAdam
from theory import batched as B

from .objectives import kernel_cosines, objective


def record_steps(iterations: int, every: int) -> list[int]:
    """``0, r, 2r, ...`` and always ``T``."""
    steps = list(range(0, iterations + 1, max(1, int(every))))
    if steps[-1] != iterations:
        steps.append(iterations)
    return steps


@dataclass
class Run:
    """Recorded values (NumPy, float64). ``R`` recorded steps, ``E`` episodes, ``nM`` measurements, ``P`` pairs."""

    steps: np.ndarray          # (R,)
    objective: np.ndarray      # (T+1, E)   every step
    sim: np.ndarray            # (R, E, nM)
    cos2: np.ndarray           # (R, E, nM)
    mcos: np.ndarray           # (R, E, nM)
    pair_cos0: np.ndarray      # (E, nM, P)
    pair_cosT: np.ndarray      # (E, nM, P)
    knorm0: np.ndarray         # (E, S)
    knormT: np.ndarray         # (E, S)
    kcos0: np.ndarray          # (E, P)  kernel cosines of the pairs i<j
    kcosT: np.ndarray          # (E, P)
    finite_kT: np.ndarray      # (E,) bool: final kernels finite


def _pair_stats(q: torch.Tensor, iu):
    """From ``Q`` (E, nM, S, S): (sim, cos2, mcos) each (E, nM), and the pair cosines (E, nM, P)."""
    diag = torch.diagonal(q, dim1=-2, dim2=-1)
    inner = q[..., iu[0], iu[1]]
    with torch.no_grad():
        cos = inner / torch.sqrt(diag[..., iu[0]] * diag[..., iu[1]])
    return (inner * inner).sum(-1), (cos * cos).sum(-1), cos.abs().mean(-1), cos


def run_objective(w0: torch.Tensor, name: str, lr: float, iterations: int, grams: torch.Tensor,
                  record_every: int = 5, progress=None, adam: str = "fused") -> Run:
    """Minimise objective ``name`` from kernels ``w0`` (E, S, C, kh, kw) with Adam; measure with ``grams``.

    ``grams`` is ``(E, nM, D, D)``, one Gram matrix per measured input/padding
    (:func:`theory.batched.feature_gram_stack`); a transposed view of an ``(E, D, nM, D)`` buffer is read
    without copying at every recording (:func:`theory.batched.gram_quadratic_forms`).
    ``progress`` (optional) is called with the number of steps done since its last call.
    """
    f = objective(name)
    e, s = w0.shape[:2]
    iu = torch.triu_indices(s, s, 1, device=w0.device)
    steps = record_steps(iterations, record_every)
    rec_index = {t: j for j, t in enumerate(steps)}
    kw = {"dtype": w0.dtype, "device": w0.device}
    n_m = grams.shape[1]
    obj = torch.empty((iterations + 1, e), **kw)
    sim = torch.empty((len(steps), e, n_m), **kw)
    cos2 = torch.empty_like(sim)
    mcos = torch.empty_like(sim)
    p = w0.detach().clone().contiguous()
    if adam == "fused" and hasattr(torch, "_fused_adam_"):
        opt = FusedAdam(p, lr)
    elif adam in ("fused", "python"):
        opt = PythonAdam(p, lr)
    else:
        raise ValueError(f"adam: expected 'fused' or 'python', got {adam!r}")
    chunk = max(1, iterations // 50)
    done = 0
    pair_cos0 = pair_cosT = None
    for t in range(iterations + 1):
        leaf = p.detach().requires_grad_(True)
        with torch.enable_grad():
            v = f(leaf)
            (g,) = torch.autograd.grad(v.sum(), leaf) if t < iterations else (None,)
        obj[t] = v.detach()
        if t in rec_index:
            with torch.no_grad():
                a, b, c, cos = _pair_stats(B.gram_quadratic_forms(p, grams, d=2), iu)
            j = rec_index[t]
            sim[j], cos2[j], mcos[j] = a, b, c
            if t == 0:
                pair_cos0 = cos.clone()
            if t == iterations:
                pair_cosT = cos.clone()
        if t == iterations:
            break
        # torch._fused_adam_ walks p and g as flat memory: the gradient must have p's (contiguous) layout.
        # Autograd returns a permuted-strided gradient for the DFT-based objectives; without this copy
        # the update pairs each coordinate with another coordinate's gradient (and L_CS goes UP).
        g = g.contiguous()
        with torch.no_grad():
            opt.step(p, g)
        if progress is not None and (t + 1) % chunk == 0:
            progress(t + 1 - done)
            done = t + 1
    if progress is not None and iterations > done:
        progress(iterations - done)
    with torch.no_grad():
        kn0 = w0.flatten(2).norm(dim=-1)
        knT = p.flatten(2).norm(dim=-1)
        kc0 = kernel_cosines(w0)[:, iu[0], iu[1]]
        kcT = kernel_cosines(p)[:, iu[0], iu[1]]
        finite = torch.isfinite(p.flatten(1)).all(1)
    np_ = lambda t: t.detach().cpu().numpy()
    return Run(steps=np.asarray(steps), objective=np_(obj), sim=np_(sim), cos2=np_(cos2), mcos=np_(mcos),
               pair_cos0=np_(pair_cos0), pair_cosT=np_(pair_cosT), knorm0=np_(kn0), knormT=np_(knT),
               kcos0=np_(kc0), kcosT=np_(kcT), finite_kT=np_(finite))
