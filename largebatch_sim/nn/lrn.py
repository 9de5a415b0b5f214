"""AlexNet's local response normalisation across channels."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..validate import check_integer, check_number, within
from .base import Layer


def _window_sum(a: Any, before: int, after: int) -> Any:
    """s[c] = sum of a[c'] for c - before <= c' <= c + after, along the channel axis 2.

    A loop over the window's offsets on a zero-padded copy: exact in float32, unlike
    differences of a cumulative sum."""
    xp = backend.get_array_module(a)
    C = a.shape[2]
    pad_shape = a.shape[:2] + (C + before + after,) + a.shape[3:]
    padded = xp.zeros(pad_shape, dtype=a.dtype)
    padded[:, :, before : before + C] = a
    s = padded[:, :, 0:C].copy()
    for d in range(1, before + after + 1):
        s += padded[:, :, d : d + C]
    return s


class LocalResponseNorm(Layer):
    """y_c = x_c / s_c^beta,   s_c = k + alpha sum_{c' in W(c)} x_c'^2   (AlexNet, Sec. 3.3).

    Per position (e, b, h, w) across the channels of x (E, B, C, H, W); n = ``size`` and the
    window W(c) = [c - floor(n/2), c + floor((n-1)/2)] is clipped to the channels that exist.
    The convention is the paper's formula, with the paper's k = 2, n = 5, alpha = 1e-4,
    beta = 0.75 as defaults. Caffe and PyTorch divide alpha by n: to match this layer there,
    give them n times our alpha (5e-4 for the paper's numbers).

    Backward, exact, with dout = dL/dy:
        dx_j = dout_j s_j^-beta - 2 alpha beta x_j sum_{c : j in W(c)} dout_c y_c / s_c,
    where c ranges over the mirrored window [j - floor((n-1)/2), j + floor(n/2)].
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        name: str = "lrn",
    ) -> None:
        super().__init__(name)
        with within(name):
            size = check_integer("size", size, low=1)
            check_number("alpha", alpha, low=0)
            check_number("beta", beta, low=0)
            check_number("k", k, low=0, low_open=True)  # s_c >= k keeps s_c^-beta defined
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Any) -> Any:
        if x.ndim != 5:
            raise ValueError(f"{self.name}: expected input (E, B, C, H, W), got {tuple(x.shape)}")
        xp = backend.get_array_module(x)
        n = self.size
        self.s = self.k + self.alpha * _window_sum(x * x, n // 2, (n - 1) // 2)
        self.scale = xp.power(self.s, -self.beta)
        self.x, self.y = x, x * self.scale
        return self.y

    def backward(self, dout: Any) -> Any:
        n = self.size
        t = _window_sum(dout * self.y / self.s, (n - 1) // 2, n // 2)  # the mirrored window
        return dout * self.scale - (2.0 * self.alpha * self.beta) * self.x * t
