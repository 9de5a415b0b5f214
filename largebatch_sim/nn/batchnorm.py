"""Batch normalisation, computed per simulated worker (Goyal et al.'s n = 32 "ghost" batches)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..validate import check_integer, check_number, within
from .base import Layer, grad_chunks_for, sq_norms


class BatchNorm(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, with statistics per worker chunk.

    Shapes: x (E, B, C) or (E, B, C, *spatial) such as (E, B, C, H, W) (or E = 1, an input
    shared by all members); gamma, beta (E, C); y like x.

    Training: the global batch B = k * n is split into ``workers`` = k contiguous chunks of n
    examples (example i belongs to chunk i // n). Chunk j is normalised by its own per-channel
    mean mu_j and biased variance var_j over its n examples and all spatial positions
    (m = n * prod(spatial) values); statistics never cross chunks or members. With
    x_hat = (x - mu_j) / sqrt(var_j + eps), the exact backward per chunk is

        dgamma = sum dout * x_hat,   dbeta = sum dout,
        dx = (gamma / sqrt(var_j + eps)) * (g - mean_j(g) - x_hat * mean_j(g * x_hat)),
        with g = dout (the means over the chunk's m values, the sums over everything).

    Running statistics (E, C), used in eval mode instead of the chunk statistics:
        running = momentum * running + (1 - momentum) * mean_j(stat_j),
    with the unbiased variance var_j * m / (m - 1) for the running variance (as PyTorch).
    ``momentum`` follows the Caffe/Keras convention: 0.9 here is PyTorch's momentum=0.1.

    With ``grad_chunks`` = k > 1 (``set_grad_chunks``), dgamma and dbeta are also summed per
    noise chunk of B / k contiguous examples (``chunk_sq_norms``, (E, k)). Batch norm couples
    the examples of a worker chunk (dx above involves the chunk means), so for the layers below
    a BN a noise chunk's contribution is exactly "that chunk's own gradient" only when every
    noise chunk is a union of worker chunks (``workers`` a multiple of k); otherwise it is the
    chunk's share of the global gradient, which still sums to it.

    Precise statistics (``start_precise_statistics`` ... ``stop_precise_statistics``): between
    the two calls, each training-mode forward replaces the EMA by the exact average over the
    T batches seen so far, running_T = ((T - 1) running_{T-1} + mean_j(stat_j)) / T, so the
    running statistics become the mean of the chunk statistics of those batches, computed with
    the current weights (precise BN, see ``largebatch_sim.precise_bn``). The first batch
    (T = 1, like momentum = 0) overwrites the old values instead of weighting them by 0, so
    statistics that had become NaN or Inf are replaced too.

    ``gamma_init = 0`` starts the layer at y = beta (Goyal's zero-init of the last BN of each
    residual block, so the block starts as the identity). gamma and beta are of kind ``norm``.
    """

    def __init__(
        self,
        num_features: int,
        name: str = "bn",
        workers: int = 1,
        momentum: float = 0.9,
        eps: float = 1e-5,
        gamma_init: float = 1.0,
    ) -> None:
        super().__init__(name)
        with within(name):
            self.num_features = check_integer("num_features", num_features, low=1)
            check_number("momentum", momentum, low=0, high=1)
            check_number("eps", eps, low=0, low_open=True)
            check_number("gamma_init", gamma_init)
        self.workers = workers
        self.momentum, self.eps, self.gamma_init = momentum, eps, gamma_init
        self.kinds = {"gamma": "norm", "beta": "norm"}
        self.buffers: dict[str, Any] = {}
        self._precise_batches: int | None = None  # batches averaged so far, None: EMA
        self._check_workers()

    @property
    def running_mean(self) -> Any:
        return self.buffers["running_mean"]

    @property
    def running_var(self) -> Any:
        return self.buffers["running_var"]

    def init_member(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "gamma": np.full(self.num_features, float(self.gamma_init)),
            "beta": np.zeros(self.num_features),
        }

    def init_buffers(self, ensemble: int, dtype: Any) -> None:
        shape = (ensemble, self.num_features)
        self.buffers = {
            "running_mean": backend.asarray(np.zeros(shape), dtype=dtype),
            "running_var": backend.asarray(np.ones(shape), dtype=dtype),
        }

    def _check_workers(self) -> None:
        """At construction and at each training forward: ``workers`` may be set afterwards."""
        with within(self.name):
            check_integer("workers", self.workers, low=1)

    def _check_input(self, x: Any) -> tuple[int, int, int, int]:
        """(E_in, B, C, S) of x, with S the number of spatial positions."""
        if x.ndim < 3 or x.shape[2] != self.num_features:
            raise ValueError(
                f"{self.name}: expected input (E, B, {self.num_features}) or "
                f"(E, B, {self.num_features}, H, W), got {tuple(x.shape)}"
            )
        ensemble = self.params["gamma"].shape[0]
        if x.shape[0] not in (1, ensemble):
            raise ValueError(
                f"{self.name}: input ensemble axis {x.shape[0]} does not match the "
                f"{ensemble} members (or 1, an input shared by all)"
            )
        return x.shape[0], x.shape[1], x.shape[2], math.prod(x.shape[3:])

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        e_in, batch, c, s = self._check_input(x)
        # parameters and statistics broadcast against the (E, k, n, C, S) view
        gamma = self.params["gamma"][:, None, None, :, None]
        beta = self.params["beta"][:, None, None, :, None]
        if self.training:
            self._check_workers()
            k = self.workers
            if batch % k:
                raise ValueError(
                    f"{self.name}: batch {batch} is not divisible by workers={k}: "
                    "each worker normalises batch / workers examples"
                )
            m = batch // k * s
            if m < 2:
                raise ValueError(
                    f"{self.name}: each worker chunk has {m} value per channel "
                    f"(batch {batch}, workers={k}); training BN needs at least 2"
                )
            xr = x.reshape(e_in, k, batch // k, c, s)
            mu = chunk_sum(xr) / m
            xhat = xr - mu  # centred here, scaled in place below: one array of x's size
            var = chunk_dot(xhat, xhat) / m
            inv = 1.0 / xp.sqrt(var + self.eps)
            self._update_running(mu, var, m)
        else:
            xhat = (
                x.reshape(e_in, 1, batch, c, s)
                - self.buffers["running_mean"][:, None, None, :, None]
            )
            inv = 1.0 / xp.sqrt(self.buffers["running_var"][:, None, None, :, None] + self.eps)
        xhat *= inv
        self.cache = (xhat, inv, self.training, x.shape)
        y = xhat * gamma
        y += beta
        return y.reshape((y.shape[0],) + x.shape[1:])

    def start_precise_statistics(self) -> None:
        """From now on, running statistics are the exact average of the batches that follow."""
        self._precise_batches = 0

    def stop_precise_statistics(self) -> None:
        """Back to the EMA (momentum) update for the training steps."""
        self._precise_batches = None

    def _update_running(self, mu: Any, var: Any, m: int) -> None:
        """Average the chunks' statistics into the running estimates, in place."""
        batch_mean = mu.mean(axis=(1, 2, 4))  # (E_in, C)
        batch_var = var.mean(axis=(1, 2, 4)) * (m / (m - 1))  # unbiased
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        if self._precise_batches is None:
            mom = self.momentum
        else:  # the exact average over the batches so far: weight 1 / T on the new one
            self._precise_batches += 1
            mom = 1.0 - 1.0 / self._precise_batches
        if mom == 0.0:  # replace outright: 0 * a non-finite stale value would stay NaN
            rm[...] = batch_mean
            rv[...] = batch_var
        else:
            rm[...] = mom * rm + (1.0 - mom) * batch_mean
            rv[...] = mom * rv + (1.0 - mom) * batch_var

    def backward(self, dout: Any) -> Any:
        xhat, inv, training, x_shape = self.cache
        e_out = dout.shape[0]
        dy = dout.reshape((e_out,) + xhat.shape[1:])
        xhat = backend.get_array_module(dy).broadcast_to(xhat, dy.shape)  # a shared input
        batch = x_shape[1]
        # per worker chunk: sum dy and sum dy * x_hat over its m values, (E, k, 1, C, 1)
        sum_dy, sum_dy_xhat = chunk_sum(dy), chunk_dot(dy, xhat)
        k = grad_chunks_for(self, batch)
        if k > 1:  # sums per noise chunk of batch / k examples, whatever the worker chunks
            chunked = (e_out, k, batch // k) + xhat.shape[3:]
            dgamma = chunk_dot(dy.reshape(chunked), xhat.reshape(chunked))[:, :, 0, :, 0]
            dbeta = chunk_sum(dy.reshape(chunked))[:, :, 0, :, 0]  # (E, k, C)
            self.chunk_sq_norms = {"gamma": sq_norms(dgamma), "beta": sq_norms(dbeta)}
            self.grads["gamma"] = dgamma.sum(axis=1)
            self.grads["beta"] = dbeta.sum(axis=1)
        else:
            self.grads["gamma"] = sum_dy_xhat.sum(axis=(1, 2, 4))
            self.grads["beta"] = sum_dy.sum(axis=(1, 2, 4))
        gamma = self.params["gamma"][:, None, None, :, None]
        if training:  # in place on one array of dy's size: four passes, no other temporaries
            m = xhat.shape[2] * xhat.shape[4]
            dx = xhat * (sum_dy_xhat / -m)
            dx += dy
            dx -= sum_dy / m
            dx *= gamma * inv
        else:
            dx = dy * (gamma * inv)
        if x_shape[0] == 1 < e_out:  # an input shared by all members
            dx = dx.sum(axis=0, keepdims=True)
        return dx.reshape(x_shape)


def chunk_sum(a: Any) -> Any:
    """Sum of a (E, k, n, C, S) array over n and S, as (E, k, 1, C, 1).

    ``einsum``: in both memory orders the layers produce (batch-major, and channel-major after
    a convolution) within 1.5x of the best NumPy reduction, where a product with a vector of
    ones is up to 8x slower, and 50x at S = 1 (one tiny matmul per example)."""
    xp = backend.get_array_module(a)
    return xp.einsum("eknct->ekc", a)[:, :, None, :, None]


def chunk_dot(a: Any, b: Any) -> Any:
    """sum over n and S of a * b for (E, k, n, C, S) arrays, as (E, k, 1, C, 1), without
    materialising the product (einsum: 2x faster than ``(a * b).sum`` on NumPy)."""
    xp = backend.get_array_module(a)
    return xp.einsum("eknct,eknct->ekc", a, b)[:, :, None, :, None]
