import numpy as np
import pytest

from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.batchnorm import BatchNorm
from tests.gradcheck import check_layer


def _bn(c: int, workers: int = 1, seeds=(0, 1), **kwargs) -> BatchNorm:
    """A float64 BN with random gamma and beta, so that the check sees every term."""
    bn = BatchNorm(c, name="bn1", workers=workers, **kwargs).init(list(seeds), dtype=np.float64)
    rng = np.random.default_rng(42)
    bn.params["gamma"][...] = rng.normal(size=bn.params["gamma"].shape)
    bn.params["beta"][...] = rng.normal(size=bn.params["beta"].shape)
    return bn


SHAPES = [(2, 8, 3), (2, 4, 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("workers", [1, 2])
def test_gradients_train_mode(shape, workers):
    x = np.random.default_rng(0).normal(1.0, 2.0, size=shape)
    check_layer(_bn(shape[2], workers), x)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_eval_mode(shape):
    bn = _bn(shape[2], workers=2)
    x = np.random.default_rng(0).normal(1.0, 2.0, size=shape)
    bn.forward(x)  # running statistics away from their initial values
    bn.eval()
    check_layer(bn, x)


def test_gradients_with_input_shared_by_members():
    x = np.random.default_rng(0).normal(size=(1, 4, 2, 3, 3))
    check_layer(_bn(2, workers=2, seeds=(0, 1, 2)), x)


@pytest.mark.parametrize("shape", SHAPES)
def test_each_worker_chunk_is_normalised_alone(shape):
    x = np.random.default_rng(1).normal(size=shape)
    y = _bn(shape[2], workers=2).forward(x)
    half = shape[1] // 2
    for chunk in (slice(0, half), slice(half, None)):
        alone = _bn(shape[2], workers=1).forward(x[:, chunk])
        np.testing.assert_allclose(y[:, chunk], alone, rtol=1e-12, atol=1e-12)
    whole = _bn(shape[2], workers=1).forward(x)
    assert not np.allclose(y, whole)


def test_normalised_output_has_zero_mean_unit_variance_per_chunk():
    x = np.random.default_rng(2).normal(3.0, 5.0, size=(2, 8, 3, 2, 2))
    bn = BatchNorm(3, workers=2).init([0, 1], dtype=np.float64)
    y = bn.forward(x).reshape(2, 2, 4, 3, 4)  # (E, k, n, C, S)
    np.testing.assert_allclose(y.mean(axis=(2, 4)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(2, 4)), 1.0, rtol=1e-4)


def test_running_statistics_average_the_chunks_and_are_used_in_eval():
    momentum, eps = 0.9, 1e-5
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(2, 6, 3, 2, 2))
    bn = _bn(3, workers=3, momentum=momentum, eps=eps)
    bn.forward(x)
    chunks = x.reshape(2, 3, 2, 3, 4)  # (E, k, n, C, S)
    mean = chunks.mean(axis=(2, 4)).mean(axis=1)
    var = chunks.var(axis=(2, 4), ddof=1).mean(axis=1)  # unbiased, then averaged
    np.testing.assert_allclose(bn.running_mean, (1 - momentum) * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, momentum + (1 - momentum) * var, rtol=1e-12)

    bn.eval()
    x_new = np.random.default_rng(4).normal(size=(2, 5, 3, 2, 2))  # any batch size in eval
    y = bn.forward(x_new)
    rm, rv = bn.running_mean, bn.running_var
    expected = (x_new - rm[:, None, :, None, None]) / np.sqrt(rv[:, None, :, None, None] + eps)
    expected = expected * bn.params["gamma"][:, None, :, None, None]
    expected = expected + bn.params["beta"][:, None, :, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, rm)  # eval leaves the statistics alone


@pytest.mark.parametrize("momentum, precise", [(0.0, False), (0.9, True)])
def test_a_full_replacement_clears_non_finite_statistics(momentum, precise):
    """momentum = 0 and the first precise batch overwrite the old values: weighting them by
    0 would leave NaN (0 * NaN) or Inf (0 * Inf) in place."""
    bn = _bn(3, workers=2, momentum=momentum)
    bn.buffers["running_mean"][...] = np.nan
    bn.buffers["running_var"][...] = np.inf
    if precise:
        bn.start_precise_statistics()
    x = np.random.default_rng(5).normal(size=(2, 8, 3))
    bn.forward(x)
    chunks = x.reshape(2, 2, 4, 3)  # (E, k, n, C)
    np.testing.assert_allclose(bn.running_mean, chunks.mean(axis=2).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, chunks.var(axis=2, ddof=1).mean(axis=1), rtol=1e-12)


def test_zero_gamma_init_contributes_nothing():
    bn = BatchNorm(3, gamma_init=0.0).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(5).normal(size=(2, 4, 3, 2, 2))
    y = bn.forward(x)
    np.testing.assert_array_equal(y, 0.0)  # y = beta = 0
    dx = bn.backward(np.random.default_rng(6).normal(size=y.shape))
    np.testing.assert_array_equal(dx, 0.0)
    assert np.all(np.abs(bn.grads["gamma"]) > 1e-3)  # gamma still learns


def test_kinds_and_initial_values():
    bn = BatchNorm(4, name="bn7").init([0, 1])
    assert bn.named_kinds() == {"bn7.gamma": "norm", "bn7.beta": "norm"}
    np.testing.assert_array_equal(bn.params["gamma"], 1.0)
    np.testing.assert_array_equal(bn.params["beta"], 0.0)
    assert bn.running_mean.shape == bn.running_var.shape == (2, 4)
    assert bn.num_params() == 8


def test_member_equals_model_built_alone():
    x = np.random.default_rng(6).normal(size=(2, 4, 3))
    ensemble = BatchNorm(3, workers=2).init([7, 8], dtype=np.float64)
    alone = BatchNorm(3, workers=2).init(8, dtype=np.float64)
    np.testing.assert_allclose(ensemble.forward(x)[1], alone.forward(x[1:])[0], rtol=1e-14)
    np.testing.assert_allclose(ensemble.running_var[1], alone.running_var[0], rtol=1e-14)


def test_set_workers_reaches_batchnorm_layers():
    model = Sequential([BatchNorm(3, name="bn1"), BatchNorm(3, name="bn2")])
    model.set_workers(4)
    assert [layer.workers for layer in model.layers] == [4, 4]


def test_batch_not_divisible_by_workers_raises():
    bn = BatchNorm(3, workers=3).init([0, 1])
    with pytest.raises(ValueError, match="workers"):
        bn.forward(np.zeros((2, 8, 3), dtype=np.float32))
    bn.eval()
    bn.forward(np.zeros((2, 8, 3), dtype=np.float32))  # eval needs no chunks


def test_single_value_per_chunk_raises():
    bn = BatchNorm(3, workers=4).init(0)
    with pytest.raises(ValueError, match="workers"):
        bn.forward(np.zeros((1, 4, 3), dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_features": 0}, "num_features"),
        ({"num_features": 3, "workers": 0}, "workers"),
        ({"num_features": 3, "momentum": 1.5}, "momentum"),
        ({"num_features": 3, "eps": 0.0}, "eps"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(**kwargs)


def test_bad_input_shape_raises():
    bn = BatchNorm(3).init([0, 1])
    with pytest.raises(ValueError, match=r"\(E, B, 3\)"):
        bn.forward(np.zeros((2, 4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="ensemble"):
        bn.forward(np.zeros((3, 4, 3), dtype=np.float32))
