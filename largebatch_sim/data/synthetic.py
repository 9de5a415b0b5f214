"""Synthetic data: a random teacher network, a Gaussian mixture; finite sets or fresh samples.

A *process* (``TeacherProcess``, ``MixtureProcess``) is the generative model, fixed by its
``seed``: ``process.sample(n, rng)`` draws n new examples from a host NumPy Generator.
``teacher_student`` and ``gaussian_mixture`` draw a finite ``Dataset`` from one;
``FreshSampler`` draws a new batch from the same process at every step, so no example is ever
seen twice (the infinite-data regime of McCandlish et al.'s noise-scale experiments). Inputs
are vectors, stored as images of shape (1, 1, dim).

Random streams are children of ``np.random.SeedSequence(seed)``: the process's parameters
(teacher weights, class means) come from child 0, the training split from child 1 and the test
split from child 2. ``FreshSampler`` member seeds drive their own ``default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend
from .dataset import Dataset
from .sampler import MemberRows

PARAMS, TRAIN, TEST = 0, 1, 2  # child streams of SeedSequence(seed)


def _stream(seed: int, child: int) -> np.random.Generator:
    """Generator of child ``child`` of ``SeedSequence(seed)`` (as ``SeedSequence.spawn`` makes
    it; note that ``default_rng([seed, 0])`` would equal ``default_rng(seed)``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(child,)))


def _check_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_nonneg(name: str, value: Any) -> None:
    if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, eq=False)
class TeacherProcess:
    """x ~ N(0, I_dim); the label is the argmax of a random teacher's outputs.

    The teacher is ``tanh(x W1) W2`` with ``hidden`` units (W1 ~ N(0, 1/dim), so
    pre-activations are ~N(0, 1)), or the linear map ``x W`` when ``hidden`` is 0. Each output
    column of W2 (or W) has unit norm, so no class dominates by scale; tanh is odd, so no class
    dominates by offset either; the outputs' spreads still differ, so a per-class ``bias``,
    fitted once on a calibration sample, makes the classes equally frequent (to about 1%).
    ``noise`` is the standard deviation of Gaussian noise added to
    the teacher's outputs before the argmax (label noise near the decision boundaries).
    ``classes = 0`` makes a regression task: y = the teacher's single output (+ noise).
    """

    dim: int = 32
    classes: int = 10
    hidden: int = 64
    noise: float = 0.0
    seed: int = 0
    weights: tuple[np.ndarray, ...] = field(init=False, repr=False)
    bias: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("dim", self.dim, 1)
        _check_int("hidden", self.hidden, 0)
        _check_int("seed", self.seed, 0)
        _check_nonneg("noise", self.noise)
        is_int = isinstance(self.classes, int | np.integer)
        if not is_int or not (self.classes == 0 or self.classes >= 2):
            raise ValueError(
                f"classes must be an integer >= 2 (or 0 for regression), got {self.classes!r}"
            )
        rng = _stream(self.seed, PARAMS)
        out = self.classes or 1
        if self.hidden:
            w1 = rng.normal(0.0, 1.0 / np.sqrt(self.dim), (self.dim, self.hidden))
            w2 = rng.standard_normal((self.hidden, out))
            weights: tuple[np.ndarray, ...] = (w1, w2 / np.linalg.norm(w2, axis=0))
        else:
            w = rng.standard_normal((self.dim, out))
            weights = (w / np.linalg.norm(w, axis=0),)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", np.zeros(out))
        if self.classes:
            object.__setattr__(self, "bias", self._balance(rng.standard_normal((16384, self.dim))))

    def _balance(self, x: np.ndarray, iterations: int = 100) -> np.ndarray:
        """Per-class offsets that make argmax(teacher(x) + bias) equally frequent on x."""
        out, bias = self.teacher(x), np.zeros(self.classes)
        for _ in range(iterations):
            freq = np.bincount((out + bias).argmax(axis=1), minlength=self.classes) / len(x)
            bias += 0.1 * np.log(1.0 / (self.classes * np.maximum(freq, 1e-4)))
        return bias

    def teacher(self, x: np.ndarray) -> np.ndarray:
        """The teacher's outputs (n, classes or 1) for inputs x (n, dim), in float64 (before
        the class-balancing ``bias``)."""
        if self.hidden:
            return np.tanh(x @ self.weights[0]) @ self.weights[1]
        return x @ self.weights[0]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n new examples: x (n, 1, 1, dim) float32, y (n,) int64 (float32 for regression)."""
        x = rng.standard_normal((n, self.dim))
        out = self.teacher(x) + self.bias
        if self.noise:
            out = out + self.noise * rng.standard_normal(out.shape)
        y = out.argmax(axis=1) if self.classes else out[:, 0].astype(np.float32)
        return x.reshape(n, 1, 1, self.dim).astype(np.float32), y


@dataclass(frozen=True, eq=False)
class MixtureProcess:
    """y uniform over ``classes``; x = mu_y + N(0, I_dim).

    The class means are drawn once, mu_c ~ N(0, separation^2 / dim I), so each has norm about
    ``separation`` and two means lie about ``separation * sqrt(2)`` apart.
    """

    dim: int = 32
    classes: int = 10
    separation: float = 3.0
    seed: int = 0
    means: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("dim", self.dim, 1)
        _check_int("classes", self.classes, 2)
        _check_int("seed", self.seed, 0)
        _check_nonneg("separation", self.separation)
        scale = self.separation / np.sqrt(self.dim)
        means = scale * _stream(self.seed, PARAMS).standard_normal((self.classes, self.dim))
        object.__setattr__(self, "means", means)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n new examples: x (n, 1, 1, dim) float32, y (n,) int64."""
        y = rng.integers(self.classes, size=n)
        x = self.means[y] + rng.standard_normal((n, self.dim))
        return x.reshape(n, 1, 1, self.dim).astype(np.float32), y


