import numpy as np
import pytest

from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.residual import BasicBlock
from tests.gradcheck import check_layer


def _randomise_norms(block: BasicBlock, seed: int = 42) -> None:
    """Random gamma and beta, so that the check sees every term (and no zero gamma)."""
    rng = np.random.default_rng(seed)
    for name, p in block.named_params().items():
        if name.endswith((".gamma", ".beta")):
            p[...] = rng.normal(size=p.shape)


def test_identity_block_gradients():
    block = BasicBlock(2, 2, name="res2").init([0, 1], dtype=np.float64)
    assert not block.projection
    _randomise_norms(block)
    x = np.random.default_rng(0).normal(size=(2, 4, 2, 4, 4))
    check_layer(block, x)


@pytest.mark.parametrize("workers", [1, 2])
def test_projection_block_gradients(workers):
    block = BasicBlock(2, 3, stride=2, name="res3").init([0, 1], dtype=np.float64)
    assert block.projection
    block.set_workers(workers)
    _randomise_norms(block)
    x = np.random.default_rng(1).normal(size=(2, 4, 2, 4, 4))
    assert block.forward(x).shape == (2, 4, 3, 2, 2)
    check_layer(block, x)


def test_row_input_block_gradients():
    """MNIST-1D rows (H = 1): (1, 3) kernels, stride only along W."""
    block = BasicBlock(2, 3, stride=2, name="res3", input_size=(1, 6)).init([0, 1], np.float64)
    assert block.params == {} and block.conv1.params["w"].shape == (2, 3, 2, 1, 3)
    _randomise_norms(block)
    x = np.random.default_rng(2).normal(size=(2, 4, 2, 1, 6))
    assert block.forward(x).shape == (2, 4, 3, 1, 3)
    assert block.output_size((1, 6)) == (1, 3)
    check_layer(block, x)


def test_shared_input_gradients():
    block = BasicBlock(2, 2, name="res2").init([0, 1, 2], dtype=np.float64)
    _randomise_norms(block)
    x = np.random.default_rng(3).normal(size=(1, 4, 2, 3, 3))
    check_layer(block, x)


def test_names_kinds_and_parameter_count():
    block = BasicBlock(16, 32, stride=2, name="res3a").init(0)
    kinds = block.named_kinds()
    assert list(kinds) == [
        "res3a.conv1.w",
        "res3a.bn1.gamma",
        "res3a.bn1.beta",
        "res3a.conv2.w",
        "res3a.bn2.gamma",
        "res3a.bn2.beta",
        "res3a.shortcut.w",
        "res3a.shortcut_bn.gamma",
        "res3a.shortcut_bn.beta",
    ]
    assert kinds["res3a.conv1.w"] == "weight" and kinds["res3a.bn2.beta"] == "norm"
    assert block.num_params() == 9 * 16 * 32 + 9 * 32 * 32 + 4 * 32 + 16 * 32 + 2 * 32
    identity = BasicBlock(16, 16, name="res2a")
    assert not any("shortcut" in n for n in identity.named_kinds())
    assert Sequential([identity]).layers == [identity]  # no duplicate names


def test_zero_init_last_bn_starts_as_relu_of_the_shortcut():
    block = BasicBlock(2, 2, name="res2", zero_init_last_bn=True).init([0, 1], np.float64)
    np.testing.assert_array_equal(block.bn2.params["gamma"], 0.0)
    x = np.random.default_rng(4).normal(size=(2, 4, 2, 3, 3))
    np.testing.assert_array_equal(block.forward(x), np.maximum(x, 0.0))


def test_member_equals_block_built_alone():
    x = np.random.default_rng(5).normal(size=(2, 4, 2, 4, 4))
    ensemble = BasicBlock(2, 3, stride=2).init([3, 4], dtype=np.float64)
    alone = BasicBlock(2, 3, stride=2).init(4, dtype=np.float64)
    np.testing.assert_allclose(ensemble.forward(x)[1], alone.forward(x[1:])[0], rtol=1e-12)


@pytest.mark.parametrize(
    "args, match",
    [((0, 2), "in_channels"), ((2, 0), "out_channels"), ((2, 2, 0), "stride")],
)
def test_bad_arguments_raise(args, match):
    with pytest.raises(ValueError, match=match):
        BasicBlock(*args)


def test_bad_input_raises():
    block = BasicBlock(2, 2).init(0)
    with pytest.raises(ValueError, match=r"\(E, B, 2, H, W\)"):
        block.forward(np.zeros((1, 4, 3, 4, 4), dtype=np.float32))
