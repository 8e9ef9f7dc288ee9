"""The paper's weight grid: every w with w_i in {lo, lo+step, ..., hi} and sum 1, plus uniform.

With the defaults (step 0.1, each weight 0.1-0.9) that is C(9, K-1) points + the uniform soup:
37 soups for 3 experts, 85 for 4. No expert can be dropped (each keeps >= lo), as in SoCE.
Order: shuffled with `seed` (default), so a budget below the grid size evaluates a uniform
random sample of it rather than one corner; `order="lexicographic"` gives the plain listing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from soce_bo.errors import ConfigError
from soce_bo.search.points import PlannedSearch, PointQueue
from soce_bo.search.simplex import check_budget, check_experts, uniform
from soce_bo.values import Weights


def grid_points(experts: Sequence[str], step: float = 0.1, lo: float = 0.1, hi: float = 0.9,
                include_uniform: bool = True) -> list[Weights]:
    """All grid soups in lexicographic order (first expert's weight ascending), uniform last.

    Works in integer units of `step` so that 0.1 + 0.2 + 0.7 sums to exactly 10 units.
    """
    units = round(1.0 / step)
    lo_u, hi_u = round(lo / step), round(hi / step)
    if units < 1 or not math.isclose(units * step, 1.0, abs_tol=1e-9):
        raise ConfigError(f"search.grid.step must divide 1 (e.g. 0.1, 0.05), got {step}")
    for label, value, u in (("lo", lo, lo_u), ("hi", hi, hi_u)):
        if not math.isclose(u * step, value, abs_tol=1e-9):
            raise ConfigError(f"search.grid.{label}={value} is not a multiple of step={step}")
    k = len(experts)
    if not 0 <= lo_u <= hi_u or k * lo_u > units or k * hi_u < units:
        raise ConfigError(f"search.grid: no weights in [{lo}, {hi}] for {k} experts sum to 1")

    def compositions(parts: int, total: int) -> Iterator[tuple[int, ...]]:
        if parts == 1:
            if lo_u <= total <= hi_u:
                yield (total,)
            return
        for first in range(lo_u, min(hi_u, total) + 1):
            for rest in compositions(parts - 1, total - first):
                yield (first, *rest)

    points = [{e: u / units for e, u in zip(experts, comp, strict=True)} for comp in compositions(k, units)]
    if include_uniform:
        points.append(uniform(experts))  # PointQueue drops it when it is already on the grid
    return points


class GridSearch(PlannedSearch):
    """Evaluate the grid (or the first `budget` points of its seeded shuffle; `seed` orders the shuffle)."""

    def __init__(self, experts: Sequence[str], budget: int | None = None, seed: int = 0, name: str = "grid",
                 step: float = 0.1, lo: float = 0.1, hi: float = 0.9, include_uniform: bool = True,
                 order: str = "shuffled") -> None:
        names = check_experts(experts, name)
        check_budget(budget, name)
        points = grid_points(names, step, lo, hi, include_uniform)
        if order == "shuffled":
            points = [points[i] for i in np.random.default_rng(seed).permutation(len(points))]
        elif order != "lexicographic":
            raise ConfigError(f"search.{name}.order must be 'shuffled' or 'lexicographic', got {order!r}")
        distinct = PointQueue(points, name).points  # uniform drops out when it is on the grid
        self.grid_size = len(distinct)
        # The whole shuffle is the plan and `budget` caps the fresh evaluations (run_search enforces it):
        # a planned soup that is free information (e.g. the experts' uniform soup) is skipped, and the
        # next grid point takes its place, so a budgeted grid spends its whole budget.
        super().__init__(name, distinct, budget)
