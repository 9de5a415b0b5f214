"""Speed of a training step: largebatch-sim against PyTorch (when installed), written to Markdown.

    python benchmarks/run.py --out build/bench.md      # or: make bench
    LBSIM_BACKEND=cupy python benchmarks/run.py --only steps_gpu ensemble64 noise

The measurements that are kept, with what they mean, are written down in BENCHMARKS.md.

A step is forward, softmax cross-entropy, backward and an SGD update (momentum 0.9, weight decay
5e-4), float32, on random inputs: MNIST-1D-shaped (1, 1, 40) for the step tables and the noise
instrument, digits-shaped (1, 8, 8) for the CPU ensemble comparison. Times are medians over
repeated steps after warm-up, each step followed by a synchronisation of the device; nothing
here is asserted, it is measured and written down.

Sections (``--only``): ``steps``, ``ensemble`` and ``noise`` are the CPU tables of BENCHMARKS.md
(the default; ``steps`` pairs every model with its PyTorch twin on the CPU, taking turns, and
needs PyTorch); ``steps_gpu`` and ``ensemble64`` are meant for a GPU (``LBSIM_BACKEND=cupy``) and
add what matters there: the host's time to enqueue a step, peak device memory, and an ensemble
of 64 against 64 PyTorch models run one after another. PyTorch runs on the GPU when our backend
is CuPy and PyTorch sees CUDA (TF32 off, so both compute in plain float32), on the CPU otherwise.
``--dry`` shrinks batches and ensembles to check the code paths in seconds: its numbers mean
nothing.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
MiB = 2**20

Step = Callable[[], None]


def no_sync() -> None:
    """Nothing to wait for (NumPy, PyTorch on the CPU)."""


# ---------------------------------------------------------------------------------------------
# timing


def median_time(step: Step, repeats: int, warmup: int = 3, sync: Step | None = None) -> float:
    """Median wall time of one call, in seconds, after ``warmup`` calls; the device is
    synchronised after each call (``sync``, default our backend's)."""
    sync = sync or backend.synchronize
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_median_times(
    steps: list[Step], repeats: int, warmup: int = 3, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Median time of each step by ``clock`` (default wall time), in seconds, the steps taking
    turns (so that a drift of the machine's speed during the measurement affects them alike).

    ``time.process_time`` counts this process's CPU time, of all its threads: with one thread
    (``OMP_NUM_THREADS=1``) it leaves out the time other processes on shared cores take, which
    wall time charges to the longer steps (they are preempted more often)."""
    for step in steps:
        for _ in range(warmup):
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, seen in zip(steps, times, strict=True):
            backend.synchronize()
            start = clock()
            step()
            backend.synchronize()
            seen.append(clock() - start)
    return [statistics.median(seen) for seen in times]


@dataclass(frozen=True)
class StepTiming:
    """Three views of one training step's time, in seconds.

    - ``median_s``: the step's wall time, synchronised (enqueue and run, one step at a time);
    - ``enqueue_s``: the host's time to enqueue one step onto an empty device queue (the same
      steps, the clock read before the synchronisation): what Python and the launches cost;
    - ``dispatch_s``: ``repeats`` steps enqueued back to back without synchronising, divided
      by ``repeats``. Below ``median_s`` when the device's work overlaps the host's; equal to
      it when the host sets the pace, or when the device does and the launch queue fills (the
      GPU's busy time, in ``gpu_profile.py``, tells which).

    On NumPy there is no queue: the three agree up to noise.
    """

    median_s: float
    enqueue_s: float
    dispatch_s: float


def time_step(step: Step, repeats: int, sync: Step, warmup: int = 3) -> StepTiming:
    """``StepTiming`` of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    sync()
    synced, enqueued = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        queued = time.perf_counter()
        sync()
        synced.append(time.perf_counter() - start)
        enqueued.append(queued - start)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    dispatch = (time.perf_counter() - start) / repeats
    sync()
    return StepTiming(statistics.median(synced), statistics.median(enqueued), dispatch)


# ---------------------------------------------------------------------------------------------
# device memory


def release_memory() -> None:
    """Drop what earlier measurements left cached (CuPy's pool, PyTorch's caching allocator)."""
    gc.collect()
    if backend.backend_name() == "cupy":
        backend.get_backend().get_default_memory_pool().free_all_blocks()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def ours_peak_bytes(step: Step) -> float:
    """Peak bytes in use in CuPy's default memory pool during one ``step``: everything alive on
    the device (parameters, momentum, inputs) plus the step's temporaries. NaN on NumPy.

    A ``cupy.cuda.MemoryHook`` reads the pool's bytes in use after every allocation; it costs
    host time, so it watches one step after the timings, never a timed one."""
    if backend.backend_name() != "cupy":
        return float("nan")
    cupy = backend.get_backend()
    pool = cupy.get_default_memory_pool()

    class PeakHook(cupy.cuda.MemoryHook):
        name = "lbsim_benchmark_peak"

        def __init__(self) -> None:
            self.peak = pool.used_bytes()

        def malloc_postprocess(self, **kwargs: Any) -> None:  # after every allocation
            self.peak = max(self.peak, pool.used_bytes())

    backend.synchronize()
    with PeakHook() as hook:
        step()
        backend.synchronize()
    return float(hook.peak)


# ---------------------------------------------------------------------------------------------
# our step and PyTorch's


def ours_step(
    model_name: str,
    in_shape: tuple,
    batch: int,
    ensemble: int = 1,
    noise_chunks: int = 0,
    noise_every: int = 1,
    steps: int = 1,
) -> Step:
    """``steps`` training steps; with ``noise_chunks`` the noise-scale instrument watches every
    ``noise_every``-th of them, as in the training loop (only watched steps split the backward)."""
    model = build_model(model_name, in_shape, 10).init(list(range(ensemble)))
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(ensemble, batch, *in_shape)), dtype=np.float32)
    y = backend.asarray(rng.integers(0, 10, size=(ensemble, batch)))
    opt = SGD(momentum=0.9, weight_decay=5e-4)
    params = model.named_params()
    noise = NoiseScale(noise_chunks, noise_every, model=model) if noise_chunks else None
    counter = itertools.count()

    def one_step() -> None:
        t = next(counter)
        if noise is not None:
            noise.before_step(t, model)
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        grads = model.named_grads()
        if noise is not None and noise.wants(t):
            noise.before_update(t, model, grads)  # keeps two (E,) arrays per call
        opt.step(params, grads, 0.01)

    def step() -> None:
        for _ in range(steps):
            one_step()

    return step


def ours_params(model_name: str, in_shape: tuple) -> int:
    """Trainable parameters of one member of ``build_model(model_name, in_shape, 10)``."""
    return build_model(model_name, in_shape, 10).init([0]).num_params()


def torch_device() -> str | None:
    """Where PyTorch runs: ``cuda`` when our backend is CuPy and PyTorch sees CUDA, else
    ``cpu``; None without PyTorch. On CUDA, TF32 is switched off (plain float32, as ours)."""
    try:
        import torch
    except ImportError:
        return None
    if backend.backend_name() == "cupy" and torch.cuda.is_available():
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        except Exception:  # a PyTorch that has only the newer switches
            torch.backends.cuda.matmul.fp32_precision = "ieee"
            torch.backends.cudnn.conv.fp32_precision = "ieee"
        return "cuda"
    return "cpu"


def torch_where(device: str | None) -> str:
    """Where PyTorch ran, for a table's notes."""
    if device is None:
        return "nothing: PyTorch is not installed, its columns are empty"
    return "the GPU (CUDA), TF32 off" if device == "cuda" else "the CPU"


@dataclass
class TorchStep:
    """A PyTorch training step (eager mode) of the twin of one of our models."""

    step: Step
    sync: Step
    params: int
    device: str

    def peak_bytes(self) -> float:
        """``torch.cuda.max_memory_allocated`` over one step (NaN on the CPU): parameters,
        momentum, inputs and the step's temporaries, as ``ours_peak_bytes``."""
        if self.device != "cuda":
            return float("nan")
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.step()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated())


