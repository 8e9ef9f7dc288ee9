"""Random search: Dirichlet(alpha) samples on the simplex (alpha = 1: uniform over the simplex).

All `budget` points are drawn up front from `seed`, so a resumed run continues the very same
sequence and every trial is independent (no waiting: any free worker takes the next point).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soce_bo.errors import ConfigError
from soce_bo.search.points import PlannedSearch
from soce_bo.search.simplex import check_budget, check_experts


class RandomSearch(PlannedSearch):
    """`budget` seeded Dirichlet draws over the experts."""

    def __init__(self, experts: Sequence[str], budget: int = 20, seed: int = 0, name: str = "random",
                 alpha: float = 1.0) -> None:
        names = check_experts(experts, name)
        check_budget(budget, name)
        if not alpha > 0:
            raise ConfigError(f"search.{name}.alpha must be > 0, got {alpha}")
        draws = np.random.default_rng(seed).dirichlet(np.full(len(names), float(alpha)), size=budget)
        points = [{e: float(v) for e, v in zip(names, row / row.sum(), strict=True)} for row in draws]
        super().__init__(name, points)
