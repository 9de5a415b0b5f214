"""Where the host's time goes in one training step of ours, rendered as Markdown.

    LBSIM_BACKEND=cupy python benchmarks/gpu_profile.py --out build/profile-gpu.md

docs/DESIGN.md ("On a GPU") says a CuPy step of alexnet_bn is bound by the host:
hundreds of small kernel launches and Python calls. This measures it, for one model and batch
(default alexnet_bn at 256 on MNIST-1D inputs, float32, one worker, the step of ``run.py``):

- the step's time three ways (``run.StepTiming``): synchronised median, enqueue time of one
  step, dispatch time of back-to-back steps; all without a profiler;
- a cProfile of ``--steps`` steps after warm-up (the device synchronised once, at the end,
  inside the profile): the top functions by own time (tottime) and our library's functions by
  cumulative time, per step, and the host time by package. cProfile's own cost inflates
  every call, so read the shares, not the absolute times;
- on CuPy, when PyTorch with CUDA is installed: the GPU kernels per step, counted by CUPTI
  through ``torch.profiler`` (it records every kernel the process runs, ours and cuBLAS's
  included, not only PyTorch's), with their summed duration (the GPU's busy time per step),
  the memory copies and sets, and the most frequent kernel names; the same for PyTorch's twin
  of the model for comparison. Without PyTorch, kernels are not counted.

It measures and writes down; nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from run import MNIST1D, StepTiming, machine, ours_step, time_step, torch_device, torch_step

from largebatch_sim import backend
from largebatch_sim.atomic import atomic_write_text

Step = Callable[[], None]
ROOT = Path(__file__).resolve().parent.parent


def where(filename: str, lineno: int) -> str:
    """A short file:line: relative to the repository or to site-packages; '-' for builtins."""
    if filename == "~":
        return "-"
    path = filename
    if filename.startswith(str(ROOT)):
        path = os.path.relpath(filename, ROOT)
    elif "site-packages/" in filename:
        path = filename.split("site-packages/", 1)[1]
    return f"{path}:{lineno}"


def package(filename: str, function: str) -> str:
    """Which package a profiled function belongs to, for the host time by package."""
    if filename == "~":
        for name in ("cupy", "numpy", "torch"):
            if name in function:
                return f"{name} (compiled)"
        return "builtins"
    for name in ("largebatch_sim", "cupy_backends", "cupyx", "cupy", "numpy", "torch"):
        if f"/{name}/" in filename:
            return name
    return "other"


@dataclass
class HostProfile:
    """cProfile's table over ``steps`` steps, per step."""

    frame: pd.DataFrame  # function, file:line, package, calls, tottime ms, cumtime ms (per step)
    steps: int

    @property
    def total_ms(self) -> float:
        return float(self.frame["tottime ms/step"].sum())

    @property
    def calls(self) -> float:
        return float(self.frame["calls/step"].sum())


