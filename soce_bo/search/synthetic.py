"""Known soup landscapes on the simplex, observed with binomial noise: the stand-in evaluator.

Tests of the strategies and the scheduler, and the search and BO-overhead benches, need an
objective whose true value is known everywhere and that behaves like a real dev split. Each
category c has a peaked, locally concave accuracy over the soup weights w,

    p_c(w) = floor_c + height_c * exp(-|w - m_c|^2 / (2 s_c^2)),

and the objective is the macro mean over categories. An observation draws each category's score
as Binomial(n_items, p_c) / n_items from a generator seeded by (`noise_key`, soup): the same soup
always gets the same score, as greedy decoding on a fixed dev split does.

Two families: `simplex_problem(k, seed)` (the bench's: one category per expert, centres leaning
towards "their" expert, random floors/heights/widths) and `three_category_soup(experts)` (the
tests': three categories with equal floor, height and width).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence

import numpy as np

from soce_bo.evaluate.benchmark import binomial_sem, macro_mean, macro_sem
from soce_bo.search.simplex import weights_key
from soce_bo.values import CategoryScore, TrialResult


def weight_vector(experts: Sequence[str], weights: Mapping[str, float] | np.ndarray) -> np.ndarray:
    """Weights by expert name (or already a vector) as a vector in `experts` order."""
    if isinstance(weights, Mapping):
        return np.array([float(weights.get(e, 0.0)) for e in experts])
    return np.asarray(weights, dtype=float)


def peaked_accuracy(w: np.ndarray, centres: np.ndarray, floors: np.ndarray, heights: np.ndarray,
                    widths: np.ndarray) -> np.ndarray:
    """floor_c + height_c exp(-|w - m_c|^2 / (2 s_c^2)) for soups w (N, K): shape (N, C)."""
    d2 = ((w[:, None, :] - centres[None]) ** 2).sum(axis=2)
    return floors + heights * np.exp(-d2 / (2 * widths**2))


class SoupLandscape:
    """A search `Evaluator` (weights by expert name -> TrialResult) with known true values.

    Args:
        experts: expert names; weight vector position i belongs to experts[i].
        categories: category names, one per row of `centres`.
        centres: (C, K) peak of each category on the simplex.
        floors, heights, widths: (C,) accuracy floor, peak height above it, peak width.
        n_items: items per category in one observation (binomial noise).
        noise_key: seeds the observation noise together with the soup.
        delay: seconds each call sleeps (a slow server, for scheduler tests).
    """

    def __init__(self, experts: Sequence[str], categories: Sequence[str], centres: np.ndarray, floors: np.ndarray,
                 heights: np.ndarray, widths: np.ndarray, n_items: int, noise_key: tuple, delay: float = 0.0) -> None:
        if len(experts) < 2 or n_items < 1:
            raise ValueError(f"need k >= 2 experts and n_items >= 1, got k={len(experts)}, n_items={n_items}")
        self.experts, self.categories = list(experts), list(categories)
        self.centres, self.floors, self.heights, self.widths = centres, floors, heights, widths
        self.n_items, self.noise_key, self.delay = n_items, tuple(noise_key), delay

    @property
    def k(self) -> int:
        return len(self.experts)

    def vector(self, weights: Mapping[str, float] | np.ndarray) -> np.ndarray:
        return weight_vector(self.experts, weights)

    def accuracies(self, w: np.ndarray) -> np.ndarray:
        """True per-category accuracy at one soup (shape (C,)) or many (shape (N, C))."""
        p = peaked_accuracy(np.atleast_2d(w), self.centres, self.floors, self.heights, self.widths)
        return p[0] if p.shape[0] == 1 else p

    def true_value(self, weights: Mapping[str, float] | np.ndarray) -> float:
        return float(self.accuracies(self.vector(weights)).mean())

    def objective_sem(self, weights: Mapping[str, float] | np.ndarray) -> float:
        """Standard error of one observation of the objective at `weights` (binomial, macro mean)."""
        p = self.accuracies(self.vector(weights))
        return float(np.sqrt((p * (1 - p) / self.n_items).sum()) / len(self.categories))

    def optimum(self, samples: int = 200_000) -> float:
        """Best true value found by dense Dirichlet sampling plus the vertices (a lower bound)."""
        w = np.random.default_rng(0).dirichlet(np.ones(self.k), size=samples)
        w = np.vstack([w, np.eye(self.k)])
        return float(self.accuracies(w).mean(axis=1).max())

    def regret(self, weights: Mapping[str, float], optimum: float | None = None) -> float:
        """How far the soup's true value is below the (sampled) optimum."""
        return (self.optimum() if optimum is None else optimum) - self.true_value(weights)

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        digest = hashlib.sha256(repr((*self.noise_key, weights_key(weights))).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        per_cat = {}
        for cat, p in zip(self.categories, self.accuracies(self.vector(weights)), strict=True):
            acc = rng.binomial(self.n_items, p) / self.n_items
            per_cat[cat] = CategoryScore(accuracy=acc, n=self.n_items, sem=binomial_sem(acc, self.n_items))
        return TrialResult(objective=macro_mean(per_cat), sem=macro_sem(per_cat), per_category=per_cat,
                           seconds=time.perf_counter() - t0 if self.delay else 0.0)


def simplex_problem(k: int, seed: int, n_items: int = 100) -> SoupLandscape:
    """Problem `seed` of size `k` (the search bench's family), experts e0.., categories c0...

    Centre m_c ~ Dirichlet(alpha = 1, with 3 on expert c) leans towards "its" expert but usually
    lies inside the simplex -- the SoCE picture: each expert is best at its category, and a soup
    trades the categories off. floor ~ U(0.05, 0.3), height ~ U(0.3, 0.6), s ~ U(0.25, 0.6).
    """
    if k < 2:
        raise ValueError(f"need k >= 2 experts and n_items >= 1, got k={k}, n_items={n_items}")
    rng = np.random.default_rng([20_511_132, k, seed])
    alphas = np.ones((k, k)) + 2.0 * np.eye(k)
    centres = np.stack([rng.dirichlet(a) for a in alphas])
    widths, floors, heights = rng.uniform(0.25, 0.6, k), rng.uniform(0.05, 0.3, k), rng.uniform(0.3, 0.6, k)
    return SoupLandscape([f"e{i}" for i in range(k)], [f"c{i}" for i in range(k)], centres, floors, heights,
                         widths, n_items, noise_key=(k, seed))


def three_category_soup(experts: Sequence[str], n_items: int = 200, noise_seed: int = 0, delay: float = 0.0,
                        width: float = 0.25, landscape_seed: int = 0) -> SoupLandscape:
    """The tests' landscape: categories tool, math, translate; p_c = 0.2 + 0.6 exp(-d^2 / (2 width^2))."""
    k = len(experts)
    centres = np.random.default_rng([landscape_seed, k]).dirichlet(np.full(k, 2.0), size=3)
    return SoupLandscape(experts, ["tool", "math", "translate"], centres, np.full(3, 0.2), np.full(3, 0.6),
                         np.full(3, float(width)), n_items, noise_key=(noise_seed,), delay=delay)
