"""Layers without parameters: ReLU, Flatten, Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..validate import check_number, within
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0); backward dx = dout * [x > 0] (the subgradient 0 at x = 0)."""

    def __init__(self, name: str = "relu") -> None:
        super().__init__(name)

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.mask = x > 0
        return xp.maximum(x, 0)

    def backward(self, dout: Any) -> Any:
        return dout * self.mask


class Flatten(Layer):
    """(E, B, d_1, ..., d_k) -> (E, B, d_1 ... d_k), row-major; backward reshapes dout back."""

    def __init__(self, name: str = "flatten") -> None:
        super().__init__(name)

    def forward(self, x: Any) -> Any:
        if x.ndim < 2:
            raise ValueError(f"{self.name}: expected input (E, B, ...), got {tuple(x.shape)}")
        self.x_shape = x.shape
        return x.reshape(x.shape[0], x.shape[1], -1)

    def backward(self, dout: Any) -> Any:
        return dout.reshape(self.x_shape)


class Dropout(Layer):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element, in training.

    Backward: dx = dout * m / (1 - p). In evaluation mode (``layer.eval()``) or with p = 0
    it is the identity, so no rescaling is needed at test time.

    The masks are drawn on the device, from a generator of the array module (``numpy.random`` or
    ``cupy.random``) seeded at ``init`` from the members' host Generators, so a run is reproducible
    on one backend. Dropout masks are the one randomness in the library that comes from the device
    rather than a host NumPy Generator (docs/DESIGN.md, "Randomness"): runs with dropout are not
    bit-equal across backends, nor is a member of an ensemble equal to the same member trained
    alone; equality tests run with dropout off. Every element draws its own mask, so the members of
    an ensemble drop different units (an input shared by all members, leading axis 1, shares its
    mask).
    """

    def __init__(self, p: float = 0.5, name: str = "dropout") -> None:
        super().__init__(name)
        with within(name):
            check_number("p", p, low=0, high=1, high_open=True)
        self.p = p
        self._member_seeds: list[int] = []
        self.seed = 0
        self._generator: Any = None

    def init_member(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        self._member_seeds.append(int(rng.integers(2**31)))
        return {}

    def init_buffers(self, ensemble: int, dtype: Any) -> None:
        self.seed = int(np.random.SeedSequence(self._member_seeds).generate_state(1)[0] >> 1)
        self._member_seeds, self._generator = [], None

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        xp = backend.get_array_module(x)
        if self._generator is None:
            self._generator = xp.random.RandomState(self.seed)
        # the scaled mask in x's dtype: one multiply in forward and one in backward
        keep = self._generator.random_sample(x.shape) >= self.p
        self.mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, dout: Any) -> Any:
        return dout if self.mask is None else dout * self.mask
