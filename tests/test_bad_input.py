"""Bad input gets a clear error that names the parameter, before any compute."""

from pathlib import Path

import numpy as np
import pytest

from largebatch_sim.nn.models import build_model
from largebatch_sim.report.notebook import setup

SIZES = {"smoke": {}, "quick": {}, "full": {}}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(profile="huge"), "profile"),
        (dict(backend_name="tpu"), "backend"),
        (dict(seed="zero"), "seed"),
        (dict(seed=-1), "seed"),
        (dict(out_dir=3), "out_dir"),
    ],
)
def test_notebook_parameters_are_checked(params, message, tmp_path):
    args = dict(profile="smoke", backend_name="numpy", seed=0, out_dir=str(tmp_path)) | params
    with pytest.raises(ValueError, match=message):
        setup(sizes=SIZES, **args)


def test_unknown_model_lists_the_accepted_names():
    with pytest.raises(ValueError, match="alexnet_bn"):
        build_model("vgg", (1, 8, 8), 10)


def test_data_that_does_not_fit_the_model_is_refused():
    model = build_model("mlp", (1, 8, 8), 10).init(0)
    with pytest.raises(ValueError, match="64"):
        model.forward(np.zeros((1, 4, 1, 1, 40), dtype=np.float32))
    cnn = build_model("alexnet_bn", (1, 8, 8), 10).init(0)
    with pytest.raises(ValueError, match=r"conv1: expected input \(E, B, 1, H, W\)"):
        cnn.forward(np.zeros((1, 4, 3, 8, 8), dtype=np.float32))


def test_an_image_too_small_for_the_pools_is_refused():
    with pytest.raises(ValueError, match="too small"):
        build_model("alexnet_lrn", (1, 4, 4), 10)


def test_ensemble_of_size_zero_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        build_model("mlp", (1, 8, 8), 10).init([])


def test_a_relative_out_dir_is_the_repository_s_folder_wherever_the_notebook_runs(
    tmp_path, monkeypatch
):
    """JupyterLab runs a notebook from notebooks/: its figures still go to the repository's
    figures/ folder, as under make."""
    from largebatch_sim.report.notebook import resolve_out_dir

    root = Path(__file__).parents[1]
    monkeypatch.chdir(root / "notebooks")
    assert resolve_out_dir("figures") == root / "figures"
    assert resolve_out_dir(tmp_path) == tmp_path
