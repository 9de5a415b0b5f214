"""What is measured during training, at steps an instrument chooses.

Norms are computed on the device when wanted and kept there; the tables are built on the host
once, when training ends, so an instrument adds no synchronisation to the steps it watches.
Norms are per parameter tensor and per ensemble member (every axis but the first is reduced).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
import pandas as pd

from . import backend
from .nn.base import Layer, iter_layers, sq_norms
from .validate import ParameterError, check_integer, check_number, check_sequence

Steps = Sequence[int] | AbstractSet[int]  # the steps an instrument watches, in any order


def tensor_norms(arrays: dict[str, Any]) -> dict[str, Any]:
    """||a||_2 of each named array, per ensemble member: name -> (E,)."""
    out = {}
    for name, a in arrays.items():
        xp = backend.get_array_module(a)
        out[name] = xp.sqrt(xp.sum(xp.square(a.reshape(a.shape[0], -1)), axis=1))
    return out


class _AtSteps:
    """Watch the steps in ``steps`` (0 is the first iteration) and, if given, every ``every``."""

    def __init__(self, steps: Steps = (0,), every: int | None = None) -> None:
        if isinstance(steps, AbstractSet):  # a set of steps is as good as a sequence
            steps = tuple(steps)
        self.steps = frozenset(check_sequence("steps", steps, check_integer))
        self.every = None if every is None else check_integer("every", every, low=1)
        self._records: list[tuple[int, str, str, Any]] = []

    def wants(self, step: int) -> bool:
        return step in self.steps or (self.every is not None and step % self.every == 0)

    def before_step(self, step: int, model: Layer) -> None:
        """Called before every step's forward pass, watched or not."""

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        """Called after backward, before the optimizer moves the weights."""

    def after_update(self, step: int, model: Layer) -> None:
        """Called after the optimizer step."""

    def frame(self) -> pd.DataFrame:
        """Tidy table: step, param, kind, member, metric, value."""
        rows = []
        for step, name, kind, values in self._records:
            for metric, per_member in values.items():
                host = np.atleast_1d(backend.to_host(per_member))
                rows += [(step, name, kind, e, metric, float(v)) for e, v in enumerate(host)]
        return pd.DataFrame(rows, columns=["step", "param", "kind", "member", "metric", "value"])


class NormRatios(_AtSteps):
    """LARS's per-layer measurement (You et al. 2017, Table 2): ||w||, ||grad w|| and

        ratio = ||w|| / ||grad w||

    per parameter tensor, with the weights as they were when the gradient was computed (before
    the update). The ratio is undefined (NaN) where ||grad w|| <= ``gradient_floor`` ||w||
    (a relative floor; "<=" so that 0 / 0 is undefined too): such a gradient is zero up to
    round-off (every layer below a zero-initialised BN gamma at step 0, a bias in front of a
    BN), and its "ratio" measures round-off, 1e13 to 1e15 in float64, different on NumPy and
    CuPy. The default 1e-6 sits between the two scales: round-off reaches ||grad w|| / ||w||
    = 3e-8 in float32 (a bias in front of a BN, measured over 50 seeds; 1e-16 in float64), so
    a floor of 1e-9 would still report float32 round-off as ratios near 1e8, while the largest
    genuine ratio is 1345 in the paper (fc6) and below 200 in our figures. A genuine
    ratio above 1e6 (a gradient that has all but vanished) also reads as undefined: pass a
    lower floor, in float64, to see it. ||w|| and ||grad w|| are recorded either way.
    """

    def __init__(
        self,
        steps: Steps = (0,),
        every: int | None = None,
        gradient_floor: float = 1e-6,
    ) -> None:
        super().__init__(steps, every)
        check_number("gradient_floor", gradient_floor, low=0)
        self.gradient_floor = gradient_floor  # as given: a NumPy scalar computes as before

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        kinds = model.named_kinds()
        w_norms = tensor_norms(model.named_params())
        g_norms = tensor_norms(grads)
        for name, g_norm in g_norms.items():
            xp = backend.get_array_module(g_norm)
            w_norm = w_norms[name]
            defined = g_norm > self.gradient_floor * w_norm
            ratio = xp.where(defined, w_norm / xp.where(defined, g_norm, 1), xp.nan)
            values = {"w_norm": w_norm, "grad_norm": g_norm, "ratio": ratio}
            self._records.append((step, name, kinds[name], values))


