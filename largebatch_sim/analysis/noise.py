"""The gradient noise scale of McCandlish et al. 2018 ("An Empirical Model of Large-Batch
Training", arXiv 1812.06162): B_simple from two batch sizes, and B_noise from Hessian-vector
products.

Notation (TARGETS.md, McCandlish et al.): g_i is the gradient of example i's loss, G = E_i[g_i] the
true gradient, Sigma = Cov_i[g_i] the per-example covariance, H the Hessian of the mean loss.

    B_simple = tr(Sigma) / |G|^2,        B_noise = tr(H Sigma) / (G^T H G).

**Normalisation.** G_B = (1/B) sum_{i in batch} g_i is the gradient of the *mean* loss over B
examples drawn independently; then

    E |G_B|^2 = |G|^2 + tr(Sigma) / B,

and two batch sizes B_small < B_big give the unbiased estimates (``two_batch_estimates``)

    |G|^2     ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small),
    tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big).

Gradients of *summed* losses, or each chunk's share of a loss averaged over the global batch
(``train.py``'s convention), are converted to this normalisation first (``reduction``), so
B_simple is the same whichever loss reduction a model uses. Multiplying every example's loss by
a constant c multiplies both |G|^2 and tr(Sigma) by c^2 and leaves B_simple unchanged.

**Chunks.** ``g_small_sq`` is the mean over the k chunks of the big batch of the squared norm of
each chunk's mean-loss gradient, (1/k) sum_j |G_small,j|^2. Each term has the expectation
above, so the mean is unbiased too, with lower variance than a single chunk. For models without
batch normalisation the split into chunks therefore changes nothing in expectation (only the
variance); with batch norm the chunk's gradients depend on the chunk's own statistics and the
invariance does not hold.

**Sampling without replacement.** An epoch-shuffled sampler draws a batch without replacement
from N examples: E |G_B|^2 = |G|^2 + tr(Sigma) (N - B) / (B (N - 1)). The estimates then target
tr(Sigma) N / (N - 1) and |G|^2 - tr(Sigma) / (N - 1): negligible unless N is small.

**Averaging.** The ratio of two unbiased estimates is biased (and wild where the |G|^2 estimate
is near zero), so B_simple is a ratio of averages: EMA(tr Sigma) / EMA(|G|^2), with debiased
exponential moving averages over the recorded measurements ("average each, then divide").

**Negative and zero estimates.** With few chunks, a big batch not much larger than the small
one, or late in training (|G|^2 small against tr(Sigma) / B_big), single estimates of |G|^2 and
even of tr(Sigma) are often negative. They are kept as they are inside the averages (dropping
them would bias the averages upwards), counted (``BSimple.n_nonpositive_g2`` /
``n_negative_trace``), and wherever the averaged |G|^2 is <= 0, the averaged tr(Sigma) is < 0,
or either is not finite, B_simple is NaN with ``valid`` False: never a number to plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .. import backend
from ..nn.base import Layer, iter_layers
from ..nn.losses import softmax_cross_entropy

REDUCTIONS = ("mean", "sum", "global")
TABLE_COLUMNS = ("step", "member", "g_small_sq", "g_big_sq")


# --------------------------------------------------------------------------------------------
# Two batch sizes


def _check_sizes(b_small: Any, b_big: Any) -> tuple[float, float]:
    for name, b in (("b_small", b_small), ("b_big", b_big)):
        if isinstance(b, bool) or not np.isscalar(b) or not np.isfinite(b) or b <= 0:
            raise ValueError(f"{name} must be a positive batch size, got {b!r}")
    if b_small >= b_big:
        raise ValueError(
            f"the two-batch estimator needs b_small < b_big, got b_small={b_small}, "
            f"b_big={b_big} (with one chunk per batch there is no small batch to compare)"
        )
    return float(b_small), float(b_big)


def two_batch_estimates(
    g_small_sq: Any, g_big_sq: Any, b_small: float, b_big: float, reduction: str = "mean"
) -> tuple[Any, Any]:
    """Unbiased estimates (|G|^2, tr(Sigma)) from squared gradient norms at two batch sizes.

        |G|^2     ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
        tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)

    Elementwise over arrays of any shape (per member, per step; NumPy or CuPy, no host
    synchronisation). ``g_small_sq`` is the mean over the k chunks of the squared norm of each
    chunk's gradient (averaging over the chunks keeps the estimate unbiased and lowers its
    variance); ``g_big_sq`` is the squared norm of the whole batch's gradient. ``reduction``
    says how those gradients were normalised, and the norms are converted to mean-loss
    gradients first:

    - ``"mean"``: each chunk's gradient is that of its own mean loss, (1/B_small) sum g_i, and
      the big one that of the big batch's mean loss (McCandlish et al.'s convention);
    - ``"sum"``: gradients of summed losses, sum g_i: |G_B|^2 = |sum|^2 / B^2;
    - ``"global"``: the loss is the mean over the big batch (``train.py``) and each chunk's
      gradient is its share of it, (1/B_big) sum_{i in chunk} g_i = (B_small/B_big) G_small.

    Single estimates can be negative (see the module docstring); they are returned as they are.
    """
    b_small, b_big = _check_sizes(b_small, b_big)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "sum":
        g_small_sq, g_big_sq = g_small_sq / b_small**2, g_big_sq / b_big**2
    elif reduction == "global":
        g_small_sq = g_small_sq * (b_big / b_small) ** 2
    g2 = (b_big * g_big_sq - b_small * g_small_sq) / (b_big - b_small)
    trace = (g_small_sq - g_big_sq) / (1.0 / b_small - 1.0 / b_big)
    return g2, trace


# --------------------------------------------------------------------------------------------
# Debiased moving averages and B_simple


def _check_beta(beta: float) -> float:
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    return float(beta)


def debiased_ema(x: Any, beta: float = 0.95, axis: int = -1) -> np.ndarray:
    """Exponential moving average with Adam's bias correction, along ``axis`` (the steps).

        m_t = beta m_{t-1} + (1 - beta) x_t,   m_{-1} = 0,   EMA_t = m_t / (1 - beta^(t+1))

    t counts the recorded measurements (0, 1, ...), not training steps: with a measurement
    every 10 steps, beta = 0.95 averages over about the last 20 measurements (200 steps). The
    correction removes the pull towards the zero start: EMA_0 = x_0. For a recorded history on
    the host (a device array is fetched first); the other axes (members) are independent. A NaN
    or inf propagates to every later average of its member. ``DebiasedEMA`` is the same average
    kept online on the device.
    """
    beta = _check_beta(beta)
    x = np.asarray(backend.to_host(x), dtype=np.float64)
    m = lfilter([1.0 - beta], [1.0, -beta], x, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    correction = 1.0 - beta ** np.arange(1, x.shape[axis] + 1, dtype=np.float64)
    return m / correction.reshape(shape)


class DebiasedEMA:
    """``debiased_ema`` kept online: ``update(x)`` folds in one measurement (any shape, e.g.
    (E,), on the device) and returns the corrected average. The count of updates is a host
    integer, so an update adds no host synchronisation."""

    def __init__(self, beta: float = 0.95) -> None:
        self.beta = _check_beta(beta)
        self.m: Any = None
        self.count = 0

    def update(self, x: Any) -> Any:
        if self.m is None:  # m_{-1} = 0
            self.m = (1.0 - self.beta) * x
        else:
            self.m = self.beta * self.m + (1.0 - self.beta) * x
        self.count += 1
        return self.value

    @property
    def value(self) -> Any:
        if self.m is None:
            raise ValueError("DebiasedEMA has no measurements yet")
        return self.m / (1.0 - self.beta**self.count)


@dataclass(frozen=True)
class BSimple:
    """B_simple = EMA(tr Sigma) / EMA(|G|^2) and what it was made of, on the host.

    ``value``, ``valid``, ``g2_ema``, ``trace_ema`` have the shape of the inputs (one entry per
    member and measurement); ``value`` is NaN wherever ``valid`` is False, i.e. where the |G|^2
    average is <= 0, the tr(Sigma) average is < 0, or either is not finite.
    ``n_nonpositive_g2`` and ``n_negative_trace`` count the raw estimates |G|^2 <= 0 and
    tr(Sigma) < 0 along the step axis (one count per member).
    """

    value: np.ndarray
    valid: np.ndarray
    g2_ema: np.ndarray
    trace_ema: np.ndarray
    n_nonpositive_g2: np.ndarray
    n_negative_trace: np.ndarray


def b_simple(g2_est: Any, trace_est: Any, beta: float = 0.95, axis: int = -1) -> BSimple:
    """B_simple = EMA(tr Sigma estimate) / EMA(|G|^2 estimate): average each, then divide.

    ``g2_est`` and ``trace_est`` are the raw estimates of ``two_batch_estimates`` over a
    recorded history, steps along ``axis`` (members on the other axes: (E, T) by default).
    Negative raw estimates stay inside the averages and are counted; where the averages do
    not give a meaningful ratio (|G|^2 average <= 0, tr(Sigma) average < 0, non-finite), the
    value is NaN and ``valid`` False. The default beta = 0.95 is this library's choice.
    """
    g2 = np.asarray(backend.to_host(g2_est), dtype=np.float64)
    trace = np.asarray(backend.to_host(trace_est), dtype=np.float64)
    if g2.shape != trace.shape:
        raise ValueError(f"g2_est and trace_est differ in shape: {g2.shape} and {trace.shape}")
    g2_ema = debiased_ema(g2, beta, axis)
    trace_ema = debiased_ema(trace, beta, axis)
    valid = np.isfinite(g2_ema) & np.isfinite(trace_ema) & (g2_ema > 0) & (trace_ema >= 0)
    value = np.full(g2.shape, np.nan)
    np.divide(trace_ema, g2_ema, out=value, where=valid)
    return BSimple(
        value=value,
        valid=valid,
        g2_ema=g2_ema,
        trace_ema=trace_ema,
        n_nonpositive_g2=np.sum(g2 <= 0, axis=axis),
        n_negative_trace=np.sum(trace < 0, axis=axis),
    )


def noise_scale_frame(
    table: pd.DataFrame,
    b_small: float | None = None,
    b_big: float | None = None,
    *,
    beta: float = 0.95,
    reduction: str = "mean",
) -> pd.DataFrame:
    """Add the estimates and B_simple to a recorded table of raw squared gradient norms.

    ``table`` has one row per (step, member) with columns ``step``, ``member``, ``g_small_sq``,
    ``g_big_sq`` (the ``NoiseScale`` instrument's table; other columns are kept), the squared
    norms of mean-loss gradients unless ``reduction`` says otherwise (``two_batch_estimates``).
    ``b_small`` and ``b_big`` default to the table's columns of those names (the instrument
    records them). Returns a copy sorted by
    member and step with the columns

        g2_est, trace_est   raw two-batch estimates of |G|^2 and tr(Sigma) (may be negative),
        g2_ema, trace_ema   their debiased EMAs over each member's measurements in step order,
        b_simple            trace_ema / g2_ema, NaN where not valid,
        valid               g2_ema > 0, trace_ema >= 0, both finite.

    A single run's table (``RunResult.instruments["noise"]``) has no ``member`` column: it is
    taken as member 0. Count the negative raw estimates with
    ``(frame.g2_est <= 0).groupby(frame.member).sum()``.
    """
    if "member" not in table.columns:
        table = table.assign(member=0)
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"noise_scale_frame: table lacks columns {missing}; expected {list(TABLE_COLUMNS)}"
        )
    if table.empty:  # no step was watched
        columns = ["g2_est", "trace_est", "g2_ema", "trace_ema", "b_simple"]
        return table.assign(
            **{c: pd.Series(dtype=float) for c in columns}, valid=pd.Series(dtype=bool)
        )
    sizes = {}
    for name, value in (("b_small", b_small), ("b_big", b_big)):
        if value is None:
            if name not in table.columns:
                raise ValueError(f"noise_scale_frame: give {name} or a {name!r} column")
            column = table[name].unique()
            if len(column) != 1:
                raise ValueError(f"noise_scale_frame: {name} varies in the table: {column}")
            value = column[0].item() if hasattr(column[0], "item") else column[0]
        sizes[name] = value
    if table.duplicated(["member", "step"]).any():
        raise ValueError("noise_scale_frame: more than one row per (member, step)")
    frame = table.sort_values(["member", "step"], kind="stable").reset_index(drop=True)
    g2, trace = two_batch_estimates(
        frame["g_small_sq"].to_numpy(np.float64),
        frame["g_big_sq"].to_numpy(np.float64),
        sizes["b_small"],
        sizes["b_big"],
        reduction,
    )
    frame["g2_est"], frame["trace_est"] = g2, trace
    for column in ("g2_ema", "trace_ema", "b_simple"):
        frame[column] = np.nan
    frame["valid"] = False
    for _, rows in frame.groupby("member", sort=False).indices.items():
        result = b_simple(g2[rows], trace[rows], beta)
        frame.loc[rows, "g2_ema"] = result.g2_ema
        frame.loc[rows, "trace_ema"] = result.trace_ema
        frame.loc[rows, "b_simple"] = result.value
        frame.loc[rows, "valid"] = result.valid
    frame["valid"] = frame["valid"].astype(bool)
    return frame


# --------------------------------------------------------------------------------------------
# B_noise from Hessian-vector products


def hessian_vector_product(
    grad_fn: Callable[[np.ndarray], np.ndarray], w: np.ndarray, v: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """H v ~ |v| (grad(w + eps u) - grad(w - eps u)) / (2 eps), u = v / |v|, in float64.

    Central differences of the gradient along the unit direction u, so ``eps`` is the length of
    the step in weight space whatever the size of v; the error is O(eps^2) for a smooth loss
    (exact for a quadratic up to rounding). In a ReLU net a step that crosses a kink adds an
    error of its own: keep eps small. Costs two gradient evaluations; v = 0 gives 0.
    """
    w = np.asarray(w, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(w)
    u = v / norm
    up = np.asarray(grad_fn(w + eps * u), dtype=np.float64)
    down = np.asarray(grad_fn(w - eps * u), dtype=np.float64)
    return norm * (up - down) / (2.0 * eps)


@dataclass(frozen=True)
class BNoise:
    """B_noise and B_simple at one point, from the full gradient and sampled gradients.

    ``b_noise = trace_h_sigma / g_h_g`` and ``b_simple = trace_sigma / g_norm_sq``; a ratio
    whose denominator is <= 0 or whose numerator is < 0 (possible away from a minimum's basin,
    where H is not positive definite) is NaN with its ``*_valid`` False. ``trace_h_sigma_se`` is
    the standard error of the sampled average (0 when every example was used once) and
    ``b_noise_se`` its share of B_noise's (G^T H G is computed from the full data, exactly up to
    the finite difference). ``grad_evals`` counts full-data gradients, ``sample_grad_evals``
    gradients of single chunks.
    """

    b_noise: float
    b_noise_se: float
    b_noise_valid: bool
    b_simple: float
    b_simple_valid: bool
    g_norm_sq: float
    g_h_g: float
    trace_h_sigma: float
    trace_h_sigma_se: float
    trace_sigma: float
    samples: int
    chunk: int
    grad_evals: int
    sample_grad_evals: int


def b_noise(
    grad_fn: Callable[[np.ndarray], np.ndarray],
    sample_grad_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    w: np.ndarray,
    n_examples: int,
    *,
    samples: int | None = 64,
    chunk: int = 1,
    eps: float = 1e-5,
    seed: int = 0,
) -> BNoise:
    """B_noise = tr(H Sigma) / (G^T H G) at weights ``w`` (flat, float64).

    ``grad_fn(w)`` is the gradient of the mean loss over all ``n_examples`` examples (G at w);
    ``sample_grad_fn(w, idx)`` the gradient of the mean loss over the examples ``idx`` (one
    index: a per-example gradient g_i). H is the Hessian of the full mean loss and Sigma the
    covariance of the per-example gradients over the data set (normalised by N).

    Estimator: G^T H G with one Hessian-vector product H G (``hessian_vector_product``). For
    tr(H Sigma) = E_i[(g_i - G)^T H (g_i - G)], draw ``samples`` chunks of ``chunk`` example
    indices, uniformly and independently with replacement; a chunk's mean gradient g_c has
    covariance Sigma / chunk, so

        tr(H Sigma) ~ chunk * mean_j (g_c,j - G)^T H (g_c,j - G),
        tr(Sigma)   ~ chunk * mean_j |g_c,j - G|^2,

    unbiased, with the standard error from the spread of the terms. Chunks of more than one
    example lower the cost per unit of variance when Sigma's noise is spread over many
    examples. ``samples=None`` (with ``chunk=1``) uses every example once: the exact average
    over the data set, no sampling error.

    Cost: 2 samples + 3 full-data gradients (two per Hessian-vector product, one for G) and
    ``samples`` chunk gradients: about (2 samples + 3) N per-example forward/backward passes,
    and O(d) memory. Meant for a small model: on the MLP of the tests (N = 256 examples, 195
    parameters, NumPy on one CPU core) 64 samples take about 0.05 s and every example once
    (``samples=None``, 515 full gradients) about 0.15 s; the cost grows as samples x N x model.
    """
    if isinstance(n_examples, bool) or not isinstance(n_examples, int | np.integer):
        raise ValueError(f"n_examples must be a positive int, got {n_examples!r}")
    if n_examples < 1:
        raise ValueError(f"n_examples must be a positive int, got {n_examples!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    w = np.asarray(w, dtype=np.float64)
    if samples is None:
        if chunk != 1:
            raise ValueError("samples=None uses every example once: it needs chunk=1")
        chunks = np.arange(n_examples)[:, None]
    else:
        if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 2:
            raise ValueError(f"samples must be an int >= 2 (or None for all), got {samples!r}")
        rng = np.random.default_rng(seed)
        chunks = rng.integers(0, n_examples, size=(samples, chunk))

    G = np.asarray(grad_fn(w), dtype=np.float64)
    g_norm_sq = float(G @ G)
    g_h_g = float(G @ hessian_vector_product(grad_fn, w, G, eps))
    quad = np.empty(len(chunks))
    sq = np.empty(len(chunks))
    for j, idx in enumerate(chunks):
        d = np.asarray(sample_grad_fn(w, idx), dtype=np.float64) - G
        quad[j] = d @ hessian_vector_product(grad_fn, w, d, eps)
        sq[j] = d @ d
    trace_h_sigma = chunk * float(quad.mean())
    trace_sigma = chunk * float(sq.mean())
    se = 0.0 if samples is None else chunk * float(quad.std(ddof=1) / np.sqrt(len(quad)))

    noise_ok = bool(g_h_g > 0 and trace_h_sigma >= 0 and np.isfinite(g_h_g * trace_h_sigma))
    simple_ok = bool(g_norm_sq > 0 and np.isfinite(trace_sigma / g_norm_sq))
    return BNoise(
        b_noise=trace_h_sigma / g_h_g if noise_ok else float("nan"),
        b_noise_se=se / g_h_g if noise_ok else float("nan"),
        b_noise_valid=noise_ok,
        b_simple=trace_sigma / g_norm_sq if simple_ok else float("nan"),
        b_simple_valid=simple_ok,
        g_norm_sq=g_norm_sq,
        g_h_g=g_h_g,
        trace_h_sigma=trace_h_sigma,
        trace_h_sigma_se=se,
        trace_sigma=trace_sigma,
        samples=len(chunks),
        chunk=int(chunk),
        grad_evals=3 + 2 * len(chunks),
        sample_grad_evals=len(chunks),
    )


class ModelGradients:
    """Flat float64 gradients of one member of a ``largebatch_sim`` model on a fixed data set:
    the adapter between a model and ``b_noise``.

    ``x`` (1, N, ...) and ``y`` (1, N) are the data (ensemble axis first, shared by the
    members; host or device arrays). ``w0`` is the member's parameters, flattened in
    ``named_params`` order. ``grad(w)`` and ``sample_grad(w, idx)`` write w into the member,
    run forward, ``loss_fn`` (a mean over the batch) and backward, flatten the member's
    gradients and put the original weights back, so the model is unchanged afterwards. The
    model runs in evaluation mode during these calls (no dropout) and its mode is restored.

    The model must be in float64 (``model.init(seeds, dtype=np.float64)``): finite differences
    in float32 are noise. Use a model without batch norm: with it an example's gradient
    depends on the rest of its batch. Every member is computed in the forward pass, so a model
    of one member is cheapest. ``batch`` bounds the examples per forward pass of ``grad``.
    """

    def __init__(
        self,
        model: Layer,
        x: Any,
        y: Any,
        *,
        loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
        member: int = 0,
        batch: int = 4096,
    ) -> None:
        if model.ensemble < 1:
            raise ValueError("model must be initialised with model.init(seeds, dtype=np.float64)")
        if model.dtype != np.float64:
            raise ValueError(
                f"ModelGradients needs a float64 model for finite differences, got {model.dtype}"
            )
        if not 0 <= member < model.ensemble:
            raise ValueError(f"member must be in [0, {model.ensemble}), got {member}")
        if x.ndim < 2 or x.shape[0] != 1 or y.shape[:2] != (1, x.shape[1]):
            raise ValueError(
                f"x must be (1, N, ...) and y (1, N, ...), got {tuple(x.shape)} and "
                f"{tuple(y.shape)}"
            )
        if batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        self.model, self.loss_fn, self.member, self.batch = model, loss_fn, member, batch
        self.x, self.y = backend.asarray(x), backend.asarray(y)
        self.n_examples = int(x.shape[1])
        params = model.named_params()
        self.names = list(params)
        self.shapes = [tuple(params[n].shape[1:]) for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.w0 = self.flatten(params)

    def flatten(self, arrays: dict[str, Any]) -> np.ndarray:
        """The member's entries of named arrays (params or grads) as one float64 host vector."""
        parts = [backend.to_host(arrays[n][self.member]).ravel() for n in self.names]
        return np.concatenate(parts).astype(np.float64)

    def unflatten(self, w: np.ndarray) -> None:
        """Write the flat vector ``w`` into the member's parameters, in place."""
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (sum(self.sizes),):
            raise ValueError(f"expected a flat vector of {sum(self.sizes)} entries, got {w.shape}")
        params = self.model.named_params()
        start = 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            p = params[name]
            xp = backend.get_array_module(p)
            p[self.member] = xp.asarray(w[start : start + size].reshape(shape), dtype=p.dtype)
            start += size

    def _grad_at(self, w: np.ndarray, batches: list[Any]) -> np.ndarray:
        """Mean-loss gradient at w over the union of the index batches (weighted by size)."""
        before = self.flatten(self.model.named_params())
        modes = [layer.training for layer in iter_layers(self.model)]
        total, count = None, 0
        try:
            self.model.eval()
            self.unflatten(w)
            for idx in batches:
                logits = self.model.forward(self.x[:, idx])
                _, dlogits = self.loss_fn(logits, self.y[:, idx])
                self.model.backward(dlogits)
                g = self.flatten(self.model.named_grads()) * len(idx)
                total = g if total is None else total + g
                count += len(idx)
        finally:
            self.unflatten(before)
            for layer, mode in zip(iter_layers(self.model), modes, strict=True):
                layer.training = mode
        return total / count

    def grad(self, w: np.ndarray) -> np.ndarray:
        """G(w): gradient of the mean loss over all N examples."""
        starts = range(0, self.n_examples, self.batch)
        xp = backend.get_array_module(self.x)
        return self._grad_at(
            w, [xp.arange(s, min(s + self.batch, self.n_examples)) for s in starts]
        )

    def sample_grad(self, w: np.ndarray, idx: Any) -> np.ndarray:
        """Gradient of the mean loss over the examples ``idx`` (one index: g_i)."""
        xp = backend.get_array_module(self.x)
        return self._grad_at(w, [xp.asarray(np.asarray(idx).ravel())])


