"""Every data set by name: ``load_dataset("mnist1d", num_samples=40960, seed=1)``.

Two keyword arguments mean the same for every set, so a run config can pass them blindly:

- ``seed``: the seed that generates the set (synthetic sets, MNIST-1D) or picks its split
  (digits); the file sets have fixed official splits and ignore it.
- ``num_samples``: examples generated in all, split 80/20 into train and test (MNIST-1D's
  convention, so 20480 gives 16384 training examples); only for the generated sets.

Other keyword arguments go to the set's own loader (``root=``, ``download=`` for the file
sets, ``dim=``, ``classes=`` for the synthetic ones, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dataset import Dataset
from .digits import load_digits
from .files import load_cifar10, load_fashion_mnist, load_mnist
from .mnist1d import load_mnist1d
from .synthetic import gaussian_mixture, teacher_student

TRAIN_FRACTION = 0.8


def _synthetic(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
    def load(num_samples: int | None = None, **kwargs: Any) -> Dataset:
        if num_samples is not None:
            if not isinstance(num_samples, int) or num_samples < 2:
                raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
            kwargs["n_train"] = max(1, int(num_samples * TRAIN_FRACTION))
            kwargs["n_test"] = num_samples - kwargs["n_train"]
        return loader(**kwargs)

    return load


def _fixed(loader: Callable[..., Dataset], name: str, uses_seed: bool) -> Callable[..., Dataset]:
    def load(num_samples: int | None = None, seed: int | None = None, **kwargs: Any) -> Dataset:
        if num_samples is not None:
            raise ValueError(
                f"num_samples applies only to the generated data sets {GENERATED}; "
                f"{name!r} has a fixed size"
            )
        if uses_seed and seed is not None:
            kwargs["seed"] = seed
        return loader(**kwargs)

    return load


LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": _fixed(load_digits, "digits", uses_seed=True),
    "mnist1d": load_mnist1d,
    "teacher_student": _synthetic(teacher_student),
    "gaussian_mixture": _synthetic(gaussian_mixture),
    "mnist": _fixed(load_mnist, "mnist", uses_seed=False),
    "fashion_mnist": _fixed(load_fashion_mnist, "fashion_mnist", uses_seed=False),
    "cifar10": _fixed(load_cifar10, "cifar10", uses_seed=False),
}
DATASETS = tuple(LOADERS)
SYNTHETIC = ("teacher_student", "gaussian_mixture")  # sets with a process to draw from
GENERATED = ("mnist1d", *SYNTHETIC)


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """The data set ``name`` (one of ``DATASETS``); see the module docstring for arguments."""
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; accepted: {', '.join(DATASETS)}")
    return LOADERS[name](**kwargs)
