"""AdamW, Loshchilov and Hutter 2019: Adam's direction with weight decay decoupled from it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .common import check_kinds
from .transforms import AddDecayedWeights, Chain, ScaleByAdam, ScaleByLearningRate


class AdamW(Chain):
    """Adam with decoupled weight decay, per ensemble member (their Algorithm 2)::

        m <- b1 m + (1 - b1) g,        v <- b2 v + (1 - b2) g^2,        t <- t + 1
        m_hat = m / (1 - b1^t),        v_hat = v / (1 - b2^t)
        w <- w - gamma_t (m_hat / (sqrt(v_hat) + eps) + lambda w)

    The decay lambda w is added after Adam's normalisation, so it is not rescaled by
    1 / sqrt(v_hat) as an L2 term in the loss would be; kinds in
    ``exclude_from_weight_decay`` are not decayed. gamma_t is the schedule's rate.

    As a chain: ScaleByAdam -> AddDecayedWeights -> ScaleByLearningRate.
    """

    def __init__(
        self,
        b1: float | np.ndarray = 0.9,
        b2: float | np.ndarray = 0.999,
        eps: float = 1e-8,
        weight_decay: float | np.ndarray = 0.0,
        exclude_from_weight_decay: Iterable[str] = (),
        fused: bool = True,
    ) -> None:
        self.adam = ScaleByAdam(b1, b2, eps)
        exclude = check_kinds("exclude_from_weight_decay", exclude_from_weight_decay)
        decay = AddDecayedWeights(weight_decay, skip=exclude)
        super().__init__([self.adam, decay, ScaleByLearningRate()], fused=fused)
