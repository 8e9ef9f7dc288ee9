"""CMA-ES over soup weights, as mergekit-evolve does it (via the `cma` package).

mergekit-evolve starts every model weight at 1/K with sigma0 = 1/6, and its linear merge uses
|w| normalised to sum 1; we keep exactly that map from the unconstrained search vector x to the
simplex (`mapping="abs"`), or the smooth softmax(x) as an option. Ask/tell runs by generation:
all members of a generation are handed out at once (any free worker takes one), and the next
generation is asked for only when every member has a result -- the one barrier CMA-ES needs.
The sampler draws from its own seeded generator, so a resumed run replays the same asks.

No repeats: a generation member that is a soup already known (its own earlier trial, or prior
information such as the candidates alone) is told its known score instead of being proposed.
The budget counts fresh evaluations (`run_search` enforces it; CMA-ES also stops after `budget`
trials of its own, for hand-driven ask/tell -- known soups are told, not proposed, so none of
them is spent on a repeat).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cma
import numpy as np

from soce_bo.errors import ConfigError
from soce_bo.values import TrialResult, Weights
from soce_bo.search.simplex import check_budget, check_experts, to_simplex, weights_key


def abs_normalised(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return a / a.sum() if a.sum() > 1e-12 else np.full(len(x), 1.0 / len(x))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


MAPPINGS = {"abs": abs_normalised, "softmax": softmax}


class CMAES:
    """CMA-ES with `budget` fresh evaluations (run_search counts); a last, partial generation is not told."""

    # Racing off for CMA-ES: it ranks every soup of a generation, mostly below the incumbent while
    # it climbs, and racing's subset estimates scramble that ranking (bench/racing.py measured it
    # stalling at the incumbent in some problems); grid, random, greedy and BO lose nothing.
    accepts_raced_results = False

    def __init__(self, experts: Sequence[str], budget: int = 20, seed: int = 0, name: str = "cmaes",
                 sigma0: float = 1 / 6, popsize: int | None = None, mapping: str = "abs") -> None:
        self.name = name
        self.experts = check_experts(experts, name)
        check_budget(budget, name)
        if mapping not in MAPPINGS:
            raise ConfigError(f"search.{name}.mapping must be one of {sorted(MAPPINGS)}, got {mapping!r}")
        if not sigma0 > 0:
            raise ConfigError(f"search.{name}.sigma0 must be > 0, got {sigma0}")
        self.budget = budget
        self._map = MAPPINGS[mapping]
        k = len(self.experts)
        x0 = np.full(k, 1.0 / k) if mapping == "abs" else np.zeros(k)  # both map to the uniform soup
        rng = np.random.default_rng(seed)
        opts = {"seed": math.nan, "randn": lambda *shape: rng.standard_normal(shape), "verbose": -9}
        if popsize is not None:
            if popsize < 2:
                raise ConfigError(f"search.{name}.popsize must be >= 2, got {popsize}")
            opts["popsize"] = popsize
        self._es = cma.CMAEvolutionStrategy(x0, sigma0, opts) if k > 1 else None
        self.generation = 0
        self.n_observed = 0
        self._known: dict = {}  # weights_key -> cost (-objective, NaN = failed) of every soup seen
        self._new_generation()

    def _new_generation(self) -> None:
        if self._es is None:  # a single expert: the only soup is the expert itself
            xs = [np.ones(1)]
        else:
            xs = self._es.ask()
        self._xs = [np.asarray(x, dtype=float) for x in xs]
        self._weights = [to_simplex(self.experts, self._map(x)) for x in self._xs]
        self._keys = [weights_key(w) for w in self._weights]
        self._costs: list[float | None] = [None] * len(self._xs)
        self._issued = [False] * len(self._xs)

    def _fill_known(self) -> None:
        """Members that are known soups get their known cost (never proposed); a fully known generation is told."""
        for _ in range(1000):  # each pass tells a whole generation; CMA-ES keeps moving, so this ends
            for i, key in enumerate(self._keys):
                if self._costs[i] is None and not self._issued[i] and key in self._known:
                    self._costs[i] = self._known[key]
            if not all(c is not None for c in self._costs) or self._es is None:
                return
            self._tell()

    def suggest(self, n: int) -> list[Weights]:
        if self.done():
            return []
        self._fill_known()
        pending = sum(i and c is None for i, c in zip(self._issued, self._costs, strict=True))
        room = min(n, self.budget - self.n_observed - pending)
        out = []
        batch = set()
        for i, w in enumerate(self._weights):
            if len(out) >= room:
                break
            if not self._issued[i] and self._costs[i] is None and self._keys[i] not in batch:
                self._issued[i] = True
                batch.add(self._keys[i])
                out.append(dict(w))
        return out

    def prior(self, weights: Weights, result: TrialResult) -> None:
        self._known[weights_key(weights)] = self._cost(result)
        self._fill_known()

    @staticmethod
    def _cost(result: TrialResult) -> float:
        ok = not result.failed and math.isfinite(result.objective)
        return -result.objective if ok else math.nan  # cma minimises

    def observe(self, weights: Weights, result: TrialResult) -> None:
        key = weights_key(weights)
        open_slots = [i for i, k in enumerate(self._keys) if k == key and self._costs[i] is None]
        slot = next((i for i in open_slots if self._issued[i]), open_slots[0] if open_slots else None)
        if slot is None:
            raise ConfigError(f"search.{self.name}: trial weights {weights} are not in CMA-ES generation "
                              f"{self.generation} -- the ledger was written with other settings (seed, "
                              "experts, popsize); use a new state directory")
        self._costs[slot] = self._known[key] = self._cost(result)
        for i, k in enumerate(self._keys):  # a twin member in the same generation (same soup)
            if k == key and self._costs[i] is None and not self._issued[i]:
                self._costs[i] = self._costs[slot]
        self.n_observed += 1
        if all(c is not None for c in self._costs) and self._es is not None:
            self._tell()
        self._fill_known()

    def _tell(self) -> None:
        finite = [c for c in self._costs if not math.isnan(c)]
        worst = max(finite) + 1.0 if finite else 0.0  # failed members rank last
        if self._es is not None:
            self._es.tell(self._xs, [worst if math.isnan(c) else c for c in self._costs])
        self.generation += 1
        self._new_generation()

    def done(self) -> bool:
        """`budget` own trials observed; a single expert has only one soup (done once it is known)."""
        return self.n_observed >= self.budget or (self._es is None and (self.n_observed >= 1 or bool(self._known)))
