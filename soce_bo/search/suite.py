"""The synthetic soup suite: per-item, paired observations of known soup landscapes (tests and bench).

Every problem is one setting -- K experts (2..8), dev items per category (the noise), where the
optimum lies (interior, on a face, near a vertex) and how strongly merged experts interfere --
and a problem seed. Category c (one per expert, as SoCE assumes) has a true accuracy

    p_c(w) = floor_c + height_c * exp(-|w - m_c|^2 / (2 s_c^2)) - gamma * (1 - sum_i w_i^2),

clipped to [0.01, 0.99]; `gamma` is the interference (mixing many experts costs accuracy), and
the centres m_c set the location: "interior" m_c = 0.4 e_c + 0.6 Dirichlet(3), "face" the same
within the first K - 1 experts (expert K - 1 only hurts: the optimum is on the face w_{K-1} = 0),
"vertex" m_c = 0.7 e_0 + 0.3 Dirichlet(1) (the optimum is near expert 0 alone).

Observations are per item and paired across soups, like greedy decoding on a fixed split: item
i of category c has a fixed latent difficulty u_i ~ U(0, 1) and soup w answers it correctly iff
u_i < p_c(w), flipped with probability `flip` by per-(item, soup) noise (hashed, so the same soup
always gets the same answers). Dev and test items are separate latent draws; `true_value` is
the expected macro mean (what infinitely many items would give).

Seeds: problem seeds 0..14 per setting; TUNE_SEEDS (0-4) are for choosing methods and settings,
REPORT_SEEDS (5-14) for the numbers in BENCHMARKS.md -- never tune on those.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from soce_bo.evaluate.benchmark import binomial_sem, macro_mean, macro_sem
from soce_bo.search.simplex import weights_key
from soce_bo.search.synthetic import peaked_accuracy, weight_vector
from soce_bo.values import CategoryScore, TrialResult, Weights

KS = tuple(range(2, 9))
ITEMS = (100, 200, 500)
LOCATIONS = ("interior", "face", "vertex")
INTERFERENCE = {"weak": 0.02, "strong": 0.12}
TUNE_SEEDS = tuple(range(0, 5))
REPORT_SEEDS = tuple(range(5, 15))


@dataclass(frozen=True)
class Setting:
    """One cell of the suite: K experts, dev items per category, optimum location, interference."""

    k: int
    items: int
    location: str
    interference: str

    def __post_init__(self) -> None:
        if self.k < 2 or self.items < 1 or self.location not in LOCATIONS or self.interference not in INTERFERENCE:
            raise ValueError(f"bad suite setting {self}: k >= 2, items >= 1, location in {LOCATIONS}, "
                             f"interference in {tuple(INTERFERENCE)}")
        if self.location == "face" and self.k < 3:
            raise ValueError("a face optimum needs k >= 3 (at k = 2 a face is a vertex)")

    @property
    def label(self) -> str:
        return f"K={self.k} n={self.items} {self.location} {self.interference}"


def settings(ks: Sequence[int] = KS, items: Sequence[int] = ITEMS, locations: Sequence[str] = LOCATIONS,
             interference: Sequence[str] = tuple(INTERFERENCE)) -> list[Setting]:
    """Every combination (face settings skipped at K = 2)."""
    return [Setting(k, n, loc, inter) for k, n, loc, inter in itertools.product(ks, items, locations, interference)
            if not (loc == "face" and k < 3)]


class SuiteProblem:
    """A search `Evaluator` over per-item outcomes, with known true values and a held-out test split.

    `item_categories` is the category of each dev item in split order; `score_items(w, indices)`
    the 0/1 outcomes of the requested dev items (what racing scores on a subset); `__call__(w)`
    the whole dev split as a TrialResult with `item_scores` in item order.
    """

    def __init__(self, setting: Setting, seed: int, flip: float = 0.02, test_items: int | None = None,
                 delay: float = 0.0) -> None:
        self.setting, self.seed, self.flip, self.delay = setting, int(seed), float(flip), float(delay)
        k = setting.k
        self.experts = [f"e{i}" for i in range(k)]
        self.categories = [f"c{i}" for i in range(k)]
        rng = np.random.default_rng([31_415, k, setting.items, LOCATIONS.index(setting.location),
                                     list(INTERFERENCE).index(setting.interference), self.seed])
        self.centres = self._centres(rng, k, setting.location)
        self.widths = rng.uniform(0.3, 0.6, k)
        self.floors = rng.uniform(0.1, 0.3, k)
        self.heights = rng.uniform(0.4, 0.6, k)
        self.gamma = INTERFERENCE[setting.interference]
        n_test = test_items or setting.items
        self.item_categories = [c for c in self.categories for _ in range(setting.items)]
        self.test_categories = [c for c in self.categories for _ in range(n_test)]
        self._dev_u = rng.uniform(size=len(self.item_categories))
        self._test_u = rng.uniform(size=len(self.test_categories))
        self._dev_cat = np.repeat(np.arange(k), setting.items)
        self._test_cat = np.repeat(np.arange(k), n_test)

    @staticmethod
    def _centres(rng: np.random.Generator, k: int, location: str) -> np.ndarray:
        eye = np.eye(k)
        if location == "interior":
            return np.stack([0.4 * eye[c] + 0.6 * rng.dirichlet(np.full(k, 3.0)) for c in range(k)])
        if location == "face":
            sub = np.eye(k - 1)
            rows = [0.4 * sub[c % (k - 1)] + 0.6 * rng.dirichlet(np.full(k - 1, 3.0)) for c in range(k)]
            return np.stack([np.append(r, 0.0) for r in rows])
        return np.stack([0.7 * eye[0] + 0.3 * rng.dirichlet(np.ones(k)) for _ in range(k)])

    @property
    def k(self) -> int:
        return self.setting.k

    @property
    def name(self) -> str:
        return f"{self.setting.label} seed {self.seed}"

    def vector(self, weights: Mapping[str, float] | np.ndarray) -> np.ndarray:
        return weight_vector(self.experts, weights)

    def accuracies(self, w: np.ndarray) -> np.ndarray:
        """p_c(w) before flip noise: shape (C,) for one soup, (N, C) for many."""
        w = np.atleast_2d(w)
        p = peaked_accuracy(w, self.centres, self.floors, self.heights, self.widths)
        p = p - self.gamma * (1.0 - (w**2).sum(axis=1))[:, None]
        p = np.clip(p, 0.01, 0.99)
        return p[0] if p.shape[0] == 1 else p

    def expected_accuracies(self, w: np.ndarray) -> np.ndarray:
        """Per-category accuracy in expectation, flip noise included."""
        p = self.accuracies(w)
        return p * (1 - self.flip) + (1 - p) * self.flip

    def true_value(self, weights: Mapping[str, float] | np.ndarray) -> float:
        """Expected macro mean over categories (infinitely many items)."""
        return float(self.expected_accuracies(self.vector(weights)).mean())

    def objective_sem(self, weights: Mapping[str, float] | np.ndarray) -> float:
        """Binomial SEM of one dev observation of the objective at `weights` (macro mean)."""
        p = self.expected_accuracies(self.vector(weights))
        return float(np.sqrt((p * (1 - p) / self.setting.items).sum()) / self.k)

    def optimum(self, samples: int = 100_000) -> tuple[float, Weights]:
        """Best true value by dense Dirichlet sampling plus the vertices (a lower bound) and where."""
        w = np.random.default_rng(0).dirichlet(np.ones(self.k), size=samples)
        w = np.vstack([w, np.eye(self.k), np.full((1, self.k), 1.0 / self.k)])
        values = self.expected_accuracies(w).mean(axis=1)
        best = int(values.argmax())
        return float(values[best]), dict(zip(self.experts, w[best].tolist(), strict=True))

    # ---- observations -----------------------------------------------------------------------
    def _outcomes(self, weights: Mapping[str, float], split: str) -> np.ndarray:
        """0/1 per item of the split (all items): latent threshold, then the soup's hashed flips."""
        u, cat = (self._dev_u, self._dev_cat) if split == "dev" else (self._test_u, self._test_cat)
        correct = u < self.accuracies(self.vector(weights))[cat]
        if self.flip > 0:
            digest = hashlib.sha256(repr((self.name, split, weights_key(weights))).encode()).digest()
            flips = np.random.default_rng(int.from_bytes(digest[:8], "little")).uniform(size=len(u)) < self.flip
            correct = correct ^ flips
        return correct.astype(float)

    def score_items(self, weights: Mapping[str, float], indices: Sequence[int],
                    retries: list[str] | None = None) -> list[float]:
        """0/1 outcome of each requested dev item (split order indices), paired across soups (no
        server, so nothing is ever retried)."""
        return self._outcomes(weights, "dev")[np.asarray(indices, dtype=int)].tolist()

    def _result(self, outcomes: np.ndarray, categories: Sequence[str], seconds: float) -> TrialResult:
        per_cat = {}
        cats = np.asarray(categories)
        for cat in self.categories:
            scores = outcomes[cats == cat]
            acc = float(scores.mean())
            per_cat[cat] = CategoryScore(accuracy=acc, n=len(scores), sem=binomial_sem(acc, len(scores)))
        return TrialResult(objective=macro_mean(per_cat), sem=macro_sem(per_cat), per_category=per_cat,
                           seconds=seconds, item_scores=tuple(outcomes.tolist()))

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        """The whole dev split (`item_scores` in item order)."""
        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        return self._result(self._outcomes(weights, "dev"), self.item_categories, time.perf_counter() - t0)

    def test_score(self, weights: Mapping[str, float]) -> TrialResult:
        """The held-out test split (other latent draws): how a returned soup generalises."""
        return self._result(self._outcomes(weights, "test"), self.test_categories, 0.0)


def problems(setting_list: Sequence[Setting], seeds: Sequence[int]) -> Iterator[SuiteProblem]:
    """Every (setting, seed) problem, settings outermost."""
    for setting in setting_list:
        for seed in seeds:
            yield SuiteProblem(setting, seed)
