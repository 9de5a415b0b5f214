"""Per-chunk gradient norms for the noise scale (McCandlish et al.), as a by-product of backward.

With ``set_grad_chunks(k)`` every layer with parameters splits the batch into k contiguous
chunks: the chunk contributions must sum to the ordinary gradient, and chunk c's squared norm
must equal that of the gradient of a backward on chunk c alone, with the loss scaled to the
global mean (exactly without batch norm; with it when the noise chunks are unions of BN's
worker chunks). k = 1 must leave the ordinary backward bit-identical.
"""

import copy

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.instruments import NoiseScale, chunk_sq_norms
from largebatch_sim.nn.base import Layer
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.conv import Conv2d
from largebatch_sim.nn.linear import Linear
from largebatch_sim.nn.losses import softmax_cross_entropy
from largebatch_sim.nn.models import build_model
from largebatch_sim.runs import RunConfig, run_ensemble

E = 2


def _sq(grads: dict) -> np.ndarray:
    """|g|^2 per member over all the arrays in ``grads``."""
    return sum(np.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in grads.values())


def _layer_case(layer: Layer, x: np.ndarray, k: int, workers: int | None = None) -> None:
    """Chunked backward vs the ordinary one and vs backward on each chunk alone."""
    rng = np.random.default_rng(1)
    plain = copy.deepcopy(layer)
    y = plain.forward(x)
    dout = rng.normal(size=(E,) + y.shape[1:])
    dx_plain = plain.backward(dout)

    layer.set_grad_chunks(k)
    np.testing.assert_array_equal(layer.forward(x), y)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, dx_plain)  # dx is untouched by the split
    for key, g in plain.grads.items():
        np.testing.assert_allclose(layer.grads[key], g, rtol=1e-12, atol=1e-14)
        assert layer.chunk_sq_norms[key].shape == (E, k)
    assert layer.chunk_batch == x.shape[1]

    n = x.shape[1] // k
    chunk_sum = {key: np.zeros_like(g) for key, g in plain.grads.items()}
    for c in range(k):
        alone = copy.deepcopy(plain)
        if workers is not None:
            alone.set_workers(workers // k)
        alone.forward(x[:, c * n : (c + 1) * n])
        alone.backward(dout[:, c * n : (c + 1) * n])  # already scaled to the global mean
        for key, g in alone.grads.items():
            np.testing.assert_allclose(
                layer.chunk_sq_norms[key][:, c], np.sum(g.reshape(E, -1) ** 2, axis=1), rtol=1e-11
            )
            chunk_sum[key] += g
    for key, g in plain.grads.items():
        np.testing.assert_allclose(chunk_sum[key], g, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("shared", [False, True])
def test_linear_chunks(shared):
    layer = Linear(4, 3, name="fc", bias_init=0.1).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1 if shared else E, 12, 4))
    _layer_case(layer, x, k=3)


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((6, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ((6, 2, 5, 6), {"kernel_size": (2, 3), "stride": (1, 2), "padding": 0}),
        ((6, 2, 1, 12), {"kernel_size": 5, "stride": 2, "padding": 2, "input_size": (1, 12)}),
    ],
    ids=["stride-pad", "rect", "1d"],
)
@pytest.mark.parametrize("shared", [False, True])
def test_conv_chunks(shape, kwargs, shared):
    layer = Conv2d(2, 3, name="conv", bias_init=0.1, **kwargs).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1 if shared else E, *shape))
    _layer_case(layer, x, k=3)


@pytest.mark.parametrize("spatial", [(), (2, 3)])
@pytest.mark.parametrize(("workers", "k"), [(2, 2), (4, 2), (4, 4)])
def test_batchnorm_chunks_that_are_unions_of_workers(spatial, workers, k):
    layer = BatchNorm(3, name="bn", workers=workers).init([0, 1], dtype=np.float64)
    layer.params["gamma"] += np.random.default_rng(2).normal(size=(E, 3))
    x = np.random.default_rng(0).normal(size=(E, 8, 3, *spatial))
    _layer_case(layer, x, k=k, workers=workers)


