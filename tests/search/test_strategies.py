"""Each strategy on its own: grid sizes, simplex invariant, greedy logic, failures, replay."""

from __future__ import annotations

import math

import pytest

from soce_bo.errors import ConfigError
from soce_bo.search.base import TrialResult
from soce_bo.search.cmaes import CMAES
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.greedy import GreedySoup
from soce_bo.search.grid import GridSearch, grid_points
from soce_bo.search.random_search import RandomSearch
from soce_bo.search.simplex import check_on_simplex, weights_key
from soce_bo.search.synthetic import three_category_soup
from soce_bo.search.uniform import UniformSoup

EXPERTS = ["tool_x", "math_y", "mt_z"]


def drive(strategy, fn, batch: int = 2) -> list[dict[str, float]]:
    """Serial ask/tell loop; returns every suggestion in order."""
    seen = []
    while not strategy.done():
        batch_weights = strategy.suggest(batch)
        assert batch_weights, f"{strategy.name} stalled"
        for w in batch_weights:
            seen.append(w)
            strategy.observe(w, fn(w))
    return seen


@pytest.mark.parametrize("k, size", [(2, 9), (3, 37), (4, 85), (5, 126), (6, 127)])
def test_grid_sizes_match_the_paper(k, size):
    experts = [f"e{i}" for i in range(k)]
    grid = GridSearch(experts)
    assert grid.budget == grid.grid_size == size
    points = grid_points(experts)
    keys = {weights_key(p) for p in points}
    assert len(keys) == size
    assert weights_key({e: 1 / k for e in experts}) in keys
    for p in points[:-1]:  # the uniform point is the only one allowed off the 0.1 lattice
        assert all(0.1 - 1e-12 <= w <= 0.9 + 1e-12 for w in p.values())
        assert all(math.isclose(w * 10, round(w * 10), abs_tol=1e-9) for w in p.values())


def test_grid_order_is_a_seeded_shuffle_and_budget_takes_its_prefix():
    a = drive(GridSearch(EXPERTS, seed=1), three_category_soup(EXPERTS))
    b = drive(GridSearch(EXPERTS, seed=1), three_category_soup(EXPERTS))
    c = drive(GridSearch(EXPERTS, seed=2), three_category_soup(EXPERTS))
    assert a == b and a != c and len(a) == 37
    assert drive(GridSearch(EXPERTS, seed=1, budget=10), three_category_soup(EXPERTS)) == a[:10]
    lex = drive(GridSearch(EXPERTS, order="lexicographic"), three_category_soup(EXPERTS))
    assert lex[0] == {"tool_x": 0.1, "math_y": 0.1, "mt_z": 0.8}


@pytest.mark.parametrize("kwargs", [{"step": 0.3}, {"lo": 0.15}, {"lo": 0.4}, {"order": "random"}])
def test_grid_config_errors(kwargs):
    with pytest.raises(ConfigError, match="search.grid"):
        GridSearch(EXPERTS, **kwargs)


