"""LARS, You, Gitman and Ginsburg 2017, Algorithm 1; and its clipped variant LARC (NVIDIA)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..backend import get_array_module
from .common import (
    check_kinds,
    check_momentum,
    check_nonnegative,
    masked_assign,
    member_norm,
    per_member,
    safe_divide,
)

DENOMINATORS = ("paper", "optax")
ZERO_NORM_RATIOS = (1.0, 0.0)


class LARS:
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
    """

    def __init__(
        self,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        trust_coefficient: float = 0.001,
        eps: float = 0.0,
        denominator: str = "paper",
        clip: bool = False,
        exclude_from_adaptation: Iterable[str] = (),
        exclude_from_weight_decay: Iterable[str] = (),
        lr_in_momentum: bool = True,
        zero_norm_ratio: float = 1.0,
    ) -> None:
        self.momentum = check_momentum(momentum)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        self.trust_coefficient = check_nonnegative("trust_coefficient", trust_coefficient)
        if self.trust_coefficient == 0:
            raise ValueError("trust_coefficient must be a finite number > 0, got 0")
        self.eps = check_nonnegative("eps", eps)
        if denominator not in DENOMINATORS:
            raise ValueError(f"denominator must be one of {DENOMINATORS}, got {denominator!r}")
        self.denominator = denominator
        self.clip = bool(clip)
        self.exclude_from_adaptation = check_kinds(
            "exclude_from_adaptation", exclude_from_adaptation
        )
        self.exclude_from_weight_decay = check_kinds(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )
        self.lr_in_momentum = bool(lr_in_momentum)
        if zero_norm_ratio not in ZERO_NORM_RATIOS:
            raise ValueError(
                f"zero_norm_ratio must be one of {ZERO_NORM_RATIOS} (1: move at the global rate "
                f"where ||w|| = 0; 0: the literal formula, never move), got {zero_norm_ratio!r}"
            )
        self.zero_norm_ratio = float(zero_norm_ratio)
        self.velocity: dict[str, Any] = {}
        self.local_lr: dict[str, Any] = {}
        self.effective_lr: dict[str, Any] = {}

    def trust_ratio(self, w: Any, g: Any, beta: float, xp: Any) -> tuple[Any, Any]:
        """(lambda_l, adapted) per member, shape (E,): lambda_l = 1 and adapted False where
        the denominator is 0, and where ||w|| = 0 unless ``zero_norm_ratio`` is 0."""
        w_norm = member_norm(w, xp)
        if self.denominator == "paper":
            den = member_norm(g, xp) + beta * w_norm
        else:
            den = member_norm(g + beta * w if beta else g, xp)
        den = den + self.eps
        lam = safe_divide(self.trust_coefficient * w_norm, den, 1.0, xp)
        adapted = den > 0
        if self.zero_norm_ratio:
            adapted = adapted & (w_norm > 0)
            lam = xp.where(adapted, lam, 1.0).astype(lam.dtype, copy=False)
        return lam, adapted

    def step(
        self,
        params: dict[str, Any],
        grads: dict[str, Any],
        lr: Any,
        kinds: dict[str, str] | None = None,
        active: Any = None,
    ) -> None:
        kinds = kinds or {}
        m = self.momentum
        for name, w in params.items():
            if name not in grads:
                continue
            g, kind = grads[name], kinds.get(name)
            xp = get_array_module(w)
            gamma = xp.broadcast_to(xp.asarray(lr, dtype=w.dtype), w.shape[:1])  # (E,)
            beta = self.weight_decay if kind not in self.exclude_from_weight_decay else 0.0

            if kind in self.exclude_from_adaptation:
                lam = xp.ones(w.shape[:1], dtype=w.dtype)
                adapted = xp.zeros(w.shape[:1], dtype=bool)
            else:
                lam, adapted = self.trust_ratio(w, g, beta, xp)
            if self.clip:  # LARC: the rate min(gamma, lambda) as a ratio on gamma, 1 if gamma = 0
                ratio = xp.where(adapted, xp.minimum(safe_divide(lam, gamma, 1.0, xp), 1), 1)
            else:  # LARS: the rate gamma lambda
                ratio = lam
            self.local_lr[name], self.effective_lr[name] = lam, gamma * ratio

            d = g + beta * w if beta else g
            buf = self.velocity.get(name)
            if buf is None:
                buf = self.velocity[name] = xp.zeros_like(w)
            if self.lr_in_momentum:
                v = m * buf + per_member(gamma * ratio, w, xp) * d
                update = v
            else:
                v = m * buf + per_member(ratio, w, xp) * d
                update = per_member(gamma, w, xp) * v
            masked_assign(buf, v, active, xp)
            masked_assign(w, w - update, active, xp)