def test_batchnorm_chunks_finer_than_workers_still_sum_to_the_gradient():
    layer = BatchNorm(3, name="bn", workers=1).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1, 8, 3, 2, 2))
    dout = np.random.default_rng(1).normal(size=(E, 8, 3, 2, 2))
    plain = copy.deepcopy(layer)
    plain.forward(x)
    plain.backward(dout)
    layer.set_grad_chunks(4)
    layer.forward(x)
    layer.backward(dout)
    for key, g in plain.grads.items():
        np.testing.assert_allclose(layer.grads[key], g, rtol=1e-12, atol=1e-14)
        assert layer.chunk_sq_norms[key].shape == (E, 4)


def _model(name: str) -> Layer:
    kwargs = {"dropout": 0.0} if name.startswith("alexnet") else {}
    return build_model(name, (1, 8, 8), 10, **kwargs).init([3, 4], dtype=np.float64)


def _model_grads(model: Layer, x, y, scale: float = 1.0) -> dict:
    logits = model.forward(x)
    _, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits * scale)
    return {k: v.copy() for k, v in model.named_grads().items()}


@pytest.mark.parametrize(
    ("name", "shared"), [("mlp", True), ("alexnet_bn", False), ("resnet", True)]
)
def test_model_chunks_match_backward_on_each_chunk_alone(name, shared):
    B, k = 8, 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1 if shared else E, B, 1, 8, 8))
    y = rng.integers(0, 10, size=(1 if shared else E, B))
    model = _model(name)
    model.set_workers(k)  # BN's worker chunks coincide with the noise chunks
    plain = copy.deepcopy(model)
    full = _model_grads(plain, x, y)

    model.set_grad_chunks(k)
    chunked = _model_grads(model, x, y)
    for key, g in full.items():
        np.testing.assert_allclose(chunked[key], g, rtol=1e-10, atol=1e-13)
    per_chunk = chunk_sq_norms(model)
    assert per_chunk.shape == (E, k)

    n = B // k
    total = {key: np.zeros_like(g) for key, g in full.items()}
    for c in range(k):
        alone = copy.deepcopy(plain)
        alone.set_workers(1)
        part = slice(c * n, (c + 1) * n)
        # the chunk's own mean loss, scaled to its share of the global mean: n / B = 1 / k
        grads = _model_grads(alone, x[:, part], y[:, part], scale=1.0 / k)
        np.testing.assert_allclose(per_chunk[:, c], _sq(grads), rtol=1e-10)
        for key, g in grads.items():
            total[key] += g
    for key, g in full.items():
        np.testing.assert_allclose(total[key], g, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("name", ["mlp", "alexnet_bn", "resnet"])
def test_one_chunk_is_bit_identical_to_the_ordinary_backward(name):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(E, 8, 1, 8, 8))
    y = rng.integers(0, 10, size=(E, 8))
    before = _model_grads(_model(name), x, y)
    for k in (1, None):
        model = _model(name)
        model.set_grad_chunks(4)
        model.set_grad_chunks(k)
        after = _model_grads(model, x, y)
        for key, g in before.items():
            np.testing.assert_array_equal(after[key], g)
        assert all(not layer_norms for layer_norms in _chunk_dicts(model))


def _chunk_dicts(model: Layer) -> list[dict]:
    from largebatch_sim.nn.base import iter_layers

    return [layer.chunk_sq_norms for layer in iter_layers(model)]


def test_batch_not_divisible_by_chunks_raises():
    layer = Linear(4, 3, name="fc").init([0, 1], dtype=np.float64)
    layer.set_grad_chunks(3)
    layer.forward(np.ones((E, 8, 4)))
    with pytest.raises(ValueError, match="not divisible by grad_chunks=3"):
        layer.backward(np.ones((E, 8, 3)))
    with pytest.raises(ValueError, match="chunks must be an integer >= 1"):
        layer.set_grad_chunks(0)
    with pytest.raises(ValueError, match=r"noise_chunks must be a divisor of batch \(10\).*got 3"):
        RunConfig(batch=10, noise_chunks=3)
    with pytest.raises(ValueError, match="noise_chunks"):
        RunConfig(batch=10, noise_chunks=1)
    with pytest.raises(ValueError, match="noise_every"):
        RunConfig(batch=10, noise_chunks=2, noise_every=0)
    with pytest.raises(ValueError, match="chunks"):
        NoiseScale(1)


