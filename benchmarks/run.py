"""Speed of a training step: largebatch-sim against PyTorch (when installed), written to Markdown.

    python benchmarks/run.py --out build/bench.md      # or: make bench

The measurements that are kept, with what they mean, are written down in BENCHMARKS.md.

A step is forward, softmax cross-entropy, backward and an SGD update (momentum 0.9, weight decay
5e-4), on MNIST-1D-shaped inputs (1, 1, 40) for the MLP and the BN CNN, and on digits-shaped
inputs (1, 8, 8) for the ensemble comparison; the noise-scale instrument's overhead on the
MNIST-1D ones (``--only noise`` runs that section alone). Times are medians over repeated steps
after warm-up; nothing here is asserted, it is measured and written down.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from largebatch_sim import backend
from largebatch_sim.atomic import atomic_write_text
from largebatch_sim.instruments import NoiseScale
from largebatch_sim.nn.losses import softmax_cross_entropy
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import SGD

MNIST1D = (1, 1, 40)
DIGITS = (1, 8, 8)


def median_time(step: Callable[[], None], repeats: int, warmup: int = 3) -> float:
    """Median wall time of one call, in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    backend.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        backend.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_median_times(
    steps: list[Callable[[], None]], repeats: int, warmup: int = 3
) -> list[float]:
    """Median wall time of each step, in seconds, the steps taking turns (so that a drift of
    the machine's speed during the measurement affects them alike)."""
    for step in steps:
        for _ in range(warmup):
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, seen in zip(steps, times, strict=True):
            backend.synchronize()
            start = time.perf_counter()
            step()
            backend.synchronize()
            seen.append(time.perf_counter() - start)
    return [statistics.median(seen) for seen in times]


def ours_step(
    model_name: str, in_shape: tuple, batch: int, ensemble: int = 1, noise_chunks: int = 0
) -> Callable:
    """One training step; with ``noise_chunks`` the noise-scale instrument watches every step."""
    model = build_model(model_name, in_shape, 10).init(list(range(ensemble)))
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(ensemble, batch, *in_shape)), dtype=np.float32)
    y = backend.asarray(rng.integers(0, 10, size=(ensemble, batch)))
    opt = SGD(momentum=0.9, weight_decay=5e-4)
    params = model.named_params()
    noise = NoiseScale(noise_chunks, model=model) if noise_chunks else None

    def step() -> None:
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        grads = model.named_grads()
        if noise is not None:
            noise.before_update(0, model, grads)  # keeps two (E,) arrays per call
        opt.step(params, grads, 0.01)

    return step


