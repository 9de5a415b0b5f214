"""A data set on the host: train and test splits, images as (N, C, H, W) float32.

Every loader returns a ``Dataset``. Labels are int64 class indices in ``[0, classes)``; a
regression set has ``classes = 0`` and float32 targets of shape (N,) or (N, K). The arrays are
read-only views, so a data set shared between runs (``functools.cache``) cannot be changed by
one of them; ``standardize`` and ``dataclasses.replace`` make new ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

STANDARDIZE_MODES = ("feature", "channel", "global")


def _frozen(a: Any, dtype: Any) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype).view()  # a view: the caller's array stays writable
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train and test splits of one data set, validated at construction.

    ``x_train`` (N, C, H, W) and ``x_test`` (M, C, H, W) are float32 with ``in_shape`` = (C, H, W)
    (MNIST-1D is (1, 1, 40), digits (1, 8, 8)); ``y_train`` (N,) and ``y_test`` (M,) are int64
    labels for ``classes`` >= 2, or float32 targets (N,) / (N, K) when ``classes`` is 0
    (regression). Floating inputs are converted to float32 and integer labels to int64; integer
    images are refused (scale them to floats first), as are mismatched lengths and shapes.
    ``process`` is the generating process of a synthetic set (a ``FreshSampler`` draws fresh
    training batches from it), None for a fixed data set.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    in_shape: tuple[int, int, int]
    process: Any = None

    def __post_init__(self) -> None:
        in_shape = tuple(int(d) for d in self.in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError(
                f"{self.name}: in_shape must be (C, H, W) with positive sizes, got {self.in_shape}"
            )
        if not (
            isinstance(self.classes, int | np.integer) and (self.classes == 0 or self.classes >= 2)
        ):
            raise ValueError(
                f"{self.name}: classes must be an integer >= 2 (or 0 for regression), "
                f"got {self.classes!r}"
            )
        object.__setattr__(self, "in_shape", in_shape)
        object.__setattr__(self, "classes", int(self.classes))
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            x, y = np.asarray(x), np.asarray(y)
            if x.dtype.kind != "f":
                raise ValueError(
                    f"{self.name}: x_{split} must hold floating-point values (scale integer "
                    f"images to floats first), got dtype {x.dtype}"
                )
            if x.shape[1:] != in_shape or x.ndim != 4:
                raise ValueError(
                    f"{self.name}: x_{split} must have shape (N, *{in_shape}), got {x.shape}"
                )
            if len(y) != len(x):
                raise ValueError(
                    f"{self.name}: x_{split} has {len(x)} examples but y_{split} has {len(y)}"
                )
            if self.classes:
                if y.ndim != 1 or y.dtype.kind not in "iu":
                    raise ValueError(
                        f"{self.name}: y_{split} must be a 1-D array of integer labels, "
                        f"got shape {y.shape} and dtype {y.dtype}"
                    )
                if len(y) and (y.min() < 0 or y.max() >= self.classes):
                    raise ValueError(
                        f"{self.name}: y_{split} labels must lie in [0, {self.classes}), "
                        f"got [{y.min()}, {y.max()}]"
                    )
                y = _frozen(y, np.int64)
            else:
                if y.ndim not in (1, 2) or y.dtype.kind not in "fiu":
                    raise ValueError(
                        f"{self.name}: regression targets y_{split} must be numbers of shape "
                        f"(N,) or (N, K), got shape {y.shape} and dtype {y.dtype}"
                    )
                y = _frozen(y, np.float32)
            object.__setattr__(self, f"x_{split}", _frozen(x, np.float32))
            object.__setattr__(self, f"y_{split}", y)
        if len(self.x_train) == 0:
            raise ValueError(f"{self.name}: the training split is empty")

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    def __repr__(self) -> str:
        task = f"{self.classes} classes" if self.classes else "regression"
        return (
            f"Dataset({self.name!r}, train {self.n_train}, test {self.n_test}, "
            f"in_shape {self.in_shape}, {task})"
        )

    def standardize(self, mode: str = "feature", eps: float = 1e-8) -> Dataset:
        """Subtract the training mean and divide by the training standard deviation.

        ``mode``: ``feature`` (one mean and std per input value, i.e. per pixel), ``channel``
        (one per channel C, over N, H, W: the usual CIFAR normalisation) or ``global`` (one
        scalar, like MNIST's 0.1307 / 0.3081). The statistics come from the training split only
        and are applied to both splits. A feature with a standard deviation below ``eps``
        (a pixel that is always 0) is only centred.
        """
        if mode not in STANDARDIZE_MODES:
            raise ValueError(f"mode must be one of {STANDARDIZE_MODES}, got {mode!r}")
        axes = {"feature": (0,), "channel": (0, 2, 3), "global": None}[mode]
        x = self.x_train  # float32 temporaries, float64 sums: no float64 copy of the data
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        var = np.square(x - mean.astype(np.float32)).mean(
            axis=axes, keepdims=True, dtype=np.float64
        )
        std = np.sqrt(var)
        mean, std = mean.astype(np.float32), np.where(std < eps, 1.0, std).astype(np.float32)
        return dataclasses.replace(
            self, x_train=(x - mean) / std, x_test=(self.x_test - mean) / std
        )
