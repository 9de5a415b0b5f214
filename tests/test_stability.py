"""The largest stable learning rate, read off made-up (batch, lr) grids with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis.stability import (
    RESULT_COLUMNS,
    boundary_lrs,
    largest_stable_lr,
    thresholds_by_setting,
    unstable_runs,
    with_plain_rows,
)


def _grid(cells):
    """cells: (batch, lr, diverged, collapsed, final_train_loss)."""
    return pd.DataFrame(
        cells, columns=["batch", "lr", "diverged", "collapsed", "final_train_loss"]
    ).sample(frac=1.0, random_state=0)  # row order must not matter


def test_monotone_grid_per_batch():
    grid = _grid(
        [
            (32, 0.1, False, False, 0.5),
            (32, 0.2, False, False, 0.6),
            (32, 0.4, True, False, np.nan),
            (32, 0.8, True, False, np.nan),
            (256, 0.1, False, False, 0.9),
            (256, 0.2, False, False, 0.7),
            (256, 0.4, False, False, 0.8),
            (256, 0.8, False, True, 2.30),  # collapsed at chance counts as unstable
        ]
    )
    table = largest_stable_lr(grid).set_index("batch")
    assert list(table.reset_index().columns) == list(RESULT_COLUMNS)
    assert table.loc[32, "largest_stable_lr"] == 0.2
    assert table.loc[32, "first_unstable_lr"] == 0.4
    assert table.loc[256, "largest_stable_lr"] == 0.4
    assert table.loc[256, "first_unstable_lr"] == 0.8
    assert table.loc[32, "lrs_tried"] == 4 and table.loc[32, "lrs_stable"] == 2
    assert not table.censored.any() and not table.non_monotone.any()


def test_non_monotone_takes_the_top_of_the_stable_run_from_below():
    # 0.4 blew up, 0.8 survived by luck: the largest stable lr is 0.2, not 0.8
    grid = _grid(
        [
            (64, 0.1, False, False, 0.5),
            (64, 0.2, False, False, 0.5),
            (64, 0.4, True, False, np.inf),
            (64, 0.8, False, False, 0.7),
            (64, 1.6, True, False, np.nan),
        ]
    )
    row = largest_stable_lr(grid).iloc[0]
    assert row.largest_stable_lr == 0.2
    assert row.first_unstable_lr == 0.4
    assert row.largest_stable_any_lr == 0.8
    assert row.non_monotone and not row.censored


def test_all_unstable_gives_nan_and_all_stable_is_censored():
    grid = _grid(
        [
            (128, 0.5, True, False, np.nan),
            (128, 1.0, False, True, 2.3),
            (512, 0.5, False, False, 0.3),
            (512, 1.0, False, False, 0.4),
        ]
    )
    table = largest_stable_lr(grid).set_index("batch")
    assert math.isnan(table.loc[128, "largest_stable_lr"])
    assert math.isnan(table.loc[128, "largest_stable_any_lr"])
    assert table.loc[128, "first_unstable_lr"] == 0.5
    assert table.loc[128, "lrs_stable"] == 0
    assert table.loc[512, "largest_stable_lr"] == 1.0  # the top of the grid ...
    assert table.loc[512, "censored"]  # ... and the true threshold lies above it
    assert math.isnan(table.loc[512, "first_unstable_lr"])


def test_one_unstable_seed_makes_its_learning_rate_unstable():
    grid = _grid(
        [
            (32, 0.1, False, False, 0.5),
            (32, 0.1, False, False, 0.5),
            (32, 0.2, False, False, 0.5),
            (32, 0.2, True, False, np.nan),
        ]
    )
    row = largest_stable_lr(grid).iloc[0]
    assert row.largest_stable_lr == 0.1 and row.lrs_tried == 2


def test_loss_threshold_is_opt_in():
    grid = _grid(
        [
            (32, 0.1, False, False, 0.5),
            (32, 0.2, False, False, 1.9),  # not diverged, but far from trained
            (32, 0.4, False, False, 0.6),
        ]
    )
    assert largest_stable_lr(grid).iloc[0].largest_stable_lr == 0.4
    row = largest_stable_lr(grid, loss_threshold=1.5).iloc[0]
    assert row.largest_stable_lr == 0.1 and row.non_monotone
    # a non-finite loss counts as unstable once a threshold is asked for
    grid.loc[grid.lr == 0.1, "final_train_loss"] = np.nan
    assert math.isnan(largest_stable_lr(grid, loss_threshold=1.5).iloc[0].largest_stable_lr)


def test_a_collapsed_run_that_trained_later_is_stable_when_chance_loss_is_given():
    chance = math.log(10)
    grid = _grid(
        [
            (1024, 0.025, False, True, 2.11),  # sat at chance early (slow start), then trained
            (1024, 0.05, False, False, 1.86),
            (1024, 0.1, False, False, 1.51),
            (1024, 0.4, False, True, 2.304),  # ended at chance: unstable
            (1024, 0.8, False, True, np.nan),  # no final loss: unstable
        ]
    )
    assert math.isnan(largest_stable_lr(grid).iloc[0].largest_stable_lr)
    row = largest_stable_lr(grid, chance_loss=chance).iloc[0]
    assert row.largest_stable_lr == 0.1 and row.first_unstable_lr == 0.4
    flags = unstable_runs(grid, chance_loss=chance).sort_index().tolist()
    assert flags == [False, False, False, True, True]
    # a wider tolerance counts the slow starter (2.11 >= ln 10 - 0.2) as unstable again
    assert unstable_runs(grid, chance_loss=chance, chance_tolerance=0.2).sort_index()[0]


def test_collapse_can_be_ignored_and_flags_may_be_ints():
    grid = pd.DataFrame(
        {"batch": [8, 8], "lr": [1.0, 2.0], "diverged": [0, 0], "collapsed": [0, 1]}
    )
    assert largest_stable_lr(grid).iloc[0].largest_stable_lr == 1.0
    assert largest_stable_lr(grid, collapsed=None).iloc[0].largest_stable_lr == 2.0
    assert unstable_runs(grid).tolist() == [False, True]


@pytest.mark.parametrize(
    ("grid", "kwargs", "error", "match"),
    [
        ([[1, 2]], {}, TypeError, "DataFrame"),
        (pd.DataFrame({"batch": [32], "lr": [0.1]}), {}, ValueError, "diverged"),
        (
            pd.DataFrame({"batch": [], "lr": [], "diverged": [], "collapsed": []}),
            {},
            ValueError,
            "empty",
        ),
        (
            pd.DataFrame({"batch": [32], "lr": [-0.1], "diverged": [False], "collapsed": [False]}),
            {},
            ValueError,
            "'lr'",
        ),
        (
            pd.DataFrame({"batch": [0], "lr": [0.1], "diverged": [False], "collapsed": [False]}),
            {},
            ValueError,
            "'batch'",
        ),
        (
            pd.DataFrame({"batch": [32], "lr": [0.1], "diverged": ["no"], "collapsed": [False]}),
            {},
            ValueError,
            "booleans",
        ),
        (
            pd.DataFrame({"batch": [32], "lr": [0.1], "diverged": [None], "collapsed": [False]}),
            {},
            ValueError,
            "missing",
        ),
        (
            pd.DataFrame({"batch": [32], "lr": [0.1], "diverged": [False], "collapsed": [False]}),
            {"loss_threshold": 1.0},
            ValueError,
            "final_train_loss",
        ),
        (
            pd.DataFrame(
                {
                    "batch": [32],
                    "lr": [0.1],
                    "diverged": [False],
                    "collapsed": [False],
                    "final_train_loss": [0.3],
                }
            ),
            {"loss_threshold": -1.0},
            ValueError,
            "loss_threshold",
        ),
        (
            pd.DataFrame({"batch": [32], "lr": [0.1], "diverged": [False], "collapsed": [True]}),
            {"chance_loss": 2.3},
            ValueError,
            "final_train_loss",
        ),
        (
            pd.DataFrame(
                {
                    "batch": [32],
                    "lr": [0.1],
                    "diverged": [False],
                    "collapsed": [True],
                    "final_train_loss": [2.3],
                }
            ),
            {"chance_loss": float("nan")},
            ValueError,
            "chance_loss",
        ),
    ],
)
def test_bad_input_fails_with_a_clear_message(grid, kwargs, error, match):
    with pytest.raises(error, match=match):
        largest_stable_lr(grid, **kwargs)


def _setting_grid():
    rows = [  # (setting, batch, lr, seed, diverged)
        ("SGD", 16, 0.1, 0, False),
        ("SGD", 16, 0.2, 0, False),
        ("SGD", 16, 0.4, 0, True),
        ("SGD + warmup", 16, 0.1, 0, True),  # replaced by SGD's rows at the reference batch
        ("SGD + warmup", 256, 0.4, 0, False),
        ("SGD + warmup", 256, 0.8, 0, True),
    ]
    frame = pd.DataFrame(rows, columns=["setting", "batch", "lr", "seed", "diverged"])
    return frame.assign(collapsed=False)


def test_warmup_shares_the_plain_rows_at_the_reference_batch():
    grid = with_plain_rows(_setting_grid(), 16, {"SGD + warmup": "SGD"})
    warm = grid[(grid.setting == "SGD + warmup") & (grid.batch == 16)]
    assert sorted(warm.lr) == [0.1, 0.2, 0.4] and not warm[warm.lr < 0.3].diverged.any()
    t = thresholds_by_setting(grid).set_index(["setting", "batch"]).largest_stable_lr
    assert t["SGD", 16] == t["SGD + warmup", 16] == 0.2 and t["SGD + warmup", 256] == 0.4


def test_boundary_rates_and_a_second_seed_that_fails_there_lowers_the_threshold():
    grid = with_plain_rows(_setting_grid(), 16, {"SGD + warmup": "SGD"})
    t = thresholds_by_setting(grid)
    sgd = t[(t.setting == "SGD") & (t.batch == 16)]
    assert sorted(boundary_lrs(sgd)) == [0.2, 0.4]
    failed = pd.DataFrame([("SGD", 16, 0.2, 1, True, False)], columns=grid.columns)
    again = thresholds_by_setting(pd.concat([grid, failed]))
    assert again.set_index(["setting", "batch"]).largest_stable_lr["SGD", 16] == 0.1
    all_stable = thresholds_by_setting(grid[~grid.diverged])
    assert list(boundary_lrs(all_stable[all_stable.setting == "SGD"])) == [0.2]  # censored
