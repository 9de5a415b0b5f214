"""``lbsim``: train from the command line.

    lbsim train --data digits --model mlp --batch 256 --lr 0.1 --warmup gradual --warmup-epochs 2
    lbsim train --data mnist1d --model alexnet_bn --batch 1024 --lr 0.05 0.1 0.2   # an ensemble

Every option is a field of ``RunConfig``; giving several values to ``--lr`` or ``--seed`` trains
all their combinations at once as one ensemble.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import typing
from collections.abc import Sequence

import pandas as pd

from . import backend
from .data import DATASETS, GENERATED, load_dataset
from .runs import ENSEMBLE_FIELDS, ResultCache, RunConfig, run_ensemble, sweep

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
    "warmup": "warmup strategy (Goyal et al.)",
    "warmup_epochs": "warmup length in epochs",
    "warmup_start": "learning rate at the start of warmup (default: the unscaled --lr)",
    "epochs": "training length in epochs",
    "optimizer": "sgd or lars (You et al. Algorithm 1)",
    "momentum": "momentum coefficient",
    "nesterov": "Nesterov momentum (SGD)",
    "weight_decay": "L2 weight decay coefficient",
    "no_weight_decay_on": "parameter kinds excluded from weight decay",
    "lr_in_momentum": "learning rate inside the momentum buffer, v = m v + lr g "
    "(default: SGD outside, LARS inside, as in the papers)",
    "trust_coefficient": "LARS trust coefficient eta",
    "lars_denominator": "LARS denominator: ||g|| + wd ||w|| (paper) or ||g + wd w|| (optax)",
    "lars_clip": "LARC clip mode: effective rate min(lr, local rate)",
    "lars_zero_norm_ratio": "LARS trust ratio where ||w|| = 0: 1 (moves at the global rate) or "
    "0 (the paper's literal formula: never moves)",
    "no_adaptation_on": "parameter kinds excluded from LARS adaptation",
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
    "evals": "number of evaluations over the run",
    "trace_loss": "keep the training loss of every step (table loss_trace)",
    "precise_bn_examples": "training examples that recompute batch-norm statistics before each "
    "evaluation (precise BN; 0: running averages)",
    "divergence_factor": "a run diverged when its loss exceeds this multiple of the first",
    "dtype": "floating-point type of parameters and activations",
}
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
        kwargs: dict = {"help": f"{HELP[f.name]} (default: {f.default})", "default": f.default}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbsim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=backend.BACKENDS, default="auto", help="array backend")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one run, or an ensemble over --lr and --seed")
    _add_config_options(train)
    train.add_argument("--cache", metavar="DIR", help="reuse and store results in this cache")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--download",
        action="store_true",
        help="fetch MNIST / Fashion-MNIST / CIFAR-10 (checksummed) into $LBSIM_DATA if missing",
    )
    train.add_argument("--history", metavar="CSV", help="write the tidy history to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        backend.set_backend(args.backend)
        fields = {f.name for f in dataclasses.fields(RunConfig)}
        common = {k: v for k, v in vars(args).items() if k in fields and k not in ENSEMBLE_FIELDS}
        common = {k: tuple(v) if isinstance(v, list) else v for k, v in common.items()}
        configs = [
            RunConfig(**common, lr=lr, seed=seed)
            for lr, seed in itertools.product(args.lr, args.seed)
        ]
    except (ValueError, RuntimeError) as error:
        print(f"lbsim: error: {error}", file=sys.stderr)
        return 2
    progress = not args.quiet
    if args.download and args.data in FILE_DATASETS:
        load_dataset(args.data, download=True)
    if args.cache:
        results = sweep(configs, ResultCache(args.cache), progress=progress)
    else:
        results = run_ensemble(configs, progress=progress)
    rows = [{"lr": r.config.lr, "seed": r.config.seed, **r.summary} for r in results]
    table = pd.DataFrame(rows)
    first = configs[0]
    print(f"{first.model} on {first.data}, batch {first.batch}, {backend.backend_name()}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.history:
        frames = [r.history.assign(lr=r.config.lr, seed=r.config.seed) for r in results]
        pd.concat(frames).to_csv(args.history, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
