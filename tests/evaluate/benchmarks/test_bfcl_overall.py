"""BFCL v3 / v4 overall formulas against hand computation (notes §5), and against bfcl's helpers."""

from __future__ import annotations

import pytest

from soce_bo.evaluate.benchmark import CategoryScore
from soce_bo.evaluate.benchmarks.bfcl.benchmark import BFCLBenchmark
from soce_bo.evaluate.benchmarks.bfcl.overall import LIVE_SIZES, bfcl_overall, bfcl_overall_report

ACC = {
    "simple_python": 0.9, "simple_java": 0.6, "simple_javascript": 0.3,  # simple = 0.6
    "multiple": 0.8, "parallel": 0.7, "parallel_multiple": 0.5,         # NonLive(v4) = 0.65
    "irrelevance": 0.4,                                                  # NonLive(v3) = 0.60
    "live_simple": 0.5, "live_multiple": 0.6, "live_parallel": 0.25, "live_parallel_multiple": 0.5,
    "live_irrelevance": 0.8, "live_relevance": 0.75,
    "multi_turn_base": 0.4, "multi_turn_miss_func": 0.2, "multi_turn_miss_param": 0.3,
    "multi_turn_long_context": 0.1,                                      # MultiTurn = 0.25
}
# Live(v4): (258*.5 + 1053*.6 + 16*.25 + 24*.5) / 1351 = 776.8 / 1351
LIVE_V4 = 776.8 / 1351
# Live(v3) adds live_irrelevance (884) and live_relevance (16): (776.8 + 707.2 + 12) / 2251
LIVE_V3 = 1496.0 / 2251
HALLUCINATION = (0.4 + 0.8) / 2


def test_v4_official_counts_agentic_as_zero():
    expected = (10 * 0.65 + 10 * LIVE_V4 + 10 * HALLUCINATION + 30 * 0.25 + 40 * 0.0) / 100
    assert bfcl_overall(ACC, "v4") == pytest.approx(expected)


def test_v4_offline_renormalises_weights_over_sixty():
    expected = (10 * 0.65 + 10 * LIVE_V4 + 10 * HALLUCINATION + 30 * 0.25) / 60
    assert bfcl_overall(ACC, "v4_offline") == pytest.approx(expected)


def test_v3_is_mean_of_nonlive_live_multiturn():
    assert bfcl_overall(ACC, "v3") == pytest.approx((0.60 + LIVE_V3 + 0.25) / 3)


def test_missing_categories_count_zero_officially_and_drop_out_when_renormalised():
    acc = {"simple_python": 0.9, "multiple": 0.8}
    # official v4_offline: simple = 0.9/3, NonLive = (0.3 + 0.8 + 0 + 0)/4 = 0.275, rest 0
    assert bfcl_overall(acc, "v4_offline") == pytest.approx(10 * 0.275 / 60)
    # renormalised: only NonLive exists, built from the run parts: mean(simple=0.9, multiple=0.8)
    assert bfcl_overall(acc, "v4_offline", renormalise=True) == pytest.approx(0.85)
    assert bfcl_overall(acc, "v3", renormalise=True) == pytest.approx(0.85)
    acc["irrelevance"] = 0.5
    # v4: Hallucination = 0.5 (only irrelevance run); weights 10/10 -> (0.85 + 0.5) / 2
    assert bfcl_overall(acc, "v4_offline", renormalise=True) == pytest.approx(0.675)
    assert bfcl_overall(acc, "v4", renormalise=True) == pytest.approx(0.675)
    # v3: irrelevance joins NonLive -> mean(0.9, 0.8, 0.5)
    assert bfcl_overall(acc, "v3", renormalise=True) == pytest.approx(2.2 / 3)


def test_report_lists_missing_and_benchmark_uses_configured_formula():
    per_cat = {c: CategoryScore(accuracy=a, n=10, sem=0.1) for c, a in ACC.items()}
    bench = BFCLBenchmark(categories=list(ACC), overall_formula="v3", renormalise=False)
    assert bench.overall(per_cat) == pytest.approx((0.60 + LIVE_V3 + 0.25) / 3)
    report = bench.overall_report(per_cat)
    assert report["v4"]["missing"] == ["web_search_base", "web_search_no_snippet", "memory_kv", "memory_vector", "memory_rec_sum"]
    assert report["v3"]["missing"] == [] and report["v4_offline"]["missing"] == []
    assert report["v4_offline"]["components"]["live"] == pytest.approx(LIVE_V4)
    assert report["configured"] == {"formula": "v3", "renormalise": False}
    assert bfcl_overall_report({})["v4"]["overall_renormalised"] != bfcl_overall_report({})["v4"]["overall_renormalised"]  # nan


def test_v4_matches_bfcl_eval_helpers_and_live_sizes_match_its_data():
    """Cross-check with bfcl-eval's own aggregation functions and data sizes."""
    from soce_bo.evaluate.benchmarks.bfcl.checker import _bfcl

    _bfcl()  # registers the model_config stand-in that eval_runner_helper also imports
    from bfcl_eval.eval_checker import eval_runner_helper as h
    from bfcl_eval.utils import load_dataset_entry

    for cat, size in LIVE_SIZES.items():
        assert len(load_dataset_entry(cat, include_prereq=False, include_language_specific_hint=False)) == size

    def d(cat: str) -> dict:
        return {"accuracy": ACC.get(cat, 0.0), "total_count": LIVE_SIZES.get(cat, 1), "display_accuracy": 0}

    simple = h.calculate_unweighted_accuracy([d("simple_python"), d("simple_java"), d("simple_javascript")])
    non_live = h.calculate_unweighted_accuracy([simple, d("multiple"), d("parallel"), d("parallel_multiple")])
    live = h.calculate_weighted_accuracy([d(c) for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")])
    halluc = h.calculate_unweighted_accuracy([d("irrelevance"), d("live_irrelevance")])
    multi = h.calculate_unweighted_accuracy([d(c) for c in ACC if c.startswith("multi_turn")])
    agentic = {"accuracy": 0.0, "total_count": 1, "display_accuracy": 0}
    total = h.calculate_percentage_weighted_accuracy([non_live, live, halluc, multi, agentic], [10, 10, 10, 30, 40])
    assert bfcl_overall(ACC, "v4") == pytest.approx(total["accuracy"])
