"""Notebook 05's tables: LAMB-T1's and LEGW-F1's per-seed groups fed to their criteria, the
trust-ratio medians of LAMB-F1, and LEGW's configs (rate and warmup by rule)."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import optimizer_study as study
from largebatch_sim.report import targets
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.recipe import peak_lr, warmup_epochs


def _per_seed(acc: dict[tuple[str, str, int], float]) -> pd.DataFrame:
    rows = [
        dict(model=m, optimizer=o, batch=b, seed=s, acc=a + 0.1 * s)
        for (m, o, b), a in acc.items()
        for s in range(3)
    ]
    return pd.DataFrame(rows)


def test_lamb_t1_reads_each_model_s_lamb_and_adamw_groups():
    acc = {}
    for model in ("mlp", "cnn_bn"):
        acc |= {(model, "adamw", 32): 90.0, (model, "adamw", 512): 80.0}
        acc |= {(model, "lamb", 32): 90.0, (model, "lamb", 512): 89.5}
    target = targets.get("LAMB-T1")
    tables = study.lamb_t1_tables(_per_seed(acc), 32, 512, target.criterion)
    assert set(tables) == {name for name, _ in target.criterion.parts}
    assert target.judge(tables).verdict == "yes"
    acc[("cnn_bn", "lamb", 512)] = 80.0  # LAMB no better than AdamW on the CNN
    tables = study.lamb_t1_tables(_per_seed(acc), 32, 512, target.criterion)
    assert target.judge(tables).verdict == "partly"


def test_legw_tables_compare_each_rule_at_the_largest_k_with_the_base():
    rows = []
    for rule, at_kmax in (("legw", 89.0), ("linear", 10.0), ("sqrt", 80.0)):
        for batch, acc in ((32, 90.0), (2048, at_kmax)):
            rows += [dict(rule=rule, batch=batch, seed=s, acc=acc + 0.2 * s) for s in range(3)]
    target = targets.get("LEGW-F1")
    tables = study.legw_tables(pd.DataFrame(rows), 32, target.criterion)
    table = next(iter(tables.values()))
    assert table.groupby("group").size().to_dict() == {
        "base": 3,
        "legw_kmax": 3,
        "linear_kmax": 3,
        "sqrt_kmax": 3,
    }
    assert target.judge(tables).verdict == "yes"


def test_median_trust_ratios_per_tensor_leave_out_undefined_ones():
    trust = pd.DataFrame(
        dict(
            step=[0, 4, 8, 0, 4, 8],
            param=["fc.w"] * 3 + ["fc.b"] * 3,
            kind=["weight"] * 3 + ["bias"] * 3,
            value=[1.0, 3.0, 2.0, np.nan, np.nan, np.nan],
        )
    )
    medians = study.median_trust_ratios(trust)
    assert medians.to_dict("records") == [dict(param="fc.w", kind="weight", value=2.0)]


def test_legw_configs_scale_the_rate_and_the_warmup_as_each_rule_says():
    base = RunConfig(batch=32, base_batch=32, lr=0.1, warmup="gradual", warmup_epochs=0.5)
    configs = study.legw_configs(base, ks=(1, 16), seeds=(0,))
    at_16 = {rule: cs[-1] for rule, cs in configs.items()}
    assert {c.batch for c in at_16.values()} == {512}
    assert peak_lr(at_16["legw"], 0.1) == peak_lr(at_16["sqrt"], 0.1) == 0.4
    assert peak_lr(at_16["linear"], 0.1) == 1.6
    assert warmup_epochs(at_16["legw"]) == 8.0 and warmup_epochs(at_16["sqrt"]) == 0.5


def _traced(seed: int, losses: list[float], diverged: bool = False):
    from largebatch_sim.runs import RunResult

    trace = pd.DataFrame({"step": range(1, len(losses) + 1), "value": losses})
    config = RunConfig(seed=seed)
    history = pd.DataFrame({"metric": ["test_acc"], "value": [0.9]})
    return RunResult(config, history, {"diverged": diverged}, {"loss_trace": trace})


def test_first_epoch_drop_reads_the_loss_trace():
    run = _traced(0, [2.3, 2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.9])
    assert study.first_epoch_drop(run, steps_per_epoch=6, window=2) == pytest.approx(2.3 - 1.3)
    assert np.isnan(study.first_epoch_drop(_traced(0, [2.3] * 8, diverged=True), 6))


def test_gw_f1_says_yes_when_lr_0_wastes_the_first_epoch_and_no_when_it_does_not():
    target = targets.get("GW-F1")
    flat = [2.3] * 8
    falling = [2.3, 2.1, 1.9, 1.7, 1.5, 1.3, 1.2, 1.1]
    wasted = {
        "gradual": [_traced(s, [v - 0.01 * s for v in falling]) for s in range(3)],
        "staircase": [_traced(s, falling) for s in range(3)],
        "staircase_from_0": [_traced(s, [v - 0.01 * s for v in flat]) for s in range(3)],
        "shifted_from_0": [_traced(s, [v - 0.01 * s for v in falling]) for s in range(3)],
    }
    verdicts = target.criterion.parts[0][1].judge(
        study.gw_f1_tables(wasted, 6, target.criterion)[target.criterion.parts[0][0]]
    )
    assert verdicts.verdict == "yes"
    not_wasted = dict(wasted, staircase_from_0=wasted["gradual"])
    tables = study.gw_f1_tables(not_wasted, 6, target.criterion)
    assert target.criterion.parts[0][1].judge(tables[target.criterion.parts[0][0]]).verdict == "no"


def test_gw_f1_summary_counts_each_seed_once():
    drops = pd.DataFrame({"group": ["gradual"] * 2, "seed": [0, 1], "value": [1.0, 3.0]})
    summary = study.gw_f1_summary({"first part": drops, "second part": drops})
    assert summary.loc["gradual", "mean"] == 2.0 and summary.loc["gradual", "std"] == np.sqrt(2)
