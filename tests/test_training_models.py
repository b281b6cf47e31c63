"""CNN1/CNN2 of CS paper Table 4 (parameter counts) and ResNet18 with named, hookable stages."""

import pytest
import torch
from hypothesis import given, settings

from tests.strategies import pooling_inputs

from experiments.training.models import (STAGES, PaperCNN, ResNet18, build_model, capture_stages,
                                         count_parameters, cnn1, cnn2)


def test_table4_parameter_counts_on_cifar_input():
    assert count_parameters(cnn1(in_channels=3, input_size=32)) == 118_858
    assert count_parameters(cnn2(in_channels=3, input_size=32)) == 458_890


def test_table4_layers():
    m = cnn1(in_channels=3, input_size=32)
    convs = [x for x in m if isinstance(x, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding, c.stride) for c in convs] == \
        [(3, 64, (3, 3), (2, 2), (1, 1))] + [(64, 64, (3, 3), (2, 2), (1, 1))] * 3
    assert [type(x).__name__ for x in m][:4] == ["Conv2d", "BatchNorm2d", "MaxPool2d", "LeakyReLU"]
    assert m[3].negative_slope == 0.2
    paper = cnn1(in_channels=3, input_size=32, pool_first=False)
    assert [type(x).__name__ for x in paper][:4] == ["Conv2d", "BatchNorm2d", "LeakyReLU", "MaxPool2d"]
    assert (m[-1].in_features, m[-1].out_features) == (576, 10)
    assert cnn2(in_channels=3, input_size=32)[-1].in_features == 1152


def test_fashion_mnist_variant_counts_and_shapes():
    # 28 -> 15 -> 8 -> 5 -> 3: the Linear is 576 / 1152 wide as on 32x32; the first conv has 2*9*w fewer weights
    m1, m2 = cnn1(in_channels=1, input_size=28), cnn2(in_channels=1, input_size=28)
    assert count_parameters(m1) == 117_706 == 118_858 - 2 * 9 * 64
    assert count_parameters(m2) == 456_586 == 458_890 - 2 * 9 * 128
    assert m1.features_shape == (64, 3, 3)
    assert m1(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="too small"):
        PaperCNN(64, in_channels=1, input_size=4, padding=0)


def test_resnet18_counts():
    assert count_parameters(ResNet18()) == 11_173_962          # the usual CIFAR ResNet18
    narrow = ResNet18(in_channels=1, width=0.25)
    assert narrow.widths == (16, 32, 64, 128)
    stem = narrow.stage0[0]
    assert (stem.kernel_size, stem.stride, stem.padding, stem.in_channels) == ((3, 3), (1, 1), (1, 1), 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in narrow.modules())


@pytest.mark.parametrize("c,size,width", [(3, 32, 0.25), (1, 28, 0.125)])
def test_resnet18_stage_hooks(c, size, width):
    m = ResNet18(num_classes=7, in_channels=c, width=width).eval()
    x = torch.randn(2, c, size, size)
    w = m.widths
    s = [size, size, -(-size // 2), -(-size // 4), -(-size // 8)]
    want = {"stage0": (2, w[0], s[0], s[0]), "stage1": (2, w[0], s[1], s[1]), "stage2": (2, w[1], s[2], s[2]),
            "stage3": (2, w[2], s[3], s[3]), "stage4": (2, w[3], s[4], s[4])}
    with capture_stages(m) as feats:
        out = m(x)
    assert list(feats) == list(STAGES)
    assert {k: tuple(v.shape) for k, v in feats.items()} == want
    assert out.shape == (2, 7)
    logits, stages = m(x, return_stages=True)
    assert torch.equal(logits, out)
    assert all(torch.equal(stages[k], feats[k]) for k in STAGES)
    # hooks are removed on exit; a stage is addressable by name and keeps the graph
    feats.clear()
    m(x)
    assert feats == {}
    with capture_stages(m, ["stage2"]) as f2:
        m(x).sum().backward()
    assert f2["stage2"].requires_grad


def test_build_model_dispatch():
    assert isinstance(build_model("cnn2", in_channels=1, input_size=(28, 28), num_classes=10), PaperCNN)
    assert build_model("resnet18", in_channels=1, input_size=28, num_classes=10, width=0.5).widths[0] == 32
    with pytest.raises(ValueError, match="model"):
        build_model("vgg", in_channels=1, input_size=28, num_classes=10)


@settings(max_examples=300, deadline=None)
@given(x=pooling_inputs())
def test_max_pool_commutes_with_leaky_relu_bit_for_bit(x):
    # max(f(a), f(b)) = f(max(a, b)) for a non-decreasing f, and float rounding keeps 0.2 * x non-decreasing
    t = torch.from_numpy(x)
    act, pool = torch.nn.LeakyReLU(0.2), torch.nn.MaxPool2d(2, 2)
    assert torch.equal(pool(act(t)), act(pool(t)))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("name", ["cnn1", "cnn2"])
def test_pooling_first_is_table4s_function_values_and_gradients(name, memory_format):
    torch.manual_seed(0)
    kw = dict(width=0.25, in_channels=1, input_size=28)
    fast = (cnn1 if name == "cnn1" else cnn2)(**kw)
    paper = (cnn1 if name == "cnn1" else cnn2)(**kw, pool_first=False)
    assert list(fast.state_dict()) == list(paper.state_dict())        # checkpoints load into either order
    paper.load_state_dict(fast.state_dict())
    fast, paper = fast.to(memory_format=memory_format), paper.to(memory_format=memory_format)
    x = torch.randn(16, 1, 28, 28).contiguous(memory_format=memory_format)
    for mode in ("train", "eval"):
        getattr(fast, mode)(), getattr(paper, mode)()
        outs = [m(x) for m in (fast, paper)]
        assert torch.equal(outs[0], outs[1]), mode
        grads = []
        for m, out in zip((fast, paper), outs):
            m.zero_grad(set_to_none=True)
            out.square().sum().backward()
            grads.append([p.grad for p in m.parameters()])
        assert all(torch.equal(a, b) for a, b in zip(*grads)), mode
    assert all(torch.equal(a, b) for a, b in zip(fast.buffers(), paper.buffers()))    # BatchNorm running stats
