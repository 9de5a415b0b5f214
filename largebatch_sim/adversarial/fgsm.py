"""The fast gradient sign method: one step up the loss in the input, of size eps per feature.

    x_hat = x + eps sign(grad_x l(w; x, y))

The input gradient is what the model's backward returns at its first layer (``Sequential.
backward`` hands dL/dx back), so no extra machinery is needed: one forward, one backward.
The loss is a mean over the batch, so grad_x carries a factor 1/B that the sign discards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backend
from ..nn.base import Layer
from ..nn.losses import softmax_cross_entropy
from ..validate import ParameterError, check_number


def check_eps(eps: Any) -> float:
    """eps >= 0 (0: the clean example), or a ``ParameterError`` naming ``eps``."""
    return check_number("eps", eps, low=0)


def per_member_inputs(model: Layer, x: Any, y: Any) -> tuple[Any, Any]:
    """(x, y) with one row per member: a batch shared by the ensemble (leading axis 1) is
    broadcast, so each member's input gradient is its own (a shared input would sum them)."""
    xp = backend.get_array_module(x)
    e = model.ensemble
    if x.shape[0] == 1 and e > 1:
        x = xp.broadcast_to(x, (e, *x.shape[1:]))
        y = xp.broadcast_to(y, (e, *y.shape[1:]))
    if x.shape[0] != e:
        raise ParameterError("x", f"a batch of shape {tuple(x.shape)}", f"{e} or 1 rows")
    return x, y


def input_gradient(
    model: Layer,
    x: Any,
    y: Any,
    loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
) -> Any:
    """dL/dx of the model at its current weights, shape of ``x`` (one row per member). The
    layers' parameter gradients are overwritten; call before the step's own backward."""
    x, y = per_member_inputs(model, x, y)
    _, dlogits = loss_fn(model.forward(x), y)
    return model.backward(dlogits)


def fgsm(x: Any, dx: Any, eps: float) -> Any:
    """x + eps sign(dx)."""
    eps = check_eps(eps)
    xp = backend.get_array_module(dx)
    return x + xp.asarray(eps, dtype=dx.dtype) * xp.sign(dx)
