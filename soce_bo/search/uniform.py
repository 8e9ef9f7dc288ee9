"""The uniform soup (Wortsman et al. 2022): the paper's two baselines in one strategy.

With all candidates it is baseline 1 ("uniform, all"); with the SoCE-selected experts it is
baseline 2 ("uniform, selection"). Give each use its own `name` so the ledger keeps both.
"""

from __future__ import annotations

from collections.abc import Sequence

from soce_bo.values import TrialResult, Weights
from soce_bo.search.points import PointQueue
from soce_bo.search.simplex import check_budget, check_experts, uniform


class UniformSoup:
    """One trial: every expert at weight 1/K. `budget` is accepted for a uniform config and must be >= 1."""

    def __init__(self, experts: Sequence[str], budget: int | None = 1, seed: int = 0, name: str = "uniform") -> None:
        self.name = name
        check_budget(budget, name)
        self._queue = PointQueue([uniform(check_experts(experts, name))], name)
        self.budget = 1

    def suggest(self, n: int) -> list[Weights]:
        return self._queue.take(n)

    def observe(self, weights: Weights, result: TrialResult) -> None:
        self._queue.mark(weights)

    def done(self) -> bool:
        return self._queue.finished()
