"""Learning-rate schedules: pure functions of the iteration t, computed on the host with NumPy.

A schedule is built by a small factory and called on a step or an array of steps::

    lr = warmup(step_decay(scale_lr(0.1, 8192, 256, "linear"), [30 * S, 60 * S, 80 * S]),
                "gradual", warmup_steps(5, S), start=0.1)
    table = lr(np.arange(90 * S))          # (T,), or (T, E) for per-member hyperparameters

Hyperparameters (``lr``, ``start``, ``end``, ``factor``) are a scalar or a 1-D array of shape
(E,), one value per ensemble member. The contract: ``schedule(step)`` has shape
``np.shape(step) + (E,)`` when any hyperparameter has shape (E,), else ``np.shape(step)``.
Bad arguments raise ``ValueError`` at construction, before any compute.

Equations (t the iteration, gamma_0 the peak rate, T the total steps):

    constant     gamma_t = gamma_0
    step_decay   gamma_t = gamma_0 * factor^(number of milestones <= t)       (Goyal: /10)
    poly         gamma_t = end + (gamma_0 - end) (1 - min(t, T) / T)^power     (LARS: power 2)
    cosine       gamma_t = end + (gamma_0 - end) (1 + cos(pi min(t, T) / T)) / 2
    linear       gamma_t = start + (end - start) min(t, T) / T
    warmup       see ``warmup``; LEGW see ``legw``; scaling rules see ``scale_lr``;
    join         schedules one after another, each restarted at its boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..validate import (
    ParameterError,
    check_callable,
    check_choice,
    check_integer,
    check_number,
    check_sequence,
)

Schedule = Callable[[int | np.ndarray], np.ndarray]

WARMUPS = ("none", "constant", "gradual", "staircase", "staircase_shifted")
SCALING_RULES = ("none", "linear", "sqrt")


# ---------------------------------------------------------------------------------------------
# argument checks (at construction) and the step axis


def _hyper(name: str, value: Any, *, positive: bool = False) -> np.ndarray:
    """A hyperparameter as float64 of shape () or (E,): a number, or a sequence or 1-D array of
    E >= 1 numbers (one per ensemble member), each finite and >= 0 (> 0 if positive)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is a number
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        if getattr(value, "ndim", 1) != 1:
            raise ParameterError(name, value, "a number or an array of shape (E,), one per member")
        items = check_sequence(
            name, value, lambda n, v: check_number(n, v, low=0, low_open=positive), min_length=1
        )
        return np.asarray(items, dtype=np.float64)
    return np.asarray(check_number(name, value, low=0, low_open=positive), dtype=np.float64)


def _scalar(name: str, value: Any, *, positive: bool = False) -> float:
    """A scalar hyperparameter, finite and >= 0 (> 0 if positive)."""
    return check_number(name, value, low=0, low_open=positive)


def _count(name: str, value: Any, *, positive: bool = False) -> int:
    """A number of steps: an integer >= 0 (> 0 if positive)."""
    return check_integer(name, value, low=1 if positive else 0)


def _check_schedule(name: str, value: Any) -> Schedule:
    return check_callable(name, value, "a schedule (a function of the step)")


