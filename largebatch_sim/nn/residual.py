"""The basic residual block of ResNet-18/34 (He et al. 2016), with Goyal's zero-init option."""

from __future__ import annotations

from typing import Any

from ..validate import check_bool, check_integer, within
from .activations import ReLU
from .base import Layer
from .batchnorm import BatchNorm
from .conv import Conv2d
from .spatial import Pair, as_pair, check_window, output_length


class BasicBlock(Layer):
    """y = relu(F(x) + S(x)), F = bn2(conv2(relu(bn1(conv1(x))))).

    conv1 is 3x3 with ``stride``, conv2 3x3 with stride 1 (padding 1, no bias: the BN's beta
    plays that role). The shortcut S is the identity when the shape is kept (stride 1 and
    in_channels == out_channels), else a projection S(x) = bn_sc(conv_sc(x)) with a 1x1 conv
    of the same stride. Strides act only along spatial axes longer than 1 (as Conv2d's).

    Backward: with d = relu'(.) * dout, dx = dF/dx^T d + dS/dx^T d (d for the identity).

    Sublayers, whose parameters are named e.g. ``res2.conv1.w``: ``{name}.conv1``, ``.bn1``,
    ``.relu1``, ``.conv2``, ``.bn2``, then for a projection ``.shortcut`` (the 1x1 conv) and
    ``.shortcut_bn``, then ``.relu2``. ``zero_init_last_bn`` starts bn2 at gamma = 0 (Goyal et
    al. 2017): every block starts as relu(S(x)).

    Conv2d fixes its weights' shape at construction: for an input with a spatial axis of size
    1 (MNIST-1D's (1, 40)) pass ``input_size`` = (H, W) and the 3x3 kernels become (1, 3).

    Parameters: 9 C_in C_out + 9 C_out^2 + 4 C_out (two BNs), plus C_in C_out + 2 C_out for a
    projection (3 instead of 9 for (1, 3) kernels).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        name: str = "res",
        zero_init_last_bn: bool = False,
        input_size: Pair | None = None,
    ) -> None:
        super().__init__(name)
        with within(name):
            in_channels = check_integer("in_channels", in_channels, low=1)
            out_channels = check_integer("out_channels", out_channels, low=1)
            stride = check_integer("stride", stride, low=1)
            self.zero_init_last_bn = check_bool("zero_init_last_bn", zero_init_last_bn)
            if input_size is not None:
                input_size = as_pair(check_window("input_size", input_size, 1))
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        mid_size = None if input_size is None else self.output_size(input_size)
        self.input_size = input_size
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            3,
            stride,
            1,
            name=f"{name}.conv1",
            bias=False,
            input_size=input_size,
        )
        self.bn1 = BatchNorm(out_channels, name=f"{name}.bn1")
        self.relu1 = ReLU(name=f"{name}.relu1")
        self.conv2 = Conv2d(
            out_channels,
            out_channels,
            3,
            1,
            1,
            name=f"{name}.conv2",
            bias=False,
            input_size=mid_size,
        )
        self.bn2 = BatchNorm(
            out_channels, name=f"{name}.bn2", gamma_init=0.0 if self.zero_init_last_bn else 1.0
        )
        self.projection = stride != 1 or in_channels != out_channels
        if self.projection:
            self.shortcut = Conv2d(
                in_channels, out_channels, 1, stride, 0, name=f"{name}.shortcut", bias=False
            )
            self.shortcut_bn = BatchNorm(out_channels, name=f"{name}.shortcut_bn")
        self.relu2 = ReLU(name=f"{name}.relu2")

    def output_size(self, size: Pair) -> Pair:
        """Spatial (H, W) of the output for an input of spatial ``size`` (axes of 1 stay 1)."""
        h, w = (n if n == 1 else output_length(n, 3, self.stride, 1) for n in size)
        return h, w

    def sublayers(self) -> list[Layer]:
        main = [self.conv1, self.bn1, self.relu1, self.conv2, self.bn2]
        short = [self.shortcut, self.shortcut_bn] if self.projection else []
        return [*main, *short, self.relu2]

    def forward(self, x: Any) -> Any:
        if x.ndim != 5 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"{self.name}: expected input (E, B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        self.x_shape = x.shape
        out = self.relu1.forward(self.bn1.forward(self.conv1.forward(x)))
        out = self.bn2.forward(self.conv2.forward(out))
        short = self.shortcut_bn.forward(self.shortcut.forward(x)) if self.projection else x
        return self.relu2.forward(out + short)

    def backward(self, dout: Any) -> Any:
        d = self.relu2.backward(dout)
        dmain = self.bn2.backward(d)
        dmain = self.conv2.backward(dmain)
        dmain = self.conv1.backward(self.bn1.backward(self.relu1.backward(dmain)))
        if self.projection:
            dshort = self.shortcut.backward(self.shortcut_bn.backward(d))
        else:
            dshort = d
        return _to_input(dmain, self.x_shape) + _to_input(dshort, self.x_shape)


def _to_input(dx: Any, x_shape: tuple[int, ...]) -> Any:
    """Sum over members when the input was shared by all of them (E = 1)."""
    if x_shape[0] == 1 < dx.shape[0]:
        return dx.sum(axis=0, keepdims=True)
    return dx
