"""Score soups on fixed items through one server replica, surviving the replica's death.

`ServedPool` owns one replica and what it holds. A request that fails because the server died,
hung past its request timeout or answered wrongly (`ServerError`) replaces the replica
(`Replica.restart`) and runs the same trial again (loading what it needs afresh), at most
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
    """One replica and what it holds; `call(fn)` runs fn(client), replacing a failed replica.

    What is resident follows the soups asked for (see `SoupEvaluator`): `ensure_pool` loads a pool
    only when it differs from the one loaded, and a replaced replica starts with none.
    """

    def __init__(self, replica: Replica, max_restarts: int = 2) -> None:
        if max_restarts < 0:
            raise ConfigError(f"servers.max_restarts must be >= 0, got {max_restarts}")
        self.replica = replica
        self.max_restarts = int(max_restarts)
        self.restarts = 0
        self.client: SoupClient | None = None
        self.loaded: tuple[tuple[str, ...], str | None] | None = None  # (paths, storage)

    def start(self) -> None:
        self.client = self.replica.start()
        self.loaded = None

    def ensure_pool(self, client: SoupClient, paths: Sequence[str], storage: str | None) -> None:
        wanted = (tuple(paths), storage)
        if self.loaded != wanted:
            self.loaded = None
            client.load_pool(list(paths), storage=storage)
            self.loaded = wanted

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
                self.loaded = None
                self.client = self.replica.restart(reason=errors[-1])

    def stop(self) -> None:
        self.replica.stop()


class SoupEvaluator:
    """Scores one soup on fixed items: weights by candidate name -> TrialResult (search `Evaluator`).

    Only what a soup needs is loaded: a candidate alone is a plain load through vLLM's own loader
    (nothing resident); a soup of the selected experts (`set_experts`, after the analysis) mixes
    from those K experts held resident in `server.expert_storage`; any other soup (the uniform soup
    of all candidates) mixes from memory-mapped files of every candidate.
    """

    def __init__(self, served: ServedPool, paths: Mapping[str, str | Path], benchmark: Benchmark,
                 items: Sequence[Item], objective: str = "mean") -> None:
        if objective not in ("mean", "overall"):
            raise ConfigError(f"objective must be 'mean' or 'overall', got {objective!r}")
        self.served, self.benchmark = served, benchmark
        self.paths = {str(n): str(p) for n, p in paths.items()}
        self.names = list(self.paths)
        self.items, self.objective = list(items), objective
        self.experts: list[str] | None = None

    def set_experts(self, experts: Sequence[str]) -> None:
        unknown = sorted(set(experts) - set(self.names))
        if unknown:
            raise ConfigError(f"experts outside the pool: {unknown}")
        self.experts = list(experts)

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        unknown = sorted(set(weights) - set(self.names))
        if unknown:
            raise ConfigError(f"soup names models outside the pool: {unknown}")
        used = [n for n in self.names if float(weights.get(n, 0.0)) > 0.0]
        t0 = time.perf_counter()

        def score(client: SoupClient):
            if len(used) == 1:
                client.load_plain(self.paths[used[0]])
            else:
                in_experts = self.experts is not None and set(used) <= set(self.experts)
                names = self.experts if in_experts else self.names
                self.served.ensure_pool(client, [self.paths[n] for n in names], None if in_experts else "mmap")
                client.apply([float(weights.get(n, 0.0)) for n in names])
            return evaluate_items(self.benchmark, client, self.items, show_progress=False)

        try:
            res, retries = self.served.call(score)
        except ServerError as err:
            # Recorded as a failed trial with its history; the scheduler stops after a few in a row.
            return TrialResult.failure(_one_line(err), time.perf_counter() - t0)
        value = res.overall if self.objective == "overall" else macro_mean(res.per_category)
        return TrialResult(objective=value, sem=macro_sem(res.per_category), per_category=res.per_category,
                           seconds=time.perf_counter() - t0, retries=tuple(retries),
                           item_scores=tuple(res.item_scores))


def _one_line(err: BaseException) -> str:
    """Server errors carry a log tail; the ledger and progress lines get its first line only."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