STRATEGIES = {
    "uniform": lambda: UniformSoup(EXPERTS),
    "fixed": lambda: FixedPoints.vertices(EXPERTS),
    "grid": lambda: GridSearch(EXPERTS, budget=12, seed=3),
    "greedy": lambda: GreedySoup(EXPERTS),
    "random": lambda: RandomSearch(EXPERTS, budget=15, seed=4),
    "cmaes": lambda: CMAES(EXPERTS, budget=15, seed=5),
    "cmaes_softmax": lambda: CMAES(EXPERTS, budget=15, seed=5, mapping="softmax", popsize=4),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_suggestions_lie_on_the_simplex_and_fill_the_budget(name):
    strategy = STRATEGIES[name]()
    seen = drive(strategy, three_category_soup(EXPERTS))
    for w in seen:
        check_on_simplex(w, EXPERTS, tol=1e-9)
    assert len(seen) == strategy.budget
    assert strategy.suggest(3) == []


def test_random_search_is_seeded():
    a = drive(RandomSearch(EXPERTS, budget=5, seed=9), three_category_soup(EXPERTS))
    b = drive(RandomSearch(EXPERTS, budget=5, seed=9), three_category_soup(EXPERTS))
    assert a == b and len({weights_key(w) for w in a}) == 5


def scripted(scores: dict[tuple, float]):
    """Evaluator returning a fixed objective per soup, keyed by its sorted non-zero experts."""
    def fn(w):
        key = tuple(sorted(e for e, v in w.items() if v > 0))
        return TrialResult(objective=scores[key], sem=0.01)
    return fn


def test_greedy_adds_only_ingredients_that_do_not_hurt():
    # solo order b (0.7), c (0.6), a (0.5), d (0.1)
    fn = scripted({("a",): 0.5, ("b",): 0.7, ("c",): 0.6, ("d",): 0.1,
                   ("b", "c"): 0.72,            # adding c helps -> kept
                   ("a", "b", "c"): 0.65,       # adding a hurts -> dropped
                   ("b", "c", "d"): 0.72})      # equal -> kept (>=, as in the recipe)
    greedy = GreedySoup(["a", "b", "c", "d"])
    seen = drive(greedy, fn, batch=4)
    assert [tuple(sorted(e for e, v in w.items() if v > 0)) for w in seen[4:]] == [
        ("b", "c"), ("a", "b", "c"), ("b", "c", "d")]
    assert greedy.kept == ["b", "c", "d"] and greedy.best_objective == 0.72
    assert len(seen) == 7 == greedy.budget


def test_failures_are_observed_not_fatal():
    def failing(w):
        return TrialResult.failure("server died")
    for name in ("grid", "greedy", "random", "cmaes"):
        strategy = STRATEGIES[name]()
        assert len(drive(strategy, failing)) == strategy.budget


def test_cmaes_replay_reproduces_the_next_generation():
    fn = three_category_soup(EXPERTS)
    first = CMAES(EXPERTS, budget=30, seed=7, popsize=5)
    history = []
    for _ in range(12):
        for w in first.suggest(1):
            history.append(w)
            first.observe(w, fn(w))
    replayed = CMAES(EXPERTS, budget=30, seed=7, popsize=5)
    # completion order within a generation does not matter
    for w in history[4::-1] + history[9:4:-1] + history[11:9:-1]:
        replayed.observe(w, fn(w))
    assert replayed.generation == first.generation == 2
    assert replayed.suggest(5) == first.suggest(5)


def test_replaying_foreign_weights_is_a_config_error():
    with pytest.raises(ConfigError, match="not in this strategy's plan"):
        GridSearch(EXPERTS).observe({"tool_x": 0.05, "math_y": 0.95}, TrialResult(0.5, 0.1))
    with pytest.raises(ConfigError, match="not in CMA-ES generation 0"):
        CMAES(EXPERTS, seed=1).observe({"tool_x": 1.0}, TrialResult(0.5, 0.1))
    with pytest.raises(ConfigError, match="not the next greedy step"):
        GreedySoup(EXPERTS).observe({"tool_x": 0.5, "mt_z": 0.5}, TrialResult(0.5, 0.1))


def test_bad_settings_name_the_parameter():
    with pytest.raises(ConfigError, match=r"search.random.budget"):
        RandomSearch(EXPERTS, budget=0)
    with pytest.raises(ConfigError, match=r"search.cmaes.mapping"):
        CMAES(EXPERTS, mapping="tanh")
    with pytest.raises(ConfigError, match="duplicate expert"):
        UniformSoup(["a", "a"])


def test_budgets_a_strategy_cannot_use_are_refused_not_ignored():
    with pytest.raises(ConfigError, match="budget must be 1"):
        UniformSoup(EXPERTS, budget=3)
    with pytest.raises(ConfigError, match="2K - 1"):
        GreedySoup(EXPERTS, budget=2 * len(EXPERTS))
    assert GreedySoup(EXPERTS, budget=2).budget == 2
