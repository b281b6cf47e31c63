"""Loss terms of the training engine: the registry of named extra losses, and the CS paper's Algorithms 1 and 2
on a whole model (with the fast differentiable L_CS of :mod:`theory.batched.fast_similarity`).

``L_CS(model) = Σ_j L_CS(K^(j))`` over every Conv1d/Conv2d layer ``j`` (eq. 10 per layer, plain sum as in
the algorithms), computed by :func:`theory.batched.fast_similarity.model_conv_similarity`.

* **Algorithm 1** (:func:`cs_initialize`): before training, ``I`` steps of Adam (lr 1e-3 in Section 4.2) on
  ``L_CS(model)`` w.r.t. θ = all parameters. L_CS depends only on the convolution *weights*, so only they
  receive a gradient; Adam skips parameters whose ``.grad`` is None, so biases, BatchNorm affine
  parameters and buffers, and Linear layers are left bit-for-bit unchanged (tested).
* **Algorithm 2** (:class:`CSRegularizer`): an extra loss term ``β · L_CS(model)`` added to the task loss
  at every step (β = 0.001), plugged into the engine's extra-loss hook.

Extra loss terms by name (:func:`register_extra_loss`): ``@register_extra_loss('mfd') def make(config) -> fn``
with ``fn(model, outputs) -> scalar tensor``; a config listing ``'mfd'`` in ``extra_losses`` gets the term, so
that ``--resume`` and the CLI rebuild it from the config alone.
"""

from __future__ import annotations

import contextlib
import time
import typing

import torch

from theory._validate import NonFiniteError
from theory.batched.fast_similarity import model_conv_similarity

__all__ = ["model_cs", "cs_initialize", "CSRegularizer", "conv_kernel_stats", "threads", "EXTRA_LOSSES",
           "register_extra_loss"]

#: name -> factory ``(config) -> fn(model, outputs) -> scalar tensor``
EXTRA_LOSSES: dict[str, typing.Callable] = {}


def register_extra_loss(name: str):
    """Decorator registering an extra-loss factory under ``name``.

    Parameters
    ----------
    name : str
        The name a config lists in ``extra_losses``.

    Returns
    -------
    callable
        The decorator; it returns the factory unchanged.

    Examples
    --------
    >>> @register_extra_loss("doc_zero")
    ... def make(config):
    ...     return lambda model, outputs: 0.0 * outputs["logits"].sum()
    >>> "doc_zero" in EXTRA_LOSSES
    True
    >>> _ = EXTRA_LOSSES.pop("doc_zero")
    """
    def deco(factory):
        EXTRA_LOSSES[name] = factory
        return factory
    return deco


@contextlib.contextmanager
def threads(n: int | None):
    """``torch.set_num_threads(n)`` inside the block (``None``: unchanged).

    L_CS works on tensors of a few thousand numbers: on a CPU shared with other jobs, a 2-thread OpenMP
    region waits for a descheduled thread at every op (measured here: 100 Algorithm-1 steps of CNN2 took
    11 s with 2 threads and 0.8 s with 1), so the small weight-only computations run on one thread.
    The result does not depend on the thread count beyond float rounding of the reductions.
    """
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _unwrap(model):
    return getattr(model, "module", model)        # DistributedDataParallel keeps the network in .module


def model_cs(model, *, method: str = "gram", normalized: bool = False) -> torch.Tensor:
    """``Σ_j L_CS(K^(j))`` over the model's convolutions (differentiable).

    NaN (not an exception) when the kernels are not finite or L_CS overflows their dtype
    (:class:`theory._validate.NonFiniteError`): a diverging run is recorded as diverged by the training loop,
    whose non-finite-loss rule ends it before any step with that value."""
    try:
        return model_conv_similarity(_unwrap(model), method=method, normalized=normalized)
    except NonFiniteError:
        w = next((p for p in _unwrap(model).parameters()), None)
        return torch.tensor(float("nan"), dtype=w.dtype if w is not None else torch.float32)


