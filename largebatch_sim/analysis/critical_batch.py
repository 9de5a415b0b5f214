"""The critical batch size from batch sweeps: steps to a target, Pareto fronts and their fits.

McCandlish et al. (2018): at the best rate per batch, steps S and examples E = B S to reach a
target loss follow (S / S_min - 1)(E / E_min - 1) = 1, with B_crit = E_min / S_min. The
functions here read tidy tables and build the tables the registry's criteria read (M-F1,
M-F3, M-F4, M-T1, M-F-lr):

- ``curves``: one row per (run, record) with ``batch``, ``lr``, ``step``, ``value`` (the
  window-averaged training loss) and optionally ``task`` and ``seed``;
- ``best``: one row per (task, target, batch) from ``best_per_batch``: ``steps``, ``examples``,
  ``best_lr`` and whether that rate sits at the edge of its grid;
- ``fronts``: one row per (task, target) from ``pareto_table``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import fits

MIN_FRONT_POINTS = 5  # batch sizes a front needs before its hyperbola is judged (M-F1)


def steps_to(curve: pd.DataFrame, target: float) -> float:
    """First recorded step whose (window-averaged) training loss is <= target; NaN if never."""
    hit = curve[curve.value <= target]
    return float(hit.step.iloc[0]) if len(hit) else np.nan


def best_per_batch(curves: pd.DataFrame, targets: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Per task, target and batch: the fewest steps over the rate grid, and that rate.

    ``curves`` as in the module docstring (a missing ``task`` column is read as one task named
    by the single key of ``targets``). Ties go to the lower rate. ``lr_at_grid_edge`` flags a
    best rate at the lowest or highest rate tried (docs/DESIGN.md, "Grids")."""
    if "task" not in curves:
        (only,) = targets
        curves = curves.assign(task=only)
    rows = []
    for task, per_task in curves.groupby("task", sort=False):
        for target in targets[task]:
            for batch, per_batch in per_task.groupby("batch"):
                by_lr = {lr: steps_to(c, target) for lr, c in per_batch.groupby("lr")}
                reached = {lr: s for lr, s in by_lr.items() if np.isfinite(s)}
                lrs = sorted(by_lr)
                if reached:
                    lr = min(reached, key=lambda k: (reached[k], k))
                    edge, steps = lr in (lrs[0], lrs[-1]), reached[lr]
                else:
                    lr, edge, steps = np.nan, False, np.nan
                rows.append(
                    dict(
                        task=task,
                        target=target,
                        batch=batch,
                        steps=steps,
                        examples=steps * batch,
                        best_lr=lr,
                        lr_at_grid_edge=edge,
                        lrs_reaching=len(reached),
                        lrs_tried=len(lrs),
                    )
                )
    return pd.DataFrame(rows)


def best_cells(best: pd.DataFrame) -> pd.DataFrame:
    """The distinct (task, batch, best_lr) cells that are some target's best rate in ``best``:
    the runs to repeat on more seeds (``lr_tuning.with_seeds`` reads this table)."""
    cells = best.dropna(subset=["best_lr"])[["task", "batch", "best_lr"]]
    return cells.drop_duplicates().reset_index(drop=True)


