"""Optimizers as chains of small transforms, in the spirit of optax.

An optimizer step turns each parameter's gradient g into an update u, stage by stage, then
applies ``w <- w - u``. Each stage is one line of a paper's algorithm::

    AddDecayedWeights(beta)     u <- u + beta w                          (L2 / decoupled decay)
    Trace(m)                    b <- m b + u;  u <- b  (Nesterov: u + m b)
    ScaleByLearningRate()       u <- gamma_t u
    ScaleByTrustRatio(eta)      u <- lambda_l u,  lambda_l = eta ||w|| / ||.||   (LARS, LAMB)
    ScaleByAdam(b1, b2, eps)    u <- m_hat / (sqrt(v_hat) + eps)         (Adam's moments)

so SGD is ``AddDecayedWeights -> Trace -> ScaleByLearningRate`` (the rate outside the buffer,
Goyal et al. eq. 10) or ``AddDecayedWeights -> ScaleByLearningRate -> Trace`` (the rate inside,
eq. 9), LARS puts ``ScaleByTrustRatio`` before the rate, and LAMB is Adam's direction plus
decay, then the trust ratio and the rate.

Every array has the ensemble axis E first; the global rate gamma_t is a number or (E,), on
the host or the device, and so may be every stage's hyperparameter (momentum, weight decay,
trust coefficient, Adam's betas): one value per member makes a sweep over it one ensemble.
Masks are bound at construction: a stage built with
``skip=("norm",)`` leaves the parameters of those kinds untouched. A member with
``active[e]`` False keeps its parameters and every stage's state. Nothing here reads a device
value on the host.

Fused: when the parameters are views that tile one (E, P) buffer (``nn/flat.py``, the default
of ``Layer.init``), a chain runs each stage once over the whole buffer instead of once per
tensor: the gradients are gathered into the same layout, and per-tensor quantities (the trust
ratio's norms, the masks by kind) become per-segment ones, so an optimizer step costs a few
kernels whatever the number of tensors. The per-tensor loop stays the reference
(``Chain(fused=False)``); tests/test_fused.py shows that both give the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..backend import get_array_module
from ..nn.flat import Segments, root, segments
from ..validate import ParameterError, check_bool, check_choice, check_number, check_sequence
from .common import (
    check_hyperparameter,
    check_kinds,
    check_step,
    masked_assign,
    member_norm,
    per_member,
    safe_divide,
    select_hyperparameter,
)

DENOMINATORS = ("paper", "optax")
ZERO_NORM_RATIOS = (1.0, 0.0)


@dataclass
class StepContext:
    """What every stage sees during one optimizer step.

    ``lr``: gamma_t per member, (E,); ``prev_lr``: gamma_{t-1} (None at the first step);
    ``grads``: the raw gradients (LARS's paper denominator reads ||g||); ``kinds``: name ->
    weight / bias / norm; ``active``: (E,) bool or None (all members move)."""

    xp: ModuleType
    lr: Any
    prev_lr: Any
    grads: dict[str, Any]
    kinds: dict[str, str]
    active: Any
    flat: Segments | None = None  # fused: the one name is FLAT, the layout of the buffer

    def kind(self, name: str) -> str:
        return self.kinds.get(name, "weight")  # a name missing from kinds is a weight

    def norms(self, x: Any) -> Any:
        """||x_l|| per member and tensor: (E,), or (E, L) over the segments when fused."""
        if self.flat is None:
            return member_norm(x, self.xp)
        return self.xp.sqrt(self.flat.sums(x * x))

    def spread(self, v: Any, like: Any) -> Any:
        """A value per member (E,) or, fused, per member and tensor (E, L), on ``like``."""
        return per_member(v, like, self.xp) if self.flat is None else self.flat.expand(v)

    def segments_of(self, kinds: frozenset[str]) -> tuple[bool, ...]:
        """Fused: for each tensor, whether its kind is in ``kinds``."""
        return tuple(self.kind(name) in kinds for name in self.flat.names)


FLAT = "(flat)"  # the name a fused step gives the whole buffer


class Stage:
    """One transform of the update: ``update(name, u, w, ctx)`` returns the new u. A stage
    with state keeps it per parameter name and writes it only for active members.

    ``hyperparameters`` names the attributes that may hold one value per member (E,);
    ``state`` the dicts of per-member arrays by parameter name. ``select_members(keep)``
    slices both when the training loop drops members from the ensemble."""

    hyperparameters: tuple[str, ...] = ()
    state: tuple[str, ...] = ()

    def __init__(self, skip: Iterable[str] = ()) -> None:
        self.skip = check_kinds("skip", skip)
        self._on_device: dict[tuple[str, Any], Any] = {}

    def applies(self, name: str, ctx: StepContext) -> bool:
        return ctx.kind(name) not in self.skip

    def where_applies(self, name: str, new: Any, old: Any, ctx: StepContext) -> Any:
        """``new`` for the parameters of kinds this stage does not skip, ``old`` for the rest
        (fused: column by column)."""
        if ctx.flat is None:
            return new if self.applies(name, ctx) else old
        applies = tuple(not skip for skip in ctx.segments_of(self.skip))
        if all(applies):
            return new
        return ctx.xp.where(ctx.flat.columns(applies), new, old)

    def hyper(self, attribute: str, like: Any, xp: ModuleType) -> Any:
        """The hyperparameter as a number, or (E,) moved to ``xp`` once and broadcast to
        ``like`` (E, ...)."""
        value = getattr(self, attribute)
        if np.ndim(value) == 0:
            return value
        key = (attribute, xp)
        if key not in self._on_device:
            self._on_device[key] = xp.asarray(value)
        return per_member(self._on_device[key], like, xp)

    def select_members(self, keep: np.ndarray) -> None:
        for attribute in self.hyperparameters:
            setattr(self, attribute, select_hyperparameter(getattr(self, attribute), keep))
        for attribute in self.state:
            table = getattr(self, attribute)
            for name, value in table.items():
                table[name] = value[get_array_module(value).asarray(keep)]
        self._on_device.clear()

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        raise NotImplementedError


class AddDecayedWeights(Stage):
    """u <- u + beta w: L2 weight decay when it comes before the rate and the moments
    (Goyal et al.'s remark 1: part of the loss), decoupled decay after Adam's direction."""

    hyperparameters = ("weight_decay",)

    def __init__(self, weight_decay: float | np.ndarray, skip: Iterable[str] = ()) -> None:
        super().__init__(skip)
        self.weight_decay = check_hyperparameter("weight_decay", weight_decay, low=0)

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        if not np.any(self.weight_decay):
            return u
        return self.where_applies(name, u + self.hyper("weight_decay", w, ctx.xp) * w, u, ctx)


class ScaleByLearningRate(Stage):
    """u <- gamma_t u, the global rate of the step (one per member)."""

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        return per_member(ctx.lr, w, ctx.xp) * u


class Trace(Stage):
    """Momentum: b <- m b + u, then u <- b (Nesterov: u <- u + m b).

    With ``correction`` the buffer is first rescaled by gamma_t / gamma_{t-1} (Goyal et al.'s
    momentum correction, for a buffer that holds the rate: v = gamma u); not on the first step,
    nor for a member whose previous rate was 0."""

    hyperparameters = ("momentum",)
    state = ("buffers",)

    def __init__(
        self, momentum: float | np.ndarray, nesterov: bool = False, correction: bool = False
    ) -> None:
        super().__init__()
        self.momentum = check_hyperparameter("momentum", momentum, low=0, high=1, high_open=True)
        self.nesterov = check_bool("nesterov", nesterov)
        self.correction = check_bool("correction", correction)
        self.buffers: dict[str, Any] = {}

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        xp = ctx.xp
        if not np.any(self.momentum):
            return u
        m = self.hyper("momentum", w, xp)
        buf = self.buffers.get(name)
        if buf is None:
            buf = self.buffers[name] = xp.zeros_like(w)
        if self.correction and ctx.prev_lr is not None:
            buf = per_member(safe_divide(ctx.lr, ctx.prev_lr, 1.0, xp), w, xp) * buf
        b = m * buf + u
        masked_assign(self.buffers[name], b, ctx.active, xp)
        return u + m * b if self.nesterov else b


class ScaleByTrustRatio(Stage):
    """u <- lambda_l u with the layer-wise trust ratio, per tensor l and member::

        lambda_l = eta ||w_l|| / (||g_l|| + beta ||w_l|| + eps)    denominator "paper" (LARS)
        lambda_l = eta ||w_l|| / (||u_l|| + eps)                   denominator "optax" (LARS
                                                                   after decay; LAMB, eta = 1)

    ``clip`` (LARC): the rate becomes min(gamma_t, lambda_l), written as the ratio
    min(lambda_l / gamma_t, 1) on gamma_t (1 where gamma_t = 0). Where ||w_l|| = 0 or the
    denominator is 0 the ratio is 1 (optax, torchlars, timm), unless ``zero_norm_ratio`` is 0,
    the paper's literal formula, where a zero tensor never moves. Kinds in ``skip`` keep
    lambda_l = 1. ``weight_decay`` and ``no_decay_on`` are the decay of the paper denominator.
    After each step ``local_lr[name]`` holds lambda_l and ``effective_lr[name]`` the rate
    applied with gamma_t (gamma_t lambda_l, or min(gamma_t, lambda_l) when clipping), both (E,)
    on the device."""

    hyperparameters = ("trust_coefficient", "weight_decay")
    state = ("local_lr", "effective_lr")

    def __init__(
        self,
        trust_coefficient: float | np.ndarray,
        denominator: str = "optax",
        eps: float = 0.0,
        clip: bool = False,
        zero_norm_ratio: float = 1.0,
        weight_decay: float | np.ndarray = 0.0,
        no_decay_on: Iterable[str] = (),
        skip: Iterable[str] = (),
    ) -> None:
        super().__init__(skip)
        self.trust_coefficient = check_hyperparameter(
            "trust_coefficient", trust_coefficient, low=0, low_open=True
        )
        self.denominator = check_choice("denominator", denominator, DENOMINATORS)
        self.eps = check_number("eps", eps, low=0)
        self.clip = check_bool("clip", clip)
        # 1: move at the global rate where ||w|| = 0; 0: the literal formula, never move
        self.zero_norm_ratio = float(
            check_choice("zero_norm_ratio", zero_norm_ratio, ZERO_NORM_RATIOS)
        )
        self.weight_decay = check_hyperparameter("weight_decay", weight_decay, low=0)
        self.no_decay_on = check_kinds("no_decay_on", no_decay_on)
        self.local_lr: dict[str, Any] = {}
        self.effective_lr: dict[str, Any] = {}

    def trust_ratio(self, name: str, u: Any, w: Any, ctx: StepContext) -> tuple[Any, Any]:
        """(lambda_l, adapted) per member, (E,) (fused: (E, L), per tensor): lambda_l = 1 and
        adapted False where the denominator is 0, and where ||w|| = 0 unless
        ``zero_norm_ratio`` is 0."""
        xp = ctx.xp
        w_norm = ctx.norms(w)
        if self.denominator == "paper":
            if ctx.flat is None:
                decays = ctx.kind(name) not in self.no_decay_on
            else:
                decays = ctx.flat.flags(tuple(not s for s in ctx.segments_of(self.no_decay_on)))
            beta = self.hyper("weight_decay", w_norm, xp) * decays
            den = ctx.norms(ctx.grads[name]) + beta * w_norm
        else:
            den = ctx.norms(u)
        den = den + self.eps
        lam = safe_divide(self.hyper("trust_coefficient", w_norm, xp) * w_norm, den, 1.0, xp)
        adapted = den > 0
        if self.zero_norm_ratio:
            adapted = adapted & (w_norm > 0)
            lam = xp.where(adapted, lam, 1.0).astype(lam.dtype, copy=False)
        return lam, adapted

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        xp = ctx.xp
        if ctx.flat is None and not self.applies(name, ctx):
            lam = xp.ones(w.shape[:1], dtype=w.dtype)
            adapted = xp.zeros(w.shape[:1], dtype=bool)
        else:
            lam, adapted = self.trust_ratio(name, u, w, ctx)
            if ctx.flat is not None and self.skip:  # the skipped kinds' tensors keep 1
                skipped = ctx.flat.flags(ctx.segments_of(self.skip))
                lam = xp.where(skipped, 1.0, lam).astype(lam.dtype, copy=False)
                adapted = adapted & ~skipped
        gamma = xp.broadcast_to(per_member(ctx.lr, lam, xp), lam.shape)
        if self.clip:  # LARC: the rate min(gamma, lambda) as a ratio on gamma, 1 if gamma = 0
            ratio = xp.where(adapted, xp.minimum(safe_divide(lam, gamma, 1.0, xp), 1), 1)
        else:
            ratio = lam
        if ctx.flat is None:
            self.local_lr[name], self.effective_lr[name] = lam, gamma * ratio
        else:  # per tensor, as the unfused loop records them
            effective = gamma * ratio
            for i, tensor in enumerate(ctx.flat.names):
                self.local_lr[tensor], self.effective_lr[tensor] = lam[:, i], effective[:, i]
        return ctx.spread(ratio, w) * u


class ScaleByAdam(Stage):
    """Adam's direction with bias correction (Kingma and Ba, Algorithm 1), per member::

        m <- b1 m + (1 - b1) u,   v <- b2 v + (1 - b2) u^2,   t <- t + 1
        u <- m_hat / (sqrt(v_hat) + eps),   m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)

    t counts each member's own steps, so a frozen member's correction does not advance."""

    hyperparameters = ("b1", "b2")
    state = ("mu", "nu", "count")

    def __init__(
        self, b1: float | np.ndarray = 0.9, b2: float | np.ndarray = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.b1 = check_hyperparameter("b1", b1, low=0, high=1, high_open=True)
        self.b2 = check_hyperparameter("b2", b2, low=0, high=1, high_open=True)
        self.eps = check_number("eps", eps, low=0)
        self.mu: dict[str, Any] = {}
        self.nu: dict[str, Any] = {}
        self.count: dict[str, Any] = {}

    def update(self, name: str, u: Any, w: Any, ctx: StepContext) -> Any:
        xp = ctx.xp
        if name not in self.mu:
            self.mu[name], self.nu[name] = xp.zeros_like(w), xp.zeros_like(w)
            self.count[name] = xp.zeros(w.shape[:1], dtype=w.dtype)
        b1, b2 = self.hyper("b1", w, xp), self.hyper("b2", w, xp)
        mu = b1 * self.mu[name] + (1 - b1) * u
        nu = b2 * self.nu[name] + (1 - b2) * u * u
        t = self.count[name] + 1
        masked_assign(self.mu[name], mu, ctx.active, xp)
        masked_assign(self.nu[name], nu, ctx.active, xp)
        masked_assign(self.count[name], t, ctx.active, xp)
        b1_t = self.hyper("b1", t, xp) ** t  # b1^t per member, t counting its own steps
        b2_t = self.hyper("b2", t, xp) ** t
        mu_hat = mu / per_member(1 - b1_t, w, xp)
        nu_hat = nu / per_member(1 - b2_t, w, xp)
        return mu_hat / (xp.sqrt(nu_hat) + self.eps)


def _check_stage(name: str, value: Any) -> Stage:
    if not isinstance(value, Stage):
        raise ParameterError(name, value, "a Stage (AddDecayedWeights, Trace, ...)")
    return value


@dataclass
class Chain:
    """An optimizer: its stages, applied in order to every parameter with a gradient.

    ``step(params, grads, lr, kinds, active)`` updates ``params`` in place: u = g, then each
    stage, then ``w <- w - u`` for the active members. ``lr`` is a number or (E,), on the
    host or the device; ``kinds`` maps names to weight / bias / norm."""

    stages: list[Stage] = field(default_factory=list)
    fused: bool = True
    prev_lr: Any = field(default=None, init=False)  # the last step's rate: state, not an option
    _layout: Segments | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.stages = list(check_sequence("stages", self.stages, _check_stage))
        check_bool("fused", self.fused)

    def segments(self, params: dict[str, Any], grads: dict[str, Any]) -> Segments | None:
        """The flat layout of ``params`` when a fused step applies (every parameter a view of
        one buffer, every one with a gradient), else None; found once per buffer."""
        if not self.fused or any(name not in grads for name in params):
            return None
        layout = self._layout
        names = tuple(params)
        if layout is not None and layout.names == names:
            buffer = layout.buffer
            if all(root(w) is buffer for w in params.values()):
                return layout
        self._layout = segments(params)
        return self._layout

    def step(
        self,
        params: dict[str, Any],
        grads: dict[str, Any],
        lr: Any,
        kinds: dict[str, str] | None = None,
        active: Any = None,
    ) -> None:
        check_step(params, grads, lr, kinds, active)
        names = [name for name in params if name in grads]
        if not names:
            return
        xp = get_array_module(params[names[0]])
        lr = xp.asarray(lr)
        flat = self.segments(params, grads)
        if flat is not None:
            u = flat.gather(grads)
            ctx = StepContext(xp, lr, self.prev_lr, {FLAT: u}, kinds or {}, active, flat)
            for stage in self.stages:
                u = stage.update(FLAT, u, flat.buffer, ctx)
            masked_assign(flat.buffer, flat.buffer - u, active, xp)
        else:
            ctx = StepContext(xp, lr, self.prev_lr, grads, kinds or {}, active)
            for name in names:
                w, u = params[name], grads[name]
                for stage in self.stages:
                    u = stage.update(name, u, w, ctx)
                masked_assign(w, w - u, active, xp)
        if active is None or self.prev_lr is None:
            self.prev_lr = lr.copy()  # a copy: the caller may reuse its rate array in place
        else:  # frozen members keep their state, the previous rate included
            self.prev_lr = xp.where(active, lr, self.prev_lr)

    def by_name(self, table: dict[str, Any]) -> dict[str, Any]:
        """A stage's state by parameter name, also after fused steps (views of its buffer)."""
        if FLAT not in table or self._layout is None:
            return table
        flat = table[FLAT]
        if flat.ndim == 1:  # one value per member (Adam's step count), shared by the tensors
            return dict.fromkeys(self._layout.names, flat)
        return self._layout.split(flat)

    def select_members(self, keep: np.ndarray) -> None:
        """Keep the members at positions ``keep``: every stage's state and per-member
        hyperparameters, and the previous rate, are sliced along the ensemble axis."""
        for stage in self.stages:
            stage.select_members(keep)
        if self.prev_lr is not None and self.prev_lr.ndim:
            self.prev_lr = self.prev_lr[get_array_module(self.prev_lr).asarray(keep)]

    def find(self, kind: type[Stage]) -> Stage | None:
        """The chain's first stage of that type, if any."""
        return next((s for s in self.stages if isinstance(s, kind)), None)
