"""Wall time of a sweep in one process vs spread over local worker processes, and the
scheduling overhead per unit, as Markdown.

    OMP_NUM_THREADS=1 python benchmarks/sweep_executors.py --workers 2 --out build/executors.md

The sweep is notebook 01's G-F1 and G-F5 runs (its ``train(at(b))`` for every batch of the
quick profile, 64 to 2048, three seeds each, plus the base batch's runs at twice the rate: six
ensembles of cnn_bn on MNIST-1D, one per batch), shortened to ``--data-size`` examples and
``--epochs`` epochs so that it takes minutes. Every sweep trains into a fresh cache. The
overhead per unit is measured on units that train almost nothing (one step of an MLP on
digits): (wall time on one worker process - wall time in process) / units, on a cluster
already started.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time

import numpy as np

from largebatch_sim.runs import ResultCache, RunConfig, sweep
from largebatch_sim.runs.executors import LocalProcesses, cores

BATCHES = (64, 128, 256, 512, 1024, 2048)  # notebook 01, quick profile
B0, BASE_LR, N_WORKER, SEEDS = 64, 0.1, 32, (0, 1, 2)


def goyal_sweep(data_size: int, epochs: float) -> list[RunConfig]:
    """Notebook 01's G-F1 / G-F5 runs (its BASE and ``at``), at a shorter length."""
    base = RunConfig(
        data="mnist1d",
        data_size=data_size,
        model="cnn_bn",
        batch=B0,
        workers=B0 // N_WORKER,
        lr=BASE_LR,
        base_batch=B0,
        scaling="linear",
        schedule="step",
        milestones=(0.5, 0.75),
        warmup="gradual",
        warmup_epochs=1.0,
        warmup_start=BASE_LR,
        epochs=epochs,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        no_weight_decay_on=("norm",),
        evals=4,
        trace_loss=True,
    )

    def at(batch: int, **changes: object) -> list[RunConfig]:
        config = dataclasses.replace(base, batch=batch, workers=batch // N_WORKER, **changes)
        return [dataclasses.replace(config, seed=s) for s in SEEDS]

    return [c for b in BATCHES for c in at(b)] + at(B0, lr=2 * BASE_LR)


def tiny_units(units: int) -> list[RunConfig]:
    """``units`` ensembles of one run each that train one step (batch differs: no sharing)."""
    return [
        RunConfig(data="digits", model="mlp", batch=b, base_batch=b, epochs=1e-3, evals=1)
        for b in range(16, 16 + units)
    ]


def timed(configs: list[RunConfig], executor: object = None) -> float:
    start = time.perf_counter()
    sweep(configs, ResultCache(tempfile.mkdtemp()), progress=False, executor=executor)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=cores())
    parser.add_argument("--data-size", type=int, default=4000)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--tiny-units", type=int, default=40)
    parser.add_argument("--out", help="write the Markdown here as well")
    args = parser.parse_args()
    configs = goyal_sweep(args.data_size, args.epochs)
    units = len({dataclasses.replace(c, seed=0, lr=0) for c in configs})
    # Each variant twice: first with the data set still to load in every process, then again.
    load = [os.getloadavg()[0]]  # the machine may be shared: say how busy it was
    here_first, here = timed(configs), timed(configs)
    load.append(os.getloadavg()[0])
    executor = LocalProcesses(workers=args.workers, threads=1)
    start = time.perf_counter()
    executor.client()
    startup = time.perf_counter() - start
    spread_first, spread = timed(configs, executor), timed(configs, executor)
    executor.close()
    # The overhead on one worker, so that no parallel gain hides it: both train the same units
    # one after another, one here, one through the scheduler, a claim and the cache.
    tiny = tiny_units(args.tiny_units)
    with LocalProcesses(workers=1, threads=1) as one:
        timed(tiny[:1], one)  # imports and data
        tiny_spread = min(timed(tiny, one) for _ in range(3))
    tiny_here = min(timed(tiny) for _ in range(3))
    load.append(os.getloadavg()[0])
    rows = [
        f"- machine: {cores()} cores usable, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        f"- sweep: notebook 01's G-F1/G-F5 runs, {len(configs)} runs in {units} ensembles, "
        f"{args.data_size} examples, {args.epochs:g} epochs",
        "- load average (1 min) at the start, after the in-process sweeps, at the end: "
        + ", ".join(f"{x:.1f}" for x in load),
        "",
        "| executor | first sweep: wall s | same sweep again: wall s |",
        "|:--|--:|--:|",
        f"| in process (1 BLAS thread) | {here_first:.1f} | {here:.1f} |",
        f"| {args.workers} local processes x 1 thread | {spread_first:.1f} | {spread:.1f} |",
        "",
        f"- starting that cluster (once per notebook): {startup:.1f} s; a first sweep includes "
        "every process's imports and data loading",
        "",
        f"- speed-up: {here / spread:.2f}x on {args.workers} workers (first sweep: "
        f"{here_first / (startup + spread_first):.2f}x, cluster start included)",
        f"- scheduling overhead per unit: {1000 * (tiny_spread - tiny_here) / len(tiny):.0f} ms "
        f"({len(tiny)} one-step units: {tiny_here:.2f} s in process, {tiny_spread:.2f} s "
        "on one worker process; best of 3)",
    ]
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
