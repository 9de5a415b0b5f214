"""``lbsim``: train from the command line.

    lbsim train --data digits --model mlp --batch 256 --lr 0.1 --warmup gradual --warmup-epochs 2
    lbsim train --data mnist1d --model alexnet_bn --batch 1024 --lr 0.05 0.1 0.2   # an ensemble
    lbsim sweep runs.toml --workers 4 # a sweep file's runs, spread over 4 local processes
    lbsim sweep runs.toml --scheduler tcp://host:8786   # ... or over a Dask cluster
    lbsim cache list                  # cached runs by code version
    lbsim cache prune --other-versions --older-than 30
    lbsim explore                     # the explorer in the browser (prints its address)

Every option of ``train`` is a field of ``RunConfig``; giving several values to ``--lr`` or
``--seed`` trains all their combinations at once as one ensemble. Runs are cached (in
``$LBSIM_CACHE``, default ``~/.cache/largebatch_sim``): asking again for a run already trained
by the same code reads it back. Every argument is checked before any compute; a bad one is
reported on one line, with exit status 2. The format of a sweep file is described in
``largebatch_sim/runs/sweep_file.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from . import backend
from .atomic import atomic_write_text
from .data import DATASETS, GENERATED, load_dataset
from .runs import ENSEMBLE_FIELDS, ResultCache, RunConfig, results_frame, run_ensemble, sweep
from .runs.config import read_config_file
from .runs.recipe import describe_schedule
from .runs.sweep_file import read_sweep_file
from .validate import check_number, check_output_dir, check_output_path

HELP = {
    "data": "data set (embedded ones need no download)",
    "data_size": "examples to generate for mnist1d / synthetic sets (default: the set's own)",
    "fresh_samples": "draw every training batch new from a synthetic set's process",
    "model": "model builder",
    "batch": "global batch size B = workers x per-worker batch",
    "workers": "simulated data-parallel workers k; batch norm sees B/k examples each",
    "lr": "base learning rate at --base-batch (several values: an ensemble)",
    "base_batch": "batch size at which --lr is the learning rate",
    "scaling": "learning-rate scaling rule from the base batch (legw: sqrt, warmup x k)",
    "schedule": "decay after warmup",
    "milestones": "fractions of training where the step schedule divides the rate by 10",
    "warmup": "warmup strategy: Goyal et al.'s constant or gradual (per iteration), or "
    "staircase (PyTorch's GradualWarmupScheduler stepped per epoch; _shifted: stepped once first)",
    "warmup_epochs": "warmup length in epochs",
    "warmup_start": "learning rate at the start of warmup (default: the unscaled --lr)",
    "epochs": "training length in epochs",
    "optimizer": "sgd, lars (You et al. 2017, Algorithm 1), adamw or lamb (You et al. 2020)",
    "momentum": "momentum coefficient",
    "nesterov": "Nesterov momentum (SGD, LARS)",
    "weight_decay": "L2 weight decay coefficient",
    "no_weight_decay_on": "parameter kinds excluded from weight decay",
    "lr_in_momentum": "learning rate inside the momentum buffer, v = m v + lr g "
    "(default: SGD outside, LARS inside, as in the papers)",
    "trust_coefficient": "LARS trust coefficient eta",
    "lars_denominator": "LARS denominator: ||g|| + wd ||w|| (paper) or ||g + wd w|| (optax)",
    "lars_clip": "LARC clip mode: effective rate min(lr, local rate)",
    "lars_zero_norm_ratio": "LARS trust ratio where ||w|| = 0: 1 (moves at the global rate) or "
    "0 (the paper's literal formula: never moves)",
    "no_adaptation_on": "parameter kinds excluded from the LARS / LAMB trust ratio",
    "adam_b1": "AdamW / LAMB: decay of the first moment",
    "adam_b2": "AdamW / LAMB: decay of the second moment",
    "adam_eps": "AdamW / LAMB: epsilon added to sqrt(v_hat)",
    "momentum_correction": "with the lr inside the buffer, rescale it by lr_t / lr_{t-1} "
    "(Goyal remark 2)",
    "loss_scale": "multiply the loss's gradient, not the weight decay (Goyal remark 1)",
    "loss_normalizer": "normalise by the global batch kn, or by each worker's n and sum "
    "(Goyal remark 3)",
    "worker_shuffle": "one shuffle per epoch split among workers, or one per worker "
    "(Goyal remark 4)",
    "width": "scale the channels of cnn_bn and the AlexNet-like nets",
    "dropout": "dropout probability in the AlexNet-like nets",
    "zero_init_last_bn": "ResNet: the last BN of each block starts at gamma = 0",
    "seed": "initialisation and data-order seed (several values: an ensemble)",
    "data_seed": "seed that generates the data set",
    "norm_ratio_steps": "steps at which to record per-layer ||w|| / ||grad w||",
    "noise_chunks": "noise-scale instrument: split the batch into this many chunks "
    "(B_small = batch / chunks); 0 = off",
    "noise_every": "record the noise-scale norms every this many steps",
    "trust_ratio_every": "record LARS's / LAMB's per-layer trust ratios every this many steps "
    "(0: off)",
    "evals": "number of evaluations over the run",
    "trace_loss": "keep the training loss of every step (table loss_trace)",
    "precise_bn_examples": "training examples that recompute batch-norm statistics before each "
    "evaluation (precise BN; 0: running averages)",
    "divergence_factor": "a run diverged when its loss exceeds this multiple of the first",
    "dtype": "floating-point type of parameters and activations",
    "augment_copies": "batch augmentation: M augmented copies of each unique example in one "
    "batch (1: none)",
    "augment_strength": "strength of the augmentations (0: none, 1: the declared ranges)",
    "auto_warmup_every": "warmup auto (AutoWU): read the training loss every this many steps "
    "(0: once per epoch)",
}
FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
FILE_DATASETS = tuple(d for d in DATASETS if d not in GENERATED and d != "digits")
CHOICES = {
    "data": "DATASETS",
    "model": "MODELS",
    "scaling": "SCALING_RULES",
    "schedule": "SCHEDULES",
    "warmup": "WARMUPS",
    "optimizer": "OPTIMIZERS",
    "dtype": "DTYPES",
    "loss_normalizer": "LOSS_NORMALIZERS",
    "worker_shuffle": "WORKER_SHUFFLES",
}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    from .runs import config as run_config

    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        shown = "" if "default" in HELP[f.name] else f" (default: {f.default})"
        kwargs: dict = {"help": HELP[f.name] + shown, "default": f.default}
        if f.name in CHOICES:
            kwargs["choices"] = getattr(run_config, CHOICES[f.name])
        if hint is bool or bool in typing.get_args(hint):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.name in ENSEMBLE_FIELDS:
            kwargs.update(nargs="+", type=type(f.default), default=[f.default])
        elif typing.get_origin(hint) is tuple:
            inner = typing.get_args(hint)[0]
            kwargs.update(nargs="*", type=inner)
            if f.name.startswith("no_"):
                kwargs["choices"] = run_config.KINDS
        else:
            base = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
            kwargs["type"] = base[0]
        parser.add_argument(flag, **kwargs)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a refused argument reported as one line (``lbsim train: error: ...``),
    status 2, like every other bad input; ``--help`` still shows the usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(config_file: Mapping[str, Any] | None = None) -> argparse.ArgumentParser:
    """The ``lbsim`` parser; ``config_file``'s values become the defaults of ``train``'s options
    (so flags on the command line override the file)."""
    parser = OneLineParser(
        prog="lbsim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=backend.BACKENDS, default="auto", help="array backend")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train one run, or an ensemble over --lr, --seed and the other per-member options",
    )
    _add_config_options(train)
    train.add_argument(
        "--config", metavar="FILE", help="a .toml or .json file of RunConfig fields (flags win)"
    )
    if config_file:
        train.set_defaults(  # the ensemble fields' options hold lists
            **{
                k: [v] if k in ENSEMBLE_FIELDS and not isinstance(v, list) else v
                for k, v in config_file.items()
            }
        )
    train.add_argument(
        "--cache", metavar="DIR", help="the result cache's folder (default: $LBSIM_CACHE/runs)"
    )
    train.add_argument("--no-cache", action="store_true", help="train even if the run is cached")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--download",
        action="store_true",
        help="fetch MNIST / Fashion-MNIST / CIFAR-10 (checksummed) into $LBSIM_DATA if missing",
    )
    train.add_argument("--history", metavar="CSV", help="write the tidy history to this file")
    spread = sub.add_parser("sweep", help="train every run of a sweep file (TOML)")
    spread.add_argument(
        "file", metavar="FILE", help="a .toml sweep file ([common], [[grid]], [[run]])"
    )
    where = spread.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", metavar="N", type=int, help="spread the ensembles over N local processes"
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="spread them over a Dask cluster (tcp://host:8786)"
    )
    spread.add_argument("--cache", metavar="DIR", help="the result cache's folder (shared)")
    spread.add_argument("--out", metavar="CSV", help="write the summary table to this file")
    spread.add_argument("--quiet", action="store_true", help="no progress bar")
    cache = sub.add_parser("cache", help="list or prune the result cache")
    cache.add_argument("action", choices=("list", "prune"))
    cache.add_argument("--cache", metavar="DIR", help="the cache's folder")
    cache.add_argument(
        "--other-versions",
        action="store_true",
        help="prune: remove runs trained by another version of the code (never read again)",
    )
    cache.add_argument(
        "--older-than", metavar="DAYS", type=float, help="prune: remove runs older than this"
    )
    explore = sub.add_parser(
        "explore", help="serve the explorer (live runs, the quadratic model, the cache) locally"
    )
    explore.add_argument("--port", type=int, default=8866, help="port to serve on")
    explore.add_argument("--ip", default="127.0.0.1", help="address to serve on")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "config", None):
            args = build_parser(read_config_file(args.config)).parse_args(argv)
        backend.set_backend(args.backend)
        if args.command == "cache":
            return _cache_command(args)
        if args.command == "sweep":
            return _sweep_command(args)
        if args.command == "explore":
            from .explore.server import serve  # Voila and the widgets only when asked for

            serve(args.port, args.ip)
        configs = _configs(args)
        history = None if args.history is None else check_output_path("--history", args.history)
        cache = None if args.no_cache else _cache(args)
    except ValueError as error:  # ParameterError among them: one line, no traceback
        print(f"lbsim: error: {error}", file=sys.stderr)
        return 2
    first = configs[0]
    print(f"{first.model} on {first.data}, batch {first.batch}, {backend.backend_name()}")
    for lr in args.lr:
        print(describe_schedule(dataclasses.replace(first, lr=lr)))
    if args.download and args.data in FILE_DATASETS:
        load_dataset(args.data, download=True)
    if cache is None:
        results = run_ensemble(configs, progress=not args.quiet)
    else:
        results = sweep(configs, cache, progress=not args.quiet)
    table = pd.DataFrame([{"lr": r.config.lr, "seed": r.config.seed, **r.summary} for r in results])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for r in results:
        if r.summary["diverged"]:
            print(
                f"lr {r.config.lr:g}, seed {r.config.seed}: diverged at step "
                f"{r.summary['diverged_step']} (its final metrics are NaN)"
            )
        elif r.summary["collapsed"]:
            print(
                f"lr {r.config.lr:g}, seed {r.config.seed}: collapsed to chance at step "
                f"{r.summary['collapsed_step']}"
            )
    if history is not None:
        frames = [r.history.assign(lr=r.config.lr, seed=r.config.seed) for r in results]
        atomic_write_text(history, pd.concat(frames).to_csv(index=False))
    return 0


def _configs(args: argparse.Namespace) -> list[RunConfig]:
    """One config per combination of the ensemble fields' values."""
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    common = {k: v for k, v in vars(args).items() if k in fields and k not in ENSEMBLE_FIELDS}
    grids = {k: getattr(args, k) for k in ENSEMBLE_FIELDS}
    return [
        RunConfig(**common, **dict(zip(grids, values, strict=True)))
        for values in itertools.product(*grids.values())
    ]


