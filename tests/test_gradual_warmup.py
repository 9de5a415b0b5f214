"""GradualWarmupScheduler as a schedule, against the rates the package itself gives
(tests/data/gradual_warmup_reference.json, recorded with PyTorch by the script beside it)."""

import json
from pathlib import Path

import numpy as np
import pytest

from largebatch_sim.optim import schedules
from largebatch_sim.optim.gradual_warmup import gradual_warmup_scheduler
from largebatch_sim.validate import ParameterError

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "gradual_warmup_reference.json").read_text()
)
AFTER = {None: None, "step": lambda peak: schedules.step_decay(peak, [4, 8, 12])}


@pytest.mark.parametrize("name", list(REFERENCE["cases"]))
def test_the_schedule_gives_the_package_s_own_rates(name):
    case = REFERENCE["cases"][name]
    schedule = gradual_warmup_scheduler(
        REFERENCE["base_lr"], case["multiplier"], case["total_epoch"], AFTER[case["after"]]
    )
    np.testing.assert_allclose(schedule(np.arange(case["calls"])), case["rates"], rtol=1e-12)


def test_stepped_per_epoch_it_is_a_staircase_and_multiplier_1_trains_its_first_epoch_at_0():
    schedule = gradual_warmup_scheduler(0.1, 1.0, total_epoch=2, steps_per_epoch=3)
    np.testing.assert_allclose(schedule(np.arange(9)), [0, 0, 0, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1])
    per_iteration = gradual_warmup_scheduler(0.1, 1.0, total_epoch=6, stepped_per="iteration")
    assert per_iteration(0) == 0 and per_iteration(3) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        (dict(multiplier=0.5), "multiplier"),
        (dict(total_epoch=0), "total_epoch"),
        (dict(base_lr=float("nan")), "base_lr"),
        (dict(steps_per_epoch=0), "steps_per_epoch"),
        (dict(stepped_per="batch"), "stepped_per"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, parameter):
    args = dict(base_lr=0.1, multiplier=2.0, total_epoch=5) | kwargs
    with pytest.raises(ParameterError, match=parameter):
        gradual_warmup_scheduler(**args)


@pytest.mark.parametrize(("start", "multiplier"), [(0.1, 8.0), (0.0, 1.0)])
def test_the_staircase_warmup_of_a_run_is_the_scheduler_stepped_per_epoch(start, multiplier):
    """``warmup="staircase"`` (in a RunConfig) is the scheduler stepped once per epoch;
    ``staircase_shifted`` is the same scheduler stepped once before training."""
    per, epochs, peak = 3, 5, 0.8
    scheduler = gradual_warmup_scheduler(start or peak, multiplier, epochs, steps_per_epoch=per)
    t = np.arange((epochs + 3) * per)
    stairs = schedules.warmup(schedules.constant(peak), "staircase", epochs * per, start, per)
    np.testing.assert_allclose(stairs(t), scheduler(t))
    shifted = schedules.warmup(
        schedules.constant(peak), "staircase_shifted", epochs * per, start, per
    )
    np.testing.assert_allclose(shifted(t), scheduler(t + per))


def test_a_staircase_needs_whole_epochs():
    with pytest.raises(ParameterError, match="steps"):
        schedules.warmup(schedules.constant(1.0), "staircase", 7, 0.1, steps_per_epoch=3)
