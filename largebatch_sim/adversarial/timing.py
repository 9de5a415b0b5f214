"""CA-F1: the time of one step, plain, sequential adversarial and ConAdv.

Measured on this machine (median of several steps after a warm-up step, one model, LAMB):

- t_plain: forward, backward and update on the clean batch of B;
- t_fgsm: the adversarial pass, forward and backward to the input, on B;
- t_train2: forward, backward and update on the clean + adversarial batch of 2B;
- t_sequential: one whole synchronous adversarial step (tau = 0), the FGSM pass then the
  training pass, timed as one.

Modelled (the systems model, stated): with tau >= 1 the FGSM pass of step t needs only weights
known before step t - 1 ends, so on resources of its own (another stream, or the workers'
idle share while they wait for the all-reduce) it runs concurrently with the previous step:

    t_concurrent = max(t_fgsm, t_train2)

against t_sequential = t_fgsm + t_train2. The model ignores the copy of the snapshot and any
contention between the two passes; it is an upper bound on the gain.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import backend
from ..nn.losses import softmax_cross_entropy
from ..nn.models import build_model
from ..optim import LAMB
from ..runs.memo import memoised
from ..validate import check_integer, check_sequence
from .fgsm import fgsm, input_gradient

IN_SHAPE, CLASSES = (1, 1, 40), 10  # MNIST-1D


def _median_seconds(work, steps: int) -> float:
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        work()
        backend.synchronize()
        if i:  # the first call warms caches and allocators
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_passes(model_name: str, batch: int, steps: int) -> dict[str, float]:
    """The measured and modelled seconds per step at ``batch`` (see the module docstring)."""
    model = build_model(model_name, IN_SHAPE, CLASSES).init([0])
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(1, batch, *IN_SHAPE)).astype(np.float32))
    y = backend.asarray(rng.integers(0, CLASSES, size=(1, batch)))
    xp = backend.get_array_module(x)
    x2, y2 = xp.concatenate([x, x], axis=1), xp.concatenate([y, y], axis=1)
    optimizer = LAMB(weight_decay=0.01)
    params, kinds = model.named_params(), model.named_kinds()

    def train_on(xb, yb):
        _, dlogits = softmax_cross_entropy(model.forward(xb), yb)
        model.backward(dlogits)
        optimizer.step(params, model.named_grads(), 1e-4, kinds=kinds)

    def sequential():
        x_hat = fgsm(x, input_gradient(model, x, y), 0.1)
        train_on(xp.concatenate([x, x_hat], axis=1), y2)

    t = {
        "t_plain": _median_seconds(lambda: train_on(x, y), steps),
        "t_fgsm": _median_seconds(lambda: input_gradient(model, x, y), steps),
        "t_train2": _median_seconds(lambda: train_on(x2, y2), steps),
        "t_sequential": _median_seconds(sequential, steps),
    }
    t["t_concurrent"] = max(t["t_fgsm"], t["t_train2"])
    return t


@dataclass(frozen=True)
class TimingSpec:
    """Which passes to time; ``machine`` and ``backend`` key the cache, so each machine
    measures once and a re-rendered notebook draws the same bytes."""

    model: str = "mlp"
    batches: tuple[int, ...] = (256, 1024, 4096)
    steps: int = 10
    machine: str = field(default_factory=platform.node)
    backend: str = field(default_factory=backend.backend_name)

    def __post_init__(self) -> None:
        batches = check_sequence("batches", self.batches, lambda n, v: check_integer(n, v, low=1))
        object.__setattr__(self, "batches", tuple(batches))
        check_integer("steps", self.steps, low=1)


def step_times(spec: TimingSpec) -> pd.DataFrame:
    """One row per batch: the five times and the ratios of CA-F1."""
    rows = [{"batch": b, **time_passes(spec.model, b, spec.steps)} for b in spec.batches]
    table = pd.DataFrame(rows)
    table["sequential_over_plain"] = table.t_sequential / table.t_plain
    table["concurrent_over_plain"] = table.t_concurrent / table.t_plain
    table["concurrent_over_sequential"] = table.t_concurrent / table.t_sequential
    return table


def cached_step_times(spec: TimingSpec) -> pd.DataFrame:
    """``step_times`` measured once per machine, backend, spec and code version."""
    return memoised(spec, "adversarial/timing.py", step_times)
