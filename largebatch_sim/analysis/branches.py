"""The critical batch measured by branching: short runs at several batch sizes from checkpoints
of one training run (after Merrill et al. 2025, "Critical Batch Size Revisited").

Merrill et al. measure the critical batch locally, at a point of one run: from a checkpoint they
train short branches at larger batches on the same number of examples and call critical the
largest batch whose loss keeps pace with the run's. Here:

1. ``replay``: the reference run (a cached sweep run, ``RunConfig``) is trained again by the
   recipe that made it, with a hook that copies the parameters at the checkpoint steps.
2. ``branch``: from each checkpoint, for each batch B, one ensemble of ``len(seeds) x
   len(lr_factors)`` members initialised from the checkpoint's parameters, trained with the
   run's optimizer at a constant rate for ``examples / B`` steps on fresh data orders (one per
   seed), then evaluated on a fixed set (the first ``eval_examples`` of the training set, the
   same for every branch). Cached (``cached``).
3. ``progress_per_batch``: per (checkpoint, seed, batch), the best rate's loss decrease
   Delta L(B); the per-example efficiency eta(B) = Delta L(B) / Delta L(B0) against the
   smallest batch B0 on the same examples, and the speed-up per step eta(B) B / B0 (also,
   shown only, the examples B0 needed for the same loss, read off its recorded trajectory).
4. ``keep_pace_batch``: the largest batch whose eta stays >= 1 / overhead (overhead 1.2: 20 %
   more examples for the same progress, Zhang et al.'s tolerance), interpolated in log B.

Under McCandlish et al.'s model, progress per example at B is proportional to
1 / (1 + B / B_crit), so eta(B) = (1 + B0 / B_crit) / (1 + B / B_crit) and the batch where
eta = 1 / o is B = o B0 + (o - 1) B_crit: ``bcrit_from_overhead_batch`` inverts that, putting
the 20 %-overhead batch on the scale of the Pareto fit's B_crit (about 5x the batch itself).

Only models without batch norm or dropout are branched (``mlp``): a branch copies the
parameters, and a checkpoint of batch-norm running statistics is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..data import BatchSampler, FreshSampler, load_dataset
from ..nn.base import Layer
from ..nn.losses import scaled_gradient, softmax_cross_entropy
from ..nn.models import build_model
from ..runs import RunConfig, RunResult
from ..runs.memo import memoised
from ..runs.recipe import build_optimizer, gradient_scale, run_ensemble
from ..train import Hook, evaluate, train
from ..validate import ParameterError, check_integer, check_number, check_sequence

BRANCHABLE = ("mlp",)


class Snapshots(Hook):
    """Copies of the parameters after the given steps (counted from 1, as the history)."""

    def __init__(self, steps: Sequence[int]) -> None:
        self.steps = set(steps)
        self.params: dict[int, dict[str, Any]] = {}

    def after_step(self, step: int, model: Layer, loss: Any) -> None:
        if step + 1 in self.steps:  # a host int: no device read
            self.params[step + 1] = {k: v.copy() for k, v in model.named_params().items()}


class LossAlong(Hook):
    """The loss of every member on a fixed set (x, y) before each evaluation of the loop: the
    branch's trajectory, (step, losses (E,)) pairs on the host, NaN for a member the loop has
    dropped from the ensemble (``select_members``)."""

    def __init__(self, x: Any, y: Any, ensemble: int) -> None:
        self.x, self.y, self.ensemble = x, y, ensemble
        self.members = np.arange(ensemble)  # the original member of each row
        self.records: list[tuple[int, np.ndarray]] = []

    def before_evaluation(self, step: int, model: Layer) -> None:
        losses = np.full(self.ensemble, np.nan)
        losses[self.members] = evaluate(model, self.x, self.y)["test_loss"]
        self.records.append((step + 1, losses))

    def select_members(self, keep: np.ndarray) -> None:
        self.members = self.members[keep]


def _check_run(config: RunConfig) -> RunConfig:
    if not isinstance(config, RunConfig):
        raise ParameterError("run", config, "a RunConfig")
    if config.model not in BRANCHABLE:
        raise ParameterError(
            "run", config.model, f"a model in {BRANCHABLE} (branches copy parameters only)"
        )
    return config


def _data(config: RunConfig) -> Any:
    size = {} if config.data_size is None else {"num_samples": config.data_size}
    return load_dataset(config.data, seed=config.data_seed, **size)


def _sampler(config: RunConfig, data: Any, batch: int, seeds: Sequence[int]) -> Any:
    if config.fresh_samples:
        nominal_epoch = max(1, len(data.y_train) // batch)
        return FreshSampler(data.process, batch, list(seeds), steps_per_epoch=nominal_epoch)
    return BatchSampler(data.x_train, data.y_train, batch, seeds=list(seeds))


def _loss_fn(config: RunConfig) -> Any:
    return scaled_gradient(softmax_cross_entropy, gradient_scale(config))


def replay(config: RunConfig, checkpoints: Sequence[int]) -> tuple[RunResult, dict[str, Any]]:
    """Train the one-member run ``config`` through the recipe (``run_ensemble``) and keep its
    parameters (on the host) after each step in ``checkpoints``. Returns the run and
    {step: {name: (1, ...)}}."""
    snapshots = Snapshots(checkpoints)
    (result,) = run_ensemble([_check_run(config)], progress=False, hooks=[snapshots])
    params = {
        step: {k: backend.to_host(v) for k, v in p.items()} for step, p in snapshots.params.items()
    }
    return result, params


@dataclass(frozen=True)
class BranchSpec:
    """Branches from ``checkpoints`` (steps) of the run ``run``: at each batch of ``batches``
    (centre rate ``lrs[i]``, tried at ``lr_factors`` times it), on ``seeds`` data orders, each
    trained on ``examples`` examples (``examples // B`` steps, at least one) and evaluated on
    the first ``eval_examples`` training examples at ``points`` evenly spaced steps.

    Where some seed's best factor is the largest or the smallest tried, the grid is extended one
    step beyond that edge (the ratio of the two outermost factors), up to ``extend_rounds``
    times per batch and direction: a best rate at an edge of the grid is not known to be best.
    A single factor is a fixed rate, never extended."""

    run: RunConfig
    checkpoints: tuple[int, ...]
    batches: tuple[int, ...]
    lrs: tuple[float, ...]
    examples: int
    lr_factors: tuple[float, ...] = (0.5, 2**-0.5, 1.0, 2**0.5, 2.0)
    seeds: tuple[int, ...] = (1, 2, 3)
    eval_examples: int = 2048
    points: int = 8
    extend_rounds: int = 2

    def __post_init__(self) -> None:
        _check_run(self.run)
        positive = lambda n, v: check_integer(n, v, low=1)  # noqa: E731
        rate = lambda n, v: check_number(n, v, low=0, low_open=True)  # noqa: E731
        for name, item in (("checkpoints", positive), ("batches", positive)):
            values = check_sequence(name, getattr(self, name), item, min_length=1)
            if list(values) != sorted(set(values)):
                raise ParameterError(name, values, "increasing values")
            object.__setattr__(self, name, values)
        lrs = check_sequence("lrs", self.lrs, rate, min_length=1)
        if len(lrs) != len(self.batches):
            raise ParameterError("lrs", lrs, f"one rate per batch ({len(self.batches)})")
        object.__setattr__(self, "lrs", lrs)
        check_integer("examples", self.examples, low=1)
        check_integer("eval_examples", self.eval_examples, low=1)
        check_integer("points", self.points, low=1)
        check_integer("extend_rounds", self.extend_rounds, low=0)
        factors = check_sequence("lr_factors", self.lr_factors, rate, min_length=1)
        object.__setattr__(self, "lr_factors", factors)
        seeds = check_sequence("seeds", self.seeds, check_integer, min_length=1)
        object.__setattr__(self, "seeds", seeds)


def branch(spec: BranchSpec) -> pd.DataFrame:
    """One row per (checkpoint, batch, seed, lr, recorded step): the branch's ``steps``, the
    ``step`` reached, ``loss`` there on the evaluation set (NaN for a member that diverged),
    ``loss_start`` (the checkpoint's), and the run's training loss at the checkpoint
    (``run_loss``, its window mean). Not cached: see ``cached``."""
    config = spec.run
    result, params = replay(config, spec.checkpoints)
    data = _data(config)
    x_eval, y_eval = data.x_train[: spec.eval_examples], data.y_train[: spec.eval_examples]
    run_loss = result.history[result.history.metric == "train_loss"]
    rows = []
    for checkpoint in spec.checkpoints:
        if checkpoint not in params:
            continue  # the run stopped (diverged) before it
        window = run_loss[run_loss.step >= checkpoint]
        loss_run = float(window.value.iloc[0]) if len(window) else np.nan
        start = None
        for batch, lr in zip(spec.batches, spec.lrs, strict=True):
            factors, tried = spec.lr_factors, []
            for _ in range(spec.extend_rounds + 1):
                members = [(s, f) for s in spec.seeds for f in factors]
                model = _from_checkpoint(config, data, params[checkpoint], len(members))
                if start is None:
                    start = float(evaluate(model, x_eval, y_eval)["test_loss"][0])
                steps = max(1, spec.examples // batch)
                records = _train_branch(
                    config,
                    data,
                    model,
                    batch,
                    [(s, lr * f) for s, f in members],
                    steps,
                    (x_eval, y_eval),
                    spec.points,
                )
                for step, losses in records:
                    for e, (seed, factor) in enumerate(members):
                        rows.append(
                            dict(
                                checkpoint=checkpoint,
                                run_loss=loss_run,
                                batch=batch,
                                seed=seed,
                                lr=lr * factor,
                                lr_factor=factor,
                                steps=steps,
                                step=step,
                                loss_start=start,
                                loss=float(losses[e]),
                            )
                        )
                tried += [
                    (s, f, loss) for (s, f), loss in zip(members, records[-1][1], strict=True)
                ]
                factors = _beyond_the_edges(tried, spec.lr_factors)
                if not factors:
                    break
    return pd.DataFrame(rows)


def _from_checkpoint(config: RunConfig, data: Any, params: dict[str, Any], members: int) -> Layer:
    """An ensemble of ``members`` copies of the checkpoint's model."""
    model = build_model(config.model, data.in_shape, data.classes)
    model.init([0] * members, dtype=np.dtype(config.dtype))
    for name, p in model.named_params().items():
        p[...] = backend.asarray(params[name], dtype=model.dtype)
    return model


def _train_branch(
    config: RunConfig,
    data: Any,
    model: Layer,
    batch: int,
    members: Sequence[tuple[int, float]],
    steps: int,
    eval_set: tuple[Any, Any],
    points: int,
) -> list[tuple[int, np.ndarray]]:
    """Train ``model``'s members ((seed, rate) each) for ``steps`` steps at ``batch``: the
    (step, losses on ``eval_set``) records, NaN for a member that diverged or collapsed."""
    along = LossAlong(*eval_set, len(members))
    out = train(
        model,
        build_optimizer(config),
        np.tile(np.array([rate for _, rate in members]), (steps, 1)),
        _sampler(config, data, batch, [seed for seed, _ in members]),
        eval_every=max(1, steps // points),
        divergence_factor=config.divergence_factor,
        hooks=[along],
        progress=False,
        loss_fn=_loss_fn(config),
    )
    bad = out.summary.diverged.to_numpy() | out.summary.collapsed.to_numpy()
    return [(step, np.where(bad, np.nan, losses)) for step, losses in along.records]


def _beyond_the_edges(
    tried: Sequence[tuple[int, float, float]], factors: Sequence[float]
) -> tuple[float, ...]:
    """The factors one step beyond the tried grid's edges where some seed's best (lowest final
    loss) sits at that edge; none for a single factor (a fixed rate)."""
    if len(factors) < 2:
        return ()
    ordered = sorted(factors)
    up, down = ordered[-1] / ordered[-2], ordered[1] / ordered[0]
    table = pd.DataFrame(tried, columns=["seed", "factor", "loss"]).dropna()
    if table.empty:
        return ()
    lo, hi = min(f for _, f, _ in tried), max(f for _, f, _ in tried)
    best = table.loc[table.groupby("seed").loss.idxmin(), "factor"]
    return tuple([lo / down] * bool((best == lo).any()) + [hi * up] * bool((best == hi).any()))


def cached(spec: BranchSpec) -> pd.DataFrame:
    """``branch(spec)`` through a pickle under ``$LBSIM_CACHE/branches``."""
    if not isinstance(spec, BranchSpec):
        raise ParameterError("spec", spec, "a BranchSpec")
    return memoised(spec, "analysis/branches.py", branch)


def examples_to(loss: float, examples: np.ndarray, trajectory: np.ndarray) -> float:
    """Examples a trajectory (losses after ``examples``, from 0) needed to reach ``loss``:
    linear interpolation on its running minimum; its last examples where it never got that
    low (so the efficiency below is capped at 1), 0 where ``loss`` is at or above its start."""
    best_so_far = np.minimum.accumulate(np.asarray(trajectory, dtype=np.float64))
    return float(np.interp(loss, best_so_far[::-1], np.asarray(examples, float)[::-1]))


def progress_per_batch(table: pd.DataFrame) -> pd.DataFrame:
    """Per (checkpoint, seed, batch) of ``branch``'s table: the rate with the lowest final
    loss (``best_lr``, and whether it is at an edge of the tried factors), ``loss_end`` and
    ``examples`` of that branch, and its efficiency against the smallest batch B0:

    - ``eta``: its loss decrease over B0's on the same examples, the progress per example
      kept (1 / (1 + B / B_crit) relative to B0's under McCandlish et al.'s model while the
      loss falls about linearly in the examples; where the curve bends it flatters large
      batches, which lose less to the bend);
    - ``speedup`` = eta B / B0: progress per step over B0's;
    - ``eta_same_loss``: the examples B0's best branch needed to reach ``loss_end``
      (``examples_to`` on its recorded trajectory) over the examples batch B used, the
      definition of a 20 % overhead read literally; noisy where the branches reach a noise
      floor (B0's own value then falls below 1), so it is shown, not used.

    ``run_loss`` and ``loss_start`` are kept."""
    final = table[table.step == table.steps]
    rows = []
    for (checkpoint, seed, batch), g in final.groupby(["checkpoint", "seed", "batch"]):
        ok = g.dropna(subset=["loss"])
        best = ok.loc[ok.loss.idxmin()] if len(ok) else None
        factors = (g.lr_factor.min(), g.lr_factor.max())  # the grid as extended for this batch
        rows.append(
            dict(
                checkpoint=checkpoint,
                seed=seed,
                batch=batch,
                run_loss=g.run_loss.iloc[0],
                loss_start=g.loss_start.iloc[0],
                best_lr=np.nan if best is None else best.lr,
                lr_at_edge=best is not None and best.lr_factor in factors,
                loss_end=np.nan if best is None else best.loss,
                examples=g.steps.iloc[0] * batch,
            )
        )
    out = pd.DataFrame(rows)
    out["progress"] = out.loss_start - out.loss_end
    out["b0"] = out.groupby(["checkpoint", "seed"]).batch.transform("min")
    same_loss, eta = [], []
    for r in out.itertuples():
        ref = out[(out.checkpoint == r.checkpoint) & (out.seed == r.seed) & (out.batch == r.b0)]
        ref = ref.iloc[0]
        path = table[
            (table.checkpoint == r.checkpoint)
            & (table.seed == r.seed)
            & (table.batch == r.b0)
            & (table.lr == ref.best_lr)
        ].sort_values("step")
        if np.isnan(r.loss_end) or path.empty:
            same_loss.append(np.nan)
        else:
            examples = np.r_[0.0, path.step.to_numpy(float) * r.b0]
            losses = np.r_[r.loss_start, path.loss.to_numpy(float)]
            same_loss.append(examples_to(r.loss_end, examples, losses) / r.examples)
        eta.append(r.progress / ref.progress)
    out["eta"] = eta
    out["speedup"] = out.eta * out.batch / out.b0
    out["eta_same_loss"] = same_loss
    return out


def keep_pace_batch(progress: pd.DataFrame, overhead: float = 1.2) -> pd.DataFrame:
    """Per (checkpoint, seed): the largest batch keeping pace, ``eta >= 1 / overhead`` from the
    smallest batch up to it, interpolated in log B to where eta crosses 1 / overhead.
    ``censored``: "above" when every batch keeps pace (the value is the largest batch, a lower
    bound), "" otherwise. ``b_crit_equivalent`` is ``bcrit_from_overhead_batch`` of it."""
    check_number("overhead", overhead, low=1, low_open=True)
    rows = []
    for (checkpoint, seed), g in progress.groupby(["checkpoint", "seed"]):
        g = g.sort_values("batch")
        b, eta = g.batch.to_numpy(float), g.eta.to_numpy(float)
        level = 1 / overhead
        fails = np.flatnonzero(~(eta >= level))
        if fails.size == 0:
            value, censored = b[-1], "above"
        elif fails[0] == 0:
            value, censored = np.nan, "below"  # the reference itself made no progress
        else:
            i = fails[0]
            lo, hi = eta[i - 1], eta[i]
            t = (lo - level) / (lo - hi) if np.isfinite(hi) and lo != hi else 0.0
            value, censored = float(np.exp(np.log(b[i - 1]) + t * np.log(b[i] / b[i - 1]))), ""
        rows.append(
            dict(
                checkpoint=checkpoint,
                seed=seed,
                run_loss=g.run_loss.iloc[0],
                b_keep=value,
                censored=censored,
                b_crit_equivalent=bcrit_from_overhead_batch(value, b[0], overhead),
            )
        )
    return pd.DataFrame(rows)


def bcrit_from_overhead_batch(batch: float, b0: float, overhead: float = 1.2) -> float:
    """McCandlish et al.'s B_crit implied by the batch where the examples for the same progress
    reach ``overhead`` times those of the reference batch ``b0``: from
    (1 + b0 / B_crit) / (1 + B / B_crit) = 1 / o, B_crit = (B - o b0) / (o - 1). NaN where
    B <= o b0 (the overhead is reached at once: B_crit is below the grid)."""
    if not np.isfinite(batch) or batch <= overhead * b0:
        return np.nan
    return float((batch - overhead * b0) / (overhead - 1))
