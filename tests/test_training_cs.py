"""CS paper Algorithms 1 and 2 as the training code runs them."""

import copy

import pytest
import torch
import torch.nn.functional as F

from experiments.training.losses import CSRegularizer, conv_kernel_stats, cs_initialize, model_cs
from experiments.training.data import ImageData
from experiments.training.engine import TrainConfig, Trainer
from experiments.training.models import cnn1, resnet18
from theory.batched.fast_similarity import conv_similarity_fast


def _conv_weight_names(model):
    return {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))}


def test_model_cs_is_the_sum_over_conv_layers():
    torch.manual_seed(0)
    m = cnn1(in_channels=1, input_size=28).double()
    want = sum(conv_similarity_fast(x.weight, d=2) for x in m.modules() if isinstance(x, torch.nn.Conv2d))
    assert torch.equal(model_cs(m), want)


@pytest.mark.parametrize("make", [lambda: cnn1(in_channels=1, input_size=28),
                                  lambda: resnet18(in_channels=1, width=0.125)])
def test_algorithm1_lowers_lcs_and_touches_only_conv_weights(make):
    torch.manual_seed(0)
    m = make()
    before = copy.deepcopy(m.state_dict())
    l0 = float(model_cs(m).detach())
    res = cs_initialize(m, 20, lr=1e-3)
    assert len(res["l_cs"]) == 21 and res["l_cs"][0] == pytest.approx(l0, rel=1e-6)
    assert res["l_cs"][-1] < 0.9 * res["l_cs"][0]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(res["l_cs"], res["l_cs"][1:]))   # monotone at lr 1e-3
    after = m.state_dict()
    conv = _conv_weight_names(m)
    for k, v in before.items():
        if k in conv:
            assert not torch.equal(v, after[k]), k
        else:
            assert torch.equal(v, after[k]), k      # conv biases, BN affine + running stats, Linear: untouched
    assert all(p.grad is None for p in m.parameters())


def test_algorithm1_equals_adam_over_all_parameters():
    # θ = all parameters as in Algorithm 1: only conv weights get a gradient, Adam skips the rest.
    torch.manual_seed(1)
    a = cnn1(in_channels=1, input_size=28).double()
    b = copy.deepcopy(a)
    cs_initialize(a, 5, lr=1e-3)
    opt = torch.optim.Adam(b.parameters(), lr=1e-3)
    for _ in range(5):
        opt.zero_grad()
        loss = sum(conv_similarity_fast(x.weight, d=2) for x in b.modules() if isinstance(x, torch.nn.Conv2d))
        loss.backward()
        for n, p in b.named_parameters():
            assert (p.grad is not None) == (n in _conv_weight_names(b)), n
        opt.step()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-12, atol=0, msg=k)


def test_kernel_stats_show_shrinking():
    torch.manual_seed(0)
    m = cnn1(in_channels=1, input_size=28)
    s0 = conv_kernel_stats(m)
    cs_initialize(m, 50)
    s1 = conv_kernel_stats(m)
    assert s1["l_cs"] < s0["l_cs"] and s1["conv_kernel_norm"] < s0["conv_kernel_norm"]
    # the scale-invariant value moves far less than L_CS itself (degree-4 homogeneity)
    assert abs(s1["l_cs_normalized"] / s0["l_cs_normalized"] - 1) < 0.5 * (1 - s1["l_cs"] / s0["l_cs"])


def _tiny_data(n=40, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageData(x, torch.arange(n) % classes, classes)


def test_algorithm2_adds_exactly_beta_lcs(tmp_path):
    beta = 0.001
    data = _tiny_data()
    cfg = TrainConfig(out_dir=str(tmp_path), model="cnn1", cs_beta=beta, batch_size=16, dtype="float64",
                      progress=False)
    tr = Trainer(cfg, train_data=data, test_data=data)
    x, y = next(iter(tr.train_loader))
    ref = copy.deepcopy(tr.model)                  # same weights and BatchNorm state, stepped by hand below
    loss, logits, parts = tr.compute_loss(x, y)
    manual_task = F.cross_entropy(ref(x), y)
    manual_cs = sum(conv_similarity_fast(m.weight, d=2) for m in ref.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(parts["task"], manual_task)
    assert torch.equal(parts["cs"], beta * manual_cs)
    assert torch.equal(loss, manual_task + beta * manual_cs)
    assert set(parts) == {"task", "cs"}
    # and the gradient step is that of task + beta * L_CS
    tr.optimizer.zero_grad()
    loss.backward()
    tr.optimizer.step()
    opt = torch.optim.SGD(ref.parameters(), lr=cfg.lr)
    (manual_task + beta * manual_cs).backward()
    opt.step()
    for (k, a), b in zip(tr.model.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k


def test_regularizer_and_baseline_terms(tmp_path):
    data = _tiny_data()
    base = Trainer(TrainConfig(out_dir=str(tmp_path / "a"), progress=False, dtype="float64"),
                   train_data=data, test_data=data)
    x, y = next(iter(base.train_loader))
    loss, _, parts = base.compute_loss(x, y)
    assert set(parts) == {"task"} and torch.equal(loss, parts["task"])
    reg = CSRegularizer(0.5)
    assert torch.equal(reg(base.model, None), 0.5 * model_cs(base.model))
