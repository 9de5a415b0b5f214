"""LARS, You, Gitman and Ginsburg 2017, Algorithm 1; and its clipped variant LARC (NVIDIA)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..validate import check_bool
from .common import check_kinds
from .transforms import (
    DENOMINATORS,
    ZERO_NORM_RATIOS,
    AddDecayedWeights,
    Chain,
    ScaleByLearningRate,
    ScaleByTrustRatio,
    Trace,
)

__all__ = ["DENOMINATORS", "LARS", "ZERO_NORM_RATIOS"]


class LARS(Chain):
    """Layer-wise adaptive rate scaling, per parameter tensor l and per ensemble member.

    With global rate gamma_t (a schedule), trust coefficient eta, weight decay beta, momentum m,
    norms over all axes of one member's tensor::

        lambda_l = eta ||w_l|| / (||g_l|| + beta ||w_l|| + eps)      denominator="paper"
        lambda_l = eta ||w_l|| / (||g_l + beta w_l|| + eps)          denominator="optax"
        v_l <- m v_l + gamma_t lambda_l (g_l + beta w_l)
        w_l <- w_l - v_l

    With ``lr_in_momentum=False`` the global rate stays outside the buffer::

        u_l <- m u_l + lambda_l (g_l + beta w_l);   w_l <- w_l - gamma_t u_l

    Clip mode (``clip=True``, LARC as in NVIDIA apex): the rate applied to (g + beta w) is
    min(gamma_t, lambda_l) instead of gamma_t lambda_l. Apex writes it as a ratio on the
    global rate, min(lambda_l / gamma_t, 1), then multiplies by gamma_t; that ratio is what the
    outside-momentum form uses (1 where gamma_t = 0). Here lambda_l is an absolute rate, not a
    multiplier of gamma_t, so the global rate only caps it: compare clip and scale modes each at
    its own tuned rate, never at one shared rate.

    Edge cases (as optax, torchlars and timm):

    - the trust ratio is 1 (lambda_l = 1, the rate gamma_t, also in clip mode) where
      ||w_l|| = 0 or where the denominator is 0 (g = 0 with beta ||w|| = 0 for "paper",
      g + beta w = 0 for "optax"): a zero-initialised parameter (a BN beta, a zero bias) then
      moves at the global rate instead of never moving.
    - ``zero_norm_ratio=0.0`` keeps the paper's literal formula where ||w_l|| = 0: lambda_l = 0,
      so a zero-initialised parameter that is adapted never moves (the BN betas of a net stay
      at 0 for the whole run). Available for the ablation only.
    - ``exclude_from_adaptation`` (kinds, e.g. ("bias", "norm")): lambda_l = 1 for those.
      ``exclude_from_weight_decay``: beta = 0 for those, in the denominator and the update.
      The paper excludes nothing; a name missing from ``kinds`` is a weight.

    ``step`` has SGD's signature and semantics (in place, ``lr`` a number or (E,), ``active``
    freezes members with ``where``). After each step, ``local_lr[name]`` holds lambda_l (after
    fallback and exclusions) and ``effective_lr[name]`` the rate applied to g + beta w
    (gamma_t lambda_l, or min(gamma_t, lambda_l) when clipping), both (E,) on the device.
    The paper applies no momentum correction when gamma_t changes, and neither does this.
    ``nesterov`` applies Nesterov's momentum to the buffer (as optax's and timm's LARS).

    As a chain of transforms (``transforms.py``): AddDecayedWeights -> ScaleByTrustRatio ->
    ScaleByLearningRate -> Trace, the last two swapped for the rate outside the buffer.
    """

    def __init__(
        self,
        momentum: float | np.ndarray = 0.9,
        weight_decay: float | np.ndarray = 5e-4,
        trust_coefficient: float | np.ndarray = 0.001,
        eps: float = 0.0,
        denominator: str = "paper",
        clip: bool = False,
        exclude_from_adaptation: Iterable[str] = (),
        exclude_from_weight_decay: Iterable[str] = (),
        lr_in_momentum: bool = True,
        zero_norm_ratio: float = 1.0,
        nesterov: bool = False,
        fused: bool = True,
    ) -> None:
        no_decay = check_kinds("exclude_from_weight_decay", exclude_from_weight_decay)
        no_adaptation = check_kinds("exclude_from_adaptation", exclude_from_adaptation)
        self.trust = ScaleByTrustRatio(
            trust_coefficient,
            denominator=denominator,
            eps=eps,
            clip=clip,
            zero_norm_ratio=zero_norm_ratio,
            weight_decay=weight_decay,
            no_decay_on=no_decay,
            skip=no_adaptation,
        )
        self.trace = Trace(momentum, nesterov=nesterov)
        decay = AddDecayedWeights(weight_decay, skip=no_decay)
        if check_bool("lr_in_momentum", lr_in_momentum):  # v <- m v + gamma lambda (g + beta w)
            stages = [decay, self.trust, ScaleByLearningRate(), self.trace]
        else:  # u <- m u + lambda (g + beta w),  w <- w - gamma u
            stages = [decay, self.trust, self.trace, ScaleByLearningRate()]
        super().__init__(stages, fused=fused)

    @property
    def velocity(self) -> dict[str, Any]:
        """The momentum buffer of each parameter."""
        return self.by_name(self.trace.buffers)

    @property
    def local_lr(self) -> dict[str, Any]:
        """lambda_l of each parameter at the last step, (E,)."""
        return self.trust.local_lr

    @property
    def effective_lr(self) -> dict[str, Any]:
        """The rate applied to g + beta w at the last step, (E,)."""
        return self.trust.effective_lr
