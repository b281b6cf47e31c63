"""After training a POD-study network (:func:`measure_pod`): the test accuracy by cosine classification
(POD eq. 19, equal to the engine's last test accuracy), the test Cosine and SC losses (eq. 13-14, per batch
of the training batch size, averaged), and the **Gaussian discriminant classifier** of Table VII: per-class
mean and covariance of the unit-normalised latent features of the training subset (eval mode, no
augmentation), covariance shrunk towards ``(tr Σ_c / n)·I`` by :data:`~experiments.pod.spec.GDA_SHRINK`
(needed: with ``n`` = 256 and a few hundred images per class the sample covariance is singular), equal
priors, class = argmax of the Gaussian log-likelihood (quadratic discriminant).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from experiments.training.data import TensorLoader
from experiments.training.models import capture_stages
from theory.batched.pedcc import cosine_loss, pedcc_centroids, pedcc_predict, sc_loss

from .model import PODTrainer
from .spec import GDA_SHRINK

__all__ = ["gda_fit_predict", "measure_pod"]


def gda_fit_predict(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, num_classes: int,
                    shrink: float = GDA_SHRINK) -> torch.Tensor:
    """Quadratic Gaussian discriminant: per-class mean and covariance (ddof 1) of ``train_x`` ``(N, n)``, the
    covariance shrunk to ``(1 - shrink)·Σ_c + shrink·(tr Σ_c / n)·I``, equal priors; returns the argmax class
    of the log-likelihood for each row of ``test_x``. Float64 throughout."""
    xs, ys, xt = train_x.double(), train_y.long(), test_x.double()
    n = xs.shape[1]
    scores = []
    for c in range(num_classes):
        xc = xs[ys == c]
        if xc.shape[0] < 2:
            scores.append(torch.full((xt.shape[0],), -math.inf, dtype=torch.float64))
            continue
        mu = xc.mean(0)
        cov = torch.cov(xc.T).reshape(n, n)
        cov = (1 - shrink) * cov + shrink * (torch.trace(cov) / n) * torch.eye(n, dtype=torch.float64)
        cov = cov + 1e-12 * torch.eye(n, dtype=torch.float64)
        chol = torch.linalg.cholesky(cov)
        z = torch.linalg.solve_triangular(chol, (xt - mu).T, upper=False)      # (n, M)
        logdet = 2 * torch.log(torch.diagonal(chol)).sum()
        scores.append(-0.5 * (z * z).sum(0) - 0.5 * logdet)
    return torch.stack(scores, 1).argmax(1)


@torch.no_grad()
def _latent(model, loader):
    model.eval()
    xs, ys = [], []
    with capture_stages(model, ["backbone"], detach=True) as feats:
        for x, y in loader:
            model(x)
            xs.append(feats["backbone"].float().cpu())
            ys.append(y.cpu())
    return torch.cat(xs), torch.cat(ys)


def _loader(trainer, data, batch_size, drop_last=False):
    tl = trainer.test_loader
    return TensorLoader(data, min(batch_size, len(data)), shuffle=False, augment=False, mean=tl.mean.flatten().tolist(),
                        std=tl.std.flatten().tolist(), dtype=tl.dtype, device=tl.device, drop_last=drop_last)


def measure_pod(trainer: PODTrainer):
    """Post-training numbers of one run (module doc).

    Parameters
    ----------
    trainer : PODTrainer
        The trained run.

    Returns
    -------
    (dict, dict)
        The numbers (stored under ``"measure"`` in the result) and no arrays.
    """
    cfg = trainer.cfg
    if cfg.head != "pedcc":
        return {"head": "softmax"}, {}
    k = trainer.train_data.num_classes
    cent = trainer.centroids.detach().float().cpu()
    test_x, test_y = _latent(trainer.model, _loader(trainer, trainer.test_data, cfg.eval_batch_size))
    train_x, train_y = _latent(trainer.model, _loader(trainer, trainer.train_data, cfg.eval_batch_size))
    cos_pred = pedcc_predict(test_x, cent)
    unit = lambda a: a / torch.linalg.vector_norm(a, dim=1, keepdim=True)     # noqa: E731
    gda_pred = gda_fit_predict(unit(train_x), train_y, unit(test_x), k)
    cos_l, sc_l = [], []
    bs = min(cfg.batch_size, test_x.shape[0])
    for i in range(0, test_x.shape[0] - bs + 1, bs):
        cos_l.append(float(cosine_loss(test_x[i:i + bs], test_y[i:i + bs], cent)))
        sc_l.append(float(sc_loss(test_x[i:i + bs], test_y[i:i + bs], cent)))
    cos_to_own = (unit(test_x) * cent[test_y]).sum(1)
    return {"head": "pedcc", "feature_dim": int(test_x.shape[1]),
            "cosine_acc": float((cos_pred == test_y).double().mean()),
            "gda_acc": float((gda_pred == test_y).double().mean()), "gda_shrink": GDA_SHRINK,
            "gda_train_images": int(train_x.shape[0]),
            "test_cosine_loss": float(np.mean(cos_l)) if cos_l else None,
            "test_sc_loss": float(np.mean(sc_l)) if sc_l else None, "sc_batch_size": bs,
            "test_mean_cos_own_centroid": float(cos_to_own.mean()),
            "centroids_max_abs_change": float((cent - pedcc_centroids(k, cfg.feature_dim, cfg.pedcc_seed,
                                                                      dtype=torch.float32)).abs().max())}, {}
