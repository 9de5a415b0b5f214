"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package, cached on disk.

``mnist1d.data.make_dataset`` builds the set from ten 1-D digit templates (padding, shear,
translation, correlated and i.i.d. noise) at any size; ``get_dataset`` is never called, since
it downloads. ``make_dataset`` seeds the *global* ``np.random`` (and ``random``) state, so that
state is saved and restored around the call: loading MNIST-1D never changes the random numbers
of other code. Generation takes about 2 s per 10k examples; the arrays are then cached as an
``.npz`` under ``<cache_dir>/mnist1d/`` (``$LBSIM_CACHE``, default ``~/.cache/largebatch_sim``),
keyed by the arguments, the generator settings and the ``mnist1d`` version, and written
atomically (a temporary file beside it, then ``os.replace``).

``make_dataset`` standardises the signals itself (one mean and std over all examples, test
included); they are kept as they come. With the default ``seed = 0`` the set is not the
published ``mnist1d_data.pkl`` (seed 42, 5000 examples, an older generator), but a set of the
same kind and any size.
"""

from __future__ import annotations

import hashlib
import json
import random
import zipfile
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..validate import ParameterError
from .dataset import Dataset
from .paths import cache_dir

# The generator settings of mnist1d 0.0.2 (its get_dataset_args), passed explicitly so that
# our data do not change if the package's defaults do.
GENERATOR = {
    "template_len": 12,
    "padding": [36, 60],
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2,
    "shear_scale": 0.75,
    "shuffle_seq": False,
    "final_seq_length": 40,
}
LENGTH = GENERATOR["final_seq_length"]


def _generate(num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset  # imported only on a cache miss (pulls matplotlib)

    args = SimpleNamespace(num_samples=num_samples, train_split=train_split, seed=seed, **GENERATOR)
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return {
        "x_train": np.asarray(data["x"], np.float32),
        "y_train": np.asarray(data["y"], np.int64),
        "x_test": np.asarray(data["x_test"], np.float32),
        "y_test": np.asarray(data["y_test"], np.int64),
    }


def cache_path(num_samples: int, train_split: float, seed: int, root: Path | None = None) -> Path:
    """Where the arrays for these arguments are cached."""
    key = {
        "num_samples": num_samples,
        "train_split": train_split,
        "seed": seed,
        "generator": GENERATOR,
        "mnist1d": version("mnist1d"),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_dir() / "mnist1d" if root is None else Path(root)
    return root / f"mnist1d-n{num_samples}-s{seed}-{digest}.npz"


def check_num_samples(name: str, value: Any) -> int:
    """MNIST-1D's size: ``make_dataset`` draws value / 10 examples of each of the 10 classes."""
    if not isinstance(value, int | np.integer) or value < 10 or value % 10:
        raise ParameterError(name, value, "a positive multiple of 10 (examples per class x 10)")
    return int(value)


def load_mnist1d(
    num_samples: int = 20480,
    train_split: float = 0.8,
    seed: int = 0,
    cache: bool = True,
    cache_root: str | Path | None = None,
) -> Dataset:
    """MNIST-1D as (N, 1, 1, 40), 10 classes, ``num_samples`` examples in all.

    ``num_samples`` (a multiple of 10: ``make_dataset`` draws num_samples / 10 per class) is
    split into ``int(num_samples * train_split)`` training examples and the rest for testing:
    the default 20480 gives 16384 + 4096 (docs/DESIGN.md: batch sweeps use >= 20480). ``cache``
    reads and writes the on-disk cache (``cache_root`` overrides its folder).
    """
    check_num_samples("num_samples", num_samples)
    if not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    n_train = int(num_samples * train_split) if isinstance(train_split, int | float) else -1
    if not 1 <= n_train < num_samples:
        raise ValueError(
            f"train_split must leave both splits non-empty (0 < int(num_samples * train_split) "
            f"< num_samples = {num_samples}), got {train_split!r}"
        )
    num_samples, seed, train_split = int(num_samples), int(seed), float(train_split)
    path = cache_path(num_samples, train_split, seed, cache_root)
    arrays = None
    if cache and path.exists():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            arrays = None  # a damaged cache file is regenerated and replaced
    if arrays is None:
        arrays = _generate(num_samples, train_split, seed)
        if cache:
            atomic_write(path, lambda f: np.savez(f, **arrays))
    return Dataset(
        "mnist1d",
        arrays["x_train"].reshape(-1, 1, 1, LENGTH),
        arrays["y_train"],
        arrays["x_test"].reshape(-1, 1, 1, LENGTH),
        arrays["y_test"],
        10,
        (1, 1, LENGTH),
    )
