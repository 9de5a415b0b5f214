"""Notebook 06's tables: DL-F1's steady states, DL-T1's and CA-T1's accuracies, CA-F1's times,
and the tables each criterion of the target registry reads.

Everything expensive is cached (``runs.memo``): DL-F1's sweep as one table per spec, DL-T1's
runs per ``DecentralisedSpec``, CA-T1's per ``ConAdvSpec``, CA-F1's times per machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from ..adversarial.run import ConAdvSpec, cached_conadv
from ..decentral import least_squares as ls
from ..decentral.run import DecentralisedSpec, cached_decentralised, frame
from ..decentral.topology import mixing_matrix
from ..report.criteria import AllOf
from ..runs.memo import memoised
from ..validate import check_integer, check_number, check_sequence

METHODS = ("pmsgd", "dmsgd", "decentlam")


@dataclass(frozen=True)
class SteadyStateSpec:
    """DL-F1: beta swept at (``batch``, ``lr``); the batch swept at ``beta_for_batch`` with
    the step ``lr_per_row`` x B (linear scaling); ``steps`` per simulation."""

    problem: ls.LeastSquares = ls.LeastSquares()
    topology: str = "ring"
    betas: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95)
    batch: int = 16
    lr: float = 0.01
    batches: tuple[int, ...] = (1, 4, 16, 64, 128)
    beta_for_batch: float = 0.9
    lr_per_row: float = 0.001
    steps: int = 4000

    def __post_init__(self) -> None:
        for name in ("betas", "batches"):
            check_sequence(name, getattr(self, name), lambda n, v: check_number(n, v, low=0))
        check_integer("batch", self.batch, low=1, high=self.problem.rows)
        check_number("lr", self.lr, low=0, low_open=True)
        check_integer("steps", self.steps, low=2)

    def settings(self) -> list[dict[str, float]]:
        rows = [
            dict(sweep="momentum", optimizer=o, lr=self.lr, momentum=b, batch=self.batch)
            for b in self.betas
            for o in METHODS
        ]
        rows += [
            dict(
                sweep="batch",
                optimizer=o,
                lr=self.lr_per_row * b,
                momentum=self.beta_for_batch,
                batch=b,
            )
            for b in self.batches
            for o in METHODS
        ]
        return rows


def steady_states(spec: SteadyStateSpec) -> pd.DataFrame:
    """One row per setting: sweep, optimizer, lr, momentum, batch, the simulated error and
    consensus distance, the closed-form bias, and the excess over PmSGD's error."""
    w = mixing_matrix(spec.topology, spec.problem.nodes)
    settings = spec.settings()
    plain = [{k: v for k, v in s.items() if k != "sweep"} for s in settings]
    table = ls.steady_state_table(spec.problem, w, plain, spec.steps)
    table.insert(0, "sweep", [s["sweep"] for s in settings])
    keys = ["sweep", "lr", "momentum", "batch"]
    pm = table[table.optimizer == "pmsgd"].set_index(keys).error
    table["excess"] = (
        table.error.to_numpy() - pm.loc[list(table[keys].itertuples(index=False))].to_numpy()
    )
    return table


def cached_steady_states(spec: SteadyStateSpec) -> pd.DataFrame:
    return memoised(spec, "analysis/beyond_one_worker.py", steady_states)


def dl_f1_tables(table: pd.DataFrame, criterion: AllOf) -> dict[str, pd.DataFrame]:
    """The four parts of DL-F1's ``criterion`` (see its declaration), in its order."""
    mom = table[table.sweep == "momentum"]
    dm = mom[mom.optimizer == "dmsgd"].set_index("momentum").excess
    dl = mom[mom.optimizer == "decentlam"].set_index("momentum").excess
    high = [b for b in dm.index if b >= 0.8]
    bat = table[table.sweep == "batch"]
    largest = sorted(bat.batch.unique())[-2:]
    err = bat.set_index(["optimizer", "batch"]).error
    names = [name for name, _ in criterion.parts]  # the declared parts, in order
    return {
        names[0]: pd.DataFrame({"momentum": dm.index, "value": dm.to_numpy()}),
        names[1]: pd.DataFrame(
            {
                "pair": [f"beta {b:g}" for b in high],
                "a": dm[high].to_numpy(),
                "b": dl[high].to_numpy(),
            }
        ),
        names[2]: pd.DataFrame(
            {
                "pair": [f"B {b}" for b in largest],
                "a": [err["dmsgd", b] for b in largest],
                "b": [err["pmsgd", b] for b in largest],
            }
        ),
        names[3]: pd.DataFrame(
            {
                "pair": [f"B {b}" for b in largest],
                "a": [err["dmsgd", b] for b in largest],
                "b": [err["decentlam", b] for b in largest],
            }
        ),
    }


def dl_t1_specs(
    base: DecentralisedSpec, node_batches: Sequence[int], seeds: Iterable[int]
) -> list[DecentralisedSpec]:
    """PmSGD (topology: full) and DmSGD / DecentLaM on ring and exponential graphs, at each
    per-node batch with the rate scaled by sqrt(B_node / base.node_batch), per seed."""
    from dataclasses import replace

    specs = []
    for nb in node_batches:
        lr = base.lr * (nb / base.node_batch) ** 0.5
        for seed in seeds:
            specs.append(
                replace(base, optimizer="pmsgd", topology="full", node_batch=nb, lr=lr, seed=seed)
            )
            for topology in ("ring", "exponential"):
                for optimizer in ("dmsgd", "decentlam"):
                    specs.append(
                        replace(
                            base,
                            optimizer=optimizer,
                            topology=topology,
                            node_batch=nb,
                            lr=lr,
                            seed=seed,
                        )
                    )
    return specs


def dl_t1_frame(specs: Iterable[DecentralisedSpec]) -> pd.DataFrame:
    """One row per run (``decentral.run.frame``), each run through the cache."""
    return frame([cached_decentralised(s) for s in specs])


def dl_t1_tables(runs: pd.DataFrame, parts: Iterable[str]) -> dict[str, pd.DataFrame]:
    """(group, seed, value) at the largest batch per topology, PmSGD's runs in both."""
    large = runs[runs.batch == runs.batch.max()]
    tables = {}
    for part in parts:
        topology = part.split(":")[0]
        rows = large[(large.topology == topology) | (large.optimizer == "pmsgd")]
        tables[part] = pd.DataFrame({"group": rows.optimizer, "seed": rows.seed, "value": rows.acc})
    return tables


def ca_t1_frame(specs: Iterable[ConAdvSpec]) -> pd.DataFrame:
    """One row per (method, seed), each spec through the cache."""
    return pd.concat([cached_conadv(s) for s in specs], ignore_index=True)


def ca_t1_tables(runs: pd.DataFrame, parts: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Every part reads the same (group, seed, value) table of the largest batch."""
    large = runs[runs.batch == runs.batch.max()]
    table = pd.DataFrame({"group": large.method, "seed": large.seed, "value": large.acc})
    return {part: table for part in parts}


def ca_f1_tables(times: pd.DataFrame, criterion: AllOf) -> dict[str, pd.DataFrame]:
    """The two ratios at the largest batch timed, for the two parts of ``criterion``."""
    row = times.loc[times.batch.idxmax()]
    ratios = (row.concurrent_over_sequential, row.concurrent_over_plain)
    return {
        name: pd.DataFrame({"value": [r]})
        for (name, _), r in zip(criterion.parts, ratios, strict=True)
    }