def _finite(
    name: str, process: TeacherProcess | MixtureProcess, n_train: int, n_test: int
) -> Dataset:
    x_train, y_train = process.sample(n_train, _stream(process.seed, TRAIN))
    x_test, y_test = process.sample(n_test, _stream(process.seed, TEST))
    shape = (1, 1, process.dim)
    return Dataset(name, x_train, y_train, x_test, y_test, process.classes, shape, process)


def teacher_student(
    n_train: int = 4096,
    n_test: int = 1024,
    dim: int = 32,
    classes: int = 10,
    seed: int = 0,
    hidden: int = 64,
    noise: float = 0.0,
) -> Dataset:
    """A finite sample of ``TeacherProcess(dim, classes, hidden, noise, seed)``; in_shape
    (1, 1, dim). The same arguments give the same teacher as a ``FreshSampler`` on that
    process, so its test split can evaluate fresh-sample training."""
    _check_int("n_train", n_train, 1)
    _check_int("n_test", n_test, 0)
    return _finite(
        "teacher_student", TeacherProcess(dim, classes, hidden, noise, seed), n_train, n_test
    )


def gaussian_mixture(
    n_train: int = 4096,
    n_test: int = 1024,
    dim: int = 32,
    classes: int = 10,
    seed: int = 0,
    separation: float = 3.0,
) -> Dataset:
    """A finite sample of ``MixtureProcess(dim, classes, separation, seed)``; in_shape
    (1, 1, dim)."""
    _check_int("n_train", n_train, 1)
    _check_int("n_test", n_test, 0)
    return _finite(
        "gaussian_mixture", MixtureProcess(dim, classes, separation, seed), n_train, n_test
    )


class FreshSampler(MemberRows):
    """A new batch from ``process`` at every step: the infinite-data counterpart of
    ``BatchSampler``, with the same interface.

    ``seeds`` is one seed or one per ensemble member; each distinct seed drives its own host
    ``np.random.default_rng(seed)``, and ``next()`` returns (xb, yb) of shape (E', B, ...) on
    the device, E' = 1 when all members share a seed (else E, one row per member). The batch is
    drawn on the host and copied to the device at every step (B x dim numbers: small, but not
    free on a GPU). There are no epochs; ``steps_per_epoch`` is a nominal length, used only to
    report "epochs" (B x steps_per_epoch examples each).
    """

    def __init__(
        self,
        process: TeacherProcess | MixtureProcess,
        batch_size: int,
        seeds: int | Sequence[int] = 0,
        steps_per_epoch: int = 1,
    ) -> None:
        _check_int("batch_size", batch_size, 1)
        _check_int("steps_per_epoch", steps_per_epoch, 1)
        self.process, self.batch_size = process, int(batch_size)
        self.steps_per_epoch = int(steps_per_epoch)
        self._set_members(seeds)
        self._rngs = [np.random.default_rng(s) for s in self.distinct_seeds]
        self.step = 0

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def next(self) -> tuple[Any, Any]:
        draws = [self.process.sample(self.batch_size, rng) for rng in self._rngs]
        x, y = np.stack([d[0] for d in draws]), np.stack([d[1] for d in draws])
        if not self.shared:
            x, y = x[self._rows], y[self._rows]
        self.step += 1
        return backend.asarray(x), backend.asarray(y)

    def __iter__(self) -> FreshSampler:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return self.next()
