"""Algorithm 1's controls (directions only, norms only, scale-invariant objective) and the BatchNorm-recalibrated
evaluation of the training engine."""

import copy

import pytest
import torch

from experiments.common.cli import UsageError
from experiments.training.data import ImageData
from experiments.training.engine import TrainConfig, Trainer
from experiments.training.losses import cs_initialize, model_cs
from experiments.training.models import cnn1


def _net(seed=0):
    torch.manual_seed(seed)
    return cnn1(width=0.25, in_channels=1, input_size=(28, 28)).double()


def _convs(net):
    return [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]


def _others(net):
    conv_w = {id(m.weight) for m in _convs(net)}
    return [p.detach().clone() for p in net.parameters() if id(p) not in conv_w]


def _cos(a, b):
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_apply_variants_split_alg1_into_directions_and_norms():
    init, full, dirs, norms = _net(), _net(), _net(), _net()
    r_full = cs_initialize(full, 40, lr=1e-2)
    r_dirs = cs_initialize(dirs, 40, lr=1e-2, apply="directions")
    r_norms = cs_initialize(norms, 40, lr=1e-2, apply="norms")
    assert r_full["l_cs"] == r_dirs["l_cs"] == r_norms["l_cs"]        # the same Algorithm 1 in all three
    assert r_full["layer_norms_alg1"] == r_dirs["layer_norms_alg1"] == r_norms["layer_norms_alg1"]
    for c0, cf, cd, cn in zip(*map(_convs, (init, full, dirs, norms))):
        w0, wf, wd, wn = (m.weight.detach() for m in (c0, cf, cd, cn))
        assert float(wf.norm()) < 0.9 * float(w0.norm())              # Algorithm 1 shrank every layer
        # directions: Algorithm 1's kernels at the initial norm; norms: the initial kernels at Algorithm 1's
        assert float(wd.norm()) == pytest.approx(float(w0.norm()), rel=1e-12)
        assert _cos(wd, wf) == pytest.approx(1.0, abs=1e-12)
        assert float(wn.norm()) == pytest.approx(float(wf.norm()), rel=1e-12)
        assert _cos(wn, w0) == pytest.approx(1.0, abs=1e-12) and _cos(wf, w0) < 1 - 1e-6
    for a, b in zip(_others(init), _others(norms)):                    # biases, BN, Linear untouched
        assert torch.equal(a, b)
    # L_CS is 4-homogeneous per layer: the rescale control alone lowers it; directions at the initial norm
    # keep the scale-invariant L_CS of Algorithm 1
    assert float(model_cs(norms).detach()) < float(model_cs(init).detach())
    assert float(model_cs(dirs, normalized=True)) == pytest.approx(float(model_cs(full, normalized=True)), rel=1e-9)
    assert float(model_cs(norms, normalized=True)) == pytest.approx(float(model_cs(init, normalized=True)), rel=1e-9)


def test_normalized_objective_is_minimised_and_scale_free():
    a, b = _net(), _net()
    with torch.no_grad():
        for m in _convs(b):
            m.weight.mul_(7.0)
    ra = cs_initialize(a, 30, lr=1e-2, normalized=True)
    assert ra["objective"] == "normalized" and ra["l_cs"][-1] < ra["l_cs"][0]
    assert ra["l_cs"][0] == pytest.approx(float(model_cs(_net(), normalized=True)), rel=1e-12)
    # the objective's value does not see the kernels' scale (its Adam steps do: Adam's step is absolute)
    assert cs_initialize(b, 0, normalized=True)["l_cs"][0] == pytest.approx(ra["l_cs"][0], rel=1e-9)
    with pytest.raises(ValueError, match="apply"):
        cs_initialize(_net(), 1, apply="both")