def host_profile(step: Step, steps: int) -> HostProfile:
    """cProfile of ``steps`` calls of ``step`` and one synchronisation."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    backend.synchronize()
    profiler.disable()
    rows = []
    for (filename, lineno, function), (_, calls, tottime, cumtime, _) in pstats.Stats(
        profiler
    ).stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": function,
                "file:line": where(filename, lineno),
                "package": package(filename, function),
                "calls/step": calls / steps,
                "tottime ms/step": 1e3 * tottime / steps,
                "cumtime ms/step": 1e3 * cumtime / steps,
            }
        )
    return HostProfile(pd.DataFrame(rows), steps)


@dataclass
class KernelTrace:
    """What CUPTI saw on the GPU over ``steps`` steps, per step."""

    kernels: float
    busy_ms: float
    memcpy: float
    memset: float
    launch_calls: float
    names: pd.DataFrame  # kernel name, count per step, ms per step
    categories: dict[str, int]


def kernel_trace(step: Step, sync: Step, steps: int) -> KernelTrace | None:
    """GPU activity of ``steps`` steps through ``torch.profiler`` (CUPTI); None where PyTorch
    or CUDA is missing, or the profiler fails (its error is printed)."""
    if torch_device() != "cuda":
        return None
    try:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                step()
            sync()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trace.json"
            prof.export_chrome_trace(str(path))
            events = json.loads(path.read_text())["traceEvents"]
    except Exception as error:  # a profiler that fails must not lose the rest of the report
        print(f"kernel trace failed: {error!r}", file=sys.stderr, flush=True)
        return None
    spans = [e for e in events if e.get("ph") == "X"]
    categories = Counter(str(e.get("cat")) for e in spans)
    kernels = [e for e in spans if e.get("cat") == "kernel"]
    launches = [
        e
        for e in spans
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "aunch" in str(e.get("name"))
    ]
    by_name: dict[str, list[float]] = {}
    for e in kernels:
        by_name.setdefault(str(e.get("name")), []).append(float(e.get("dur", 0.0)))
    names = pd.DataFrame(
        [
            {
                "kernel": name if len(name) <= 70 else name[:67] + "...",
                "count/step": len(durs) / steps,
                "ms/step": sum(durs) / 1e3 / steps,
            }
            for name, durs in by_name.items()
        ]
    )
    if not names.empty:
        names = names.sort_values("count/step", ascending=False)
    return KernelTrace(
        kernels=len(kernels) / steps,
        busy_ms=sum(float(e.get("dur", 0.0)) for e in kernels) / 1e3 / steps,
        memcpy=categories.get("gpu_memcpy", 0) / steps,
        memset=categories.get("gpu_memset", 0) / steps,
        launch_calls=len(launches) / steps,
        names=names,
        categories=dict(categories),
    )


def table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3g")


def timing_lines(label: str, timing: StepTiming) -> list[str]:
    return [
        f"- {label}: {1e3 * timing.median_s:.3g} ms per step synchronised, "
        f"{1e3 * timing.enqueue_s:.3g} ms to enqueue one step, "
        f"{1e3 * timing.dispatch_s:.3g} ms per step enqueued back to back",
    ]


def trace_lines(label: str, trace: KernelTrace | None, timing: StepTiming) -> list[str]:
    if trace is None:
        return [f"- {label}: kernels not counted (needs CuPy, PyTorch with CUDA and CUPTI)"]
    busy = 100 * trace.busy_ms / (1e3 * timing.median_s)
    return [
        f"- {label}: {trace.kernels:.0f} GPU kernels per step, busy {trace.busy_ms:.3g} ms "
        f"({busy:.0f} % of the synchronised step), {trace.memcpy:.0f} copies and "
        f"{trace.memset:.0f} memsets per step, {trace.launch_calls:.0f} launch API calls seen "
        f"per step (CUPTI categories over the trace: {trace.categories})",
    ]


def report(model_name: str, batch: int, steps: int, warmup: int) -> str:
    """Time, profile and trace our step (and PyTorch's for the kernel count); the Markdown."""
    step = ours_step(model_name, MNIST1D, batch)
    for _ in range(warmup):
        step()
    backend.synchronize()
    timing = time_step(step, steps, backend.synchronize)
    start = time.perf_counter()
    host = host_profile(step, steps)
    profiled_s = (time.perf_counter() - start) / steps
    trace = kernel_trace(step, backend.synchronize, steps)
    theirs = torch_step(model_name, MNIST1D, batch) if torch_device() == "cuda" else None
    theirs_lines: list[str] = []
    theirs_trace = None
    if theirs is not None:
        theirs_timing = time_step(theirs.step, steps, theirs.sync)
        theirs_trace = kernel_trace(theirs.step, theirs.sync, steps)
        theirs_lines = timing_lines("PyTorch eager", theirs_timing)
        theirs_lines += trace_lines("PyTorch eager", theirs_trace, theirs_timing)

    frame = host.frame
    top = frame.sort_values("tottime ms/step", ascending=False).head(25)
    ours = frame[frame["package"] == "largebatch_sim"]
    ours = ours.sort_values("cumtime ms/step", ascending=False).head(25)
    by_package = (
        frame.groupby("package")[["calls/step", "tottime ms/step"]]
        .sum()
        .sort_values("tottime ms/step", ascending=False)
        .reset_index()
    )
    by_package["share %"] = 100 * by_package["tottime ms/step"] / host.total_ms
    columns = ["function", "file:line", "calls/step", "tottime ms/step", "cumtime ms/step"]
    parts = [
        f"# Host profile of one training step: {model_name}, batch {batch}, "
        f"{backend.backend_name()}",
        "",
        "Written by `benchmarks/gpu_profile.py`. MNIST-1D inputs (1, 1, 40), float32, one "
        f"worker, SGD with momentum; {warmup} warm-up steps, then {steps} steps per "
        "measurement.",
        "",
        machine(),
        "",
        "## Step time and GPU work",
        "",
        *timing_lines("ours", timing),
        *trace_lines("ours", trace, timing),
        *theirs_lines,
        f"- under cProfile: {1e3 * profiled_s:.3g} ms per step, {host.calls:.0f} Python-visible "
        f"function calls per step, {host.total_ms:.3g} ms of profiled host time per step",
        "",
        "## Host time by package (cProfile, own time)",
        "",
        table(by_package),
        "",
        "## Top 25 functions by own time (tottime), per step",
        "",
        table(top[columns]),
        "",
        "## Our library's functions by cumulative time, per step",
        "",
        table(ours[columns]),
        "",
    ]
    for label, kernels in (("ours", trace), ("PyTorch eager", theirs_trace)):
        if kernels is not None and not kernels.names.empty:
            parts += [
                f"## The 20 most frequent GPU kernels, {label}",
                "",
                table(kernels.names.head(20)),
                "",
            ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="build/profile.md")
    parser.add_argument("--model", default="alexnet_bn")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    text = report(args.model, args.batch, args.steps, args.warmup)
    atomic_write_text(Path(args.out), text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
