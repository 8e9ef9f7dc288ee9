"""Expert selection (tie rule, distinct experts, clusters) and the full `analyze` step."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soce_bo.analysis import ScoreTable, analyze, select_experts
from soce_bo.errors import ConfigError

TABLE = ScoreTable.from_mapping({
    "B": {"x": 0.3, "y": 0.8, "z": 0.5},
    "A": {"x": 0.9, "y": 0.2, "z": 0.5},
    "C": {"x": 0.9, "y": 0.1, "z": 0.4},  # ties A on x but has the lower overall mean
    "E": {"x": 0.9, "y": 0.2, "z": 0.5},  # identical to A: the name decides
    "D": {"x": 0.2, "y": 0.3, "z": 0.9},
})


def test_one_expert_per_category_with_tie_rule():
    experts = select_experts(TABLE, [("x",), ("y",), ("z",)])
    assert [(e.model, e.categories) for e in experts] == [("A", ("x",)), ("B", ("y",)), ("D", ("z",))]


def test_a_model_winning_several_groups_appears_once():
    table = ScoreTable.from_mapping({
        "A": {"x": 0.9, "y": 0.1, "z": 0.9},
        "B": {"x": 0.1, "y": 0.8, "z": 0.2},
        "C": {"x": 0.2, "y": 0.3, "z": 0.3},
    })
    experts = select_experts(table, [("x",), ("y",), ("z",)])
    assert [(e.model, e.categories) for e in experts] == [("A", ("x", "z")), ("B", ("y",))]


def test_cluster_expert_is_best_mean_over_the_cluster():
    # on (y, z): B 0.65, A 0.35, D 0.6 -> B, although D wins z alone
    experts = select_experts(TABLE, [("x",), ("y", "z")])
    assert [(e.model, e.categories) for e in experts] == [("A", ("x",)), ("B", ("y", "z"))]


def test_candidates_restrict_the_winners():
    experts = select_experts(TABLE, [("x",), ("z",)], candidates=["B", "C", "D"])
    assert [e.model for e in experts] == ["C", "D"]
    with pytest.raises(ConfigError, match="Z"):
        select_experts(TABLE, [("x",)], candidates=["Z"])


def best_per_category(table: ScoreTable, cats) -> list[str]:
    return [table.models[int(np.argmax(table.scores[:, table.categories.index(c)]))] for c in cats]


def test_analyze_tau_mode_picks_experts_of_the_low_correlation_set(case):
    table = case.table
    result = analyze(table, mode="tau", tau=0.5)
    assert result.low_corr == ("p", "s") and result.groups == (("p",), ("s",))
    assert result.clusters is None
    assert result.expert_names == list(dict.fromkeys(best_per_category(table, ["p", "s"])))
    np.testing.assert_allclose(result.correlation, case.target, atol=1e-10)
    back = json.loads(json.dumps(result.to_dict()))
    assert back["low_corr"] == ["p", "s"] and back["mode"] == "tau"
    assert back["experts"][0]["model"] == result.experts[0].model


def test_analyze_cluster_mode(case):
    table = case.table
    result = analyze(table, mode="cluster", n_clusters=2)
    assert result.groups == (("p", "q", "r"), ("s",))
    means = table.scores[:, :3].mean(axis=1)
    first = table.models[int(np.argmax(means))]
    assert result.experts[0].model == first
    assert set(result.experts[0].categories) >= {"p", "q", "r"}
    assert json.loads(json.dumps(result.to_dict()))["clusters"] == [["p", "q", "r"], ["s"]]


def test_analyze_explains_an_empty_low_correlation_set(case):
    with pytest.raises(ConfigError, match=r"lowest \|rho\| is 0.400 \('p' vs 's'\)"):
        analyze(case.table, tau=0.3)
    with pytest.raises(ConfigError, match="mode"):
        analyze(case.table, mode="paper")


def test_constant_category_is_left_out_and_reported():
    """A category where all models tie names no expert; the rest of the analysis still runs."""
    from soce_bo.analysis import ScoreTable, analyze

    table = ScoreTable.from_mapping({
        "m1": {"a": 0.9, "b": 0.1, "c": 0.2, "flat": 0.0},
        "m2": {"a": 0.1, "b": 0.8, "c": 0.5, "flat": 0.0},
        "m3": {"a": 0.4, "b": 0.3, "c": 0.9, "flat": 0.0},
    }, source="t")
    res = analyze(table, mode="tau", tau=0.9)
    assert res.settings["uninformative"] == ["flat"]
    assert "flat" not in res.categories
    assert set(res.expert_names) == {"m1", "m2", "m3"}
