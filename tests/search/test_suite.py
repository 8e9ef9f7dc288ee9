"""The synthetic suite: settings, paired per-item observations, held-out test items, optimum locations."""

from __future__ import annotations

import numpy as np
import pytest

from soce_bo.search.suite import (INTERFERENCE, KS, LOCATIONS, REPORT_SEEDS, TUNE_SEEDS, Setting, SuiteProblem,
                                  settings)


def test_the_suite_spans_k_noise_location_interference_with_disjoint_tune_and_report_seeds():
    cells = settings()
    assert {s.k for s in cells} == set(range(2, 9)) == set(KS)
    assert {s.items for s in cells} == {100, 200, 500}
    assert {s.location for s in cells} == set(LOCATIONS) and {s.interference for s in cells} == set(INTERFERENCE)
    assert not any(s.location == "face" and s.k == 2 for s in cells)
    assert not set(TUNE_SEEDS) & set(REPORT_SEEDS) and len(REPORT_SEEDS) >= 10
    with pytest.raises(ValueError, match="face"):
        Setting(2, 100, "face", "weak")


def test_items_are_paired_across_soups_and_the_full_split_matches_score_items():
    p = SuiteProblem(Setting(4, 200, "interior", "weak"), seed=0)
    w = {"e0": 0.4, "e1": 0.3, "e2": 0.2, "e3": 0.1}
    result = p(w)
    assert len(result.item_scores) == len(p.item_categories) == 800
    idx = [0, 5, 250, 799]
    assert p.score_items(w, idx) == [result.item_scores[i] for i in idx]
    assert p(w).item_scores == result.item_scores  # the same soup always gets the same answers
    cats = np.array(p.item_categories)
    for c in p.categories:
        assert result.per_category[c].accuracy == pytest.approx(np.mean(np.array(result.item_scores)[cats == c]))
    # paired: a slightly better soup mostly answers the same items; differences come from the margin + flips
    other = p({"e0": 0.41, "e1": 0.29, "e2": 0.2, "e3": 0.1})
    agreement = np.mean(np.array(other.item_scores) == np.array(result.item_scores))
    assert agreement > 0.93
    assert p.test_score(w).item_scores != result.item_scores  # other latent draws


def test_the_dev_split_is_an_unbiased_draw_around_the_true_value():
    """Within a problem the errors of soups are correlated (one fixed split, as a real benchmark);
    across problem seeds (new latent draws) one soup's error is centred on 0 with SD ~ its SEM."""
    w = {"e0": 0.5, "e1": 0.3, "e2": 0.2}
    z = []
    for seed in range(40):
        p = SuiteProblem(Setting(3, 500, "vertex", "strong"), seed=seed)
        z.append((p(w).objective - p.true_value(w)) / p.objective_sem(w))
    assert abs(np.mean(z)) < 0.5 and 0.6 < np.std(z) < 1.5


@pytest.mark.parametrize("location", LOCATIONS)
def test_the_optimum_lies_where_the_setting_says(location):
    for seed in TUNE_SEEDS[:3]:
        p = SuiteProblem(Setting(5, 200, location, "weak"), seed)
        _, w = p.optimum(samples=20_000)
        v = np.array(list(w.values()))
        if location == "vertex":
            assert v[0] > 0.5
        elif location == "face":
            assert v[-1] < 0.05
        else:
            assert v.min() > 0.02 and v.max() < 0.8