class UpdateSizes(_AtSteps):
    """The relative size of each step, ||w_{t+1} - w_t|| / ||w_t||, per parameter tensor."""

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        self._before = {name: p.copy() for name, p in model.named_params().items()}

    def after_update(self, step: int, model: Layer) -> None:
        kinds = model.named_kinds()
        after = model.named_params()
        deltas = tensor_norms({n: after[n] - w for n, w in self._before.items()})
        norms = tensor_norms(self._before)
        for name, delta in deltas.items():
            xp = backend.get_array_module(delta)
            norm = norms[name]
            relative = xp.where(norm > 0, delta / xp.where(norm > 0, norm, 1), xp.inf)
            values = {"update_norm": delta, "relative_update": relative}
            self._records.append((step, name, kinds[name], values))
        self._before = {}


def chunk_sq_norms(model: Layer) -> Any:
    """Model-level |g_c|^2 per noise chunk: the per-layer ``chunk_sq_norms`` summed, (E, k).

    g_c is chunk c's contribution to the gradient of the global-mean loss, all parameters
    concatenated (``Layer.set_grad_chunks``); k g_c is the chunk's gradient of its own mean
    loss. Raises when the last backward kept no chunk norms."""
    return _summed_chunk_norms(iter_layers(model))


def _summed_chunk_norms(layers: Iterable[Layer]) -> Any:
    norms = [n for layer in layers for n in layer.chunk_sq_norms.values()]
    if not norms:
        raise ValueError(
            "no chunk norms: call model.set_grad_chunks(k) with k > 1 before forward/backward"
        )
    return backend.get_array_module(norms[0]).stack(norms).sum(axis=0)


def chunk_batch(model: Layer) -> int:
    """The global batch B that the last chunked backward split (0 if none)."""
    return _chunk_batch(iter_layers(model))


def _chunk_batch(layers: Iterable[Layer]) -> int:
    return max((layer.chunk_batch for layer in layers), default=0)