def _data(n=40, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageData(torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
                     torch.arange(n) % classes, classes)


def _trainer(tmp_path, **kw):
    kw = {"epochs": 1, **kw}
    cfg = TrainConfig(out_dir=str(tmp_path / "r"), model="cnn1", width=0.25, batch_size=8, progress=False,
                      threads=1, **kw)
    return Trainer(cfg, train_data=_data(), test_data=_data(12, seed=1))


def test_recalibrated_bn_statistics_are_the_average_of_the_batch_statistics(tmp_path):
    tr = _trainer(tmp_path, bn_recal_batches=3)
    bn0 = tr.model[1]
    with torch.no_grad():                                 # stale statistics, as after a big weight change
        bn0.running_mean.fill_(5.0)
        bn0.running_var.fill_(100.0)
    before = copy.deepcopy(tr.model.state_dict())
    model = tr.recalibrated_model()
    for k, v in tr.model.state_dict().items():          # the run's model is untouched
        assert torch.equal(v, before[k]), k
    # expected: per-channel mean over the 3 batches of each batch's mean / unbiased variance of conv0's output
    loader_batches = []
    mean, std = tr._normalization
    from experiments.training.data import TensorLoader
    for i, (x, _) in enumerate(TensorLoader(tr.train_data, 8, shuffle=True, seed=tr.cfg.seed + 2, mean=mean,
                                            std=std)):
        if i == 3:
            break
        loader_batches.append(x)
    with torch.no_grad():
        outs = [tr.model[0](x) for x in loader_batches]
    want_mean = torch.stack([o.mean((0, 2, 3)) for o in outs]).mean(0)
    want_var = torch.stack([o.var((0, 2, 3), unbiased=True) for o in outs]).mean(0)
    got = model[1]
    assert torch.allclose(got.running_mean, want_mean, rtol=1e-5, atol=1e-6)
    assert torch.allclose(got.running_var, want_var, rtol=1e-5, atol=1e-6)
    assert int(got.num_batches_tracked) == 3
    # the recalibrated test does not depend on the running statistics at all; the plain test does
    fresh = _trainer(tmp_path / "fresh", bn_recal_batches=3)
    assert tr.evaluate_recalibrated() == fresh.evaluate_recalibrated()
    assert tr.evaluate() != fresh.evaluate()
    assert tr.evaluate_recalibrated() == tr.evaluate_recalibrated()   # the same subset every time


def test_recalibration_is_recorded_when_due_and_off_by_default(tmp_path):
    rec = _trainer(tmp_path / "a", bn_recal_batches=2, bn_recal_every=2, epochs=3).run()
    got = [(r["epoch"], r["test_acc_recal"] is not None) for r in rec["history"]]
    assert got == [(0, False), (1, False), (2, True), (3, True)]      # every 2nd epoch and the last
    assert rec["summary"]["last_test_acc_recal"] == rec["history"][-1]["test_acc_recal"]
    off = _trainer(tmp_path / "b", epochs=1).run()
    assert all(r["test_acc_recal"] is None for r in off["history"]) and off["summary"]["best_test_acc_recal"] is None
    # the recalibrated test changes nothing of the training itself
    on = _trainer(tmp_path / "c", epochs=1, bn_recal_batches=2).run()
    assert on["history"][1]["test_acc"] == off["history"][1]["test_acc"]
    assert on["steps"] == off["steps"]


def test_engine_applies_the_controls_and_refuses_them_without_alg1(tmp_path):
    recs = {a: _trainer(tmp_path / a, cs_init_iters=5, cs_init_apply=a, epochs=0).run()
            for a in ("full", "directions", "norms")}
    init = recs["full"]["cs_init"]
    assert init["apply"] == "full" and init["objective"] == "plain"
    assert recs["directions"]["cs_init"]["layer_norms_final"] == pytest.approx(init["layer_norms_initial"], rel=1e-5)
    assert recs["norms"]["cs_init"]["layer_norms_final"] == pytest.approx(init["layer_norms_alg1"], rel=1e-5)
    with pytest.raises(UsageError, match="cs-init-iters"):
        TrainConfig(cs_init_apply="norms").validate()
    with pytest.raises(UsageError, match="cs-init-objective"):
        TrainConfig(cs_init_iters=3, cs_init_objective="cosine").validate()
    for field, bad in (("bn_recal_batches", -1), ("bn_recal_every", 0)):
        with pytest.raises(UsageError, match=field.replace("_", "-")):
            TrainConfig(**{field: bad}).validate()
