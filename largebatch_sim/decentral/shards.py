"""Each node its own shard of the training data: IID or label-skewed.

The N training examples are split into n shards of N / n (n must divide N: a node with fewer
examples would weigh less in the global objective (1/n) sum_i f_i than the paper's). ``iid``
deals a random permutation; ``label_skew`` sorts the examples by label first (ties in random
order), so node i holds a contiguous run of classes: with 10 classes over 8 nodes, one or two
classes per node, the heterogeneity under which decentralised methods disagree most.

Per step every node draws its own B_node examples from its shard (a fresh permutation of the
shard per epoch, from the node's own generator): the batch is (n, B_node, ...), one row per
node, gathered on the device from an index table sent once per epoch, like ``BatchSampler``.
The global batch is n B_node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..validate import ParameterError, check_choice, check_integer

SPLITS = ("iid", "label_skew")


def shard_indices(y: np.ndarray, nodes: int, split: str, seed: int = 0) -> np.ndarray:
    """(n, N / n) example indices, one row per node (see the module docstring)."""
    nodes = check_integer("nodes", nodes, low=1)
    split = check_choice("split", split, SPLITS)
    y = np.asarray(y)
    if len(y) % nodes:
        raise ParameterError(
            "nodes", nodes, f"a divisor of the {len(y)} training examples (equal shards)"
        )
    order = np.random.default_rng([seed, 7]).permutation(len(y))
    if split == "label_skew":
        order = order[np.argsort(y[order], kind="stable")]
    return order.reshape(nodes, -1)


class ShardSampler:
    """Batches of (n, B_node, ...) with node i's rows drawn from its own shard.

    Offers what the training loop reads from a sampler: ``next()`` and ``steps_per_epoch``
    (an epoch: every node has seen its shard once, the last N/n mod B_node examples skipped).
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        nodes: int,
        node_batch: int,
        split: str = "iid",
        seed: int = 0,
    ) -> None:
        if len(x) != len(y):
            raise ParameterError("y", f"{len(y)} labels", f"one per example ({len(x)})")
        self.shards = shard_indices(backend.to_host(y), nodes, split, seed)
        self.nodes, per_node = self.shards.shape
        self.node_batch = check_integer("node_batch", node_batch, low=1, high=per_node)
        self.split = split
        self.steps_per_epoch = per_node // self.node_batch
        self._rngs = [np.random.default_rng([seed, i]) for i in range(self.nodes)]
        self.x, self.y = backend.asarray(x), backend.asarray(y)
        self.step = 0
        self._table: Any = None

    def label_counts(self, classes: int) -> np.ndarray:
        """(n, classes): how many examples of each class each node holds."""
        y = backend.to_host(self.y)
        return np.stack([np.bincount(y[s], minlength=classes) for s in self.shards])

    def next(self) -> tuple[Any, Any]:
        position = self.step % self.steps_per_epoch
        if position == 0:  # one host-to-device copy per epoch
            used = self.steps_per_epoch * self.node_batch
            table = [
                s[rng.permutation(len(s))[:used]]
                for s, rng in zip(self.shards, self._rngs, strict=True)
            ]
            self._table = backend.asarray(np.stack(table))
        b = self.node_batch
        idx = self._table[:, position * b : (position + 1) * b]
        self.step += 1
        return self.x[idx], self.y[idx]
