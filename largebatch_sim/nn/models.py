"""Model builders: the miniature MLP, AlexNet (LRN and BN) and ResNet of docs/DESIGN.md.

Each builder returns an uninitialised ``Sequential``; the caller draws the ensemble with
``model.init(seeds, dtype)``. Inputs are (E, B, C, H, W) with in_shape = (C, H, W):
scikit-learn's digits are (1, 8, 8), MNIST-1D is (1, 1, 40). Convolutions and pools act only
along spatial axes longer than 1, so the same builders serve both.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from ..validate import (
    ParameterError,
    check_bool,
    check_choice,
    check_integer,
    check_number,
    check_sequence,
    check_string,
    is_integer,
    within,
)
from .activations import Dropout, Flatten, ReLU
from .base import Layer, Sequential
from .batchnorm import BatchNorm
from .conv import Conv2d
from .linear import Linear
from .lrn import LocalResponseNorm
from .pool import GlobalAvgPool, MaxPool2d
from .residual import BasicBlock

MODELS = ("mlp", "cnn_bn", "alexnet_lrn", "alexnet_bn", "resnet")
NORMS = ("lrn", "bn")
CAFFE_BIAS = 0.1  # Caffe's AlexNet starts biases at small positive constants (0.1 or 1)


def _positive(name: str, value: Any) -> int:
    return check_integer(name, value, low=1)


def _check_in_shape(in_shape: Any) -> tuple[int, int, int]:
    """in_shape as a (C, H, W) tuple of positive ints."""
    shape = check_sequence("in_shape", in_shape, _positive)
    if len(shape) != 3:
        raise ParameterError("in_shape", in_shape, "(C, H, W): 3 positive ints")
    c, h, w = shape
    return c, h, w


def mlp(sizes: Sequence[int], name_prefix: str = "fc", bias_init: float = 0.0) -> Sequential:
    """Flatten, then fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between.

    Layers ``fc1 .. fc{len(sizes) - 1}`` (the prefix is ``name_prefix``); no ReLU after the
    last. Image inputs (E, B, C, H, W) are flattened to (E, B, C*H*W) = (E, B, sizes[0]).
    Parameters: sum_i (sizes[i] + 1) * sizes[i + 1]; e.g. mlp([64, 128, 10]): 9,610;
    ``build_model("mlp", ...)`` (hidden (128, 128), 10 classes): 26,122 on digits (64 inputs),
    23,050 on MNIST-1D (40 inputs).
    """
    with within("mlp"):
        sizes = check_sequence("sizes", sizes, _positive, min_length=2)
        check_string("name_prefix", name_prefix)
        check_number("bias_init", bias_init)
    layers: list[Layer] = [Flatten(name="flatten")]
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        layers.append(Linear(fan_in, fan_out, name=f"{name_prefix}{i}", bias_init=bias_init))
        if i < len(sizes) - 1:
            layers.append(ReLU(name=f"relu{i}"))
    return Sequential(layers)


def _pooled(length: int, pools: int, where: str, in_shape: tuple[int, ...]) -> int:
    """Length of a spatial axis after ``pools`` 2x2 max pools that act only when it is > 1."""
    if length == 1:
        return 1
    if length < 2**pools:
        raise ValueError(
            f"{where}: in_shape {in_shape} is too small for its {pools} pools: a spatial axis "
            f"longer than 1 must be at least {2**pools} (or exactly 1), got {length}"
        )
    for _ in range(pools):
        length //= 2
    return length


def alexnet_mini(
    in_shape: Sequence[int] = (1, 8, 8),
    classes: int = 10,
    norm: str = "lrn",
    dropout: float = 0.5,
    width: float = 1.0,
) -> Sequential:
    """AlexNet in miniature (docs/DESIGN.md, "The models"), with LRN (You et al.'s "AlexNet") or BN.

    conv1 16 k5 p2, ReLU, LRN, maxpool 2 -> conv2 32 k5 p2, ReLU, LRN, maxpool 2 ->
    conv3 48 k3 p1, ReLU -> conv4 48 k3 p1, ReLU -> conv5 32 k3 p1, ReLU, maxpool 2 ->
    fc6 128, ReLU, dropout -> fc7 128, ReLU, dropout -> fc8 ``classes``.
    ``width`` scales every channel count and fc6/fc7 (rounded, at least 1).

    - ``norm="lrn"``: every conv and fc has a bias, initialised to 0.1 (Caffe's AlexNet uses
      small positive biases; non-zero biases can also be adapted by LARS), so the L-T2 table
      has a bias row per layer. Layers norm1, norm2 are the LRNs.
    - ``norm="bn"``: BatchNorm bn1..bn5 after every conv and bn6, bn7 after fc6, fc7 (before
      the ReLU), no LRN; the layers in front of a BN have no bias (its gradient would be
      zero: beta plays its role). fc8 keeps its bias (0.1).

    Pools halve only spatial axes longer than 1, so such an axis must be at least 8: digits
    (1, 8, 8) reach fc6 with 32 * 1 * 1 inputs, MNIST-1D (1, 1, 40) with 32 * 1 * 5. On
    MNIST-1D the kernels are (1, 5) and (1, 3) (an int acts only along axes longer than 1).
    Parameters (width 1, 10 classes): LRN 83,786 on digits, 57,354 on MNIST-1D;
    BN 84,218 on digits, 57,786 on MNIST-1D.
    """
    where = "alexnet_mini"
    with within(where):
        c, h, w = _check_in_shape(in_shape)
        check_choice("norm", norm, NORMS)
        classes = _positive("classes", classes)
        check_number("dropout", dropout, low=0, high=1, high_open=True)
        check_number("width", width, low=0, low_open=True)
    shape = (c, h, w)
    flat_spatial = _pooled(h, 3, where, shape) * _pooled(w, 3, where, shape)

    def scaled(n: int) -> int:
        return max(1, round(n * width))

    bn = norm == "bn"
    # (out channels, kernel, padding, LRN after the ReLU, max pool after)
    convs = [(16, 5, 2, True, True), (32, 5, 2, True, True), (48, 3, 1, False, False)]
    convs += [(48, 3, 1, False, False), (32, 3, 1, False, True)]
    layers: list[Layer] = []
    channels = c
    for i, (out, kernel, padding, lrn, pool) in enumerate(convs, start=1):
        out = scaled(out)
        # the weights' shape depends on which input axes have size 1 (MNIST-1D: (1, k) kernels)
        conv = Conv2d(
            channels,
            out,
            kernel,
            padding=padding,
            name=f"conv{i}",
            bias=not bn,
            bias_init=CAFFE_BIAS,
            input_size=(h, w),
        )
        layers.append(conv)
        if bn:
            layers.append(BatchNorm(out, name=f"bn{i}"))
        layers.append(ReLU(name=f"relu{i}"))
        if lrn and not bn:
            layers.append(LocalResponseNorm(name=f"norm{i}"))
        if pool:
            layers.append(MaxPool2d(2, name=f"pool{i}"))
        channels = out
    layers.append(Flatten(name="flatten"))
    features = channels * flat_spatial
    for i in (6, 7):
        out = scaled(128)
        layers.append(Linear(features, out, name=f"fc{i}", bias=not bn, bias_init=CAFFE_BIAS))
        if bn:
            layers.append(BatchNorm(out, name=f"bn{i}"))
        layers += [ReLU(name=f"relu{i}"), Dropout(dropout, name=f"drop{i}")]
        features = out
    layers.append(Linear(features, classes, name="fc8", bias_init=CAFFE_BIAS))
    return Sequential(layers)


def cnn_mini(
    in_shape: Sequence[int] = (1, 1, 40),
    classes: int = 10,
    channels: int = 16,
    width: float = 1.0,
) -> Sequential:
    """The small BN CNN of TARGETS.md's calibration notes, cheap enough for batch sweeps on a CPU.

    conv1 ``channels`` k5 p2 -> conv2 k3 stride 2 p1 -> conv3 k3 stride 2 p1, each without bias
    and followed by BatchNorm (bn1..bn3, per worker) and ReLU -> fc ``classes`` (bias 0).
    ``width`` scales the channels (rounded, at least 1). Strides act only along spatial axes
    longer than 1: MNIST-1D (1, 1, 40) -> 40 -> 20 -> 10, so fc has 16 * 10 = 160 inputs;
    digits (1, 8, 8) -> 8x8 -> 4x4 -> 2x2, 16 * 4 = 64 inputs.
    Parameters (width 1, 10 classes): 3,322 on MNIST-1D; 5,754 on digits (3x3 kernels there).
    """
    with within("cnn_mini"):
        c, h, w = _check_in_shape(in_shape)
        classes = _positive("classes", classes)
        channels = _positive("channels", channels)
        check_number("width", width, low=0, low_open=True)
    out = max(1, round(channels * width))
    layers: list[Layer] = []
    size, fan_in = (h, w), c
    for i, (kernel, stride, padding) in enumerate(((5, 1, 2), (3, 2, 1), (3, 2, 1)), start=1):
        conv = Conv2d(
            fan_in, out, kernel, stride, padding, name=f"conv{i}", bias=False, input_size=size
        )
        layers += [conv, BatchNorm(out, name=f"bn{i}"), ReLU(name=f"relu{i}")]
        size, fan_in = conv.output_size(size), out
    layers += [Flatten(name="flatten"), Linear(out * size[0] * size[1], classes, name="fc")]
    return Sequential(layers)


def resnet_mini(
    in_shape: Sequence[int] = (1, 8, 8),
    classes: int = 10,
    blocks_per_stage: int = 1,
    zero_init_last_bn: bool = True,
) -> Sequential:
    """A small ResNet: stem, three stages of basic blocks (16, 32, 64 channels), pool, fc.

    conv1 3x3 16 (no bias) + bn1 + ReLU -> stages res2, res3, res4 of ``blocks_per_stage``
    BasicBlocks each, named Caffe style ``res2a``, ``res2b``, ``res3a``, ...; the first block
    of res3 and res4 has stride 2 (along spatial axes longer than 1) and a 1x1 projection
    shortcut -> global average pool -> fc ``classes`` (bias 0).
    ``zero_init_last_bn`` starts each block's bn2 at gamma = 0 (Goyal et al. 2017).

    Digits (1, 8, 8): 8x8 -> 4x4 -> 2x2 with 3x3 kernels; MNIST-1D (1, 1, 40): 40 -> 20 -> 10
    with (1, 3) kernels. Parameters (10 classes): one block per stage 77,754 on digits,
    28,506 on MNIST-1D; two blocks per stage 174,970 and 61,210.
    """
    with within("resnet_mini"):
        c, h, w = _check_in_shape(in_shape)
        classes = _positive("classes", classes)
        blocks_per_stage = _positive("blocks_per_stage", blocks_per_stage)
        check_bool("zero_init_last_bn", zero_init_last_bn)
    layers: list[Layer] = [
        Conv2d(c, 16, 3, 1, 1, name="conv1", bias=False, input_size=(h, w)),
        BatchNorm(16, name="bn1"),
        ReLU(name="relu1"),
    ]
    channels, size = 16, (h, w)
    for stage, out in zip((2, 3, 4), (16, 32, 64), strict=True):
        for j in range(blocks_per_stage):
            stride = 2 if stage > 2 and j == 0 else 1
            name = f"res{stage}{_letters(j)}"
            block = BasicBlock(channels, out, stride, name, zero_init_last_bn, input_size=size)
            layers.append(block)
            channels, size = out, block.output_size(size)
    layers += [GlobalAvgPool(name="pool"), Linear(channels, classes, name="fc")]
    return Sequential(layers)


def _letters(j: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'ba' (block suffixes)."""
    s = ""
    while True:
        s = chr(ord("a") + j % 26) + s
        j //= 26
        if j == 0:
            return s


# the builder behind each model name
BUILDERS = {
    "mlp": mlp,
    "cnn_bn": cnn_mini,
    "alexnet_lrn": alexnet_mini,
    "alexnet_bn": alexnet_mini,
    "resnet": resnet_mini,
}


def build_model(name: str, in_shape: Sequence[int], classes: int, **kwargs: Any) -> Sequential:
    """The model ``name`` (one of ``MODELS``) for inputs of ``in_shape`` = (C, H, W).

    - ``"mlp"``: ``mlp([C*H*W, *hidden, classes])``, ``hidden`` defaults to (128, 128);
      other keywords (``name_prefix``, ``bias_init``) go to ``mlp``;
    - ``"alexnet_lrn"``, ``"alexnet_bn"``: ``alexnet_mini`` with ``norm`` "lrn" or "bn";
    - ``"resnet"``: ``resnet_mini``.

    A keyword the model's builder does not take is an error that names it.
    """
    with within("build_model"):
        check_choice("name", name, MODELS)
        c, h, w = _check_in_shape(in_shape)
        classes = _positive("classes", classes)
        builder = BUILDERS[name]
        # the builder's own keywords, less those build_model sets; mlp's widths come as hidden
        accepted = set(inspect.signature(builder).parameters)
        accepted -= {"in_shape", "classes", "sizes", "norm"}
        if name == "mlp":
            accepted.add("hidden")
        for key, value in kwargs.items():
            if key not in accepted:
                allowed = f"left out: model {name!r} takes only {sorted(accepted)}"
                raise ParameterError(key, value, allowed)
        if name == "mlp":
            hidden = kwargs.pop("hidden", (128, 128))
            hidden = (hidden,) if is_integer(hidden) else hidden
            hidden = check_sequence("hidden", hidden, _positive)
    if name == "mlp":
        return mlp([c * h * w, *hidden, classes], **kwargs)
    if name in ("alexnet_lrn", "alexnet_bn"):
        kwargs["norm"] = name.removeprefix("alexnet_")
    return builder(in_shape, classes, **kwargs)


__all__ = ["MODELS", "alexnet_mini", "build_model", "cnn_mini", "mlp", "resnet_mini"]
