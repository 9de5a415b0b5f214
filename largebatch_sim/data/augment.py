"""Batch augmentation (Hoffer et al. 2020, "Augment Your Batch", arXiv 1901.09335).

Each step draws B unique examples and puts M augmented copies of each into the same batch of
M B, so the gradient is

    g = 1/(M B) sum_{i=1..B} sum_{m=1..M} grad l(w; T_m(x_i), y_i),

with T_m a random transformation drawn per copy. Steps per epoch and the schedule stay those of
B: an epoch still visits every unique example once, and only the batch the model sees grows.
With M = 1 it is ordinary augmentation (one random transformation per example). The paper
trains ResNet-44 with cutout on CIFAR-10 at M up to 40 and reports fewer SGD updates to the
same accuracy and a better final accuracy; it attributes this to the copies lowering the
gradient's variance.

The transformations are array operations over the whole batch at once (never one example at a
time), with parameters drawn on the host from each member's own NumPy ``Generator`` (seeded by
the member's seed, apart from its shuffle), so a member sees the same copies inside an ensemble
as when trained alone; they are drawn for a whole epoch at once and sent to the device in one
copy (a copy per step would wait for the device at every step). At ``strength`` s (per
member; 0 leaves the data untouched, 1 is the declared range below):

- MNIST-1D signals (length L = 40): MNIST-1D's own kinds of transformation (Greydanus 2020),
  reimplemented: a time shift by u s ``SIGNAL_SHIFT`` samples, a time scaling about the centre
  by 1 + u s ``SIGNAL_SCALE`` (u uniform in [-1, 1] each), both as one linear resampling
  x'(i) = x(c + (i - c) / a - shift) with the ends held, then i.i.d. Gaussian noise of standard
  deviation s ``SIGNAL_NOISE``.
- digits (8 x 8 images): a shift by a whole pixel or none along each axis (round(u s
  ``IMAGE_SHIFT``)), edges held, then Gaussian noise of s ``IMAGE_NOISE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from ..validate import ParameterError, check_integer, check_number, check_sequence

AUGMENTABLE = ("mnist1d", "digits")  # the sets whose examples have a geometry to transform
SIGNAL_SHIFT = 4.0  # samples (a tenth of MNIST-1D's 40)
SIGNAL_SCALE = 0.2  # relative time scaling
SIGNAL_NOISE = 0.1  # the signals are standardised: a tenth of their spread
IMAGE_SHIFT = 1.0  # pixels
IMAGE_NOISE = 0.1
# the augmentation stream of a member: apart from its shuffle, which default_rng(seed) draws
AUGMENT_STREAM = 0xA06


def resample(x: Any, positions: Any) -> Any:
    """x read at fractional ``positions`` along its last axis by linear interpolation, ends
    held.

    ``x`` is (E, N, ..., L); ``positions`` is (E, N, L'), one row of positions per example,
    shared by its other axes. Whole-number positions read exact values. The reads are one
    gather from the flattened array (cheaper than an index per axis)."""
    xp = backend.get_array_module(x)
    rows, length = x.shape[0] * x.shape[1], x.shape[-1]
    inner = x[0, 0].size // length  # the other axes of one example
    positions = xp.clip(positions, 0, length - 1).reshape(rows, 1, -1)
    low = xp.floor(positions)
    weight = (positions - low).astype(x.dtype)
    start = (xp.arange(rows * inner, dtype=np.int64) * length).reshape(rows, inner, 1)
    low = low.astype(np.int64)
    flat = x.reshape(-1)
    high = start + xp.minimum(low + 1, length - 1)
    out = flat[start + low] * (1 - weight) + flat[high] * weight
    return out.reshape(*x.shape[:-1], positions.shape[-1])


def augment_signals(x: Any, shift: Any, scale: Any, noise: Any) -> Any:
    """MNIST-1D's shift, time scaling and noise on (E, N, 1, 1, L) signals: ``shift`` and
    ``scale`` (E, N), ``noise`` like ``x`` (already multiplied by its deviation)."""
    xp = backend.get_array_module(x)
    length = x.shape[-1]
    centre = (length - 1) / 2
    i = xp.arange(length, dtype=np.float64)
    positions = centre + (i - centre) / scale[..., None] - shift[..., None]
    return resample(x, positions) + noise


def augment_images(x: Any, shift_y: Any, shift_x: Any, noise: Any) -> Any:
    """Whole-pixel shifts along both axes and noise on (E, N, C, H, W) images."""
    xp = backend.get_array_module(x)
    rows = xp.arange(x.shape[-2], dtype=np.float64) - shift_y[..., None]
    cols = xp.arange(x.shape[-1], dtype=np.float64) - shift_x[..., None]
    shifted_rows = resample(x.swapaxes(-1, -2), rows).swapaxes(-1, -2)
    return resample(shifted_rows, cols) + noise


class AugmentedSampler:
    """M augmented copies of each of the B unique examples of ``sampler``'s batches.

    ``sampler`` serves (E' or 1, B, ...) batches (``BatchSampler``); ``next()`` returns
    (E, M B, ...) inputs and (E' or 1, M B) labels, the M copies of example i adjacent (rows
    i M .. i M + M - 1), so any split of the batch into chunks of a multiple of M examples (a
    noise-scale chunk, a batch-norm worker) holds whole groups of copies. ``strengths`` (one
    per member) scale the transformations of ``kind`` (a name in ``AUGMENTABLE``); ``seeds``
    (one per member) seed each member's generator. ``steps_per_epoch`` is the sampler's.
    """

    def __init__(
        self,
        sampler: Any,
        copies: int,
        strengths: Sequence[float],
        seeds: Sequence[int],
        kind: str,
    ) -> None:
        if not callable(getattr(sampler, "next", None)) or not hasattr(sampler, "steps_per_epoch"):
            raise ParameterError(
                "sampler", sampler, "a sampler with next() -> (x, y) and steps_per_epoch"
            )
        self.copies = check_integer("copies", copies, low=1)
        strengths = check_sequence("strengths", strengths, lambda n, v: check_number(n, v, low=0))
        seeds = check_sequence("seeds", seeds, lambda n, v: check_integer(n, v, low=0))
        if len(strengths) != len(seeds) or not seeds:
            raise ParameterError(
                "strengths", strengths, f"one strength per member ({len(seeds)} seeds)"
            )
        if kind not in AUGMENTABLE:
            raise ParameterError("kind", kind, f"one of {AUGMENTABLE}")
        self.sampler, self.kind = sampler, kind
        self.strengths = np.asarray(strengths, dtype=np.float64)
        self._rngs = [np.random.default_rng([AUGMENT_STREAM, s]) for s in seeds]
        self.steps_per_epoch = sampler.steps_per_epoch
        self._step = 0
        self._epoch: tuple[Any, Any, Any] = ()

    @property
    def ensemble(self) -> int:
        return len(self._rngs)

    def next(self) -> tuple[Any, Any]:
        x, y = self.sampler.next()
        xp = backend.get_array_module(x)
        x = xp.repeat(x, self.copies, axis=1)
        y = xp.repeat(y, self.copies, axis=1)
        x = xp.broadcast_to(x, (self.ensemble, *x.shape[1:]))
        position = self._step % self.steps_per_epoch
        if position == 0:  # one host-to-device copy per epoch, as the sampler's
            self._epoch = self._epoch_draws(x.shape[1], x.shape[2:], x.dtype)
        self._step += 1
        first, second, noise = (d[:, position, : x.shape[1]] for d in self._epoch)
        if self.kind == "mnist1d":
            return augment_signals(x, first, second, noise), y
        return augment_images(x, first, second, noise), y

    def _epoch_draws(self, n: int, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any, Any]:
        """The transformations of the next epoch's steps, n copies each, on the device: for
        signals (shift, scale, noise), for images (row shift, column shift, noise), each
        (E, steps_per_epoch, n, ...). Every member draws from its own generator."""
        steps = self.steps_per_epoch
        draws = [
            (
                rng.uniform(-1, 1, size=(steps, n, 2)),
                rng.standard_normal((steps, n, *shape), dtype=np.float32),
            )
            for rng in self._rngs
        ]
        u, noise = (np.stack(d) for d in zip(*draws, strict=True))
        s = self.strengths[:, None, None]
        if self.kind == "mnist1d":
            first = u[..., 0] * s * SIGNAL_SHIFT
            second = 1 + u[..., 1] * s * SIGNAL_SCALE
            deviation = s * SIGNAL_NOISE
        else:
            first = np.round(u[..., 0] * s * IMAGE_SHIFT)
            second = np.round(u[..., 1] * s * IMAGE_SHIFT)
            deviation = s * IMAGE_NOISE
        noise = noise * deviation.reshape(-1, *[1] * (noise.ndim - 1))
        return backend.asarray(first), backend.asarray(second), backend.asarray(noise, dtype)

    def select_members(self, keep: np.ndarray) -> None:
        """Keep only the members at positions ``keep`` (in order): their strengths and
        generators, and the wrapped sampler's members where it has them."""
        keep = np.asarray(keep, dtype=np.int64)
        self.strengths = self.strengths[keep]
        self._rngs = [self._rngs[i] for i in keep]
        rows = backend.asarray(keep)
        self._epoch = tuple(d[rows] for d in self._epoch)
        if hasattr(self.sampler, "select_members"):  # a sampler with per-member rows
            self.sampler.select_members(keep)

    def __iter__(self) -> AugmentedSampler:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return self.next()
