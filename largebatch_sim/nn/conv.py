"""2-D convolution as im2col and one batched matmul over the ensemble axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..validate import check_bool, check_integer, check_number, within
from .base import Layer, grad_chunks_for, sq_norms, sum_chunks
from .spatial import (
    IntOrPair,
    Pair,
    along_long_axes,
    as_pair,
    check_window,
    offset_index,
    output_length,
)


class Conv2d(Layer):
    """y[o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[c, s_h h + i, s_w w + j].

    For every ensemble member e at once. Shapes: x (E, B, C, H, W) (or (1, B, C, H, W),
    shared by all members), W (E, O, C, k_h, k_w), b (E, O), y (E, B, O, H_o, W_o) with
    H_o = floor((H + 2 p_h - k_h) / s_h) + 1 (a remainder that fills no window is dropped).

    As matrices: X = im2col(x_pad) is (C k_h k_w, B H_o W_o), one column per output pixel,
    and Y = W X + b. Backward, with dout = dL/dy as D (O, B H_o W_o):
        dW = D X^T,   db = sum over (B, H_o, W_o) of dout,   dx = col2im(W^T D),
    where col2im adds every column back onto the pixels it was read from (the adjoint of
    im2col) and drops the padding.

    With ``grad_chunks`` = k > 1 (``set_grad_chunks``), each example's H_o W_o columns are
    contiguous along the B H_o W_o axis, so chunk c of n = B / k examples owns the columns
    [c m, (c + 1) m), m = n H_o W_o: dW_c = D_c X_c^T (one batched matmul over (E, k) on
    strided views, no copy), db_c the sum of dout over the chunk, and dW = sum_c dW_c;
    ``chunk_sq_norms`` keeps |dW_c|^2 and |db_c|^2, shape (E, k).

    int arguments act only along axes longer than 1 (see ``spatial``): ``kernel_size=5,
    padding=2`` is 5x5 on an (8, 8) input and (1, 5) with padding (0, 2) on MNIST-1D's
    (1, 40). The weights' shape is fixed at construction, so for an input with an axis of
    size 1 pass ``input_size`` (only which axes have size 1 matters) or an explicit pair;
    a mismatch is an error at the first forward. Stride and padding are resolved at every
    forward from the input's size.

    He initialisation W ~ N(0, 2 / (C k_h k_w)); ``bias_init`` is the constant bias, as in
    ``Linear``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair = 0,
        name: str = "conv",
        bias: bool = True,
        bias_init: float = 0.0,
        gain: float = 2.0,
        input_size: Pair | None = None,
    ) -> None:
        super().__init__(name)
        with within(name):
            self.in_channels = check_integer("in_channels", in_channels, low=1)
            self.out_channels = check_integer("out_channels", out_channels, low=1)
            # an int stays an int, a pair becomes a tuple: an int's meaning depends on the input
            self.kernel_arg = check_window("kernel_size", kernel_size, 1)
            self.stride_arg = check_window("stride", stride, 1)
            self.padding_arg = check_window("padding", padding, 0)
            if input_size is not None:
                input_size = as_pair(check_window("input_size", input_size, 1))
            check_bool("bias", bias)
            check_number("bias_init", bias_init)
            check_number("gain", gain, low=0, low_open=True)
        self.input_size = input_size
        self.kernel_size = along_long_axes(self.kernel_arg, input_size, 1)
        self.bias, self.bias_init, self.gain = bias, bias_init, gain
        self.kinds = {"w": "weight", "b": "bias"} if bias else {"w": "weight"}

    def init_member(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        kh, kw = self.kernel_size
        std = np.sqrt(self.gain / (self.in_channels * kh * kw))
        params = {"w": rng.normal(0.0, std, (self.out_channels, self.in_channels, kh, kw))}
        if self.bias:
            params["b"] = np.full(self.out_channels, self.bias_init)
        return params

    def geometry(self, size: Pair) -> tuple[Pair, Pair, Pair]:
        """(kernel, stride, padding) pairs on an input of spatial size (H, W)."""
        kernel = along_long_axes(self.kernel_arg, size, 1)
        if kernel != self.kernel_size:
            raise ValueError(
                f"{self.name}: on an input of size (H, W) = {size}, kernel_size="
                f"{self.kernel_arg!r} means {kernel} (an int acts only along axes longer than 1), "
                f"but the weights were built for {self.kernel_size}: pass input_size={size} "
                f"or kernel_size={kernel} to the constructor"
            )
        stride = along_long_axes(self.stride_arg, size, 1)
        padding = along_long_axes(self.padding_arg, size, 0)
        return kernel, stride, padding

    def output_size(self, size: Pair) -> Pair:
        """(H_o, W_o) of the output for an input of spatial size (H, W)."""
        (kh, kw), (sh, sw), (ph, pw) = self.geometry(size)
        return output_length(size[0], kh, sh, ph), output_length(size[1], kw, sw, pw)

    def forward(self, x: Any) -> Any:
        w = self.params["w"]
        E, O = w.shape[0], self.out_channels
        if x.ndim != 5 or x.shape[2] != self.in_channels or x.shape[0] not in (1, E):
            raise ValueError(
                f"{self.name}: expected input (E, B, {self.in_channels}, H, W) with E = 1 or "
                f"{E}, got {tuple(x.shape)}"
            )
        Ex, B, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.geometry((H, W))
        Ho, Wo = output_length(H, kh, sh, ph), output_length(W, kw, sw, pw)
        if Ho < 1 or Wo < 1:
            raise ValueError(
                f"{self.name}: input (H, W) = {(H, W)} with padding {(ph, pw)} is smaller than "
                f"kernel_size {(kh, kw)}"
            )
        xp = backend.get_array_module(x)
        # channels before batch, so that cols reshape to (C kh kw, B Ho Wo) without a copy and
        # the matmul writes (O, B Ho Wo): the fastest of the layouts measured on NumPy
        xpad = x.transpose(0, 2, 1, 3, 4)
        if ph or pw:
            xpad = xp.zeros((Ex, C, B, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
            xpad[..., ph : ph + H, pw : pw + W] = x.transpose(0, 2, 1, 3, 4)
        # im2col: one strided slice of the padded input per kernel offset, not a loop over pixels
        cols = xp.empty((Ex, C, kh, kw, B, Ho, Wo), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = xpad[offset_index(i, j, (Ho, Wo), (sh, sw))]
        self.cols = cols.reshape(Ex, C * kh * kw, B * Ho * Wo)
        self.x_shape, self.geom = x.shape, ((kh, kw), (sh, sw), (ph, pw))
        y = w.reshape(E, O, C * kh * kw) @ self.cols  # (E, O, B Ho Wo); a shared input broadcasts
        # a view: (E, B, O, Ho, Wo) with channels before batch in memory; the elementwise layers
        # that follow keep that order, so the next convolution's transpose is free
        y = y.reshape(E, O, B, Ho, Wo).transpose(0, 2, 1, 3, 4)
        if self.bias:
            y += self.params["b"][:, None, :, None, None]
        return y

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        w = self.params["w"]
        E, B, O, Ho, Wo = dout.shape
        Ex, _, C, H, W = self.x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.geom
        d = xp.ascontiguousarray(dout.transpose(0, 2, 1, 3, 4)).reshape(E, O, B * Ho * Wo)
        k = grad_chunks_for(self, B)
        if k > 1:  # chunk c owns the columns [c m, (c + 1) m) of D and X
            m = B // k * Ho * Wo
            dc = d.reshape(E, O, k, m).transpose(0, 2, 1, 3)  # (E, k, O, m)
            xc = self.cols.reshape(Ex, C * kh * kw, k, m).transpose(0, 2, 3, 1)  # (Ex, k, m, CKK)
            dw = dc @ xc  # (E, k, O, C kh kw)
            self.chunk_sq_norms = {"w": sq_norms(dw)}
            self.grads["w"] = sum_chunks(dw).reshape(w.shape)
            if self.bias:
                db = dc.sum(axis=3)  # (E, k, O)
                self.chunk_sq_norms["b"] = sq_norms(db)
                self.grads["b"] = db.sum(axis=1)
        else:
            self.grads["w"] = (d @ self.cols.transpose(0, 2, 1)).reshape(w.shape)
            if self.bias:
                self.grads["b"] = d.sum(axis=2)
        wm = w.reshape(E, O, C * kh * kw)
        if Ex == 1 < E:  # a shared input: contracting over (E, O) at once also sums dx over members
            dcols = wm.reshape(E * O, -1).T @ d.reshape(E * O, -1)
        else:
            dcols = wm.transpose(0, 2, 1) @ d
        dcols = dcols.reshape(Ex, C, kh, kw, B, Ho, Wo)
        # col2im: add each kernel offset's columns back onto the pixels its slice read
        dxpad = xp.zeros((Ex, C, B, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
        for i in range(kh):
            for j in range(kw):
                dxpad[offset_index(i, j, (Ho, Wo), (sh, sw))] += dcols[:, :, i, j]
        return dxpad[..., ph : ph + H, pw : pw + W].transpose(0, 2, 1, 3, 4)  # a view, as y
