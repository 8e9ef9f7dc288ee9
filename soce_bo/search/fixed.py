"""Evaluate a given list of soups, e.g. every candidate alone (the run's "expert" trials)."""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.search.points import PlannedSearch
from soce_bo.search.simplex import check_experts, check_on_simplex, vertex
from soce_bo.values import Weights


class FixedPoints(PlannedSearch):
    """No search at all: the points are the plan. `budget` is the number of distinct points.

    Built by the driver, not from conf/search/ (there is nothing to configure), so it takes
    neither `budget` nor `seed`.
    """

    def __init__(self, points: Sequence[Weights], name: str = "fixed", experts: Sequence[str] | None = None) -> None:
        names = check_experts(experts if experts is not None else sorted({k for p in points for k in p}), name)
        for p in points:
            check_on_simplex(p, names)
        super().__init__(name, points)

    @classmethod
    def vertices(cls, experts: Sequence[str], name: str = "expert") -> FixedPoints:
        """Each model alone, weight 1: the individual scores the report and greedy soup need."""
        return cls([vertex(experts, e) for e in experts], name=name, experts=experts)
