"""CMA-ES over soup weights, as mergekit-evolve does it (via the `cma` package).

mergekit-evolve starts every model weight at 1/K with sigma0 = 1/6, and its linear merge uses
|w| normalised to sum 1; we keep exactly that map from the unconstrained search vector x to the
simplex (`mapping="abs"`), or the smooth softmax(x) as an option. Ask/tell runs by generation:
all members of a generation are handed out at once (any free worker takes one), and the next
generation is asked for only when every member has a result -- the one barrier CMA-ES needs.
The sampler draws from its own seeded generator, so a resumed run replays the same asks.
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
    """CMA-ES with `budget` evaluations; a last, partial generation is evaluated but not told."""

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

    def suggest(self, n: int) -> list[Weights]:
        pending = sum(i and c is None for i, c in zip(self._issued, self._costs, strict=True))
        room = min(n, self.budget - self.n_observed - pending)
        out = []
        for i, w in enumerate(self._weights):
            if len(out) >= room:
                break
            if not self._issued[i] and self._costs[i] is None:
                self._issued[i] = True
                out.append(dict(w))
        return out

    def observe(self, weights: Weights, result: TrialResult) -> None:
        key = weights_key(weights)
        slot = next((i for i, k in enumerate(self._keys) if k == key and self._costs[i] is None), None)
        if slot is None:
            raise ConfigError(f"search.{self.name}: trial weights {weights} are not in CMA-ES generation "
                              f"{self.generation} -- the ledger was written with other settings (seed, "
                              "experts, popsize); use a new state directory")
        ok = not result.failed and math.isfinite(result.objective)
        self._costs[slot] = -result.objective if ok else math.nan  # cma minimises
        self.n_observed += 1
        if all(c is not None for c in self._costs) and not self.done():
            self._tell()

    def _tell(self) -> None:
        finite = [c for c in self._costs if not math.isnan(c)]
        worst = max(finite) + 1.0 if finite else 0.0  # failed members rank last
        if self._es is not None:
            self._es.tell(self._xs, [worst if math.isnan(c) else c for c in self._costs])
        self.generation += 1
        self._new_generation()

    def done(self) -> bool:
        return self.n_observed >= self.budget or (self._es is None and self.n_observed >= 1)
