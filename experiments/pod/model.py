"""The POD paper's network and training (Zhu & Zu, Fig. 1, eq. 13-19).

**Network**: ResNet18 (CIFAR stem) whose last Linear (``fc``, "FC1") maps the pooled features to an
``n``-dimensional latent feature ``x`` (``feature_dim``), followed by the **PEDCC layer** (``pedcc``, "FC2"):
``k`` predefined evenly-distributed class centroids (:func:`theory.batched.pedcc.pedcc_centroids`, unit
vectors with ``<a_i, a_j> = -1/(k-1)``) stored as a **buffer** — not a parameter, so no optimiser, weight
decay or gradient ever touches it; it is saved in checkpoints and restored on resume. Its output is
``cos θ_{x, pedcc_i}``, and the class is ``argmax_i cos θ_{x, pedcc_i}`` (eq. 17-19).

**Losses** (``loss``), on the latent features ``x`` (captured from the ``backbone`` sub-module, i.e. the
FC1 output), computed by :mod:`theory.batched.pedcc`:

* ``ce``: the softmax baseline — a standard ResNet18 (``fc``: pooled features -> ``k`` logits), cross-entropy;
* ``cosine``: Cosine loss only (eq. 13), ``(1/B) Σ (1 - cos θ_{y_i})²``;
* ``pod``: POD loss (eq. 16), Cosine + ``λ·`` SC loss (eq. 14-15), ``λ = pod_lambda`` (1: the paper gives no
  value; the authors' code adds the two terms with weight 1).

No softmax / cross-entropy is used with ``cosine`` and ``pod`` (the paper's point: "Softmax-free"). The
authors' public code differs from the paper's equations (its SC term is also divided by ``n - 1``, its
cosine term appends a constant feature ``δ``); we implement the equations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from experiments.common.cli import UsageError, option
from experiments.training import distributed as dist_utils
from experiments.training.engine import TrainConfig, Trainer, seed_everything
from experiments.training.models import capture_stages, count_parameters, resnet18
from theory.batched.pedcc import cosine_loss, pedcc_centroids, pod_loss

__all__ = ["PODConfig", "PEDCCLayer", "PEDCCResNet18", "PODTrainer"]


@dataclass
class PODConfig(TrainConfig):
    """:class:`TrainConfig` plus the head / loss of the POD experiments (module doc)."""

    head: str = option("softmax", "classification head", choices=("softmax", "pedcc"))
    loss: str = option("ce", "ce (softmax head) | cosine, pod (pedcc head)", choices=("ce", "cosine", "pod"))
    feature_dim: int = option(256, "n, the latent feature dimension (pedcc head)")
    pod_lambda: float = option(1.0, "λ of POD eq. 16")
    pedcc_seed: int = option(0, "seed of the PEDCC centroids")

    def validate(self) -> "PODConfig":
        super().validate()
        if self.head not in ("softmax", "pedcc"):
            raise UsageError(f"--head: expected 'softmax' or 'pedcc', got {self.head!r}")
        allowed = ("ce",) if self.head == "softmax" else ("cosine", "pod")
        if self.loss not in allowed:
            raise UsageError(f"--loss: with head {self.head!r} expected one of {allowed}, got {self.loss!r}")
        if self.head == "pedcc":
            if self.model != "resnet18":
                raise UsageError("--head: 'pedcc' supports only --model resnet18")
            if self.feature_dim < 1:
                raise UsageError(f"--feature-dim: expected >= 1, got {self.feature_dim}")
            if list(self.capture) != ["backbone"]:
                raise UsageError("--capture: head 'pedcc' needs capture == ['backbone'] (the latent features)")
        if not math.isfinite(self.pod_lambda) or self.pod_lambda < 0:
            raise UsageError(f"--pod-lambda: expected a finite number >= 0, got {self.pod_lambda!r}")
        return self


# -------------------------------------------------------------------------------------------- model

class PEDCCLayer(nn.Module):
    """The fixed PEDCC classification layer: ``cos θ`` between each latent feature and each centroid (eq. 19).

    ``centroids`` ``(k, n)`` is a buffer (unit rows, ``<a_i, a_j> = -1/(k-1)``): never trained.
    """

    def __init__(self, k: int, n: int, seed: int = 0):
        super().__init__()
        self.register_buffer("centroids", pedcc_centroids(k, n, seed, dtype=torch.float32))

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.centroids, dim=1).t()


class PEDCCResNet18(nn.Module):
    """``backbone`` = ResNet18 with ``fc: pooled -> n`` (FC1, the latent features), then ``pedcc`` (FC2, fixed)."""

    def __init__(self, num_classes: int, feature_dim: int, *, in_channels: int = 3, width: float = 1.0,
                 pedcc_seed: int = 0):
        super().__init__()
        self.backbone = resnet18(num_classes=feature_dim, in_channels=in_channels, width=width)
        self.pedcc = PEDCCLayer(num_classes, feature_dim, pedcc_seed)

    def forward(self, x):
        return self.pedcc(self.backbone(x))


# ------------------------------------------------------------------------------------------ trainer

class PODTrainer(Trainer):
    """:class:`Trainer` with the PEDCC head and the Softmax-free losses (``config.head == 'pedcc'``).

    The base trainer builds the standard network; for the PEDCC head it is replaced (same seed, so the
    backbone starts from the weights the same seed gives the softmax baseline) before any training, with
    a fresh optimiser and scheduler of the same settings. The task loss is the Cosine or POD loss of the
    captured latent features; test loss = the Cosine loss (eq. 13) on the test split.
    """

    def __init__(self, config: PODConfig, **kw):
        super().__init__(config, **kw)
        if config.head == "pedcc":
            seed_everything(config.seed)
            c, _, _ = self.train_data.shape
            self.model = self.prepare_model(PEDCCResNet18(self.train_data.num_classes, config.feature_dim,
                                                          in_channels=c, width=config.width,
                                                          pedcc_seed=config.pedcc_seed))
            self.num_parameters = count_parameters(self.model)
            self.net = dist_utils.wrap(self.model, self.dist)
            self.optimizer = self.make_optimizer(self.model.parameters())
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=list(config.lr_milestones),
                                                                  gamma=config.lr_gamma)

    @property
    def centroids(self) -> torch.Tensor:
        return self.model.pedcc.centroids

    def task_loss(self, latent, y):
        if self.cfg.loss == "cosine":
            return cosine_loss(latent, y, self.centroids)
        return pod_loss(latent, y, self.centroids, self.cfg.pod_lambda)

    def compute_loss(self, x, y, *, features=None):
        if self.cfg.head != "pedcc":
            return super().compute_loss(x, y, features=features)
        with self.autocast():                  # amp (float16) or precision bf16; the POD loss in float32
            logits = self.net(x)
        latent = (features or {}).get("backbone")
        if latent is None:
            raise RuntimeError("POD: the latent features were not captured (config.capture must be ['backbone'])")
        low = self.low_precision
        if low:
            logits, features = logits.float(), {k: v.float() for k, v in features.items()}
        task = self.task_loss(latent.float() if low else latent, y)
        parts = {"task": task}
        outputs = {"logits": logits, "targets": y, "inputs": x, "features": features}
        loss = task
        for name, fn in self.terms.items():
            v = fn(self.net, outputs)
            parts[name] = v
            loss = loss + v
        return loss, logits, parts

    @torch.no_grad()
    def evaluate(self, model=None):
        if self.cfg.head != "pedcc":
            return super().evaluate(model)
        model = self.model if model is None else model
        model.eval()
        loss_sum, correct, n = 0.0, 0, 0
        with capture_stages(model, ["backbone"], detach=True) as feats:
            for x, y in self.test_loader:
                with self.autocast():
                    logits = model(x).float()
                latent = feats["backbone"].float()
                loss_sum += float(cosine_loss(latent, y, model.pedcc.centroids.float())) * int(y.shape[0])
                correct += int((logits.argmax(1) == y).sum())
                n += int(y.shape[0])
        return loss_sum / max(n, 1), correct / max(n, 1)
