"""Max, average and global average pooling over the spatial axes (H, W)."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..validate import within
from .base import Layer
from .spatial import IntOrPair, Pair, along_long_axes, check_window, offset_index, output_length


def _check_input(layer: Layer, x: Any) -> None:
    if x.ndim != 5:
        raise ValueError(f"{layer.name}: expected input (E, B, C, H, W), got {tuple(x.shape)}")


def _unblocks(g: Any, kernel: Pair, shape: tuple[int, ...]) -> Any:
    """Non-overlapping windows (E, B, C, H_o, W_o, k_h k_w) onto a zero input of ``shape``; the
    remainder that fills no window stays zero."""
    xp = backend.get_array_module(g)
    (kh, kw), (E, B, C, Ho, Wo, _) = kernel, g.shape
    dx = xp.zeros(shape, dtype=g.dtype)
    g = g.reshape(E, B, C, Ho, Wo, kh, kw).transpose(0, 1, 2, 3, 5, 4, 6)
    dx[..., : Ho * kh, : Wo * kw] = g.reshape(E, B, C, Ho * kh, Wo * kw)
    return dx


class MaxPool2d(Layer):
    """y[h, w] = max over the window (i, j) of x[s_h h + i, s_w w + j], per channel.

    Shapes: x (E, B, C, H, W), y (E, B, C, H_o, W_o), H_o = floor((H - k_h) / s_h) + 1 (a
    remainder that fills no window is dropped). Backward: each window's dout goes to the
    position of its maximum, the first one in row-major order when several tie (as
    ``argmax``), so that a tie does not double the gradient; dx is zero elsewhere.

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows); any stride works
    (overlapping windows, as in AlexNet's 3/2). Computed as one strided slice per window
    offset, reduced elementwise (``maximum``; the argmax as "strictly greater than the best
    so far"). int arguments act only along axes longer than 1 (see ``spatial``), so
    ``MaxPool2d(2)`` halves the length of MNIST-1D's (1, 40) rows and both sides of digits.
    """

    def __init__(
        self, kernel_size: IntOrPair = 2, stride: IntOrPair | None = None, name: str = "pool"
    ) -> None:
        super().__init__(name)
        with within(name):
            self.kernel_arg = check_window("kernel_size", kernel_size, 1)
            self.stride_arg = None if stride is None else check_window("stride", stride, 1)

    def geometry(self, size: Pair) -> tuple[Pair, Pair]:
        """(kernel, stride) pairs on an input of spatial size (H, W)."""
        kernel = along_long_axes(self.kernel_arg, size, 1)
        stride = kernel if self.stride_arg is None else along_long_axes(self.stride_arg, size, 1)
        return kernel, stride

    def output_size(self, size: Pair) -> Pair:
        """(H_o, W_o) of the output for an input of spatial size (H, W)."""
        (kh, kw), (sh, sw) = self.geometry(size)
        return output_length(size[0], kh, sh), output_length(size[1], kw, sw)

    def forward(self, x: Any) -> Any:
        _check_input(self, x)
        xp = backend.get_array_module(x)
        H, W = x.shape[3:]
        self.kernel, self.stride = self.geometry((H, W))
        (kh, kw), (sh, sw) = self.kernel, self.stride
        Ho, Wo = self.output_size((H, W))
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self.name}: input (H, W) = {(H, W)} is smaller than {(kh, kw)}")
        # one strided slice per window offset, reduced elementwise: a max or argmax over a
        # trailing window axis of k_h k_w (often 2) values is 5-10x slower on NumPy. Arrays
        # made here keep x's memory order ("K"): mixing orders costs more than the work
        offsets = [offset_index(i, j, (Ho, Wo), (sh, sw)) for i in range(kh) for j in range(kw)]
        y = x[offsets[0]].copy(order="K")
        argmax = xp.zeros_like(y, dtype=xp.int8 if kh * kw <= 128 else xp.int32)
        for t, index in enumerate(offsets[1:], start=1):
            better = x[index] > y  # strictly: a tie keeps the first maximum
            argmax += better * (t - argmax)  # t where better: arithmetic, not a masked store
            xp.maximum(y, x[index], out=y)
        self.argmax = argmax
        self.x_shape, self.x_order = x.shape, memory_order(x)
        return y

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        Ho, Wo = dout.shape[3:]
        order = self.x_order  # dx in x's memory order, as dout is
        dx = xp.zeros(tuple(self.x_shape[a] for a in order), dtype=dout.dtype)
        dx = dx.transpose(tuple(order.index(a) for a in range(len(order))))
        for i in range(kh):
            for j in range(kw):  # overlapping windows may route to one pixel: add
                dx[offset_index(i, j, (Ho, Wo), (sh, sw))] += (self.argmax == i * kw + j) * dout
        return dx


def memory_order(a: Any) -> list[int]:
    """a's axes from the outermost in memory to the innermost (largest stride first)."""
    return sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis]))


class AvgPool2d(Layer):
    """y[h, w] = mean over the window (i, j) of x[k_h h + i, k_w w + j], per channel.

    Non-overlapping windows (stride = kernel), computed by a reshape. Shapes: x (E, B, C, H,
    W), y (E, B, C, floor(H / k_h), floor(W / k_w)); a remainder that fills no window is
    dropped. Backward: dx = dout / (k_h k_w) on every position of its window, zero on the
    remainder. int arguments act only along axes longer than 1 (see ``spatial``).
    """

    def __init__(self, kernel_size: IntOrPair = 2, name: str = "pool") -> None:
        super().__init__(name)
        with within(name):
            self.kernel_arg = check_window("kernel_size", kernel_size, 1)

    def output_size(self, size: Pair) -> Pair:
        """(H_o, W_o) of the output for an input of spatial size (H, W)."""
        kh, kw = along_long_axes(self.kernel_arg, size, 1)
        return size[0] // kh, size[1] // kw

    def forward(self, x: Any) -> Any:
        _check_input(self, x)
        H, W = x.shape[3:]
        self.kernel = along_long_axes(self.kernel_arg, (H, W), 1)
        Ho, Wo = self.output_size((H, W))
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self.name}: input (H, W) = {(H, W)} is smaller than {self.kernel}")
        self.x_shape = x.shape
        kh, kw = self.kernel
        E, B, C = x.shape[:3]
        return x[..., : Ho * kh, : Wo * kw].reshape(E, B, C, Ho, kh, Wo, kw).mean(axis=(4, 6))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        kh, kw = self.kernel
        g = xp.broadcast_to((dout / (kh * kw))[..., None], dout.shape + (kh * kw,))
        return _unblocks(g, self.kernel, self.x_shape)


class GlobalAvgPool(Layer):
    """y[c] = mean over (h, w) of x[c, h, w]: (E, B, C, H, W) -> (E, B, C).

    Backward: dx[c, h, w] = dout[c] / (H W).
    """

    def __init__(self, name: str = "gap") -> None:
        super().__init__(name)

    def forward(self, x: Any) -> Any:
        _check_input(self, x)
        self.x_shape = x.shape
        return x.mean(axis=(3, 4))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        H, W = self.x_shape[3:]
        return xp.broadcast_to((dout / (H * W))[..., None, None], self.x_shape).copy()
