"""All of a model's parameters in one buffer, each layer holding views into it.

A model's P parameters per member live in one array of shape (E, P); layer l's tensor is the
view ``buffer[:, o_l : o_l + n_l].reshape(E, *shape_l)``. Training code sees the same named
arrays as before, but an optimizer can update every parameter of a member at once, with a few
kernels over the buffer instead of a few per tensor (optim/transforms.py, "fused"): on a GPU,
where each kernel launch costs the host microseconds, that is most of an optimizer step.

``segments(params)`` recovers the layout from the arrays themselves (their common root
buffer and their offsets in it), so the optimizer needs no reference to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import get_array_module


def root(a: Any) -> Any:
    """The array that owns ``a``'s memory (``a`` itself if it owns it)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def data_pointer(a: Any) -> int:
    """The address of ``a``'s first element (NumPy or CuPy)."""
    data = a.data
    return data.ptr if hasattr(data, "ptr") else a.__array_interface__["data"][0]


def flat_views(params: dict[str, Any]) -> dict[str, Any]:
    """Copy ``params`` (name -> (E, ...), one dtype) into one (E, P) buffer, in order; return
    the views that replace them."""
    arrays = list(params.values())
    xp = get_array_module(arrays[0])
    E = arrays[0].shape[0]
    sizes = [a[0].size for a in arrays]
    # empty_like: the buffer lives where the parameters do (and is of their array type)
    buffer = xp.empty_like(arrays[0], shape=(E, sum(sizes)))
    views, offset = {}, 0
    for (name, a), n in zip(params.items(), sizes, strict=True):
        view = buffer[:, offset : offset + n].reshape(a.shape)
        view[...] = a
        views[name] = view
        offset += n
    return views


@dataclass(frozen=True)
class Segments:
    """Where each named tensor lies in the flat buffer: ``buffer[:, offsets[i]:offsets[i+1]]``
    is ``names[i]``; ``ids`` (P,), on the buffer's device, names each column's tensor."""

    buffer: Any
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]  # of one member
    offsets: np.ndarray
    ids: Any
    _device: dict[Any, Any] = field(default_factory=dict, repr=False)  # made once, kept

    @property
    def count(self) -> int:
        return len(self.names)

    def gather(self, arrays: dict[str, Any]) -> Any:
        """The arrays of ``names`` (E, ...) laid out as the buffer is: (E, P)."""
        xp = get_array_module(self.buffer)
        E = self.buffer.shape[0]
        return xp.concatenate([arrays[n].reshape(E, -1) for n in self.names], axis=1)

    def sums(self, x: Any) -> Any:
        """sum_{j in tensor i} x[e, j] for every member e and tensor i: (E, P) -> (E, L),
        accumulated in float64 and cast back.

        NumPy: one ``add.reduceat``. CuPy, which lacks it: one matrix product with the (P, L)
        indicator of the segments, deterministic and exact where a segment is all zeros (a
        running sum's differences are neither on a GPU, whose scans reassociate)."""
        xp = get_array_module(x)
        if xp is np:
            return np.add.reduceat(x, self.offsets[:-1], axis=1, dtype=np.float64).astype(x.dtype)
        return self.sums_by_product(x)

    def sums_by_product(self, x: Any) -> Any:
        """``sums`` as (E, P) @ (P, L) in float64 (the CuPy path; any array module)."""
        xp = get_array_module(x)
        if "indicator" not in self._device:
            rows = np.arange(self.offsets[-1])
            tensor = np.repeat(np.arange(self.count), np.diff(self.offsets))
            indicator = np.zeros((self.offsets[-1], self.count))
            indicator[rows, tensor] = 1.0
            self._device["indicator"] = xp.asarray(indicator)
        return (x.astype(np.float64) @ self._device["indicator"]).astype(x.dtype)

    def split(self, flat: Any) -> dict[str, Any]:
        """An (E', P) array laid out as the buffer, as views by tensor name (E', ...)."""
        return {
            name: flat[:, start:end].reshape(flat.shape[:1] + shape)
            for name, shape, start, end in zip(
                self.names, self.shapes, self.offsets[:-1], self.offsets[1:], strict=True
            )
        }

    def expand(self, v: Any) -> Any:
        """A value per tensor (E, L) as a value per column (E, P): NumPy repeats (a copy, 10x
        faster than a gather on the CPU), CuPy gathers (one kernel)."""
        if get_array_module(v) is np:
            return np.repeat(v, np.diff(self.offsets), axis=1)
        return v[:, self.ids]

    def flags(self, chosen: tuple[bool, ...]) -> Any:
        """(L,) bool on the buffer's device, True for the tensors ``chosen``; made once."""
        key = ("flags", chosen)
        if key not in self._device:
            self._device[key] = get_array_module(self.buffer).asarray(np.array(chosen, bool))
        return self._device[key]

    def columns(self, chosen: tuple[bool, ...]) -> Any:
        """(1, P) bool on the buffer's device, True in the columns of the tensors ``chosen``."""
        key = ("columns", chosen)
        if key not in self._device:
            columns = np.repeat(np.array(chosen, bool), np.diff(self.offsets))[None, :]
            self._device[key] = get_array_module(self.buffer).asarray(columns)
        return self._device[key]


def segments(params: dict[str, Any]) -> Segments | None:
    """The layout of ``params`` if they are views that tile one (E, P) buffer in order, else
    None (parameters held as separate arrays)."""
    arrays = list(params.values())
    if not arrays:
        return None
    buffer = root(arrays[0])
    E = arrays[0].shape[0]
    if buffer.ndim != 2 or buffer.shape[0] != E or not buffer.flags.c_contiguous:
        return None
    itemsize, start = buffer.dtype.itemsize, data_pointer(buffer)
    offsets = [0]
    for a in arrays:
        if root(a) is not buffer or a.dtype != buffer.dtype:
            return None
        if (data_pointer(a) - start) // itemsize != offsets[-1]:
            return None
        offsets.append(offsets[-1] + a[0].size)
    if offsets[-1] != buffer.shape[1]:
        return None
    offsets = np.array(offsets)
    xp = get_array_module(buffer)
    ids = xp.asarray(np.repeat(np.arange(len(arrays)), np.diff(offsets)))
    shapes = tuple(a.shape[1:] for a in arrays)
    return Segments(buffer, tuple(params), shapes, offsets, ids)