class NoiseScale(_AtSteps):
    """The gradient norms behind McCandlish et al.'s noise scale (TARGETS.md, McCandlish et al.).

    The global batch B (loss = mean over B) is split into k = ``chunks`` contiguous chunks of
    B_small = B / k examples (this instrument's own split, independent of batch norm's
    ``workers``). At each watched step it records, per member, on the device:

        g_big_sq   = |G_big|^2, the squared norm of the full gradient (all parameters),
        g_small_sq = |G_small|^2 = (1/k) sum_c |G_c|^2 = k^2 mean_c |g_c|^2,

    where G_c = k g_c is chunk c's gradient of its own mean loss and g_c its contribution to
    the global one, with b_small = B / k and b_big = B. ``noise.py`` turns this table into the
    unbiased estimates of |G|^2 and tr(Sigma), and B_simple. The norms are by-products of the
    ordinary backward (``Layer.set_grad_chunks``): the gradient of every layer with parameters
    is computed as the sum of its k chunk contributions, so nothing is recomputed.

    The model must split its backward before the first watched step: pass ``model`` here (or
    call ``attach``, or ``model.set_grad_chunks(chunks)``) before training. Otherwise the first
    ``before_update`` attaches it, warns, and records nothing for that step. In the training
    loop, ``before_step`` then splits the backward of watched steps only: a step it does not
    watch costs what a plain step costs (``every=4`` pays a quarter of the per-step overhead
    that BENCHMARKS.md measures).

    Batch norm couples the examples of each worker chunk. With it, G_c is exactly the gradient
    the chunk would get alone only when every noise chunk is a union of BN worker chunks
    (``workers`` a multiple of k); otherwise it is the chunk's share of the global gradient.
    Hence B_simple is invariant to the split (in expectation) for models without batch norm
    only. Weight decay is not in these gradients (the optimizer adds it).

    ``frame()``: columns step, member, g_small_sq, g_big_sq, b_small, b_big, one row per watched
    step and member; the values stay on the device until then.
    """

    def __init__(
        self,
        chunks: int,
        every: int | None = 1,
        steps: Steps = (),
        model: Layer | None = None,
    ) -> None:
        self.chunks = check_integer("chunks", chunks, low=2)  # B_small = B / chunks < B_big = B
        super().__init__(steps, every)
        if model is not None and not isinstance(model, Layer):
            raise ParameterError("model", model, "None or the Layer to measure")
        self._rows: list[tuple[int, Any, Any, int]] = []
        self._model: Layer | None = None
        self._layers: tuple[Layer, ...] = ()
        if model is not None:
            self.attach(model)

    def attach(self, model: Layer) -> None:
        """Make ``model``'s backward keep the norms of ``chunks`` chunk gradients."""
        model.set_grad_chunks(self.chunks)

    def before_step(self, step: int, model: Layer) -> None:
        wanted = self.chunks if self.wants(step) else None
        if model.grad_chunks != wanted:  # the split is re-set only where it changes
            model.set_grad_chunks(wanted)

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        if model.grad_chunks != self.chunks:
            self.attach(model)
            warnings.warn(
                f"NoiseScale: the model was not split into {self.chunks} chunks before step "
                f"{step}; attached now, step {step} is not recorded (pass model= to NoiseScale)",
                stacklevel=2,
            )
            return
        if self._model is not model:  # the layers, once: walking the tree each step costs
            self._model, self._layers = model, tuple(iter_layers(model))
        per_chunk = _summed_chunk_norms(self._layers)  # (E, k)
        xp = backend.get_array_module(per_chunk)
        g_small_sq = self.chunks * per_chunk.sum(axis=1)  # k^2 mean_c |g_c|^2
        E = per_chunk.shape[0]  # one dot product over all parameters: 3x faster than one each
        g_big_sq = sq_norms(xp.concatenate([g.reshape(E, -1) for g in grads.values()], axis=1), 1)
        batch = _chunk_batch(self._layers)
        self._rows.append((step, g_small_sq, g_big_sq, batch))

    def frame(self) -> pd.DataFrame:
        """Tidy table: step, member, g_small_sq, g_big_sq, b_small, b_big."""
        columns = ["step", "member", "g_small_sq", "g_big_sq", "b_small", "b_big"]
        if not self._rows:
            kinds = (int, int, float, float, int, int)
            return pd.DataFrame(
                {c: pd.Series(dtype=t) for c, t in zip(columns, kinds, strict=True)}
            )
        xp = backend.get_array_module(self._rows[0][1])
        small = backend.to_host(xp.stack([r[1] for r in self._rows]))  # one transfer each
        big = backend.to_host(xp.stack([r[2] for r in self._rows]))
        steps, E = len(self._rows), small.shape[1]
        batch = np.repeat([r[3] for r in self._rows], E)
        return pd.DataFrame(
            {
                "step": np.repeat([r[0] for r in self._rows], E),
                "member": np.tile(np.arange(E), steps),
                "g_small_sq": small.ravel().astype(np.float64),
                "g_big_sq": big.ravel().astype(np.float64),
                "b_small": batch // self.chunks,
                "b_big": batch,
            }
        )


class TrustRatios(_AtSteps):
    """The layer-wise trust ratio lambda_l that LARS or LAMB applied at a step (the
    optimizer's ``local_lr``), per parameter tensor: for LARS eta ||w|| / (||g|| + beta ||w||),
    for LAMB ||w|| / ||r + lambda w||. It shows how far each layer's rate departs from the
    global one, and how that changes over training (LAMB-F1)."""

    def __init__(self, optimizer: Any, steps: Steps = (), every: int | None = None) -> None:
        super().__init__(steps, every)
        if not hasattr(optimizer, "local_lr"):
            allowed = "an optimizer that applies a trust ratio (LARS or LAMB)"
            raise ParameterError("optimizer", type(optimizer).__name__, allowed)
        self.optimizer = optimizer

    def after_update(self, step: int, model: Layer) -> None:
        kinds = model.named_kinds()
        for name, ratio in self.optimizer.local_lr.items():  # a new (E,) array every step
            self._records.append((step, name, kinds[name], {"trust_ratio": ratio}))
