"""The synthetic soup landscapes (soce_bo.search.synthetic) the strategy tests and the benches share."""

from __future__ import annotations

import numpy as np
import pytest

from soce_bo.search.synthetic import simplex_problem, three_category_soup


def test_problems_are_seeded_and_distinct():
    a, b, c = simplex_problem(4, 0), simplex_problem(4, 0), simplex_problem(4, 1)
    w = {"e0": 0.1, "e1": 0.2, "e2": 0.3, "e3": 0.4}
    assert a.true_value(w) == b.true_value(w)
    assert a(w).objective == b(w).objective
    assert a.true_value(w) != c.true_value(w)


def test_true_accuracies_are_probabilities_with_an_interior_or_vertex_optimum():
    fn = simplex_problem(3, 7)
    w = np.random.default_rng(0).dirichlet(np.ones(3), size=5000)
    p = fn.accuracies(w)
    assert p.shape == (5000, 3)
    assert (p > 0).all() and (p < 1).all()
    best = p.mean(axis=1).max()
    assert fn.optimum() >= best - 1e-3  # optimum() searches at least as well as these samples


def test_observations_are_binomial_around_the_truth():
    fn = simplex_problem(3, 2, n_items=50)
    soups = np.random.default_rng(1).dirichlet(np.ones(3), size=3000)
    z = []
    for w in soups:
        weights = dict(zip(fn.experts, w))
        res = fn(weights)
        for cat in res.per_category.values():  # scores are counts / n
            assert cat.n == 50 and abs(cat.accuracy * 50 - round(cat.accuracy * 50)) < 1e-9
        z.append((res.objective - fn.true_value(weights)) / fn.objective_sem(weights))
    z = np.array(z)
    assert abs(z.mean()) < 4 / np.sqrt(len(z))  # unbiased
    assert 0.9 < z.std() < 1.1  # objective_sem is the observation's standard error


def test_same_soup_same_score_like_greedy_decoding():
    fn = simplex_problem(3, 0)
    assert fn({"e0": 0.5, "e1": 0.5}) == fn({"e0": 0.5, "e1": 0.5, "e2": 0.0})


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="k >= 2"):
        simplex_problem(1, 0)


def test_three_category_soup_is_seeded_and_peaks_inside_the_simplex():
    a, b = three_category_soup(["x", "y", "z"]), three_category_soup(["x", "y", "z"])
    w = {"x": 0.2, "y": 0.3, "z": 0.5}
    assert a(w) == b(w) and a.categories == ["tool", "math", "translate"]
    assert a.regret(w) >= 0.0 and a.optimum() > max(a.true_value({e: 1.0}) for e in a.experts) - 1e-12
