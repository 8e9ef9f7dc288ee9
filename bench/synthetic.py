"""A seeded family of synthetic soup objectives on the simplex, observed with binomial noise.

Each problem has K experts and one category per expert. Category c's true accuracy is a peaked,
locally concave bump over the soup weights w,

    p_c(w) = floor_c + height_c * exp(-|w - m_c|^2 / (2 s_c^2)),

whose centre m_c ~ Dirichlet(alpha = 1, with 3 on expert c) leans towards "its" expert but
usually lies inside the simplex -- the SoCE picture: each expert is best at its category, and a
soup trades the categories off. floor ~ U(0.05, 0.3), height ~ U(0.3, 0.6), s ~ U(0.25, 0.6).
The objective is the macro mean over categories. An observation draws each category's score
as Binomial(n_items, p_c) / n_items from a generator seeded by (problem, soup): the same soup
always gets the same score, as greedy decoding on a fixed dev split does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from soce_bo.evaluate.benchmark import CategoryScore, binomial_sem, macro_mean, macro_sem
from soce_bo.search.base import TrialResult
from soce_bo.search.simplex import weights_key


@dataclass(frozen=True)
class SimplexObjective:
    """Problem `seed` of size `k`; callable as a search evaluator (weights by expert name)."""

    k: int
    seed: int
    n_items: int = 100
    centres: np.ndarray = field(init=False, repr=False)
    widths: np.ndarray = field(init=False, repr=False)
    floors: np.ndarray = field(init=False, repr=False)
    heights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 2 or self.n_items < 1:
            raise ValueError(f"need k >= 2 experts and n_items >= 1, got k={self.k}, n_items={self.n_items}")
        rng = np.random.default_rng([20_511_132, self.k, self.seed])
        alphas = np.ones((self.k, self.k)) + 2.0 * np.eye(self.k)
        object.__setattr__(self, "centres", np.stack([rng.dirichlet(a) for a in alphas]))
        object.__setattr__(self, "widths", rng.uniform(0.25, 0.6, self.k))
        object.__setattr__(self, "floors", rng.uniform(0.05, 0.3, self.k))
        object.__setattr__(self, "heights", rng.uniform(0.3, 0.6, self.k))

    @property
    def experts(self) -> list[str]:
        return [f"e{i}" for i in range(self.k)]

    @property
    def categories(self) -> list[str]:
        return [f"c{i}" for i in range(self.k)]

    def vector(self, weights: Mapping[str, float] | np.ndarray) -> np.ndarray:
        if isinstance(weights, Mapping):
            return np.array([float(weights.get(e, 0.0)) for e in self.experts])
        return np.asarray(weights, dtype=float)

    def accuracies(self, w: np.ndarray) -> np.ndarray:
        """True per-category accuracy at one soup (shape (C,)) or many (shape (N, C))."""
        w = np.atleast_2d(w)
        d2 = ((w[:, None, :] - self.centres[None]) ** 2).sum(axis=2)
        p = self.floors + self.heights * np.exp(-d2 / (2 * self.widths**2))
        return p[0] if p.shape[0] == 1 else p

    def true_value(self, weights: Mapping[str, float] | np.ndarray) -> float:
        return float(self.accuracies(self.vector(weights)).mean())

    def objective_sem(self, weights: Mapping[str, float] | np.ndarray) -> float:
        """Standard error of one observation of the objective at `weights` (binomial, macro mean)."""
        p = self.accuracies(self.vector(weights))
        return float(np.sqrt((p * (1 - p) / self.n_items).sum()) / self.k)

    def optimum(self, samples: int = 200_000) -> float:
        """Best true value found by dense Dirichlet sampling plus the vertices (a lower bound)."""
        w = np.random.default_rng(0).dirichlet(np.ones(self.k), size=samples)
        w = np.vstack([w, np.eye(self.k)])
        return float(self.accuracies(w).mean(axis=1).max())

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        digest = hashlib.sha256(repr((self.k, self.seed, weights_key(weights))).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        per_cat = {}
        for cat, p in zip(self.categories, self.accuracies(self.vector(weights)), strict=True):
            acc = rng.binomial(self.n_items, p) / self.n_items
            per_cat[cat] = CategoryScore(accuracy=acc, n=self.n_items, sem=binomial_sem(acc, self.n_items))
        return TrialResult(objective=macro_mean(per_cat), sem=macro_sem(per_cat), per_category=per_cat)
