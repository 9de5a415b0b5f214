"""Speed of a training step: largebatch-sim against PyTorch (when installed), written to Markdown.

    python benchmarks/run.py --out build/bench.md      # or: make bench

The measurements that are kept, with what they mean, are written down in BENCHMARKS.md.

A step is forward, softmax cross-entropy, backward and an SGD update (momentum 0.9, weight decay
5e-4), on MNIST-1D-shaped inputs (1, 1, 40) for the MLP and the BN CNN, and on digits-shaped
inputs (1, 8, 8) for the ensemble comparison. Times are medians over repeated steps after
warm-up; nothing here is asserted, it is measured and written down.
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


def ours_step(model_name: str, in_shape: tuple, batch: int, ensemble: int = 1) -> Callable:
    model = build_model(model_name, in_shape, 10).init(list(range(ensemble)))
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(ensemble, batch, *in_shape)), dtype=np.float32)
    y = backend.asarray(rng.integers(0, 10, size=(ensemble, batch)))
    opt = SGD(momentum=0.9, weight_decay=5e-4)
    params = model.named_params()

    def step() -> None:
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        opt.step(params, model.named_grads(), 0.01)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="build/bench.md")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    rows = []
    for model_name in ("mlp", "alexnet_bn"):
        for batch in (256, 4096):
            repeats = (
                args.repeats if batch <= 256 or model_name == "mlp" else max(3, args.repeats // 4)
            )
            ours = median_time(ours_step(model_name, MNIST1D, batch), repeats)
            reference = torch_step(model_name, MNIST1D, batch)
            theirs = median_time(reference, repeats) if reference else float("nan")
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
    steps = pd.DataFrame(rows)

    cases = [  # (model, input shape, batch, members): the first is the foundation issue's target
        ("mlp", DIGITS, 256, 16),
        ("mlp", DIGITS, 32, 16),
        ("alexnet_bn", DIGITS, 256, 8),
        ("alexnet_bn", MNIST1D, 256, 8),
    ]
    ensemble_rows = []
    for model_name, in_shape, batch, members in cases:
        repeats = args.repeats if model_name == "mlp" else max(3, args.repeats // 4)
        ensemble = median_time(ours_step(model_name, in_shape, batch, members), repeats)
        single = median_time(ours_step(model_name, in_shape, batch), repeats)
        ensemble_rows.append(
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
        print(ensemble_rows[-1], flush=True)
    ensemble_table = pd.DataFrame(ensemble_rows)

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
            "## Time per training step, MNIST-1D inputs (1, 1, 40)",
            "",
            "Targets (foundation issue): the NumPy MLP step within 2x of PyTorch's at batch 4096.",
            "Our BN CNN uses one worker (batch norm over the whole batch) to match PyTorch's.",
            "",
            steps.to_markdown(index=False, floatfmt=".3g"),
            "",
            "## Ensemble against separate runs",
            "",
            "Target: the ensemble of 16 at least 3x faster than 16 separate runs (MLP, digits,",
            "batch 256). Separate runs are E = 1 steps of the same code, times the members.",
            "",
            ensemble_table.to_markdown(index=False, floatfmt=".3g"),
            "",
        ]
    )
    atomic_write_text(Path(args.out), text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