def test_instrument_matches_brute_force():
    """g_small_sq = mean over chunks of |grad of the chunk's own mean loss|^2; g_big_sq = |G|^2."""
    B, k = 12, 3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, B, 1, 1, 6))
    y = rng.integers(0, 10, size=(1, B))
    model = build_model("mlp", (1, 1, 6), 10, hidden=(5,)).init([0, 1], dtype=np.float64)
    plain = copy.deepcopy(model)
    inst = NoiseScale(k, model=model)
    grads = _model_grads(model, x, y)
    inst.before_update(7, model, model.named_grads())
    inst.after_update(7, model)

    n = B // k
    own = [
        _sq(
            _model_grads(copy.deepcopy(plain), x[:, c * n : (c + 1) * n], y[:, c * n : (c + 1) * n])
        )
        for c in range(k)
    ]
    table = inst.frame()
    assert list(table.columns) == ["step", "member", "g_small_sq", "g_big_sq", "b_small", "b_big"]
    assert table.step.tolist() == [7, 7] and table.member.tolist() == [0, 1]
    np.testing.assert_allclose(table.g_small_sq, np.mean(own, axis=0), rtol=1e-10)
    np.testing.assert_allclose(table.g_big_sq, _sq(grads), rtol=1e-12)
    assert table.b_small.tolist() == [n, n] and table.b_big.tolist() == [B, B]
    # with many examples per chunk the chunk gradients are noisier than the full one
    assert (table.g_small_sq > table.g_big_sq).all()


def test_instrument_attaches_itself_late_and_says_so():
    model = build_model("mlp", (1, 1, 6), 10, hidden=(5,)).init([0], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1, 4, 1, 1, 6))
    y = np.zeros((1, 4), dtype=int)
    inst = NoiseScale(2)
    _model_grads(model, x, y)
    with pytest.warns(UserWarning, match="not recorded"):
        inst.before_update(0, model, model.named_grads())
    assert model.grad_chunks == 2 and len(inst.frame()) == 0
    _model_grads(model, x, y)
    inst.before_update(1, model, model.named_grads())
    assert inst.frame().step.tolist() == [1]


def test_run_config_attaches_the_noise_instrument():
    config = RunConfig(
        data="digits",
        model="mlp",
        batch=64,
        base_batch=64,
        epochs=0.2,
        evals=1,
        noise_chunks=4,
        noise_every=2,
    )
    (result,) = run_ensemble([config], progress=False)
    table = result.instruments["noise"]
    assert len(table) >= 2
    assert table.step.tolist() == list(range(0, table.step.max() + 1, 2))
    assert (table.b_small == 16).all() and (table.b_big == 64).all()
    assert np.isfinite(table.g_small_sq).all() and (table.g_big_sq > 0).all()


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["mlp", "alexnet_bn"])
def test_noise_table_equal_on_cupy(on_backend, name):
    from largebatch_sim import backend

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 8, 1, 8, 8))
    y = rng.integers(0, 10, size=(1, 8))

    def table():
        model = _model(name)
        model.set_workers(2)
        inst = NoiseScale(4, model=model)
        _model_grads(model, backend.asarray(x), backend.asarray(y))
        inst.before_update(0, model, model.named_grads())
        return inst.frame()

    with on_backend("numpy"):
        cpu = table()
    with on_backend("cupy"):
        gpu = table()
    pd.testing.assert_frame_equal(gpu, cpu, rtol=1e-10)


def test_only_watched_steps_split_their_backward():
    """In the loop, a step the instrument does not watch runs the plain backward."""
    from largebatch_sim.data import BatchSampler, load_dataset
    from largebatch_sim.optim import SGD
    from largebatch_sim.train import Hook, train

    class SplitAtEachStep(Hook):
        def __init__(self) -> None:
            self.seen: list[int | None] = []

        def after_step(self, step, model, loss) -> None:
            self.seen.append(model.grad_chunks)

    data = load_dataset("digits")
    model = build_model("mlp", data.in_shape, data.classes).init([0])
    noise, spy = NoiseScale(4, every=3, model=model), SplitAtEachStep()
    sampler = BatchSampler(data.x_train, data.y_train, 32, seeds=[0])
    train(
        model,
        SGD(),
        np.full((7, 1), 0.05),
        sampler,
        progress=False,
        instruments={"noise": noise},
        hooks=[spy],
    )
    assert spy.seen == [4, None, None, 4, None, None, 4]
    assert noise.frame().step.tolist() == [0, 3, 6]