def torch_step(model_name: str, in_shape: tuple, batch: int) -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    nn = torch.nn
    if model_name == "mlp":
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(np.prod(in_shape)), 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
    else:  # alexnet_bn on (1, 1, 40): the same layers as largebatch_sim's alexnet_mini(norm="bn")

        def conv(i: int, o: int, k: int) -> list:
            return [
                nn.Conv2d(i, o, (1, k), padding=(0, k // 2), bias=False),
                nn.BatchNorm2d(o),
                nn.ReLU(),
            ]

        pool = nn.MaxPool2d((1, 2))
        net = nn.Sequential(
            *conv(1, 16, 5),
            pool,
            *conv(16, 32, 5),
            pool,
            *conv(32, 48, 3),
            *conv(48, 48, 3),
            *conv(48, 32, 3),
            pool,
            nn.Flatten(),
            nn.Linear(32 * 5, 128, bias=False),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 128, bias=False),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *in_shape)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    return step


def machine() -> str:
    import scipy

    lines = [
        f"- machine: {platform.platform()}, {os.cpu_count()} cores, {platform.processor() or '?'}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}",
        f"- backend: {backend.backend_name()}",
    ]
    try:
        import torch

        lines.append(f"- PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        lines.append("- PyTorch: not installed (its columns are empty)")
    return "\n".join(lines)


SECTIONS = ("steps", "ensemble", "noise")


def repeats_for(repeats: int, model_name: str, batch: int, members: int = 1) -> int:
    """Fewer repeats for the slow cases (the CNN at a large batch or as an ensemble): a quarter,
    at least 3."""
    slow = model_name != "mlp" and (batch > 256 or members > 1)
    return max(3, repeats // 4) if slow else repeats


def section(title: str, notes: str, rows: list[dict]) -> str:
    """A Markdown section: heading, what is measured and its target, the table."""
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g")
    return "\n".join([f"## {title}", "", notes, "", table, ""])


def step_section(repeats: int) -> str:
    rows = []
    for model_name in ("mlp", "alexnet_bn"):
        for batch in (256, 4096):
            n = repeats_for(repeats, model_name, batch)
            ours = median_time(ours_step(model_name, MNIST1D, batch), n)
            reference = torch_step(model_name, MNIST1D, batch)
            theirs = median_time(reference, n) if reference else float("nan")
            rows.append(
                {
                    "model": model_name,
                    "batch": batch,
                    "ours ms": 1e3 * ours,
                    "PyTorch ms": 1e3 * theirs,
                    "ours / PyTorch": ours / theirs,
                }
            )
            print(rows[-1], flush=True)
    return section(
        "Time per training step, MNIST-1D inputs (1, 1, 40)",
        "Targets (foundation issue): the NumPy MLP step within 2x of PyTorch's at batch 4096.\n"
        "Our BN CNN uses one worker (batch norm over the whole batch) to match PyTorch's.",
        rows,
    )


def ensemble_section(repeats: int) -> str:
    cases = [  # (model, input shape, batch, members): the first is the foundation issue's target
        ("mlp", DIGITS, 256, 16),
        ("mlp", DIGITS, 32, 16),
        ("alexnet_bn", DIGITS, 256, 8),
        ("alexnet_bn", MNIST1D, 256, 8),
    ]
    rows = []
    for model_name, in_shape, batch, members in cases:
        n = repeats_for(repeats, model_name, batch, members)
        ensemble = median_time(ours_step(model_name, in_shape, batch, members), n)
        single = median_time(ours_step(model_name, in_shape, batch), n)
        rows.append(
            {
                "model": model_name,
                "input": str(in_shape),
                "batch": batch,
                "members": members,
                "ensemble ms/step": 1e3 * ensemble,
                "separate runs ms/step": 1e3 * members * single,
                "speed-up": members * single / ensemble,
            }
        )
        print(rows[-1], flush=True)
    return section(
        "Ensemble against separate runs",
        "Target: the ensemble of 16 at least 3x faster than 16 separate runs (MLP, digits,\n"
        "batch 256). Separate runs are E = 1 steps of the same code, times the members.",
        rows,
    )


def noise_section(repeats: int) -> str:
    """The noise-scale instrument every step (chunks of 32 examples) against a plain step."""
    rows = []
    for model_name in ("mlp", "alexnet_bn"):
        for batch in (256, 4096):
            n = repeats_for(repeats, model_name, batch)
            chunks = batch // 32
            plain, noise = paired_median_times(
                [
                    ours_step(model_name, MNIST1D, batch),
                    ours_step(model_name, MNIST1D, batch, noise_chunks=chunks),
                ],
                n,
            )
            rows.append(
                {
                    "model": model_name,
                    "batch": batch,
                    "chunks": chunks,
                    "plain ms": 1e3 * plain,
                    "with noise ms": 1e3 * noise,
                    "overhead %": 100 * (noise / plain - 1),
                }
            )
            print(rows[-1], flush=True)
    return section(
        "Noise-scale instrument, every step, MNIST-1D inputs (1, 1, 40)",
        "Goal (issue 5): under 10 % of a plain step. The instrument splits the batch into\n"
        "chunks of 32 (B_small = 32, B_big = batch); the two steps take turns.",
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="build/bench.md")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run"
    )
    args = parser.parse_args()
    sections = {"steps": step_section, "ensemble": ensemble_section, "noise": noise_section}
    parts = [sections[name](args.repeats) for name in SECTIONS if name in args.only]
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make bench` (`benchmarks/run.py`); medians over repeated steps",
            "after warm-up.",
            "A step is forward, softmax cross-entropy, backward and an SGD update with momentum.",
            "",
            machine(),
            "",
            *parts,
        ]
    )
    atomic_write_text(Path(args.out), text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
