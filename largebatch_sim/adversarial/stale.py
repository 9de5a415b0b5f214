"""The weights of tau steps ago, as a ring buffer of parameter snapshots.

ConAdv computes the adversarial example of step t from w_{t - tau} (tau = 0: the current
weights, synchronous adversarial training), so that it can run while step t - 1 is still being
computed. Keeping w_{t - tau} costs tau + 1 copies of the parameters (the current one
included), in preallocated buffers written in turn; never a second model with its own state.
Before tau steps have passed, the oldest snapshot (w_0) stands in.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_integer


def check_tau(tau: Any) -> int:
    """tau >= 0, or a ``ParameterError`` naming ``tau``."""
    return check_integer("tau", tau, low=0)


class ParameterSnapshots:
    """``push(params)`` copies the current weights in; ``stale()`` is the copy tau pushes old."""

    def __init__(self, tau: int) -> None:
        self.tau = check_tau(tau)
        self.buffers: list[dict[str, Any]] = []
        self.pushed = 0

    def push(self, params: dict[str, Any]) -> None:
        slot = self.pushed % (self.tau + 1)
        if len(self.buffers) <= slot:
            self.buffers.append({name: p.copy() for name, p in params.items()})
        else:
            for name, p in params.items():
                self.buffers[slot][name][...] = p
        self.pushed += 1

    def stale(self) -> dict[str, Any]:
        """w_{t - tau}, t the last push (the oldest snapshot while fewer than tau + 1)."""
        if not self.pushed:
            raise RuntimeError("no snapshot yet: push the parameters first")
        age = min(self.tau, self.pushed - 1)
        return self.buffers[(self.pushed - 1 - age) % (self.tau + 1)]


def swap_in(params: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write ``values`` into ``params`` in place; returns copies of what was there."""
    saved = {name: p.copy() for name, p in params.items()}
    for name, p in params.items():
        p[...] = values[name]
    return saved
