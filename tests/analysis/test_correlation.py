"""Correlation, the tau test and clustering on tables whose correlations are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from soce_bo.analysis import ScoreTable, category_correlation, cluster_categories, low_correlation_set
from soce_bo.errors import BenchmarkError, ConfigError


def test_correlation_matches_construction(case):
    rho = category_correlation(case.table)
    np.testing.assert_allclose(rho, case.target, atol=1e-10)


def test_tau_test_keeps_categories_with_some_low_partner(case):
    rho = category_correlation(case.table)
    # p-s = 0.40 is the only pair under 0.5; q's lowest is 0.55, r's 0.65.
    assert low_correlation_set(rho, case.cats, 0.5) == ("p", "s")
    assert low_correlation_set(rho, case.cats, 0.6) == ("p", "q", "s")
    assert low_correlation_set(rho, case.cats, 0.35) == ()
    with pytest.raises(ConfigError, match="tau"):
        low_correlation_set(rho, case.cats, 1.5)


def test_negative_correlation_counts_by_absolute_value(case):
    target = np.array([[1.0, -0.95, 0.1], [-0.95, 1.0, -0.1], [0.1, -0.1, 1.0]])
    rho = category_correlation(case.make(target))
    assert low_correlation_set(rho, case.cats[:3], 0.5) == ("p", "q", "r")
    assert low_correlation_set(rho, case.cats[:3], 0.05) == ()


def test_clusters_by_count_and_by_threshold(case):
    rho = category_correlation(case.table)
    assert cluster_categories(rho, case.cats, n_clusters=2) == (("p", "q", "r"), ("s",))
    assert cluster_categories(rho, case.cats, distance_threshold=0.2) == (("p", "q", "r"), ("s",))
    # p-q merge at 0.10, r joins at (0.15 + 0.12) / 2 = 0.135 under average linkage
    assert cluster_categories(rho, case.cats, distance_threshold=0.11) == (("p", "q"), ("r",), ("s",))
    assert cluster_categories(rho, case.cats, n_clusters=4) == (("p",), ("q",), ("r",), ("s",))
    # single linkage joins s via its closest member (r, distance 0.35); complete via p (0.60)
    assert cluster_categories(rho, case.cats, "single", distance_threshold=0.36) == (("p", "q", "r", "s"),)
    assert cluster_categories(rho, case.cats, "complete", distance_threshold=0.36) == (("p", "q", "r"), ("s",))


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one"),
    ({"n_clusters": 2, "distance_threshold": 0.1}, "exactly one"),
    ({"n_clusters": 9}, "n_clusters"),
    ({"n_clusters": 2, "linkage": "ward"}, "linkage"),
    ({"distance_threshold": 3.0}, "distance_threshold"),
])
def test_cluster_config_errors(case, kwargs, match):
    rho = category_correlation(case.table)
    with pytest.raises(ConfigError, match=match):
        cluster_categories(rho, case.cats, **kwargs)


def test_undefined_correlations_name_the_culprit():
    two = ScoreTable(("a", "b"), ("x", "y"), [[0.1, 0.2], [0.3, 0.5]], source="two.csv")
    with pytest.raises(BenchmarkError, match=r"two.csv.*at least 3 models"):
        category_correlation(two)
    flat = ScoreTable(("a", "b", "c"), ("x", "y"), [[0.1, 0.5], [0.3, 0.5], [0.2, 0.5]], source="f.json")
    with pytest.raises(BenchmarkError, match=r"f.json.*same score on category 'y'"):
        category_correlation(flat)
