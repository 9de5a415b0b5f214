"""Losses and metrics: functions returning per-member values and the gradient.

Every function takes (E, B, ...) predictions and returns arrays with a leading ensemble axis,
on the device, without a host synchronisation. Losses are means over the global batch B, so
the returned gradient already carries the 1/B (docs/DESIGN.md: the loss is normalised by the
global batch, whatever the number of simulated workers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backend
from ..validate import check_callable, check_integer, check_number, within


def _check_labels(fn: str, logits: Any, y: Any) -> None:
    if logits.ndim != 3:
        raise ValueError(f"{fn}: logits must be (E, B, classes), got {tuple(logits.shape)}")
    if logits.dtype.kind != "f":
        raise ValueError(f"{fn}: logits must be floating point, got dtype {logits.dtype}")
    E, B = logits.shape[:2]
    if y.ndim != 2 or y.shape[1] != B or y.shape[0] not in (1, E):
        raise ValueError(f"{fn}: labels y must be ({E}, {B}) or (1, {B}), got {tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{fn}: labels y must be integers, got dtype {y.dtype}")


def softmax_cross_entropy(logits: Any, y: Any) -> tuple[Any, Any]:
    """L_e = (1/B) sum_b -log softmax(z_eb)_{y_eb},   dL_e/dz_eb = (softmax(z_eb) - 1_{y_eb}) / B.

    Shapes: logits z (E, B, C) (float32 or float64), integer labels y (E, B), or (1, B)
    shared by all members; returns loss (E,) and dlogits (E, B, C), both in the dtype of z.
    log softmax(z) = z - m - log sum exp(z - m) with m = max(z): no overflow in float32.
    Labels are not range-checked (that would need a host synchronisation): a label outside
    [0, C) selects no class and contributes log sum exp(z - m) only.
    """
    _check_labels("softmax_cross_entropy", logits, y)
    xp = backend.get_array_module(logits)
    E, B, C = logits.shape
    z = logits - logits.max(axis=-1, keepdims=True)
    ez = xp.exp(z)
    sumexp = ez.sum(axis=-1, keepdims=True)
    onehot = (y[..., None] == xp.arange(C)).astype(logits.dtype)  # broadcasts a shared y
    log_p = z - xp.log(sumexp)
    loss = -(onehot * log_p).sum(axis=-1).mean(axis=1)
    dlogits = (ez / sumexp - onehot) / B
    return loss, dlogits


def mse(pred: Any, target: Any) -> tuple[Any, Any]:
    """L_e = (1/B) sum_b 1/2 ||pred_eb - target_eb||^2,   dL_e/dpred_eb = (pred_eb - target_eb) / B.

    The squared norm sums over all feature axes (everything after (E, B)); the mean is over
    the batch only, and the 1/2 makes the gradient the plain residual (the convention of
    the noisy-quadratic and teacher-student papers, not PyTorch's mean over features too).
    Shapes: pred (E, B, ...), target of the same shape or with leading axis 1 (shared);
    returns loss (E,) and dpred with pred's shape.
    """
    if pred.ndim < 2 or target.ndim != pred.ndim or target.shape[1:] != pred.shape[1:]:
        raise ValueError(
            f"mse: pred must be (E, B, ...) and target the same shape or with leading axis 1, "
            f"got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if target.shape[0] not in (1, pred.shape[0]):
        raise ValueError(
            f"mse: target's leading axis must be 1 or {pred.shape[0]}, got {tuple(target.shape)}"
        )
    E, B = pred.shape[:2]
    diff = pred - target
    loss = 0.5 * (diff * diff).reshape(E, B, -1).sum(axis=-1).mean(axis=1)
    return loss, diff / B


def accuracy(logits: Any, y: Any) -> Any:
    """Fraction of the batch whose largest logit is the label, per member: (E,).

    Shapes as ``softmax_cross_entropy``; ties go to the first class (``argmax``). Returned in
    the dtype of the logits, on the device.
    """
    _check_labels("accuracy", logits, y)
    return (logits.argmax(axis=-1) == y).mean(axis=1, dtype=logits.dtype)


LossFn = Callable[[Any, Any], tuple[Any, Any]]


def scaled_gradient(loss_fn: LossFn, factor: float) -> LossFn:
    """``loss_fn`` whose gradient is multiplied by ``factor``; the loss it reports is unchanged.

    Two of Goyal et al.'s pitfalls (section 3) are a gradient scaled by a constant c:

    - remark 1, "scaling the loss is not scaling the learning rate": with weight decay in the
      update, lr * (c grad L + lambda w) = (c lr) (grad L + (lambda / c) w), so multiplying the
      loss by c is linear scaling of lr *and* dividing the weight decay by c;
    - remark 3, normalising each worker's loss by its n examples instead of the global kn, then
      summing the k workers' gradients: sum_j grad (1/n) sum_{b in j} l_b = k grad L, c = k.

    The reported loss stays the plain mean over the batch, so curves and divergence tests
    compare like with like.
    """
    with within("scaled_gradient"):
        check_callable("loss_fn", loss_fn, "a loss function (pred, target) -> (loss, grad)")
        check_number("factor", factor, low=0, low_open=True)
    if factor == 1:
        return loss_fn

    def scaled(pred: Any, target: Any) -> tuple[Any, Any]:
        loss, dpred = loss_fn(pred, target)
        return loss, dpred * factor

    return scaled


def worker_sum_loss(loss_fn: LossFn, workers: int) -> LossFn:
    """Remark 3's pitfall written out: L' = sum_j (1/n) sum_{b in worker j} l_b over k workers.

    Each of the k contiguous chunks of n = B / k examples is normalised by its own n and the k
    losses (and gradients) are summed, as an all-reduce *sum* of per-worker mean losses does.
    Returns (L', dL'/dpred) = (k L, k dL/dpred); the reference for ``scaled_gradient(loss_fn,
    k)``, computed chunk by chunk.
    """
    with within("worker_sum_loss"):
        check_callable("loss_fn", loss_fn, "a loss function (pred, target) -> (loss, grad)")
        workers = check_integer("workers", workers, low=1)

    def summed(pred: Any, target: Any) -> tuple[Any, Any]:
        xp = backend.get_array_module(pred)
        batch = pred.shape[1]
        if batch % workers:
            raise ValueError(f"worker_sum_loss: batch {batch} not divisible by {workers} workers")
        n = batch // workers
        losses, grads = [], []
        for j in range(workers):
            chunk = slice(j * n, (j + 1) * n)
            loss, dpred = loss_fn(pred[:, chunk], target[:, chunk])
            losses.append(loss)
            grads.append(dpred)
        return sum(losses), xp.concatenate(grads, axis=1)

    return summed
