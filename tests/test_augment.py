"""Batch augmentation: M copies per example, transformations as array operations drawn from
each member's generator, strength 0 the identity, the noise instrument on augmented batches."""

import dataclasses

import numpy as np
import pytest

from largebatch_sim.data import BatchSampler
from largebatch_sim.data.augment import AugmentedSampler, augment_images, augment_signals, resample
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.recipe import run_ensemble
from largebatch_sim.validate import ParameterError


def _signals(n=64, length=40):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 1, 1, length)).astype(np.float32), rng.integers(0, 10, n)


def test_resample_reads_whole_positions_exactly_and_interpolates_between():
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 1, 1, 6)
    shifted = resample(x, np.arange(6.0)[None, None] - 1)
    assert shifted.ravel().tolist() == [0, 0, 1, 2, 3, 4]  # shifted right, the end held
    half = resample(x, np.arange(6.0)[None, None] + 0.5)
    assert half.ravel().tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5]


def test_signal_scaling_stretches_about_the_centre():
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 1, 5)
    out = augment_signals(x, np.zeros((1, 1)), np.full((1, 1), 2.0), 0.0)
    assert out.ravel().tolist() == [1, 1.5, 2, 2.5, 3]  # c + (i - c) / 2 with c = 2


def test_image_shift_moves_whole_pixels_along_each_axis():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 1, 3, 3)
    out = augment_images(x, np.ones((1, 1)), np.zeros((1, 1)), 0.0)[0, 0, 0]
    assert out.tolist() == [[0, 1, 2], [0, 1, 2], [3, 4, 5]]


def test_copies_are_adjacent_distinct_and_strength_zero_is_the_identity():
    x, y = _signals()
    plain = BatchSampler(x, y, 8, seeds=[0, 1])
    augmented = AugmentedSampler(
        BatchSampler(x, y, 8, seeds=[0, 1]), 4, [1.0, 0.0], [0, 1], "mnist1d"
    )
    assert augmented.steps_per_epoch == plain.steps_per_epoch
    xa, ya = augmented.next()
    xp, yp = plain.next()
    assert xa.shape == (2, 32, 1, 1, 40) and ya.shape == (2, 32)
    assert np.array_equal(ya[:, ::4], yp) and np.array_equal(ya[:, 1::4], yp)
    assert np.array_equal(xa[1, ::4], xp[1]) and np.array_equal(xa[1, 3::4], xp[1])
    assert not np.allclose(xa[0, ::4], xa[0, 1::4])  # the copies differ from each other


def test_a_member_sees_the_same_copies_alone_as_in_an_ensemble():
    x, y = _signals()
    ensemble = AugmentedSampler(
        BatchSampler(x, y, 8, seeds=[3, 5]), 2, [1.0, 0.5], [3, 5], "mnist1d"
    )
    alone = AugmentedSampler(BatchSampler(x, y, 8, seeds=[5]), 2, [0.5], [5], "mnist1d")
    for _ in range(ensemble.steps_per_epoch + 2):
        assert np.array_equal(ensemble.next()[0][1], alone.next()[0][0])


def test_select_members_keeps_the_kept_members_draws():
    x, y = _signals()
    full = AugmentedSampler(
        BatchSampler(x, y, 8, seeds=[1]), 2, [1.0, 0.3, 0.7], [1, 2, 3], "mnist1d"
    )
    kept = AugmentedSampler(BatchSampler(x, y, 8, seeds=[1]), 2, [1.0, 0.7], [1, 3], "mnist1d")
    full.next(), kept.next()
    full.select_members(np.array([0, 2]))
    assert full.strengths.tolist() == [1.0, 0.7]
    for _ in range(full.steps_per_epoch + 2):  # within the epoch drawn, then the next one
        assert np.array_equal(full.next()[0], kept.next()[0])


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"augment_copies": 0}, "augment_copies"),
        ({"augment_strength": -1.0}, "augment_strength"),
        ({"data": "teacher_student", "augment_copies": 2}, "augment_copies"),
    ],
)
def test_bad_augmentation_options_name_the_field(options, name):
    with pytest.raises(ParameterError, match=name):
        RunConfig(**options)


def test_the_sampler_refuses_a_strength_per_member_mismatch_and_unknown_kinds():
    x, y = _signals()
    with pytest.raises(ParameterError, match="strengths"):
        AugmentedSampler(BatchSampler(x, y, 8), 2, [1.0], [0, 1], "mnist1d")
    with pytest.raises(ParameterError, match="kind"):
        AugmentedSampler(BatchSampler(x, y, 8), 2, [1.0], [0], "teacher")


def test_a_run_with_copies_trains_and_measures_the_noise_per_copy_batch():
    base = RunConfig(
        data="mnist1d", data_size=1000, model="mlp", batch=16, epochs=1, evals=2,
        augment_copies=4, augment_strength=1.0, noise_chunks=4, noise_every=10,
    )  # fmt: skip
    (result,) = run_ensemble([base], progress=False)
    noise = result.instruments["noise"]
    assert set(noise.b_big) == {64} and set(noise.b_small) == {16}  # copies count in the batch
    assert np.isfinite(result.summary["final_test_acc"])
    plain = dataclasses.replace(base, augment_copies=1, augment_strength=0.0)
    steps = result.history.step.max()
    assert steps == run_ensemble([plain], progress=False)[0].history.step.max()
