"""A known soup landscape with binomial noise, standing in for the vLLM evaluator in tests.

Each category's accuracy is a smooth bump over the simplex; the objective is the macro mean,
maximal at `OPTIMUM`. Scores are drawn Binomial(n, p) from a generator seeded by the soup
itself, so the same soup always gets the same score (like greedy decoding on a fixed set).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

import numpy as np

from soce_bo.evaluate.benchmark import CategoryScore, binomial_sem, macro_mean, macro_sem
from soce_bo.search.base import TrialResult
from soce_bo.search.simplex import weights_key


class SyntheticSoup:
    """True per-category accuracy p_c(w) = floor + height * exp(-|w - centre_c|^2 / (2 width^2))."""

    def __init__(self, experts: Sequence[str], n_items: int = 200, noise_seed: int = 0,
                 delay: float = 0.0, width: float = 0.25, landscape_seed: int = 0) -> None:
        self.experts = list(experts)
        k = len(self.experts)
        rng = np.random.default_rng([landscape_seed, k])
        self.centres = rng.dirichlet(np.full(k, 2.0), size=3)  # three categories
        self.categories = ["tool", "math", "translate"]
        self.n_items, self.noise_seed, self.delay, self.width = n_items, noise_seed, delay, width
        self.calls: list[tuple[str, dict[str, float]]] = []  # (thread name, weights)
        self._lock = threading.Lock()

    def accuracy(self, w: np.ndarray) -> np.ndarray:
        d2 = ((self.centres - w) ** 2).sum(axis=1)
        return 0.2 + 0.6 * np.exp(-d2 / (2 * self.width**2))

    def true_objective(self, weights: dict[str, float]) -> float:
        return float(self.accuracy(self._vector(weights)).mean())

    def _vector(self, weights: dict[str, float]) -> np.ndarray:
        return np.array([weights.get(e, 0.0) for e in self.experts])

    def optimum(self, samples: int = 200_000) -> float:
        w = np.random.default_rng(0).dirichlet(np.ones(len(self.experts)), size=samples)
        d2 = ((w[:, None, :] - self.centres[None]) ** 2).sum(axis=2)
        return float((0.2 + 0.6 * np.exp(-d2 / (2 * self.width**2))).mean(axis=1).max())

    def __call__(self, weights: dict[str, float]) -> TrialResult:
        with self._lock:
            self.calls.append((threading.current_thread().name, dict(weights)))
        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        digest = hashlib.sha256(repr((self.noise_seed, weights_key(weights))).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        per_cat = {}
        for cat, p in zip(self.categories, self.accuracy(self._vector(weights)), strict=True):
            acc = rng.binomial(self.n_items, p) / self.n_items
            per_cat[cat] = CategoryScore(accuracy=acc, n=self.n_items, sem=binomial_sem(acc, self.n_items))
        return TrialResult(objective=macro_mean(per_cat), sem=macro_sem(per_cat), per_category=per_cat,
                           seconds=time.perf_counter() - t0)


def regret(fn: SyntheticSoup, weights: dict[str, float], optimum: float) -> float:
    return optimum - fn.true_objective(weights)


