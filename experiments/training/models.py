"""The networks the papers train: CNN1/CNN2 (CS paper Table 4) and ResNet18 with the CIFAR stem.

**CNN1 / CNN2** (CS paper Table 4): four blocks of
``Conv2d(c_in, w, 3, padding=2)`` (stride 1: full cross-correlation, the padding the identity is exact for)
``+ BatchNorm2d(w) + LeakyReLU(0.2) + MaxPool2d(2, 2)``, then ``Linear(9·w, classes)``; ``w = 64`` (CNN1)
or ``128`` (CNN2). The Linear input is computed from the input shape: each block maps a side ``h`` to
``(h + 2) // 2``, so 32 -> 17 -> 9 -> 5 -> 3 and 28 -> 15 -> 8 -> 5 -> 3; both end at 3x3 and the
Linear is ``Linear(576, 10)`` / ``Linear(1152, 10)`` on CIFAR-10 and on Fashion-MNIST alike.
Each block is computed as ``Conv2d + BatchNorm2d + MaxPool2d + LeakyReLU``: the same function as Table 4's
order, bit for bit (a max commutes with a non-decreasing map, and float rounding is non-decreasing:
``max(f(a), f(b)) = f(max(a, b))``), with the activation on a quarter of the elements (with it CNN2's exact-fp32 speed-up over
the previous path rose from 1.40x to 1.52x, ``benchmarks/bench_train.py`` on 2 CPU threads). The gradients are the same except
where ``0.2·x`` rounds two different negative inputs of one pooling window to one float: Table 4's order
sends the gradient to the first of the tied window entries, this order to the larger input (both are
subgradients). ``PaperCNN(..., pool_first=False)`` builds Table 4's order.
Trainable parameters (checked by ``tests/test_training_models.py``):

============  ===========  ====================
model         3x32x32      1x28x28 (Fashion-MNIST)
============  ===========  ====================
CNN1          118,858      117,706
CNN2          458,890      456,586
============  ===========  ====================

(1-channel input: the first convolution has 2·9·w fewer weights.)

**ResNet18** (He et al. 2015, the CIFAR variant used by the MFD/POD papers' code): stem
``conv3x3(c_in, 64·m, stride 1) + BN + ReLU`` without max-pool, then four stages of two BasicBlocks with
``(64, 128, 256, 512)·m`` channels and strides ``(1, 2, 2, 2)``, global average pool, Linear. ``m`` is the
width multiplier (``width=0.25`` gives 16..128 channels for quick CPU runs). The five stages are child
modules named ``stage0`` (the stem) .. ``stage4`` (the MFD paper's "stage 0..4"): hook them by name with
:func:`capture_stages`, or call ``model(x, return_stages=True)``. Its convolutions use padding 1 (not
full), as in the CS paper's Section 4.3.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["PaperCNN", "cnn1", "cnn2", "ResNet18", "resnet18", "build_model", "count_parameters",
           "capture_stages", "table4_order", "STAGES", "MODELS"]

STAGES = ("stage0", "stage1", "stage2", "stage3", "stage4")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class PaperCNN(nn.Sequential):
    """CNN1/CNN2 of CS paper Table 4 for inputs ``(in_channels, *input_size)``; ``pool_first`` puts each block's
    max-pool before its LeakyReLU (the same function, faster; False: Table 4's order)."""

    def __init__(self, width: int = 64, *, in_channels: int = 3, input_size=(32, 32), num_classes: int = 10,
                 padding: int = 2, negative_slope: float = 0.2, blocks: int = 4, pool_first: bool = True):
        h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        layers = []
        c = in_channels
        for _ in range(blocks):
            act, pool = nn.LeakyReLU(negative_slope), nn.MaxPool2d(2, 2)
            layers += [nn.Conv2d(c, width, 3, padding=padding), nn.BatchNorm2d(width),
                       *((pool, act) if pool_first else (act, pool))]
            c = width
            h, w = (h + 2 * padding - 2) // 2, (w + 2 * padding - 2) // 2
            if h < 1 or w < 1:
                raise ValueError(f"input_size: {input_size} is too small for {blocks} blocks")
        self.features_shape = (width, h, w)
        super().__init__(*layers, nn.Flatten(), nn.Linear(width * h * w, num_classes))


def table4_order(net: nn.Module) -> None:
    """Put each block's LeakyReLU back before its MaxPool2d in place (Table 4's order; the same function as the
    default :class:`PaperCNN`, which pools first); a no-op on other networks."""
    if isinstance(net, nn.Sequential):
        for i in range(len(net) - 1):
            if isinstance(net[i], nn.MaxPool2d) and isinstance(net[i + 1], nn.LeakyReLU):
                net[i], net[i + 1] = net[i + 1], net[i]


def _scaled(channels: int, width: float) -> int:
    if width <= 0:
        raise ValueError(f"width: expected > 0, got {width}")
    return max(1, int(round(channels * width)))


def cnn1(width: float = 1.0, **kw) -> PaperCNN:
    """CNN1 (64 channels per block; ``width`` multiplies them: 0.5 gives 32)."""
    return PaperCNN(_scaled(64, width), **kw)


def cnn2(width: float = 1.0, **kw) -> PaperCNN:
    """CNN2 (128 channels per block; ``width`` multiplies them: 0.5 gives 64, CNN1's width)."""
    return PaperCNN(_scaled(128, width), **kw)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet18, CIFAR stem (3x3 stride-1 conv, no max-pool), stages ``stage0`` .. ``stage4``."""

    def __init__(self, num_classes: int = 10, *, in_channels: int = 3, width: float = 1.0,
                 blocks=(2, 2, 2, 2)):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width: expected > 0, got {width}")
        chans = [_scaled(c, width) for c in (64, 128, 256, 512)]
        self.widths = tuple(chans)
        self.stage0 = nn.Sequential(nn.Conv2d(in_channels, chans[0], 3, stride=1, padding=1, bias=False),
                                    nn.BatchNorm2d(chans[0]), nn.ReLU(inplace=False))
        c = chans[0]
        for i, (c_out, n, stride) in enumerate(zip(chans, blocks, (1, 2, 2, 2)), start=1):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(c, c_out, stride if j == 0 else 1))
                c = c_out
            setattr(self, f"stage{i}", nn.Sequential(*layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x, return_stages: bool = False):
        stages = {}
        for name in STAGES:
            x = getattr(self, name)(x)
            stages[name] = x
        logits = self.fc(torch.flatten(self.pool(x), 1))
        return (logits, stages) if return_stages else logits


def resnet18(**kw) -> ResNet18:
    return ResNet18(**kw)


@contextlib.contextmanager
def capture_stages(model: nn.Module, names=STAGES, *, detach: bool = False):
    """Forward hooks on the sub-modules ``names`` (e.g. ``stage0`` .. ``stage4``); yields a dict that each
    forward pass fills with ``name -> output`` (graph kept unless ``detach``). Hooks are removed on exit."""
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            module = model.get_submodule(name)

            def hook(_m, _inp, out, name=name):
                store[name] = out.detach() if detach else out

            handles.append(module.register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()


MODELS = ("cnn1", "cnn2", "resnet18")


def build_model(name: str, *, in_channels: int, input_size, num_classes: int, width: float = 1.0,
                pool_first: bool = True) -> nn.Module:
    """``cnn1`` / ``cnn2`` (Table 4; ``pool_first`` as :class:`PaperCNN`) or ``resnet18``; ``width`` multiplies
    every layer's channels."""
    if name == "cnn1":
        return cnn1(width, in_channels=in_channels, input_size=input_size, num_classes=num_classes,
                    pool_first=pool_first)
    if name == "cnn2":
        return cnn2(width, in_channels=in_channels, input_size=input_size, num_classes=num_classes,
                    pool_first=pool_first)
    if name == "resnet18":
        return resnet18(in_channels=in_channels, num_classes=num_classes, width=width)
    raise ValueError(f"model: expected one of {MODELS}, got {name!r}")
