"""SGD with momentum, Nesterov and weight decay, in both of Goyal et al.'s momentum forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..validate import check_bool
from .common import check_kinds
from .transforms import AddDecayedWeights, Chain, ScaleByLearningRate, Trace


class SGD(Chain):
    """Stochastic gradient descent with momentum m, per ensemble member.

    Weight decay lambda is part of the loss (Goyal et al., remark 1): g' = g + lambda w, except
    for the parameter kinds in ``exclude_from_weight_decay`` (Goyal: none on BN gamma/beta,
    ``("norm",)``), for which g' = g.

    Learning rate outside the momentum buffer (``lr_in_momentum=False``, Goyal eq. (10),
    PyTorch)::

        u <- m u + g'
        w <- w - lr u                    (Nesterov: w <- w - lr (g' + m u))

    Learning rate inside it (``lr_in_momentum=True``, Goyal eq. (9), Caffe)::

        v <- (lr_t / lr_{t-1}) v         momentum correction, if ``momentum_correction``
        v <- m v + lr_t g'
        w <- w - v                       (Nesterov: w <- w - (lr_t g' + m v))

    The two forms are equal while lr is constant; when lr changes, the inside form equals the
    outside one only with the correction (v = lr u), which is Goyal's point. No correction on
    the first step, or for a member whose previous rate was 0.

    ``step(params, grads, lr, kinds, active)`` updates ``params`` in place. ``lr`` is a number or
    an (E,) array (one rate per member), on the host or the device. ``kinds`` maps names to
    ``weight`` / ``bias`` / ``norm``; a name missing from it is a weight (decayed). Members with
    ``active[e]`` False keep their parameters and state unchanged. Parameters with no gradient
    in ``grads`` are left alone. State: ``velocity`` (u or v, by name) and ``prev_lr``.

    As a chain of transforms (``transforms.py``): AddDecayedWeights -> Trace ->
    ScaleByLearningRate outside the buffer; AddDecayedWeights -> ScaleByLearningRate -> Trace
    (with the correction) inside.
    """

    def __init__(
        self,
        momentum: float | np.ndarray = 0.0,
        nesterov: bool = False,
        weight_decay: float | np.ndarray = 0.0,
        lr_in_momentum: bool = False,
        momentum_correction: bool = True,
        exclude_from_weight_decay: Iterable[str] = (),
        fused: bool = True,
    ) -> None:
        exclude = check_kinds("exclude_from_weight_decay", exclude_from_weight_decay)
        decay = AddDecayedWeights(weight_decay, skip=exclude)
        lr_in_momentum = check_bool("lr_in_momentum", lr_in_momentum)
        momentum_correction = check_bool("momentum_correction", momentum_correction)
        correction = lr_in_momentum and momentum_correction
        self.trace = Trace(momentum, nesterov=nesterov, correction=correction)
        if lr_in_momentum:  # v <- m v + lr g'  (eq. 9)
            stages = [decay, ScaleByLearningRate(), self.trace]
        else:  # u <- m u + g',  w <- w - lr u  (eq. 10)
            stages = [decay, self.trace, ScaleByLearningRate()]
        super().__init__(stages, fused=fused)

    @property
    def velocity(self) -> dict[str, Any]:
        """The momentum buffer of each parameter (u or v, by the form)."""
        return self.by_name(self.trace.buffers)
