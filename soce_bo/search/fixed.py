"""Evaluate a given list of soups, e.g. every candidate alone (the run's "expert" trials)."""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.values import TrialResult, Weights
from soce_bo.search.points import PointQueue
from soce_bo.search.simplex import check_experts, check_on_simplex, vertex


class FixedPoints:
    """No search at all: the points are the plan. `budget` is the number of distinct points."""

    def __init__(self, points: Sequence[Weights], name: str = "fixed", experts: Sequence[str] | None = None,
                 budget: int | None = None, seed: int = 0) -> None:
        self.name = name
        names = check_experts(experts if experts is not None else sorted({k for p in points for k in p}), name)
        for p in points:
            check_on_simplex(p, names)
        self._queue = PointQueue(points, name)
        self.budget = len(self._queue)

    @classmethod
    def vertices(cls, experts: Sequence[str], name: str = "expert") -> FixedPoints:
        """Each model alone, weight 1: the individual scores the report and greedy soup need."""
        return cls([vertex(experts, e) for e in experts], name=name, experts=experts)

    def suggest(self, n: int) -> list[Weights]:
        return self._queue.take(n)

    def observe(self, weights: Weights, result: TrialResult) -> None:
        self._queue.mark(weights)

    def done(self) -> bool:
        return self._queue.finished()