def _cache(args: argparse.Namespace) -> ResultCache:
    """The result cache of ``--cache`` (checked under the flag's name), or the default one."""
    if args.cache is None:
        return ResultCache()
    return ResultCache(check_output_dir("--cache", args.cache))


def _sweep_command(args: argparse.Namespace) -> int:
    """Every run of the sweep file, in process or spread over ``--workers`` / ``--scheduler``."""
    configs = read_sweep_file(args.file)
    from .runs.executors import as_executor  # Dask only for sweeps: `lbsim train` runs without it

    executor = as_executor(args.scheduler if args.workers is None else args.workers)
    out = None if args.out is None else check_output_path("--out", args.out)
    cache = _cache(args)
    try:
        results = sweep(configs, cache, progress=not args.quiet, executor=executor)
    finally:
        if executor is not None:
            executor.close()
    table = results_frame(results)
    varying = [c for c in table.columns if c in FIELDS and table[c].astype(str).nunique() > 1]
    shown = table[["run", *varying, "final_test_acc", "diverged"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out is not None:
        atomic_write_text(out, table.to_csv(index=False))
    return 0


def _cache_command(args: argparse.Namespace) -> int:
    cache = _cache(args)
    if args.action == "prune":
        older = (
            None
            if args.older_than is None
            else check_number("--older-than", args.older_than, low=0)
        )
        removed = cache.prune(other_versions=args.other_versions, older_than_days=older)
        print(f"removed {removed} cached runs from {cache.root}")
    table = cache.versions()
    if table.empty:
        print(f"no cached runs in {cache.root}")
    else:
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
