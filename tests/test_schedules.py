import numpy as np
import pytest

from largebatch_sim.optim import schedules as S


def test_constant_and_shapes():
    lr = S.constant(0.1)
    assert lr(0) == pytest.approx(0.1)
    assert lr(np.arange(5)).shape == (5,)
    np.testing.assert_allclose(lr(np.arange(5)), 0.1)


def test_step_decay_drops_at_milestones():
    lr = S.step_decay(1.0, [3, 6], factor=0.1)
    np.testing.assert_allclose(lr(np.array([0, 2, 3, 5, 6, 100])), [1, 1, 0.1, 0.1, 0.01, 0.01])


def test_poly_is_lars_power_two_and_stays_at_end():
    lr = S.poly(2.0, total_steps=10)  # 2 (1 - t/10)^2
    np.testing.assert_allclose(lr(np.array([0, 5, 10, 20])), [2.0, 0.5, 0.0, 0.0])
    lin = S.poly(1.0, total_steps=10, power=1.0, end=0.1)
    assert lin(5) == pytest.approx(0.1 + 0.9 * 0.5)


def test_cosine():
    lr = S.cosine(1.0, total_steps=4)
    expected = [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2, 0.0, 0.0]
    np.testing.assert_allclose(lr(np.arange(6)), expected, atol=1e-15)


def test_constant_warmup_holds_start_then_jumps():
    lr = S.warmup(S.constant(0.1), "constant", steps=4, start=0.01)
    np.testing.assert_allclose(lr(np.array([0, 2, 3, 4, 9])), [0.01, 0.01, 0.01, 0.1, 0.1])


def test_gradual_warmup_is_linear_per_iteration():
    lr = S.warmup(S.constant(0.1), "gradual", steps=4, start=0.02)
    # start at 0.02, add (0.1 - 0.02) / 4 = 0.02 every iteration, reach 0.1 at t = 4
    np.testing.assert_allclose(lr(np.arange(6)), [0.02, 0.04, 0.06, 0.08, 0.1, 0.1])
    from_zero = S.warmup(S.constant(0.1), "gradual", steps=4)  # start defaults to 0
    assert from_zero(0) == 0.0 and from_zero(2) == pytest.approx(0.05)


def test_warmup_wraps_schedule_at_global_step():
    lr = S.warmup(S.poly(1.0, 10), "gradual", steps=4, start=0.0)
    # the warmup reaches poly(4) = 0.6^2 at t = 4; after it, poly is read at t, not t - 4
    np.testing.assert_allclose(lr(np.array([2, 4, 5])), [0.5 * 0.36, 0.36, 0.25])
    goyal = S.warmup(S.step_decay(0.4, [6]), "gradual", steps=4, start=0.1)
    np.testing.assert_allclose(goyal(np.array([0, 2, 4, 5, 6])), [0.1, 0.25, 0.4, 0.4, 0.04])


def test_warmup_none_and_zero_steps_return_the_schedule():
    base = S.cosine(1.0, 8)
    assert S.warmup(base, "none", 5) is base
    assert S.warmup(base, "gradual", 0) is base


def test_scaling_rules():
    assert S.scale_lr(0.1, 8192, 256, "none") == pytest.approx(0.1)
    assert S.scale_lr(0.1, 8192, 256, "linear") == pytest.approx(3.2)
    assert S.scale_lr(0.1, 8192, 256, "sqrt") == pytest.approx(0.1 * np.sqrt(32))
    assert S.scale_lr(0.1, 128, 256, "linear") == pytest.approx(0.05)
    np.testing.assert_allclose(S.scale_lr([0.1, 0.2], 1024, 256, "sqrt"), [0.2, 0.4])


