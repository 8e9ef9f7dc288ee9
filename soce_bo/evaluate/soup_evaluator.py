"""Score soups on fixed items through one server replica, surviving the replica's death.

`ServedPool` owns one replica and the pool it must hold. A request that fails because the
server died, hung past its request timeout or answered wrongly (`ServerError`) replaces the
replica (`Replica.restart`), reloads the pool and runs the same trial again, at most
`max_restarts` times; the errors of the failed attempts travel with the result into the ledger.
`SoupEvaluator` is the search's `Evaluator`: weights by candidate name -> `TrialResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from soce_bo.errors import ConfigError, ServerError
from soce_bo.evaluate.benchmark import Benchmark, Item, macro_mean, macro_sem
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.serve.client import SoupClient
from soce_bo.serve.replica import Replica
from soce_bo.values import TrialResult

log = logging.getLogger(__name__)
T = TypeVar("T")


class ServedPool:
    """One replica with `paths` loaded; `call(fn)` runs fn(client), replacing a failed replica."""

    def __init__(self, replica: Replica, paths: Sequence[str | Path], max_restarts: int = 2) -> None:
        if max_restarts < 0:
            raise ConfigError(f"servers.max_restarts must be >= 0, got {max_restarts}")
        self.replica = replica
        self.paths = [str(p) for p in paths]
        self.max_restarts = int(max_restarts)
        self.restarts = 0
        self.client: SoupClient | None = None

    def start(self) -> None:
        self.client = self.replica.start()
        self.client.load_pool(self.paths)

    def call(self, fn: Callable[[SoupClient], T]) -> tuple[T, list[str]]:
        """fn(client) and the errors of attempts that failed on a server since replaced."""
        if self.client is None:
            self.start()
        errors: list[str] = []
        while True:
            try:
                return fn(self.client), errors  # type: ignore[arg-type]
            except ServerError as err:
                errors.append(_one_line(err))
                if len(errors) > self.max_restarts:
                    raise ServerError(f"{self.replica.label} failed {len(errors)} times on this trial "
                                      f"(servers.max_restarts={self.max_restarts}), last: {errors[-1]}; "
                                      f"{self.replica.diagnose()}") from err
                self.restarts += 1
                self.client = self.replica.restart(reason=errors[-1])
                self.client.load_pool(self.paths)

    def stop(self) -> None:
        self.replica.stop()


class SoupEvaluator:
    """Scores one soup on fixed items: weights by candidate name -> TrialResult (search `Evaluator`)."""

    def __init__(self, served: ServedPool, names: Sequence[str], benchmark: Benchmark, items: Sequence[Item],
                 objective: str = "mean") -> None:
        if objective not in ("mean", "overall"):
            raise ConfigError(f"objective must be 'mean' or 'overall', got {objective!r}")
        if len(names) != len(served.paths):
            raise ConfigError(f"{len(names)} candidate names for a pool of {len(served.paths)} models")
        self.served, self.names, self.benchmark = served, list(names), benchmark
        self.items, self.objective = list(items), objective

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        unknown = sorted(set(weights) - set(self.names))
        if unknown:
            raise ConfigError(f"soup names models outside the pool: {unknown}")
        vector = [float(weights.get(name, 0.0)) for name in self.names]
        t0 = time.perf_counter()

        def score(client: SoupClient):
            client.apply(vector)
            return evaluate_items(self.benchmark, client, self.items, show_progress=False)

        try:
            res, retries = self.served.call(score)
        except ServerError as err:
            # Recorded as a failed trial with its history; the scheduler stops after a few in a row.
            return TrialResult.failure(_one_line(err), time.perf_counter() - t0)
        value = res.overall if self.objective == "overall" else macro_mean(res.per_category)
        return TrialResult(objective=value, sem=macro_sem(res.per_category), per_category=res.per_category,
                           seconds=time.perf_counter() - t0, retries=tuple(retries))


def _one_line(err: BaseException) -> str:
    """Server errors carry a log tail; the ledger and progress lines get its first line only."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