def torch_step(
    model_name: str, in_shape: tuple, batch: int, device: str | None = None
) -> TorchStep | None:
    """PyTorch's step for ``model_name`` (its twin from ``torch_models.py``), on ``device``
    (default ``torch_device()``); None without PyTorch. Model, data and optimizer state are
    created on the device; the step is zero_grad, forward, cross-entropy, backward, SGD."""
    device = device or torch_device()
    if device is None:
        return None
    import torch
    import torch_models

    with torch.device(device):
        net = torch_models.build(model_name, in_shape)
        x = torch.randn(batch, *in_shape)
        y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    return TorchStep(step, torch_sync(device), torch_models.num_params(net), device)


def torch_sync(device: str) -> Step:
    """Wait for PyTorch's queued work on ``device``."""
    if device != "cuda":
        return no_sync
    import torch

    return torch.cuda.synchronize


# ---------------------------------------------------------------------------------------------
# the report


def machine() -> str:
    """What the numbers were measured on, as Markdown list items."""
    import scipy

    lines = [
        f"- machine: {platform.platform()}, {os.cpu_count()} cores, {platform.processor() or '?'}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}",
        f"- backend: {backend.backend_name()}",
    ]
    if backend.backend_name() == "cupy":
        cupy = backend.get_backend()
        runtime = cupy.cuda.runtime
        name = runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        lines.append(
            f"- CuPy {cupy.__version__}, CUDA runtime {runtime.runtimeGetVersion()}, "
            f"driver {runtime.driverGetVersion()}, device {name}"
        )
    try:
        import torch

        where = f"CUDA {torch.version.cuda}, TF32 off" if torch_device() == "cuda" else "the CPU"
        lines.append(
            f"- PyTorch {torch.__version__}, eager, on {where} ({torch.get_num_threads()} threads)"
        )
    except ImportError:
        lines.append("- PyTorch: not installed (its columns are empty)")
    return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    """What every section is given: repeats, and ``dry`` (tiny sizes, to check code paths)."""

    repeats: int
    dry: bool = False
    clock: Callable[[], float] = time.perf_counter  # of the paired sections (steps, ensemble)

    def batch(self, batch: int) -> int:
        return min(batch, 64) if self.dry else batch

    def members(self, members: int) -> int:
        return min(members, 4) if self.dry else members