def test_legw_scales_lr_by_sqrt_k_and_keeps_warmup_iterations():
    peak, epochs = S.legw_scaling(0.1, base_warmup_epochs=0.5, k=4)
    assert peak == pytest.approx(0.2) and epochs == pytest.approx(2.0)
    base_steps_per_epoch = 40  # at the base batch; k = 4 times the batch: 10 per epoch
    assert S.warmup_steps(0.5, base_steps_per_epoch) == 20
    assert S.warmup_steps(epochs, base_steps_per_epoch // 4) == 20  # same iterations
    lr = S.legw(0.1, 0.5, 4, steps_per_epoch=10)
    np.testing.assert_allclose(lr(np.array([0, 10, 20, 50])), [0.0, 0.1, 0.2, 0.2])
    decayed = S.legw(0.1, 0.5, 4, 10, decay=lambda peak: S.poly(peak, 40))
    assert decayed(20) == pytest.approx(0.2 * 0.5**2)


def test_per_member_hyperparameters_give_steps_by_members():
    T, lrs = 7, np.array([0.1, 0.2, 0.4])
    built = [
        lambda lr: S.constant(lr),
        lambda lr: S.step_decay(lr, [2, 5]),
        lambda lr: S.poly(lr, 6),
        lambda lr: S.cosine(lr, 6),
        lambda lr: S.warmup(S.poly(lr, 6), "gradual", 3, start=0.01),
        lambda lr: S.warmup(S.constant(lr), "constant", 3, start=lr / 10),
    ]
    for make in built:
        table = make(lrs)(np.arange(T))
        assert table.shape == (T, 3)
        assert make(lrs)(2).shape == (3,)
        for e, lr in enumerate(lrs):  # each member equals the schedule built alone
            np.testing.assert_allclose(table[:, e], make(float(lr))(np.arange(T)))


def test_per_member_start_under_a_shared_schedule():
    lr = S.warmup(S.constant(0.1), "gradual", 2, start=np.array([0.0, 0.05]))
    np.testing.assert_allclose(lr(np.arange(3)), [[0.0, 0.05], [0.05, 0.075], [0.1, 0.1]])


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: S.constant(-0.1), "lr must be a finite number >= 0"),
        (lambda: S.constant(np.nan), "lr must be a finite number"),
        (lambda: S.constant(np.inf), "lr must be a finite number"),
        (lambda: S.constant(np.ones((2, 2))), r"shape \(E,\)"),
        (lambda: S.constant("fast"), "lr must be a finite number"),
        (lambda: S.step_decay(0.1, [5, 5]), "milestones must be strictly increasing"),
        (lambda: S.step_decay(0.1, [5, 3]), "milestones must be strictly increasing"),
        (lambda: S.step_decay(0.1, [-1]), "milestones"),
        (lambda: S.poly(0.1, 0), "total_steps must be an integer >= 1"),
        (lambda: S.cosine(0.1, -3), "total_steps must be an integer >= 1"),
        (lambda: S.warmup(S.constant(0.1), "linear", 5), "kind must be one of"),
        (lambda: S.warmup(S.constant(0.1), "gradual", -1), "steps must be an integer >= 0"),
        (
            lambda: S.warmup(S.constant(0.1), "constant", 5),
            "start must be given for a constant warmup",
        ),
        (
            lambda: S.warmup(S.constant(0.1), "gradual", 5, start=-1.0),
            "start must be a finite number >= 0",
        ),
        (lambda: S.warmup(S.constant([0.1, 0.2]), "gradual", 5, start=[0, 0, 0]), "one ensemble"),
        (lambda: S.scale_lr(0.1, 512, 256, "cubic"), "rule must be one of"),
        (lambda: S.scale_lr(0.1, 0, 256, "linear"), "batch must be an integer >= 1"),
        (lambda: S.legw_scaling(0.1, 1.0, 0), "k must be a finite number > 0"),
        (lambda: S.warmup_steps(-1, 10), "epochs must be a finite number >= 0"),
    ],
)
def test_bad_arguments_raise_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_negative_step_raises():
    with pytest.raises(ValueError, match="step must be an iteration >= 0"):
        S.constant(0.1)(-1)


def test_join_restarts_each_schedule_at_its_boundary():
    """Warmup over 4 steps, then a cosine over the 6 that remain, starting where the warmup
    ends (optax's join_schedules): the decay reaches 0 at step 10, not at step 6."""
    joined = S.join([S.linear(0.1, 0.8, 4), S.cosine(0.8, 6)], boundaries=[4])
    expected = [0.1, 0.275, 0.45, 0.625, 0.8]
    expected += [0.4 * (1 + np.cos(np.pi * k / 6)) for k in range(1, 6)] + [0.0]
    np.testing.assert_allclose(joined(np.arange(11)), expected, atol=1e-15)
    assert joined(3) == pytest.approx(0.625)


def test_join_keeps_the_member_axis_and_refuses_bad_boundaries():
    joined = S.join([S.linear(np.array([0.1, 0.2]), 0.8, 2), S.constant(0.8)], [2])
    np.testing.assert_allclose(joined(np.arange(3)), [[0.1, 0.2], [0.45, 0.5], [0.8, 0.8]])
    with pytest.raises(ValueError, match="boundaries must be one step fewer"):
        S.join([S.constant(1.0)], [3])
    with pytest.raises(ValueError, match="strictly increasing"):
        S.join([S.constant(1.0)] * 3, [5, 5])
    with pytest.raises(ValueError, match=r"boundaries\[0\]"):
        S.join([S.constant(1.0)] * 2, [0])
