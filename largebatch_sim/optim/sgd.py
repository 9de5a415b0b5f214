"""SGD with momentum, Nesterov and weight decay, in both of Goyal et al.'s momentum forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..backend import get_array_module
from .common import (
    check_kinds,
    check_momentum,
    check_nonnegative,
    masked_assign,
    per_member,
    safe_divide,
)


class SGD:
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
    """

    def __init__(
        self,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_in_momentum: bool = False,
        momentum_correction: bool = True,
        exclude_from_weight_decay: Iterable[str] = (),
    ) -> None:
        self.momentum = check_momentum(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        self.lr_in_momentum = bool(lr_in_momentum)
        self.momentum_correction = bool(momentum_correction)
        self.exclude_from_weight_decay = check_kinds(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )
        self.velocity: dict[str, Any] = {}
        self.prev_lr: Any = None

    def step(
        self,
        params: dict[str, Any],
        grads: dict[str, Any],
        lr: Any,
        kinds: dict[str, str] | None = None,
        active: Any = None,
    ) -> None:
        kinds = kinds or {}
        names = [name for name in params if name in grads]
        if not names:
            return
        xp = get_array_module(params[names[0]])
        lr = xp.asarray(lr)
        correction = None  # lr_t / lr_{t-1}, per member
        if self.lr_in_momentum and self.momentum_correction and self.prev_lr is not None:
            correction = safe_divide(lr, self.prev_lr, 1.0, xp)
        m = self.momentum

        for name in names:
            w, g = params[name], grads[name]
            if self.weight_decay and kinds.get(name) not in self.exclude_from_weight_decay:
                g = g + self.weight_decay * w
            lr_ = per_member(lr, w, xp)
            if m == 0:
                masked_assign(w, w - lr_ * g, active, xp)
                continue
            buf = self.velocity.get(name)
            if buf is None:
                buf = self.velocity[name] = xp.zeros_like(w)
            if self.lr_in_momentum:
                v = buf if correction is None else per_member(correction, w, xp) * buf
                v = m * v + lr_ * g
                update = lr_ * g + m * v if self.nesterov else v
            else:
                v = m * buf + g
                update = lr_ * (g + m * v if self.nesterov else v)
            masked_assign(buf, v, active, xp)
            masked_assign(w, w - update, active, xp)

        if active is None or self.prev_lr is None:
            self.prev_lr = lr.copy()  # a copy: the caller may reuse its rate array in place
        else:  # frozen members keep their state, the previous rate included
            self.prev_lr = xp.where(active, lr, self.prev_lr)
