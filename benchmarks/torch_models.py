"""PyTorch twins of largebatch_sim's models, for the speed comparison in ``benchmarks/run.py``.

Each builder returns a ``torch.nn.Module`` with the same layers as ``build_model(name, in_shape,
10)`` of ``largebatch_sim/nn/models.py`` on MNIST-1D inputs (C, 1, W): the same channels,
kernels, strides, padding, batch-norm placement, bias presence and dropout, so the two do the
same arithmetic per step. Our convolutions act only along spatial axes longer than 1, so on a
(1, W) input a "k" kernel is (1, k) with padding (0, p) and a stride s is (1, s); the twins
spell that out. Only shapes matter here: the initialisations differ (PyTorch's defaults, and
zero-init of the residual blocks' last BN where ours has it), which does not change the time.
Batch norm is PyTorch's (statistics over the whole batch): ours with one worker, as in the
benchmarks. ``num_params`` of a twin equals ours' ``Layer.num_params()``; ``run.py`` prints both.

Imported only when PyTorch is installed; nothing in the library depends on it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

TORCH_MODELS = ("mlp", "alexnet_bn", "cnn_bn", "resnet")


def _check_1d(in_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(channels, width) of an MNIST-1D-like input (C, 1, W); 2-D inputs are not mirrored."""
    c, h, w = in_shape
    if h != 1:
        raise ValueError(f"the PyTorch twins mirror (C, 1, W) inputs only, got {in_shape}")
    return c, w


def conv_1d(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    """Our Conv2d(cin, cout, k, stride, padding, bias=False) on a (1, W) input."""
    return nn.Conv2d(cin, cout, (1, k), stride=(1, stride), padding=(0, padding), bias=False)


def mlp(in_shape: tuple[int, int, int], classes: int = 10) -> nn.Module:
    """``mlp([C*H*W, 128, 128, classes])``: fc1, ReLU, fc2, ReLU, fc3, every fc with a bias."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(in_shape), 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def alexnet_bn(
    in_shape: tuple[int, int, int], classes: int = 10, dropout: float = 0.5
) -> nn.Module:
    """``alexnet_mini(norm="bn")``: conv1 16 k5 p2, conv2 32 k5 p2, conv3 48 k3 p1, conv4 48 k3
    p1, conv5 32 k3 p1 (no bias), each followed by BN and ReLU, a (1, 2) max pool after conv1,
    conv2 and conv5; fc6 128 and fc7 128 (no bias) each followed by BN, ReLU and dropout; fc8
    with a bias."""
    c, w = _check_1d(in_shape)
    convs = [(16, 5, 2, True), (32, 5, 2, True), (48, 3, 1, False)]
    convs += [(48, 3, 1, False), (32, 3, 1, True)]  # (out channels, kernel, padding, pool after)
    layers: list[nn.Module] = []
    channels = c
    for out, k, p, pool in convs:
        layers += [conv_1d(channels, out, k, 1, p), nn.BatchNorm2d(out), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d((1, 2)))
        channels = out
    layers.append(nn.Flatten())
    features = channels * (w // 8)  # three pools halve the width
    for _ in range(2):
        layers += [nn.Linear(features, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU()]
        layers.append(nn.Dropout(dropout))
        features = 128
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Our ``BasicBlock`` on a (1, W) input: relu(bn2(conv2(relu(bn1(conv1(x))))) + S(x)), the
    3x3 kernels (1, 3) with padding (0, 1), conv1 strided; S the identity, or a 1x1 conv of the
    same stride followed by BN where the shape changes. No conv has a bias."""

    def __init__(self, cin: int, cout: int, stride: int, zero_init_last_bn: bool = True) -> None:
        super().__init__()
        self.conv1 = conv_1d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv_1d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        if zero_init_last_bn:
            nn.init.zeros_(self.bn2.weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv_1d(cin, cout, 1, stride, 0), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet(in_shape: tuple[int, int, int], classes: int = 10) -> nn.Module:
    """``resnet_mini`` with one block per stage: conv1 16 k3 p1 + BN + ReLU, blocks res2a
    (16 -> 16), res3a (16 -> 32, stride 2), res4a (32 -> 64, stride 2), global average pool,
    fc with a bias."""
    c, _ = _check_1d(in_shape)
    return nn.Sequential(
        conv_1d(c, 16, 3, 1, 1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        BasicBlock(16, 16, 1),
        BasicBlock(16, 32, 2),
        BasicBlock(32, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, classes),
    )


def cnn_bn(in_shape: tuple[int, int, int], classes: int = 10, channels: int = 16) -> nn.Module:
    """``cnn_mini``: conv1 k5 p2, conv2 k3 stride 2 p1, conv3 k3 stride 2 p1 (16 channels, no
    bias), each followed by BN and ReLU; fc with a bias on the 16 * W / 4 features."""
    c, w = _check_1d(in_shape)
    layers: list[nn.Module] = []
    fan_in, width = c, w
    for k, stride, p in ((5, 1, 2), (3, 2, 1), (3, 2, 1)):
        layers += [conv_1d(fan_in, channels, k, stride, p), nn.BatchNorm2d(channels), nn.ReLU()]
        fan_in, width = channels, (width + 2 * p - k) // stride + 1
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * width, classes))


def build(name: str, in_shape: tuple[int, int, int], classes: int = 10) -> nn.Module:
    """The PyTorch twin of ``build_model(name, in_shape, classes)`` (defaults: alexnet_bn with
    dropout 0.5, resnet with one block per stage)."""
    builders = {"mlp": mlp, "alexnet_bn": alexnet_bn, "cnn_bn": cnn_bn, "resnet": resnet}
    if name not in builders:
        raise ValueError(f"no PyTorch twin of {name!r}; there are {TORCH_MODELS}")
    return builders[name](in_shape, classes)


def num_params(module: nn.Module) -> int:
    """Trainable parameters (BN running statistics are buffers, not counted: as ours)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
