"""Every bench question runs end to end in --quick mode and writes a sane result file.

The quick runs use smoke-test sizes, so only properties that must hold at any size are
asserted (soups exact to fp32 rounding, a swap beats a restart, vLLM matches HF, ...).
"""

from __future__ import annotations

import json
import math

import pytest

from bench import run_all


def _load(out, name):
    data = json.loads((out / f"{name}.json").read_text())
    assert data["meta"]["quick"] is True and "summary" in data
    return data


@pytest.fixture(scope="module")
def cpu_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_quick")
    assert run_all.main(["--quick", "--only", "merge,bo_overhead,search", "--out", str(out)]) == 0
    return out


def test_unknown_question_is_refused(tmp_path, capsys):
    assert run_all.main(["--quick", "--only", "merge,nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_merge_quick(cpu_results):
    s = _load(cpu_results, "merge")["summary"]
    assert s["max_abs_err"]["soce"] < 1e-6 and s["max_abs_err"]["mergekit"] < 1e-6  # fp32 soup of fp32 experts
    assert s["speedup_vs_mergekit"]["median"] > 0 and s["fraction_of_bound"]["median"] > 0
    assert s["peak_rss_above_base_over_expert_size"]["soce"]["max"] > 0


@pytest.mark.slow
def test_bo_overhead_quick(cpu_results):
    data = _load(cpu_results, "bo_overhead")
    per_k = data["summary"]["seconds_per_suggestion"]["cheap"]
    assert set(per_k) == {"2", "3"} and all(0 < v < 120 for v in per_k.values())


@pytest.mark.slow
def test_search_quick(cpu_results):
    data = _load(cpu_results, "search")
    s = data["summary"]
    assert 0.0 <= s["bo_reaches_grid_best_fraction"] <= 1.0
    assert s["bo_reaches_grid_best_fraction_strict"] <= s["bo_reaches_grid_best_fraction"]
    for problem in data["problems"]:
        grid = problem["strategies"]["grid"]
        # the full SoCE grid at K = 3 is 37 soups; its uniform soup is one of the K + 1 = 4 free points
        assert grid["fresh_evaluations"] == 36 and grid["total_evaluations"] == grid["n_trials"] == 36 + 4
        assert grid["best_true_final"] == pytest.approx(problem["grid_best_true"])  # the grid reaches itself
        for run in problem["strategies"].values():
            best = run["curves"]["best_true"]
            assert all(b <= a + 1e-12 for a, b in zip(best[1:], best))  # best-so-far never drops
    assert (cpu_results / "search_curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_report_renders_every_question_run(cpu_results):
    text = (cpu_results / "BENCHMARKS.md").read_text()
    assert "Quick mode" in text
    for heading in ("## Machine", "## 1. Streaming merge", "## 3. Search efficiency", "## 4. BO overhead"):
        assert heading in text
    assert "nan" not in text.split("## Headlines")[1].split("##")[0]


@pytest.mark.slow
@pytest.mark.vllm
def test_throughput_quick(tmp_path, zoo_dir):
    """One engine only: the swap script's engine restarts (~4 min here) are left to `make bench`;
    the swap path itself is covered by tests/serve. It is the suite's first user of the zoo: taking
    `zoo_dir` charges a fresh clone's zoo build (~8 min) to this test's setup, not to its call."""
    assert run_all.main(["--quick", "--only", "throughput", "--out", str(tmp_path)]) == 0
    thr = _load(tmp_path, "throughput")["summary"]
    assert thr["all_identical"], "vLLM and HF greedy outputs differ on the same soup"
    assert math.isfinite(thr["vllm_over_hf"]) and thr["vllm_over_hf"] > 0


@pytest.mark.slow
def test_racing_quick_on_the_suite(tmp_path):
    """One suite problem, every strategy raced and not: racing never costs items, CMA-ES is never raced."""
    from bench import racing

    racing.main(["--quick", "--no-zoo", "--out", str(tmp_path)])
    data = _load(tmp_path, "racing_suite")
    rows = {r["strategy"]: r for r in data["rows"]}
    assert set(rows) == set(racing.STRATEGIES)
    assert not rows["cmaes"]["raced"] and rows["cmaes"]["items_on"] == rows["cmaes"]["items_off"]
    for name in ("grid", "random"):  # the same planned soups, each scored on at most the whole split
        assert rows[name]["raced"] and rows[name]["items_on"] <= rows[name]["items_off"]
        assert rows[name]["items_off"] == rows[name]["fresh"] * 3 * 200  # K = 3 categories of 200 dev items
    assert "## 7. Racing" in racing.racing_section(data)


def test_the_returned_soup_is_the_best_observed_within_the_budget_earlier_on_ties():
    """bench.search's zoo picks follow SearchRun.best(): a later tie or a trial past the budget is not returned."""
    from bench.search import incumbent_weights

    trials = [{"weights": {"a": 1.0}, "observed": 0.5}, {"weights": {"b": 1.0}, "observed": 0.7},
              {"weights": {"a": 0.5, "b": 0.5}, "observed": 0.7}, {"weights": {"a": 0.2, "b": 0.8}, "observed": 0.9}]
    assert incumbent_weights(trials, 3) == {"b": 1.0}
    assert incumbent_weights(trials) == {"a": 0.2, "b": 0.8}
