"""The criteria declared for DL-F1, DL-T1, CA-T1 and CA-F1 say no where the phenomenon is
absent and yes where it is present, on synthetic tables shaped like the notebook's."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import beyond_one_worker as study
from largebatch_sim.report import targets


def _steady(dm_growth: float, dl_growth: float, dm_large: float) -> pd.DataFrame:
    """A DL-F1 table: excess errors growing by the given factors over beta; at large batch
    DmSGD's error ``dm_large`` times PmSGD's."""
    rows = []
    for k, beta in enumerate((0.0, 0.5, 0.8, 0.9, 0.95)):
        noise = 0.01 * (1 + beta)
        for name, growth in (("pmsgd", 0.0), ("dmsgd", dm_growth), ("decentlam", dl_growth)):
            excess = 0.0 if name == "pmsgd" else 0.003 * growth ** (k / 4)
            rows.append(
                dict(
                    sweep="momentum",
                    optimizer=name,
                    lr=0.01,
                    momentum=beta,
                    batch=16,
                    error=noise + excess,
                    excess=excess,
                    bias=excess,
                )
            )
    for batch in (1, 4, 16, 64):
        for name, factor in (("pmsgd", 1.0), ("dmsgd", dm_large), ("decentlam", 1.2)):
            error = 0.05 * (factor if batch >= 16 else 1.0)
            rows.append(
                dict(
                    sweep="batch",
                    optimizer=name,
                    lr=0.001 * batch,
                    momentum=0.9,
                    batch=batch,
                    error=error,
                    excess=error - 0.05,
                    bias=0.0,
                )
            )
    return pd.DataFrame(rows)


def _judge(target_id, tables):
    return targets.judge(target_id, tables).verdict


def test_dl_f1_says_yes_when_momentum_amplifies_only_dmsgd_bias():
    criterion = targets.get("DL-F1").criterion
    assert _judge("DL-F1", study.dl_f1_tables(_steady(400, 1.5, 20), criterion)) == "yes"


def test_dl_f1_says_no_when_decentlam_is_as_biased_as_dmsgd():
    criterion = targets.get("DL-F1").criterion
    table = _steady(0.5, 0.5, 1.0)  # nothing grows; nobody is biased at large batch
    assert _judge("DL-F1", study.dl_f1_tables(table, criterion)) == "no"


def _accuracy_runs(decentlam: float, dmsgd: float, pmsgd: float) -> pd.DataFrame:
    rows = []
    for seed, wobble in enumerate((-0.3, 0.0, 0.3)):
        rows.append(
            dict(optimizer="pmsgd", topology="full", batch=1024, seed=seed, acc=pmsgd + wobble)
        )
        for topology in ("ring", "exponential"):
            for name, acc in (("dmsgd", dmsgd), ("decentlam", decentlam)):
                rows.append(
                    dict(optimizer=name, topology=topology, batch=1024, seed=seed, acc=acc + wobble)
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("accs", "verdict"), [((70.0, 60.0, 71.0), "yes"), ((60.0, 62.0, 71.0), "no")]
)
def test_dl_t1_present_and_absent(accs, verdict):
    parts = [name for name, _ in targets.get("DL-T1").criterion.parts]
    assert _judge("DL-T1", study.dl_t1_tables(_accuracy_runs(*accs), parts)) == verdict


def _conadv_runs(plain: float, tau0: float, tau1: float) -> pd.DataFrame:
    rows = []
    for method, acc in (("plain", plain), ("adv_tau0", tau0), ("conadv_tau1", tau1)):
        for seed, wobble in enumerate((-0.2, 0.0, 0.2)):
            rows.append(
                dict(method=method, tau=0, batch=1024, seed=seed, acc=acc + wobble, diverged=False)
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("accs", "verdict"), [((74.0, 80.0, 79.5), "yes"), ((74.0, 80.0, 65.0), "no")]
)
def test_ca_t1_present_and_absent(accs, verdict):
    parts = [name for name, _ in targets.get("CA-T1").criterion.parts]
    assert _judge("CA-T1", study.ca_t1_tables(_conadv_runs(*accs), parts)) == verdict


@pytest.mark.parametrize(
    ("fgsm", "train2", "verdict"),
    [
        (0.5, 1.1, "yes"),  # FGSM hidden, the training pass about a plain step's cost
        (0.1, 3.0, "no"),  # nothing to hide: the training pass alone costs three plain steps
    ],
)
def test_ca_f1_present_and_absent(fgsm, train2, verdict):
    t = pd.DataFrame({"batch": [1024], "t_plain": [1.0], "t_fgsm": [fgsm], "t_train2": [train2]})
    t["t_sequential"] = t.t_fgsm + t.t_train2
    t["t_concurrent"] = np.maximum(t.t_fgsm, t.t_train2)
    t["concurrent_over_sequential"] = t.t_concurrent / t.t_sequential
    t["concurrent_over_plain"] = t.t_concurrent / t.t_plain
    assert _judge("CA-F1", study.ca_f1_tables(t, targets.get("CA-F1").criterion)) == verdict
