"""Central-difference gradient checks in float64, shared by the layer and model tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from largebatch_sim.nn.base import Layer


def numerical_grad(
    f: Callable[[], float], a: np.ndarray, h: float = 1e-6, entries: np.ndarray | None = None
) -> np.ndarray:
    """d f / d a by central differences, perturbing ``a`` in place.

    ``entries`` (flat indices) restricts the check to a sample; the other entries stay NaN."""
    grad = np.full(a.shape, np.nan) if entries is not None else np.zeros_like(a)
    for flat in range(a.size) if entries is None else entries:
        i = np.unravel_index(flat, a.shape)
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def check_layer(
    layer: Layer, x: np.ndarray, seed: int = 0, rtol: float = 1e-5, samples: int | None = None
) -> None:
    """Compare ``layer.backward`` with central differences of L = sum(forward(x) * r).

    ``r`` is a fixed random projection, so every output element contributes with its own
    weight. Checks dL/dx and every parameter gradient, at every entry or at ``samples``
    random entries of each array (for whole models); the layer must be in float64.
    """
    rng = np.random.default_rng(seed)
    r = rng.normal(size=layer.forward(x).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * r))

    loss()
    analytic = {"x": layer.backward(r), **layer.named_grads()}
    for name, a in {"x": x, **layer.named_params()}.items():
        entries = None if samples is None else rng.choice(a.size, min(samples, a.size), False)
        numeric = numerical_grad(loss, a, entries=entries)
        checked = ~np.isnan(numeric)
        np.testing.assert_allclose(
            analytic[name][checked],
            numeric[checked],
            rtol=rtol,
            atol=1e-7,
            err_msg=f"gradient of {name}",
        )
