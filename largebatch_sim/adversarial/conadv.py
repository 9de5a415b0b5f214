"""ConAdv (Liu et al. 2022, arXiv 2106.00221): adversarial training from stale weights.

At step t, for the clean batch (x_t, y_t)::

    x_hat_t = x_t + eps sign(grad_x l(w_{t - tau}; x_t, y_t))             (FGSM, stale weights)
    w_{t+1} = w_t - optimizer step on  (1/2) [ l(w_t; x_t) + l(w_t; x_hat_t) ]

tau = 0 is synchronous adversarial training: the example needs the current weights, so its
forward and backward run *before* the step's own, doubling the sequential chain. With tau >= 1
the example depends only on weights already known one step earlier, so on a real system it is
computed concurrently with the previous step (``timing.py`` measures the passes and models the
concurrent form). The update uses the clean and adversarial losses with equal weights.

Here the mix is a sampler: ``ConAdvSampler`` wraps any sampler of the training loop, and each
``next()`` returns the clean batch and its adversarial copy concatenated along the batch axis,
(E, 2B, ...), so the loop's mean loss over 2B examples is exactly the equal-weight mix above;
``train`` is unchanged. The model is the training model itself with its weights swapped for
the snapshot w_{t - tau} during the FGSM pass (``stale.py``). A batch-norm model would also
update its running statistics in that pass: use the MLP or networks without batch norm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backend
from ..nn.base import Layer
from ..nn.losses import softmax_cross_entropy
from .fgsm import check_eps, fgsm, input_gradient, per_member_inputs
from .stale import ParameterSnapshots, check_tau, swap_in


class ConAdvSampler:
    """Clean batch + its FGSM copy from weights ``tau`` steps stale, (E, 2B, ...)."""

    def __init__(
        self,
        sampler: Any,
        model: Layer,
        eps: float,
        tau: int = 1,
        loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
    ) -> None:
        self.eps = check_eps(eps)
        self.tau = check_tau(tau)
        self.sampler, self.model, self.loss_fn = sampler, model, loss_fn
        self.snapshots = ParameterSnapshots(self.tau)
        self.steps_per_epoch = sampler.steps_per_epoch

    def adversarial(self, x: Any, y: Any) -> Any:
        """x_hat from w_{t - tau}, t the current step (call once per step, before its update)."""
        params = self.model.named_params()
        self.snapshots.push(params)  # w_t: the loop calls next() before the step's update
        if self.tau == 0:
            return fgsm(x, input_gradient(self.model, x, y, self.loss_fn), self.eps)
        current = swap_in(params, self.snapshots.stale())
        try:
            dx = input_gradient(self.model, x, y, self.loss_fn)
        finally:
            swap_in(params, current)
        return fgsm(x, dx, self.eps)

    def next(self) -> tuple[Any, Any]:
        x, y = self.sampler.next()
        x, y = per_member_inputs(self.model, x, y)
        x_hat = self.adversarial(x, y)
        xp = backend.get_array_module(x)
        return xp.concatenate([x, x_hat], axis=1), xp.concatenate([y, y], axis=1)