def best_over_seeds(best: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``best`` (each rate chosen on one seed) with its steps read on every seed of ``curves``
    (column ``seed``) at that rate: ``steps`` becomes the median over the seeds, ``examples``
    = batch x steps; ``seeds`` counts them, ``steps_lo`` / ``steps_hi`` give their range, and
    ``steps_chosen`` keeps the choosing seed's. A seed that never reaches the target counts as
    infinitely slow, so the median is NaN unless most seeds reach it.

    The choosing seed's steps are the fewest of its grid, so biased low by the choice; the other
    seeds at that rate are not chosen, and the median tempers the winner's curse."""
    out = best.copy()
    columns = {"steps_chosen": [], "steps_lo": [], "steps_hi": [], "seeds": [], "steps": []}
    for r in best.itertuples(index=False):
        per_seed = np.array([])
        if np.isfinite(r.best_lr):
            at = curves[
                (curves.task == r.task)
                & (curves.batch == r.batch)
                & np.isclose(curves.lr.to_numpy(float), r.best_lr)
            ]
            per_seed = np.array(
                [steps_to(c.sort_values("step"), r.target) for _, c in at.groupby("seed")]
            )
        reached = per_seed[np.isfinite(per_seed)]
        median = float(np.median(np.where(np.isfinite(per_seed), per_seed, np.inf)))
        columns["steps_chosen"].append(r.steps)
        columns["steps_lo"].append(reached.min() if reached.size else np.nan)
        columns["steps_hi"].append(reached.max() if reached.size else np.nan)
        columns["seeds"].append(per_seed.size)
        columns["steps"].append(median if per_seed.size and np.isfinite(median) else np.nan)
    for name, values in columns.items():
        out[name] = values
    out["examples"] = out.steps * out.batch
    return out


def pareto_table(
    best: pd.DataFrame, se: str = "covariance", n_boot: int = 1000
) -> tuple[pd.DataFrame, dict[tuple[str, float], fits.ParetoFit]]:
    """``fits.fit_pareto`` per (task, target) on the batches that reached the target, its
    errors by ``se`` (``fits.SE_METHODS``; bootstrap: ``n_boot`` resamples of the batches).

    Columns: points, S_min, E_min, B_crit, B_crit_se, rms_log_residual (of log steps against
    the fitted curve), b_min / b_max (the measured batch range), B_crit_inside. Fronts with
    fewer than 3 points have NaN fits. Returns the table and the fits by (task, target)."""
    rows, fitted = [], {}
    for (task, target), pts in best.groupby(["task", "target"], sort=False):
        pts = pts.dropna(subset=["steps"])
        row = dict(
            task=task,
            target=target,
            points=len(pts),
            S_min=np.nan,
            E_min=np.nan,
            B_crit=np.nan,
            B_crit_se=np.nan,
            rms_log_residual=np.nan,
            b_min=pts.batch.min() if len(pts) else np.nan,
            b_max=pts.batch.max() if len(pts) else np.nan,
        )
        if len(pts) >= 3:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = fits.fit_pareto(pts.batch, pts.steps, se=se, n_boot=n_boot)
                except RuntimeError:  # too few resamples could be fitted: no error bar
                    fit = fits.fit_pareto(pts.batch, pts.steps)
                    fit = dataclasses.replace(
                        fit, s_min_se=np.nan, e_min_se=np.nan, b_crit_se=np.nan
                    )
            resid = np.log(fit.steps(pts.batch.to_numpy(float)) / pts.steps.to_numpy(float))
            row.update(
                S_min=fit.s_min,
                E_min=fit.e_min,
                B_crit=fit.b_crit,
                B_crit_se=fit.b_crit_se,
                rms_log_residual=float(np.sqrt(np.mean(resid**2))),
            )
            fitted[task, target] = fit
        row["B_crit_inside"] = bool(row["b_min"] <= row["B_crit"] <= row["b_max"])
        rows.append(row)
    return pd.DataFrame(rows), fitted


def mf1_tables(fronts: pd.DataFrame, min_points: int = MIN_FRONT_POINTS) -> dict[str, pd.DataFrame]:
    """M-F1's parts over the fronts with >= ``min_points`` batch sizes: the largest RMS log
    residual of the hyperbola, and the fraction of fronts with B_crit inside the batch range.
    Without such a front both values are NaN (not resolved)."""
    judged = fronts[(fronts.points >= min_points) & np.isfinite(fronts.B_crit)]
    worst = float(judged.rms_log_residual.max()) if len(judged) else np.nan
    inside = float(judged.B_crit_inside.mean()) if len(judged) else np.nan
    return {
        "hyperbola fits": pd.DataFrame({"value": [worst]}),
        "B_crit inside": pd.DataFrame({"value": [inside]}),
    }


def speed_points(
    best: pd.DataFrame,
    fitted: Mapping[tuple[str, float], fits.ParetoFit],
    b_simple: Mapping[tuple[str, float], float],
) -> pd.DataFrame:
    """M-F3's points: per (task, target, batch), the measured speed S_min / S(B) and the
    predicted 1 / (1 + B_simple / B), B_simple measured at that target by the noise
    instrument (NaN where unresolved; such points are kept, with ratio NaN)."""
    rows = []
    for (task, target), fit in fitted.items():
        bs = b_simple.get((task, target), np.nan)
        pts = best[(best.task == task) & (best.target == target)].dropna(subset=["steps"])
        for p in pts.itertuples():
            speed = fit.s_min / p.steps
            predicted = 1 / (1 + bs / p.batch) if np.isfinite(bs) and bs > 0 else np.nan
            rows.append(
                dict(
                    task=task,
                    target=target,
                    batch=p.batch,
                    B_simple=bs,
                    B_over_Bsimple=p.batch / bs if np.isfinite(predicted) else np.nan,
                    speed=speed,
                    predicted=predicted,
                    ratio=speed / predicted,
                    lr=p.best_lr,
                )
            )
    columns = [
        "task",
        "target",
        "batch",
        "B_simple",
        "B_over_Bsimple",
        "speed",
        "predicted",
        "ratio",
        "lr",
    ]
    return pd.DataFrame(rows, columns=columns)


def mf3_table(points: pd.DataFrame) -> pd.DataFrame:
    """M-F3's table: the median measured / predicted speed over the defined points."""
    ratio = points.ratio.to_numpy(float)
    ratio = ratio[np.isfinite(ratio)]
    return pd.DataFrame({"value": [float(np.median(ratio)) if ratio.size else np.nan]})


def mf4_table(fronts: pd.DataFrame) -> pd.DataFrame:
    """M-F4's table: a = B_crit of the fit, b = B_simple at the target (column
    ``B_simple_at_target``; NaN where unresolved, which the criterion does not count)."""
    return pd.DataFrame(
        {
            "pair": [f"{t} {g:g}" for t, g in zip(fronts.task, fronts.target, strict=True)],
            "a": fronts.B_crit.to_numpy(float),
            "b": fronts.B_simple_at_target.to_numpy(float),
        }
    )


def mt1_table(table1: pd.DataFrame) -> pd.DataFrame:
    """M-T1's rows per task: (B_simple average, B_simple start) and (B_crit at the lowest
    target, B_crit at the highest). ``table1``: task, B_simple_start, B_simple_mean,
    B_crit_highest_target, B_crit_lowest_target."""
    rows = []
    for r in table1.itertuples():
        rows.append(dict(pair=f"{r.task}: B_simple", a=r.B_simple_mean, b=r.B_simple_start))
        rows.append(
            dict(pair=f"{r.task}: B_crit", a=r.B_crit_lowest_target, b=r.B_crit_highest_target)
        )
    return pd.DataFrame(rows, columns=["pair", "a", "b"])


def lr_fit_table(best: pd.DataFrame, min_points: int = 3) -> pd.DataFrame:
    """``fits.fit_lr`` per task on its best rates (one target per task in ``best``): eps_max,
    B_star, B_star_se, and B_star's position in the batch range on a log scale (0 = smallest,
    1 = largest batch)."""
    rows = []
    for task, pts in best.dropna(subset=["best_lr"]).groupby("task", sort=False):
        row = dict(task=task, eps_max=np.nan, B_star=np.nan, B_star_se=np.nan, position=np.nan)
        if pts.batch.nunique() >= min_points:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = fits.fit_lr(pts.batch, pts.best_lr)
            lo, hi = np.log(pts.batch.min()), np.log(pts.batch.max())
            # B* <= 0 (no linear region at all) sits far below the range, not undefined
            b_star = max(f.b_star, pts.batch.min() * 1e-9)
            position = (np.log(b_star) - lo) / (hi - lo)
            row.update(eps_max=f.eps_max, B_star=f.b_star, B_star_se=f.b_star_se, position=position)
        rows.append(row)
    return pd.DataFrame(rows)


def mflr_tables(best: pd.DataFrame, lr_fits: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """M-F-lr's parts: (grows) the best rate, as a fraction of its task's largest best rate,
    against the batch, pooled over tasks; (saturates inside) B*'s position per task."""
    pts = best.dropna(subset=["best_lr"])
    top = pts.groupby("task").best_lr.transform("max")
    return {
        "grows": pd.DataFrame({"batch": pts.batch.to_numpy(float), "best_lr": pts.best_lr / top}),
        "saturates inside": pd.DataFrame({"value": lr_fits.position.to_numpy(float)}),
    }
