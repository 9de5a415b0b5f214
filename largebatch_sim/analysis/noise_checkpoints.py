"""B_noise against B_simple along one training run: McCandlish et al.'s Hessian-weighted noise
scale (``noise.b_noise``) and the simple one, measured at checkpoints of a float64 run.

The run and the measurements are cached as one table (``cached``), so re-rendering the notebook
that shows them costs nothing; the key holds the spec and a hash of every module the
measurement imports, so a change to the estimators recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import BatchSampler, load_dataset
from ..nn.models import build_model
from ..optim import SGD
from ..runs import pickle_cache
from ..train import evaluate, train
from ..validate import check_integer, check_number, check_sequence
from . import noise


@dataclass(frozen=True)
class CheckpointSpec:
    """Plain SGD (no momentum, no decay) on a data set at one batch and rate, measured after
    each number of ``steps``, with ``samples`` Hutchinson samples per B_noise estimate."""

    data: str = "digits"
    model: str = "mlp"
    batch: int = 64
    lr: float = 0.2
    steps: tuple[int, ...] = (0, 25, 100, 400, 1600)
    samples: int = 64
    chunk: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("batch", self.batch, low=1)
        check_number("lr", self.lr, low=0, low_open=True)
        steps = check_sequence("steps", self.steps, lambda n, v: check_integer(n, v, low=0))
        if list(steps) != sorted(set(steps)):
            raise ValueError(f"steps must be increasing, got {steps}")
        object.__setattr__(self, "steps", steps)
        check_integer("samples", self.samples, low=2)
        check_integer("chunk", self.chunk, low=1)
        check_integer("seed", self.seed, low=0)


def measure(spec: CheckpointSpec) -> pd.DataFrame:
    """One row per checkpoint: step, the training loss over the whole training set, B_noise
    (NaN where unresolved) with its standard error, B_simple, and the gradient evaluations
    the estimate cost."""
    data = load_dataset(spec.data, seed=0)
    model = build_model(spec.model, data.in_shape, data.classes).init([spec.seed], np.float64)
    sampler = BatchSampler(data.x_train, data.y_train, spec.batch, seeds=[spec.seed])
    optimizer = SGD(momentum=0.0, weight_decay=0.0)
    x_all, y_all = data.x_train[None], data.y_train[None]
    rows, done = [], 0
    for checkpoint in spec.steps:
        if checkpoint > done:
            lrs = np.full(checkpoint - done, spec.lr)
            train(model, optimizer, lrs, sampler, progress=False)
            done = checkpoint
        r = noise.model_b_noise(
            model, x_all, y_all, samples=spec.samples, chunk=spec.chunk, seed=spec.seed
        )
        loss = evaluate(model, data.x_train, data.y_train)["test_loss"][0]
        rows.append(
            {
                "step": checkpoint,
                "train_loss": float(loss),
                "B_noise": r.b_noise if r.b_noise_valid else np.nan,
                "B_noise_se": r.b_noise_se,
                "B_simple": r.b_simple if r.b_simple_valid else np.nan,
                "full_grads": r.grad_evals,
                "chunk_grads": r.sample_grad_evals,
            }
        )
    return pd.DataFrame(rows)


def cached(spec: CheckpointSpec) -> pd.DataFrame:
    """``measure(spec)`` through a pickle under ``$LBSIM_CACHE/noise_checkpoints``."""
    return pickle_cache.cached(
        "noise_checkpoints", spec, "analysis/noise_checkpoints.py", lambda: measure(spec)
    )
