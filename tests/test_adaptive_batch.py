"""The adaptive-batch run (runs.adaptive): its rate rule, its stop at the target, its cache."""

import numpy as np

from largebatch_sim.runs.adaptive import AdaptiveConfig, cached_adaptive


def config(**kw):
    base = dict(
        data="digits",
        data_size=None,
        model="mlp",
        r=64.0,
        target=2.0,
        eps_max=0.5,
        b_star=100.0,
        lr_fallback=0.1,
        phase=5,
        every=1,
        b_min=16,
        b_max=64,
        max_phases=3,
    )
    return AdaptiveConfig(**(base | kw))


def test_rate_rule_and_fallback():
    assert np.isclose(config().lr(100), 0.25)
    assert config(eps_max=np.nan).lr(100) == 0.1


def test_stops_at_the_target_and_caches(tmp_path):
    first = cached_adaptive(config(), root=tmp_path)
    assert first.reached and first.steps <= 15
    assert 16 * first.steps <= first.examples <= 64 * first.steps
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    again = cached_adaptive(config(), root=tmp_path)
    assert again.steps == first.steps and again.phases.equals(first.phases)


def test_unreached_target_counts_every_phase(tmp_path):
    result = cached_adaptive(config(target=0.0), root=tmp_path)
    assert not result.reached and result.steps == 15 and len(result.phases) == 3
    assert (result.phases.batch >= 16).all() and (result.phases.batch <= 64).all()
