"""Central-difference gradient checks in float64, shared by the layer tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from largebatch_sim.nn.base import Layer


def numerical_grad(f: Callable[[], float], a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d a by central differences, perturbing ``a`` in place."""
    grad = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def check_layer(layer: Layer, x: np.ndarray, seed: int = 0, rtol: float = 1e-5) -> None:
    """Compare ``layer.backward`` with central differences of L = sum(forward(x) * r).

    ``r`` is a fixed random projection, so every output element contributes with its own
    weight. Checks dL/dx and every parameter gradient; the layer must be initialised in float64.
    """
    r = np.random.default_rng(seed).normal(size=layer.forward(x).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * r))

    loss()
    dx = layer.backward(r)
    analytic = {"x": dx, **layer.named_grads()}
    numeric = {"x": numerical_grad(loss, x)}
    for name, p in layer.named_params().items():
        numeric[name] = numerical_grad(loss, p)
    for name, expected in numeric.items():
        np.testing.assert_allclose(
            analytic[name], expected, rtol=rtol, atol=1e-7, err_msg=f"gradient of {name}"
        )
