"""The training loop: one ensemble of E members, one global batch per step.

Per step, entirely on the device (no host synchronisation):

    x, y      <- next global batch (B = k n examples; batch norm sees k chunks of n)
    L, dL/dz  <- softmax cross-entropy averaged over the global batch B
    grads     <- backward
    lr_t      <- the schedule's table, precomputed for every step and member (or a
                 controller's, rewritten during training: AutoWU)
    params    <- optimizer step, only for members still active
    diverged  <- diverged | L non-finite | L > divergence_factor * L_0

Metrics accumulate on the device and are fetched once per evaluation. ``hooks`` act on the
loop at three points (``Hook``): after each step (on the device only), just before each
evaluation (precise BN recomputes the batch-norm statistics there), and at each evaluation with
the metrics on the host, where a hook may also ask the loop to stop. A diverged member is
frozen with ``where`` (its parameters stop changing) and recorded with the step whose loss gave
it away (counted from 1, as the history counts steps). A member is ``collapsed`` when its
training loss has sat within ``collapse_tolerance`` of ln(classes) with chance accuracy for
``collapse_patience`` evaluations (the stuck-at-chance failure that often replaces NaN in small
nets); it is frozen from that evaluation on, like a diverged one. The loop stops at the first
evaluation where no member is left.

Compaction: a frozen member would still cost its share of every step, so at each evaluation
the loop drops the frozen members from the ensemble (``select_members`` on the model, the
optimizer, the sampler, the instruments and the hooks; the rate table is sliced), and the
survivors train on as a smaller ensemble. It pays whenever a member dies before the end (an
lr grid whose largest rates diverge). A run compacts only when every part holds a
``select_members``; otherwise its frozen members ride along to the end. Results are recorded
under the members' original indices either way; with dropout, the survivors' masks differ
from then on (they are drawn for the smaller shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import backend
from .nn.base import Layer
from .nn.losses import accuracy, softmax_cross_entropy


class Optimizer(Protocol):
    def step(
        self,
        params: dict[str, Any],
        grads: dict[str, Any],
        lr: Any,
        kinds: dict[str, str] | None = None,
        active: Any = None,
    ) -> None: ...


class Instrument(Protocol):
    """Something measured during training at steps of its choosing (see instruments.py)."""

    def wants(self, step: int) -> bool: ...

    def before_step(self, step: int, model: Layer) -> None: ...

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None: ...

    def after_update(self, step: int, model: Layer) -> None: ...

    def frame(self) -> pd.DataFrame: ...


class Hook:
    """Something that acts on the training loop; every method is optional (a no-op here).

    - ``after_step(step, model, loss)``: after the optimizer step of ``step`` (0-based), with
      that step's training loss per row of the ensemble (on the device; after a compaction
      the rows are the surviving members, as ``select_members`` told the hook). It runs at
      every step, so it must stay on the device: no host reads (no float(), .item(), or
      Python ``if`` on a device value).
    - ``before_evaluation(step, model)``: just before the evaluation that follows ``step``.
    - ``at_evaluation(step, model, metrics) -> bool``: at that evaluation, with ``metrics``
      (train_loss, train_acc, lr and, with test data, test_loss and test_acc; each (E,) on the
      host, indexed by the original members; NaN for a member that has diverged or was
      dropped, whose train_loss would otherwise read as the 0 of a sum it no longer adds
      to). Return True to stop training after this evaluation.

    The loop restores the model's training mode after ``before_evaluation``. A hook that can
    follow a compaction (the module's "Compaction") defines ``select_members(keep)``, even
    where it holds nothing per member: there is no default, so a hook that never thought
    about it turns compaction off rather than keeping rows of members that left.
    """

    def after_step(self, step: int, model: Layer, loss: Any) -> None:
        """Called after every optimizer step (device work only)."""

    def before_evaluation(self, step: int, model: Layer) -> None:
        """Called just before each evaluation."""

    def at_evaluation(self, step: int, model: Layer, metrics: dict[str, np.ndarray]) -> bool:
        """Called at each evaluation; True requests a stop."""
        return False


class MemberSelectable(Protocol):
    """A part of a run with per-member state: ``select_members(keep)`` keeps the members at
    positions ``keep`` (integers, in order) and drops the others."""

    def select_members(self, keep: np.ndarray) -> None: ...


class RateController(Hook):
    """Learning rates decided during training rather than fixed up front (AutoWU).

    It holds ``table``, the (steps, E) float64 rates on the host, and ``device``, their copy
    on the device that the loop indexes each step; as a hook it may rewrite both, in place,
    for the steps after the current one. Passed to ``train`` in place of a table, it runs
    first among the hooks."""

    table: np.ndarray
    device: Any


@dataclass
class TrainResult:
    """What a run leaves behind, as tidy tables.

    ``history``: one row per (member, step, metric) with columns member, step, epoch, metric,
    value; metrics are train_loss, train_acc (averaged over the steps since the last
    evaluation), test_loss, test_acc and lr. Rows of a diverged member stop at its divergence.
    ``summary``: one row per member with the final metrics and the status columns
    diverged, diverged_step, collapsed, collapsed_step.
    ``instruments``: each attached instrument's table.
    """

    history: pd.DataFrame
    summary: pd.DataFrame
    instruments: dict[str, pd.DataFrame] = field(default_factory=dict)


# A diverging member overflows before it is caught; the loop records that as its divergence,
# so NumPy's overflow and invalid-value warnings would only repeat it.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train(
    model: Layer,
    optimizer: Optimizer,
    lr_table: np.ndarray | RateController,
    sampler: Any,
    test_data: tuple[Any, Any] | None = None,
    *,
    eval_every: int | None = None,
    divergence_factor: float = 10.0,
    collapse_patience: int = 3,
    collapse_tolerance: float = 0.05,
    instruments: dict[str, Instrument] | None = None,
    hooks: Sequence[Hook] = (),
    eval_batch: int = 1024,
    progress: bool = True,
    description: str = "train",
    loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
) -> TrainResult:
    """Train ``model`` (already ``init``-ed with E members) for ``len(lr_table)`` steps.

    ``lr_table`` holds the learning rate of every step, shape (T,) or (T, E): build it with a
    schedule, ``schedule(np.arange(T))``. It is moved to the device once. A ``RateController``
    instead owns the rates (its ``table``, rewritten as training goes). ``sampler`` yields
    (x, y) global batches of shape (E or 1, B, ...). ``test_data`` is (x, y) on the host or
    device, evaluated in chunks of ``eval_batch`` every ``eval_every`` steps and at the end.
    ``hooks`` (``Hook``) act after each step, before each evaluation and at it, in order.
    """
    if model.ensemble < 1:
        raise ValueError("model must be initialised with model.init(seeds) before training")
    controller = lr_table if isinstance(lr_table, RateController) else None
    if controller is not None:
        hooks = (controller, *hooks)
        lr_table = controller.table  # the same array: the controller's rewrites show here
    lr_table = np.asarray(lr_table, dtype=np.float64)
    steps = len(lr_table)
    if steps < 1:
        raise ValueError(f"lr_table must hold at least one step, got shape {lr_table.shape}")
    if not np.all(np.isfinite(lr_table)) or np.any(lr_table < 0):
        raise ValueError("learning rates must be finite and non-negative")
    if divergence_factor <= 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor}")
    E = model.ensemble
    xp = backend.get_backend()
    if lr_table.ndim == 1:
        lr_table = np.repeat(lr_table[:, None], E, axis=1)
    if lr_table.shape != (steps, E):
        raise ValueError(f"lr_table must have shape (steps,) or (steps, {E}), got {lr_table.shape}")
    lrs = backend.asarray(lr_table, dtype=model.dtype) if controller is None else controller.device
    eval_every = eval_every or max(1, steps // 20)
    instruments = instruments or {}
    steps_per_epoch = sampler.steps_per_epoch
    if test_data is not None:  # moved to the device once, not at every evaluation
        test_data = (backend.asarray(test_data[0]), backend.asarray(test_data[1]))

    params, kinds = model.named_params(), model.named_kinds()
    parts = [model, optimizer, sampler, *instruments.values(), *hooks]
    compacts = all(callable(getattr(part, "select_members", None)) for part in parts)
    members = np.arange(E)  # the original index of each row of the ensemble's arrays
    lr_full = lr_table
    status = {"diverged_step": np.full(E, -1), "collapsed_step": np.full(E, -1)}
    active = xp.ones(E, dtype=bool)
    diverged_step = xp.full(E, -1, dtype=np.int64)
    loss0 = None
    loss_sum = xp.zeros(E, dtype=np.float64)
    acc_sum = xp.zeros(E, dtype=np.float64)
    since_eval = 0
    collapse_run = np.zeros(E, dtype=int)
    collapsed_step = np.full(E, -1)
    rows: list[tuple[int, int, float, str, float]] = []
    final: dict[str, np.ndarray] = {}  # each member's metrics at the last evaluation it trained

    bar = tqdm(total=steps, desc=description, disable=not progress, leave=False)
    model.train()
    for step in range(steps):
        x, y = sampler.next()
        for inst in instruments.values():
            inst.before_step(step, model)
        logits = model.forward(x)
        loss, dlogits = loss_fn(logits, y)
        model.backward(dlogits)
        grads = model.named_grads()
        for inst in instruments.values():
            if inst.wants(step):
                inst.before_update(step, model, grads)
        optimizer.step(params, grads, lrs[step], kinds=kinds, active=active)
        for inst in instruments.values():
            if inst.wants(step):
                inst.after_update(step, model)

        for hook in hooks:
            hook.after_step(step, model, loss)

        if loss0 is None:
            loss0 = loss
        bad = ~xp.isfinite(loss) | (loss > divergence_factor * loss0)
        diverged_step = xp.where(active & bad, step + 1, diverged_step)
        active = active & ~bad
        loss_sum += xp.where(active, loss, 0.0)
        acc_sum += xp.where(active, accuracy(logits, y), 0.0)
        since_eval += 1
        bar.update()

        if (step + 1) % eval_every == 0 or step + 1 == steps:
            metrics = {
                "train_loss": backend.to_host(loss_sum) / since_eval,
                "train_acc": backend.to_host(acc_sum) / since_eval,
                "lr": lr_table[step],
            }
            for hook in hooks:
                hook.before_evaluation(step, model)
            model.train()
            if test_data is not None:
                metrics.update(evaluate(model, *test_data, batch=eval_batch, loss_fn=loss_fn))
                model.train()
            alive = backend.to_host(active)
            epoch = (step + 1) / steps_per_epoch
            for name, values in metrics.items():
                rows += [
                    (members[e], step + 1, epoch, name, float(values[e]))
                    for e in np.flatnonzero(alive)
                ]
            for k, v in metrics.items():
                kept = final.setdefault(k, np.full(E, np.nan))
                kept[members] = np.where(alive, v, kept[members])
            at_chance = _at_chance(metrics, logits.shape[-1], collapse_tolerance)
            collapse_run = np.where(at_chance & alive, collapse_run + 1, 0)
            newly = (collapse_run >= collapse_patience) & (collapsed_step < 0)
            collapsed_step = np.where(newly, step + 1, collapsed_step)
            active = active & backend.asarray(~newly)
            loss_sum[...] = 0
            acc_sum[...] = 0
            since_eval = 0
            left = alive & ~newly
            if alive.any():  # the mean of no member's loss would warn
                bar.set_postfix(
                    loss=f"{np.mean(metrics['train_loss'][alive]):.3g}", alive=int(left.sum())
                )
            shown = {k: np.full(E, np.nan) for k in metrics}
            for k, v in metrics.items():
                shown[k][members] = np.where(alive, v, np.nan)
            stop = [hook.at_evaluation(step, model, shown) for hook in hooks]
            if not left.any() or any(stop):
                break
            if compacts and not left.all():
                keep = np.flatnonzero(left)
                status["diverged_step"][members] = backend.to_host(diverged_step)
                status["collapsed_step"][members] = collapsed_step
                for part in parts:
                    part.select_members(keep)
                params = model.named_params()
                on_device = backend.asarray(keep)
                if controller is None:
                    lrs, lr_table = lrs[:, on_device], lr_table[:, keep]
                else:  # the controller sliced its own rates with the other hooks
                    lrs, lr_table = controller.device, controller.table
                active, diverged_step = active[on_device], diverged_step[on_device]
                loss0 = loss0[on_device]
                loss_sum, acc_sum = loss_sum[on_device], acc_sum[on_device]
                collapse_run, collapsed_step = collapse_run[keep], collapsed_step[keep]
                members = members[keep]
    bar.close()

    history = pd.DataFrame(rows, columns=["member", "step", "epoch", "metric", "value"])
    status["diverged_step"][members] = backend.to_host(diverged_step)
    status["collapsed_step"][members] = collapsed_step
    div, collapsed_step = status["diverged_step"], status["collapsed_step"]
    diverged = div >= 0
    summary = pd.DataFrame({"member": np.arange(E)})
    for name, values in final.items():
        summary[f"final_{name}"] = np.where(diverged, np.nan, values)
    if "lr" in final:  # the rate a diverged member last trained with is known: keep it
        last_lr = lr_full[np.maximum(div, 1) - 1, np.arange(E)]
        summary["final_lr"] = np.where(diverged, last_lr, final["lr"])
    summary["diverged"] = diverged
    summary["diverged_step"] = div
    summary["collapsed"] = collapsed_step >= 0
    summary["collapsed_step"] = collapsed_step
    return TrainResult(history, summary, {k: v.frame() for k, v in instruments.items()})


def evaluate(
    model: Layer,
    x: Any,
    y: Any,
    batch: int = 1024,
    loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
) -> dict[str, np.ndarray]:
    """Loss and accuracy of every member on (x, y) in eval mode (running BN statistics).

    The data are shared by all members; the results come back to the host, shape (E,)."""
    model.eval()
    n = len(y)
    loss = acc = 0.0
    for start in range(0, n, batch):
        xb = backend.asarray(x[None, start : start + batch])
        yb = backend.asarray(y[None, start : start + batch])
        logits = model.forward(xb)
        chunk = yb.shape[1]
        loss = loss + loss_fn(logits, yb)[0] * chunk
        acc = acc + accuracy(logits, yb) * chunk
    return {"test_loss": backend.to_host(loss) / n, "test_acc": backend.to_host(acc) / n}


def _at_chance(metrics: dict[str, np.ndarray], classes: int, tolerance: float) -> np.ndarray:
    """Training loss within ``tolerance`` of ln(classes) and accuracy near 1/classes."""
    near_log = np.abs(metrics["train_loss"] - math.log(classes)) < tolerance
    near_acc = metrics["train_acc"] < 1.0 / classes + 2 * tolerance
    return near_log & near_acc