def model_b_noise(
    model: Layer,
    x: Any,
    y: Any,
    *,
    loss_fn: Callable[[Any, Any], tuple[Any, Any]] = softmax_cross_entropy,
    member: int = 0,
    **kwargs: Any,
) -> BNoise:
    """``b_noise`` of one member of a float64 model at its current weights on data (x, y);
    ``kwargs`` go to ``b_noise`` (samples, chunk, eps, seed). See ``ModelGradients``."""
    grads = ModelGradients(model, x, y, loss_fn=loss_fn, member=member)
    return b_noise(grads.grad, grads.sample_grad, grads.w0, grads.n_examples, **kwargs)


# --------------------------------------------------------------------------------------------
# Closed forms on a quadratic


def _matrix_or_diagonal(name: str, a: Any, d: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.shape not in ((d,), (d, d)):
        raise ValueError(f"{name} must be ({d},) (a diagonal) or ({d}, {d}), got {a.shape}")
    return a


def _check_quadratic(H: Any, Sigma: Any, G: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 1:
        raise ValueError(f"G must be a vector (d,), got shape {G.shape}")
    d = G.shape[0]
    return _matrix_or_diagonal("H", H, d), _matrix_or_diagonal("Sigma", Sigma, d), G


def quadratic_b_simple(H: Any, Sigma: Any, G: Any) -> float:
    """tr(Sigma) / |G|^2 for a quadratic with Hessian H, per-example gradient covariance Sigma
    and true gradient G (H and Sigma as (d, d) matrices or (d,) diagonals). B_simple does not
    involve H; it is taken, and its shape checked, so the two closed forms share a signature."""
    H, Sigma, G = _check_quadratic(H, Sigma, G)
    trace = Sigma.sum() if Sigma.ndim == 1 else np.trace(Sigma)
    return float(trace / (G @ G))


def quadratic_b_noise(H: Any, Sigma: Any, G: Any) -> float:
    """tr(H Sigma) / (G^T H G) for a quadratic (H, Sigma as (d, d) matrices or (d,) diagonals).

    On L(w) = 1/2 (w - w*)^T H (w - w*), G = H (w - w*); Zhang et al.'s noisy quadratic model
    (diagonal H, per-example covariance Sigma = H) gives
    B_noise = sum_i h_i^2 / sum_i h_i^3 (w_i - w*_i)^2.
    """
    H, Sigma, G = _check_quadratic(H, Sigma, G)
    h_diag = H if H.ndim == 1 else np.diag(H)
    s_diag = Sigma if Sigma.ndim == 1 else np.diag(Sigma)
    if H.ndim == 2 and Sigma.ndim == 2:
        trace = float(np.sum(H * Sigma.T))
    else:
        trace = float(np.sum(h_diag * s_diag))
    g_h_g = float(G @ (H * G if H.ndim == 1 else H @ G))
    return trace / g_h_g
