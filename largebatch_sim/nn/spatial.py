"""Window arguments of convolutions and pools, and the rule for axes of size 1.

Inputs are images (C, H, W); MNIST-1D is (1, 1, 40), so a layer written for images must also
act on a row. The rule, shared by ``Conv2d`` and the pools: **an int argument acts only along
axes longer than 1**. Along an axis of size 1, an int kernel size becomes 1, an int stride 1
and an int padding 0; a ``(h, w)`` pair is always taken as given. ``kernel_size=5,
padding=2`` is then a 5x5 window on digits (8, 8) and a (1, 5) window with padding (0, 2) on
MNIST-1D (1, 40), so one model description serves both.

The output length along an axis of length n is floor((n + 2 p - k) / s) + 1: a remainder
that does not fill a window is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..validate import ParameterError, check_integer, check_sequence, is_integer

Pair = tuple[int, int]
IntOrPair = int | tuple[int, int]


def check_window(name: str, value: Any, minimum: int) -> IntOrPair:
    """A window argument (kernel size, stride, padding, input size): an int, or an (h, w) pair
    (a tuple, list or array) of ints, each >= ``minimum``. An int comes back as an int, since
    its meaning depends on the input (see above), and a pair as a tuple."""
    if is_integer(value):
        return check_integer(name, value, low=minimum)
    allowed = f"an int >= {minimum} or an (h, w) pair of them"
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise ParameterError(name, value, allowed)
    pair = check_sequence(name, value, lambda n, v: check_integer(n, v, low=minimum))
    if len(pair) != 2:
        raise ParameterError(name, value, allowed)
    return pair


def as_pair(value: IntOrPair) -> Pair:
    """A checked window argument as an (h, w) pair: an int means the same along both axes."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def along_long_axes(value: IntOrPair, size: Pair | None, neutral: int) -> Pair:
    """The pair an argument means on an input of spatial ``size`` (H, W).

    An int acts only along axes longer than 1 and is ``neutral`` (1 for a kernel or a
    stride, 0 for a padding) along an axis of size 1; a pair is returned as given. With
    ``size`` None, an int means the same value along both axes.
    """
    if not isinstance(value, int):
        return (value[0], value[1])
    if size is None:
        return (value, value)
    return (neutral if size[0] == 1 else value, neutral if size[1] == 1 else value)


def output_length(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Windows along an axis of length ``n``: floor((n + 2 p - k) / s) + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def offset_index(i: int, j: int, out: Pair, stride: Pair) -> tuple:
    """Index of the pixels that kernel offset (i, j) reads for every output pixel.

    ``x[offset_index(i, j, (H_o, W_o), (s_h, s_w))]`` is x[..., s_h h + i, s_w w + j] for all
    (h, w): one strided slice, so a window operation is a loop over k_h k_w offsets, not over
    pixels."""
    (Ho, Wo), (sh, sw) = out, stride
    return (..., slice(i, i + sh * (Ho - 1) + 1, sh), slice(j, j + sw * (Wo - 1) + 1, sw))
