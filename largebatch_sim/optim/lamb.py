"""LAMB, You et al. 2020 ("Large Batch Optimization for Deep Learning"), Algorithm 2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .common import check_kinds
from .transforms import (
    AddDecayedWeights,
    Chain,
    ScaleByAdam,
    ScaleByLearningRate,
    ScaleByTrustRatio,
)


class LAMB(Chain):
    """Layer-wise adaptive moments, per parameter tensor l and ensemble member::

        m <- b1 m + (1 - b1) g,        v <- b2 v + (1 - b2) g^2,        t <- t + 1
        r = m_hat / (sqrt(v_hat) + eps)                   (Adam's direction, bias-corrected)
        w_l <- w_l - gamma_t phi(||w_l||) / ||r_l + lambda w_l|| (r_l + lambda w_l)

    with phi the identity (the paper's experiments). The trust ratio is 1 where ||w_l|| = 0 or
    ||r_l + lambda w_l|| = 0 (as the reference implementations do; ``zero_norm_ratio=0.0`` keeps
    the literal 0 where ||w_l|| = 0). ``exclude_from_adaptation`` kinds keep ratio 1 (Adam with
    decoupled decay); ``exclude_from_weight_decay`` kinds get lambda = 0. After each step
    ``local_lr[name]`` holds the trust ratio, (E,).

    As a chain: ScaleByAdam -> AddDecayedWeights -> ScaleByTrustRatio -> ScaleByLearningRate.
    """

    def __init__(
        self,
        b1: float | np.ndarray = 0.9,
        b2: float | np.ndarray = 0.999,
        eps: float = 1e-6,
        weight_decay: float | np.ndarray = 0.0,
        exclude_from_adaptation: Iterable[str] = (),
        exclude_from_weight_decay: Iterable[str] = (),
        zero_norm_ratio: float = 1.0,
        fused: bool = True,
    ) -> None:
        no_adaptation = check_kinds("exclude_from_adaptation", exclude_from_adaptation)
        no_decay = check_kinds("exclude_from_weight_decay", exclude_from_weight_decay)
        self.adam = ScaleByAdam(b1, b2, eps)
        self.trust = ScaleByTrustRatio(
            1.0, denominator="optax", zero_norm_ratio=zero_norm_ratio, skip=no_adaptation
        )
        decay = AddDecayedWeights(weight_decay, skip=no_decay)
        super().__init__([self.adam, decay, self.trust, ScaleByLearningRate()], fused=fused)

    @property
    def local_lr(self) -> dict[str, Any]:
        """The trust ratio phi(||w_l||) / ||r_l + lambda w_l|| of each tensor at the last step."""
        return self.trust.local_lr
