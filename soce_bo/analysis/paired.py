"""Is soup A better than soup B? A paired test on the same items, for the report's verdict.

Both soups were scored on the same items, so their per-item outcomes are paired: the item-level
noise (an easy or a hard question) cancels, and the test is much sharper than comparing two
standard errors. The statistic is the difference of the objective the run maximises, the mean over
categories of per-category means, so every item weighs 1 / (C * n_category).

- p-value: scipy's paired permutation test (each item's two outcomes swapped at random), two-sided.
- 95 % interval: a paired bootstrap stratified by category (items resampled within their category,
  as the split was drawn per category).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class PairedComparison:
    """A minus B on the same items: difference, its 95 % interval, and the permutation p-value."""

    a: str
    b: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_comparison(a_name: str, b_name: str, a: Sequence[float], b: Sequence[float],
                      categories: Sequence[str], n_resamples: int = 9999, seed: int = 0) -> PairedComparison:
    """Compare two soups' per-item scores (same items, same order; `categories[i]` is item i's)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    cats = np.asarray(categories)
    if not (len(x) == len(y) == len(cats)) or len(x) == 0:
        raise ValueError(f"paired comparison needs equal, non-empty item lists, got {len(x)}, {len(y)}, {len(cats)}")
    names = list(dict.fromkeys(cats.tolist()))
    weight = np.empty(len(x))
    for c in names:
        mask = cats == c
        weight[mask] = 1.0 / (len(names) * mask.sum())

    def statistic(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(weight * (u - v), axis=axis)

    diff = float(statistic(x, y))
    if np.allclose(x, y):
        return PairedComparison(a_name, b_name, diff, diff, diff, 1.0, len(x))
    test = stats.permutation_test((x, y), statistic, permutation_type="samples", vectorized=True,
                                  n_resamples=n_resamples, alternative="two-sided", random_state=seed)
    rng = np.random.default_rng(seed)
    boot = np.zeros(n_resamples)
    d = x - y
    for c in names:
        dc = d[cats == c]
        idx = rng.integers(0, len(dc), size=(n_resamples, len(dc)))
        boot += dc[idx].mean(axis=1) / len(names)
    low, high = np.percentile(boot, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return PairedComparison(a_name, b_name, diff, float(low), float(high), float(test.pvalue), len(x))
