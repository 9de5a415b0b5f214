"""The tables behind BA-F1, BA-F2, AW-T1 and AW-F1, on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import auto_warmup_study as aw
from largebatch_sim.analysis import batch_augmentation as ba
from largebatch_sim.report import targets
from largebatch_sim.runs import RunConfig, RunResult
from largebatch_sim.runs.recipe import describe_schedule


def _curves():
    rows = []
    for copies, accs in ((1, [50, 60, 70]), (8, [65, 72, 78])):
        for seed in range(3):
            rows += [
                {"copies": copies, "seed": seed, "step": 10 * (i + 1), "acc": a + seed}
                for i, a in enumerate(accs)
            ]
    return pd.DataFrame(rows)


def test_steps_to_reach_is_the_first_evaluation_at_the_target_and_1_when_never():
    reach = ba.steps_to_reach(_curves(), 66.5).set_index(["copies", "seed"]).fraction
    assert reach[8, 0] == pytest.approx(2 / 3) and reach[8, 2] == pytest.approx(1 / 3)
    assert reach[1, 0] == 1.0  # reached at the last evaluation
    never = ba.steps_to_reach(_curves(), 79.5).set_index(["copies", "seed"]).fraction
    assert never[1, 0] == 1.0 and never[8, 2] == 1.0 and never[8, 1] == 1.0


def test_ba_tables_compare_one_copy_with_the_most():
    finals = pd.DataFrame(
        {"copies": [1, 1, 4, 4, 8, 8], "seed": [0, 1] * 3, "acc": [70, 72, 1, 1, 75, 77]}
    )
    reach = finals.rename(columns={"acc": "fraction"}).assign(fraction=[1, 1, 0, 0, 0.5, 0.6])
    names = [n for n, _ in targets.get("BA-F1").criterion.parts]
    tables = ba.ba_f1_tables(finals, reach, names)
    acc = tables[names[0]].groupby("group").value.mean()
    assert acc[ba.ONE] == 71 and acc[ba.MOST] == 76  # M = 4 is not compared
    assert tables[names[1]].groupby("group").value.mean()[ba.MOST] == pytest.approx(0.55)
    noise = pd.DataFrame(
        {"copies": [1, 1, 8, 8], "seed": [0, 1, 0, 1], "trace": [10.0, 30.0, 5.0, 5.0]}
    ).assign(b_simple=[4.0, 4.0, 1.0, 3.0])
    names = [n for n, _ in targets.get("BA-F2").criterion.parts]
    relative = {
        k: t.groupby("group").value.mean() for k, t in ba.ba_f2_tables(noise, names).items()
    }
    assert relative[names[0]][ba.ONE] == 1 and relative[names[0]][ba.MOST] == 0.25
    assert relative[names[1]][ba.MOST] == 0.5


def _auto_run(seed, switch, acc=0.8):
    config = RunConfig(warmup="auto", warmup_epochs=4, schedule="cosine", epochs=8, seed=seed)
    steps = np.arange(1, 21)
    lr = np.where(steps < switch, 0.01 * 2.0**steps, 0.5)
    rates = pd.DataFrame(
        {"step": steps, "lr": lr, "phase": np.where(steps < switch, "warmup", "decay")}
    )
    history = pd.DataFrame(
        {"step": [20] * 3, "epoch": [8.0] * 3, "metric": ["test_acc"] * 3, "value": [acc] * 3}
    )
    trace = pd.DataFrame({"step": steps, "value": np.abs(steps - 6.0) + 1})
    return RunResult(
        config, history, {"diverged": False}, {"auto_warmup": rates, "loss_trace": trace}
    )


def test_the_switch_table_reads_each_runs_decay_start_and_never_switched_is_1():
    table = aw.switch_table([_auto_run(0, 9), _auto_run(1, 11)], warmup_steps=10)
    assert table.switch_step.tolist() == [9, 11] and table.value.tolist() == [0.8, 1.0]
    assert table.lr_at_switch.iloc[0] == 0.5 and table.lr_reached.iloc[0] == 0.01 * 2.0**8
    smoothed = aw.smoothed_warmup_loss(_auto_run(0, 9), 9)
    assert len(smoothed) == 8 and smoothed.smoothed.idxmin() in (4, 5, 6)


def test_aw_t1_tables_put_autowu_beside_the_tuned_seeds():
    tuned = pd.DataFrame({"batch": [32, 32, 128], "seed": [0, 1, 0], "acc": [80.0, 82.0, 70.0]})
    names = [n for n, _ in targets.get("AW-T1").criterion.parts]
    tables = aw.aw_t1_tables(
        {32: [_auto_run(0, 9), _auto_run(1, 9, 0.9)], 128: [_auto_run(0, 9)]}, tuned, names
    )
    first = tables[names[0]].groupby("group").value.mean()
    assert first[aw.AUTO] == pytest.approx(85.0) and first[aw.TUNED] == 81.0
    assert len(tables[names[1]]) == 2


def test_an_auto_warmup_is_described_as_what_it_does():
    text = describe_schedule(
        RunConfig(warmup="auto", warmup_epochs=4, schedule="cosine", lr=2.0, scaling="none")
    )
    assert text.startswith("AutoWU: exponential warmup from 0.0002 towards 2")
