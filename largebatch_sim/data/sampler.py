"""The device-resident batch sampler: data moved once, batches gathered on the device.

``BatchSampler(x, y, batch_size, seeds)`` serves global batches of shape (E', B, ...) for an
ensemble of E = len(seeds) members:

- The training arrays go to the device once, at construction (``backend.asarray``).
- Each epoch, every distinct seed draws one permutation of the N examples on the host, from its
  own ``np.random.default_rng(seed)``; a member therefore sees the same order inside an ensemble
  as when trained alone with that seed. The epoch's index table (E', steps_per_epoch x B) is
  built on the host and sent to the device in one small copy; a step then only slices it and
  gathers ``x[idx]``, ``y[idx]`` on the device: no host work, no synchronisation.
- E' = 1 when all members share one seed (one batch broadcast over the ensemble, as the layers
  accept); otherwise E' = E, one row per member (members with equal seeds get equal rows).
- One shuffle per epoch is shared by all simulated workers (Goyal et al., remark 4): the global
  batch of B examples is split into k contiguous chunks of B / k downstream (batch norm,
  noise-scale estimator), so an epoch visits every example once. ``worker_shuffle=
  "independent"`` is the pitfall instead: each of the k workers draws its own permutation of all
  N examples per epoch and takes its n = B / k examples per step from it, so an epoch visits
  only about 1 - (1 - 1/k)^k (63 % for large k) of the distinct examples, some several times.

With ``drop_last`` (the default) an epoch is N // B full batches and the N mod B examples left
over at the end of each permutation are skipped that epoch (a different random few each time);
without it the last batch of an epoch is shorter (N mod B examples).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend

WORKER_SHUFFLES = ("shared", "independent")


def ensemble_rows(seeds: int | Sequence[int]) -> tuple[list[int], np.ndarray]:
    """The distinct seeds (in order of first appearance) and, for every member, its row.

    ``rows`` has one entry per member: all zeros when every member shares one seed (E' = 1),
    else the index of the member's seed among the distinct ones.
    """
    seeds = [seeds] if isinstance(seeds, int | np.integer) else list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed (one per ensemble member)")
    for s in seeds:
        if not isinstance(s, int | np.integer) or s < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seeds!r}")
    distinct = list(dict.fromkeys(int(s) for s in seeds))
    rows = np.array([distinct.index(int(s)) for s in seeds], dtype=np.int64)
    return distinct, rows


class MemberRows:
    """Which row of a served batch each ensemble member reads, and dropping members.

    Each distinct seed drives its own stream; ``rows`` is 1 when all members share one seed
    (one batch broadcast over the ensemble), else one row per member. ``select_members(keep)``
    keeps the members at positions ``keep``: the kept members' streams go on unchanged (a
    dropped member's stream may still be drawn, so that the others' never shift)."""

    distinct_seeds: list[int]
    _rows: np.ndarray

    def _set_members(self, seeds: int | Sequence[int]) -> None:
        self.distinct_seeds, self._rows = ensemble_rows(seeds)

    @property
    def seeds(self) -> list[int]:
        """One seed per member."""
        return [self.distinct_seeds[r] for r in self._rows]

    @property
    def ensemble(self) -> int:
        return len(self._rows)

    @property
    def shared(self) -> bool:
        """True when every member reads the same batch (one seed for all)."""
        return len(self.distinct_seeds) == 1

    @property
    def rows(self) -> int:
        return 1 if self.shared else self.ensemble

    def select_members(self, keep: np.ndarray) -> None:
        if not self.shared:  # one batch broadcast to all serves any subset as it is
            self._rows = self._rows[np.asarray(keep, dtype=np.int64)]


class BatchSampler(MemberRows):
    """Shuffled mini-batches of (x, y), gathered on the device, for an ensemble of members.

    ``x`` (N, ...) and ``y`` (N, ...) are host (or device) arrays; ``seeds`` is one seed or one
    per ensemble member. ``next()`` (or iterating, which never stops) returns (xb, yb) with
    shapes (E', B, ...), where E' = ``rows`` is 1 when all members share a seed and E otherwise.
    ``epoch`` counts completed epochs, ``step`` the batches served. See the module docstring
    for the order of examples.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        seeds: int | Sequence[int] = 0,
        drop_last: bool = True,
        workers: int = 1,
        worker_shuffle: str = "shared",
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
        n = len(x)
        if n < 1:
            raise ValueError("the data are empty: a sampler needs at least one example")
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > n:
            raise ValueError(
                f"batch_size ({batch_size}) exceeds the {n} examples of the data; "
                "choose batch_size <= the data size"
            )
        if worker_shuffle not in WORKER_SHUFFLES:
            raise ValueError(
                f"worker_shuffle must be one of {WORKER_SHUFFLES}, got {worker_shuffle!r}"
            )
        if not isinstance(workers, int | np.integer) or workers < 1 or batch_size % workers:
            raise ValueError(
                f"workers must be a positive integer dividing batch_size ({batch_size}), "
                f"got {workers!r}"
            )
        if worker_shuffle == "independent" and not drop_last:
            raise ValueError("worker_shuffle='independent' needs drop_last=True (full batches)")
        self.n, self.batch_size, self.drop_last = n, int(batch_size), drop_last
        self.workers, self.worker_shuffle = int(workers), worker_shuffle
        self._set_members(seeds)
        self._rngs = [np.random.default_rng(s) for s in self.distinct_seeds]
        # the independent shuffles: one generator per (seed, worker)
        self._worker_rngs = [
            [np.random.default_rng([s, j]) for j in range(self.workers)]
            for s in self.distinct_seeds
        ]
        self.steps_per_epoch = n // self.batch_size if drop_last else -(-n // self.batch_size)
        self.x = backend.asarray(x)
        self.y = backend.asarray(y)
        self.step = 0
        self._table: Any = None

    @property
    def epoch(self) -> int:
        """Completed epochs (the epoch of the next batch, counted from 0)."""
        return self.step // self.steps_per_epoch

    def epoch_indices(self) -> np.ndarray:
        """Draw the next epoch's order on the host: (E', steps_per_epoch x B) example indices
        (all N of them, in the last batch's shorter form, when ``drop_last`` is off)."""
        if self.worker_shuffle == "independent":
            table = np.stack([self._independent_epoch(rngs) for rngs in self._worker_rngs])
            return table if self.shared else table[self._rows]
        perms = [rng.permutation(self.n) for rng in self._rngs]
        used = self.steps_per_epoch * self.batch_size if self.drop_last else self.n
        table = np.stack(perms)[:, :used]
        return table if self.shared else table[self._rows]

    def _independent_epoch(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """(steps x B,) indices: worker j's n examples of each step come from its own shuffle."""
        n_worker = self.batch_size // self.workers
        per_worker = [rng.permutation(self.n)[: self.steps_per_epoch * n_worker] for rng in rngs]
        # (k, steps, n) -> (steps, k, n): each global batch is k contiguous worker chunks
        chunks = np.stack(per_worker).reshape(self.workers, self.steps_per_epoch, n_worker)
        return chunks.transpose(1, 0, 2).reshape(-1)

    def select_members(self, keep: np.ndarray) -> None:
        super().select_members(keep)
        if self._table is not None and not self.shared:  # this epoch's rows of the kept
            self._table = self._table[backend.asarray(np.asarray(keep, dtype=np.int64))]

    def next(self) -> tuple[Any, Any]:
        position = self.step % self.steps_per_epoch
        if position == 0:  # one host-to-device copy per epoch
            self._table = backend.asarray(self.epoch_indices())
        idx = self._table[:, position * self.batch_size : (position + 1) * self.batch_size]
        self.step += 1
        return self.x[idx], self.y[idx]

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return self.next()

    def __repr__(self) -> str:
        return (
            f"BatchSampler(n={self.n}, batch_size={self.batch_size}, seeds={self.seeds}, "
            f"rows={self.rows}, steps_per_epoch={self.steps_per_epoch}, step={self.step})"
        )
