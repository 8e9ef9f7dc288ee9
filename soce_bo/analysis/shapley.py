"""Shapley values of the candidates in the soup game (the paper's post-hoc analysis, §4.2.3).

Players are the candidates; the value of a coalition S is the select-split (dev) score of the
uniform soup of S, and v(empty) = 0. A candidate's Shapley value is its average marginal
contribution over all orders in which the soup could be assembled, so the values add up to the
score of the uniform soup of all candidates. Post-hoc only: they never feed selection or weights.

- Up to `EXACT_MAX` candidates: exact, from all 2^n - 1 coalitions.
- Above: Monte-Carlo over seeded random orders; each value comes with the standard error of its
  mean marginal contribution across the sampled orders.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

EXACT_MAX = 6

Coalition = frozenset[str]


@dataclass(frozen=True)
class ShapleyPlan:
    """Which coalitions to score, and how the values are then computed from their scores."""

    players: tuple[str, ...]
    orders: tuple[tuple[str, ...], ...] | None  # None = exact over every coalition

    @property
    def exact(self) -> bool:
        return self.orders is None

    def coalitions(self) -> list[Coalition]:
        if self.orders is None:
            return [frozenset(c) for k in range(1, len(self.players) + 1)
                    for c in itertools.combinations(self.players, k)]
        seen: dict[Coalition, None] = {}
        for order in self.orders:
            for k in range(1, len(order) + 1):
                seen.setdefault(frozenset(order[:k]), None)
        return list(seen)


def plan_shapley(players: Sequence[str], permutations: int = 64, seed: int = 0) -> ShapleyPlan:
    """Exact for <= EXACT_MAX players, else `permutations` seeded random orders."""
    names = tuple(players)
    if len(names) < 2:
        raise ValueError(f"Shapley values need at least 2 players, got {list(names)}")
    if len(names) <= EXACT_MAX:
        return ShapleyPlan(names, None)
    rng = np.random.default_rng(seed)
    return ShapleyPlan(names, tuple(tuple(names[i] for i in rng.permutation(len(names))) for _ in range(permutations)))


def shapley_values(plan: ShapleyPlan, value: Mapping[Coalition, float] | Callable[[Coalition], float]
                   ) -> tuple[dict[str, float], dict[str, float] | None]:
    """(value per player, standard error per player or None when exact)."""
    v = value if callable(value) else value.__getitem__

    def worth(c: Coalition) -> float:
        return 0.0 if not c else float(v(c))

    n = len(plan.players)
    if plan.orders is None:
        out = {}
        for p in plan.players:
            others = [q for q in plan.players if q != p]
            total = 0.0
            for k in range(n):
                w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                total += w * sum(worth(frozenset(s) | {p}) - worth(frozenset(s)) for s in itertools.combinations(others, k))
            out[p] = total
        return out, None
    marginal: dict[str, list[float]] = {p: [] for p in plan.players}
    for order in plan.orders:
        for k, p in enumerate(order):
            marginal[p].append(worth(frozenset(order[: k + 1])) - worth(frozenset(order[:k])))
    means = {p: float(np.mean(m)) for p, m in marginal.items()}
    sems = {p: float(np.std(m, ddof=1) / math.sqrt(len(m))) for p, m in marginal.items()}
    return means, sems
