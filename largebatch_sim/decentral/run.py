"""One decentralised training run (DL-T1): n nodes as the n members of one ensemble.

All nodes start from the same weights (one seed for every member), each trains on its own
shard (``shards.py``), and the optimizer gossips over the member axis (``optimizers.py``). A
decentralised run is one work unit: its nodes are never split across ensembles. The result is
the average model's test accuracy and the consensus distance over training, cached per spec
and code version (``runs.memo``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..data import GENERATED, load_dataset
from ..data.registry import TRAIN_FRACTION
from ..nn.models import build_model
from ..runs.memo import memoised
from ..runs.warm_cosine import train_warm_cosine
from ..validate import ParameterError, check_choice, check_integer, check_number
from .consensus import ConsensusRecorder
from .optimizers import OPTIMIZERS, build_optimizer
from .shards import SPLITS, ShardSampler
from .topology import TOPOLOGIES, mixing_matrix


@dataclass(frozen=True)
class DecentralisedSpec:
    """A run of ``optimizer`` over ``nodes`` nodes joined by ``topology``, each drawing
    ``node_batch`` examples per step (global batch nodes x node_batch) at peak rate ``lr``
    (``runs.warm_cosine``)."""

    optimizer: str = "decentlam"
    topology: str = "ring"
    nodes: int = 8
    node_batch: int = 16
    split: str = "label_skew"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epochs: int = 10
    warmup_epochs: float = 1.0
    data: str = "mnist1d"
    data_size: int = 10240
    model: str = "mlp"
    evals: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        check_choice("topology", self.topology, TOPOLOGIES)
        check_integer("nodes", self.nodes, low=1)
        check_integer("node_batch", self.node_batch, low=1)
        check_choice("split", self.split, SPLITS)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("momentum", self.momentum, low=0, high=1, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_integer("epochs", self.epochs, low=1)
        check_number("warmup_epochs", self.warmup_epochs, low=0)
        check_integer("evals", self.evals, low=1)
        check_integer("seed", self.seed, low=0)
        check_choice("data", self.data, GENERATED)
        check_integer("data_size", self.data_size, low=self.nodes)
        if self.train_examples % self.nodes:  # before any data is made
            raise ParameterError(
                "nodes", self.nodes, f"a divisor of the {self.train_examples} training examples"
            )

    @property
    def train_examples(self) -> int:
        """The training split of ``data_size`` examples (the loaders' 80 %)."""
        return int(self.data_size * TRAIN_FRACTION)

    @property
    def batch(self) -> int:
        """The global batch, n B_node."""
        return self.nodes * self.node_batch


def run_decentralised(spec: DecentralisedSpec) -> dict[str, object]:
    """Train and return ``{"spec", "consensus" (a table per evaluation), "final_acc" (the
    average model's test accuracy in %), "node_acc" (the nodes' own, mean over nodes, %),
    "diverged"}``."""
    data = load_dataset(spec.data, num_samples=spec.data_size, seed=0)
    sampler = ShardSampler(
        data.x_train, data.y_train, spec.nodes, spec.node_batch, spec.split, spec.seed
    )
    optimizer = build_optimizer(
        spec.optimizer, mixing_matrix(spec.topology, spec.nodes), spec.momentum, spec.weight_decay
    )
    model = build_model(spec.model, data.in_shape, data.classes)
    model.init([spec.seed] * spec.nodes)  # every node starts from the same weights
    recorder = ConsensusRecorder(data.x_test, data.y_test)
    result = train_warm_cosine(
        model,
        optimizer,
        sampler,
        (data.x_test, data.y_test),
        spec.lr,
        spec.epochs,
        spec.warmup_epochs,
        spec.evals,
        hooks=[recorder],
    )
    consensus = recorder.frame()
    return {
        "spec": spec,
        "consensus": consensus,
        "final_acc": 100 * float(consensus.average_test_acc.iloc[-1]),
        "node_acc": 100 * float(result.summary.final_test_acc.mean()),  # NaN if any diverged
        "diverged": bool(result.summary.diverged.any()),
    }


def cached_decentralised(spec: DecentralisedSpec) -> dict[str, object]:
    """``run_decentralised`` through the pickle cache."""
    return memoised(spec, "decentral/run.py", run_decentralised)


def frame(results: list[dict[str, object]]) -> pd.DataFrame:
    """One row per run: optimizer, topology, global batch, seed, final accuracies."""
    rows = []
    for r in results:
        s = r["spec"]
        rows.append(
            dict(
                optimizer=s.optimizer,
                topology=s.topology,
                batch=s.batch,
                node_batch=s.node_batch,
                lr=s.lr,
                seed=s.seed,
                acc=r["final_acc"],
                node_acc=r["node_acc"],
                consensus=float(r["consensus"].consensus.iloc[-1]),
                diverged=r["diverged"],
            )
        )
    return pd.DataFrame(rows)
