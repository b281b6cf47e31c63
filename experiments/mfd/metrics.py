"""Measurements of a trained MFD-study network (after training, :func:`measure_mfd`), on the test split in
eval mode (BatchNorm running statistics), batches of the training batch size (128) in file order, so that
each Pearson matrix (MFD eq. 6) sees the same batch size ``b`` as the loss did:

* per stage, the mean |off-diagonal| Pearson correlation (MFD Tables I and III), averaged over batches,
  via :func:`theory.batched.pearson.mean_abs_offdiagonal`, and the MFD loss of the stage (eq. 5);
* per stage, dead channels: the share of channels whose output is exactly 0 for every test image and
  position ("dead on the test set"), the mean share of all-zero maps per image (what Fig. 4-5 show as
  blank maps) and the mean share of channels constant over a batch (the Pearson rule's dead channels);
* the feature maps of stage 0 and stage 1 (first 64 channels, or all when fewer) of the first test image,
  saved as float16 arrays beside the result JSON for the Fig. 4-5 analogue.
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.training.data import TensorLoader
from experiments.training.engine import Trainer
from experiments.training.models import STAGES, capture_stages
from theory.batched.pearson import mean_abs_offdiagonal, mfd_loss

__all__ = ["measure_stages", "measure_mfd"]


@torch.no_grad()
def measure_stages(model, loader: TensorLoader, stages, *, maps_image: torch.Tensor | None = None,
                   maps_stages=("stage0", "stage1"), n_maps: int = 64):
    """Per-stage statistics of the outputs of ``stages`` over ``loader`` (eval mode); see the module doc."""
    model.eval()
    acc: dict = {s: {"mabs": [], "mfd": [], "batch_dead": []} for s in stages}
    chmax: dict = {}
    zero_maps: dict = {}
    n_images = 0
    with capture_stages(model, stages, detach=True) as feats:
        for x, _ in loader:
            if x.shape[0] < 2:
                continue
            model(x)
            n_images += x.shape[0]
            for s in stages:
                f = feats[s].to(torch.float64)
                acc[s]["mabs"].append(float(mean_abs_offdiagonal(f, d=2)))
                acc[s]["mfd"].append(float(mfd_loss(f, d=2)))
                b, c = f.shape[:2]
                flat = f.reshape(b, c, -1)
                # the Pearson rule's dead channels: constant over the batch at every position
                spread = (flat - flat[:1]).abs().amax(dim=(0, 2))
                acc[s]["batch_dead"].append(float((spread == 0).double().mean()))
                amax = flat.abs().amax(dim=2)                          # (b, C)
                chmax[s] = amax.amax(0) if s not in chmax else torch.maximum(chmax[s], amax.amax(0))
                zero_maps[s] = zero_maps.get(s, 0.0) + float((amax == 0).double().sum())
        arrays = {}
        maps_info = {}
        if maps_image is not None:
            model(maps_image)
            for s in maps_stages:
                if s in feats:
                    fm = feats[s][0, :n_maps].to(torch.float32).cpu().numpy()
                    arrays[f"maps_{s}"] = fm.astype(np.float16)
                    maps_info[s] = {"channels_saved": int(fm.shape[0]), "channels": int(feats[s].shape[1]),
                                    "shape": list(fm.shape[1:])}
    out = {}
    for s in stages:
        a = acc[s]
        if not a["mabs"]:
            out[s] = None
            continue
        c = int(chmax[s].numel())
        out[s] = {"channels": c,
                  "mean_abs_offdiag": float(np.mean(a["mabs"])),
                  "mean_abs_offdiag_batch_std": float(np.std(a["mabs"], ddof=1)) if len(a["mabs"]) > 1 else None,
                  "mfd_loss": float(np.mean(a["mfd"])),
                  "dead_share": float((chmax[s] == 0).double().mean()),
                  "zero_map_share": zero_maps[s] / (n_images * c),
                  "batch_dead_share": float(np.mean(a["batch_dead"])),
                  "batches": len(a["mabs"])}
    return {"stages": out, "images": n_images, "maps": maps_info}, arrays


def _eval_loader(trainer: Trainer, batch_size: int) -> TensorLoader:
    tl = trainer.test_loader
    data = trainer.test_data
    bs = min(int(batch_size), len(data))
    return TensorLoader(data, bs, shuffle=False, augment=False, mean=tl.mean.flatten().tolist(),
                        std=tl.std.flatten().tolist(), dtype=tl.dtype, device=tl.device, drop_last=True)


def measure_mfd(trainer: Trainer):
    """Post-training measurements of one run (module doc).

    Parameters
    ----------
    trainer : Trainer
        The trained run (its model, test split and config).

    Returns
    -------
    (dict, dict)
        The numbers (stored under ``"measure"`` in the result) and the arrays (``maps_stage0``, ``maps_stage1``).
    """
    cfg = trainer.cfg
    loader = _eval_loader(trainer, cfg.batch_size)
    x0, y0 = next(iter(TensorLoader(trainer.test_data, 1, shuffle=False, mean=loader.mean.flatten().tolist(),
                                    std=loader.std.flatten().tolist(), dtype=loader.dtype, device=loader.device)))
    stages = [s for s in STAGES if _has(trainer.model, s)]
    numbers, arrays = measure_stages(trainer.model, loader, stages, maps_image=x0,
                                     n_maps=getattr(cfg, "mfd_measure_maps", 64))
    numbers.update({"split": "test", "mode": "eval", "batch_size": loader.batch_size, "maps_image_index": 0,
                    "maps_image_label": int(y0[0]),
                    "regularised": list(getattr(cfg, "mfd_stages", [])) if getattr(cfg, "mfd_lambda", 0) else []})
    return numbers, arrays


def _has(model, name) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False
