"""The MFD term in training (MFD paper eq. 7): ``L = CE + λ Σ_{s ∈ mfd_stages} L_MFD(output of stage s)``.

Each ``L_MFD`` (eq. 5-6) is :func:`theory.batched.pearson.mfd_loss` (one shifted centring and one GEMM per
stage; dead channels — constant over the batch — contribute zero rows and columns). The regularised tensors
are named in the config (:attr:`MFDConfig.mfd_stages`); the studies use the **outputs of the five stages of
ResNet18**: ``stage0`` (the stem ``ReLU(BN(conv3x3(x)))``, CIFAR stem, no max-pool) and ``stage1`` ..
``stage4`` (the output of the last BasicBlock of each residual stage, after its ``ReLU(out + shortcut)``),
captured by forward hooks with the graph kept, so the MFD gradient reaches every layer before each stage.
(The authors' public code regularises other sets of tensors; ours does only what the config says.)
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass

import torch

from experiments.common.cli import UsageError, option
from experiments.training.engine import TrainConfig
from experiments.training.losses import register_extra_loss
from theory.batched.pearson import mfd_loss

__all__ = ["MFDConfig", "MFDTerm", "method_of"]


@dataclass
class MFDConfig(TrainConfig):
    """:class:`TrainConfig` plus the MFD term: ``mfd_lambda · Σ_{s in mfd_stages} L_MFD(output of s)``."""

    mfd_lambda: float = option(0.0, "λ of MFD eq. 7 (0: softmax only)")
    mfd_stages: typing.List[str] = option(help="sub-modules whose outputs are regularised", factory=list)
    mfd_measure_maps: int = option(64, "channels of stage 0/1 saved after training (Fig. 4-5)")

    def validate(self) -> "MFDConfig":
        super().validate()
        if not math.isfinite(self.mfd_lambda) or self.mfd_lambda < 0:
            raise UsageError(f"--mfd-lambda: expected a finite number >= 0, got {self.mfd_lambda!r}")
        if self.mfd_lambda > 0:
            if not self.mfd_stages:
                raise UsageError("--mfd-stages: mfd_lambda > 0 needs at least one regularised stage")
            if "mfd" not in self.extra_losses:
                raise UsageError("--extra-losses: mfd_lambda > 0 needs 'mfd' in extra_losses")
            missing = [s for s in self.mfd_stages if s not in self.capture]
            if missing:
                raise UsageError(f"--capture: the regularised stages {missing} must be captured")
        elif "mfd" in self.extra_losses:
            raise UsageError("--extra-losses: 'mfd' listed but mfd_lambda is 0")
        return self


class MFDTerm:
    """``λ Σ_s L_MFD(features[s])`` (MFD eq. 7, second term) for the engine's extra-loss hook.

    ``features[s]`` is the captured output ``(b, C, H, W)`` of sub-module ``s``; each stage's loss is
    :func:`theory.batched.pearson.mfd_loss` with ``d = 2``. ``last`` holds the per-stage values of the
    latest call (floats, for logging).
    """

    def __init__(self, lam: float, stages):
        self.lam = float(lam)
        self.stages = list(stages)
        self.last: dict[str, float] = {}

    def __call__(self, model, outputs):
        feats = outputs["features"]
        missing = [s for s in self.stages if s not in feats]
        if missing:
            raise RuntimeError(f"MFD: the stages {missing} were not captured (config.capture must list them)")
        losses = [mfd_loss(feats[s], d=2) for s in self.stages]
        self.last = {s: float(v.detach()) for s, v in zip(self.stages, losses)}
        return self.lam * torch.stack(losses).sum()


@register_extra_loss("mfd")
def _make_mfd(config) -> MFDTerm:
    if not isinstance(config, MFDConfig):
        raise TypeError("extra loss 'mfd' needs an MFDConfig (mfd_lambda, mfd_stages)")
    return MFDTerm(config.mfd_lambda, config.mfd_stages)


def method_of(cfg: dict) -> str:
    """``mfd`` or ``softmax`` from a run's config."""
    return "mfd" if cfg.get("mfd_lambda") else "softmax"