def _members(**shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The common member shape, () or (E,), of several hyperparameters."""
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        given = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise ValueError(
            f"per-member hyperparameters must share one ensemble size E, got shapes {given}"
        ) from None


def _steps(step: int | np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    """The iteration(s) as float64, with a trailing member axis when E is present."""
    t = np.asarray(step)
    if t.dtype.kind not in "iuf" or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError("step", step, "an iteration >= 0 (a number or an array of them)")
    t = t.astype(np.float64)
    return t[..., None] if members else t


# ---------------------------------------------------------------------------------------------
# decays


def constant(lr: float | np.ndarray) -> Schedule:
    """gamma_t = lr for every t."""
    lr = _hyper("lr", lr)

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, lr.shape)
        return lr * np.ones_like(t)

    return schedule


def step_decay(
    lr: float | np.ndarray, milestones: Sequence[int], factor: float | np.ndarray = 0.1
) -> Schedule:
    """gamma_t = lr * factor^(number of milestones <= t): multiplied by ``factor`` at each
    milestone iteration (Goyal et al.: divided by 10 at epochs 30, 60, 80, given here as
    iterations). The rate at a milestone is already the decayed one."""
    lr, factor = _hyper("lr", lr), _hyper("factor", factor, positive=True)
    members = _members(lr=lr.shape, factor=factor.shape)
    ms = check_sequence("milestones", milestones, check_integer)
    if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
        raise ParameterError("milestones", milestones, "strictly increasing iterations")
    ms_arr = np.asarray(ms, dtype=np.float64)

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, members)
        drops = np.searchsorted(ms_arr, t, side="right")
        return lr * factor**drops

    return schedule


def poly(
    lr: float | np.ndarray,
    total_steps: int,
    power: float = 2.0,
    end: float | np.ndarray = 0.0,
) -> Schedule:
    """gamma_t = end + (lr - end) (1 - min(t, T) / T)^power with T = ``total_steps``
    (LARS: gamma_0 (1 - t/T)^2). Constant at ``end`` from t = T on."""
    lr, end = _hyper("lr", lr), _hyper("end", end)
    total = _count("total_steps", total_steps, positive=True)
    power = _scalar("power", power, positive=True)
    members = _members(lr=lr.shape, end=end.shape)

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, members)
        return end + (lr - end) * (1.0 - np.minimum(t, total) / total) ** power

    return schedule


def cosine(lr: float | np.ndarray, total_steps: int, end: float | np.ndarray = 0.0) -> Schedule:
    """gamma_t = end + (lr - end) (1 + cos(pi min(t, T) / T)) / 2 with T = ``total_steps``.
    Constant at ``end`` from t = T on."""
    lr, end = _hyper("lr", lr), _hyper("end", end)
    total = _count("total_steps", total_steps, positive=True)
    members = _members(lr=lr.shape, end=end.shape)

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, members)
        return end + (lr - end) * 0.5 * (1.0 + np.cos(np.pi * np.minimum(t, total) / total))

    return schedule


def linear(start: float | np.ndarray, end: float | np.ndarray, total_steps: int) -> Schedule:
    """gamma_t = start + (end - start) min(t, T) / T with T = ``total_steps``: a ramp (a
    warmup, joined in front of a decay with ``join``), constant at ``end`` from t = T on."""
    start, end = _hyper("start", start), _hyper("end", end)
    total = _count("total_steps", total_steps, positive=True)
    members = _members(start=start.shape, end=end.shape)

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, members)
        return start + (end - start) * (np.minimum(t, total) / total)

    return schedule


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Schedules one after another, each restarted at its boundary (optax's join_schedules,
    timm's warmup_prefix)::

        gamma_t = schedules[0](t)                 for t < boundaries[0]
        gamma_t = schedules[i](t - boundaries[i-1])  for boundaries[i-1] <= t < boundaries[i]

    So ``join([linear(0.1, 0.8, W), cosine(0.8, T - W)], [W])`` warms up over W steps and then
    decays over the remaining T - W, the decay starting where the warmup ends (``warmup``, in
    contrast, keeps the wrapped schedule on the global step)."""
    schedules = check_sequence("schedules", schedules, _check_schedule, min_length=1)
    bounds = check_sequence("boundaries", boundaries, lambda n, b: _count(n, b, positive=True))
    if len(bounds) != len(schedules) - 1:
        allowed = f"one step fewer than schedules ({len(schedules) - 1})"
        raise ParameterError("boundaries", boundaries, allowed)
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ParameterError("boundaries", boundaries, "strictly increasing steps")
    members = _members(**{f"schedules[{i}]": np.shape(f(0)) for i, f in enumerate(schedules)})
    offsets = np.asarray([0, *bounds], dtype=np.float64)

    def joined(step: int | np.ndarray) -> np.ndarray:
        t = np.asarray(_steps(step, ()))
        piece = np.searchsorted(offsets, t, side="right") - 1
        out = np.zeros(t.shape + members)
        for i, schedule in enumerate(schedules):
            here = piece == i
            if np.any(here):
                out[here] = np.broadcast_to(schedule(t[here] - offsets[i]), out[here].shape)
        return out

    return joined


# ---------------------------------------------------------------------------------------------
# warmup


def warmup(
    schedule: Schedule,
    kind: str,
    steps: int,
    start: float | np.ndarray | None = None,
    steps_per_epoch: int | None = None,
) -> Schedule:
    """Goyal et al.'s warmups in front of ``schedule``, over the first ``steps`` iterations.

    ``none``      gamma_t = schedule(t).
    ``constant``  gamma_t = start for t < steps, then schedule(t): the small-batch rate, then a
                  jump. ``start`` is required.
    ``gradual``   gamma_t = start + (schedule(steps) - start) t / steps for t < steps, then
                  schedule(t): a constant increment every iteration, from ``start`` at t = 0 to
                  the schedule's own value at t = steps. ``start`` defaults to 0.0; Goyal starts
                  at the small-batch rate (lr of the base batch), so pass it.
    ``staircase`` the rate of PyTorch users' GradualWarmupScheduler stepped once per epoch
                  (``gradual_warmup.py``): with T = steps / steps_per_epoch epochs and the
                  counter c = t // steps_per_epoch, gamma_t = start + (target - start) c / T
                  for c <= T, then schedule(t). Each rate holds for a whole epoch, the last
                  (the target) for one more epoch; ``start`` = 0 is its multiplier 1, whose
                  whole first epoch trains at lr = 0.
    ``staircase_shifted`` the same with the scheduler stepped once before training (the usual
                  fix of that quirk): c = t // steps_per_epoch + 1, so the first epoch trains
                  at start + (target - start) / T and the target is reached after T epochs.

    After the warmup the wrapped schedule is evaluated at the global step t, not at t - steps:
    a decay planned for iteration 30 S still happens at 30 S, and a poly/cosine decay has
    already progressed by ``steps`` when the warmup ends. ``start`` may be (E,).
    """
    _check_schedule("schedule", schedule)
    check_choice("kind", kind, WARMUPS)
    steps = _count("steps", steps)
    if kind == "none":
        return schedule
    if start is None:
        if kind == "constant":
            raise ParameterError(
                "start", start, "given for a constant warmup (the small-batch rate it holds)"
            )
        start = 0.0
    start = _hyper("start", start)
    inner = np.shape(schedule(0))
    members = _members(schedule=inner, start=start.shape)
    if steps == 0:
        return schedule
    target = schedule(steps)  # the rate the gradual warmup reaches at t = steps
    if kind.startswith("staircase"):
        per = _count("steps_per_epoch", steps_per_epoch, positive=True)
        epochs = steps // per
        if epochs < 1 or steps % per:
            raise ParameterError(
                "steps", steps, f"a whole number of epochs of {per} steps for a staircase warmup"
            )
        shift = 1 if kind == "staircase_shifted" else 0

    def warmed(step: int | np.ndarray) -> np.ndarray:
        t = _steps(step, members)
        after = schedule(step)
        if members and not inner:  # a shared schedule under a per-member start
            after = after[..., None]
        if kind == "constant":
            during, warming = start * np.ones_like(t), t < steps
        elif kind == "gradual":
            during, warming = start + (target - start) * (t / steps), t < steps
        else:  # the counter of a scheduler stepped once per epoch
            counter = np.floor(t / per) + shift
            during, warming = start + (target - start) * (counter / epochs), counter <= epochs
        return np.where(warming, during, after)

    return warmed


def warmup_steps(epochs: float, steps_per_epoch: int) -> int:
    """Warmup length in iterations from a length in epochs: round(epochs * steps_per_epoch)."""
    epochs = _scalar("epochs", epochs)
    return round(epochs * _count("steps_per_epoch", steps_per_epoch, positive=True))


# ---------------------------------------------------------------------------------------------
# scaling rules and LEGW


def scale_lr(
    base_lr: float | np.ndarray, batch: int, base_batch: int, rule: str
) -> np.floating | np.ndarray:
    """The peak rate at batch B from the rate ``base_lr`` tuned at ``base_batch`` B0.

    ``none``    lr = base_lr
    ``linear``  lr = base_lr * B / B0            (Goyal et al.'s linear scaling rule)
    ``sqrt``    lr = base_lr * sqrt(B / B0)      (Krizhevsky 2014; LEGW's rate)

    Returns a float64 scalar, or an (E,) array when ``base_lr`` is (E,).
    """
    check_choice("rule", rule, SCALING_RULES)
    base_lr = _hyper("base_lr", base_lr)
    k = _count("batch", batch, positive=True) / _count("base_batch", base_batch, positive=True)
    factor = {"none": 1.0, "linear": k, "sqrt": np.sqrt(k)}[rule]
    return (base_lr * factor)[()]


def legw_scaling(
    base_lr: float | np.ndarray, base_warmup_epochs: float, k: float
) -> tuple[np.floating | np.ndarray, float]:
    """LEGW (You et al. 2019): batch x k -> peak lr x sqrt(k), warmup epochs x k.

    Returns (peak lr, warmup epochs). With k times fewer iterations per epoch at the larger
    batch, k times the warmup epochs is the *same number of warmup iterations* as at the base
    batch: convert with ``warmup_steps(epochs, steps_per_epoch_at_the_large_batch)``.
    """
    base_lr = _hyper("base_lr", base_lr)
    epochs = _scalar("base_warmup_epochs", base_warmup_epochs)
    k = _scalar("k", k, positive=True)
    return (base_lr * np.sqrt(k))[()], epochs * k


def legw(
    base_lr: float | np.ndarray,
    base_warmup_epochs: float,
    k: float,
    steps_per_epoch: int,
    decay: Callable[[Any], Schedule] = constant,
    start: float | np.ndarray = 0.0,
) -> Schedule:
    """A complete LEGW schedule at k times the base batch.

    gamma_t = gradual warmup from ``start`` over warmup_steps(k * base_warmup_epochs,
    steps_per_epoch) iterations into ``decay(sqrt(k) * base_lr)``. ``steps_per_epoch`` is that of
    the large batch; ``decay`` maps a peak rate to a schedule, e.g.
    ``lambda lr: poly(lr, total_steps)`` (default: constant).
    """
    check_callable("decay", decay, "a function from a peak rate to a schedule")
    peak, epochs = legw_scaling(base_lr, base_warmup_epochs, k)
    return warmup(decay(peak), "gradual", warmup_steps(epochs, steps_per_epoch), start=start)
