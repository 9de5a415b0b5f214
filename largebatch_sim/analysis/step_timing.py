"""The time of one training step, measured on this machine and cached per machine.

Speed is measured here for a systems model (Goyal et al.'s Figure 7), not asserted anywhere:
the median of several steps (forward, backward, Nesterov SGD update) after a warm-up step.
"""

from __future__ import annotations

import pickle
import platform
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import backend
from ..atomic import atomic_write
from ..nn.losses import softmax_cross_entropy
from ..nn.models import build_model
from ..optim import SGD
from ..runs import ResultCache, code_version

IN_SHAPE, CLASSES = (1, 1, 40), 10  # MNIST-1D


def time_step(model_name: str, batch: int, steps: int, n_worker: int = 32) -> tuple[float, float]:
    """Median seconds of one training step and of its forward pass alone, at ``batch``
    (``batch / n_worker`` BN workers), on random MNIST-1D-shaped data."""
    model = build_model(model_name, IN_SHAPE, CLASSES).init([0])
    model.set_workers(max(1, batch // n_worker))
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(1, batch, *IN_SHAPE)).astype(np.float32))
    y = backend.asarray(rng.integers(0, CLASSES, size=(1, batch)))
    sgd = SGD(momentum=0.9, nesterov=True, weight_decay=5e-4)
    params, kinds = model.named_params(), model.named_kinds()
    full, forward = [], []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        logits = model.forward(x)
        backend.synchronize()
        t1 = time.perf_counter()
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits)
        sgd.step(params, model.named_grads(), 0.01, kinds=kinds)
        backend.synchronize()
        if i:  # the first step warms caches and allocators
            full.append(time.perf_counter() - t0)
            forward.append(t1 - t0)
    return float(np.median(full)), float(np.median(forward))


def cached_step_timings(
    models: Sequence[str],
    batches: Sequence[int],
    steps: int,
    n_worker: int = 32,
    cache: ResultCache | None = None,
) -> pd.DataFrame:
    """Step and forward seconds per (model, batch), measured once per machine, backend and
    code version, then read from the cache (so re-running a notebook redraws the same bytes)."""
    cache = cache or ResultCache()
    frames = []
    for model in dict.fromkeys(models):
        key = f"{model}-{backend.backend_name()}-{platform.node()}-{code_version()}-{steps}"
        path = cache.root.parent / "timings" / f"{key}-{'-'.join(map(str, batches))}.pkl"
        if path.exists():
            frames.append(pd.read_pickle(path))
            continue
        rows = []
        for b in batches:
            step, fwd = time_step(model, b, steps, n_worker)
            rows.append(dict(model=model, batch=b, step_s=step, forward_s=fwd))
        table = pd.DataFrame(rows)
        atomic_write(path, lambda f, table=table: pickle.dump(table, f))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def parameter_count(model_name: str) -> int:
    """Parameters of one member of ``model_name`` on MNIST-1D."""
    return build_model(model_name, IN_SHAPE, CLASSES).init([0]).num_params()
