"""The paired test behind the report's verdict: it finds a real difference and none where there is none."""

import numpy as np
import pytest

from soce_bo.analysis.paired import paired_comparison


def _items(n_per_cat: int, cats=("a", "b")) -> list[str]:
    return [c for c in cats for _ in range(n_per_cat)]


def test_a_clear_improvement_is_significant_and_its_interval_excludes_zero():
    rng = np.random.default_rng(0)
    cats = _items(200)
    base = rng.random(len(cats)) < 0.6
    better = base | (rng.random(len(cats)) < 0.15)  # fixes ~15 % of the failures, breaks nothing
    c = paired_comparison("new", "old", better.astype(float), base.astype(float), cats)
    assert c.difference > 0 and c.significant and c.ci_low > 0
    expected = np.mean([better[:200].mean() - base[:200].mean(), better[200:].mean() - base[200:].mean()])
    assert c.difference == pytest.approx(expected)


def test_noise_is_not_significant():
    rng = np.random.default_rng(1)
    cats = _items(100)
    x, y = (rng.random(len(cats)) < 0.7).astype(float), (rng.random(len(cats)) < 0.7).astype(float)
    c = paired_comparison("x", "y", x, y, cats)
    assert not c.significant and c.ci_low < 0 < c.ci_high


def test_identical_soups_tie_with_p_one():
    x = [1.0, 0.0, 1.0, 0.5]
    c = paired_comparison("x", "x again", x, x, ["a", "a", "b", "b"])
    assert c.difference == 0 and c.p_value == 1.0 and not c.significant


def test_categories_weigh_equally_whatever_their_size():
    # category a: 2 items, both improved; category b: 8 items, none changed -> (1 + 0) / 2
    cats = ["a"] * 2 + ["b"] * 8
    new, old = [1.0] * 2 + [0.5] * 8, [0.0] * 2 + [0.5] * 8
    assert paired_comparison("new", "old", new, old, cats, n_resamples=99).difference == 0.5
