"""Greedy soup (Wortsman et al. 2022, "model soups", Recipe 1) over the given models.

Ingredients are sorted by their own dev score (each model alone, i.e. the simplex vertices --
free in a run, because the expert trials are cached); starting from the best one, each next
ingredient is kept if the uniform soup of the kept set plus it scores >= the current best
(">=" as in the original recipe). At most 2K - 1 trials: K vertices, then K - 1 candidates,
one at a time (each decision needs the previous result). A step whose soup is already known
(prior information: the candidates alone and the uniform soup are free in a run) takes the known
score instead of proposing it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from soce_bo.errors import ConfigError
from soce_bo.values import TrialResult, Weights
from soce_bo.search.simplex import WeightsKey, check_budget, check_experts, uniform, vertex, weights_key


class GreedySoup:
    """Sequential ingredient selection; `budget` caps the trials (default: the full 2K - 1).

    `seed` is part of every strategy's constructor (the run passes it to all of them); the recipe
    is deterministic (ties keep the expert order), so no seed changes it. A `budget` above 2K - 1
    is refused: the recipe cannot use more trials.
    """

    def __init__(self, experts: Sequence[str], budget: int | None = None, seed: int = 0,
                 name: str = "greedy") -> None:
        self.name = name
        self.experts = check_experts(experts, name)
        check_budget(budget, name)
        most = 2 * len(self.experts) - 1
        if budget is not None and budget > most:
            raise ConfigError(f"search.{name}.budget={budget} exceeds what greedy soup can use with "
                              f"{len(self.experts)} experts (2K - 1 = {most}); use null for all of it")
        self.budget = budget or most
        self._solo: dict[str, float] = {}  # expert -> its own objective (-inf if it failed)
        self._issued: set[WeightsKey] = set()
        self._order: list[str] = []  # ingredients by solo score, set once all vertices are in
        self._next = 1  # index into _order of the ingredient being tried
        self.kept: list[str] = []
        self.best_objective = -math.inf
        self.n_observed = 0
        self._known: dict[WeightsKey, float] = {}  # prior information: soup -> objective

    def _candidate(self) -> Weights:
        """Uniform soup of the kept ingredients plus the one under test, zeros elsewhere."""
        mix = uniform([*self.kept, self._order[self._next]])
        return {e: mix.get(e, 0.0) for e in self.experts}

    def suggest(self, n: int) -> list[Weights]:
        if self.done() or n <= 0:
            return []
        if not self._order:  # phase 1: every model alone, all at once
            out = []
            for e in self.experts:
                key = weights_key(vertex(self.experts, e))
                if e not in self._solo and key not in self._issued and len(out) < min(n, self._left()):
                    self._issued.add(key)
                    out.append(vertex(self.experts, e))
            return out
        cand = self._candidate()  # phase 2: one candidate at a time
        key = weights_key(cand)
        if key in self._issued:
            return []
        self._issued.add(key)
        return [cand]

    def _left(self) -> int:
        return self.budget - self.n_observed - len(self._issued)

    def observe(self, weights: Weights, result: TrialResult) -> None:
        key = weights_key(weights)
        if not self._order:
            if not any(key == weights_key(vertex(self.experts, e)) for e in self.experts):
                raise self._mismatch(weights)
        elif key != weights_key(self._candidate()):
            raise self._mismatch(weights)
        self._record(key, _score(result))
        self._issued.discard(key)
        self.n_observed += 1
        self._settle()

    def prior(self, weights: Weights, result: TrialResult) -> None:
        """A soup known from elsewhere: a vertex fills in an expert's solo score, any other may be a later step."""
        key = weights_key(weights)
        self._known[key] = _score(result)
        if not self._order and any(key == weights_key(vertex(self.experts, e)) for e in self.experts):
            self._record(key, self._known[key])
        self._settle()

    def _record(self, key: WeightsKey, score: float) -> None:
        """One step's result: an expert's solo score (phase 1) or the keep/drop decision (phase 2)."""
        if not self._order:
            solo = next(e for e in self.experts if key == weights_key(vertex(self.experts, e)))
            self._solo[solo] = score
            if len(self._solo) == len(self.experts):
                # best first; equal scores keep the expert list order (sorted() is stable)
                self._order = sorted(self.experts, key=lambda e: -self._solo[e])
                self.kept = [self._order[0]]
                self.best_objective = self._solo[self._order[0]]
        else:
            if score >= self.best_objective and score > -math.inf:
                self.kept.append(self._order[self._next])
                self.best_objective = score
            self._next += 1

    def _settle(self) -> None:
        """Take every next phase-2 step whose soup is already known, without proposing it."""
        while self._order and not self.done():
            key = weights_key(self._candidate())
            if key in self._issued or key not in self._known:
                return
            self._record(key, self._known[key])

    def _mismatch(self, weights: Weights) -> ConfigError:
        return ConfigError(f"search.{self.name}: trial weights {weights} are not the next greedy step -- "
                           "the ledger was written with other experts or scores; use a new state directory")

    def done(self) -> bool:
        finished = bool(self._order) and self._next >= len(self._order)
        return finished or self.n_observed >= self.budget


def _score(result: TrialResult) -> float:
    return -math.inf if result.failed or math.isnan(result.objective) else result.objective
