"""What compaction saves: a learning-rate grid whose largest rates diverge early, trained as
one ensemble with the frozen members dropped at the first evaluation vs carried to the end.

    python benchmarks/compaction.py [--model cnn_bn] [--repeats 3]

The two runs take turns (``paired_median_times``); the table is printed as Markdown for
BENCHMARKS.md. The survivors' results are the same either way (tests/test_compaction.py).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from run import machine, paired_median_times

from largebatch_sim.data import BatchSampler, load_dataset
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import SGD
from largebatch_sim.train import train

# half the grid trains, half diverges within the first evaluation period
RATES = (0.0125, 0.025, 0.05, 0.1, 50.0, 100.0, 200.0, 400.0)


class NoCompaction:
    """An instrument with no ``select_members``: the loop then keeps frozen members."""

    def wants(self, step: int) -> bool:
        return False

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame()


def grid_run(model_name: str, steps: int, evals: int, compact: bool) -> None:
    data = load_dataset("mnist1d", num_samples=4000, seed=0)
    model = build_model(model_name, data.in_shape, data.classes).init([0] * len(RATES))
    sampler = BatchSampler(data.x_train, data.y_train, 128, seeds=[0])
    train(
        model,
        SGD(momentum=0.9),
        np.tile(RATES, (steps, 1)),
        sampler,
        eval_every=steps // evals,
        progress=False,
        instruments={} if compact else {"off": NoCompaction()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn_bn")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--evals", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dropped, kept = paired_median_times(
        [
            lambda: grid_run(args.model, args.steps, args.evals, compact=True),
            lambda: grid_run(args.model, args.steps, args.evals, compact=False),
        ],
        repeats=args.repeats,
        warmup=1,
    )
    print(f"{machine()}; {args.model}, batch 128, {len(RATES)} rates, {args.steps} steps\n")
    print("| frozen members | run s | speed-up |\n|---|---|---|")
    print(f"| carried to the end | {kept:.2f} | 1.00x |")
    print(f"| dropped at the first evaluation | {dropped:.2f} | {kept / dropped:.2f}x |")


if __name__ == "__main__":
    main()
