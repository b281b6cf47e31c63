"""The 2-D claim on trained kernels (``python -m experiments cs kernels``): in the converged networks, does a
pair of kernels that L_CS calls similar give feature maps that are correlated on real images?

For every convolution of each analysed run and every pair ``i < j`` of its output kernels:

* ``|cos K|`` — the absolute cosine of the flattened kernels (what kernel orthogonality controls);
* ``L_CS`` — the pair's term of eq. 9, ``Σ_{c1,c2} Σ_n (K_i[c1] ⋆ K_j[c2])²[n]``
  (:func:`theory.batched.similarity.conv_similarity_matrix`);
* ``L_CS / (‖K_i‖²‖K_j‖²)`` — the same with both kernels at unit norm (scale-invariant);
* ``|cos F|`` — the measured absolute cosine of the two feature maps (the convolution's outputs, before
  BatchNorm), per test image, averaged over the first ``images`` test images; the layer's input is what the
  trained network feeds it, BatchNorm in train mode over that batch (so stale running statistics play no
  part). A map that is zero on an image counts as cosine 0 there.

Each kernel measure is compared with ``|cos F|`` across the layer's pairs by Spearman's rank correlation
(``scipy.stats.spearmanr``), with a 95 % percentile bootstrap interval over pairs (``resamples`` draws,
seeded). The final weights come from each run's checkpoint (its last epoch) and are saved beside the result
(``<results>/<group>/kernels/<run>.npz``), so the analysis re-runs from committed files.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common.cli import UsageError, check_int, check_out_dir, option
from experiments.common.io import load_arrays, read_json, save_arrays, write_json_atomic

from .converged import arm_of
from .spec import OUT, RUNS_DIR

__all__ = ["CSKernels", "analyse_run", "write_kernels", "MEASURES", "KERNEL_ARMS"]

MEASURES = {"kcos": "|cos K|", "lcs": "L_CS pair term", "lcs_norm": "scale-invariant L_CS pair term"}
#: the arms analysed by default (no momentum): the methods and the controls
KERNEL_ARMS = ("baseline", "alg1", "alg2", "rescale", "directions", "alg1n")


@dataclass
class CSKernels:
    """Options of ``python -m experiments cs kernels``."""

    group: str = option("converged", "result group whose Table 5 runs are analysed")
    results: str = option(f"{OUT}/results", "results directory: reads <group>/table5/*.json, writes "
                          "<group>/kernels.json and <group>/kernels/<run>.npz")
    runs_dir: str = option(RUNS_DIR, "where the runs' checkpoints are (used when a run's weights are not saved yet)")
    arms: typing.List[str] = option(help="arms to analyse", factory=lambda: list(KERNEL_ARMS))
    images: int = option(500, "test images the feature maps are measured on (first n in file order)")
    resamples: int = option(2000, "bootstrap resamples over pairs")
    data_root: typing.Optional[str] = option(None, "Fashion-MNIST directory (none: $FASHION_MNIST_DIR or the "
                                             "Debian package's)")

    def validate(self):
        check_int("images", self.images, 2)
        check_int("resamples", self.resamples, 0)
        if not (Path(self.results) / self.group / "table5").is_dir():
            raise UsageError(f"--group: no Table 5 results under {Path(self.results) / self.group / 'table5'}")
        check_out_dir("results", Path(self.results) / self.group)          # kernels.json and kernels/ go there
        return self


def _spearman(x, y, resamples: int, rng) -> list:
    from scipy import stats

    rho = float(stats.spearmanr(x, y).statistic)
    if resamples <= 0 or x.size < 4:
        return [rho, None, None]
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    boot = np.array([stats.spearmanr(x[i], y[i]).statistic for i in idx], dtype=np.float64)
    boot = boot[np.isfinite(boot)]
    lo, hi = np.percentile(boot, [2.5, 97.5]) if boot.size else (None, None)
    return [rho, float(lo), float(hi)]


def _feature_cos(f) -> "np.ndarray":
    import torch

    b, s = f.shape[:2]
    flat = f.reshape(b, s, -1).to(torch.float64)
    unit = flat / flat.norm(dim=2, keepdim=True).clamp_min(1e-300)
    unit = torch.where(flat.norm(dim=2, keepdim=True) > 0, unit, torch.zeros_like(unit))
    return (unit @ unit.transpose(1, 2)).abs().mean(0).numpy()


def analyse_run(model, images, *, resamples: int, seed: int) -> list[dict]:
    """Per convolution of ``model``: the pair measures and their Spearman ρ with ``|cos F|`` (module doc)."""
    import torch

    from theory.batched.fast_similarity import kernel_autocorrelation_sum
    from theory.batched.orthogonality import kernel_cosine_matrix

    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    outs = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, n=n: outs.__setitem__(n, o.detach())) for n, m in convs]
    model.train()
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in hooks:
            h.remove()
    rng = np.random.default_rng(seed)
    layers = []
    for name, m in convs:
        w = m.weight.detach().to(torch.float64)
        s = w.shape[0]
        iu = np.triu_indices(s, 1)
        norms2 = (w.flatten(1) ** 2).sum(1).numpy()
        # Pairwise L_CS: <a_i, a_j> with a_i = Σ_c K_i[c] ⋆ K_i[c] equals Σ_{c1,c2} ||K_i[c1] ⋆ K_j[c2]||²
        # (the identity behind the fast L_CS); O(S·C) memory instead of the (S·C)² lagged correlations.
        a = kernel_autocorrelation_sum(w, d=2).flatten(1)
        g = (a @ a.T).numpy()
        measures = {"kcos": np.abs(kernel_cosine_matrix(w, d=2).numpy())[iu], "lcs": g[iu],
                    "lcs_norm": (g / np.outer(norms2, norms2))[iu]}
        fcos = _feature_cos(outs[name])[iu]
        layers.append({"layer": name, "kernels": int(s), "pairs": int(iu[0].size),
                       "mean_abs_cos_F": float(fcos.mean()), "mean_abs_cos_K": float(measures["kcos"].mean()),
                       **{f"rho_{k}": _spearman(v, fcos, resamples, rng) for k, v in measures.items()}})
    return layers


def _final_state(run_name: str, rec: dict, opts: CSKernels):
    """The run's final state dict: from the saved ``.npz``, else its checkpoint (which must be at the last
    epoch), saved then."""
    import torch

    npz = Path(opts.results) / opts.group / "kernels" / f"{run_name}.npz"
    arrays = load_arrays(npz)
    if arrays is not None:
        return {k: torch.from_numpy(v) for k, v in arrays.items()}
    ck = Path(opts.runs_dir) / opts.group / "table5" / run_name / "checkpoint.pt"
    if not ck.is_file():
        return None
    st = torch.load(ck, map_location="cpu", weights_only=False)
    if int(st["epoch"]) != int(rec["config"]["epochs"]):
        raise UsageError(f"--runs-dir: {ck} is at epoch {st['epoch']}, not the run's last ({rec['config']['epochs']})")
    state = {k: v.detach().cpu().contiguous() for k, v in st["model"].items()}
    save_arrays(npz, {k: v.numpy() for k, v in state.items()})
    return state


def write_kernels(opts: CSKernels, log=print) -> Path:
    """Analyse every finished run of ``opts.arms`` in the group; writes ``<results>/<group>/kernels.json``."""
    import torch

    from experiments.training.data import TensorLoader
    from experiments.training.engine import load_split
    from experiments.training.models import build_model

    res = Path(opts.results) / opts.group
    test = load_split("fashion-mnist", "test", opts.data_root)
    train = load_split("fashion-mnist", "train", opts.data_root)
    mean, std = train.channel_stats()
    x, _ = next(iter(TensorLoader(test, opts.images, mean=mean, std=std, dtype=torch.float64)))
    out, missing = {}, []
    for p in sorted((res / "table5").glob("*.json")):
        rec = read_json(p)
        arm = arm_of(rec["config"])
        if arm not in opts.arms or rec.get("status") != "done":
            continue
        state = _final_state(p.stem, rec, opts)
        if state is None:
            missing.append(p.stem)
            continue
        c = rec["config"]
        model = build_model(c["model"], in_channels=1, input_size=(28, 28), num_classes=10, width=c["width"])
        model.load_state_dict(state)
        model = model.to(torch.float64)
        out[p.stem] = {"arm": arm, "model": c["model"], "seed": c["seed"],
                       "layers": analyse_run(model, x, resamples=opts.resamples, seed=int(c["seed"]))}
        log(f"kernels: {p.stem} analysed")
    path = res / "kernels.json"
    write_json_atomic(path, {"group": opts.group, "images": opts.images, "resamples": opts.resamples,
                             "measures": MEASURES, "runs": out, "missing_weights": missing})
    return path
