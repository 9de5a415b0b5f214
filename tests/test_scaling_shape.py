"""The batch-size curve's shape, extracted and judged by the registry (N-F1, N-F2, N-F3)."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import scaling_shape as shape
from largebatch_sim.report import targets

BATCHES = 2.0 ** np.arange(0, 17)


def hyperbola(b_crit, s_min=100.0, lr_max=2.0):
    """The shape of the claims: S = S_min (1 + B_crit / B), lr = lr_max / (1 + B_crit / B)."""
    return pd.DataFrame(
        {
            "batch": BATCHES,
            "steps": s_min * (1 + b_crit / BATCHES),
            "best_lr": lr_max / (1 + b_crit / BATCHES),
        }
    )


def power_law(exponent):
    """No knee anywhere: steps fall as B^-exponent and the rate grows as B^exponent."""
    return pd.DataFrame(
        {"batch": BATCHES, "steps": 1e6 * BATCHES**-exponent, "best_lr": 1e-3 * BATCHES**exponent}
    )


def test_hand_values():
    best = hyperbola(b_crit=1e9)  # perfect scaling throughout
    assert shape.steps_factor_per_doubling(best) == pytest.approx(2.0, rel=1e-6)
    assert shape.lr_loglog_slope(best) == pytest.approx(1.0, rel=1e-6)
    flat = hyperbola(b_crit=1.0)
    assert shape.last_doubling_saving(flat) == pytest.approx(1 - (1 + 2**-16) / (1 + 2**-15))
    assert shape.lr_change_at_largest(flat) == pytest.approx((1 + 2**-13) / (1 + 2**-16) - 1)


def test_nf1_and_nf3_say_yes_for_a_knee_and_no_without_one():
    present = hyperbola(b_crit=100.0)
    absent = power_law(0.4)  # 1.3x per doubling, and still 24 % saved by the last one
    for target, tables in (("N-F1", shape.nf1_tables), ("N-F3", shape.nf3_tables)):
        assert targets.judge(target, tables(present)).verdict == "yes"
        assert targets.judge(target, tables(absent)).verdict == "no"


def test_nf2_orders_the_critical_batches():
    pairs = [("momentum", "SGD"), ("p=0.25", "SGD"), ("p=0.5", "p=0.25"), ("p=0.75", "p=0.5")]
    raised = {"SGD": 150, "momentum": 2800, "p=0.25": 600, "p=0.5": 3500, "p=0.75": 19000}
    same = dict.fromkeys(raised, 150.0)
    assert targets.judge("N-F2", shape.ordered_pairs(raised, pairs)).verdict == "yes"
    assert targets.judge("N-F2", shape.ordered_pairs(same, pairs)).verdict == "no"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="steps"):
        shape.steps_factor_per_doubling(pd.DataFrame({"batch": [1, 2]}))
