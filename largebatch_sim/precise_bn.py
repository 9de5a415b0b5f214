"""Precise batch norm: running statistics that match the current weights at each evaluation.

The running mean and variance of a batch-norm layer are an exponential average over past
training steps, taken with past weights. When the weights move fast (a large rate, few steps
per epoch) they trail behind, and a test error computed with them can sit near chance while
the training loss falls. Before each evaluation this hook recomputes them (Wu and Johnson,
"Rethinking 'Batch' in BatchNorm", 2021, call it precise BN):

    running_mean = 1/T sum_t mean_j mu_{t,j},     running_var = 1/T sum_t mean_j var_{t,j},

over T training batches forwarded with the current weights, where mu_{t,j} and var_{t,j}
(unbiased) are the statistics of worker chunk j of batch t: each chunk of n examples is
normalised by its own statistics, as in training. Dropout is off for these passes, no parameter
moves, and the batches come from a sampler of their own, so the training stream (data order,
dropout masks) is the same with and without the hook.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .nn.base import Layer, iter_layers
from .nn.batchnorm import BatchNorm
from .train import Hook
from .validate import ParameterError, check_integer


def has_batch_norm(model: Layer) -> bool:
    """Whether ``model`` contains a batch-norm layer."""
    return any(isinstance(layer, BatchNorm) for layer in iter_layers(model))


class PreciseBN(Hook):
    """Recompute every BatchNorm's running statistics from ``batches`` batches of ``sampler``
    (anything with ``next() -> (x, y)``) just before each evaluation."""

    def __init__(self, sampler: Any, batches: int) -> None:
        if not callable(getattr(sampler, "next", None)):
            raise ParameterError("sampler", sampler, "a sampler with a next() -> (x, y) method")
        self.sampler, self.batches = sampler, check_integer("batches", batches, low=1)

    def before_evaluation(self, step: int, model: Layer) -> None:
        norms = [layer for layer in iter_layers(model) if isinstance(layer, BatchNorm)]
        model.eval()  # dropout off; the BN layers alone compute batch statistics
        for layer in norms:
            layer.training = True
            layer.start_precise_statistics()
        for _ in range(self.batches):
            x, _ = self.sampler.next()
            model.forward(x)
        for layer in norms:
            layer.stop_precise_statistics()
        model.train()

    def select_members(self, keep: np.ndarray) -> None:
        """Nothing per member: the batches are shared by all members."""
