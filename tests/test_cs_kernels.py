"""The trained-kernels analysis (experiments.cs.kernels) against direct NumPy computations."""

import numpy as np
import pytest
import torch
from scipy import stats as sps

from experiments.cs.kernels import analyse_run
from theory import reference as R


def _direct_feature_cos(w, x, padding):
    """Per image, |cos| of every pair of output maps of conv(x, w), averaged over images (NumPy loops)."""
    f = torch.nn.functional.conv2d(x, w, padding=padding).numpy()
    n, s = f.shape[:2]
    out = np.zeros((s, s))
    for b in range(n):
        for i in range(s):
            for j in range(s):
                a, c = f[b, i].ravel(), f[b, j].ravel()
                na, nc = np.linalg.norm(a), np.linalg.norm(c)
                out[i, j] += abs(a @ c) / (na * nc) if na > 0 and nc > 0 else 0.0
    return out / n


def test_single_layer_measures_match_direct_computations():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(2, 5, 3, padding=2, bias=False).double()
    with torch.no_grad():
        # a pair with |cos K| and |cos F| about 1; the 1e-4 offset keeps pairs (0, j) and (4, j) from tying
        # exactly, where the ranks (so ρ) would depend on how each route rounds, i.e. on the CPU's kernels
        conv.weight[4] = 2.0 * conv.weight[0] + 1e-4 * torch.randn_like(conv.weight[0])
    x = torch.randn(7, 2, 9, 9, dtype=torch.float64)
    (layer,) = analyse_run(torch.nn.Sequential(conv), x, resamples=200, seed=0)
    w = conv.weight.detach().numpy()
    iu = np.triu_indices(5, 1)
    fcos = _direct_feature_cos(conv.weight.detach(), x, 2)[iu]
    assert layer["mean_abs_cos_F"] == pytest.approx(fcos.mean(), rel=1e-12)
    g = R.conv_similarity_matrix(w, d=2)
    n2 = (w.reshape(5, -1) ** 2).sum(1)
    kc = np.abs(R.kernel_cosine_matrix(w, d=2))
    for key, v in (("kcos", kc[iu]), ("lcs", g[iu]), ("lcs_norm", (g / np.outer(n2, n2))[iu])):
        rho, lo, hi = layer[f"rho_{key}"]
        assert rho == pytest.approx(sps.spearmanr(v, fcos).statistic, abs=1e-12)
        assert lo <= rho <= hi
    assert layer["pairs"] == 10 and layer["kernels"] == 5
    assert kc[0, 4] == pytest.approx(1.0) and _direct_feature_cos(conv.weight.detach(), x, 2)[0, 4] == pytest.approx(1.0)


def test_zero_map_counts_as_cosine_zero():
    conv = torch.nn.Conv2d(1, 3, 3, padding=1, bias=False).double()
    with torch.no_grad():
        conv.weight.normal_()
    x = torch.zeros(2, 1, 6, 6, dtype=torch.float64)
    x[0, 0, 2, 2] = 1.0                                        # image 1 is all zero: every map is zero there
    (layer,) = analyse_run(torch.nn.Sequential(conv), x, resamples=0, seed=0)
    want = _direct_feature_cos(conv.weight.detach(), x, 1)[np.triu_indices(3, 1)].mean()
    assert layer["mean_abs_cos_F"] == pytest.approx(want, rel=1e-12) and layer["rho_kcos"][1] is None
