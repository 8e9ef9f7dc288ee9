"""A fixed, ordered list of soups to evaluate: the shared core of non-adaptive strategies.

Uniform, fixed, grid and random search all know their whole plan up front; `PointQueue` hands
the points out in order and matches results back by `weights_key`, in any completion order.
`PlannedSearch` is their one ask/tell body over such a queue: each of those strategies only
computes its points (a short, readable file) and hands them to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.errors import ConfigError
from soce_bo.search.simplex import WeightsKey, weights_key
from soce_bo.values import TrialResult, Weights


class PointQueue:
    """Ordered points; `take(n)` hands out the next ones, `mark(w)` records a result for one."""

    def __init__(self, points: Sequence[Weights], owner: str) -> None:
        self.owner = owner
        self.points: list[Weights] = []
        self._keys: list[WeightsKey] = []
        for p in points:
            key = weights_key(p)
            if key not in self._keys:  # the same soup twice would be a wasted trial
                self.points.append(dict(p))
                self._keys.append(key)
        self._issued: set[WeightsKey] = set()
        self._observed: set[WeightsKey] = set()

    def __len__(self) -> int:
        return len(self.points)

    def take(self, n: int) -> list[Weights]:
        out = []
        for p, key in zip(self.points, self._keys, strict=True):
            if len(out) >= n:
                break
            if key not in self._issued and key not in self._observed:
                self._issued.add(key)
                out.append(dict(p))
        return out

    def mark(self, weights: Weights) -> None:
        """Record that `weights` has a result; unknown weights mean a mismatched ledger."""
        key = weights_key(weights)
        if key not in self._keys:
            raise ConfigError(
                f"search.{self.owner}: trial weights {weights} are not in this strategy's plan -- the "
                "ledger was written with other settings (experts, seed, step, budget); use a new "
                "state directory or restore the old settings"
            )
        self._observed.add(key)
        self._issued.discard(key)

    def skip(self, weights: Weights) -> bool:
        """Drop a planned point known from elsewhere (prior information); False if not in the plan."""
        key = weights_key(weights)
        if key not in self._keys or key in self._issued:
            return False
        self._observed.add(key)
        return True

    @property
    def n_observed(self) -> int:
        return len(self._observed)

    @property
    def n_issued(self) -> int:
        """Points handed out and still waiting for their result."""
        return len(self._issued)

    def finished(self) -> bool:
        return len(self._observed) == len(self.points)


class PlannedSearch:
    """Ask/tell over a plan known up front: hand out the points in order, done once all have results.

    `budget` (default: the whole plan) counts the strategy's own fresh results: a planned point
    given as prior information (e.g. the uniform soup, free in a run) is skipped, and a cache hit
    (a soup another strategy already scored) is free, so the next planned point takes its place.
    A repeated soup would be a wasted trial, so the plan holds distinct points only.
    Subclasses compute the points and call `super().__init__(name, points[, budget])`.
    """

    def __init__(self, name: str, points: Sequence[Weights], budget: int | None = None) -> None:
        self.name = name
        self._queue = PointQueue(points, name)
        self.budget = len(self._queue) if budget is None else min(budget, len(self._queue))
        self._spent = 0  # own results that count against the budget

    def suggest(self, n: int) -> list[Weights]:
        return self._queue.take(min(n, self.budget - self._spent - self._queue.n_issued))

    def observe(self, weights: Weights, result: TrialResult) -> None:
        self._queue.mark(weights)
        self._spent += 1

    def observe_cache_hit(self, weights: Weights, result: TrialResult) -> None:
        self._queue.mark(weights)

    def prior(self, weights: Weights, result: TrialResult) -> None:
        self._queue.skip(weights)

    def done(self) -> bool:
        return self._queue.finished() or self._spent >= self.budget
