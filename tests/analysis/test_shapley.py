"""Shapley values of the soup game: exact on small pools, Monte-Carlo with an error bar above."""

import itertools

import pytest

from soce_bo.analysis.shapley import EXACT_MAX, plan_shapley, shapley_values


def _additive(weights):
    return lambda c: sum(weights[p] for p in c)


def test_exact_values_of_an_additive_game_are_the_weights():
    w = {"a": 0.1, "b": 0.3, "c": 0.25}
    plan = plan_shapley(list(w))
    assert plan.exact and len(plan.coalitions()) == 7
    values, sems = shapley_values(plan, _additive(w))
    assert sems is None and values == pytest.approx(w)


def test_exact_values_share_a_synergy_and_add_up_to_the_grand_coalition():
    # a and b only score together (0.8); c alone adds 0.2 to anything
    def v(c):
        return (0.8 if {"a", "b"} <= c else 0.0) + (0.2 if "c" in c else 0.0)

    plan = plan_shapley(["a", "b", "c"])
    values, _ = shapley_values(plan, {c: v(c) for c in plan.coalitions()})
    assert values == pytest.approx({"a": 0.4, "b": 0.4, "c": 0.2})
    assert sum(values.values()) == pytest.approx(v(frozenset("abc")))


def test_monte_carlo_above_six_players_is_close_with_a_standard_error():
    players = [f"m{i}" for i in range(EXACT_MAX + 2)]
    w = {p: 0.05 * (i + 1) for i, p in enumerate(players)}

    def v(c):  # additive plus a pairwise synergy, so the orders matter
        return sum(w[p] for p in c) + 0.1 * ({"m0", "m1"} <= c)

    plan = plan_shapley(players, permutations=400, seed=3)
    assert not plan.exact and len(plan.coalitions()) < 2 ** len(players)
    values, sems = shapley_values(plan, v)
    truth = {p: w[p] + (0.05 if p in ("m0", "m1") else 0.0) for p in players}
    for p in players:
        assert abs(values[p] - truth[p]) < 4 * sems[p] + 1e-12
    assert sum(values.values()) == pytest.approx(v(frozenset(players)))  # every order sums to v(N)


def test_every_coalition_is_scored_once():
    plan = plan_shapley(["a", "b", "c", "d"])
    coalitions = plan.coalitions()
    assert len(coalitions) == len(set(coalitions)) == 15
    assert set(coalitions) == {frozenset(c) for k in range(1, 5) for c in itertools.combinations("abcd", k)}
