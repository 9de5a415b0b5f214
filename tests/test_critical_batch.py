"""Extraction (analysis.critical_batch, analysis.noise_trends) + the registry's criteria on
synthetic result tables: each McCandlish target says "no" where its phenomenon is absent and
"yes" where it is present."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import critical_batch as cb
from largebatch_sim.analysis import noise_trends as nt
from largebatch_sim.report import targets

BATCHES = (16, 32, 64, 128, 256, 512, 1024)
TARGET = 1.0


def fake_curves(steps_of_batch, lrs=(0.1, 0.2, 0.4), best=0.2):
    """Loss records per (batch, lr) that first reach TARGET at steps_of_batch(B) for the rate
    ``best`` and 1.5x later for the other rates."""
    rows = []
    for b in BATCHES:
        for lr in lrs:
            s = steps_of_batch(b) * (1.0 if lr == best else 1.5)
            steps = np.unique(np.r_[np.linspace(1, 3 * s, 200).round(), round(s)])
            value = 3.0 - 2.0 * steps / round(s)  # = TARGET at step round(s)
            rows.append(pd.DataFrame(dict(task="t", batch=b, lr=lr, step=steps, value=value)))
    return pd.concat(rows, ignore_index=True)


def fronts_of(steps_of_batch):
    best = cb.best_per_batch(fake_curves(steps_of_batch), {"t": (TARGET,)})
    return best, *cb.pareto_table(best)


def test_best_per_batch_picks_the_fastest_rate():
    best = cb.best_per_batch(fake_curves(lambda b: 100 + 1e4 / b), {"t": (TARGET,)})
    assert (best.best_lr == 0.2).all() and not best.lr_at_grid_edge.any()
    assert best.steps.tolist() == [round(100 + 1e4 / b) for b in BATCHES]


def test_steps_over_seeds_take_the_median_at_the_chosen_rate():
    hyperbola = lambda b: 100 + 1e4 / b  # noqa: E731
    chosen = fake_curves(hyperbola).assign(seed=0)
    best = cb.best_per_batch(chosen, {"t": (TARGET,)})
    cells = cb.best_cells(best)
    assert len(cells) == len(BATCHES) and set(cells.best_lr) == {0.2}
    # two more seeds at the chosen rate: one 20 % slower, one that never reaches the target
    slower = fake_curves(lambda b: 1.2 * hyperbola(b), lrs=(0.2,)).assign(seed=1)
    never = fake_curves(hyperbola, lrs=(0.2,)).assign(seed=2, value=5.0)
    seeded = cb.best_over_seeds(best, pd.concat([chosen, slower, never]))
    assert (seeded.seeds == 3).all()
    np.testing.assert_allclose(seeded.steps, seeded.steps_lo * 1.2, rtol=0.02)  # the median
    np.testing.assert_allclose(seeded.steps_chosen, best.steps)
    assert (seeded.examples == seeded.steps * seeded.batch).all()
    # most seeds never reaching the target leave the cell without steps
    mostly_never = cb.best_over_seeds(best, pd.concat([chosen, never, never.assign(seed=3)]))
    assert mostly_never.steps.isna().all() and mostly_never.steps_lo.notna().all()


def test_mf1_hyperbola_present_and_absent():
    _, fronts, _ = fronts_of(lambda b: 100 * (1 + 100 / b))
    assert targets.judge("M-F1", cb.mf1_tables(fronts)).verdict == "yes"
    # perfect scaling with a 2x zigzag: no hyperbola, B_crit beyond the range
    _, fronts, _ = fronts_of(lambda b: 1e5 / b * (2.0 if BATCHES.index(b) % 2 else 1.0))
    assert targets.judge("M-F1", cb.mf1_tables(fronts)).verdict == "no"


def test_mf1_too_few_batches_is_not_resolved():
    _, fronts, _ = fronts_of(lambda b: 100 * (1 + 100 / b))
    fronts = fronts.assign(points=4)
    assert targets.judge("M-F1", cb.mf1_tables(fronts)).verdict == "not resolved"


@pytest.mark.parametrize("b_simple, verdict", [(100.0, "yes"), (3000.0, "no")])
def test_mf3_and_mf4_follow_the_measured_noise_scale(b_simple, verdict):
    best, fronts, fitted = fronts_of(lambda b: 100 * (1 + 100 / b))
    points = cb.speed_points(best, fitted, {("t", TARGET): b_simple})
    assert targets.judge("M-F3", cb.mf3_table(points)).verdict == verdict
    # M-F4 over three (task, target) points
    many = pd.concat([fronts.assign(target=t) for t in (1.0, 0.8, 0.6)], ignore_index=True)
    many["B_simple_at_target"] = b_simple
    assert targets.judge("M-F4", cb.mf4_table(many)).verdict == verdict


def test_unresolved_b_simple_is_not_counted():
    best, fronts, fitted = fronts_of(lambda b: 100 * (1 + 100 / b))
    points = cb.speed_points(best, fitted, {("t", TARGET): np.nan})
    assert points.ratio.isna().all()
    assert targets.judge("M-F3", cb.mf3_table(points)).verdict == "not resolved"


@pytest.mark.parametrize("grows, verdict", [(True, "yes"), (False, "no")])
def test_mt1_growth(grows, verdict):
    table1 = pd.DataFrame(
        dict(
            task=["a", "b"],
            B_simple_start=[20.0, 50.0],
            B_simple_mean=[400.0, 900.0] if grows else [10.0, 30.0],
            B_crit_highest_target=[50.0, 100.0],
            B_crit_lowest_target=[200.0, 300.0] if grows else [40.0, 60.0],
        )
    )
    assert targets.judge("M-T1", cb.mt1_table(table1)).verdict == verdict


@pytest.mark.parametrize("saturates, verdict", [(True, "yes"), (False, "no")])
def test_mflr_linear_then_flat(saturates, verdict):
    b = np.array(BATCHES, float)
    lr = 0.5 * b / (100 + b) if saturates else np.full(b.size, 0.3) * (1 + 0.01 * (b == 64))
    best = pd.DataFrame(dict(task="t", target=TARGET, batch=b, best_lr=lr))
    fits_ = cb.lr_fit_table(best)
    assert targets.judge("M-F-lr", cb.mflr_tables(best, fits_)).verdict == verdict


def noise_frame(g2, trace, loss=None, n=200):
    f = pd.DataFrame(dict(step=np.arange(n), g2_est=g2, trace_est=trace))
    f["b_simple"] = f.trace_est / f.g2_est
    f["valid"] = f.g2_est > 0
    f["train_loss"] = loss if loss is not None else 1.0
    return f


@pytest.mark.parametrize("rises, verdict", [(True, "yes"), (False, "no")])
def test_mf_curve(rises, verdict):
    rng = np.random.default_rng(0)
    loss = np.geomspace(2.0, 0.2, 200)
    g2 = loss**2 if rises else rng.uniform(0.5, 1.5, 200)
    table = nt.curve_points({"t": noise_frame(g2, 10.0, loss)})
    assert targets.judge("M-F-curve", table).verdict == verdict


def test_mf_curve_keeps_unresolved_points_as_nan():
    f = noise_frame(np.r_[np.ones(100), -np.ones(100)], 10.0)
    assert nt.curve_points({"t": f}).b_simple.isna().sum() == 100


@pytest.mark.parametrize("cut_g2, verdict", [(0.1, "yes"), (1.0, "no")])
def test_mf15_temperature(cut_g2, verdict):
    pairs = [(noise_frame(1.0, 100.0), noise_frame(cut_g2 * k, 100.0)) for k in (0.9, 1.0, 1.1)]
    table = nt.mf15_table(nt.temperature_rises(pairs, factor=10.0))
    assert len(table) == 3  # a row per seed
    assert targets.judge("M-F15", table).verdict == verdict


def test_mf15_reads_the_mean_over_seeds():
    # rises of 4x and 16x: 0.4 and 1.6 of the predicted 10x, mean 1.0
    pairs = [(noise_frame(1.0, 100.0), noise_frame(g2, 100.0)) for g2 in (0.25, 1 / 16)]
    rises = nt.temperature_rises(pairs, factor=10.0)
    np.testing.assert_allclose(rises.rise, [4.0, 16.0])
    assert targets.judge("M-F15", nt.mf15_table(rises)).verdict == "yes"


def test_mf15_unresolved_window():
    pairs = [(noise_frame(1.0, 100.0), noise_frame(-0.1, 100.0))]
    table = nt.mf15_table(nt.temperature_rises(pairs, factor=10.0))
    assert targets.judge("M-F15", table).verdict == "not resolved"


@pytest.mark.parametrize("adaptive_steps, verdict", [(80.0, "yes"), (100.0, "no")])
def test_mf16_adaptive_cost(adaptive_steps, verdict):
    seeds = [0, 1, 2]
    fixed = pd.DataFrame(dict(seed=seeds, steps=[100.0, 101.0, 99.0], examples=12800.0))
    adaptive = pd.DataFrame(
        dict(seed=seeds, steps=[adaptive_steps + d for d in (0.0, 1.0, -1.0)], examples=12800.0)
    )
    table = nt.mf16_table(fixed, adaptive, r=128.0)
    assert targets.judge("M-F16", table).verdict == verdict
