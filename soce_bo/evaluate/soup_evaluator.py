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
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from soce_bo.errors import ConfigError, ServerError, first_line
from soce_bo.evaluate.benchmark import Benchmark, Item, macro_mean, macro_sem
from soce_bo.evaluate.runner import evaluate_items, summarize_in_order
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
        self.applied: tuple | None = None  # the soup now served (SoupEvaluator._load)

    def start(self) -> None:
        self.client = self.replica.start()
        self.loaded = self.applied = None

    def ensure_pool(self, client: SoupClient, paths: Sequence[str], storage: str | None) -> None:
        wanted = (tuple(paths), storage)
        if self.loaded != wanted:
            self.loaded = self.applied = None
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
                self.loaded = self.applied = None
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

    @property
    def item_categories(self) -> list[str]:
        """Category of each item, in split order (what racing stratifies by)."""
        return [it.category for it in self.items]

    def _check(self, weights: Mapping[str, float]) -> None:
        unknown = sorted(set(weights) - set(self.names))
        if unknown:
            raise ConfigError(f"soup names models outside the pool: {unknown}")

    def _load(self, client: SoupClient, weights: Mapping[str, float]) -> None:
        """Make `weights` the served model, unless it already is (a raced soup's later stages)."""
        key = tuple(sorted((self.paths[n], round(float(w), 12)) for n, w in weights.items() if float(w) > 0.0))
        if self.served.applied == key:
            return
        self.served.applied = None
        used = [n for n in self.names if float(weights.get(n, 0.0)) > 0.0]
        if len(used) == 1:
            client.load_plain(self.paths[used[0]])
        else:
            in_experts = self.experts is not None and set(used) <= set(self.experts)
            names = self.experts if in_experts else self.names
            self.served.ensure_pool(client, [self.paths[n] for n in names], None if in_experts else "mmap")
            client.apply([float(weights.get(n, 0.0)) for n in names])
        self.served.applied = key

    def score_items(self, weights: Mapping[str, float], indices: Sequence[int],
                    retries: list[str] | None = None) -> list[float]:
        """Scores of the soup on the items at `indices` (racing); raises ServerError if it cannot.

        Errors of attempts that failed on a server since replaced are appended to `retries`, so a
        raced trial's ledger line shows them as a full evaluation's does."""
        self._check(weights)
        chosen = [self.items[i] for i in indices]

        def score(client: SoupClient) -> list[float]:
            self._load(client, weights)
            return evaluate_items(self.benchmark, client, chosen, show_progress=False).item_scores

        scores, errors = self.served.call(score)
        if retries is not None:
            retries.extend(errors)
        return [float(x) for x in scores]

    def result_for(self, indices: Sequence[int], scores: Sequence[float]) -> TrialResult:
        """The TrialResult of per-item scores on `indices`, aggregated as a full evaluation is."""
        chosen = [self.items[i] for i in indices]
        per_cat = summarize_in_order(self.benchmark, [it.category for it in chosen], scores)
        value = self.benchmark.overall(per_cat) if self.objective == "overall" else macro_mean(per_cat)
        return TrialResult(objective=value, sem=macro_sem(per_cat), per_category=per_cat,
                           item_scores=tuple(float(x) for x in scores))

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        self._check(weights)
        t0 = time.perf_counter()

        retries: list[str] = []
        try:
            scores = self.score_items(weights, range(len(self.items)), retries)
        except ServerError as err:
            # Recorded as a failed trial with its history; the scheduler stops after a few in a row.
            return TrialResult.failure(_one_line(err), time.perf_counter() - t0)
        return replace(self.result_for(range(len(self.items)), scores),
                       seconds=time.perf_counter() - t0, retries=tuple(retries))


def _one_line(err: BaseException) -> str:
    """Server errors carry a log tail; the ledger and progress lines get its first line only."""
    return first_line(err) or type(err).__name__