def cs_initialize(model, iters: int, *, lr: float = 1e-3, method: str = "gram", num_threads: int | None = 1,
                  normalized: bool = False, apply: str = "full") -> dict:
    """Algorithm 1: ``iters`` Adam steps (``lr``) on ``L_CS(model)``, in place.

    Parameters
    ----------
    model : torch.nn.Module
        The network; only its convolution weights change.
    iters : int
        Adam steps (``I``).
    lr : float
        Adam's learning rate.
    method : str
        How L_CS is computed (same value).
    num_threads : int or None
        Torch threads for the weight-only computation.
    normalized : bool
        Minimise the scale-invariant L_CS (every kernel at unit norm) instead of eq. 10.
    apply : {"full", "directions", "norms"}
        What stays in the network: ``full`` Algorithm 1's kernels; ``directions`` its kernels rescaled per
        layer back to their initial Frobenius norms (what decorrelation alone does); ``norms`` the *initial*
        kernels rescaled per layer to the norms Algorithm 1 ends with (what shrinking alone does: the rescale
        control). Algorithm 1 touches no data, so every variant is a function of the initial weights.

    Returns
    -------
    dict
        ``iters``, ``lr``, ``l_cs`` (``I + 1`` values of the objective, before the first step to after the last),
        ``seconds``, ``apply``, ``objective``, and the per-layer norms ``layer_norms_initial``,
        ``layer_norms_alg1`` and ``layer_norms_final``.
    """
    if apply not in ("full", "directions", "norms"):
        raise ValueError(f"apply: expected 'full', 'directions' or 'norms', got {apply!r}")
    with threads(num_threads):
        net = _unwrap(model)
        convs = _convs(net)
        initial = [m.weight.detach().clone() for m in convs]
        out = _cs_initialize(net, iters, lr=lr, method=method, normalized=normalized)
        alg1 = [float(m.weight.detach().norm()) for m in convs]
        with torch.no_grad():
            for m, w0, n1 in zip(convs, initial, alg1):
                n0 = float(w0.norm())
                if apply == "directions" and n1 > 0:
                    m.weight.mul_(n0 / n1)
                elif apply == "norms":
                    m.weight.copy_(w0 * (n1 / n0 if n0 > 0 else 1.0))
        out.update(apply=apply, objective="normalized" if normalized else "plain",
                   layer_norms_initial=[float(w.norm()) for w in initial], layer_norms_alg1=alg1,
                   layer_norms_final=[float(m.weight.detach().norm()) for m in convs])
        return out


def _convs(net) -> list:
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]


def _cs_initialize(model, iters, *, lr, method, normalized=False):
    if iters < 0:
        raise ValueError(f"iters: expected >= 0, got {iters}")
    net = _unwrap(model)
    curve = []
    t0 = time.perf_counter()
    if iters:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(iters):
            opt.zero_grad(set_to_none=True)
            loss = model_cs(net, method=method, normalized=normalized)
            curve.append(float(loss.detach()))
            loss.backward()
            opt.step()
        for p in net.parameters():
            p.grad = None
    with torch.no_grad():
        curve.append(float(model_cs(net, method=method, normalized=normalized)))
    return {"iters": int(iters), "lr": float(lr), "l_cs": curve, "seconds": time.perf_counter() - t0}


class CSRegularizer:
    """Algorithm 2's extra term: ``(model, outputs) -> β · L_CS(model)``."""

    def __init__(self, beta: float, *, method: str = "gram"):
        self.beta, self.method = float(beta), method

    def __call__(self, model, outputs=None) -> torch.Tensor:
        return self.beta * model_cs(model, method=self.method)

    def __repr__(self):
        return f"CSRegularizer(beta={self.beta}, method={self.method!r})"


@torch.no_grad()
def conv_kernel_stats(model, *, method: str = "gram", num_threads: int | None = 1) -> dict:
    """Scalar summaries of the convolution kernels: ``l_cs`` (Σ_j L_CS), ``l_cs_normalized`` (the same with
    every kernel scaled to unit norm: separates decorrelation from shrinking, since L_CS is homogeneous of
    degree 4 in the kernel scale) and ``conv_kernel_norm`` (mean Frobenius norm of the kernels K_s)."""
    with threads(num_threads):
        return _kernel_stats(_unwrap(model), method)


def _kernel_stats(net, method):
    if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
        return {"l_cs": None, "l_cs_normalized": None, "conv_kernel_norm": None}
    norms = [m.weight.flatten(1).norm(dim=1) for m in net.modules()
             if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    out = {"l_cs": float(model_cs(net, method=method)), "l_cs_normalized": None,
           "conv_kernel_norm": float(torch.cat(norms).mean()) if norms else None}
    if norms and all(bool((n > 0).all()) for n in norms):
        out["l_cs_normalized"] = float(model_cs(net, method=method, normalized=True))
    return out
