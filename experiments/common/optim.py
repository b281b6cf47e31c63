"""Batched optimisers for Monte Carlo episodes (one parameter tensor holding every episode) and the device
check.

``FusedAdam`` is the kernel of ``torch.optim.Adam(fused=True)`` with Adam's defaults; ``PythonAdam`` the
arithmetic of Adam's single-tensor path; ``SGD`` plain gradient descent. They step ``p`` in place with a
given gradient ``g``, so a whole batch of independent episodes is one tensor op per step.

Example
-------
>>> import torch
>>> p = torch.ones(3, dtype=torch.float64)
>>> opt = PythonAdam(p, lr=0.1)
>>> opt.step(p, torch.ones(3, dtype=torch.float64))
>>> [round(v, 6) for v in p.tolist()]
[0.9, 0.9, 0.9]
"""

from __future__ import annotations

import torch

from .cli import UsageError

__all__ = ["ADAM_BETAS", "ADAM_EPS", "FusedAdam", "PythonAdam", "SGD", "OPTIMIZERS", "resolve_device"]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class FusedAdam:
    """``torch._fused_adam_`` with torch.optim.Adam's defaults (the kernel of ``Adam(fused=True)``)."""

    def __init__(self, p: torch.Tensor, lr: float):
        self.lr = lr
        self.m = torch.zeros_like(p)
        self.v = torch.zeros_like(p)
        self.step_t = torch.zeros((), dtype=torch.float32, device=p.device)

    def step(self, p: torch.Tensor, g: torch.Tensor) -> None:
        self.step_t += 1
        torch._fused_adam_([p], [g], [self.m], [self.v], [], [self.step_t], lr=self.lr, beta1=ADAM_BETAS[0],
                           beta2=ADAM_BETAS[1], weight_decay=0.0, eps=ADAM_EPS, amsgrad=False, maximize=False)


class PythonAdam:
    """Unfused batched Adam: the arithmetic of ``torch.optim.Adam``'s single-tensor path, defaults."""

    def __init__(self, p: torch.Tensor, lr: float):
        self.lr = lr
        self.m = torch.zeros_like(p)
        self.v = torch.zeros_like(p)
        self.denom = torch.empty_like(p)
        self.t = 0

    def step(self, p: torch.Tensor, g: torch.Tensor) -> None:
        b1, b2 = ADAM_BETAS
        self.t += 1
        self.m.lerp_(g, 1.0 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        bc1 = 1.0 - b1 ** self.t
        bc2_sqrt = (1.0 - b2 ** self.t) ** 0.5
        torch.sqrt(self.v, out=self.denom)
        self.denom.div_(bc2_sqrt).add_(ADAM_EPS)
        p.addcdiv_(self.m, self.denom, value=-self.lr / bc1)


class SGD:
    """``p <- p - lr·g``."""

    def __init__(self, p: torch.Tensor, lr: float):
        self.lr = lr

    def step(self, p: torch.Tensor, g: torch.Tensor) -> None:
        p.sub_(g, alpha=self.lr)


OPTIMIZERS = {"adam": FusedAdam, "adam_python": PythonAdam, "sgd": SGD}


def resolve_device(device: str, flag: str = "--device", *, present: bool = True) -> torch.device:
    """``torch.device(device)``; a :class:`UsageError` naming ``flag`` when unknown or (``present``) CUDA is
    absent. ``present=False`` checks the name only (a config for another machine may name ``cuda``)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"{flag}: unknown device {device!r} ({exc})") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"{flag}: expected 'cpu' or 'cuda[:i]', got {device!r}")
    if dev.type == "cuda" and present:
        if not torch.cuda.is_available():
            raise UsageError(f"{flag}: {device!r} requested but no CUDA device is present "
                             "(torch.cuda.is_available() is False); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"{flag}: {device!r} requested but only {torch.cuda.device_count()} CUDA "
                             "device(s) are present")
    return dev
