"""bench.teams_runs reads the issue's goals off a run's results.json (the runs themselves take
~10 min each on the teams zoo, so they are left to the bench; here a results.json of the same shape)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.teams_runs import summarize, teams_runs_section


def comparison(a: str, b: str, difference: float, p: float) -> dict:
    return {"a": a, "b": b, "difference": difference, "ci_low": difference - 0.008, "ci_high": difference + 0.008,
            "p_value": p, "significant": p < 0.05, "n_items": 2000}


def results(bo_gain: float, p: float, uniform_all: float) -> dict:
    names = ["tool_team", "math_team", "allrounder"]
    test = [{"kind": "expert", "name": n, "objective": v} for n, v in zip(names, (0.92, 0.94, 0.93))]
    test += [{"kind": "uniform_all", "name": None, "objective": uniform_all},
             {"kind": "best", "name": "bo", "objective": 0.94 + bo_gain},
             {"kind": "best", "name": "grid", "objective": 0.95}]
    return {
        "tables": {"test": test}, "pool": names, "experts": ["tool_team", "math_team"],
        "best_candidate": "allrounder",  # best on dev, not on test: the goals are against it
        "comparisons": [comparison("best of bo", "allrounder", bo_gain + 0.01, p),
                        comparison("best of bo", "best of grid", bo_gain - 0.01, 0.3)],
        "cost": {"grid": {"fresh": 36}, "bo": {"fresh": 20}},
        "best": {"bo": {"weights": {"tool_team": 0.5, "math_team": 0.5}, "trial": 8}},
        "final_soup": {"path": "/x/best_soup", "strategy": "grid"},
        "run": {"wall_seconds": 400.0},
    }


def test_goals_come_from_the_runs_own_paired_tests():
    r = summarize(3, results(bo_gain=0.01, p=0.0002, uniform_all=0.90), 450.0, Path("/x"))
    assert r["best_single"] == "allrounder" and r["best_single_test"] == pytest.approx(0.93)
    assert r["best_single_on_test"] == "math_team"
    assert r["goals"] == {"bo_wins": True, "uniform_all_below": True, "bo_ties_grid": True,
                          "bo_quarter_of_grid_fresh": False, "bo_found_within_quarter_of_grid_fresh": True}
    assert r["bo_found_at_evaluation"] == 9
    lost = summarize(3, results(bo_gain=0.01, p=0.2, uniform_all=0.95), 450.0, Path("/x"))["goals"]
    assert not lost["bo_wins"] and not lost["uniform_all_below"]  # not significant; uniform above
    behind = summarize(3, results(bo_gain=-0.001, p=0.001, uniform_all=0.90), 450.0, Path("/x"))["goals"]
    assert not behind["bo_wins"] and not behind["bo_ties_grid"]  # +0.9 pp is short of 1.5; 1.1 pp behind grid


def test_section_renders_every_seed():
    records = [summarize(s, results(0.01, 0.001, 0.9), 400.0, Path("/x")) for s in (0, 1)]
    data = {"summary": {"goals": [r["goals"] for r in records], "soup_goals_met_on_at_least_2_of_3": True},
            "records": records,
            "meta": {"command": "python -m bench.teams_runs", "finished": "now", "wall_s": 800.0,
                     "loadavg_1min_during_run": {"min": 1.0, "median": 2.0, "max": 3.0}, "machine": {"nproc": 2}}}
    text = teams_runs_section(data)
    assert text.count("| allrounder |") == 2 and "**met**" in text and "20 / 36" in text