def repeats_for(repeats: int, model_name: str, batch: int, members: int = 1) -> int:
    """Fewer repeats for the slow cases on a CPU (the CNN at a large batch or as an ensemble):
    a quarter, at least 3."""
    slow = model_name != "mlp" and (batch > 256 or members > 1)
    return max(3, repeats // 4) if slow else repeats


def section(title: str, notes: str, rows: list[dict]) -> str:
    """A Markdown section: heading, what is measured and its target, the table."""
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g")
    return "\n".join([f"## {title}", "", notes, "", table, ""])


def ms(seconds: float) -> float:
    return 1e3 * seconds


# ---------------------------------------------------------------------------------------------
# CPU sections (BENCHMARKS.md)


CPU_PAIRED_CASES = [
    (model_name, batch)
    for model_name, batches in (
        ("mlp", (256, 4096)),
        ("alexnet_bn", (256, 4096)),
        ("cnn_bn", (256, 4096)),
        ("resnet", (128, 1024)),
    )
    for batch in batches
]


def step_section(opts: Options) -> str:
    """Every model the notebooks train, ours and PyTorch's twin taking turns step by step in one
    run (PyTorch's columns empty where it is not installed)."""
    device = torch_device()
    rows = []
    for model_name, batch in CPU_PAIRED_CASES:
        batch = opts.batch(batch)
        n = repeats_for(opts.repeats, model_name, batch)
        steps = [ours_step(model_name, MNIST1D, batch)]
        reference = torch_step(model_name, MNIST1D, batch, device) if device else None
        params = f"{ours_params(model_name, MNIST1D):,} / "
        if reference is not None:
            steps.append(reference.step)
            params += f"{reference.params:,}"
            if reference.params != ours_params(model_name, MNIST1D):
                params += " MISMATCH"  # the twin is not the same network: nothing to compare
        ours, *theirs = paired_median_times(steps, n, clock=opts.clock)
        theirs_s = theirs[0] if theirs else float("nan")
        rows.append(
            {
                "model": model_name,
                "batch": batch,
                "params ours / PyTorch": params,
                "turns": n,
                "ours ms": ms(ours),
                "PyTorch ms": ms(theirs_s),
                "ours / PyTorch": ours / theirs_s,
            }
        )
        print(rows[-1], flush=True)
    return section(
        f"Time per training step, paired with PyTorch, MNIST-1D inputs (1, 1, 40), "
        f"{backend.backend_name()}",
        "Ours and PyTorch eager (on "
        f"{torch_where(device)}) take turns step by step in one run\n"
        "(`paired_median_times`), so a drift of the machine's speed hits both alike. Float32,\n"
        "one worker (batch norm over the whole batch, as PyTorch's), alexnet_bn with dropout\n"
        "0.5 in both. Targets (issue 14, CPU): the MLP at or below 1.0x, the CNNs within 1.5x.",
        rows,
    )


def ensemble_section(opts: Options) -> str:
    cases = [  # (model, input shape, batch, members): the first is the foundation issue's target
        ("mlp", DIGITS, 256, 16),
        ("mlp", DIGITS, 32, 16),
        ("alexnet_bn", DIGITS, 256, 8),
        ("alexnet_bn", MNIST1D, 256, 8),
    ]
    rows = []
    for model_name, in_shape, batch, members in cases:
        batch, members = opts.batch(batch), opts.members(members)
        n = repeats_for(opts.repeats, model_name, batch, members)
        ensemble, single = paired_median_times(
            [
                ours_step(model_name, in_shape, batch, members),
                ours_step(model_name, in_shape, batch),
            ],
            n,
            clock=opts.clock,
        )
        rows.append(
            {
                "model": model_name,
                "input": str(in_shape),
                "batch": batch,
                "members": members,
                "ensemble ms/step": ms(ensemble),
                "separate runs ms/step": ms(members * single),
                "speed-up": members * single / ensemble,
            }
        )
        print(rows[-1], flush=True)
    return section(
        "Ensemble against separate runs",
        "Target: the ensemble of 16 at least 3x faster than 16 separate runs (MLP, digits,\n"
        "batch 256; issue 14: at least 2x at batch 32). Separate runs are E = 1 steps of the\n"
        "same code, times the members; the two steps take turns.",
        rows,
    )


def noise_section(opts: Options) -> str:
    """The noise-scale instrument (chunks of 32 examples) against plain steps, watching every
    step and every fourth: four steps per timed call, so a call holds one watched step of four."""
    rows = []
    for model_name in ("mlp", "cnn_bn", "alexnet_bn", "resnet"):
        for batch in (256, 4096):
            batch = opts.batch(batch)
            n = repeats_for(opts.repeats, model_name, batch)
            chunks = batch // 32
            plain, every, fourth = paired_median_times(
                [
                    ours_step(model_name, MNIST1D, batch, steps=4),
                    ours_step(model_name, MNIST1D, batch, noise_chunks=chunks, steps=4),
                    ours_step(
                        model_name, MNIST1D, batch, noise_chunks=chunks, noise_every=4, steps=4
                    ),
                ],
                n,
            )
            rows.append(
                {
                    "model": model_name,
                    "batch": batch,
                    "chunks": chunks,
                    "plain ms": ms(plain) / 4,
                    "every step ms": ms(every) / 4,
                    "overhead %": 100 * (every / plain - 1),
                    "every 4th ms": ms(fourth) / 4,
                    "overhead (4th) %": 100 * (fourth / plain - 1),
                }
            )
            print(rows[-1], flush=True)
    return section(
        f"Noise-scale instrument, every step, MNIST-1D inputs (1, 1, 40), {backend.backend_name()}",
        "Goal: under 10 % of a plain step. The instrument splits the batch into chunks of 32\n"
        "(B_small = 32, B_big = batch), on every step or on every fourth (the others run the\n"
        "plain backward); per-step times of calls of four steps, the three taking turns.",
        rows,
    )


# ---------------------------------------------------------------------------------------------
# GPU sections


GPU_STEP_CASES = [
    (model_name, batch)
    for model_name in ("mlp", "alexnet_bn", "cnn_bn", "resnet")
    for batch in (256, 4096)
] + [("alexnet_bn", 32768)]


def gpu_repeats(repeats: int, batch: int) -> int:
    """A quarter of the repeats (at least 3) for the largest batches."""
    return max(3, repeats // 4) if batch > 4096 else repeats


def step_row(model_name: str, batch: int, repeats: int, device: str | None) -> dict:
    """One row of ``steps_gpu``: our step and PyTorch's, timed (``StepTiming``), with peak
    memory and parameter counts. Everything built here is released on return."""
    release_memory()
    step = ours_step(model_name, MNIST1D, batch)
    ours = time_step(step, repeats, backend.synchronize)
    ours_peak = ours_peak_bytes(step)
    del step
    release_memory()
    reference = torch_step(model_name, MNIST1D, batch, device) if device else None
    nan = float("nan")
    theirs = StepTiming(nan, nan, nan)
    theirs_peak, theirs_params = nan, "-"
    if reference is not None:
        theirs = time_step(reference.step, repeats, reference.sync)
        theirs_peak, theirs_params = reference.peak_bytes(), f"{reference.params:,}"
    params = f"{ours_params(model_name, MNIST1D):,} / {theirs_params}"
    if reference is not None and reference.params != ours_params(model_name, MNIST1D):
        params += " MISMATCH"  # the twin is not the same network: its times compare nothing
    return {
        "model": model_name,
        "batch": batch,
        "params ours / PyTorch": params,
        "ours ms": ms(ours.median_s),
        "PyTorch ms": ms(theirs.median_s),
        "ours / PyTorch": ours.median_s / theirs.median_s,
        "ours dispatch ms": ms(ours.dispatch_s),
        "ours enqueue ms": ms(ours.enqueue_s),
        "PyTorch dispatch ms": ms(theirs.dispatch_s),
        "ours peak MiB": ours_peak / MiB,
        "PyTorch peak MiB": theirs_peak / MiB,
    }


def steps_gpu_section(opts: Options) -> str:
    """Every model at batch 256 and 4096 (and alexnet_bn at 32768), ours against PyTorch."""
    device = torch_device()
    rows = []
    for model_name, batch in GPU_STEP_CASES:
        batch = opts.batch(batch)
        rows.append(step_row(model_name, batch, gpu_repeats(opts.repeats, batch), device))
        print(rows[-1], flush=True)
    release_memory()
    return section(
        f"Time per training step on {backend.backend_name()}, MNIST-1D inputs (1, 1, 40)",
        "Float32, one worker (batch norm over the whole batch, as PyTorch's). PyTorch eager on\n"
        f"{torch_where(device)}, the same layers (`torch_models.py`;\n"
        "alexnet_bn with dropout 0.5 in both). ms: synchronised median. dispatch: the host's\n"
        f"time per step over {opts.repeats} steps enqueued without synchronising; enqueue: the\n"
        "host's time for one step onto an empty queue. Peak MiB: device memory in use during\n"
        "one step (ours: CuPy's pool, followed by a memory hook; PyTorch's\n"
        "max_memory_allocated), parameters, momentum and inputs included.",
        rows,
    )


def torch_sequential_step(model_name: str, batch: int, members: int, device: str) -> Step:
    """``members`` independent PyTorch models (own data, own optimizer) stepped one after the
    other: what training them as separate runs in one process costs per step."""
    steps = [torch_step(model_name, MNIST1D, batch, device) for _ in range(members)]
    calls = [s.step for s in steps if s is not None]

    def step() -> None:
        for call in calls:
            call()

    return step


def ensemble64_section(opts: Options) -> str:
    """64 members trained as one ensemble of ours against 64 PyTorch models, one after another."""
    device = torch_device()
    rows = []
    for model_name, batch, members in (("alexnet_bn", 256, 64), ("mlp", 256, 64)):
        batch, members = opts.batch(batch), opts.members(members)
        n = max(3, opts.repeats // 4)
        release_memory()
        ensemble_step = ours_step(model_name, MNIST1D, batch, members)
        ensemble = time_step(ensemble_step, n, backend.synchronize)
        peak = ours_peak_bytes(ensemble_step)
        del ensemble_step
        release_memory()
        single = median_time(ours_step(model_name, MNIST1D, batch), opts.repeats)
        sequential = float("nan")
        if device is not None:
            models = torch_sequential_step(model_name, batch, members, device)
            sequential = median_time(models, n, sync=torch_sync(device))
            del models
        rows.append(
            {
                "model": model_name,
                "batch": batch,
                "members": members,
                "ours ensemble ms/step": ms(ensemble.median_s),
                "ours E=1 ms x members": ms(members * single),
                "PyTorch sequential ms/step": ms(sequential),
                "speed-up vs PyTorch": sequential / ensemble.median_s,
                "speed-up vs ours E=1": members * single / ensemble.median_s,
                "ours ensemble dispatch ms": ms(ensemble.dispatch_s),
                "ours ensemble peak MiB": peak / MiB,
            }
        )
        print(rows[-1], flush=True)
    release_memory()
    return section(
        f"An ensemble of 64 against 64 separate models, on {backend.backend_name()}",
        "One ensemble step of ours trains every member on its own batch. PyTorch sequential:\n"
        f"{opts.members(64)} PyTorch models (own data, own optimizer) actually stepped one after\n"
        "another within one timed step, synchronised once at its end (eager, on\n"
        f"{torch_where(device)}). Ours E=1 x members: our single-model step's\n"
        "synchronised median times the members.",
        rows,
    )


# ---------------------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[Options], str]] = {
    "steps": step_section,
    "ensemble": ensemble_section,
    "noise": noise_section,
    "steps_gpu": steps_gpu_section,
    "ensemble64": ensemble64_section,
}
DEFAULT_SECTIONS = ("steps", "ensemble", "noise")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="build/bench.md")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SECTIONS),
        default=list(DEFAULT_SECTIONS),
        help=f"sections to run (default: {' '.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument(
        "--dry", action="store_true", help="tiny batches and ensembles: check, do not measure"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what the paired sections (steps, ensemble) time: wall time, or the process's CPU "
        "time (with OMP_NUM_THREADS=1, immune to other processes on a shared machine)",
    )
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    opts = Options(args.repeats, args.dry, clock)
    head = [
        "# Benchmarks",
        "",
        f"Written by `benchmarks/run.py {' '.join(sys.argv[1:])}`; medians over repeated steps",
        "after warm-up. A step is forward, softmax cross-entropy, backward and an SGD update",
        "with momentum.",
        *(["", "**Dry run: tiny sizes, the numbers mean nothing.**"] if args.dry else []),
        "",
        machine(),
        "",
    ]
    parts: list[str] = []
    for name in SECTIONS:
        if name in args.only:
            parts.append(SECTIONS[name](opts))
            atomic_write_text(Path(args.out), "\n".join(head + parts))  # each section kept
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
